//! The RIB behind the daemon's [`RouteEngine`] seam (`daemon/engine.rs`): what `main.rs` runs.
//!
//! ```text
//! let (fib, conn) = NetlinkFib::connect(RouteTarget::default())?;   tokio::spawn(conn);
//! fib.purge_stale().await?;
//! let (fib, state) = TrackingFib::new(fib);
//! let (fib_tx, _) = fib::spawn_worker(fib);
//! let engine = RibRouteEngine::from_config(&config, config.policy_book())
//!     .with_fib(fib_tx)
//!     .with_fib_state(state);
//! daemon::run_with_engine(config, path, Box::new(engine)).await
//! ```
//!
//! Each trait call feeds the RIB and then drains it: UPDATEs come back as `Outgoing` (one wire
//! `Update` per group, which the owner splits to the message size), kernel changes go to the FIB
//! worker. Kernel link/address/route events ([`RouteEngine::kernel_event`]) update next-hop
//! resolution, repair the FIB and name the sessions to drop (fast failover).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fabric_bgp_wire::AfiSafi;
use ipnet::IpNet;

use crate::config::{Config, Neighbor, PolicyRef};
use crate::control::{
    AwaitedPeer, FibEntry, FibHop, PathState, PrefixCounts, RestartStatus, RibEntry, RibPath,
    RouteDir, RouteEntry,
};
pub use crate::daemon::engine::KernelEventOutcome;
use crate::daemon::engine::{Outgoing, PeerInfo, RouteEngine};
use crate::fib::{FibSender, FibState, KernelEvent, RTPROT_FABRIC};
use crate::gr::restarting::{DeferralEnd, OpenFlags, Recovery};
use crate::policy::{Policy, PolicyBook};
use crate::rib::attrs::{ClusterId, Origin, PathAttrs};
use crate::rib::convert::{route_updates, to_wire};
use crate::rib::decision::MultipathConfig;
use crate::rib::engine::{PathReport, PathStatus, Rib, RibConfig, RibOutput};
use crate::rib::fib_change::{FibChange, FibRoute};
use crate::rib::nexthop::ConnectedRoutes;
use crate::rib::origin::LocalRoute;
use crate::rib::peer::{PeerConfig, PeerId, PeerSession, RouteSource};

const FAMILIES: [AfiSafi; 2] = [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];

/// ECMP width of [`RibRouteEngine::from_config`] when the configuration does not say
/// (`config::DEFAULT_MAX_PATHS`).
pub const DEFAULT_MAX_PATHS: usize = crate::config::DEFAULT_MAX_PATHS as usize;

/// The RIB as a [`RouteEngine`].
#[derive(Debug)]
pub struct RibRouteEngine {
    rib: Rib<ConnectedRoutes>,
    policies: PolicyBook,
    /// Each registered peer's configuration (to rebuild its RIB settings when policies change).
    neighbors: HashMap<IpAddr, Neighbor>,
    fib: Option<FibSender>,
    fib_state: Option<FibState>,
    /// Our kernel route protocol: route events with it are our own routes, never next-hop
    /// resolution input.
    own_protocol: u8,
    /// Graceful restart recovery (restarting speaker, RFC 4724 §4.1): while its deferral runs,
    /// selection results reach neither the kernel nor the peers.
    recovery: Option<Recovery>,
    /// End-of-RIB markers owed after the deferral, sent once the Adj-RIB-Out went out.
    owed_eor: Vec<(IpAddr, AfiSafi)>,
    /// Peers that advertised LLGR on their current session (RFC 9494 §4.3).
    long_lived_peers: BTreeSet<IpAddr>,
}

impl RibRouteEngine {
    /// An engine around an empty RIB.
    pub fn new(config: RibConfig, policies: PolicyBook) -> Self {
        RibRouteEngine {
            rib: Rib::new(config, ConnectedRoutes::new()),
            policies,
            neighbors: HashMap::new(),
            fib: None,
            fib_state: None,
            own_protocol: RTPROT_FABRIC,
            recovery: None,
            owed_eor: Vec::new(),
            long_lived_peers: BTreeSet::new(),
        }
    }

    /// An engine for a daemon configuration: its AS and router id, `max-paths`,
    /// `multipath-relax`, `cluster-id`, `ebgp-requires-policy`, and its originated routes.
    pub fn from_config(config: &Config, policies: PolicyBook) -> Self {
        let mut rc = RibConfig::new(config.local_as, config.router_id);
        rc.multipath = MultipathConfig {
            max_paths: usize::from(config.max_paths.max(1)),
            relax: config.multipath_relax,
        };
        rc.cluster_id = config.cluster_id.map(ClusterId);
        rc.ebgp_requires_policy = config.ebgp_requires_policy;
        let mut e = Self::new(rc, policies);
        e.own_protocol = config.kernel.protocol;
        for r in config.originated_routes() {
            e.rib.originate(r);
        }
        e
    }

    /// Send kernel changes to this FIB worker (see `fib::spawn_worker`). Without one they are
    /// dropped.
    pub fn with_fib(mut self, fib: FibSender) -> Self {
        self.fib = Some(fib);
        self
    }

    /// Report installed routes from this table (see `fib::TrackingFib`) on the control socket.
    pub fn with_fib_state(mut self, state: FibState) -> Self {
        self.fib_state = Some(state);
        self
    }

    /// Recover from a graceful restart: defer selection (see [`crate::gr::restarting`]).
    pub fn with_recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = Some(recovery);
        self
    }

    /// Whether selection is deferred (restarting speaker, RFC 4724 §4.1).
    pub fn is_deferring(&self) -> bool {
        self.recovery
            .as_ref()
            .is_some_and(|r| r.deferral.is_deferring())
    }

    /// The RIB (for the control socket: `explain`, `loc_rib`, `stats`).
    pub fn rib(&self) -> &Rib<ConnectedRoutes> {
        &self.rib
    }

    /// Mutable RIB (configuration changes, tests).
    pub fn rib_mut(&mut self) -> &mut Rib<ConnectedRoutes> {
        &mut self.rib
    }

    /// Originate a route with full control (a pod block with its blackhole, communities).
    pub fn originate_local(&mut self, route: LocalRoute) -> Vec<Outgoing> {
        self.rib.originate(route);
        self.flush(Instant::now())
    }

    fn up_peers(&self) -> Vec<(PeerId, IpAddr)> {
        self.peers()
            .into_iter()
            .filter(|(id, _)| self.rib.is_up(*id))
            .collect()
    }

    fn peers(&self) -> Vec<(PeerId, IpAddr)> {
        let mut out = Vec::new();
        let mut i = 0u32;
        // Ids are dense (never reused); removed peers leave holes.
        while let Some(known) = self.rib_peer_slot(PeerId(i)) {
            if let Some(addr) = known {
                out.push((PeerId(i), addr));
            }
            i += 1;
        }
        out
    }

    /// `Some(Some(addr))` for a registered peer, `Some(None)` for a removed one, `None` past
    /// the last id.
    fn rib_peer_slot(&self, id: PeerId) -> Option<Option<IpAddr>> {
        if let Some(c) = self.rib.peer_config(id) {
            return Some(Some(c.address));
        }
        (id.0 < self.rib.peer_slots()).then_some(None)
    }

    fn policy(&self, r: &Option<PolicyRef>) -> Option<Arc<Policy>> {
        match r.as_ref()? {
            PolicyRef::AcceptAll => Some(Arc::new(Policy::accept_all())),
            PolicyRef::RejectAll => Some(Arc::new(Policy::reject_all())),
            PolicyRef::Named(n) => Some(self.policies.get(n).unwrap_or_else(|| {
                // Fail closed: an unknown name must not leak routes (configuration validation
                // refuses unknown names; this covers run-time changes).
                tracing::warn!(policy = %n, "unknown policy name, rejecting everything");
                Arc::new(Policy::reject_all())
            })),
        }
    }

    fn peer_config(&self, n: &Neighbor) -> PeerConfig {
        let mut pc = PeerConfig::new(n.address);
        pc.route_reflector_client = n.route_reflector_client;
        pc.next_hop_self = n.next_hop_self;
        pc.allowas_in = n.allowas_in;
        pc.default_originate = n.default_originate;
        pc.import_policy = self.policy(&n.import_policy);
        pc.export_policy = self.policy(&n.export_policy);
        pc.mrai = Duration::from_secs(u64::from(n.mrai));
        pc
    }

    /// Our next hop in each family for a session: the session's local address for its own
    /// family, and our address of the other family on the same link for the other.
    fn session(&self, info: &PeerInfo) -> PeerSession {
        let mut s = PeerSession::new(
            info.peer_as,
            info.peer_id,
            info.local_address,
            info.codec.families.clone(),
        );
        s.long_lived = self.long_lived_peers.contains(&info.address);
        let connected = self.rib.resolver();
        if let Some(ifindex) = connected.interface_of(info.address) {
            if s.next_hop_v4.is_none() {
                s.next_hop_v4 = match connected.local_address_on(ifindex, false) {
                    Some(IpAddr::V4(a)) => Some(a),
                    _ => None,
                };
            }
            if s.next_hop_v6.is_none()
                || s.next_hop_v6.is_some_and(|a| a.to_ipv4_mapped().is_some())
            {
                if let Some(IpAddr::V6(a)) = connected.local_address_on(ifindex, true) {
                    s.next_hop_v6 = Some(a);
                }
            }
        }
        s
    }

    fn id(&self, addr: IpAddr) -> Option<PeerId> {
        self.rib.peer_by_address(addr)
    }

    fn source_address(&self, source: RouteSource) -> Option<IpAddr> {
        match source {
            RouteSource::Local => None,
            RouteSource::Peer(id) => self.rib.peer_config(id).map(|c| c.address),
        }
    }

    fn rib_path(&self, r: &PathReport) -> RibPath {
        let a = &r.attrs;
        let (status, reason, beaten_by) = match r.status {
            PathStatus::Best => (PathState::Best, None, None),
            PathStatus::Multipath => (PathState::Multipath, None, None),
            PathStatus::NotSelected { beaten_by, reason } => (
                PathState::NotSelected,
                Some(reason.to_string()),
                Some(
                    self.source_address(beaten_by)
                        .map_or_else(|| "local".to_owned(), |a| a.to_string()),
                ),
            ),
            PathStatus::Ineligible { reason } => {
                (PathState::Ineligible, Some(reason.to_string()), None)
            }
        };
        RibPath {
            from: r.peer_address,
            next_hop: a.next_hop,
            as_path: a.as_path.to_string(),
            origin: Some(origin_name(a.origin).to_owned()),
            med: a.med,
            local_pref: a.local_pref,
            communities: a.communities.iter().map(ToString::to_string).collect(),
            originator_id: a.originator_id,
            cluster_list: a.cluster_list.iter().map(|c| c.0).collect(),
            status,
            reason,
            beaten_by,
            stale: None,
        }
    }

    /// [`Self::drain_out`], then the end of selection deferral if it may end now.
    fn flush(&mut self, now: Instant) -> Vec<Outgoing> {
        let mut out = self.drain_out(now);
        if let Some(why) = self.recovery.as_mut().and_then(|r| r.deferral.poll(now)) {
            out.extend(self.finish_deferral(why, now));
        }
        if self
            .recovery
            .as_mut()
            .is_some_and(|r| r.deferral.poll_sweep(now))
        {
            self.sweep_kept();
            // End-of-RIB held for the sweep (see `drain_out`).
            out.extend(self.drain_out(now));
        }
        out
    }

    /// The last step of a restart (RFC 4724 §4.1): delete the kept kernel routes the Loc-RIB
    /// does not have. Runs after selection, once the R=1 peers' End-of-RIB arrived too (see
    /// [`crate::gr::restarting`]); kept routes the Loc-RIB has were rewritten or left alone.
    fn sweep_kept(&mut self) {
        let Some(recovery) = self.recovery.as_mut() else {
            return;
        };
        let Some(tx) = &self.fib else {
            recovery.swept = Some(0);
            return;
        };
        let wanted = loc_rib_routes(&self.rib);
        let deletes: Vec<FibChange> = recovery
            .kept
            .reconcile(&wanted)
            .changes
            .into_iter()
            .filter(|c| matches!(c, FibChange::Delete { .. }))
            .collect();
        tracing::info!("swept {} stale kernel routes", deletes.len());
        recovery.swept = Some(deletes.len());
        if !deletes.is_empty() && tx.send(deletes).is_err() {
            tracing::error!("FIB worker gone: kernel routes no longer updated");
        }
    }

    /// Selection deferral ended (RFC 4724 §4.1, conformance statement 66): the FIB is updated
    /// from the Loc-RIB (unchanged kept routes untouched), the kept routes the Loc-RIB lacks are
    /// removed, every peer is sent its Adj-RIB-Out, then End-of-RIB per family.
    fn finish_deferral(&mut self, why: DeferralEnd, now: Instant) -> Vec<Outgoing> {
        let Some(recovery) = self.recovery.as_mut() else {
            return Vec::new();
        };
        let elapsed = recovery.deferral.ended().map_or(0, |(_, d)| d.as_millis());
        tracing::info!(
            "selection deferral ended ({}) after {elapsed} ms",
            why.as_str()
        );
        let established = recovery.deferral.established().clone();
        if let Some(tx) = &self.fib {
            let wanted = loc_rib_routes(&self.rib);
            let done = recovery.kept.reconcile(&wanted);
            // Deletions wait for the sweep (below, maybe in this same step).
            let writes: Vec<FibChange> = done
                .changes
                .into_iter()
                .filter(|c| !matches!(c, FibChange::Delete { .. }))
                .collect();
            tracing::info!(
                unchanged = done.unchanged,
                replaced = done.replaced,
                stale = done.swept,
                sweep_waits_for = recovery.deferral.sweep_awaited().len(),
                "kernel routes written from the Loc-RIB"
            );
            if !writes.is_empty() && tx.send(writes).is_err() {
                tracing::error!("FIB worker gone: kernel routes no longer updated");
            }
        }
        for (addr, families) in established {
            let Some(id) = self.id(addr) else { continue };
            for f in families {
                // RFC 2918 re-send: the whole Adj-RIB-Out, withheld until now.
                if self.rib.route_refresh(id, f).is_ok() {
                    self.owed_eor.push((addr, f));
                }
            }
        }
        self.drain_out(now)
    }

    /// Drains the RIB: kernel changes to the FIB worker, UPDATEs returned. While selection is
    /// deferred both are dropped (the Adj-RIB-Out is re-sent and the FIB reconciled in full
    /// when the deferral ends).
    fn drain_out(&mut self, now: Instant) -> Vec<Outgoing> {
        let RibOutput { updates, fib } = self.rib.drain(now);
        if self.is_deferring() {
            return Vec::new();
        }
        if !fib.is_empty() {
            if let Some(tx) = &self.fib {
                if tx.send(fib).is_err() {
                    tracing::error!("FIB worker gone: kernel routes no longer updated");
                }
            }
        }
        let mut out: Vec<Outgoing> = updates
            .into_iter()
            .filter_map(|pu| {
                let peer = self.rib.peer_config(pu.peer)?.address;
                let updates = pu
                    .updates
                    .iter()
                    .filter_map(|u| match to_wire(u) {
                        Ok(w) => Some(w),
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "update not encodable, skipped");
                            None
                        }
                    })
                    .collect();
                Some(Outgoing { peer, updates })
            })
            .collect();
        // RFC 4724 §4.1: End-of-RIB after the Adj-RIB-Out, so only once nothing is queued
        // (an MRAI may hold routes back).
        if !self.owed_eor.is_empty() && self.rib.next_deadline(now).is_none() {
            for (peer, family) in std::mem::take(&mut self.owed_eor) {
                if !self.id(peer).is_some_and(|id| self.rib.is_up(id)) {
                    continue;
                }
                // A helper flushes what is still stale when our End-of-RIB arrives: hold it
                // until the routes of peers restarting with us are in (`gr::restarting`).
                if self
                    .recovery
                    .as_ref()
                    .is_some_and(|r| !r.deferral.end_of_rib_due(peer))
                {
                    self.owed_eor.push((peer, family));
                    continue;
                }
                let eor = fabric_bgp_wire::Update::end_of_rib(family);
                match out.iter_mut().find(|o| o.peer == peer) {
                    Some(o) => o.updates.push(eor),
                    None => out.push(Outgoing {
                        peer,
                        updates: vec![eor],
                    }),
                }
            }
        }
        out
    }
}

/// What the kernel must hold per the Loc-RIB: every destination's FIB route.
fn loc_rib_routes(rib: &Rib) -> std::collections::BTreeMap<IpNet, FibRoute> {
    FAMILIES
        .iter()
        .flat_map(|f| rib.destinations(*f))
        .filter_map(|p| Some((p, rib.fib_route(&p)?)))
        .collect()
}

fn origin_name(o: Origin) -> &'static str {
    match o {
        Origin::Igp => "igp",
        Origin::Egp => "egp",
        Origin::Incomplete => "incomplete",
    }
}

/// How the control socket names a path's staleness (`Some(true)`: long-lived).
fn stale_name(s: Option<bool>) -> Option<String> {
    s.map(|ll| if ll { "llgr-stale" } else { "stale" }.to_owned())
}

fn entry(peer: IpAddr, prefix: IpNet, a: &PathAttrs) -> RouteEntry {
    RouteEntry {
        peer,
        prefix,
        next_hop: a.next_hop,
        as_path: a.as_path.to_string(),
        origin: Some(origin_name(a.origin).to_owned()),
        med: a.med,
        local_pref: a.local_pref,
        communities: a.communities.iter().map(ToString::to_string).collect(),
        originator_id: a.originator_id,
        cluster_list: a.cluster_list.iter().map(|c| c.0).collect(),
        stale: None,
    }
}

fn state_rank(s: PathState) -> u8 {
    match s {
        PathState::Best => 0,
        PathState::Multipath => 1,
        PathState::NotSelected => 2,
        PathState::Ineligible => 3,
    }
}

impl RouteEngine for RibRouteEngine {
    fn peer_up(&mut self, info: &PeerInfo) -> Vec<Outgoing> {
        let config = self.peer_config(&info.neighbor);
        self.neighbors.insert(info.address, info.neighbor.clone());
        let id = match self.id(info.address) {
            Some(id) => {
                if self.rib.is_up(id) {
                    // A new session replaced the old one without a down event.
                    let _ = self.rib.peer_down(id);
                }
                let _ = self.rib.reconfigure_peer(id, config);
                id
            }
            None => self.rib.add_peer(config),
        };
        let session = self.session(info);
        if let Err(e) = self.rib.peer_up(id, session) {
            tracing::error!(peer = %info.address, error = %e, "RIB refused peer up");
        }
        if let Some(r) = self.recovery.as_mut() {
            r.deferral.peer_established(
                info.address,
                &info.codec.families,
                info.peer_graceful_restart.as_ref(),
            );
        }
        self.flush(Instant::now())
    }

    fn peer_down(&mut self, peer: IpAddr) -> Vec<Outgoing> {
        if let Some(id) = self.id(peer) {
            let _ = self.rib.peer_down(id);
        }
        if let Some(r) = self.recovery.as_mut() {
            r.deferral.peer_down(peer);
        }
        self.flush(Instant::now())
    }

    fn peer_down_retaining(&mut self, peer: IpAddr, retain: &[AfiSafi]) -> Vec<Outgoing> {
        if let Some(id) = self.id(peer) {
            match self.rib.peer_down_retaining(id, retain) {
                Ok(n) => tracing::debug!(%peer, stale = n, "routes marked stale"),
                Err(e) => tracing::warn!(%peer, error = %e, "RIB refused to retain routes"),
            }
        }
        if let Some(r) = self.recovery.as_mut() {
            r.deferral.peer_down(peer);
        }
        self.flush(Instant::now())
    }

    fn flush_stale(&mut self, peer: IpAddr, family: AfiSafi) -> Vec<Outgoing> {
        if let Some(id) = self.id(peer) {
            if let Err(e) = self.rib.flush_stale(id, family) {
                tracing::warn!(%peer, error = %e, "failed to flush stale routes");
            }
        }
        self.flush(Instant::now())
    }

    fn long_lived_stale(&mut self, peer: IpAddr, family: AfiSafi) -> Vec<Outgoing> {
        if let Some(id) = self.id(peer) {
            if let Err(e) = self.rib.long_lived_stale(id, family) {
                tracing::warn!(%peer, error = %e, "failed to make routes long-lived stale");
            }
        }
        self.flush(Instant::now())
    }

    fn stale_counts(&self, peer: IpAddr) -> (usize, usize) {
        self.id(peer).map_or((0, 0), |id| self.rib.stale_counts(id))
    }

    fn set_long_lived_peer(&mut self, peer: IpAddr, long_lived: bool) {
        if long_lived {
            self.long_lived_peers.insert(peer);
        } else {
            self.long_lived_peers.remove(&peer);
        }
    }

    fn update_received(&mut self, peer: IpAddr, update: fabric_bgp_wire::Update) -> Vec<Outgoing> {
        let Some(id) = self.id(peer) else {
            return Vec::new();
        };
        if let Some(af) = update.is_end_of_rib() {
            let _ = self.rib.receive_end_of_rib(id, af);
            if let Some(r) = self.recovery.as_mut() {
                r.deferral.end_of_rib(peer, af);
            }
        } else {
            for ru in route_updates(&update) {
                if let Err(e) = self.rib.receive(id, ru) {
                    tracing::warn!(%peer, error = %e, "routes not accepted");
                }
            }
        }
        self.flush(Instant::now())
    }

    fn route_refresh(&mut self, peer: IpAddr, family: AfiSafi) -> Vec<Outgoing> {
        if let Some(id) = self.id(peer) {
            let _ = self.rib.route_refresh(id, family);
        }
        self.flush(Instant::now())
    }

    fn originate(&mut self, prefix: IpNet) -> Vec<Outgoing> {
        self.originate_local(LocalRoute::announce(prefix))
    }

    fn originate_route(&mut self, route: LocalRoute) -> Vec<Outgoing> {
        self.originate_local(route)
    }

    fn withdraw_originated(&mut self, prefix: IpNet) -> Vec<Outgoing> {
        self.rib.withdraw_local(&prefix);
        self.flush(Instant::now())
    }

    fn originated(&self) -> Vec<IpNet> {
        self.rib.originated().map(|(p, _)| p).collect()
    }

    fn routes(&self, dir: RouteDir, peer: Option<IpAddr>) -> Vec<RouteEntry> {
        // Every registered peer: a peer that is down may still have retained (stale) routes.
        let peers: BTreeSet<(PeerId, IpAddr)> = self
            .peers()
            .into_iter()
            .filter(|(_, a)| peer.is_none_or(|p| p == *a))
            .collect();
        let mut out = Vec::new();
        for (id, addr) in peers {
            for f in FAMILIES {
                match dir {
                    RouteDir::Received => {
                        out.extend(self.rib.adj_rib_in(id, f).iter().map(|(p, a, _)| {
                            let mut e = entry(addr, *p, a);
                            e.stale = stale_name(self.rib.path_staleness(id, p));
                            e
                        }))
                    }
                    RouteDir::Advertised => out.extend(
                        self.rib
                            .adj_rib_out(id, f)
                            .iter()
                            .map(|(p, a)| entry(addr, *p, a)),
                    ),
                    RouteDir::LocRib => {}
                }
            }
        }
        out
    }

    fn prefix_counts(&self, peer: IpAddr) -> PrefixCounts {
        match self.id(peer) {
            Some(id) => PrefixCounts {
                received: self.rib.adj_rib_in_count(id),
                advertised: self.rib.adj_rib_out_count(id),
            },
            None => PrefixCounts::default(),
        }
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let deferral = self.recovery.as_ref().and_then(|r| r.deferral.deadline());
        self.rib
            .next_deadline(now)
            .into_iter()
            .chain(deferral)
            .min()
    }

    fn open_flags(&self) -> OpenFlags {
        self.recovery
            .as_ref()
            .map(Recovery::open_flags)
            .unwrap_or_default()
    }

    fn end_deferral(&mut self) -> Vec<Outgoing> {
        let now = Instant::now();
        let mut out = self.drain_out(now);
        if let Some(why) = self.recovery.as_mut().and_then(|r| r.deferral.end_now(now)) {
            out.extend(self.finish_deferral(why, now));
        }
        out
    }

    fn restart_status(&self, now: Instant) -> Option<RestartStatus> {
        let r = self.recovery.as_ref()?;
        Some(RestartStatus {
            recovering: r.deferral.is_deferring(),
            awaiting_end_of_rib: r
                .deferral
                .awaited()
                .iter()
                .map(|(a, fs)| AwaitedPeer {
                    address: *a,
                    families: fs.iter().map(ToString::to_string).collect(),
                })
                .collect(),
            deferral_remaining_secs: r
                .deferral
                .deadline()
                .map(|d| d.saturating_duration_since(now).as_secs_f64()),
            deferral_ended: r.deferral.ended().map(|(why, _)| why.as_str().to_owned()),
            deferral_ms: r
                .deferral
                .ended()
                .map(|(_, d)| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            forwarding_preserved: r.forwarding.iter().map(ToString::to_string).collect(),
            kernel_routes_kept: r.kept.len(),
            kernel_routes_swept: r.swept,
        })
    }

    fn poll(&mut self, now: Instant) -> Vec<Outgoing> {
        self.flush(now)
    }

    /// A link or address changed: update next-hop reachability (routes via a dead link are
    /// withdrawn or lose their ECMP leg at once) and name the sessions to drop. Route events of
    /// our own protocol are ignored: our routes never resolve our next hops.
    fn kernel_event(&mut self, ev: &KernelEvent) -> KernelEventOutcome {
        if ev.route_protocol() == Some(self.own_protocol) {
            return KernelEventOutcome::default();
        }
        let mut peers_to_drop = Vec::new();
        if ev.is_link_down() {
            let ifindex = match ev {
                KernelEvent::Link { ifindex, .. } | KernelEvent::LinkRemoved { ifindex } => {
                    Some(*ifindex)
                }
                _ => None,
            };
            peers_to_drop = self
                .up_peers()
                .into_iter()
                .filter(|(_, addr)| {
                    ifindex.is_some() && self.rib.resolver().interface_of(*addr) == ifindex
                })
                .map(|(_, addr)| addr)
                .collect();
        }
        let changed = ev.apply_to(self.rib.resolver_mut());
        self.rib.resolver_changed(&changed);
        KernelEventOutcome {
            outgoing: self.flush(Instant::now()),
            peers_to_drop,
        }
    }

    /// Rebuilds next-hop resolution from a full snapshot (after lost notifications): sessions
    /// whose peer is no longer reachable over the same connected link are dropped, every
    /// destination is decided again.
    fn kernel_resync(&mut self, events: &[KernelEvent]) -> KernelEventOutcome {
        let mut fresh = ConnectedRoutes::new();
        for ev in events
            .iter()
            .filter(|e| e.route_protocol() != Some(self.own_protocol))
        {
            ev.apply_to(&mut fresh);
        }
        let old = self.rib.resolver();
        let peers_to_drop = self
            .up_peers()
            .into_iter()
            .map(|(_, addr)| addr)
            .filter(|addr| {
                let was = old.interface_of(*addr);
                was.is_some()
                    && (fresh.interface_of(*addr) != was
                        || crate::rib::NextHopResolver::resolve(&fresh, *addr).is_none())
            })
            .collect();
        *self.rib.resolver_mut() = fresh;
        self.rib.resolver_changed_all();
        KernelEventOutcome {
            outgoing: self.flush(Instant::now()),
            peers_to_drop,
        }
    }

    fn set_policies(&mut self, policies: PolicyBook) -> Vec<Outgoing> {
        self.policies = policies;
        for (id, addr) in self.peers() {
            let Some(n) = self.neighbors.get(&addr) else {
                continue;
            };
            let config = self.peer_config(n);
            if let Err(e) = self.rib.reconfigure_peer(id, config) {
                tracing::warn!(peer = %addr, error = %e, "failed to apply the new policies");
            }
        }
        self.flush(Instant::now())
    }

    fn peer_removed(&mut self, peer: IpAddr) {
        self.neighbors.remove(&peer);
        if let Some(id) = self.id(peer) {
            if let Err(e) = self.rib.remove_peer(id) {
                tracing::warn!(%peer, error = %e, "failed to remove peer from the RIB");
            }
        }
    }

    fn loc_rib(&self, prefix: Option<IpNet>, peer: Option<IpAddr>) -> Vec<RibEntry> {
        let prefixes: Vec<IpNet> = match prefix {
            Some(p) => vec![p.trunc()],
            None => FAMILIES
                .iter()
                .flat_map(|f| self.rib.destinations(*f))
                .collect(),
        };
        prefixes
            .into_iter()
            .filter_map(|p| {
                let reports = self.rib.explain(&p);
                if reports.is_empty() {
                    return None;
                }
                if let Some(want) = peer {
                    if !reports.iter().any(|r| r.peer_address == Some(want)) {
                        return None;
                    }
                }
                let mut paths: Vec<RibPath> = reports
                    .iter()
                    .map(|r| {
                        let mut x = self.rib_path(r);
                        if let RouteSource::Peer(id) = r.source {
                            x.stale = stale_name(self.rib.path_staleness(id, &p));
                        }
                        x
                    })
                    .collect();
                paths.sort_by_key(|x| state_rank(x.status));
                Some(RibEntry { prefix: p, paths })
            })
            .collect()
    }

    fn fib(&self, prefix: Option<IpNet>) -> Option<(Vec<FibEntry>, usize)> {
        let state = self.fib_state.as_ref()?;
        let pending = self.fib.as_ref().map_or(0, FibSender::pending);
        let failures = state.failures();
        let prefixes: Vec<IpNet> = match prefix {
            Some(p) => vec![p.trunc()],
            None => FAMILIES
                .iter()
                .flat_map(|f| self.rib.destinations(*f))
                .collect(),
        };
        let mut out: Vec<FibEntry> = prefixes
            .into_iter()
            .filter_map(|p| {
                let route = self.rib.fib_route(&p)?;
                let (kind, next_hops) = match &route {
                    FibRoute::Blackhole => ("blackhole", Vec::new()),
                    FibRoute::Unicast(h) => (
                        "unicast",
                        h.iter()
                            .map(|h| FibHop {
                                gateway: h.gateway,
                                ifindex: h.ifindex,
                            })
                            .collect(),
                    ),
                };
                let error = failures.get(&p).cloned();
                Some(FibEntry {
                    prefix: p,
                    kind: kind.to_owned(),
                    next_hops,
                    installed: error.is_none(),
                    error,
                })
            })
            .collect();
        // A refused delete leaves our route in the kernel although the RIB has none.
        for (p, e) in &failures {
            if prefix.is_none_or(|want| want.trunc() == *p) && self.rib.fib_route(p).is_none() {
                out.push(FibEntry {
                    prefix: *p,
                    kind: "removal-refused".to_owned(),
                    next_hops: Vec::new(),
                    installed: true,
                    error: Some(e.clone()),
                });
            }
        }
        Some((out, pending))
    }
}

#[cfg(test)]
mod tests {
    use fabric_bgp_wire::{negotiate, Asn, Capability, Nlri, PathAttributes, RouterId, Update};

    use super::*;
    use crate::config::RemoteAs;
    use crate::rib::FibRoute;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn info(addr: &str, local: &str, asn: u32, rid: &str) -> PeerInfo {
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
            peer_id: RouterId(rid.parse().unwrap()),
            codec: negotiate(&caps, &caps, asn == 65000),
            neighbor: Neighbor::new(ip(addr), RemoteAs::Asn(Asn(asn))),
            peer_graceful_restart: None,
        }
    }

    fn engine() -> (
        RibRouteEngine,
        tokio::sync::mpsc::UnboundedReceiver<Vec<crate::rib::FibChange>>,
    ) {
        let mut config = Config::new(RouterId("1.1.1.1".parse().unwrap()), Asn(65000));
        config.prefixes = vec!["192.168.10.0/26".parse().unwrap()];
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut e = RibRouteEngine::from_config(&config, PolicyBook::default()).with_fib(tx.into());
        for ev in [
            KernelEvent::Link {
                ifindex: 1,
                name: Some("eth0".into()),
                up: true,
            },
            KernelEvent::AddressAdded {
                ifindex: 1,
                address: ip("10.0.0.100"),
                prefix_len: 24,
            },
            KernelEvent::AddressAdded {
                ifindex: 1,
                address: ip("fd00::100"),
                prefix_len: 64,
            },
            KernelEvent::AddressAdded {
                ifindex: 2,
                address: ip("10.0.1.100"),
                prefix_len: 24,
            },
        ] {
            e.kernel_event(&ev);
        }
        (e, rx)
    }

    fn announced(out: &[Outgoing], peer: &str) -> Vec<IpNet> {
        out.iter()
            .filter(|o| o.peer == ip(peer))
            .flat_map(|o| o.updates.iter())
            .flat_map(route_updates)
            .flat_map(|r| r.announced)
            .collect()
    }

    #[test]
    fn sessions_updates_fib_and_fast_failover() {
        let (mut e, mut fib_rx) = engine();
        let out = e.peer_up(&info("10.0.0.1", "10.0.0.100", 65001, "2.2.2.2"));
        // Initial table: the configured prefix, with IPv6 next hop known from the link, then EoRs.
        assert_eq!(
            announced(&out, "10.0.0.1"),
            vec!["192.168.10.0/26".parse::<IpNet>().unwrap()]
        );
        let eors: Vec<AfiSafi> = out[0]
            .updates
            .iter()
            .filter_map(Update::is_end_of_rib)
            .collect();
        assert_eq!(eors, vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]);
        e.peer_up(&info("10.0.1.1", "10.0.1.100", 65002, "3.3.3.3"));

        let mut attrs = PathAttributes {
            origin: Some(fabric_bgp_wire::Origin::Igp),
            as_path: Some(fabric_bgp_wire::AsPath::from_sequence([Asn(65001)])),
            next_hop: Some("10.0.0.1".parse().unwrap()),
            ..PathAttributes::default()
        };
        attrs
            .communities
            .push(fabric_bgp_wire::Community::new(65001, 1));
        let u = Update::announce_ipv4(attrs, vec![Nlri::new("203.0.113.0/24".parse().unwrap())]);
        let out = e.update_received(ip("10.0.0.1"), u);
        assert_eq!(
            announced(&out, "10.0.1.1"),
            vec!["203.0.113.0/24".parse::<IpNet>().unwrap()]
        );
        assert_eq!(
            e.prefix_counts(ip("10.0.0.1")),
            PrefixCounts {
                received: 1,
                advertised: 1
            }
        );
        let adv = e.routes(RouteDir::Advertised, Some(ip("10.0.1.1")));
        let r = adv
            .iter()
            .find(|r| r.prefix == "203.0.113.0/24".parse::<IpNet>().unwrap())
            .unwrap();
        assert_eq!(r.as_path, "65000 65001");
        assert_eq!(r.next_hop, Some(ip("10.0.1.100")));
        assert_eq!(r.communities, vec!["65001:1".to_string()]);

        let mut installed = Vec::new();
        while let Ok(batch) = fib_rx.try_recv() {
            installed.extend(batch);
        }
        assert!(installed.iter().any(|c| matches!(c,
            crate::rib::FibChange::Replace { prefix, route: FibRoute::Unicast(h) }
                if *prefix == "203.0.113.0/24".parse::<IpNet>().unwrap() && h[0].gateway == ip("10.0.0.1"))));

        // Carrier lost on eth0: the session to 10.0.0.1 must go now, its route is withdrawn.
        let outcome = e.kernel_event(&KernelEvent::Link {
            ifindex: 1,
            name: Some("eth0".into()),
            up: false,
        });
        assert_eq!(outcome.peers_to_drop, vec![ip("10.0.0.1")]);
        let withdrawn: Vec<IpNet> = outcome
            .outgoing
            .iter()
            .filter(|o| o.peer == ip("10.0.1.1"))
            .flat_map(|o| o.updates.iter())
            .flat_map(route_updates)
            .flat_map(|r| r.withdrawn)
            .collect();
        assert_eq!(withdrawn, vec!["203.0.113.0/24".parse::<IpNet>().unwrap()]);
        let out = e.peer_down(ip("10.0.0.1"));
        assert!(announced(&out, "10.0.1.1").is_empty());
        assert_eq!(e.prefix_counts(ip("10.0.0.1")), PrefixCounts::default());
    }

    #[test]
    fn named_policies_resolve_and_unknown_names_fail_closed() {
        let (mut e, _rx) = engine();
        let mut i = info("10.0.0.1", "10.0.0.100", 65001, "2.2.2.2");
        i.neighbor.export_policy = Some(PolicyRef::Named("default-only".into()));
        i.neighbor.default_originate = true;
        let out = e.peer_up(&i);
        assert_eq!(
            announced(&out, "10.0.0.1"),
            vec![
                "0.0.0.0/0".parse::<IpNet>().unwrap(),
                "::/0".parse().unwrap()
            ]
        );

        let mut j = info("10.0.1.1", "10.0.1.100", 65002, "3.3.3.3");
        j.neighbor.export_policy = Some(PolicyRef::Named("no-such-policy".into()));
        let out = e.peer_up(&j);
        assert!(announced(&out, "10.0.1.1").is_empty());
        assert_eq!(
            e.originated(),
            vec!["192.168.10.0/26".parse::<IpNet>().unwrap()]
        );
    }

    fn announce_from(e: &mut RibRouteEngine, peer: &str, nh: &str, prefix: &str) {
        let attrs = PathAttributes {
            origin: Some(fabric_bgp_wire::Origin::Igp),
            as_path: Some(fabric_bgp_wire::AsPath::from_sequence([Asn(65001)])),
            next_hop: Some(nh.parse().unwrap()),
            ..PathAttributes::default()
        };
        let u = Update::announce_ipv4(attrs, vec![Nlri::new(prefix.parse().unwrap())]);
        e.update_received(ip(peer), u);
    }

    fn fib_changes(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<crate::rib::FibChange>>,
    ) -> Vec<crate::rib::FibChange> {
        let mut all = Vec::new();
        while let Ok(b) = rx.try_recv() {
            all.extend(b);
        }
        all
    }

    #[test]
    fn originated_prefixes_are_blackholed_and_reported() {
        let (mut e, mut rx) = engine();
        // The first drain (any event) sends the blackhole of the configured prefix.
        e.kernel_event(&KernelEvent::Link {
            ifindex: 3,
            name: None,
            up: true,
        });
        let p: IpNet = "192.168.10.0/26".parse().unwrap();
        assert!(
            fib_changes(&mut rx).contains(&crate::rib::FibChange::Replace {
                prefix: p,
                route: FibRoute::Blackhole
            })
        );
        let rib = e.loc_rib(Some(p), None);
        assert_eq!(rib.len(), 1);
        assert_eq!(rib[0].paths[0].from, None);
        assert_eq!(rib[0].paths[0].status, PathState::Best);
        assert_eq!(e.fib(None), None, "no FIB state without a tracking FIB");
    }

    #[test]
    fn next_hops_resolve_through_static_routes_but_not_our_own() {
        let (mut e, mut rx) = engine();
        e.peer_up(&info("10.0.0.1", "10.0.0.100", 65001, "2.2.2.2"));
        // A next hop behind a static route: unusable until the route exists.
        announce_from(&mut e, "10.0.0.1", "10.255.0.9", "203.0.113.0/24");
        let p: IpNet = "203.0.113.0/24".parse().unwrap();
        let status = |e: &RibRouteEngine| e.loc_rib(Some(p), None)[0].paths[0].status;
        assert_eq!(status(&e), PathState::Ineligible);
        let route = |protocol| KernelEvent::RouteAdded {
            prefix: "10.255.0.9/32".parse().unwrap(),
            metric: 0,
            protocol,
            hops: vec![crate::rib::nexthop::KernelHop {
                gateway: Some(ip("10.0.0.7")),
                ifindex: Some(1),
            }],
        };
        // Our own routes never resolve our next hops.
        e.kernel_event(&route(RTPROT_FABRIC));
        assert_eq!(status(&e), PathState::Ineligible);
        fib_changes(&mut rx);
        e.kernel_event(&route(4));
        assert_eq!(status(&e), PathState::Best);
        let installed = fib_changes(&mut rx);
        assert!(
            installed.iter().any(|c| matches!(c,
                crate::rib::FibChange::Replace { prefix, route: FibRoute::Unicast(h) }
                    if *prefix == p && h.len() == 1 && h[0].gateway == ip("10.0.0.7"))),
            "the static route's gateway is installed: {installed:?}"
        );
    }

    #[test]
    fn resync_drops_peers_whose_link_vanished() {
        let (mut e, _rx) = engine();
        e.peer_up(&info("10.0.0.1", "10.0.0.100", 65001, "2.2.2.2"));
        e.peer_up(&info("10.0.1.1", "10.0.1.100", 65002, "3.3.3.3"));
        announce_from(&mut e, "10.0.0.1", "10.0.0.1", "203.0.113.0/24");
        // The snapshot after lost notifications no longer has 10.0.0.100/24 on eth0.
        let snapshot = vec![
            KernelEvent::Link {
                ifindex: 2,
                name: None,
                up: true,
            },
            KernelEvent::AddressAdded {
                ifindex: 2,
                address: ip("10.0.1.100"),
                prefix_len: 24,
            },
        ];
        let out = e.kernel_resync(&snapshot);
        assert_eq!(out.peers_to_drop, vec![ip("10.0.0.1")]);
        let withdrawn: Vec<IpNet> = out
            .outgoing
            .iter()
            .filter(|o| o.peer == ip("10.0.1.1"))
            .flat_map(|o| o.updates.iter())
            .flat_map(route_updates)
            .flat_map(|r| r.withdrawn)
            .collect();
        assert_eq!(withdrawn, vec!["203.0.113.0/24".parse::<IpNet>().unwrap()]);
    }

    #[test]
    fn new_policies_apply_to_up_peers() {
        let (mut e, _rx) = engine();
        let mut i = info("10.0.0.1", "10.0.0.100", 65001, "2.2.2.2");
        i.neighbor.export_policy = Some(PolicyRef::Named("mine".into()));
        let mut book = PolicyBook::default();
        book.policies.insert("mine".into(), Policy::accept_all());
        e.set_policies(book.clone());
        let out = e.peer_up(&i);
        assert_eq!(announced(&out, "10.0.0.1").len(), 1);
        book.policies.insert("mine".into(), Policy::reject_all());
        let out = e.set_policies(book);
        let withdrawn: Vec<IpNet> = out
            .iter()
            .flat_map(|o| o.updates.iter())
            .flat_map(route_updates)
            .flat_map(|r| r.withdrawn)
            .collect();
        assert_eq!(withdrawn, vec!["192.168.10.0/26".parse::<IpNet>().unwrap()]);
    }
}
