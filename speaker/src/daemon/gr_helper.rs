//! The graceful restart helper in the owner loop (RFC 4724 §4.2, RFC 8538, RFC 9494): feeds
//! each peer's [`Helper`] with session events and time, applies its actions to the route
//! engine, and logs every transition with the peer and route counts (the harness reads these
//! lines as evidence).
//!
//! Session losses are classified by [`down_cause`]: a NOTIFICATION we sent among the FSM's
//! actions, one we received (recorded in `Peer::rx_notification` while its event is fed), or
//! none (TCP failure, link down, replaced by a new connection from the peer).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use fabric_bgp_wire::AfiSafi;

use super::peer::Slot;
use super::Daemon;
use crate::fsm::{Action, CeaseReason, Notification};
pub(super) use crate::gr::helper::DownCause;
use crate::gr::helper::{Helper, HelperAction, LocalGr, PeerGr, SessionGr};

/// The cause of a session loss from the NOTIFICATION among the FSM's actions, if any (hold
/// timer expiry sends 4/0).
pub(super) fn down_cause(actions: &[Action]) -> Option<DownCause> {
    actions.iter().find_map(|a| match a {
        Action::SendNotification(n) => Some(DownCause::Sent {
            code: n.code,
            subcode: n.subcode,
        }),
        _ => None,
    })
}

/// A Cease wrapped in Cease/Hard Reset (RFC 8538 §3): the data is the encapsulated
/// NOTIFICATION's error code, subcode and data, so the peer still sees why.
pub(super) fn hard_reset(inner: &Notification) -> Notification {
    let mut data = Vec::with_capacity(inner.data.len() + 2);
    data.push(inner.code);
    data.push(inner.subcode);
    data.extend_from_slice(&inner.data);
    Notification::new(inner.code, CeaseReason::HardReset.subcode(), data)
}

/// A helper for a peer with our settings.
pub(super) fn new_helper(gr: &crate::config::GracefulRestart) -> Helper {
    Helper::new(LocalGr::from_config(gr))
}

impl Daemon {
    /// The GR facts of the session on `slot` (from the peer's OPEN and the negotiated codec).
    fn gr_session(&self, addr: IpAddr, slot: Slot) -> SessionGr {
        let conn = self
            .peers
            .get(&addr)
            .and_then(|p| p.link(slot))
            .and_then(|l| l.conn.as_ref());
        SessionGr {
            peer: conn
                .and_then(|c| c.remote_open.as_ref())
                .and_then(|o| PeerGr::from_capabilities(&o.capabilities)),
            families: conn.map(|c| c.codec.families.clone()).unwrap_or_default(),
        }
    }

    /// Before the engine hears of a new session: whether the peer may be sent LLGR_STALE
    /// routes (RFC 9494 §4.3: it advertised LLGR, with GR, and so did we).
    pub(super) fn gr_before_up(&mut self, addr: IpAddr, slot: Slot) -> SessionGr {
        let session = self.gr_session(addr, slot);
        let llgr = self.config.graceful_restart.enabled
            && self.config.graceful_restart.long_lived_stale_time > 0
            && session
                .peer
                .as_ref()
                .is_some_and(|p| !p.long_lived.is_empty());
        self.engine.set_long_lived_peer(addr, llgr);
        session
    }

    /// After the engine brought the session up: the restart timer stops, stale routes of
    /// families the new OPEN does not preserve go (RFC 4724 §4.2).
    pub(super) fn gr_after_up(&mut self, addr: IpAddr, session: SessionGr) {
        let now = Instant::now();
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let actions = p.gr.established(now, session);
        self.apply_helper(addr, actions, "new OPEN without GR or F bit for the family");
        let Some(p) = self.peers.get(&addr) else {
            return;
        };
        if !p.gr.stale_families().is_empty() {
            let (stale, long_lived) = self.engine.stale_counts(addr);
            tracing::info!(
                peer = %addr,
                stale_routes = stale,
                long_lived_stale_routes = long_lived,
                stale_path_time_secs = self.config.graceful_restart.stale_path_time,
                "graceful restart helper: peer back, stale routes kept until its End-of-RIB"
            );
        }
    }

    /// The session on `addr` left Established; `sent` is the NOTIFICATION we sent, if any.
    pub(super) fn gr_session_down(&mut self, addr: IpAddr, sent: Option<DownCause>) {
        let now = Instant::now();
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let received = p
            .rx_notification
            .take()
            .map(|(code, subcode)| DownCause::Received { code, subcode });
        let cause = sent.or(received).unwrap_or(DownCause::NoNotification);
        let mut actions = p.gr.session_down(now, cause);
        if actions.is_empty() {
            actions.push(HelperAction::DeleteAll);
        }
        self.apply_helper(addr, actions, &format!("{cause:?}"));
    }

    /// End-of-RIB from the peer for `af`: routes still stale for it go now (RFC 4724 §4.2).
    pub(super) fn gr_end_of_rib(&mut self, addr: IpAddr, af: AfiSafi) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let actions = p.gr.end_of_rib(af);
        self.apply_helper(addr, actions, "End-of-RIB");
    }

    /// The earliest helper timer of any peer.
    pub(super) fn gr_next_deadline(&self) -> Option<Instant> {
        self.peers
            .values()
            .filter_map(|p| p.gr.next_deadline())
            .min()
    }

    /// Fires the helper timers due at `now`.
    pub(super) fn gr_poll(&mut self, now: Instant) {
        let due: Vec<IpAddr> = self
            .peers
            .iter()
            .filter(|(_, p)| p.gr.next_deadline().is_some_and(|d| d <= now))
            .map(|(a, _)| *a)
            .collect();
        for addr in due {
            let Some(p) = self.peers.get_mut(&addr) else {
                continue;
            };
            let actions = p.gr.poll(now);
            self.apply_helper(addr, actions, "timer expired");
            self.reap_dynamic_after_restart(addr);
        }
    }

    /// A dynamic peer kept for its stale routes (see `Daemon::reconcile`) that did not
    /// come back: once nothing of it is stale it goes, as it would have when its session closed.
    fn reap_dynamic_after_restart(&mut self, addr: IpAddr) {
        let gone = self.peers.get(&addr).is_some_and(|p| {
            p.listen_range.is_some()
                && p.gr.stale_families().is_empty()
                && p.established_slot().is_none()
                && p.secondary.is_none()
                && p.main.conn.is_none()
        });
        if gone {
            tracing::info!(peer = %addr, "dynamic neighbor removed (not back before its restart time)");
            self.remove_peer(addr);
        }
    }

    /// A Cease for stopping the peer for good: wrapped in Hard Reset when the N bit was
    /// negotiated, so the peer flushes our routes instead of keeping them (RFC 8538 §3: a stop
    /// is not a restart).
    pub(super) fn stop_notification(&self, addr: IpAddr, cease: Notification) -> Notification {
        let n_bit = self
            .peers
            .get(&addr)
            .is_some_and(|p| p.gr.notification_negotiated() && p.established_slot().is_some());
        if n_bit && cease.subcode != CeaseReason::HardReset.subcode() {
            hard_reset(&cease)
        } else {
            cease
        }
    }

    /// Whether GR was negotiated on the peer's Established session (RFC 4724 §4.2: a new
    /// connection from it then replaces the old one without a NOTIFICATION).
    pub(super) fn gr_negotiated(&self, addr: IpAddr) -> bool {
        self.peers
            .get(&addr)
            .is_some_and(|p| p.established_slot().is_some() && p.gr.negotiated())
    }

    /// Applies helper actions to the engine, sends what results and logs each step.
    fn apply_helper(&mut self, addr: IpAddr, actions: Vec<HelperAction>, why: &str) {
        for action in actions {
            let out = match action {
                HelperAction::DeleteAll => {
                    tracing::info!(peer = %addr, cause = why, "session down: routes from it withdrawn");
                    self.engine.peer_down(addr)
                }
                HelperAction::Retain(families) => {
                    let out = self.engine.peer_down_retaining(addr, &families);
                    let (stale, long_lived) = self.engine.stale_counts(addr);
                    let restart_time_secs = self
                        .peers
                        .get(&addr)
                        .and_then(|p| p.gr.next_deadline())
                        .map(|d| d.saturating_duration_since(Instant::now()).as_secs());
                    tracing::info!(
                        peer = %addr,
                        cause = why,
                        families = ?families,
                        stale_routes = stale,
                        long_lived_stale_routes = long_lived,
                        restart_time_secs,
                        "graceful restart helper: session lost, retaining its routes as stale"
                    );
                    out
                }
                HelperAction::FlushStale(af) => {
                    let before = self.engine.stale_counts(addr);
                    let out = self.engine.flush_stale(addr, af);
                    let after = self.engine.stale_counts(addr);
                    let flushed = (before.0 + before.1).saturating_sub(after.0 + after.1);
                    tracing::info!(
                        peer = %addr,
                        family = %af,
                        reason = why,
                        flushed,
                        stale_routes_left = after.0 + after.1,
                        "graceful restart helper: stale routes deleted"
                    );
                    out
                }
                HelperAction::LongLived(af) => {
                    let out = self.engine.long_lived_stale(addr, af);
                    let (stale, long_lived) = self.engine.stale_counts(addr);
                    let llst = self
                        .peers
                        .get(&addr)
                        .and_then(|p| p.gr.stale_families().get(&af).copied());
                    let llst_secs = match llst {
                        Some(crate::gr::helper::Phase::LongLived { deadline, .. }) => {
                            deadline.saturating_duration_since(Instant::now())
                        }
                        _ => Duration::ZERO,
                    };
                    tracing::info!(
                        peer = %addr,
                        family = %af,
                        long_lived_stale_routes = long_lived,
                        stale_routes = stale,
                        long_lived_stale_time_secs = llst_secs.as_secs(),
                        "graceful restart helper: routes kept long-lived stale (LLGR_STALE)"
                    );
                    out
                }
            };
            self.send_outputs(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_reset_encapsulates_the_cease() {
        let inner = Notification::cease(CeaseReason::AdministrativeShutdown, "bye");
        let hr = hard_reset(&inner);
        assert_eq!((hr.code, hr.subcode), (6, 9));
        assert_eq!(hr.data.first(), Some(&6));
        assert_eq!(hr.data.get(1), Some(&2));
        assert_eq!(hr.data.get(2..), Some(inner.data.as_slice()));
    }

    #[test]
    fn down_cause_comes_from_the_sent_notification() {
        let hold = Notification::hold_timer_expired();
        let actions = [
            Action::SendNotification(hold),
            Action::Disconnect,
            Action::SessionDown,
        ];
        assert_eq!(
            down_cause(&actions),
            Some(DownCause::Sent {
                code: 4,
                subcode: 0
            })
        );
        assert_eq!(down_cause(&[Action::SessionDown]), None);
    }
}
