//! Transition and timer tests of the FSM, without sockets or clocks.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use fabric_bgp_wire::{Asn, RouterId};

use super::*;
use crate::config::RemoteAs;

fn config() -> SessionConfig {
    SessionConfig {
        local_as: Asn(65001),
        local_id: RouterId(Ipv4Addr::new(10, 0, 0, 1)),
        remote_as: RemoteAs::Asn(Asn(65002)),
        hold_time: 90,
        keepalive: None,
        connect_retry: Duration::from_secs(10),
        idle_hold: Duration::from_secs(2),
        passive: false,
        jitter_seed: 1,
    }
}

fn peer_open(hold_time: u16) -> PeerOpen {
    PeerOpen {
        version: 4,
        my_as: 65002,
        hold_time,
        bgp_id: RouterId(Ipv4Addr::new(10, 0, 0, 2)),
        four_octet_as: Some(Asn(65002)),
    }
}

/// Drives a session with a fake clock.
struct Harness {
    s: Session,
    now: Instant,
}

impl Harness {
    fn new(cfg: SessionConfig) -> Self {
        Harness {
            s: Session::new(cfg),
            now: Instant::now(),
        }
    }

    fn ev(&mut self, e: Event) -> Vec<Action> {
        self.s.handle(e, self.now)
    }

    fn advance(&mut self, d: Duration) -> Vec<Action> {
        self.now += d;
        self.s.poll_timers(self.now)
    }

    /// Idle → Connect → OpenSent → OpenConfirm → Established.
    fn establish(&mut self, peer_hold: u16) -> Vec<Action> {
        self.ev(Event::ManualStart);
        self.ev(Event::TcpCrAcked);
        self.ev(Event::BgpOpen(peer_open(peer_hold)));
        self.ev(Event::KeepAliveMsg)
    }
}

fn sent_notification(actions: &[Action]) -> Option<(u8, u8)> {
    actions.iter().find_map(|a| match a {
        Action::SendNotification(n) => Some((n.code, n.subcode)),
        _ => None,
    })
}

fn started(actions: &[Action], timer: Timer) -> Option<Duration> {
    actions.iter().find_map(|a| match a {
        Action::StartTimer(t, d) if *t == timer => Some(*d),
        _ => None,
    })
}

fn has(actions: &[Action], want: &Action) -> bool {
    actions.contains(want)
}

// ===== start, connect, passive =====

#[test]
fn manual_start_dials_and_arms_jittered_connect_retry() {
    let mut h = Harness::new(config());
    let a = h.ev(Event::ManualStart);
    assert_eq!(h.s.state(), State::Connect);
    assert!(has(&a, &Action::Connect));
    assert!(has(
        &a,
        &Action::StateChange {
            from: State::Idle,
            to: State::Connect
        }
    ));
    let d = started(&a, Timer::ConnectRetry).expect("connect retry started");
    assert!(
        d >= Duration::from_millis(7500) && d <= Duration::from_secs(10),
        "{d:?}"
    );
    assert_eq!(h.s.deadline(Timer::ConnectRetry), Some(h.now + d));
}

#[test]
fn jitter_is_deterministic_for_a_seed() {
    let run = |seed| {
        let mut cfg = config();
        cfg.jitter_seed = seed;
        let mut h = Harness::new(cfg);
        let a = h.ev(Event::ManualStart);
        started(&a, Timer::ConnectRetry)
    };
    assert_eq!(run(5), run(5));
    let spread: std::collections::HashSet<_> = (0..20).map(run).collect();
    assert!(spread.len() > 1, "jitter never varies across seeds");
}

#[test]
fn connect_retry_expiry_in_connect_redials() {
    let mut h = Harness::new(config());
    h.ev(Event::ManualStart);
    let a = h.advance(Duration::from_secs(10));
    assert_eq!(h.s.state(), State::Connect);
    assert_eq!(
        a.iter()
            .filter(|x| matches!(x, Action::Disconnect | Action::Connect))
            .count(),
        2,
        "{a:?}"
    );
    assert!(started(&a, Timer::ConnectRetry).is_some());
}

#[test]
fn tcp_failure_in_connect_goes_idle_then_restarts_automatically() {
    let mut h = Harness::new(config());
    h.ev(Event::ManualStart);
    let a = h.ev(Event::TcpConnectionFails);
    assert_eq!(h.s.state(), State::Idle);
    assert!(has(&a, &Action::StopTimer(Timer::ConnectRetry)));
    let idle = started(&a, Timer::IdleHold).expect("idle hold armed");
    assert!(idle <= Duration::from_secs(2));
    // Nothing happens before the idle hold expires ...
    assert!(h.advance(idle - Duration::from_millis(1)).is_empty());
    // ... then the automatic restart dials again.
    let a = h.advance(Duration::from_millis(1));
    assert_eq!(h.s.state(), State::Connect);
    assert!(has(&a, &Action::Connect));
}

#[test]
fn passive_peer_never_dials() {
    let mut cfg = config();
    cfg.passive = true;
    let mut h = Harness::new(cfg);
    let a = h.ev(Event::ManualStart);
    assert_eq!(h.s.state(), State::Active);
    assert!(!has(&a, &Action::Connect));
    assert_eq!(
        h.s.next_deadline(),
        None,
        "no connect retry timer for a passive peer"
    );
    // Even a stray ConnectRetry expiry does not dial.
    assert!(!has(
        &h.ev(Event::ConnectRetryTimerExpires),
        &Action::Connect
    ));
    assert_eq!(h.s.state(), State::Active);
    // The peer connects: OPEN is sent with the large initial hold timer.
    let a = h.ev(Event::TcpConnectionConfirmed);
    assert_eq!(h.s.state(), State::OpenSent);
    assert!(has(&a, &Action::SendOpen));
    assert_eq!(started(&a, Timer::Hold), Some(LARGE_HOLD_TIME));
    // A connection failure in OpenSent returns to Active without dialing.
    let a = h.ev(Event::TcpConnectionFails);
    assert_eq!(h.s.state(), State::Active);
    assert!(!has(&a, &Action::Connect));
    assert_eq!(h.s.next_deadline(), None);
    // After an error the automatic restart keeps it passive.
    h.ev(Event::TcpConnectionConfirmed);
    h.ev(Event::KeepAliveMsg);
    assert_eq!(h.s.state(), State::Idle);
    h.advance(Duration::from_secs(3));
    assert_eq!(h.s.state(), State::Active);
}

#[test]
fn passive_start_waits_then_dials_after_connect_retry() {
    let mut h = Harness::new(config());
    let a = h.ev(Event::ManualStartWithPassiveTcpEstablishment);
    assert_eq!(h.s.state(), State::Active);
    assert!(!has(&a, &Action::Connect));
    let a = h.advance(Duration::from_secs(10));
    assert_eq!(h.s.state(), State::Connect);
    assert!(has(&a, &Action::Connect));
}

#[test]
fn idle_ignores_everything_but_start() {
    let mut h = Harness::new(config());
    for e in [
        Event::TcpConnectionConfirmed,
        Event::KeepAliveMsg,
        Event::UpdateMsg,
        Event::HoldTimerExpires,
        Event::AutomaticStart, // not administratively started yet
        Event::BgpOpen(peer_open(90)),
    ] {
        assert!(h.ev(e.clone()).is_empty(), "{e:?}");
        assert_eq!(h.s.state(), State::Idle);
    }
}

// ===== OPEN exchange and timers =====

#[test]
fn open_negotiates_min_hold_and_keepalive_third() {
    let mut h = Harness::new(config());
    h.ev(Event::ManualStart);
    let a = h.ev(Event::TcpCrAcked);
    assert_eq!(h.s.state(), State::OpenSent);
    assert!(has(&a, &Action::StopTimer(Timer::ConnectRetry)));
    assert_eq!(started(&a, Timer::Hold), Some(Duration::from_secs(240)));

    let a = h.ev(Event::BgpOpen(peer_open(30)));
    assert_eq!(h.s.state(), State::OpenConfirm);
    assert!(has(&a, &Action::SendKeepalive));
    assert_eq!(started(&a, Timer::Hold), Some(Duration::from_secs(30)));
    let ka = started(&a, Timer::Keepalive).expect("keepalive armed");
    assert!(
        ka >= Duration::from_millis(7500) && ka <= Duration::from_secs(10),
        "{ka:?}"
    );
    let n = *h.s.negotiated().unwrap();
    assert_eq!((n.hold_time, n.keepalive), (30, Duration::from_secs(10)));
    assert_eq!(
        (n.peer_as, n.peer_id),
        (Asn(65002), RouterId(Ipv4Addr::new(10, 0, 0, 2)))
    );

    let a = h.ev(Event::KeepAliveMsg);
    assert_eq!(h.s.state(), State::Established);
    assert!(has(&a, &Action::Established(n)));
    assert_eq!(started(&a, Timer::Hold), Some(Duration::from_secs(30)));
    assert_eq!(h.s.established_since(), Some(h.now));
    assert_eq!(h.s.established_count(), 1);
}

#[test]
fn local_hold_time_wins_when_smaller() {
    let mut cfg = config();
    cfg.hold_time = 9;
    let mut h = Harness::new(cfg);
    h.establish(90);
    assert_eq!(h.s.negotiated().map(|n| n.hold_time), Some(9));
    assert_eq!(
        h.s.negotiated().map(|n| n.keepalive),
        Some(Duration::from_secs(3))
    );
}

#[test]
fn configured_keepalive_is_capped_at_a_third_of_hold() {
    assert_eq!(keepalive_interval(30, Some(5)), Duration::from_secs(5));
    assert_eq!(keepalive_interval(30, Some(60)), Duration::from_secs(10));
    assert_eq!(keepalive_interval(3, None), Duration::from_secs(1));
    assert_eq!(keepalive_interval(4, None), Duration::from_secs(1));
    assert_eq!(keepalive_interval(0, Some(10)), Duration::ZERO);
}

#[test]
fn keepalives_are_sent_periodically_and_never_faster_than_one_per_second() {
    let mut cfg = config();
    cfg.hold_time = 3;
    let mut h = Harness::new(cfg);
    h.establish(3);
    let mut sent = 0;
    let mut last: Option<Instant> = None;
    // Keep the hold timer alive with incoming keepalives while we watch ours.
    for _ in 0..40 {
        let a = h.advance(Duration::from_millis(250));
        h.ev(Event::KeepAliveMsg);
        if has(&a, &Action::SendKeepalive) {
            if let Some(prev) = last {
                assert!(
                    h.now - prev >= Duration::from_secs(1),
                    "keepalives too close"
                );
            }
            last = Some(h.now);
            sent += 1;
        }
    }
    // 10 s at one per second (jitter cannot go under 1 s): 9 or 10 keepalives.
    assert!((9..=10).contains(&sent), "sent {sent}");
    assert_eq!(h.s.state(), State::Established);
}

#[test]
fn hold_time_zero_means_no_keepalives_and_no_hold_timer() {
    let mut h = Harness::new(config());
    h.ev(Event::ManualStart);
    h.ev(Event::TcpCrAcked);
    let a = h.ev(Event::BgpOpen(peer_open(0)));
    assert_eq!(h.s.state(), State::OpenConfirm);
    assert!(
        has(&a, &Action::StopTimer(Timer::Hold)),
        "large hold timer stopped"
    );
    assert!(started(&a, Timer::Keepalive).is_none());
    let a = h.ev(Event::KeepAliveMsg);
    assert_eq!(h.s.state(), State::Established);
    assert!(started(&a, Timer::Hold).is_none());
    assert_eq!(h.s.next_deadline(), None);
    // An hour of silence changes nothing.
    assert!(h.advance(Duration::from_secs(3600)).is_empty());
    assert_eq!(h.s.state(), State::Established);
}

#[test]
fn hold_timer_expiry_sends_4_0_and_withdraws() {
    let mut cfg = config();
    cfg.hold_time = 9;
    let mut h = Harness::new(cfg);
    h.establish(9);
    // Keepalives from the peer push the deadline out.
    h.advance(Duration::from_secs(8));
    h.ev(Event::KeepAliveMsg);
    h.advance(Duration::from_secs(8));
    assert_eq!(h.s.state(), State::Established);
    let a = h.advance(Duration::from_secs(1));
    assert_eq!(h.s.state(), State::Idle);
    assert_eq!(sent_notification(&a), Some((4, 0)));
    assert!(has(&a, &Action::SessionDown));
    assert!(has(&a, &Action::Disconnect));
    assert!(started(&a, Timer::IdleHold).is_some());
    assert_eq!(h.s.connect_retry_counter(), 1);
}

#[test]
fn large_hold_timer_expires_in_open_sent() {
    let mut h = Harness::new(config());
    h.ev(Event::ManualStart);
    h.ev(Event::TcpCrAcked);
    let a = h.advance(Duration::from_secs(240));
    assert_eq!(h.s.state(), State::Idle);
    assert_eq!(sent_notification(&a), Some((4, 0)));
}

#[test]
fn updates_restart_the_hold_timer_and_are_delivered_only_in_established() {
    let mut h = Harness::new(config());
    h.establish(90);
    h.advance(Duration::from_secs(60));
    let a = h.ev(Event::UpdateMsg);
    assert!(has(&a, &Action::ProcessUpdate));
    assert_eq!(
        h.s.deadline(Timer::Hold),
        Some(h.now + Duration::from_secs(90))
    );
    let a = h.ev(Event::RouteRefreshMsg);
    assert!(has(&a, &Action::ProcessRouteRefresh));
}

#[test]
fn sending_an_update_restarts_the_keepalive_timer() {
    let mut h = Harness::new(config());
    h.establish(90);
    let before = h.s.deadline(Timer::Keepalive).unwrap();
    h.now += Duration::from_secs(5);
    let a = h.ev(Event::UpdateSent);
    let d = started(&a, Timer::Keepalive).unwrap();
    assert_eq!(h.s.deadline(Timer::Keepalive), Some(h.now + d));
    assert!(h.s.deadline(Timer::Keepalive).unwrap() > before);
}

// ===== errors =====

#[test]
fn update_in_open_sent_or_open_confirm_is_fsm_error() {
    let mut h = Harness::new(config());
    h.ev(Event::ManualStart);
    h.ev(Event::TcpCrAcked);
    let a = h.ev(Event::UpdateMsg);
    assert_eq!(sent_notification(&a), Some((5, 1)));
    assert_eq!(h.s.state(), State::Idle);
    assert!(!has(&a, &Action::ProcessUpdate));

    let mut h = Harness::new(config());
    h.ev(Event::ManualStart);
    h.ev(Event::TcpCrAcked);
    h.ev(Event::BgpOpen(peer_open(90)));
    let a = h.ev(Event::UpdateMsg);
    assert_eq!(sent_notification(&a), Some((5, 2)));
    assert_eq!(h.s.state(), State::Idle);
}

#[test]
fn keepalive_in_open_sent_is_fsm_error() {
    let mut h = Harness::new(config());
    h.ev(Event::ManualStart);
    h.ev(Event::TcpCrAcked);
    assert_eq!(sent_notification(&h.ev(Event::KeepAliveMsg)), Some((5, 1)));
}

#[test]
fn second_open_in_established_is_fsm_error() {
    let mut h = Harness::new(config());
    h.establish(90);
    let a = h.ev(Event::BgpOpen(peer_open(90)));
    assert_eq!(sent_notification(&a), Some((5, 3)));
    assert!(has(&a, &Action::SessionDown));
}

#[test]
fn bad_open_sends_its_notification() {
    let cases: Vec<(PeerOpen, (u8, u8))> = vec![
        (
            PeerOpen {
                version: 3,
                ..peer_open(90)
            },
            (2, 1),
        ),
        (
            PeerOpen {
                my_as: 65003,
                four_octet_as: None,
                ..peer_open(90)
            },
            (2, 2),
        ),
        (
            PeerOpen {
                four_octet_as: Some(Asn(65009)),
                ..peer_open(90)
            },
            (2, 2),
        ),
        (
            PeerOpen {
                bgp_id: RouterId(Ipv4Addr::UNSPECIFIED),
                ..peer_open(90)
            },
            (2, 3),
        ),
        (peer_open(1), (2, 6)),
        (peer_open(2), (2, 6)),
    ];
    for (open, want) in cases {
        let mut h = Harness::new(config());
        h.ev(Event::ManualStart);
        h.ev(Event::TcpCrAcked);
        let a = h.ev(Event::BgpOpen(open.clone()));
        assert_eq!(sent_notification(&a), Some(want), "{open:?}");
        assert_eq!(h.s.state(), State::Idle);
        assert!(has(&a, &Action::Disconnect));
        assert_eq!(h.s.connect_retry_counter(), 1);
    }
}

#[test]
fn header_and_update_errors_send_the_given_notification() {
    let mut h = Harness::new(config());
    h.establish(90);
    let a = h.ev(Event::UpdateMsgErr(Notification::new(3, 1, vec![])));
    assert_eq!(sent_notification(&a), Some((3, 1)));
    assert!(has(&a, &Action::SessionDown));

    let mut h = Harness::new(config());
    h.ev(Event::ManualStart);
    h.ev(Event::TcpCrAcked);
    let a = h.ev(Event::BgpHeaderErr(Notification::new(1, 2, vec![0, 18])));
    assert_eq!(sent_notification(&a), Some((1, 2)));
    assert_eq!(h.s.state(), State::Idle);
}

#[test]
fn received_notification_closes_without_answering() {
    for established in [false, true] {
        let mut h = Harness::new(config());
        if established {
            h.establish(90);
        } else {
            h.ev(Event::ManualStart);
            h.ev(Event::TcpCrAcked);
        }
        let a = h.ev(Event::NotifMsg(Notification::cease(
            CeaseReason::AdministrativeShutdown,
            "bye",
        )));
        assert_eq!(sent_notification(&a), None);
        assert_eq!(h.s.state(), State::Idle);
        assert_eq!(has(&a, &Action::SessionDown), established);
        assert!(
            started(&a, Timer::IdleHold).is_some(),
            "automatic restart armed"
        );
    }
}

#[test]
fn tcp_failure_in_established_withdraws_and_restarts() {
    let mut h = Harness::new(config());
    h.establish(90);
    let a = h.ev(Event::TcpConnectionFails);
    assert_eq!(h.s.state(), State::Idle);
    assert!(has(&a, &Action::SessionDown));
    assert!(has(&a, &Action::StopTimer(Timer::Hold)));
    assert!(has(&a, &Action::StopTimer(Timer::Keepalive)));
    assert_eq!(h.s.established_since(), None);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.s.state(), State::Connect);
}

// ===== stop =====

#[test]
fn manual_stop_sends_cease_with_communication_and_stays_down() {
    let mut h = Harness::new(config());
    h.establish(90);
    let cease = Notification::cease(CeaseReason::AdministrativeShutdown, "maintenance");
    let a = h.ev(Event::ManualStop(cease.clone()));
    assert!(has(&a, &Action::SendNotification(cease)));
    assert!(has(&a, &Action::SessionDown));
    assert_eq!(h.s.state(), State::Idle);
    assert_eq!(h.s.connect_retry_counter(), 0);
    assert!(!h.s.is_admin_up());
    assert_eq!(
        h.s.next_deadline(),
        None,
        "no automatic restart after a manual stop"
    );
    assert!(h.advance(Duration::from_secs(600)).is_empty());
}

#[test]
fn manual_stop_before_open_sends_nothing() {
    let mut h = Harness::new(config());
    h.ev(Event::ManualStart);
    let a = h.ev(Event::ManualStop(Notification::cease(
        CeaseReason::PeerDeconfigured,
        "",
    )));
    assert_eq!(sent_notification(&a), None);
    assert_eq!(h.s.state(), State::Idle);
    assert_eq!(h.s.next_deadline(), None);
}

#[test]
fn manual_stop_in_idle_cancels_the_automatic_restart() {
    let mut h = Harness::new(config());
    h.establish(90);
    h.ev(Event::TcpConnectionFails);
    assert!(h.s.deadline(Timer::IdleHold).is_some());
    let a = h.ev(Event::ManualStop(Notification::cease(
        CeaseReason::PeerDeconfigured,
        "",
    )));
    assert!(has(&a, &Action::StopTimer(Timer::IdleHold)));
    assert_eq!(h.s.next_deadline(), None);
}

#[test]
fn automatic_stop_sends_its_cease_and_restarts_later() {
    let mut h = Harness::new(config());
    h.establish(90);
    let cease = Notification::cease(CeaseReason::AdministrativeReset, "reset");
    let a = h.ev(Event::AutomaticStop(cease));
    assert_eq!(sent_notification(&a), Some((6, 4)));
    assert!(started(&a, Timer::IdleHold).is_some());
}

// ===== collisions =====

#[test]
fn collision_dump_sends_cease_7() {
    for establish_first in [false, true] {
        let mut h = Harness::new(config());
        h.ev(Event::ManualStart);
        h.ev(Event::TcpCrAcked);
        h.ev(Event::BgpOpen(peer_open(90)));
        if establish_first {
            h.ev(Event::KeepAliveMsg);
        }
        let a = h.ev(Event::OpenCollisionDump);
        assert_eq!(sent_notification(&a), Some((6, 7)));
        assert_eq!(h.s.state(), State::Idle);
    }
}

#[test]
fn second_connection_events_are_ignored_by_the_fsm() {
    let mut h = Harness::new(config());
    h.ev(Event::ManualStart);
    h.ev(Event::TcpCrAcked);
    assert!(h.ev(Event::TcpConnectionConfirmed).is_empty());
    h.ev(Event::BgpOpen(peer_open(90)));
    assert!(h.ev(Event::TcpConnectionConfirmed).is_empty());
    assert_eq!(h.s.state(), State::OpenConfirm);
}

#[test]
fn secondary_session_never_dials_or_restarts_until_promoted() {
    let mut s = Session::new_secondary(config());
    let now = Instant::now();
    let a = s.handle(Event::ManualStartWithPassiveTcpEstablishment, now);
    assert!(!has(&a, &Action::Connect));
    assert_eq!(s.next_deadline(), None);
    s.handle(Event::TcpConnectionConfirmed, now);
    s.handle(Event::BgpOpen(peer_open(90)), now);
    let a = s.handle(Event::OpenCollisionDump, now);
    assert_eq!(sent_notification(&a), Some((6, 7)));
    assert!(started(&a, Timer::IdleHold).is_none());

    let mut s = Session::new_secondary(config());
    s.handle(Event::ManualStartWithPassiveTcpEstablishment, now);
    s.handle(Event::TcpConnectionConfirmed, now);
    s.promote();
    let a = s.handle(Event::TcpConnectionFails, now);
    assert_eq!(s.state(), State::Active);
    assert!(
        started(&a, Timer::ConnectRetry).is_some(),
        "a promoted session dials again"
    );
}

// ===== robustness =====

/// Every event in every state: no panic, timers consistent with the state.
#[test]
fn every_event_in_every_state_is_handled() {
    let events = || {
        vec![
            Event::ManualStart,
            Event::ManualStop(Notification::cease(
                CeaseReason::AdministrativeShutdown,
                "x",
            )),
            Event::AutomaticStart,
            Event::ManualStartWithPassiveTcpEstablishment,
            Event::AutomaticStartWithPassiveTcpEstablishment,
            Event::AutomaticStop(Notification::cease(CeaseReason::AdministrativeReset, "")),
            Event::ConnectRetryTimerExpires,
            Event::HoldTimerExpires,
            Event::KeepaliveTimerExpires,
            Event::IdleHoldTimerExpires,
            Event::TcpCrAcked,
            Event::TcpConnectionConfirmed,
            Event::TcpConnectionFails,
            Event::BgpOpen(peer_open(90)),
            Event::BgpHeaderErr(Notification::new(1, 1, vec![])),
            Event::BgpOpenMsgErr(Notification::new(2, 4, vec![])),
            Event::OpenCollisionDump,
            Event::NotifMsgVerErr,
            Event::NotifMsg(Notification::new(6, 2, vec![])),
            Event::KeepAliveMsg,
            Event::UpdateMsg,
            Event::UpdateMsgErr(Notification::new(3, 1, vec![])),
            Event::RouteRefreshMsg,
            Event::UpdateSent,
        ]
    };
    let setups: Vec<(State, Vec<Event>)> = vec![
        (State::Idle, vec![]),
        (State::Connect, vec![Event::ManualStart]),
        (
            State::Active,
            vec![Event::ManualStartWithPassiveTcpEstablishment],
        ),
        (State::OpenSent, vec![Event::ManualStart, Event::TcpCrAcked]),
        (
            State::OpenConfirm,
            vec![
                Event::ManualStart,
                Event::TcpCrAcked,
                Event::BgpOpen(peer_open(90)),
            ],
        ),
        (
            State::Established,
            vec![
                Event::ManualStart,
                Event::TcpCrAcked,
                Event::BgpOpen(peer_open(90)),
                Event::KeepAliveMsg,
            ],
        ),
    ];
    for (state, setup) in setups {
        for event in events() {
            let mut h = Harness::new(config());
            for e in setup.clone() {
                h.ev(e);
            }
            assert_eq!(h.s.state(), state);
            let a = h.ev(event.clone());
            // Invariants: Idle runs no session timers; only Established delivers UPDATEs;
            // SessionDown only when leaving Established.
            if h.s.state() == State::Idle {
                for t in [Timer::Hold, Timer::Keepalive, Timer::ConnectRetry] {
                    assert_eq!(
                        h.s.deadline(t),
                        None,
                        "{state:?} {event:?}: {t:?} left running"
                    );
                }
                if state != State::Idle {
                    assert!(has(&a, &Action::Disconnect), "{state:?} {event:?}");
                }
            }
            if has(&a, &Action::ProcessUpdate) {
                assert_eq!(state, State::Established);
            }
            assert_eq!(
                has(&a, &Action::SessionDown),
                state == State::Established && h.s.state() != State::Established,
                "{state:?} {event:?}"
            );
            // Sessions with a connection that drop for an error tell the peer why, except when the
            // peer itself closed (NOTIFICATION, TCP failure).
            if matches!(
                state,
                State::OpenSent | State::OpenConfirm | State::Established
            ) && h.s.state() == State::Idle
            {
                let peer_closed = matches!(
                    event,
                    Event::NotifMsg(_) | Event::NotifMsgVerErr | Event::TcpConnectionFails
                );
                assert_eq!(
                    sent_notification(&a).is_none(),
                    peer_closed,
                    "{state:?} {event:?}"
                );
            }
        }
    }
}
