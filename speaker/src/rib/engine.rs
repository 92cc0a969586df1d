//! [`Rib`]: the routing core the daemon drives from its single owner loop.
//!
//! ```text
//!  session events ──► add_peer / peer_up / peer_down / remove_peer
//!  UPDATE (per AF) ──► receive ─► import (adj_in) ─► Dest (loc) ─► decision ─┐
//!  config ──────────► originate / withdraw_local                             │ on change
//!  netlink addr/link ► resolver_mut + resolver_changed                       ▼
//!                                            export (per peer) ─► AdjRibOut queue
//!                                            FIB desired state ─► fib_pending
//!  after each batch ──► drain(now) ─► RibOutput { updates per peer, FIB changes }
//!  MRAI timer ───────► next_deadline(now) ─► drain(now)
//! ```
//!
//! Every input only mutates state and queues work; nothing leaves the RIB until `drain`, so the
//! daemon can feed a burst of UPDATEs and get one grouped batch out (BIRD-style buckets).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use fabric_bgp_wire::{AfiSafi, Asn, RouterId};
use ipnet::IpNet;
use serde::Serialize;

use crate::rib::adj_in::{check_attrs, import_verdict, sanitize, ImportInterner};
use crate::rib::adj_out::AdjRibOut;
use crate::rib::attrs::{AttrStore, ClusterId, Community, PathAttrs};
use crate::rib::decision::{
    compare, select, Candidate, CandidateSource, MultipathConfig, Reason, Rejection,
};
use crate::rib::export::{
    default_route, export, ExportCache, ExportEnv, ExportSource, ExportTarget,
};
use crate::rib::fib_change::{FibChange, FibNextHop, FibRoute};
use crate::rib::loc::{Dest, Path, Staleness, Table, LOCAL_SRC};
use crate::rib::nexthop::{ConnectedRoutes, NextHopResolver};
use crate::rib::origin::{LocalRoute, LocalRouteKind};
use crate::rib::peer::{PeerConfig, PeerId, PeerInfo, PeerKind, PeerSession, RouteSource};
use crate::rib::update_builder::{self, OutUpdate};

/// IGP cost given to a next hop resolved through another BGP route: worse than connected (0).
const RECURSIVE_COST: u32 = 1;

/// Rounds of recursive re-resolution per drain (one level of recursion needs one round; the
/// bound only stops pathological ping-pong).
const MAX_RECURSION_ROUNDS: usize = 4;

/// RIB-wide configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RibConfig {
    /// Our AS.
    pub local_as: Asn,
    /// Our BGP Identifier.
    pub router_id: RouterId,
    /// CLUSTER_ID when reflecting; `None` = router id (RFC 4456 §7).
    pub cluster_id: Option<ClusterId>,
    /// ECMP settings.
    pub multipath: MultipathConfig,
    /// RFC 8212: eBGP sessions without an import (export) policy import (export) nothing.
    /// Default `false`: accept-all, which is what the fabric designs assume.
    pub ebgp_requires_policy: bool,
    /// Resolve next hops that are not on a connected network through other BGP routes (one
    /// level; the kernel gets the connected gateway).
    pub recursive_next_hops: bool,
}

impl RibConfig {
    /// Defaults: no multipath, accept-all, recursive next hops on.
    pub fn new(local_as: Asn, router_id: RouterId) -> Self {
        RibConfig {
            local_as,
            router_id,
            cluster_id: None,
            multipath: MultipathConfig::default(),
            ebgp_requires_policy: false,
            recursive_next_hops: true,
        }
    }

    /// The effective CLUSTER_ID.
    pub fn cluster_id(&self) -> ClusterId {
        self.cluster_id.unwrap_or(ClusterId(self.router_id.0))
    }
}

/// Errors from RIB inputs. All leave the RIB unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RibError {
    /// No such peer.
    #[error("failed to find {0}")]
    UnknownPeer(PeerId),
    /// The peer has no Established session.
    #[error("failed to use {0}: session not established")]
    NotEstablished(PeerId),
    /// `peer_up` twice.
    #[error("failed to bring up {0}: already established")]
    AlreadyEstablished(PeerId),
    /// Routes for a family the session did not negotiate.
    #[error("failed to accept routes from {peer}: {family} not negotiated")]
    FamilyNotNegotiated {
        /// Peer.
        peer: PeerId,
        /// Family.
        family: AfiSafi,
    },
    /// Only IPv4 and IPv6 unicast are handled.
    #[error("failed to handle {0}: only ipv4-unicast and ipv6-unicast are supported")]
    UnsupportedFamily(AfiSafi),
    /// A prefix of the wrong family in an update.
    #[error("failed to accept {prefix}: not in {family}")]
    PrefixFamilyMismatch {
        /// Prefix.
        prefix: IpNet,
        /// Family of the update.
        family: AfiSafi,
    },
    /// Announced prefixes without attributes.
    #[error("failed to accept announcement: no path attributes")]
    MissingAttributes,
}

/// The routes of one received UPDATE for one address family, as decoded by the codec. RFC 7606
/// treat-as-withdraw results are passed as `withdrawn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUpdate {
    /// Address family of every prefix below.
    pub family: AfiSafi,
    /// Withdrawn prefixes.
    pub withdrawn: Vec<IpNet>,
    /// Announced prefixes (all with `attrs`).
    pub announced: Vec<IpNet>,
    /// Path attributes of the announced prefixes (next hop from NEXT_HOP or MP_REACH_NLRI).
    pub attrs: Option<PathAttrs>,
}

/// Output for one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerUpdates {
    /// Destination peer.
    pub peer: PeerId,
    /// Updates in send order.
    pub updates: Vec<OutUpdate>,
}

/// Everything produced by a [`Rib::drain`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RibOutput {
    /// Per-peer updates, by peer id.
    pub updates: Vec<PeerUpdates>,
    /// Kernel changes, by prefix.
    pub fib: Vec<FibChange>,
}

impl RibOutput {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty() && self.fib.is_empty()
    }
}

/// A Loc-RIB entry as shown to the outside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteView {
    /// Destination.
    pub prefix: IpNet,
    /// The ECMP set, best first (never empty).
    pub paths: Vec<RoutePath>,
}

/// One selected path of a [`RouteView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutePath {
    /// Where it came from.
    pub source: RouteSource,
    /// Its attributes.
    #[serde(serialize_with = "crate::rib::attrs::serialize_shared")]
    pub attrs: Arc<PathAttrs>,
}

/// Why a path has the status it has (for the control socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum PathStatus {
    /// The best path.
    Best,
    /// A member of the ECMP set.
    Multipath,
    /// Eligible but lost.
    NotSelected {
        /// The path it lost to.
        beaten_by: RouteSource,
        /// The decisive step.
        reason: Reason,
    },
    /// Excluded from the decision.
    Ineligible {
        /// Why.
        reason: Rejection,
    },
}

/// One path of a destination with its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathReport {
    /// Source.
    pub source: RouteSource,
    /// Peer address (none for local paths).
    pub peer_address: Option<IpAddr>,
    /// Attributes.
    #[serde(serialize_with = "crate::rib::attrs::serialize_shared")]
    pub attrs: Arc<PathAttrs>,
    /// Status.
    pub status: PathStatus,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RibStats {
    /// IPv4 destinations.
    pub ipv4_prefixes: usize,
    /// IPv6 destinations.
    pub ipv6_prefixes: usize,
    /// Paths (all peers, all families, rejected included).
    pub paths: usize,
    /// Distinct attribute sets held.
    pub attr_sets: usize,
}

#[derive(Debug)]
struct Peer {
    config: PeerConfig,
    session: Option<PeerSession>,
    out: AdjRibOut,
    eor_received: BTreeSet<AfiSafi>,
    /// The last session's facts while its routes are retained after it went down (graceful
    /// restart, RFC 4724 §4.2): the decision process still needs the peer's AS and identifier.
    retained: Option<PeerSession>,
    /// Paths held from this peer (its Adj-RIB-In size, rejected paths included).
    received: usize,
}

#[derive(Debug, Default)]
struct Tables {
    v4: Table,
    v6: Table,
}

impl Tables {
    fn get(&self, family: AfiSafi) -> Option<&Table> {
        match family {
            AfiSafi::IPV4_UNICAST => Some(&self.v4),
            AfiSafi::IPV6_UNICAST => Some(&self.v6),
            _ => None,
        }
    }

    fn get_mut(&mut self, family: AfiSafi) -> Option<&mut Table> {
        match family {
            AfiSafi::IPV4_UNICAST => Some(&mut self.v4),
            AfiSafi::IPV6_UNICAST => Some(&mut self.v6),
            _ => None,
        }
    }
}

/// What to do to a destination in [`Rib::update_dest`].
enum Change {
    Upsert(Path),
    Remove(u32),
    Reevaluate,
}

/// The path source id of a peer.
fn idx_src(id: PeerId) -> u32 {
    id.0
}

/// Address family of a prefix.
pub fn family_of(prefix: &IpNet) -> AfiSafi {
    match prefix {
        IpNet::V4(_) => AfiSafi::IPV4_UNICAST,
        IpNet::V6(_) => AfiSafi::IPV6_UNICAST,
    }
}

fn family_of_addr(addr: &IpAddr) -> AfiSafi {
    match addr {
        IpAddr::V4(_) => AfiSafi::IPV4_UNICAST,
        IpAddr::V6(_) => AfiSafi::IPV6_UNICAST,
    }
}

fn supported(family: AfiSafi) -> bool {
    family == AfiSafi::IPV4_UNICAST || family == AfiSafi::IPV6_UNICAST
}

fn default_prefix(family: AfiSafi) -> Option<IpNet> {
    match family {
        AfiSafi::IPV4_UNICAST => "0.0.0.0/0".parse().ok(),
        AfiSafi::IPV6_UNICAST => "::/0".parse().ok(),
        _ => None,
    }
}

fn info_of(config: &RibConfig, peer: &Peer) -> Option<PeerInfo> {
    let s = peer.session.as_ref().or(peer.retained.as_ref())?;
    let local_as = peer.config.local_as.unwrap_or(config.local_as);
    Some(PeerInfo {
        address: peer.config.address,
        remote_as: s.remote_as,
        router_id: s.remote_router_id,
        kind: if s.remote_as == local_as {
            PeerKind::Ibgp
        } else {
            PeerKind::Ebgp
        },
        rr_client: peer.config.route_reflector_client,
        local_as,
        local_router_id: config.router_id,
    })
}

/// Attributes to advertise to peer `target` for `prefix` with best path `best`.
#[allow(clippy::too_many_arguments)]
fn export_for(
    peers: &[Option<Peer>],
    config: &RibConfig,
    store: &mut AttrStore,
    cache: &mut ExportCache,
    target: usize,
    prefix: &IpNet,
    best: Option<&Path>,
) -> Option<Arc<PathAttrs>> {
    let peer = peers.get(target)?.as_ref()?;
    let session = peer.session.as_ref()?;
    let env = ExportEnv {
        cluster_id: config.cluster_id(),
        ebgp_requires_policy: config.ebgp_requires_policy,
    };
    let t = ExportTarget {
        id: u32::try_from(target).ok()?,
        config: &peer.config,
        session,
        info: info_of(config, peer)?,
    };
    let ipv6 = matches!(prefix, IpNet::V6(_));
    if peer.config.default_originate && prefix.prefix_len() == 0 {
        return default_route(&env, &t, ipv6, store);
    }
    let best = best?;
    // RFC 9494 §4.3: LLGR_STALE routes go only to peers that advertised LLGR (a peer that did
    // not is sent a withdrawal instead).
    if !session.long_lived && best.attrs.communities.contains(&Community::LLGR_STALE) {
        return None;
    }
    let source = if best.src == LOCAL_SRC {
        ExportSource::Local
    } else {
        let sp = peers.get(usize::try_from(best.src).ok()?)?.as_ref()?;
        ExportSource::Peer {
            id: best.src,
            info: info_of(config, sp)?,
        }
    };
    export(&env, &t, prefix, source, &best.attrs, store, cache)
}

/// The BGP routing core: Adj-RIBs-In, Loc-RIB, Adj-RIBs-Out for IPv4 and IPv6 unicast.
///
/// Generic over the next-hop resolver so tests run without a kernel; the daemon uses
/// [`ConnectedRoutes`] fed from netlink.
#[derive(Debug)]
pub struct Rib<R = ConnectedRoutes> {
    config: RibConfig,
    resolver: R,
    store: AttrStore,
    peers: Vec<Option<Peer>>,
    tables: Tables,
    local: BTreeMap<IpNet, LocalRouteKind>,
    fib_pending: BTreeMap<IpNet, Option<FibRoute>>,
    /// Next hops not on a connected network -> destinations with a path using them.
    recursive_nh: HashMap<IpAddr, BTreeSet<IpNet>>,
    /// Destinations whose selection changed since the last drain (only while `recursive_nh` is
    /// non-empty): their dependents must be re-resolved.
    changed_prefixes: BTreeSet<IpNet>,
    export_cache: ExportCache,
    /// Distinct next-hop sets of kernel routes, shared by every route using them.
    hop_sets: HashSet<Arc<[FibNextHop]>>,
}

impl<R: NextHopResolver> Rib<R> {
    /// An empty RIB.
    pub fn new(config: RibConfig, resolver: R) -> Self {
        Rib {
            config,
            resolver,
            store: AttrStore::new(),
            peers: Vec::new(),
            tables: Tables::default(),
            local: BTreeMap::new(),
            fib_pending: BTreeMap::new(),
            recursive_nh: HashMap::new(),
            changed_prefixes: BTreeSet::new(),
            export_cache: ExportCache::default(),
            hop_sets: HashSet::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RibConfig {
        &self.config
    }

    /// The resolver.
    pub fn resolver(&self) -> &R {
        &self.resolver
    }

    /// Mutable access to the resolver. Call [`Rib::resolver_changed`] afterwards with the
    /// networks whose reachability changed.
    pub fn resolver_mut(&mut self) -> &mut R {
        &mut self.resolver
    }

    // ===== peers =====

    /// Register a neighbour (configured, or dynamic when it connects). Ids are never reused.
    pub fn add_peer(&mut self, config: PeerConfig) -> PeerId {
        let id = PeerId(u32::try_from(self.peers.len()).unwrap_or(LOCAL_SRC - 1));
        self.peers.push(Some(Peer {
            config,
            session: None,
            out: AdjRibOut::default(),
            eor_received: BTreeSet::new(),
            retained: None,
            received: 0,
        }));
        id
    }

    /// Forget a neighbour; its routes are withdrawn first if it was up.
    pub fn remove_peer(&mut self, id: PeerId) -> Result<(), RibError> {
        if self.peer(id)?.session.is_some() {
            self.peer_down(id)?;
        }
        // Routes retained for a restarting peer go with it.
        for family in [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST] {
            self.remove_paths(idx_src(id), family, |_| true);
        }
        if let Some(slot) = self.peers.get_mut(id.0 as usize) {
            *slot = None;
        }
        Ok(())
    }

    /// Replace a neighbour's configuration (policies, next-hop-self, RR client, ...). If it is
    /// up, what it was sent is re-computed and the differences queued (soft reconfiguration
    /// outbound). Import-side changes only apply to routes received afterwards: ask the peer for
    /// a ROUTE-REFRESH to re-apply them.
    pub fn reconfigure_peer(&mut self, id: PeerId, config: PeerConfig) -> Result<(), RibError> {
        let idx = self.index(id)?;
        let families = {
            let p = self.peer_mut(id)?;
            p.config = config;
            p.session
                .as_ref()
                .map(|s| s.families.clone())
                .unwrap_or_default()
        };
        self.export_cache.clear();
        for f in families.into_iter().filter(|f| supported(*f)) {
            self.resync_peer(idx, f);
        }
        Ok(())
    }

    /// The session reached Established: queue the initial table (and End-of-RIB) for every
    /// negotiated family.
    pub fn peer_up(&mut self, id: PeerId, session: PeerSession) -> Result<(), RibError> {
        let idx = self.index(id)?;
        let families: Vec<AfiSafi> = session
            .families
            .iter()
            .copied()
            .filter(|f| supported(*f))
            .collect();
        {
            let p = self.peer_mut(id)?;
            if p.session.is_some() {
                return Err(RibError::AlreadyEstablished(id));
            }
            p.session = Some(session);
            p.retained = None;
            p.out = AdjRibOut::for_session(&families);
            p.eor_received.clear();
        }
        self.export_cache.clear();
        for f in families {
            self.resync_peer(idx, f);
        }
        Ok(())
    }

    /// The session went down: withdraw everything learned from it and drop its Adj-RIB-Out.
    pub fn peer_down(&mut self, id: PeerId) -> Result<(), RibError> {
        let idx = self.index(id)?;
        {
            let p = self.peer_mut(id)?;
            if p.session.take().is_none() {
                return Err(RibError::NotEstablished(id));
            }
            p.out = AdjRibOut::default();
            p.eor_received.clear();
        }
        self.export_cache.clear();
        let src = u32::try_from(idx).unwrap_or(LOCAL_SRC);
        for family in [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST] {
            let prefixes: Vec<IpNet> = self
                .tables
                .get(family)
                .map(|t| {
                    t.routes
                        .iter()
                        .filter(|(_, d)| d.path_from(src).is_some())
                        .map(|(p, _)| p)
                        .collect()
                })
                .unwrap_or_default();
            for prefix in prefixes {
                self.update_dest(family, prefix, Change::Remove(src), false);
            }
        }
        Ok(())
    }

    /// The session went down but the peer restarts gracefully (RFC 4724 §4.2): the routes of
    /// the `retain` families stay (selection, exports and kernel routes unchanged), marked
    /// stale; routes already stale from an earlier drop are deleted (consecutive restart),
    /// long-lived stale ones stay (RFC 9494 §4.2). Other families' routes are deleted. Returns
    /// how many paths are stale now.
    pub fn peer_down_retaining(
        &mut self,
        id: PeerId,
        retain: &[AfiSafi],
    ) -> Result<usize, RibError> {
        {
            let p = self.peer_mut(id)?;
            let Some(session) = p.session.take() else {
                return Err(RibError::NotEstablished(id));
            };
            p.retained = Some(session);
            p.out = AdjRibOut::default();
            p.eor_received.clear();
        }
        self.export_cache.clear();
        let src = idx_src(id);
        let mut stale = 0;
        for family in [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST] {
            if !retain.contains(&family) {
                self.remove_paths(src, family, |_| true);
                continue;
            }
            self.remove_paths(src, family, |p| p.stale == Staleness::Stale);
            let Some(table) = self.tables.get_mut(family) else {
                continue;
            };
            for dest in table.routes.values_mut() {
                match dest.path_from(src).map(|p| p.stale) {
                    Some(Staleness::Fresh) => {
                        dest.set_stale(src, Staleness::Stale);
                        stale += 1;
                    }
                    Some(_) => stale += 1,
                    None => {}
                }
            }
        }
        Ok(stale)
    }

    /// Deletes the peer's paths still stale for `family` (End-of-RIB, restart, stale-path or
    /// long-lived timer, F=0 on the new OPEN: RFC 4724 §4.2, RFC 9494 §4.2). Returns how
    /// many were deleted.
    pub fn flush_stale(&mut self, id: PeerId, family: AfiSafi) -> Result<usize, RibError> {
        self.peer(id)?;
        let n = self.remove_paths(idx_src(id), family, |p| p.stale != Staleness::Fresh);
        Ok(n)
    }

    /// Makes the peer's stale paths of `family` long-lived stale (RFC 9494 §4.2): paths with
    /// NO_LLGR are deleted, the others get LLGR_STALE (which makes them least preferred,
    /// §4.3) and are re-advertised. Returns (kept, deleted).
    pub fn long_lived_stale(
        &mut self,
        id: PeerId,
        family: AfiSafi,
    ) -> Result<(usize, usize), RibError> {
        self.peer(id)?;
        let src = idx_src(id);
        let deleted = self.remove_paths(src, family, |p| {
            p.stale == Staleness::Stale && p.attrs.communities.contains(&Community::NO_LLGR)
        });
        let paths: Vec<(IpNet, Path)> = self
            .tables
            .get(family)
            .into_iter()
            .flat_map(|t| t.routes.iter())
            .filter_map(|(prefix, d)| {
                let p = d.path_from(src).filter(|p| p.stale == Staleness::Stale)?;
                Some((prefix, p.clone()))
            })
            .collect();
        let kept = paths.len();
        for (prefix, mut path) in paths {
            if !path.attrs.communities.contains(&Community::LLGR_STALE) {
                let mut attrs = (*path.attrs).clone();
                attrs.communities.push(Community::LLGR_STALE);
                path.attrs = self.store.intern(attrs);
            }
            path.stale = Staleness::LongLived;
            self.update_dest(family, prefix, Change::Upsert(path), false);
        }
        Ok((kept, deleted))
    }

    /// How many of the peer's paths are stale and long-lived stale.
    pub fn stale_counts(&self, id: PeerId) -> (usize, usize) {
        let src = id.0;
        let mut counts = (0, 0);
        for t in [&self.tables.v4, &self.tables.v6] {
            for (_, d) in t.routes.iter() {
                match d.path_from(src).map(|p| p.stale) {
                    Some(Staleness::Stale) => counts.0 += 1,
                    Some(Staleness::LongLived) => counts.1 += 1,
                    _ => {}
                }
            }
        }
        counts
    }

    /// Whether the path from `peer` for `prefix` is stale (`Some(true)` long-lived).
    pub fn path_staleness(&self, id: PeerId, prefix: &IpNet) -> Option<bool> {
        let prefix = prefix.trunc();
        let dest = self.tables.get(family_of(&prefix))?.routes.get(&prefix)?;
        match dest.path_from(id.0)?.stale {
            Staleness::Fresh => None,
            Staleness::Stale => Some(false),
            Staleness::LongLived => Some(true),
        }
    }

    /// Removes the paths from `src` in `family` that match `which`. Returns how many.
    fn remove_paths(&mut self, src: u32, family: AfiSafi, which: impl Fn(&Path) -> bool) -> usize {
        let prefixes: Vec<IpNet> = self
            .tables
            .get(family)
            .map(|t| {
                t.routes
                    .iter()
                    .filter(|(_, d)| d.path_from(src).is_some_and(&which))
                    .map(|(p, _)| p)
                    .collect()
            })
            .unwrap_or_default();
        let n = prefixes.len();
        for prefix in prefixes {
            self.update_dest(family, prefix, Change::Remove(src), false);
        }
        n
    }

    /// The peer asked for a ROUTE-REFRESH (RFC 2918) of `family`: everything is sent again.
    pub fn route_refresh(&mut self, id: PeerId, family: AfiSafi) -> Result<(), RibError> {
        let idx = self.index(id)?;
        let p = self.peer_mut(id)?;
        if p.session.is_none() {
            return Err(RibError::NotEstablished(id));
        }
        if let Some(f) = p.out.families.get_mut(&family) {
            f.sent.clear();
            f.pending.clear();
        }
        self.resync_peer(idx, family);
        Ok(())
    }

    // ===== routes in =====

    /// Apply one received UPDATE's routes for one family.
    pub fn receive(&mut self, id: PeerId, update: RouteUpdate) -> Result<(), RibError> {
        let idx = self.index(id)?;
        let family = update.family;
        if !supported(family) {
            return Err(RibError::UnsupportedFamily(family));
        }
        let (info, policy, peer_config) = {
            let p = self.peer(id)?;
            let s = p.session.as_ref().ok_or(RibError::NotEstablished(id))?;
            if !s.families.contains(&family) {
                return Err(RibError::FamilyNotNegotiated { peer: id, family });
            }
            let info = info_of(&self.config, p).ok_or(RibError::NotEstablished(id))?;
            (info, p.config.import_policy.clone(), p.config.clone())
        };
        if let Some(bad) = update
            .withdrawn
            .iter()
            .chain(&update.announced)
            .find(|p| family_of(p) != family)
        {
            return Err(RibError::PrefixFamilyMismatch {
                prefix: *bad,
                family,
            });
        }
        if !update.announced.is_empty() && update.attrs.is_none() {
            return Err(RibError::MissingAttributes);
        }
        let src = u32::try_from(idx).unwrap_or(LOCAL_SRC);

        for p in &update.withdrawn {
            self.update_dest(family, p.trunc(), Change::Remove(src), false);
        }
        let Some(mut attrs) = update.attrs else {
            return Ok(());
        };
        if update.announced.is_empty() {
            return Ok(());
        }
        sanitize(&mut attrs, &info);
        let static_rejection = check_attrs(
            &attrs,
            &info,
            &peer_config,
            self.config.local_as,
            self.config.cluster_id(),
        );
        let mut interner = ImportInterner::new(&attrs, policy.as_deref());
        for p in &update.announced {
            let prefix = p.trunc();
            let verdict = match static_rejection {
                Some(r) => Err(r),
                None => import_verdict(
                    policy.as_deref(),
                    self.config.ebgp_requires_policy,
                    &info,
                    &prefix,
                    &attrs,
                ),
            };
            let path = match verdict {
                // A fresh path replaces a stale one in place (RFC 4724 §4.2): with the same
                // attributes the selection does not change, so nothing flaps.
                Ok(st) => Path {
                    src,
                    rejection: None,
                    attrs: interner.accepted(&mut self.store, st),
                    stale: Staleness::Fresh,
                },
                Err(r) => Path {
                    src,
                    rejection: Some(r),
                    attrs: interner.raw(&mut self.store),
                    stale: Staleness::Fresh,
                },
            };
            self.update_dest(family, prefix, Change::Upsert(path), false);
        }
        Ok(())
    }

    /// The peer sent End-of-RIB for `family` (RFC 4724 §2). Recorded for graceful restart and
    /// the control socket.
    pub fn receive_end_of_rib(&mut self, id: PeerId, family: AfiSafi) -> Result<(), RibError> {
        let p = self.peer_mut(id)?;
        if p.session.is_none() {
            return Err(RibError::NotEstablished(id));
        }
        p.eor_received.insert(family);
        Ok(())
    }

    /// Originate (or update) a local route.
    pub fn originate(&mut self, route: LocalRoute) {
        let prefix = route.prefix.trunc();
        let family = family_of(&prefix);
        let kind_changed = self.local.insert(prefix, route.kind) != Some(route.kind);
        let attrs = self.store.intern(route.attrs());
        let path = Path {
            src: LOCAL_SRC,
            rejection: None,
            attrs,
            stale: Staleness::Fresh,
        };
        self.update_dest(family, prefix, Change::Upsert(path), kind_changed);
    }

    /// Stop originating `prefix`. Returns whether it was originated.
    pub fn withdraw_local(&mut self, prefix: &IpNet) -> bool {
        let prefix = prefix.trunc();
        if self.local.remove(&prefix).is_none() {
            return false;
        }
        self.update_dest(family_of(&prefix), prefix, Change::Remove(LOCAL_SRC), true);
        true
    }

    /// Next-hop reachability changed inside `networks` (connected networks added or removed, a
    /// link went down or up): re-run the decision for every destination with a next hop there,
    /// and re-install their kernel routes.
    pub fn resolver_changed(&mut self, networks: &[IpNet]) {
        if networks.is_empty() {
            return;
        }
        self.reevaluate_where(|nh| networks.iter().any(|n| n.contains(&nh)));
    }

    /// Like [`Rib::resolver_changed`] for every destination (resolver replaced wholesale).
    pub fn resolver_changed_all(&mut self) {
        self.reevaluate_where(|_| true);
    }

    // ===== output =====

    /// Collect everything ready: per-peer updates (MRAI permitting) and kernel changes.
    pub fn drain(&mut self, now: Instant) -> RibOutput {
        self.revalidate_recursive();
        let mut out = RibOutput::default();
        for (idx, slot) in self.peers.iter_mut().enumerate() {
            let Some(peer) = slot else { continue };
            if peer.session.is_none() {
                continue;
            }
            if let Some(updates) = update_builder::flush(&mut peer.out, now, peer.config.mrai) {
                out.updates.push(PeerUpdates {
                    peer: PeerId(u32::try_from(idx).unwrap_or(LOCAL_SRC)),
                    updates,
                });
            }
        }
        out.fib = std::mem::take(&mut self.fib_pending)
            .into_iter()
            .map(|(prefix, route)| match route {
                Some(route) => FibChange::Replace { prefix, route },
                None => FibChange::Delete { prefix },
            })
            .collect();
        self.export_cache.clear();
        self.store.maybe_collect_garbage();
        out
    }

    /// When [`Rib::drain`] will next have peer output held back by MRAI (`now` or earlier
    /// means "drain now"); `None` if nothing waits.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let peers = self.peers.iter().flatten().filter(|p| p.session.is_some());
        let mut next = peers
            .filter_map(|p| update_builder::deadline(&p.out, p.config.mrai, now))
            .min();
        if !self.fib_pending.is_empty() {
            next = Some(now);
        }
        next
    }

    // ===== queries =====

    /// The selected paths for `prefix`, best first.
    pub fn route(&self, prefix: &IpNet) -> Option<RouteView> {
        let prefix = prefix.trunc();
        let dest = self.tables.get(family_of(&prefix))?.routes.get(&prefix)?;
        view(&prefix, dest)
    }

    /// The Loc-RIB of a family (destinations with a best path), in prefix order.
    pub fn loc_rib(&self, family: AfiSafi) -> impl Iterator<Item = RouteView> + '_ {
        self.tables
            .get(family)
            .into_iter()
            .flat_map(|t| t.routes.iter())
            .filter_map(|(p, d)| view(&p, d))
    }

    /// Every destination of a family (with or without a best path), in prefix order.
    pub fn destinations(&self, family: AfiSafi) -> impl Iterator<Item = IpNet> + '_ {
        self.tables
            .get(family)
            .into_iter()
            .flat_map(|t| t.routes.iter())
            .map(|(p, _)| p)
    }

    /// Every path for `prefix` with why it is or is not selected.
    pub fn explain(&self, prefix: &IpNet) -> Vec<PathReport> {
        let prefix = prefix.trunc();
        let family = family_of(&prefix);
        let Some(dest) = self.tables.get(family).and_then(|t| t.routes.get(&prefix)) else {
            return Vec::new();
        };
        let mut scratch = Vec::new();
        let cands: Vec<Result<Candidate<'_>, Rejection>> = dest
            .paths
            .iter()
            .map(|p| self.eligibility(&prefix, p, &mut scratch))
            .collect();
        let best = dest
            .best()
            .and_then(|_| cands.first())
            .and_then(|c| c.as_ref().ok());
        dest.paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let status = if i < usize::from(dest.selected) {
                    if i == 0 {
                        PathStatus::Best
                    } else {
                        PathStatus::Multipath
                    }
                } else {
                    match cands.get(i) {
                        Some(Err(r)) => PathStatus::Ineligible { reason: *r },
                        Some(Ok(c)) => {
                            // Lost to its own neighbour AS's winner if that is another path
                            // (MED), else to the best.
                            let winner = cands
                                .iter()
                                .enumerate()
                                .filter_map(|(j, x)| x.as_ref().ok().map(|x| (j, x)))
                                .filter(|(_, x)| x.neighbor_as() == c.neighbor_as())
                                .reduce(|a, b| if compare(b.1, a.1).0.is_lt() { b } else { a });
                            match (winner, best) {
                                (Some((j, w)), _) if j != i => PathStatus::NotSelected {
                                    beaten_by: dest
                                        .paths
                                        .get(j)
                                        .map(Path::source)
                                        .unwrap_or(RouteSource::Local),
                                    reason: compare(w, c).1,
                                },
                                (_, Some(b)) => PathStatus::NotSelected {
                                    beaten_by: dest
                                        .paths
                                        .first()
                                        .map(Path::source)
                                        .unwrap_or(RouteSource::Local),
                                    reason: compare(b, c).1,
                                },
                                _ => PathStatus::Ineligible {
                                    reason: Rejection::NextHopUnresolvable,
                                },
                            }
                        }
                        None => PathStatus::Ineligible {
                            reason: Rejection::NextHopUnresolvable,
                        },
                    }
                };
                PathReport {
                    source: p.source(),
                    peer_address: self.peer_address(p.src),
                    attrs: Arc::clone(&p.attrs),
                    status,
                }
            })
            .collect()
    }

    /// The routes received from a peer for a family (post-import attributes), with the reason
    /// for any that were excluded.
    pub fn adj_rib_in(
        &self,
        id: PeerId,
        family: AfiSafi,
    ) -> Vec<(IpNet, Arc<PathAttrs>, Option<Rejection>)> {
        let src = id.0;
        self.tables
            .get(family)
            .into_iter()
            .flat_map(|t| t.routes.iter())
            .filter_map(|(p, d)| {
                d.path_from(src)
                    .map(|x| (p, Arc::clone(&x.attrs), x.rejection))
            })
            .collect()
    }

    /// What was advertised to a peer for a family (not counting queued changes).
    pub fn adj_rib_out(&self, id: PeerId, family: AfiSafi) -> Vec<(IpNet, Arc<PathAttrs>)> {
        self.peers
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .map(|p| {
                p.out
                    .sent(family)
                    .map(|(k, v)| (k, Arc::clone(v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The kernel route the RIB wants for `prefix` right now.
    pub fn fib_route(&self, prefix: &IpNet) -> Option<FibRoute> {
        let prefix = prefix.trunc();
        let dest = self.tables.get(family_of(&prefix))?.routes.get(&prefix)?;
        self.fib_route_of(&prefix, dest)
    }

    /// Decision-relevant facts about an established peer.
    pub fn peer_info(&self, id: PeerId) -> Option<PeerInfo> {
        info_of(&self.config, self.peer(id).ok()?)
    }

    /// Whether the peer has sent End-of-RIB for `family` on the current session.
    pub fn end_of_rib_received(&self, id: PeerId, family: AfiSafi) -> bool {
        self.peer(id)
            .is_ok_and(|p| p.eor_received.contains(&family))
    }

    /// The prefixes this speaker originates, with their kernel behaviour.
    pub fn originated(&self) -> impl Iterator<Item = (IpNet, LocalRouteKind)> + '_ {
        self.local.iter().map(|(p, k)| (*p, *k))
    }

    /// Number of paths received from a peer and held (Adj-RIB-In size, all families).
    pub fn adj_rib_in_count(&self, id: PeerId) -> usize {
        self.peer(id).map(|p| p.received).unwrap_or(0)
    }

    /// Number of prefixes advertised to a peer (Adj-RIB-Out size, all families).
    pub fn adj_rib_out_count(&self, id: PeerId) -> usize {
        self.peer(id)
            .map(|p| p.out.families.values().map(|f| f.sent.len()).sum())
            .unwrap_or(0)
    }

    /// The peer registered with this address, if any.
    pub fn peer_by_address(&self, address: IpAddr) -> Option<PeerId> {
        self.peers
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.config.address == address))
            .and_then(|i| u32::try_from(i).ok())
            .map(PeerId)
    }

    /// Number of peer ids handed out so far (removed peers included): ids are `0..peer_slots()`.
    pub fn peer_slots(&self) -> u32 {
        u32::try_from(self.peers.len()).unwrap_or(u32::MAX)
    }

    /// A registered peer's configuration.
    pub fn peer_config(&self, id: PeerId) -> Option<&PeerConfig> {
        self.peer(id).ok().map(|p| &p.config)
    }

    /// Whether the peer has an Established session in the RIB.
    pub fn is_up(&self, id: PeerId) -> bool {
        self.peer(id).is_ok_and(|p| p.session.is_some())
    }

    /// Counters.
    pub fn stats(&self) -> RibStats {
        RibStats {
            ipv4_prefixes: self.tables.v4.routes.len(),
            ipv6_prefixes: self.tables.v6.routes.len(),
            paths: self
                .tables
                .v4
                .routes
                .values()
                .chain(self.tables.v6.routes.values())
                .map(|d| d.paths.len())
                .sum(),
            attr_sets: self.store.len(),
        }
    }

    // ===== internals =====

    fn index(&self, id: PeerId) -> Result<usize, RibError> {
        self.peer(id).map(|_| id.0 as usize)
    }

    fn peer(&self, id: PeerId) -> Result<&Peer, RibError> {
        self.peers
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .ok_or(RibError::UnknownPeer(id))
    }

    fn peer_mut(&mut self, id: PeerId) -> Result<&mut Peer, RibError> {
        self.peers
            .get_mut(id.0 as usize)
            .and_then(Option::as_mut)
            .ok_or(RibError::UnknownPeer(id))
    }

    fn peer_address(&self, src: u32) -> Option<IpAddr> {
        self.peers
            .get(usize::try_from(src).ok()?)?
            .as_ref()
            .map(|p| p.config.address)
    }

    /// Re-compute everything a peer should have for `family` and queue the differences.
    fn resync_peer(&mut self, idx: usize, family: AfiSafi) {
        let Some(table) = self.tables.get(family) else {
            return;
        };
        let mut desired: Vec<(IpNet, Option<Arc<PathAttrs>>)> = Vec::new();
        for (prefix, dest) in table.routes.iter() {
            let d = export_for(
                &self.peers,
                &self.config,
                &mut self.store,
                &mut self.export_cache,
                idx,
                &prefix,
                dest.best(),
            );
            desired.push((prefix, d));
        }
        // Default-originate does not need a default in the RIB.
        if let Some(dp) = default_prefix(family) {
            if !table.routes.contains_key(&dp) {
                let d = export_for(
                    &self.peers,
                    &self.config,
                    &mut self.store,
                    &mut self.export_cache,
                    idx,
                    &dp,
                    None,
                );
                desired.push((dp, d));
            }
        }
        let Some(Some(peer)) = self.peers.get_mut(idx) else {
            return;
        };
        // Anything advertised that has no destination any more is withdrawn.
        let stale: Vec<IpNet> = peer
            .out
            .sent(family)
            .map(|(p, _)| p)
            .filter(|p| !table.routes.contains_key(p) && Some(*p) != default_prefix(family))
            .collect();
        for p in stale {
            peer.out.enqueue(family, p, None);
        }
        for (p, d) in desired {
            peer.out.enqueue(family, p, d);
        }
    }

    /// The single place where a destination changes: apply `change`, re-run the decision, and
    /// queue exports and FIB changes if the selection changed (or the FIB must be refreshed).
    fn update_dest(&mut self, family: AfiSafi, prefix: IpNet, change: Change, force_fib: bool) {
        let Some(table) = self.tables.get_mut(family) else {
            return;
        };
        let mut dest = match table.routes.get_mut(&prefix) {
            Some(d) => std::mem::take(d),
            None if matches!(change, Change::Upsert(_)) => Dest::default(),
            None => return,
        };
        if let Change::Remove(src) = change {
            if dest.path_from(src).is_none() && !force_fib {
                self.put_back(family, prefix, dest);
                return;
            }
        }
        self.unindex_recursive(&prefix, &dest);
        let old = dest.selection_key();
        self.count_received(&dest, &change);
        match change {
            Change::Upsert(p) => dest.upsert(p),
            Change::Remove(src) => {
                dest.remove(src);
            }
            Change::Reevaluate => {}
        }
        self.reselect(&prefix, &mut dest);
        let new = dest.selection_key();
        if old != new || force_fib {
            let route = self.fib_route_of(&prefix, &dest).map(|r| self.shared(r));
            self.fib_pending.insert(prefix, route);
            if !self.recursive_nh.is_empty() {
                self.changed_prefixes.insert(prefix);
            }
        }
        if !old.same_best(&new) {
            self.export_prefix(family, &prefix, &dest);
        }
        self.put_back(family, prefix, dest);
    }

    /// Keep the per-peer Adj-RIB-In sizes up to date (before `change` is applied to `dest`).
    fn count_received(&mut self, dest: &Dest, change: &Change) {
        let (src, delta) = match change {
            Change::Upsert(p) if dest.path_from(p.src).is_none() => (p.src, 1isize),
            Change::Remove(src) if dest.path_from(*src).is_some() => (*src, -1),
            _ => return,
        };
        if let Some(Some(peer)) = self.peers.get_mut(src as usize) {
            peer.received = peer.received.saturating_add_signed(delta);
        }
    }

    fn put_back(&mut self, family: AfiSafi, prefix: IpNet, dest: Dest) {
        let Some(table) = self.tables.get_mut(family) else {
            return;
        };
        if dest.paths.is_empty() {
            table.routes.remove(&prefix);
        } else {
            table.routes.insert(prefix, dest);
        }
    }

    fn export_prefix(&mut self, family: AfiSafi, prefix: &IpNet, dest: &Dest) {
        for idx in 0..self.peers.len() {
            let up = matches!(self.peers.get(idx), Some(Some(p)) if p.session.as_ref().is_some_and(|s| s.families.contains(&family)));
            if !up {
                continue;
            }
            let d = export_for(
                &self.peers,
                &self.config,
                &mut self.store,
                &mut self.export_cache,
                idx,
                prefix,
                dest.best(),
            );
            if let Some(Some(p)) = self.peers.get_mut(idx) {
                p.out.enqueue(family, *prefix, d);
            }
        }
    }

    fn reselect(&mut self, prefix: &IpNet, dest: &mut Dest) {
        if dest.paths.is_empty() {
            dest.selected = 0;
            return;
        }
        let mut unresolved = Vec::new();
        let order = {
            let cands: Vec<Option<Candidate<'_>>> = dest
                .paths
                .iter()
                .map(|p| self.eligibility(prefix, p, &mut unresolved).ok())
                .collect();
            select(&cands, self.config.multipath)
        };
        dest.apply_selection(&order);
        for nh in unresolved {
            self.recursive_nh.entry(nh).or_default().insert(*prefix);
        }
    }

    /// A path as a decision candidate, or why it is not one. Next hops that are not directly
    /// connected are pushed to `unresolved` (for re-resolution tracking).
    fn eligibility<'a>(
        &self,
        prefix: &IpNet,
        p: &'a Path,
        unresolved: &mut Vec<IpAddr>,
    ) -> Result<Candidate<'a>, Rejection> {
        if let Some(r) = p.rejection {
            return Err(r);
        }
        if p.src == LOCAL_SRC {
            return Ok(Candidate {
                attrs: &p.attrs,
                source: CandidateSource::Local {
                    router_id: self.config.router_id,
                },
                igp_cost: 0,
                local_as: self.config.local_as,
            });
        }
        let peer = self
            .peers
            .get(p.src as usize)
            .and_then(Option::as_ref)
            .ok_or(Rejection::NextHopUnresolvable)?;
        let info = info_of(&self.config, peer).ok_or(Rejection::NextHopUnresolvable)?;
        let nh = p.attrs.next_hop.ok_or(Rejection::MissingNextHop)?;
        if self.resolver.is_local(nh) {
            return Err(Rejection::NextHopIsSelf);
        }
        let igp_cost = match self.resolver.resolve(nh) {
            Some(d) => d.cost,
            None => {
                unresolved.push(nh);
                if self.resolves_recursively(nh, prefix) {
                    RECURSIVE_COST
                } else {
                    return Err(Rejection::NextHopUnresolvable);
                }
            }
        };
        Ok(Candidate {
            attrs: &p.attrs,
            source: CandidateSource::Peer {
                kind: info.kind,
                address: info.address,
                router_id: info.router_id,
            },
            igp_cost,
            local_as: info.local_as,
        })
    }

    /// The covering BGP route of a next hop that is not connected, if recursion is allowed and
    /// that route's own next hops are connected (one level; never via the default route or via
    /// the destination being resolved).
    fn covering_route(&self, nh: IpAddr, prefix: &IpNet) -> Option<&Dest> {
        if !self.config.recursive_next_hops {
            return None;
        }
        let (_, dest) = self
            .tables
            .get(family_of_addr(&nh))?
            .longest_match(nh, prefix)?;
        (dest.best()?.src != LOCAL_SRC).then_some(dest)
    }

    fn resolves_recursively(&self, nh: IpAddr, prefix: &IpNet) -> bool {
        self.covering_route(nh, prefix).is_some_and(|d| {
            d.selected().iter().any(|p| {
                p.attrs
                    .next_hop
                    .is_some_and(|x| self.resolver.resolve(x).is_some())
            })
        })
    }

    fn recursive_gateways(&self, nh: IpAddr, prefix: &IpNet) -> Vec<FibNextHop> {
        let Some(d) = self.covering_route(nh, prefix) else {
            return Vec::new();
        };
        d.selected()
            .iter()
            .filter_map(|p| p.attrs.next_hop)
            .flat_map(|x| self.resolver.gateways(x))
            .collect()
    }

    fn fib_route_of(&self, prefix: &IpNet, dest: &Dest) -> Option<FibRoute> {
        let best = dest.best()?;
        if best.src == LOCAL_SRC {
            return match self.local.get(prefix) {
                Some(LocalRouteKind::Blackhole) => Some(FibRoute::Blackhole),
                _ => None,
            };
        }
        let mut hops = Vec::new();
        for p in dest.selected() {
            let Some(nh) = p.attrs.next_hop else { continue };
            let direct = self.resolver.gateways(nh);
            if direct.is_empty() {
                hops.extend(self.recursive_gateways(nh, prefix));
            } else {
                hops.extend(direct);
            }
        }
        hops.sort();
        hops.dedup();
        (!hops.is_empty()).then(|| FibRoute::Unicast(hops.into()))
    }

    /// `route` with its next-hop set replaced by the shared copy (interned).
    fn shared(&mut self, route: FibRoute) -> FibRoute {
        let FibRoute::Unicast(hops) = route else {
            return route;
        };
        if let Some(known) = self.hop_sets.get(&hops) {
            return FibRoute::Unicast(Arc::clone(known));
        }
        // Forget sets nobody uses any more before the table grows further.
        if self.hop_sets.len() >= 4096 {
            self.hop_sets.retain(|h| Arc::strong_count(h) > 1);
        }
        self.hop_sets.insert(Arc::clone(&hops));
        FibRoute::Unicast(hops)
    }

    fn unindex_recursive(&mut self, prefix: &IpNet, dest: &Dest) {
        if self.recursive_nh.is_empty() {
            return;
        }
        for p in dest.paths.iter() {
            let Some(nh) = p.attrs.next_hop else { continue };
            if let Some(set) = self.recursive_nh.get_mut(&nh) {
                set.remove(prefix);
                if set.is_empty() {
                    self.recursive_nh.remove(&nh);
                }
            }
        }
    }

    fn reevaluate_where(&mut self, affected: impl Fn(IpAddr) -> bool) {
        for family in [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST] {
            let prefixes: Vec<IpNet> = self
                .tables
                .get(family)
                .map(|t| {
                    t.routes
                        .iter()
                        .filter(|(_, d)| {
                            d.paths
                                .iter()
                                .any(|p| p.attrs.next_hop.is_some_and(&affected))
                        })
                        .map(|(p, _)| p)
                        .collect()
                })
                .unwrap_or_default();
            for prefix in prefixes {
                self.update_dest(family, prefix, Change::Reevaluate, true);
            }
        }
    }

    /// Destinations whose next hop resolves through a route that changed are decided again.
    fn revalidate_recursive(&mut self) {
        for _ in 0..MAX_RECURSION_ROUNDS {
            if self.changed_prefixes.is_empty() || self.recursive_nh.is_empty() {
                break;
            }
            let changed = std::mem::take(&mut self.changed_prefixes);
            let mut affected = BTreeSet::new();
            for (nh, dests) in &self.recursive_nh {
                let max = if nh.is_ipv4() { 32 } else { 128 };
                let covered = (0..=max).any(|len| {
                    IpNet::new(*nh, len)
                        .map(|n| changed.contains(&n.trunc()))
                        .unwrap_or(false)
                });
                if covered {
                    affected.extend(dests.iter().copied());
                }
            }
            for prefix in affected {
                self.update_dest(family_of(&prefix), prefix, Change::Reevaluate, true);
            }
        }
        self.changed_prefixes.clear();
    }
}

fn view(prefix: &IpNet, dest: &Dest) -> Option<RouteView> {
    dest.best()?;
    Some(RouteView {
        prefix: *prefix,
        paths: dest
            .selected()
            .iter()
            .map(|p| RoutePath {
                source: p.source(),
                attrs: Arc::clone(&p.attrs),
            })
            .collect(),
    })
}
