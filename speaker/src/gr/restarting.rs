//! Restarting-speaker role of graceful restart (RFC 4724 §4.1): plain data, time as an input.
//!
//! ```text
//!   start ─► is_restart(mode, our kernel routes survived?) ─► Recovery::new (R=1, F per AF)
//!   peer Established (its GR cap, R bit) ─► Deferral::peer_established
//!   End-of-RIB received                  ─► Deferral::end_of_rib
//!   session down                         ─► Deferral::peer_down
//!   any step                             ─► Deferral::poll(now) ─► Some(DeferralEnd) once
//! ```
//!
//! While deferring, the route engine receives routes but keeps the results of best-path
//! selection from the kernel and from the peers (no FIB writes, no UPDATE, no End-of-RIB).
//! The deferral ends when End-of-RIB arrived for every negotiated address family from every
//! configured neighbor that is GR-capable with R=0 (a peer with R=1 restarts itself and is never
//! waited for, so two restarting speakers cannot deadlock, RFC 4724 §3 / conformance statement
//! 65; a peer without the capability sends no End-of-RIB to wait for), or when the Selection
//! Deferral Timer expires. Configured neighbors not Established yet are waited for, bounded by
//! the timer. Dynamic (listen-range) peers are never waited for: nobody knows they exist.
//!
//! The sweep of our kept kernel routes (the last step of §4.1) waits a little longer than
//! selection: also for the End-of-RIB of configured peers that came up with R=1, bounded by the
//! same timer. Selection and advertisement must not wait for them (stmt 65), but deleting a
//! kept route such a peer is about to refresh would break forwarding for nothing (stmt 67).
//! FRR sets R=1 in every OPEN for its restart time after bgpd starts, so a node restarting
//! under a freshly started FRR ToR would otherwise blackhole the ToR's routes for ~1 s.
//! For the same reason our End-of-RIB to the other peers (helpers flush what is still stale
//! when it arrives) waits for those R=1 peers' End-of-RIB too; an R=1 peer gets ours right
//! after selection, so two restarting speakers never wait for each other.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use fabric_bgp_wire::{AfiSafi, GracefulRestart};

use crate::config::{Config, RestartMode};
use crate::fib::KeptRoutes;

/// The families whose End-of-RIB the deferral can wait for (those the RIB carries).
const FAMILIES: [AfiSafi; 2] = [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];

/// Whether this start is a graceful restart: `Always` (every start, like `bird -R`), or `Auto`
/// and routes of our kernel protocol survived from a previous instance.
pub fn is_restart(mode: RestartMode, routes_survived: bool) -> bool {
    match mode {
        RestartMode::Always => true,
        RestartMode::Auto => routes_survived,
        RestartMode::Never => false,
    }
}

/// Why selection deferral ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeferralEnd {
    /// Every awaited End-of-RIB arrived.
    AllEndOfRib,
    /// The Selection Deferral Timer expired first.
    Timer,
    /// Ended on request (the owner loop, an operator).
    Requested,
}

impl DeferralEnd {
    /// Short text for logs and the control socket.
    pub fn as_str(self) -> &'static str {
        match self {
            DeferralEnd::AllEndOfRib => "all End-of-RIB received",
            DeferralEnd::Timer => "timer",
            DeferralEnd::Requested => "requested",
        }
    }
}

/// Selection deferral of a restarting speaker (RFC 4724 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferral {
    started: Instant,
    deadline: Instant,
    /// Configured (static) neighbors and the families they are configured for.
    configured: BTreeMap<IpAddr, BTreeSet<AfiSafi>>,
    /// Peers whose End-of-RIB is still awaited, per family.
    awaited: BTreeMap<IpAddr, BTreeSet<AfiSafi>>,
    /// Established peers (configured or dynamic) and their negotiated families.
    established: BTreeMap<IpAddr, BTreeSet<AfiSafi>>,
    ended: Option<(DeferralEnd, Instant)>,
    /// Configured peers with R=1 whose End-of-RIB the sweep of kept routes waits for.
    sweep_awaited: BTreeMap<IpAddr, BTreeSet<AfiSafi>>,
    /// Configured peers that came up with R=1 before the sweep.
    restarting_peers: BTreeSet<IpAddr>,
    /// Whether the kept routes were swept.
    swept: bool,
}

impl Deferral {
    /// Deferral started at `now` for at most `timeout`, waiting for `neighbors` (the configured
    /// ones, with their configured families).
    pub fn new(
        now: Instant,
        timeout: Duration,
        neighbors: impl IntoIterator<Item = (IpAddr, Vec<AfiSafi>)>,
    ) -> Self {
        let configured: BTreeMap<IpAddr, BTreeSet<AfiSafi>> = neighbors
            .into_iter()
            .map(|(a, fs)| (a, fs.into_iter().filter(|f| FAMILIES.contains(f)).collect()))
            .filter(|(_, fs): &(IpAddr, BTreeSet<AfiSafi>)| !fs.is_empty())
            .collect();
        Deferral {
            started: now,
            deadline: now + timeout,
            awaited: configured.clone(),
            configured,
            established: BTreeMap::new(),
            ended: None,
            sweep_awaited: BTreeMap::new(),
            restarting_peers: BTreeSet::new(),
            swept: false,
        }
    }

    /// A peer reached Established with these negotiated families and this GR capability.
    /// RFC 4724 §4.1: only GR-capable peers with R=0 are waited for; §3: never a peer with R=1.
    pub fn peer_established(
        &mut self,
        peer: IpAddr,
        families: &[AfiSafi],
        gr: Option<&GracefulRestart>,
    ) {
        let negotiated: BTreeSet<AfiSafi> = families
            .iter()
            .copied()
            .filter(|f| FAMILIES.contains(f))
            .collect();
        self.established.insert(peer, negotiated.clone());
        let restarting_peer = self.configured.contains_key(&peer)
            && gr.is_some_and(|g| g.restart_state)
            && !negotiated.is_empty();
        if !self.swept {
            if restarting_peer {
                self.sweep_awaited.insert(peer, negotiated.clone());
                self.restarting_peers.insert(peer);
            } else {
                self.sweep_awaited.remove(&peer);
                self.restarting_peers.remove(&peer);
            }
        }
        if self.ended.is_some() {
            return;
        }
        let waits = self.configured.contains_key(&peer)
            && gr.is_some_and(|g| !g.restart_state)
            && !negotiated.is_empty();
        if waits {
            self.awaited.insert(peer, negotiated);
        } else {
            self.awaited.remove(&peer);
        }
    }

    /// The peer sent End-of-RIB for `family` (RFC 4724 §2).
    pub fn end_of_rib(&mut self, peer: IpAddr, family: AfiSafi) {
        if !self.established.contains_key(&peer) {
            return;
        }
        for awaited in [&mut self.awaited, &mut self.sweep_awaited] {
            if let Some(fs) = awaited.get_mut(&peer) {
                fs.remove(&family);
                if fs.is_empty() {
                    awaited.remove(&peer);
                }
            }
        }
    }

    /// The peer's session went down: a configured neighbor is waited for again (as one not yet
    /// Established, bounded by the timer), since the routes it sent are gone.
    pub fn peer_down(&mut self, peer: IpAddr) {
        self.established.remove(&peer);
        // Its routes are gone (or kept stale by our helper role): nothing to wait for.
        self.sweep_awaited.remove(&peer);
        if self.ended.is_some() {
            return;
        }
        if let Some(fs) = self.configured.get(&peer) {
            self.awaited.insert(peer, fs.clone());
        }
    }

    /// A neighbor was removed from the configuration: no longer waited for.
    pub fn neighbor_removed(&mut self, peer: IpAddr) {
        self.configured.remove(&peer);
        self.awaited.remove(&peer);
    }

    /// Ends the deferral if it may end at `now`; returns why, once.
    pub fn poll(&mut self, now: Instant) -> Option<DeferralEnd> {
        if self.ended.is_some() {
            return None;
        }
        let end = if self.awaited.is_empty() {
            DeferralEnd::AllEndOfRib
        } else if now >= self.deadline {
            DeferralEnd::Timer
        } else {
            return None;
        };
        self.ended = Some((end, now));
        Some(end)
    }

    /// Ends the deferral now, whatever is awaited; `None` if it had ended already.
    pub fn end_now(&mut self, now: Instant) -> Option<DeferralEnd> {
        if self.ended.is_some() {
            return None;
        }
        self.ended = Some((DeferralEnd::Requested, now));
        Some(DeferralEnd::Requested)
    }

    /// Whether selection is still deferred.
    pub fn is_deferring(&self) -> bool {
        self.ended.is_none()
    }

    /// Whether the kept kernel routes may be swept now; true once. After the deferral ended,
    /// when every awaited R=1 peer sent End-of-RIB, the timer expired, or the end was requested.
    pub fn poll_sweep(&mut self, now: Instant) -> bool {
        let Some((why, _)) = self.ended else {
            return false;
        };
        if self.swept {
            return false;
        }
        if self.sweep_awaited.is_empty() || now >= self.deadline || why == DeferralEnd::Requested {
            self.swept = true;
            self.sweep_awaited.clear();
            return true;
        }
        false
    }

    /// Whether our End-of-RIB may go to `peer` once selection has ended: to a peer that is
    /// restarting itself at once (stmt 65), to the others after the sweep (module docs).
    pub fn end_of_rib_due(&self, peer: IpAddr) -> bool {
        self.swept || self.restarting_peers.contains(&peer)
    }

    /// Peers with R=1 whose End-of-RIB the sweep still waits for.
    pub fn sweep_awaited(&self) -> &BTreeMap<IpAddr, BTreeSet<AfiSafi>> {
        &self.sweep_awaited
    }

    /// When the timer expires, while deferring or while the sweep waits.
    pub fn deadline(&self) -> Option<Instant> {
        (self.is_deferring() || !self.swept).then_some(self.deadline)
    }

    /// Peers whose End-of-RIB is awaited, with the families still missing.
    pub fn awaited(&self) -> &BTreeMap<IpAddr, BTreeSet<AfiSafi>> {
        &self.awaited
    }

    /// Established peers and their negotiated families (the ones to send routes to when the
    /// deferral ends).
    pub fn established(&self) -> &BTreeMap<IpAddr, BTreeSet<AfiSafi>> {
        &self.established
    }

    /// Why and how long after the start the deferral ended.
    pub fn ended(&self) -> Option<(DeferralEnd, Duration)> {
        self.ended
            .map(|(why, at)| (why, at.saturating_duration_since(self.started)))
    }
}

/// The R and F bits of our GR capability (RFC 4724 §3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenFlags {
    /// R: we restarted and are still recovering.
    pub restart_state: bool,
    /// Families whose forwarding state survived the restart (F=1).
    pub forwarding: BTreeSet<AfiSafi>,
}

/// One restart's recovery: the deferral, the kernel routes kept, the outcome.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// Selection deferral.
    pub deferral: Deferral,
    /// Our kernel routes found at start and kept installed.
    pub kept: KeptRoutes,
    /// Families whose forwarding state survived (some of our routes of it were kept).
    pub forwarding: BTreeSet<AfiSafi>,
    /// How many kept routes were deleted when the deferral ended (`None` before).
    pub swept: Option<usize>,
}

impl Recovery {
    /// The recovery of a restart at `now` for `config`, with the kernel routes `kept`.
    pub fn new(config: &Config, kept: KeptRoutes, now: Instant) -> Self {
        let timeout =
            Duration::from_secs(u64::from(config.graceful_restart.selection_deferral_time));
        let neighbors = config.neighbors.iter().map(|n| (n.address, n.afi_safis()));
        let mut forwarding = BTreeSet::new();
        if kept.has_family(false) {
            forwarding.insert(AfiSafi::IPV4_UNICAST);
        }
        if kept.has_family(true) {
            forwarding.insert(AfiSafi::IPV6_UNICAST);
        }
        Recovery {
            deferral: Deferral::new(now, timeout, neighbors),
            kept,
            forwarding,
            swept: None,
        }
    }

    /// The R and F bits for an OPEN sent now: R=1 only while recovering (a session established
    /// after the recovery sends R=0, as BIRD does); F=1 for the families whose forwarding state
    /// survived this restart (RFC 4724 §4.1).
    pub fn open_flags(&self) -> OpenFlags {
        OpenFlags {
            restart_state: self.deferral.is_deferring(),
            forwarding: self.forwarding.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::FibRoute;

    const V4: AfiSafi = AfiSafi::IPV4_UNICAST;
    const V6: AfiSafi = AfiSafi::IPV6_UNICAST;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn gr(r: bool) -> GracefulRestart {
        GracefulRestart {
            restart_state: r,
            restart_time: 120,
            ..GracefulRestart::default()
        }
    }

    fn deferral(now: Instant) -> Deferral {
        Deferral::new(
            now,
            Duration::from_secs(120),
            [
                (ip("10.0.0.1"), vec![V4, V6]),
                (ip("10.0.0.2"), vec![V4]),
                (ip("10.0.0.3"), vec![V4]),
            ],
        )
    }

    #[test]
    fn restart_decision_follows_the_mode() {
        assert!(is_restart(RestartMode::Always, false));
        assert!(is_restart(RestartMode::Auto, true));
        assert!(!is_restart(RestartMode::Auto, false));
        assert!(!is_restart(RestartMode::Never, true));
    }

    #[test]
    fn ends_when_every_gr_peer_with_r0_sent_end_of_rib_per_family() {
        let t0 = Instant::now();
        let mut d = deferral(t0);
        // Nobody is Established yet: every configured neighbor is awaited.
        assert_eq!(d.awaited().len(), 3);
        assert_eq!(d.poll(t0), None);
        d.peer_established(ip("10.0.0.1"), &[V4, V6], Some(&gr(false)));
        // R=1: restarting itself, never waited for (RFC 4724 §3).
        d.peer_established(ip("10.0.0.2"), &[V4], Some(&gr(true)));
        // No GR capability: sends no End-of-RIB to wait for.
        d.peer_established(ip("10.0.0.3"), &[V4], None);
        assert_eq!(
            d.awaited().keys().copied().collect::<Vec<_>>(),
            vec![ip("10.0.0.1")]
        );
        // A dynamic peer is never waited for, and its End-of-RIB changes nothing.
        d.peer_established(ip("10.9.9.9"), &[V4], Some(&gr(false)));
        assert_eq!(d.awaited().len(), 1);
        d.end_of_rib(ip("10.0.0.1"), V4);
        assert_eq!(
            d.poll(t0 + Duration::from_secs(1)),
            None,
            "IPv6 still missing"
        );
        d.end_of_rib(ip("10.0.0.1"), V6);
        assert_eq!(
            d.poll(t0 + Duration::from_secs(2)),
            Some(DeferralEnd::AllEndOfRib)
        );
        assert_eq!(
            d.ended(),
            Some((DeferralEnd::AllEndOfRib, Duration::from_secs(2)))
        );
        assert!(!d.is_deferring());
        assert_eq!(d.poll(t0 + Duration::from_secs(3)), None, "reported once");
        assert_eq!(d.established().len(), 4);
        // Selection did not wait for the R=1 peer, but the sweep of kept kernel routes does
        // (bounded by the same timer), and only for it.
        assert_eq!(
            d.sweep_awaited().keys().copied().collect::<Vec<_>>(),
            vec![ip("10.0.0.2")]
        );
        assert_eq!(d.deadline(), Some(t0 + Duration::from_secs(120)));
        assert!(!d.poll_sweep(t0 + Duration::from_secs(3)));
        d.end_of_rib(ip("10.0.0.2"), V4);
        assert!(d.poll_sweep(t0 + Duration::from_secs(4)));
        assert!(!d.poll_sweep(t0 + Duration::from_secs(5)), "once");
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn sweep_waits_for_restarting_peers_bounded_by_the_timer() {
        let t0 = Instant::now();
        let mut d = deferral(t0);
        for a in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            d.peer_established(ip(a), &[V4], Some(&gr(true)));
        }
        // Nobody to wait for: selection ends at once (stmt 65)...
        assert_eq!(d.poll(t0), Some(DeferralEnd::AllEndOfRib));
        // ...the sweep waits for the three R=1 peers, and so does our End-of-RIB to anybody
        // else, while those peers get theirs at once.
        assert!(!d.poll_sweep(t0));
        assert!(d.end_of_rib_due(ip("10.0.0.1")));
        assert!(!d.end_of_rib_due(ip("10.9.9.9")));
        d.end_of_rib(ip("10.0.0.1"), V4);
        d.peer_down(ip("10.0.0.2"));
        assert!(!d.poll_sweep(t0 + Duration::from_secs(1)));
        assert_eq!(d.sweep_awaited().len(), 1);
        assert!(
            d.poll_sweep(t0 + Duration::from_secs(120)),
            "the timer bounds it"
        );
        assert_eq!(d.deadline(), None);
        assert!(d.end_of_rib_due(ip("10.9.9.9")));
    }

    #[test]
    fn timer_bounds_the_wait_and_a_peer_that_went_down_is_awaited_again() {
        let t0 = Instant::now();
        let mut d = deferral(t0);
        for a in ["10.0.0.2", "10.0.0.3"] {
            d.peer_established(ip(a), &[V4], Some(&gr(false)));
            d.end_of_rib(ip(a), V4);
        }
        d.peer_established(ip("10.0.0.1"), &[V4], Some(&gr(false)));
        d.peer_down(ip("10.0.0.3"));
        assert!(d.awaited().contains_key(&ip("10.0.0.3")));
        // End-of-RIB from a peer that is not Established is ignored.
        d.end_of_rib(ip("10.0.0.3"), V4);
        assert!(d.awaited().contains_key(&ip("10.0.0.3")));
        assert_eq!(d.deadline(), Some(t0 + Duration::from_secs(120)));
        assert_eq!(d.poll(t0 + Duration::from_secs(119)), None);
        assert_eq!(
            d.poll(t0 + Duration::from_secs(120)),
            Some(DeferralEnd::Timer)
        );
        // After the end nothing is awaited any more by later sessions.
        d.peer_down(ip("10.0.0.1"));
        d.peer_established(ip("10.0.0.1"), &[V4], Some(&gr(false)));
        assert_eq!(d.ended().map(|e| e.0), Some(DeferralEnd::Timer));
    }

    #[test]
    fn removed_neighbor_and_no_neighbors_end_the_wait() {
        let t0 = Instant::now();
        let mut d = Deferral::new(t0, Duration::from_secs(5), [(ip("10.0.0.1"), vec![V4])]);
        assert_eq!(d.poll(t0), None);
        d.neighbor_removed(ip("10.0.0.1"));
        assert_eq!(d.poll(t0), Some(DeferralEnd::AllEndOfRib));
        let mut none = Deferral::new(t0, Duration::from_secs(5), []);
        assert_eq!(none.poll(t0), Some(DeferralEnd::AllEndOfRib));
        let mut asked = Deferral::new(t0, Duration::from_secs(5), [(ip("10.0.0.1"), vec![V4])]);
        assert_eq!(asked.end_now(t0), Some(DeferralEnd::Requested));
        assert_eq!(asked.end_now(t0), None);
        assert_eq!(asked.poll(t0), None);
    }

    mod engine {
        //! The deferral gate of the route engine, without sockets.
        use std::time::{Duration, Instant};

        use fabric_bgp_wire::{
            negotiate, AfiSafi, AsPath, Asn, Capability, Nlri, Origin, PathAttributes, RouterId,
            Update,
        };
        use ipnet::IpNet;
        use tokio::sync::mpsc::UnboundedReceiver;

        use super::{gr, ip, V4, V6};
        use crate::config::{Config, Neighbor, RemoteAs};
        use crate::daemon::engine::{Outgoing, PeerInfo, RouteEngine};
        use crate::fib::{KeptRoutes, KernelEvent};
        use crate::gr::restarting::Recovery;
        use crate::policy::PolicyBook;
        use crate::rib::convert::route_updates;
        use crate::rib::route_engine::RibRouteEngine;
        use crate::rib::{FibChange, FibNextHop, FibRoute};

        fn net(s: &str) -> IpNet {
            s.parse().unwrap()
        }

        fn config() -> Config {
            let mut c = Config::new(RouterId("1.1.1.1".parse().unwrap()), Asn(65000));
            c.prefixes = vec![net("192.168.10.0/26")];
            c.graceful_restart.enabled = true;
            c.graceful_restart.selection_deferral_time = 60;
            for (a, asn) in [("10.0.0.1", 65001), ("10.0.1.1", 65002)] {
                let mut n = Neighbor::new(ip(a), RemoteAs::Asn(Asn(asn)));
                n.address_families = vec![
                    crate::config::AddressFamily::Ipv4Unicast,
                    crate::config::AddressFamily::Ipv6Unicast,
                ];
                c.neighbors.push(n);
            }
            c
        }

        fn via(gw: &str, ifindex: u32) -> FibRoute {
            FibRoute::unicast(vec![FibNextHop {
                gateway: ip(gw),
                ifindex: Some(ifindex),
            }])
        }

        /// An engine recovering with these kernel routes kept, links and addresses known.
        fn engine(t0: Instant) -> (RibRouteEngine, UnboundedReceiver<Vec<FibChange>>) {
            let c = config();
            let kept = KeptRoutes::from_routes([
                (net("192.168.10.0/26"), FibRoute::Blackhole),
                (net("203.0.113.0/24"), via("10.0.0.1", 1)),
                (net("198.51.100.0/24"), via("10.0.0.1", 1)),
            ]);
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let mut e = RibRouteEngine::from_config(&c, PolicyBook::default())
                .with_fib(tx.into())
                .with_recovery(Recovery::new(&c, kept, t0));
            for (ifindex, addr, len) in [(1, "10.0.0.100", 24), (2, "10.0.1.100", 24)] {
                e.kernel_event(&KernelEvent::Link {
                    ifindex,
                    name: None,
                    up: true,
                });
                e.kernel_event(&KernelEvent::AddressAdded {
                    ifindex,
                    address: ip(addr),
                    prefix_len: len,
                });
            }
            (e, rx)
        }

        fn info(
            addr: &str,
            local: &str,
            asn: u32,
            gr: Option<fabric_bgp_wire::GracefulRestart>,
        ) -> PeerInfo {
            let caps = vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
                Capability::FourOctetAs(Asn(65000)),
            ];
            PeerInfo {
                address: ip(addr),
                local_address: ip(local),
                local_as: Asn(65000),
                local_id: RouterId("1.1.1.1".parse().unwrap()),
                peer_as: Asn(asn),
                peer_id: RouterId("2.2.2.2".parse().unwrap()),
                codec: negotiate(&caps, &caps, false),
                neighbor: Neighbor::new(ip(addr), RemoteAs::Asn(Asn(asn))),
                peer_graceful_restart: gr,
            }
        }

        fn fib(rx: &mut UnboundedReceiver<Vec<FibChange>>) -> Vec<FibChange> {
            let mut all = Vec::new();
            while let Ok(b) = rx.try_recv() {
                all.extend(b);
            }
            all
        }

        fn updates_to(out: &[Outgoing], peer: &str) -> Vec<Update> {
            out.iter()
                .filter(|o| o.peer == ip(peer))
                .flat_map(|o| o.updates.clone())
                .collect()
        }

        fn announce(e: &mut RibRouteEngine, prefix: &str) -> Vec<Outgoing> {
            let attrs = PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::from_sequence([Asn(65001)])),
                next_hop: Some("10.0.0.1".parse().unwrap()),
                ..PathAttributes::default()
            };
            let u = Update::announce_ipv4(attrs, vec![Nlri::new(prefix.parse().unwrap())]);
            e.update_received(ip("10.0.0.1"), u)
        }

        #[test]
        fn nothing_leaves_until_every_end_of_rib_then_fib_routes_and_eor_in_order() {
            let t0 = Instant::now();
            let (mut e, mut rx) = engine(t0);
            assert!(e.open_flags().restart_state);
            // A GR peer with R=0 (awaited) and one without GR (not awaited).
            let out = e.peer_up(&info("10.0.0.1", "10.0.0.100", 65001, Some(gr(false))));
            assert!(out.iter().all(|o| o.updates.is_empty()), "{out:?}");
            let out = e.peer_up(&info("10.0.1.1", "10.0.1.100", 65002, None));
            assert!(out.iter().all(|o| o.updates.is_empty()), "{out:?}");
            let out = announce(&mut e, "203.0.113.0/24");
            assert!(out.iter().all(|o| o.updates.is_empty()), "{out:?}");
            let out = e.update_received(ip("10.0.0.1"), Update::end_of_rib(V4));
            assert!(out.iter().all(|o| o.updates.is_empty()), "{out:?}");
            assert!(fib(&mut rx).is_empty(), "no FIB write while deferring");
            let st = e.restart_status(t0).expect("recovering");
            assert!(st.recovering);
            assert_eq!(st.awaiting_end_of_rib.len(), 1);
            assert_eq!(st.awaiting_end_of_rib[0].families, vec!["ipv6-unicast"]);
            assert_eq!(st.kernel_routes_kept, 3);

            // The last End-of-RIB: the deferral ends in this very step.
            let out = e.update_received(ip("10.0.0.1"), Update::end_of_rib(V6));
            assert!(!e.open_flags().restart_state, "R=0 from now on");
            // FIB: the unchanged kept routes are not written, the stale one is swept.
            assert_eq!(
                fib(&mut rx),
                vec![FibChange::Delete {
                    prefix: net("198.51.100.0/24")
                }]
            );
            // The other peer: its Adj-RIB-Out, then End-of-RIB per family, last.
            let ups = updates_to(&out, "10.0.1.1");
            let announced: Vec<IpNet> = ups
                .iter()
                .flat_map(route_updates)
                .flat_map(|r| r.announced)
                .collect();
            assert!(announced.contains(&net("203.0.113.0/24")), "{ups:?}");
            assert!(announced.contains(&net("192.168.10.0/26")), "{ups:?}");
            let eors: Vec<Option<AfiSafi>> = ups.iter().map(Update::is_end_of_rib).collect();
            let n = eors.len();
            assert!(n >= 3, "{ups:?}");
            assert_eq!(&eors[n - 2..], &[Some(V4), Some(V6)]);
            assert!(eors[..n - 2].iter().all(Option::is_none));
            // The peer that sent the route gets the originated prefix and End-of-RIB too.
            let back = updates_to(&out, "10.0.0.1");
            assert_eq!(back.last().and_then(Update::is_end_of_rib), Some(V6));
            let st = e.restart_status(t0).expect("status");
            assert!(!st.recovering);
            assert_eq!(st.kernel_routes_swept, Some(1));
            assert_eq!(
                st.deferral_ended.as_deref(),
                Some("all End-of-RIB received")
            );

            // After the deferral: business as usual, changes flow at once.
            let out = announce(&mut e, "203.0.114.0/24");
            assert_eq!(updates_to(&out, "10.0.1.1").len(), 1);
            assert_eq!(fib(&mut rx).len(), 1);
        }

        #[test]
        fn sweep_and_end_of_rib_to_helpers_wait_for_an_r1_peers_routes() {
            let t0 = Instant::now();
            let (mut e, mut rx) = engine(t0);
            // 10.0.0.1 restarts too (R=1), 10.0.1.1 is a helper (R=0).
            e.peer_up(&info("10.0.0.1", "10.0.0.100", 65001, Some(gr(true))));
            e.peer_up(&info("10.0.1.1", "10.0.1.100", 65002, Some(gr(false))));
            e.update_received(ip("10.0.1.1"), Update::end_of_rib(V4));
            let out = e.update_received(ip("10.0.1.1"), Update::end_of_rib(V6));
            // Selection ended: the R=1 peer gets our table and End-of-RIB at once (stmt 65),
            // the helper our table but no End-of-RIB yet, and nothing kept is deleted.
            assert!(!e.open_flags().restart_state);
            let eor_to = |out: &[Outgoing], p: &str| {
                updates_to(out, p)
                    .iter()
                    .filter_map(Update::is_end_of_rib)
                    .count()
            };
            assert_eq!(eor_to(&out, "10.0.0.1"), 2, "{out:?}");
            assert_eq!(eor_to(&out, "10.0.1.1"), 0, "{out:?}");
            assert!(
                !updates_to(&out, "10.0.1.1").is_empty(),
                "the table itself goes out"
            );
            assert!(fib(&mut rx)
                .iter()
                .all(|c| !matches!(c, FibChange::Delete { .. })));
            // The R=1 peer refreshes both kept routes, then ends its table.
            announce(&mut e, "203.0.113.0/24");
            let out = announce(&mut e, "198.51.100.0/24");
            assert_eq!(eor_to(&out, "10.0.1.1"), 0);
            e.update_received(ip("10.0.0.1"), Update::end_of_rib(V4));
            let out = e.update_received(ip("10.0.0.1"), Update::end_of_rib(V6));
            assert_eq!(eor_to(&out, "10.0.1.1"), 2, "{out:?}");
            assert!(
                fib(&mut rx)
                    .iter()
                    .all(|c| !matches!(c, FibChange::Delete { .. })),
                "every kept route was refreshed: nothing to sweep"
            );
            assert_eq!(
                e.restart_status(t0).and_then(|s| s.kernel_routes_swept),
                Some(0)
            );
        }

        #[test]
        fn an_r1_peer_is_not_awaited_and_the_timer_ends_the_wait() {
            let t0 = Instant::now();
            let (mut e, mut rx) = engine(t0);
            // 10.0.0.1 restarts too (R=1): not awaited, no deadlock (RFC 4724 §3).
            e.peer_up(&info("10.0.0.1", "10.0.0.100", 65001, Some(gr(true))));
            // 10.0.1.1 (GR, R=0) never sends End-of-RIB.
            e.peer_up(&info("10.0.1.1", "10.0.1.100", 65002, Some(gr(false))));
            let out = announce(&mut e, "203.0.113.0/24");
            assert!(out.iter().all(|o| o.updates.is_empty()));
            let deadline = e.next_deadline(t0).expect("the deferral timer");
            assert_eq!(deadline, t0 + Duration::from_secs(60));
            assert!(e.poll(t0 + Duration::from_secs(59)).is_empty());
            assert!(fib(&mut rx).is_empty());
            let out = e.poll(deadline);
            assert_eq!(
                updates_to(&out, "10.0.1.1")
                    .last()
                    .and_then(Update::is_end_of_rib),
                Some(V6)
            );
            assert_eq!(fib(&mut rx).len(), 1, "only the sweep");
            assert_eq!(
                e.restart_status(deadline).and_then(|s| s.deferral_ended),
                Some("timer".to_owned())
            );
            assert!(e.next_deadline(deadline).is_none_or(|d| d > deadline));
            // Ending again does nothing.
            assert!(e.end_deferral().is_empty());
        }
    }

    #[test]
    fn open_flags_r_while_recovering_f_for_surviving_families() {
        let mut c = Config::new(
            fabric_bgp_wire::RouterId("1.1.1.1".parse().unwrap()),
            fabric_bgp_wire::Asn(65000),
        );
        c.graceful_restart.enabled = true;
        let kept = KeptRoutes::from_routes([("10.1.0.0/24".parse().unwrap(), FibRoute::Blackhole)]);
        let t0 = Instant::now();
        let mut r = Recovery::new(&c, kept, t0);
        let f = r.open_flags();
        assert!(f.restart_state);
        assert_eq!(f.forwarding, [V4].into_iter().collect());
        // No configured neighbor: the deferral ends at the first poll, R goes back to 0.
        assert_eq!(r.deferral.poll(t0), Some(DeferralEnd::AllEndOfRib));
        assert!(!r.open_flags().restart_state);
        assert_eq!(r.open_flags().forwarding.len(), 1);
    }
}
