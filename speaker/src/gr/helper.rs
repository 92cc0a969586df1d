//! Helper role of graceful restart (RFC 4724 §4.2), with the notification extension (RFC 8538)
//! and long-lived graceful restart (RFC 9494): what we do with a peer's routes when its session
//! drops, as a per-peer state machine.
//!
//! Pure: time is an input, outputs are [`HelperAction`]s the owner loop applies to the RIB.
//!
//! ```text
//!   session down ─► keep? ─no─► DeleteAll
//!                     │yes
//!                     ▼
//!   per family:  AwaitingRestart ──restart timer──► LongLived (LLGR) or FlushStale
//!                     │ peer back (GR cap lists the family with F=1)
//!                     ▼
//!                AwaitingEor ──End-of-RIB / stale-path timer──► FlushStale
//!                LongLived ──End-of-RIB (peer back) / LLST expiry──► FlushStale
//! ```
//!
//! The restart timer is the peer's advertised Restart Time (§4.2); the stale-path timer is ours
//! (FRR `stalepath-time`), bounding how long a restarted peer may take to send End-of-RIB.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fabric_bgp_wire::{AfiSafi, Capability};
use serde::{Deserialize, Serialize};

/// NOTIFICATION code Cease and its Hard Reset subcode (RFC 8538 §3): always a full teardown.
const CEASE: u8 = 6;
const HARD_RESET: u8 = 9;

/// Our own graceful restart settings, as far as the helper needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalGr {
    /// We advertise the GR capability (helper only applies then, RFC 4724 §4.2).
    pub enabled: bool,
    /// We set the N bit (RFC 8538 §2).
    pub notification: bool,
    /// We advertise the LLGR capability (RFC 9494 §3): long-lived retention applies.
    pub long_lived: bool,
    /// How long stale routes wait for End-of-RIB once the peer is back.
    pub stale_path_time: Duration,
}

impl LocalGr {
    /// Helper off (GR not advertised).
    pub fn disabled() -> Self {
        LocalGr {
            enabled: false,
            notification: false,
            long_lived: false,
            stale_path_time: Duration::ZERO,
        }
    }

    /// From the configuration's `graceful-restart` section.
    pub fn from_config(gr: &crate::config::GracefulRestart) -> Self {
        LocalGr {
            enabled: gr.enabled,
            notification: gr.notification,
            long_lived: gr.long_lived_stale_time > 0,
            stale_path_time: Duration::from_secs(u64::from(gr.stale_path_time)),
        }
    }
}

/// What the peer's OPEN said about graceful restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerGr {
    /// Its Restart Time (RFC 4724 §3).
    pub restart_time: Duration,
    /// Its N bit (RFC 8538 §2).
    pub notification: bool,
    /// Families it listed, with their Forwarding State (F) bit. Empty: helper only (§3).
    pub families: BTreeMap<AfiSafi, bool>,
    /// Families of its LLGR capability: F bit and long-lived stale time (RFC 9494 §3).
    pub long_lived: BTreeMap<AfiSafi, (bool, Duration)>,
}

impl PeerGr {
    /// From the capabilities of the peer's OPEN; `None` without a GR capability. When a
    /// capability appears more than once the last one counts (RFC 4724 §3); an LLGR capability
    /// without a GR capability is ignored (RFC 9494 §4.1).
    pub fn from_capabilities(caps: &[Capability]) -> Option<PeerGr> {
        let gr = caps.iter().rev().find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g),
            _ => None,
        })?;
        let llgr = caps.iter().rev().find_map(|c| match c {
            Capability::LongLivedGracefulRestart(v) => Some(v),
            _ => None,
        });
        Some(PeerGr {
            restart_time: Duration::from_secs(u64::from(gr.restart_time)),
            notification: gr.notification,
            families: gr
                .families
                .iter()
                .map(|f| (f.afi_safi, f.forwarding_state))
                .collect(),
            long_lived: llgr
                .into_iter()
                .flatten()
                .map(|f| {
                    let llst = Duration::from_secs(u64::from(f.stale_time));
                    (f.afi_safi, (f.forwarding_state, llst))
                })
                .collect(),
        })
    }
}

/// The graceful restart facts of one Established session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionGr {
    /// The peer's capabilities (`None`: it sent no GR capability).
    pub peer: Option<PeerGr>,
    /// Families negotiated on the session (only those can have routes to keep).
    pub families: Vec<AfiSafi>,
}

/// How a session ended, as far as retention is concerned (RFC 4724 §4, RFC 8538 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownCause {
    /// No NOTIFICATION either way: TCP error, EOF or reset, link loss, or replaced by a new
    /// connection from the peer (§4.2).
    NoNotification,
    /// We sent this NOTIFICATION (hold timer expiry is 4/0).
    Sent {
        /// Error code.
        code: u8,
        /// Subcode.
        subcode: u8,
    },
    /// We received this NOTIFICATION.
    Received {
        /// Error code.
        code: u8,
        /// Subcode.
        subcode: u8,
    },
}

/// Where a family's stale routes are in their life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The peer is down; the restart timer runs (RFC 4724 §4.2).
    AwaitingRestart,
    /// The peer is back; its routes stay stale until End-of-RIB or `deadline` (stale-path).
    AwaitingEor {
        /// Stale-path timer expiry.
        deadline: Instant,
    },
    /// Long-lived stale (RFC 9494 §4.2) until `deadline`, or End-of-RIB once the peer is back.
    LongLived {
        /// Long-lived stale timer expiry; never restarted by flaps (§4.2).
        deadline: Instant,
        /// Whether the peer is Established again.
        peer_back: bool,
    },
}

/// What the RIB must do with a peer's routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelperAction {
    /// Normal teardown (RFC 4271): forget all the peer's routes.
    DeleteAll,
    /// Keep these families' routes as stale (routes already stale from an earlier drop are
    /// deleted, RFC 4724 §4.2; long-lived stale ones stay, RFC 9494 §4.2); delete the routes
    /// of other families.
    Retain(Vec<AfiSafi>),
    /// Delete the routes still stale for the family (End-of-RIB, timer, F=0).
    FlushStale(AfiSafi),
    /// Make the family's stale routes long-lived stale: attach LLGR_STALE and re-advertise,
    /// delete those carrying NO_LLGR (RFC 9494 §4.2).
    LongLived(AfiSafi),
}

/// One family's state as the control socket shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FamilyStatus {
    /// Family name (e.g. `ipv4-unicast`).
    pub family: String,
    /// `awaiting-restart`, `awaiting-eor` or `long-lived`.
    pub phase: String,
    /// Seconds until the family's own timer (stale-path or long-lived) fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secs_left: Option<f64>,
}

/// The helper state of one peer (for the control socket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HelperStatus {
    /// `idle`, `retaining` (peer down), `refreshing` (peer back, waiting for End-of-RIB) or
    /// `long-lived`.
    pub state: String,
    /// Seconds left on the restart timer, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_timer_secs: Option<f64>,
    /// Families with stale routes.
    #[serde(default)]
    pub families: Vec<FamilyStatus>,
    /// Routes kept stale (RFC 4724 §4.2), filled in by the owner from the RIB.
    #[serde(default)]
    pub stale_routes: usize,
    /// Routes kept long-lived stale (RFC 9494 §4.2), filled in by the owner from the RIB.
    #[serde(default)]
    pub long_lived_stale_routes: usize,
}

impl HelperStatus {
    /// One line for people, e.g. `retaining, restart timer 87 s left, 12 stale routes`.
    pub fn summary(&self) -> String {
        let mut s = self.state.clone();
        if let Some(t) = self.restart_timer_secs {
            s.push_str(&format!(", restart timer {} s left", t.ceil()));
        }
        if let Some(t) = self
            .families
            .iter()
            .filter_map(|f| f.secs_left)
            .reduce(f64::min)
        {
            s.push_str(&format!(", stale timer {} s left", t.ceil()));
        }
        s.push_str(&format!(", {} stale routes", self.stale_routes));
        if self.long_lived_stale_routes > 0 {
            s.push_str(&format!(
                ", {} long-lived stale routes",
                self.long_lived_stale_routes
            ));
        }
        s
    }
}

/// The helper state machine of one peer.
#[derive(Debug, Clone)]
pub struct Helper {
    local: LocalGr,
    /// The current (or last) Established session's GR facts.
    session: Option<SessionGr>,
    /// Whether `session` is Established now.
    up: bool,
    /// Restart timer (RFC 4724 §4.2), while the peer is down.
    restart_deadline: Option<Instant>,
    /// Families with stale routes.
    stale: BTreeMap<AfiSafi, Phase>,
}

impl Helper {
    /// A helper with nothing retained.
    pub fn new(local: LocalGr) -> Self {
        Helper {
            local,
            session: None,
            up: false,
            restart_deadline: None,
            stale: BTreeMap::new(),
        }
    }

    /// Families with stale routes and their phase.
    pub fn stale_families(&self) -> &BTreeMap<AfiSafi, Phase> {
        &self.stale
    }

    /// Whether a session ending with `cause` would keep routes (RFC 4724 §4.2; RFC 8538 §3:
    /// with N both ways a NOTIFICATION other than Cease/Hard Reset keeps them too).
    pub fn would_retain(&self, cause: DownCause) -> bool {
        let Some(peer) = self.peer() else {
            return false;
        };
        if !self.local.enabled || self.retainable(peer).is_empty() {
            return false;
        }
        match cause {
            DownCause::NoNotification => true,
            DownCause::Sent { code, subcode } | DownCause::Received { code, subcode } => {
                self.notification_negotiated() && (code, subcode) != (CEASE, HARD_RESET)
            }
        }
    }

    /// Whether the N bit was negotiated both ways on the current session (RFC 8538 §2).
    pub fn notification_negotiated(&self) -> bool {
        self.local.enabled && self.local.notification && self.peer().is_some_and(|p| p.notification)
    }

    /// Whether GR was negotiated on the current session (both sides sent the capability).
    pub fn negotiated(&self) -> bool {
        self.local.enabled && self.peer().is_some()
    }

    fn peer(&self) -> Option<&PeerGr> {
        self.session.as_ref().and_then(|s| s.peer.as_ref())
    }

    /// The long-lived stale time for `af`, when LLGR applies to it (both sides, LLST > 0).
    fn llst(&self, af: AfiSafi) -> Option<Duration> {
        if !self.local.long_lived {
            return None;
        }
        let (_, llst) = self.peer()?.long_lived.get(&af)?;
        (!llst.is_zero()).then_some(*llst)
    }

    /// Stale routes of `af` that the restart time no longer covers: long-lived from `now` when
    /// LLGR applies to the family (RFC 9494 §4.2), flushed otherwise (RFC 4724 §4.2).
    fn long_lived_or_flush(&mut self, af: AfiSafi, now: Instant) -> HelperAction {
        match self.llst(af) {
            Some(llst) => {
                self.stale.insert(
                    af,
                    Phase::LongLived {
                        deadline: now + llst,
                        peer_back: false,
                    },
                );
                HelperAction::LongLived(af)
            }
            None => {
                self.stale.remove(&af);
                HelperAction::FlushStale(af)
            }
        }
    }

    /// The negotiated families whose routes may be kept: listed in the GR capability with a
    /// non-zero Restart Time, or with long-lived retention (RFC 4724 §4.2, RFC 9494 §4.2).
    fn retainable(&self, peer: &PeerGr) -> Vec<AfiSafi> {
        let Some(s) = &self.session else {
            return Vec::new();
        };
        s.families
            .iter()
            .copied()
            .filter(|af| {
                let gr = peer.families.contains_key(af) && !peer.restart_time.is_zero();
                gr || self.llst(*af).is_some()
            })
            .collect()
    }

    /// The session reached Established (RFC 4724 §4.2): stop the restart timer; families whose
    /// new OPEN has no GR, omits them or has F=0 lose their stale routes now; the others wait
    /// for End-of-RIB (stale-path timer).
    pub fn established(&mut self, now: Instant, session: SessionGr) -> Vec<HelperAction> {
        self.restart_deadline = None;
        self.up = true;
        let mut out = Vec::new();
        let keep = |af: &AfiSafi| -> bool {
            let Some(p) = session.peer.as_ref().filter(|_| self.local.enabled) else {
                return false;
            };
            let negotiated = session.families.contains(af);
            let gr_f = p.families.get(af).copied().unwrap_or(false);
            // RFC 9494 §4.2: the LLGR capability's F bit speaks for long-lived routes.
            let llgr_f = self.local.long_lived && p.long_lived.get(af).is_some_and(|(f, _)| *f);
            negotiated && (gr_f || llgr_f)
        };
        let stale = std::mem::take(&mut self.stale);
        for (af, phase) in stale {
            if !keep(&af) {
                out.push(HelperAction::FlushStale(af));
                continue;
            }
            let next = match phase {
                Phase::LongLived { deadline, .. } => Phase::LongLived {
                    deadline,
                    peer_back: true,
                },
                Phase::AwaitingRestart | Phase::AwaitingEor { .. } => Phase::AwaitingEor {
                    deadline: now + self.local.stale_path_time,
                },
            };
            self.stale.insert(af, next);
        }
        self.session = Some(session);
        out
    }

    /// The session left Established because of `cause`.
    pub fn session_down(&mut self, now: Instant, cause: DownCause) -> Vec<HelperAction> {
        let was_up = std::mem::replace(&mut self.up, false);
        if !was_up {
            return Vec::new();
        }
        if !self.would_retain(cause) {
            self.stale.clear();
            self.restart_deadline = None;
            return vec![HelperAction::DeleteAll];
        }
        let Some(peer) = self.peer().cloned() else {
            return vec![HelperAction::DeleteAll];
        };
        let families = self.retainable(&peer);
        // Families no longer retained lose their stale routes with the rest.
        self.stale.retain(|af, _| families.contains(af));
        let mut out = vec![HelperAction::Retain(families.clone())];
        let mut restart = false;
        for af in families {
            let gr = peer.families.contains_key(&af) && !peer.restart_time.is_zero();
            match self.stale.get(&af) {
                // RFC 9494 §4.2: the long-lived timer is not restarted by a flap before the
                // peer is synchronised; what the flapped session sent becomes long-lived too.
                Some(Phase::LongLived { deadline, .. }) => {
                    let deadline = *deadline;
                    self.stale.insert(
                        af,
                        Phase::LongLived {
                            deadline,
                            peer_back: false,
                        },
                    );
                    out.push(HelperAction::LongLived(af));
                }
                _ if gr => {
                    self.stale.insert(af, Phase::AwaitingRestart);
                    restart = true;
                }
                // Restart Time 0 (or the family not in the GR capability) with LLGR: long-lived
                // at once (RFC 9494 §4.2).
                _ => out.push(self.long_lived_or_flush(af, now)),
            }
        }
        self.restart_deadline = restart.then(|| now + peer.restart_time);
        out
    }

    /// End-of-RIB from the peer for `af` (RFC 4724 §4.2): routes still stale go now.
    pub fn end_of_rib(&mut self, af: AfiSafi) -> Vec<HelperAction> {
        match self.stale.get(&af) {
            Some(
                Phase::AwaitingEor { .. }
                | Phase::LongLived {
                    peer_back: true, ..
                },
            ) => {
                self.stale.remove(&af);
                vec![HelperAction::FlushStale(af)]
            }
            _ => Vec::new(),
        }
    }

    /// The earliest timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        let phases = self.stale.values().filter_map(|p| match p {
            Phase::AwaitingRestart => None,
            Phase::AwaitingEor { deadline } | Phase::LongLived { deadline, .. } => Some(*deadline),
        });
        self.restart_deadline.into_iter().chain(phases).min()
    }

    /// Fires the timers due at `now`.
    pub fn poll(&mut self, now: Instant) -> Vec<HelperAction> {
        let mut out = Vec::new();
        if self.restart_deadline.is_some_and(|d| d <= now) {
            // RFC 4724 §4.2: the peer did not come back in time; RFC 9494 §4.2: long-lived
            // retention starts where the restart time ends.
            self.restart_deadline = None;
            let waiting: Vec<AfiSafi> = self
                .stale
                .iter()
                .filter(|(_, p)| **p == Phase::AwaitingRestart)
                .map(|(af, _)| *af)
                .collect();
            for af in waiting {
                out.push(self.long_lived_or_flush(af, now));
            }
        }
        let expired: Vec<AfiSafi> = self
            .stale
            .iter()
            .filter(|(_, p)| match p {
                Phase::AwaitingRestart => false,
                Phase::AwaitingEor { deadline } | Phase::LongLived { deadline, .. } => {
                    *deadline <= now
                }
            })
            .map(|(af, _)| *af)
            .collect();
        for af in expired {
            self.stale.remove(&af);
            out.push(HelperAction::FlushStale(af));
        }
        out
    }

    /// The control socket view at `now`.
    pub fn status(&self, now: Instant) -> HelperStatus {
        let left = |d: Instant| d.saturating_duration_since(now).as_secs_f64();
        let state = if self.stale.is_empty() {
            "idle"
        } else if self
            .stale
            .values()
            .any(|p| matches!(p, Phase::AwaitingRestart))
        {
            "retaining"
        } else if self
            .stale
            .values()
            .any(|p| matches!(p, Phase::AwaitingEor { .. }))
        {
            "refreshing"
        } else {
            "long-lived"
        };
        HelperStatus {
            state: state.to_owned(),
            restart_timer_secs: self.restart_deadline.map(left),
            families: self
                .stale
                .iter()
                .map(|(af, p)| {
                    let (phase, d) = match p {
                        Phase::AwaitingRestart => ("awaiting-restart", None),
                        Phase::AwaitingEor { deadline } => ("awaiting-eor", Some(*deadline)),
                        Phase::LongLived { deadline, .. } => ("long-lived", Some(*deadline)),
                    };
                    FamilyStatus {
                        family: af.to_string(),
                        phase: phase.to_owned(),
                        secs_left: d.map(left),
                    }
                })
                .collect(),
            stale_routes: 0,
            long_lived_stale_routes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use fabric_bgp_wire::{GrFamily, GracefulRestart, LlgrFamily};

    use super::*;

    const V4: AfiSafi = AfiSafi::IPV4_UNICAST;
    const V6: AfiSafi = AfiSafi::IPV6_UNICAST;

    fn local() -> LocalGr {
        LocalGr {
            enabled: true,
            notification: false,
            long_lived: false,
            stale_path_time: Duration::from_secs(360),
        }
    }

    fn gr_cap(restart_time: u16, n: bool, fams: &[(AfiSafi, bool)]) -> Capability {
        Capability::GracefulRestart(GracefulRestart {
            restart_state: false,
            notification: n,
            restart_time,
            families: fams
                .iter()
                .map(|(af, f)| GrFamily {
                    afi_safi: *af,
                    forwarding_state: *f,
                })
                .collect(),
        })
    }

    fn llgr_cap(fams: &[(AfiSafi, bool, u32)]) -> Capability {
        Capability::LongLivedGracefulRestart(
            fams.iter()
                .map(|(af, f, t)| LlgrFamily {
                    afi_safi: *af,
                    forwarding_state: *f,
                    stale_time: *t,
                })
                .collect(),
        )
    }

    fn session(caps: &[Capability]) -> SessionGr {
        SessionGr {
            peer: PeerGr::from_capabilities(caps),
            families: vec![V4, V6],
        }
    }

    fn up(local: LocalGr, caps: &[Capability], t0: Instant) -> Helper {
        let mut h = Helper::new(local);
        assert_eq!(h.established(t0, session(caps)), vec![]);
        h
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn stmt55_tcp_failure_retains_listed_families_and_starts_the_restart_timer() {
        let t0 = Instant::now();
        let mut h = up(local(), &[gr_cap(120, false, &[(V4, true)])], t0);
        let a = h.session_down(t0, DownCause::NoNotification);
        assert_eq!(a, vec![HelperAction::Retain(vec![V4])]);
        assert_eq!(h.next_deadline(), Some(t0 + secs(120)));
        assert_eq!(h.status(t0).state, "retaining");
        assert_eq!(h.status(t0).restart_timer_secs, Some(120.0));
    }

    #[test]
    fn stmt52_gr_without_families_or_without_local_gr_retains_nothing() {
        let t0 = Instant::now();
        let mut h = up(local(), &[gr_cap(120, false, &[])], t0);
        assert_eq!(
            h.session_down(t0, DownCause::NoNotification),
            vec![HelperAction::DeleteAll]
        );
        let mut off = local();
        off.enabled = false;
        let mut h = up(off, &[gr_cap(120, false, &[(V4, true)])], t0);
        assert_eq!(
            h.session_down(t0, DownCause::NoNotification),
            vec![HelperAction::DeleteAll]
        );
        // Restart Time 0 without LLGR: nothing to wait for.
        let mut h = up(local(), &[gr_cap(0, false, &[(V4, true)])], t0);
        assert_eq!(
            h.session_down(t0, DownCause::NoNotification),
            vec![HelperAction::DeleteAll]
        );
        // No GR capability at all.
        let mut h = up(local(), &[], t0);
        assert_eq!(
            h.session_down(t0, DownCause::NoNotification),
            vec![HelperAction::DeleteAll]
        );
    }

    #[test]
    fn stmt54_notification_without_n_bit_is_a_normal_teardown() {
        let t0 = Instant::now();
        for cause in [
            DownCause::Sent {
                code: 4,
                subcode: 0,
            },
            DownCause::Received {
                code: 6,
                subcode: 2,
            },
        ] {
            let mut h = up(local(), &[gr_cap(120, true, &[(V4, true)])], t0);
            assert_eq!(h.session_down(t0, cause), vec![HelperAction::DeleteAll]);
            assert_eq!(h.next_deadline(), None);
        }
    }

    #[test]
    fn stmt75_n_bit_both_ways_retains_on_notification_but_not_on_hard_reset() {
        let t0 = Instant::now();
        let mut l = local();
        l.notification = true;
        let caps = [gr_cap(120, true, &[(V4, true)])];
        let mut h = up(l, &caps, t0);
        assert!(h.notification_negotiated());
        let hold = DownCause::Sent {
            code: 4,
            subcode: 0,
        };
        assert_eq!(
            h.session_down(t0, hold),
            vec![HelperAction::Retain(vec![V4])]
        );
        let mut h = up(l, &caps, t0);
        let hard = DownCause::Received {
            code: 6,
            subcode: 9,
        };
        assert_eq!(h.session_down(t0, hard), vec![HelperAction::DeleteAll]);
        // Only one side set N: not negotiated.
        let mut h = up(l, &[gr_cap(120, false, &[(V4, true)])], t0);
        assert!(!h.notification_negotiated());
        assert_eq!(h.session_down(t0, hold), vec![HelperAction::DeleteAll]);
    }

    #[test]
    fn stmt56_restart_timer_expiry_flushes() {
        let t0 = Instant::now();
        let mut h = up(
            local(),
            &[gr_cap(30, false, &[(V4, true), (V6, false)])],
            t0,
        );
        h.session_down(t0, DownCause::NoNotification);
        assert_eq!(h.poll(t0 + secs(29)), vec![]);
        let mut a = h.poll(t0 + secs(30));
        a.sort_by_key(|x| format!("{x:?}"));
        assert_eq!(
            a,
            vec![HelperAction::FlushStale(V4), HelperAction::FlushStale(V6)]
        );
        assert_eq!(h.next_deadline(), None);
        assert_eq!(h.status(t0).state, "idle");
    }

    #[test]
    fn stmt57_end_of_rib_flushes_what_is_still_stale_and_stale_path_timer_bounds_it() {
        let t0 = Instant::now();
        let caps = [gr_cap(120, false, &[(V4, true), (V6, true)])];
        let mut h = up(local(), &caps, t0);
        h.session_down(t0, DownCause::NoNotification);
        let t1 = t0 + secs(10);
        assert_eq!(h.established(t1, session(&caps)), vec![]);
        assert_eq!(h.status(t1).state, "refreshing");
        assert_eq!(h.next_deadline(), Some(t1 + secs(360)), "stale-path timer");
        assert_eq!(h.end_of_rib(V4), vec![HelperAction::FlushStale(V4)]);
        assert_eq!(h.end_of_rib(V4), vec![], "once");
        assert_eq!(h.poll(t1 + secs(360)), vec![HelperAction::FlushStale(V6)]);
    }

    #[test]
    fn stmt58_reopen_without_gr_or_with_f_zero_flushes_at_once() {
        let t0 = Instant::now();
        let caps = [gr_cap(120, false, &[(V4, true), (V6, true)])];
        let mut h = up(local(), &caps, t0);
        h.session_down(t0, DownCause::NoNotification);
        // V4 with F=0, V6 omitted.
        let a = h.established(t0, session(&[gr_cap(120, false, &[(V4, false)])]));
        assert_eq!(
            a,
            vec![HelperAction::FlushStale(V4), HelperAction::FlushStale(V6)]
        );
        let mut h = up(local(), &caps, t0);
        h.session_down(t0, DownCause::NoNotification);
        let a = h.established(t0, session(&[]));
        assert_eq!(a.len(), 2, "no GR capability: every family flushed: {a:?}");
        assert_eq!(h.next_deadline(), None);
    }

    #[test]
    fn stmt59_drop_again_before_end_of_rib_retains_anew() {
        let t0 = Instant::now();
        let caps = [gr_cap(120, false, &[(V4, true)])];
        let mut h = up(local(), &caps, t0);
        h.session_down(t0, DownCause::NoNotification);
        h.established(t0 + secs(5), session(&caps));
        // The RIB deletes routes already stale on Retain; the restart timer starts again.
        let t2 = t0 + secs(8);
        assert_eq!(
            h.session_down(t2, DownCause::NoNotification),
            vec![HelperAction::Retain(vec![V4])]
        );
        assert_eq!(h.next_deadline(), Some(t2 + secs(120)));
    }

    #[test]
    fn stmt60_gr_negotiated_is_what_a_new_connection_checks() {
        let t0 = Instant::now();
        let h = up(local(), &[gr_cap(120, false, &[(V4, true)])], t0);
        assert!(h.negotiated());
        assert!(h.would_retain(DownCause::NoNotification));
        let h = up(local(), &[], t0);
        assert!(!h.negotiated());
    }

    #[test]
    fn stmt68_llgr_without_gr_is_ignored() {
        assert_eq!(
            PeerGr::from_capabilities(&[llgr_cap(&[(V4, true, 3600)])]),
            None
        );
        let t0 = Instant::now();
        let mut l = local();
        l.long_lived = true;
        let mut h = up(l, &[llgr_cap(&[(V4, true, 3600)])], t0);
        assert_eq!(
            h.session_down(t0, DownCause::NoNotification),
            vec![HelperAction::DeleteAll]
        );
    }

    #[test]
    fn stmt69_restart_timer_end_starts_long_lived_retention() {
        let t0 = Instant::now();
        let mut l = local();
        l.long_lived = true;
        let caps = [
            gr_cap(30, false, &[(V4, true)]),
            llgr_cap(&[(V4, true, 3600)]),
        ];
        let mut h = up(l, &caps, t0);
        h.session_down(t0, DownCause::NoNotification);
        let t1 = t0 + secs(30);
        assert_eq!(h.poll(t1), vec![HelperAction::LongLived(V4)]);
        assert_eq!(h.status(t1).state, "long-lived");
        assert_eq!(h.next_deadline(), Some(t1 + secs(3600)));
        // Without our LLGR the same peer gets a flush.
        let mut h = up(local(), &caps, t0);
        h.session_down(t0, DownCause::NoNotification);
        assert_eq!(h.poll(t1), vec![HelperAction::FlushStale(V4)]);
    }

    #[test]
    fn stmt69_restart_time_zero_goes_long_lived_at_once() {
        let t0 = Instant::now();
        let mut l = local();
        l.long_lived = true;
        let caps = [gr_cap(0, false, &[(V4, true)]), llgr_cap(&[(V4, true, 60)])];
        let mut h = up(l, &caps, t0);
        assert_eq!(
            h.session_down(t0, DownCause::NoNotification),
            vec![HelperAction::Retain(vec![V4]), HelperAction::LongLived(V4)]
        );
        assert_eq!(h.next_deadline(), Some(t0 + secs(60)));
    }

    #[test]
    fn stmt73_llst_expiry_deletes_and_is_not_restarted_by_flaps() {
        let t0 = Instant::now();
        let mut l = local();
        l.long_lived = true;
        let caps = [
            gr_cap(10, false, &[(V4, true)]),
            llgr_cap(&[(V4, true, 100)]),
        ];
        let mut h = up(l, &caps, t0);
        h.session_down(t0, DownCause::NoNotification);
        h.poll(t0 + secs(10));
        let llst_end = t0 + secs(110);
        // Back and down again before End-of-RIB: same deadline.
        assert_eq!(h.established(t0 + secs(20), session(&caps)), vec![]);
        assert_eq!(
            h.session_down(t0 + secs(30), DownCause::NoNotification),
            vec![HelperAction::Retain(vec![V4]), HelperAction::LongLived(V4)]
        );
        assert_eq!(h.next_deadline(), Some(llst_end));
        assert_eq!(h.poll(llst_end), vec![HelperAction::FlushStale(V4)]);
        assert_eq!(h.next_deadline(), None);
    }

    #[test]
    fn long_lived_routes_wait_for_end_of_rib_once_the_peer_is_back() {
        let t0 = Instant::now();
        let mut l = local();
        l.long_lived = true;
        let caps = [
            gr_cap(10, false, &[(V4, true)]),
            llgr_cap(&[(V4, true, 100)]),
        ];
        let mut h = up(l, &caps, t0);
        h.session_down(t0, DownCause::NoNotification);
        h.poll(t0 + secs(10));
        assert_eq!(h.end_of_rib(V4), vec![], "peer still down");
        h.established(t0 + secs(20), session(&caps));
        assert_eq!(h.end_of_rib(V4), vec![HelperAction::FlushStale(V4)]);
    }

    #[test]
    fn last_capability_counts() {
        let p =
            PeerGr::from_capabilities(&[gr_cap(10, false, &[(V4, true)]), gr_cap(20, true, &[])])
                .unwrap();
        assert_eq!(p.restart_time, secs(20));
        assert!(p.families.is_empty());
    }
}
