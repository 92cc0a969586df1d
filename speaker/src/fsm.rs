//! The BGP finite state machine (RFC 4271 §8), as plain data and pure transitions.
//!
//! A [`Session`] is the state of one peer's FSM bound to (at most) one TCP connection. It never
//! touches a socket, a clock or a thread: the session edge feeds it [`Event`]s together with the
//! current [`Instant`], and it answers with a list of [`Action`]s (connect, send OPEN, send
//! NOTIFICATION, start a timer, ...) that the edge carries out.
//!
//! Timers are data. [`Session::handle`] reports every timer it starts or stops as
//! [`Action::StartTimer`] / [`Action::StopTimer`] (so tests can assert on them) and records the
//! deadline itself; the edge sleeps until [`Session::next_deadline`] and then calls
//! [`Session::poll_timers`], which turns expired deadlines into the RFC timer events. A timer
//! that was stopped can therefore never fire late.
//!
//! ```text
//!   ManualStart ──► Idle ──(dial)──► Connect ──Tcp_CR_Acked──► OpenSent ──BGPOpen──► OpenConfirm
//!                    ▲  └─(passive)─► Active ──TcpConnectionConfirmed──┘               │
//!                    │                                                     KeepAliveMsg
//!                    └──────── errors, NOTIFICATION, ManualStop ◄──── Established ◄───┘
//! ```
//!
//! Where we depart from the letter of RFC 4271 §8.2.2 the code says so:
//! * Passive peers never dial (no ConnectRetryTimer in Active), as BIRD/FRR "passive" do.
//! * Automatic restart after an error uses an IdleHoldTimer (RFC 4271 §8.1.1 optional attribute,
//!   with a fixed, jittered duration instead of exponential damping).
//! * A NOTIFICATION received in OpenSent closes the session without answering with an FSM Error.
//! * Header/OPEN errors detected in Established send their own NOTIFICATION (RFC 4271 §6.1, §6.2)
//!   instead of an FSM Error.
//! * FSM Error subcodes follow RFC 6608.

pub mod collision;
mod jitter;
pub mod notification;
pub mod open_check;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant};

use fabric_bgp_wire::{Asn, RouterId};
use serde::{Deserialize, Serialize};

pub use self::collision::{
    resolve_collision, surviving_direction, CollisionOutcome, ConnectionView, Direction, Identities,
};
use self::jitter::Jitter;
pub use self::notification::{fsm_subcode, CeaseReason, Notification};
pub use self::open_check::{check_open, AcceptedOpen, PeerOpen};
use crate::config::RemoteAs;

/// Hold timer used in OpenSent before the peer's OPEN arrives (RFC 4271 §8.2.2 suggests 4 min).
pub const LARGE_HOLD_TIME: Duration = Duration::from_secs(240);

/// Smallest interval between two KEEPALIVEs (RFC 4271 §10: "no more than one per second").
pub const MIN_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);

// ===== State =====

/// FSM states (RFC 4271 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Refuses connections; waits for a start event.
    Idle,
    /// Waiting for an outbound TCP connection to complete.
    Connect,
    /// Waiting for an inbound TCP connection (or the ConnectRetryTimer to dial again).
    Active,
    /// OPEN sent, waiting for the peer's OPEN.
    OpenSent,
    /// OPENs exchanged, waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// UPDATEs may be exchanged.
    Established,
}

impl State {
    /// The state's RFC name.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The FSM's timers (RFC 4271 §8.1.3, plus the optional IdleHoldTimer of §8.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timer {
    /// ConnectRetryTimer: when to dial again.
    ConnectRetry,
    /// HoldTimer: the peer must send something before it expires.
    Hold,
    /// KeepaliveTimer: when we send the next KEEPALIVE.
    Keepalive,
    /// IdleHoldTimer: how long to stay Idle after an error before restarting automatically.
    IdleHold,
}

impl Timer {
    const ALL: [Timer; 4] = [
        Timer::Hold,
        Timer::Keepalive,
        Timer::ConnectRetry,
        Timer::IdleHold,
    ];

    fn index(self) -> usize {
        match self {
            Timer::ConnectRetry => 0,
            Timer::Hold => 1,
            Timer::Keepalive => 2,
            Timer::IdleHold => 3,
        }
    }

    fn expiry_event(self) -> Event {
        match self {
            Timer::ConnectRetry => Event::ConnectRetryTimerExpires,
            Timer::Hold => Event::HoldTimerExpires,
            Timer::Keepalive => Event::KeepaliveTimerExpires,
            Timer::IdleHold => Event::IdleHoldTimerExpires,
        }
    }
}

// ===== Configuration =====

/// The per-peer settings the FSM needs (a subset of [`crate::config::Neighbor`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS.
    pub local_as: Asn,
    /// Our BGP Identifier.
    pub local_id: RouterId,
    /// Which AS the peer must announce.
    pub remote_as: RemoteAs,
    /// Hold time we propose, seconds (0, or at least 3).
    pub hold_time: u16,
    /// Configured keepalive interval, seconds; `None` means a third of the negotiated hold time.
    pub keepalive: Option<u16>,
    /// ConnectRetryTime (RFC 4271 §10 suggests 120 s).
    pub connect_retry: Duration,
    /// How long to wait in Idle after an error before the automatic restart.
    pub idle_hold: Duration,
    /// Never dial: only accept the peer's connection.
    pub passive: bool,
    /// Seed of the jitter generator (fixed in tests for determinism).
    pub jitter_seed: u64,
}

/// Values fixed when the OPENs have been exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Negotiated {
    /// The peer's AS.
    pub peer_as: Asn,
    /// The peer's BGP Identifier.
    pub peer_id: RouterId,
    /// Negotiated hold time: min(ours, peer's) seconds; 0 disables hold and keepalive timers.
    pub hold_time: u16,
    /// Keepalive interval before jitter; zero when the hold time is 0.
    pub keepalive: Duration,
}

// ===== Events and actions =====

/// FSM input events, named after RFC 4271 §8.1 (event numbers in the docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Event 1 ManualStart. A peer configured passive starts as with Event 4.
    ManualStart,
    /// Event 2 ManualStop, with the Cease subcode and shutdown communication to send.
    ManualStop(Notification),
    /// Event 3 AutomaticStart.
    AutomaticStart,
    /// Event 4 ManualStart_with_PassiveTcpEstablishment.
    ManualStartWithPassiveTcpEstablishment,
    /// Event 5 AutomaticStart_with_PassiveTcpEstablishment.
    AutomaticStartWithPassiveTcpEstablishment,
    /// Event 8 AutomaticStop, with the Cease NOTIFICATION to send.
    AutomaticStop(Notification),
    /// Event 9 ConnectRetryTimer_Expires.
    ConnectRetryTimerExpires,
    /// Event 10 HoldTimer_Expires.
    HoldTimerExpires,
    /// Event 11 KeepaliveTimer_Expires.
    KeepaliveTimerExpires,
    /// Event 13 IdleHoldTimer_Expires.
    IdleHoldTimerExpires,
    /// Event 16 Tcp_CR_Acked: our outbound connection completed.
    TcpCrAcked,
    /// Event 17 TcpConnectionConfirmed: the peer's inbound connection was accepted.
    TcpConnectionConfirmed,
    /// Event 18 TcpConnectionFails.
    TcpConnectionFails,
    /// Event 19 BGPOpen: a syntactically valid OPEN arrived.
    BgpOpen(PeerOpen),
    /// Event 21 BGPHeaderErr, with the NOTIFICATION to send.
    BgpHeaderErr(Notification),
    /// Event 22 BGPOpenMsgErr, with the NOTIFICATION to send.
    BgpOpenMsgErr(Notification),
    /// Event 23 OpenCollisionDump: this connection lost a collision (RFC 4271 §6.8).
    OpenCollisionDump,
    /// Event 24 NotifMsgVerErr: a NOTIFICATION with a version error.
    NotifMsgVerErr,
    /// Event 25 NotifMsg: any other NOTIFICATION.
    NotifMsg(Notification),
    /// Event 26 KeepAliveMsg.
    KeepAliveMsg,
    /// Event 27 UpdateMsg: a valid UPDATE (also one handled by RFC 7606 treat-as-withdraw).
    UpdateMsg,
    /// Event 28 UpdateMsgErr: an UPDATE error needing a session reset, with its NOTIFICATION.
    UpdateMsgErr(Notification),
    /// A valid ROUTE-REFRESH (RFC 2918); not numbered in RFC 4271.
    RouteRefreshMsg,
    /// We sent an UPDATE: restarts the KeepaliveTimer (RFC 4271 §8.2.2, Established).
    UpdateSent,
}

/// What the FSM asks its edge to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Initiate an outbound TCP connection to the peer.
    Connect,
    /// Drop the TCP connection (or abandon the connection attempt).
    Disconnect,
    /// Send our OPEN.
    SendOpen,
    /// Send a KEEPALIVE.
    SendKeepalive,
    /// Send this NOTIFICATION (the edge then closes the connection after flushing it).
    SendNotification(Notification),
    /// A timer was (re)started with this duration; the FSM keeps the deadline itself.
    StartTimer(Timer, Duration),
    /// A running timer was stopped.
    StopTimer(Timer),
    /// The state changed.
    StateChange {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
    },
    /// The session reached Established with these values: send the initial routes.
    Established(Negotiated),
    /// The UPDATE just received may be processed (only in Established).
    ProcessUpdate,
    /// The ROUTE-REFRESH just received may be processed (only in Established).
    ProcessRouteRefresh,
    /// The session left Established: every route learned from it must be withdrawn.
    SessionDown,
}

// ===== Session =====

/// Whether a session may start itself again and dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The peer's main FSM.
    Primary,
    /// A second connection tracked only for collision detection (RFC 4271 §6.8): it never dials
    /// and never restarts itself.
    Secondary,
}

/// One peer's FSM state.
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    role: Role,
    state: State,
    /// A start event was received and no ManualStop since: automatic restarts are allowed.
    admin_up: bool,
    connect_retry_counter: u32,
    deadlines: [Option<Instant>; 4],
    jitter: Jitter,
    negotiated: Option<Negotiated>,
    state_since: Option<Instant>,
    established_since: Option<Instant>,
    established_count: u32,
}

impl Session {
    /// A new session in Idle.
    pub fn new(config: SessionConfig) -> Self {
        let jitter = Jitter::new(config.jitter_seed);
        Session {
            config,
            role: Role::Primary,
            state: State::Idle,
            admin_up: false,
            connect_retry_counter: 0,
            deadlines: [None; 4],
            jitter,
            negotiated: None,
            state_since: None,
            established_since: None,
            established_count: 0,
        }
    }

    /// A session for a second connection to an already running peer (RFC 4271 §6.8 collision
    /// tracking): it never dials and never restarts itself until [`Session::promote`]d.
    pub fn new_secondary(config: SessionConfig) -> Self {
        let mut s = Session::new(config);
        s.role = Role::Secondary;
        s
    }

    /// Makes a secondary session the peer's main one (after the main one lost a collision).
    pub fn promote(&mut self) {
        self.role = Role::Primary;
        self.admin_up = true;
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration the session was built with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Values agreed with the peer; `Some` from OpenConfirm on (kept after the session drops, for
    /// display, until the next OPEN).
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// ConnectRetryCounter (RFC 4271 §8.1.1).
    pub fn connect_retry_counter(&self) -> u32 {
        self.connect_retry_counter
    }

    /// When the current state was entered (`None` before the first event).
    pub fn state_since(&self) -> Option<Instant> {
        self.state_since
    }

    /// When the session last became Established, while it is.
    pub fn established_since(&self) -> Option<Instant> {
        self.established_since
    }

    /// How many times the session has reached Established.
    pub fn established_count(&self) -> u32 {
        self.established_count
    }

    /// Whether the session is administratively started (no ManualStop since the last start).
    pub fn is_admin_up(&self) -> bool {
        self.admin_up
    }

    /// The deadline of a running timer.
    pub fn deadline(&self, timer: Timer) -> Option<Instant> {
        self.deadlines.get(timer.index()).copied().flatten()
    }

    /// The earliest running timer deadline: the edge must call [`Session::poll_timers`] then.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Fires every timer whose deadline is at or before `now` as its RFC expiry event.
    pub fn poll_timers(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        // A bounded loop: each pass clears one expired deadline, and handling one expiry can
        // only start timers in the future (durations are at least 1 ms after jitter in practice,
        // and the bound guards against a zero-length configuration).
        for _ in 0..8 {
            let expired = Timer::ALL
                .into_iter()
                .find(|t| self.deadline(*t).is_some_and(|d| d <= now));
            let Some(timer) = expired else { break };
            if let Some(slot) = self.deadlines.get_mut(timer.index()) {
                *slot = None;
            }
            out.extend(self.handle(timer.expiry_event(), now));
        }
        out
    }

    /// Handles one event at time `now` (RFC 4271 §8.2.2) and returns the actions to carry out.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        if self.state_since.is_none() {
            self.state_since = Some(now);
        }
        let mut out = Vec::new();
        match self.state {
            State::Idle => self.idle(event, now, &mut out),
            State::Connect => self.connect(event, now, &mut out),
            State::Active => self.active(event, now, &mut out),
            State::OpenSent => self.open_sent(event, now, &mut out),
            State::OpenConfirm => self.open_confirm(event, now, &mut out),
            State::Established => self.established(event, now, &mut out),
        }
        out
    }

    // ===== per-state transitions (RFC 4271 §8.2.2) =====

    fn idle(&mut self, event: Event, now: Instant, out: &mut Vec<Action>) {
        match event {
            Event::ManualStart | Event::ManualStartWithPassiveTcpEstablishment => {
                self.admin_up = true;
                let passive = matches!(event, Event::ManualStartWithPassiveTcpEstablishment);
                self.start(passive, now, out);
            }
            Event::AutomaticStart | Event::AutomaticStartWithPassiveTcpEstablishment
                if self.admin_up =>
            {
                let passive = matches!(event, Event::AutomaticStartWithPassiveTcpEstablishment);
                self.start(passive, now, out);
            }
            Event::IdleHoldTimerExpires if self.admin_up && self.role == Role::Primary => {
                self.start(false, now, out);
            }
            // RFC 4271 ignores ManualStop in Idle; here it must also cancel a pending automatic
            // restart (IdleHoldTimer).
            Event::ManualStop(_) => {
                self.admin_up = false;
                self.stop_timer(Timer::IdleHold, out);
            }
            // Idle refuses connections and ignores everything else (RFC 4271 §8.2.2).
            _ => {}
        }
    }

    /// Events 1/3 (dial) and 4/5 (wait for the peer). The counter is reset by every start.
    fn start(&mut self, passive_start: bool, now: Instant, out: &mut Vec<Action>) {
        self.stop_timer(Timer::IdleHold, out);
        self.connect_retry_counter = 0;
        if passive_start || !self.dials() {
            if self.dials() {
                self.start_connect_retry(now, out);
            }
            self.set_state(State::Active, now, out);
        } else {
            self.start_connect_retry(now, out);
            out.push(Action::Connect);
            self.set_state(State::Connect, now, out);
        }
    }

    fn connect(&mut self, event: Event, now: Instant, out: &mut Vec<Action>) {
        match event {
            Event::ManualStop(_) => self.manual_stop(None, now, out),
            Event::AutomaticStop(_) => self.enter_idle(None, Counter::Increment, now, out),
            Event::ConnectRetryTimerExpires => {
                // Abandon the pending attempt and dial again.
                out.push(Action::Disconnect);
                self.start_connect_retry(now, out);
                out.push(Action::Connect);
            }
            Event::TcpCrAcked | Event::TcpConnectionConfirmed => self.send_open(now, out),
            // Without DelayOpen, a failed connection attempt goes back to Idle.
            Event::TcpConnectionFails => self.enter_idle(None, Counter::Keep, now, out),
            Event::NotifMsgVerErr => self.enter_idle(None, Counter::Keep, now, out),
            Event::ManualStart
            | Event::AutomaticStart
            | Event::ManualStartWithPassiveTcpEstablishment
            | Event::AutomaticStartWithPassiveTcpEstablishment
            | Event::UpdateSent => {}
            _ => self.enter_idle(None, Counter::Increment, now, out),
        }
    }

    fn active(&mut self, event: Event, now: Instant, out: &mut Vec<Action>) {
        match event {
            Event::ManualStop(_) => self.manual_stop(None, now, out),
            Event::AutomaticStop(_) => self.enter_idle(None, Counter::Increment, now, out),
            Event::ConnectRetryTimerExpires => {
                if self.dials() {
                    self.start_connect_retry(now, out);
                    out.push(Action::Connect);
                    self.set_state(State::Connect, now, out);
                }
            }
            Event::TcpCrAcked | Event::TcpConnectionConfirmed => self.send_open(now, out),
            Event::TcpConnectionFails => self.enter_idle(None, Counter::Increment, now, out),
            Event::NotifMsgVerErr => self.enter_idle(None, Counter::Keep, now, out),
            Event::ManualStart
            | Event::AutomaticStart
            | Event::ManualStartWithPassiveTcpEstablishment
            | Event::AutomaticStartWithPassiveTcpEstablishment
            | Event::UpdateSent => {}
            _ => self.enter_idle(None, Counter::Increment, now, out),
        }
    }

    /// Connect/Active → OpenSent once a TCP connection exists.
    fn send_open(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.stop_timer(Timer::ConnectRetry, out);
        out.push(Action::SendOpen);
        // RFC 4271 §8.2.2: "sets the HoldTimer to a large value" (4 minutes suggested).
        self.start_timer(Timer::Hold, LARGE_HOLD_TIME, now, out);
        self.set_state(State::OpenSent, now, out);
    }

    fn open_sent(&mut self, event: Event, now: Instant, out: &mut Vec<Action>) {
        match event {
            Event::ManualStop(n) => self.manual_stop(Some(n), now, out),
            Event::AutomaticStop(n) => self.enter_idle(Some(n), Counter::Increment, now, out),
            Event::HoldTimerExpires => self.enter_idle(
                Some(Notification::hold_timer_expired()),
                Counter::Increment,
                now,
                out,
            ),
            Event::TcpConnectionFails => {
                // RFC 4271 §8.2.2: close, restart the ConnectRetryTimer, listen → Active.
                self.stop_timer(Timer::Hold, out);
                out.push(Action::Disconnect);
                if self.dials() {
                    self.start_connect_retry(now, out);
                }
                self.set_state(State::Active, now, out);
            }
            Event::BgpOpen(open) => self.receive_open(&open, now, out),
            Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n) => {
                self.enter_idle(Some(n), Counter::Increment, now, out)
            }
            Event::OpenCollisionDump => self.collision_dump(now, out),
            Event::NotifMsgVerErr => self.enter_idle(None, Counter::Keep, now, out),
            // RFC 4271 lists NotifMsg among the events answered with an FSM Error; answering a
            // NOTIFICATION is pointless as the peer is closing, so we just close.
            Event::NotifMsg(_) => self.enter_idle(None, Counter::Increment, now, out),
            // A second connection is tracked by the edge for collision detection (§6.8).
            Event::TcpCrAcked
            | Event::TcpConnectionConfirmed
            | Event::ManualStart
            | Event::AutomaticStart
            | Event::ManualStartWithPassiveTcpEstablishment
            | Event::AutomaticStartWithPassiveTcpEstablishment
            | Event::UpdateSent => {}
            // Events 9, 11-13, 26-28: RFC 6608 subcode 1.
            Event::ConnectRetryTimerExpires
            | Event::KeepaliveTimerExpires
            | Event::IdleHoldTimerExpires
            | Event::KeepAliveMsg
            | Event::UpdateMsg
            | Event::UpdateMsgErr(_)
            | Event::RouteRefreshMsg => {
                self.fsm_error(fsm_subcode::UNEXPECTED_IN_OPEN_SENT, now, out)
            }
        }
    }

    /// OpenSent + BGPOpen: check the OPEN, send KEEPALIVE, set the negotiated timers.
    fn receive_open(&mut self, open: &PeerOpen, now: Instant, out: &mut Vec<Action>) {
        let checked = check_open(
            self.config.local_as,
            self.config.local_id,
            self.config.remote_as,
            open,
        );
        let accepted = match checked {
            Ok(accepted) => accepted,
            Err(notification) => {
                self.enter_idle(Some(notification), Counter::Increment, now, out);
                return;
            }
        };
        self.stop_timer(Timer::ConnectRetry, out);
        // RFC 4271 §4.2: the negotiated hold time is the smaller of the two proposals.
        let hold_time = self.config.hold_time.min(accepted.peer_hold_time);
        let keepalive = keepalive_interval(hold_time, self.config.keepalive);
        let negotiated = Negotiated {
            peer_as: accepted.peer_as,
            peer_id: accepted.peer_id,
            hold_time,
            keepalive,
        };
        self.negotiated = Some(negotiated);
        out.push(Action::SendKeepalive);
        if hold_time == 0 {
            // RFC 4271 §4.4: a zero hold time means no KEEPALIVEs and no hold timer.
            self.stop_timer(Timer::Hold, out);
        } else {
            self.start_keepalive(now, out);
            self.start_timer(
                Timer::Hold,
                Duration::from_secs(u64::from(hold_time)),
                now,
                out,
            );
        }
        self.set_state(State::OpenConfirm, now, out);
    }

    fn open_confirm(&mut self, event: Event, now: Instant, out: &mut Vec<Action>) {
        match event {
            Event::ManualStop(n) => self.manual_stop(Some(n), now, out),
            Event::AutomaticStop(n) => self.enter_idle(Some(n), Counter::Increment, now, out),
            Event::HoldTimerExpires => self.enter_idle(
                Some(Notification::hold_timer_expired()),
                Counter::Increment,
                now,
                out,
            ),
            Event::KeepaliveTimerExpires => {
                out.push(Action::SendKeepalive);
                self.start_keepalive(now, out);
            }
            Event::TcpConnectionFails | Event::NotifMsg(_) => {
                self.enter_idle(None, Counter::Increment, now, out)
            }
            Event::NotifMsgVerErr => self.enter_idle(None, Counter::Keep, now, out),
            Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n) => {
                self.enter_idle(Some(n), Counter::Increment, now, out)
            }
            Event::OpenCollisionDump => self.collision_dump(now, out),
            Event::KeepAliveMsg => {
                self.restart_hold(now, out);
                self.set_state(State::Established, now, out);
                if let Some(n) = self.negotiated {
                    out.push(Action::Established(n));
                }
            }
            Event::TcpCrAcked
            | Event::TcpConnectionConfirmed
            | Event::ManualStart
            | Event::AutomaticStart
            | Event::ManualStartWithPassiveTcpEstablishment
            | Event::AutomaticStartWithPassiveTcpEstablishment
            | Event::UpdateSent => {}
            // A second OPEN on the same connection, and events 9, 12-13, 27-28: RFC 6608 subcode 2.
            Event::BgpOpen(_)
            | Event::ConnectRetryTimerExpires
            | Event::IdleHoldTimerExpires
            | Event::UpdateMsg
            | Event::UpdateMsgErr(_)
            | Event::RouteRefreshMsg => {
                self.fsm_error(fsm_subcode::UNEXPECTED_IN_OPEN_CONFIRM, now, out)
            }
        }
    }

    fn established(&mut self, event: Event, now: Instant, out: &mut Vec<Action>) {
        match event {
            Event::ManualStop(n) => self.manual_stop(Some(n), now, out),
            Event::AutomaticStop(n) => self.enter_idle(Some(n), Counter::Increment, now, out),
            Event::HoldTimerExpires => self.enter_idle(
                Some(Notification::hold_timer_expired()),
                Counter::Increment,
                now,
                out,
            ),
            Event::KeepaliveTimerExpires => {
                out.push(Action::SendKeepalive);
                self.start_keepalive(now, out);
            }
            Event::UpdateSent => {
                // RFC 4271 §8.2.2: sending an UPDATE restarts the KeepaliveTimer.
                if self.deadline(Timer::Keepalive).is_some() {
                    self.start_keepalive(now, out);
                }
            }
            Event::OpenCollisionDump => self.collision_dump(now, out),
            Event::NotifMsgVerErr | Event::NotifMsg(_) | Event::TcpConnectionFails => {
                self.enter_idle(None, Counter::Increment, now, out)
            }
            Event::KeepAliveMsg => self.restart_hold(now, out),
            Event::UpdateMsg => {
                out.push(Action::ProcessUpdate);
                self.restart_hold(now, out);
            }
            Event::RouteRefreshMsg => {
                out.push(Action::ProcessRouteRefresh);
                self.restart_hold(now, out);
            }
            Event::UpdateMsgErr(n) | Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n) => {
                self.enter_idle(Some(n), Counter::Increment, now, out)
            }
            Event::TcpCrAcked
            | Event::TcpConnectionConfirmed
            | Event::ManualStart
            | Event::AutomaticStart
            | Event::ManualStartWithPassiveTcpEstablishment
            | Event::AutomaticStartWithPassiveTcpEstablishment => {}
            // A second OPEN on the same connection, and events 9, 12-13: RFC 6608 subcode 3.
            Event::BgpOpen(_) | Event::ConnectRetryTimerExpires | Event::IdleHoldTimerExpires => {
                self.fsm_error(fsm_subcode::UNEXPECTED_IN_ESTABLISHED, now, out)
            }
        }
    }

    // ===== shared steps =====

    fn manual_stop(
        &mut self,
        notification: Option<Notification>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.admin_up = false;
        self.enter_idle(notification, Counter::Reset, now, out);
    }

    fn collision_dump(&mut self, now: Instant, out: &mut Vec<Action>) {
        let cease = Notification::cease(CeaseReason::ConnectionCollisionResolution, "");
        // The loser of a collision must not come back on its own: the winner carries the session.
        if self.role == Role::Secondary {
            self.admin_up = false;
        }
        self.enter_idle(Some(cease), Counter::Increment, now, out);
    }

    fn fsm_error(&mut self, subcode: u8, now: Instant, out: &mut Vec<Action>) {
        self.enter_idle(
            Some(Notification::fsm_error(subcode)),
            Counter::Increment,
            now,
            out,
        );
    }

    /// Every "→ Idle" of RFC 4271 §8.2.2: optional NOTIFICATION, stop the timers, drop the
    /// connection, release resources (routes, if Established), adjust the counter, and arm the
    /// automatic restart.
    fn enter_idle(
        &mut self,
        notification: Option<Notification>,
        counter: Counter,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if let Some(n) = notification {
            out.push(Action::SendNotification(n));
        }
        for timer in [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive] {
            self.stop_timer(timer, out);
        }
        out.push(Action::Disconnect);
        match counter {
            Counter::Reset => self.connect_retry_counter = 0,
            Counter::Increment => {
                self.connect_retry_counter = self.connect_retry_counter.saturating_add(1)
            }
            Counter::Keep => {}
        }
        self.set_state(State::Idle, now, out);
        if self.admin_up && self.role == Role::Primary {
            let d = self.jitter.apply(self.config.idle_hold);
            self.start_timer(Timer::IdleHold, d, now, out);
        }
    }

    fn set_state(&mut self, to: State, now: Instant, out: &mut Vec<Action>) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.state_since = Some(now);
        out.push(Action::StateChange { from, to });
        if from == State::Established {
            self.established_since = None;
            out.push(Action::SessionDown);
        }
        if to == State::Established {
            self.established_since = Some(now);
            self.established_count = self.established_count.saturating_add(1);
        }
    }

    /// Passive peers (and secondary connections) never initiate a connection.
    fn dials(&self) -> bool {
        !self.config.passive && self.role == Role::Primary
    }

    fn start_connect_retry(&mut self, now: Instant, out: &mut Vec<Action>) {
        let d = self.jitter.apply(self.config.connect_retry);
        self.start_timer(Timer::ConnectRetry, d, now, out);
    }

    fn start_keepalive(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(n) = self.negotiated else { return };
        if n.keepalive.is_zero() {
            return;
        }
        // RFC 4271 §10 jitter, but never more often than once per second.
        let d = self.jitter.apply(n.keepalive).max(MIN_KEEPALIVE_INTERVAL);
        self.start_timer(Timer::Keepalive, d, now, out);
    }

    fn restart_hold(&mut self, now: Instant, out: &mut Vec<Action>) {
        let hold = self.negotiated.map_or(0, |n| n.hold_time);
        if hold != 0 {
            self.start_timer(Timer::Hold, Duration::from_secs(u64::from(hold)), now, out);
        }
    }

    fn start_timer(&mut self, timer: Timer, d: Duration, now: Instant, out: &mut Vec<Action>) {
        if let Some(slot) = self.deadlines.get_mut(timer.index()) {
            // An unrepresentable deadline (absurd duration) means "never".
            *slot = now.checked_add(d);
        }
        out.push(Action::StartTimer(timer, d));
    }

    fn stop_timer(&mut self, timer: Timer, out: &mut Vec<Action>) {
        if let Some(slot) = self.deadlines.get_mut(timer.index()) {
            if slot.take().is_some() {
                out.push(Action::StopTimer(timer));
            }
        }
    }
}

/// What a transition to Idle does to the ConnectRetryCounter (RFC 4271 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counter {
    Reset,
    Increment,
    Keep,
}

/// Keepalive interval for a negotiated hold time: the configured value, but at most a third of
/// the hold time (RFC 4271 §4.4, §10), at least one second; zero when the hold time is 0.
pub fn keepalive_interval(hold_time: u16, configured: Option<u16>) -> Duration {
    if hold_time == 0 {
        return Duration::ZERO;
    }
    let third = hold_time / 3;
    let secs = configured.map_or(third, |k| k.min(third)).max(1);
    Duration::from_secs(u64::from(secs))
}
