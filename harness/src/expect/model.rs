//! The expected-FIB model: a path-vector simulation of BGP over the plan, independent of every
//! speaker implementation, run to a fixed point; its result is what each node's kernel FIB must
//! hold.
//!
//! # Data flow
//!
//! [`Plan`] → `Context` (per node: addresses, connected subnets, static routes, pods, originated
//! prefixes; per session end: its configuration) → rounds of
//! *decide* (Adj-RIBs-In → Loc-RIB per node) and *advertise* (Loc-RIB → Adj-RIB-Out per session
//! end = the peer's next Adj-RIB-In), until no Adj-RIB-In changes → FIBs.
//!
//! Rounds are synchronous: every node decides from the previous round's Adj-RIBs-In, then every
//! session end advertises from those Loc-RIBs. Nodes and sessions are visited in plan order and
//! every map is ordered, so the result is a pure function of the plan. A bound of
//! `4 × nodes + 16` rounds stops a plan that never settles ([`Simulation::converged`] is then
//! false); shortest-AS-path BGP without MED or IGP costs settles in about the fabric's diameter.
//!
//! # What is modelled (RFC 4271 unless noted)
//!
//! - **Origination.** Each node originates its `blocks` and `originates` with an empty AS_PATH,
//!   LOCAL_PREF 100, ORIGIN IGP. A session end with `default_originate` sends `0.0.0.0/0` to its
//!   peer whatever its own RIB holds (FRR `default-originate`); nothing is installed for it on the
//!   sender.
//! - **Export policy** of the sending end: `All` = the Loc-RIB as BGP rules allow (§9.2);
//!   `Originated` = locally originated prefixes only; `DefaultOnly` = only the default route (from
//!   the Loc-RIB, or from `default_originate`). Only the best path of a prefix is advertised (no
//!   ADD-PATH), and never back over the session it was learned on.
//! - **eBGP** (§5.1.2-5.1.3): prepend the session's `local_as`, NEXT_HOP = the sender's session
//!   address, LOCAL_PREF/ORIGINATOR_ID/CLUSTER_LIST dropped.
//! - **iBGP** (§5.1.3, §9.2): AS_PATH unchanged; NEXT_HOP unchanged unless the route is locally
//!   originated or the end has `next_hop_self` (which applies to reflected routes too: the plan's
//!   next-hop-self is FRR's `next-hop-self force` / BIRD's `next hop self`). iBGP-learned routes
//!   reach other iBGP peers only by reflection (RFC 4456 §6): from a client → every other iBGP
//!   peer; from a non-client → clients only; eBGP-learned and local routes → every iBGP peer.
//!   Reflection sets ORIGINATOR_ID (if absent) to the sender's router id and prepends the
//!   reflector's CLUSTER_ID (`cluster_id`, default the router id) (RFC 4456 §8).
//! - **Import** on the receiving end, in this order: `DefaultOnly` import keeps only the default;
//!   AS-path loop detection against the end's `local_as`, tolerating `allowas_in` occurrences
//!   (§9.1.2); on iBGP, ORIGINATOR_ID equal to our router id or our CLUSTER_ID in CLUSTER_LIST
//!   (RFC 4456 §8); a NEXT_HOP that is one of our own addresses (§6.3); a NEXT_HOP that does not
//!   resolve (§9.1.2.1). Rejected paths are kept with their [`RejectReason`] for explanations.
//! - **Next-hop resolution.** A NEXT_HOP resolves if it lies in one of the node's connected link
//!   subnets (the point-to-point /31s): the kernel route then goes `via NH dev <our end>`. Else
//!   the most specific of the plan's static routes for the node covering it lends its next hops
//!   (recursive resolution: how route-reflector nodes' loopback next hops are installed). BGP
//!   routes and default routes never resolve a next hop, so with a fabric that does not
//!   advertise link subnets, an iBGP route whose NEXT_HOP is a far link address is unusable.
//!   This is what makes "AS per rack without next-hop-self on the ToR" fail: nodes receive other
//!   racks' routes with the spine's link address as NEXT_HOP and install nothing.
//! - **Decision** (§9.1.2.2, simplified to what a plan can express): locally originated wins
//!   outright (a node's own blocks are blackholed, never learned from others); then higher
//!   LOCAL_PREF (always 100 here), shorter AS_PATH, eBGP over iBGP. ORIGIN is always IGP, MED is
//!   never set, and the IGP cost to every resolvable next hop is equal, so those steps never
//!   decide. The single best path is then the lowest ORIGINATOR_ID-or-router-id (RFC 4456 §9),
//!   shorter CLUSTER_LIST, lowest peer address. FRR by default prefers the *oldest* of otherwise
//!   equal eBGP paths instead of the lowest router id; that only matters where `max_paths` cuts
//!   the multipath set, and only for which next hop is chosen, not whether a route exists.
//! - **Multipath** (BIRD `merge paths`, FRR `maximum-paths`): ECMP among the paths that tie the
//!   best one through the IGP-cost step, i.e. ignoring router-id, cluster-list and peer-address
//!   tie-breaks, up to `max_paths` (0 counts as 1) taken in ranking order. Without
//!   `multipath_relax`, two iBGP paths must have identical AS_PATHs and two eBGP paths the same
//!   neighbouring AS (FRR's rule; in these fabrics it coincides with "identical AS_PATH"); with
//!   it, equal length suffices (FRR `bgp bestpath as-path multipath-relax`; BIRD always behaves
//!   like this, so a BIRD node's plan should set `multipath_relax` where paths differ in
//!   neighbouring AS). Next hops of the set are merged (duplicates collapse).
//!
//! # The expected FIB of a node
//!
//! - each learned prefix: `unicast` over the multipath set's resolved next hops;
//! - each originated prefix (blocks and `originates`): `blackhole` (Calico's BIRD template; the
//!   speakers are expected to originate `originates` the same way, from a discard route);
//! - each of the plan's static routes for the node, as installed by the lab;
//! - each pod hosted on the node: `pod/32 dev <host_ifname>` (no gateway);
//! - never connected or local routes: the kernel owns them and the reader skips them.
//!
//! Pod and static routes take precedence over a BGP route for the very same prefix (a note is
//! recorded: a design should never produce that). Only IPv4 unicast is modelled so far; see
//! `context.rs` for where IPv6 goes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use fabric_bgp_wire::Asn;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::context::Context;
use super::decision::{self, LocRib, Selected};
use super::export;
use crate::fib::{FibRoute, FibSummary, NextHop, NodeFib, RouteKind};
use crate::topology::{NodeId, Plan};

/// Every node's expected FIB.
pub type ExpectedFibs = BTreeMap<NodeId, NodeFib>;

/// The BGP path attributes the model carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathAttrs {
    /// AS_PATH as one AS_SEQUENCE, nearest AS first.
    pub as_path: Vec<Asn>,
    pub next_hop: IpAddr,
    pub local_pref: u32,
    /// RFC 4456 ORIGINATOR_ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originator_id: Option<Ipv4Addr>,
    /// RFC 4456 CLUSTER_LIST, most recent reflector first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_list: Vec<Ipv4Addr>,
}

impl fmt::Display for PathAttrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("as-path [")?;
        for (i, a) in self.as_path.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        write!(f, "] next-hop {}", self.next_hop)?;
        if let Some(o) = self.originator_id {
            write!(f, " originator {o}")?;
        }
        if !self.cluster_list.is_empty() {
            f.write_str(" cluster-list [")?;
            for (i, c) in self.cluster_list.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// Why a received path was not used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum RejectReason {
    /// The receiving end imports only the default route.
    ImportPolicy,
    /// RFC 4271 §9.1.2: the local AS appears `count` times, more than allowas-in permits.
    AsLoop { asn: Asn, count: usize, allowed: u8 },
    /// RFC 4456 §8: ORIGINATOR_ID is our own router id.
    OriginatorIsSelf,
    /// RFC 4456 §8: our CLUSTER_ID is in CLUSTER_LIST.
    ClusterLoop { cluster_id: Ipv4Addr },
    /// RFC 4271 §6.3: NEXT_HOP is one of our own addresses.
    NextHopIsSelf { next_hop: IpAddr },
    /// RFC 4271 §9.1.2.1: NEXT_HOP is neither on a connected link nor covered by a static route.
    NextHopUnresolvable { next_hop: IpAddr },
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::ImportPolicy => {
                f.write_str("import policy accepts only the default route")
            }
            RejectReason::AsLoop {
                asn,
                count,
                allowed,
            } => write!(
                f,
                "AS-path loop: own AS {asn} appears {count} time(s), allowas-in {allowed}"
            ),
            RejectReason::OriginatorIsSelf => f.write_str("ORIGINATOR_ID is our own router id"),
            RejectReason::ClusterLoop { cluster_id } => {
                write!(f, "own cluster id {cluster_id} in CLUSTER_LIST")
            }
            RejectReason::NextHopIsSelf { next_hop } => {
                write!(f, "next hop {next_hop} is our own address")
            }
            RejectReason::NextHopUnresolvable { next_hop } => write!(
                f,
                "next hop {next_hop} unresolvable (not on a connected link, no static route)"
            ),
        }
    }
}

/// A received path the node could not use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub prefix: IpNet,
    /// The neighbour it came from.
    pub from: NodeId,
    pub attrs: PathAttrs,
    pub reason: RejectReason,
}

/// One path of a Loc-RIB multipath set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedPath {
    /// The neighbour it came from.
    pub from: NodeId,
    pub ibgp: bool,
    pub attrs: PathAttrs,
    /// Kernel next hops it resolves to.
    pub nexthops: BTreeSet<NextHop>,
}

/// A node's Loc-RIB entry for one prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "origin", rename_all = "kebab-case")]
pub enum RibEntry {
    /// Originated by this node.
    Local,
    /// Learned: the multipath set, best path first.
    Learned { paths: Vec<SelectedPath> },
}

/// Everything the simulation concluded about one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeResult {
    pub fib: NodeFib,
    /// The Loc-RIB at the fixed point.
    pub rib: BTreeMap<IpNet, RibEntry>,
    /// Received paths that were not eligible, in prefix order.
    pub rejected: Vec<Rejection>,
    /// FIB assembly remarks (a BGP route shadowed by a pod or static route).
    pub notes: Vec<String>,
}

/// The whole simulation outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Simulation {
    /// False if the round bound was hit before a fixed point.
    pub converged: bool,
    /// Rounds run (the last one confirmed the fixed point when `converged`).
    pub rounds: usize,
    pub nodes: BTreeMap<NodeId, NodeResult>,
    /// Plan inconsistencies the model skipped over.
    pub warnings: Vec<String>,
}

impl Simulation {
    /// The expected FIBs alone.
    pub fn fibs(&self) -> ExpectedFibs {
        self.nodes
            .iter()
            .map(|(id, r)| (id.clone(), r.fib.clone()))
            .collect()
    }

    /// The expected FIBs alone, without copying them.
    pub fn into_fibs(self) -> ExpectedFibs {
        self.nodes.into_iter().map(|(id, r)| (id, r.fib)).collect()
    }

    /// Why `node` holds no usable path for `prefix` from some neighbour (empty if nothing was
    /// rejected).
    pub fn rejections_for<'a>(
        &'a self,
        node: &NodeId,
        prefix: &'a IpNet,
    ) -> impl Iterator<Item = &'a Rejection> + 'a {
        self.nodes
            .get(node)
            .into_iter()
            .flat_map(|r| r.rejected.iter())
            .filter(move |r| &r.prefix == prefix)
    }
}

/// Every node's expected FIB under the plan's design (IPv4 unicast).
pub fn expected_fibs(plan: &Plan) -> ExpectedFibs {
    simulate(plan).into_fibs()
}

/// Route counts per node.
pub fn summaries(fibs: &ExpectedFibs) -> BTreeMap<NodeId, FibSummary> {
    fibs.iter()
        .map(|(id, fib)| (id.clone(), fib.summary()))
        .collect()
}

/// Adj-RIBs-In, indexed like `Context::sides`: what each session end has received.
type AdjIn = Vec<BTreeMap<IpNet, PathAttrs>>;

/// Runs the simulation to its fixed point (see the module docs).
pub fn simulate(plan: &Plan) -> Simulation {
    let ctx = Context::ipv4(plan);
    let max_rounds = 4 * ctx.nodes.len() + 16;
    let mut adj_in: AdjIn = vec![BTreeMap::new(); ctx.sides.len()];
    let mut converged = false;
    let mut rounds = 0;
    while rounds < max_rounds {
        rounds += 1;
        let next: AdjIn = {
            let locs: Vec<LocRib<'_>> = (0..ctx.nodes.len())
                .map(|n| decide(&ctx, n, &adj_in).0)
                .collect();
            // Side i's Adj-RIB-In is what its far end advertises.
            ctx.sides
                .iter()
                .map(|s| export::advertise(&ctx, s.reverse, &locs))
                .collect()
        };
        if next == adj_in {
            converged = true;
            break;
        }
        adj_in = next;
    }

    let mut nodes = BTreeMap::new();
    for (i, n) in ctx.nodes.iter().enumerate() {
        let (loc, rejected) = decide(&ctx, i, &adj_in);
        nodes.insert(n.plan.id.clone(), node_result(&ctx, i, &loc, rejected));
    }
    Simulation {
        converged,
        rounds,
        nodes,
        warnings: ctx.warnings.clone(),
    }
}

/// Phase 1 and 2 of the decision process for node `n`: eligibility of every received path,
/// then selection per prefix.
fn decide<'a>(ctx: &Context<'_>, n: usize, adj_in: &'a AdjIn) -> (LocRib<'a>, Vec<Rejection>) {
    let mut loc = LocRib::new();
    let mut rejected = Vec::new();
    let Some(node) = ctx.node(n) else {
        return (loc, rejected);
    };
    for p in &node.originated {
        loc.insert(*p, Selected::Local);
    }
    let mut candidates: BTreeMap<IpNet, Vec<decision::Candidate<'a>>> = BTreeMap::new();
    for &si in &node.sides {
        let (Some(side), Some(received)) = (ctx.side(si), adj_in.get(si)) else {
            continue;
        };
        for (prefix, attrs) in received {
            match decision::check(ctx, node, side, prefix, attrs) {
                Ok(()) => candidates
                    .entry(*prefix)
                    .or_default()
                    .push(decision::candidate(ctx, si, side, attrs)),
                Err(reason) => rejected.push(Rejection {
                    prefix: *prefix,
                    from: ctx
                        .node(side.peer)
                        .map(|p| p.plan.id.clone())
                        .unwrap_or_else(|| "?".into()),
                    attrs: attrs.clone(),
                    reason,
                }),
            }
        }
    }
    let routing = node.plan.routing;
    for (prefix, cands) in candidates {
        if loc.contains_key(&prefix) {
            continue;
        }
        if let Some(sel) = decision::select(cands, routing.max_paths, routing.multipath_relax) {
            loc.insert(prefix, sel);
        }
    }
    rejected.sort_by(|a, b| a.prefix.cmp(&b.prefix).then_with(|| a.from.cmp(&b.from)));
    (loc, rejected)
}

fn node_result(
    ctx: &Context<'_>,
    n: usize,
    loc: &LocRib<'_>,
    rejected: Vec<Rejection>,
) -> NodeResult {
    let node = ctx.node(n);
    let resolve = |nh| node.and_then(|node| node.resolve(nh)).unwrap_or_default();
    let mut fib = NodeFib::new();
    let mut rib = BTreeMap::new();
    let mut notes = Vec::new();
    let peer_name = |side: usize| {
        ctx.side(side)
            .and_then(|s| ctx.node(s.peer))
            .map(|p| p.plan.id.clone())
            .unwrap_or_else(|| "?".into())
    };
    for (prefix, sel) in loc {
        match sel {
            Selected::Local => {
                rib.insert(*prefix, RibEntry::Local);
                fib.insert(FibRoute::new(*prefix, RouteKind::Blackhole));
            }
            Selected::Learned(paths) => {
                // Every selected path passed the resolvability check, so `resolve` finds its
                // next hops (an empty set would only show a bug, as a route without next hop).
                let paths: Vec<SelectedPath> = paths
                    .iter()
                    .map(|c| SelectedPath {
                        from: peer_name(c.side),
                        ibgp: c.ibgp,
                        attrs: c.attrs.clone(),
                        nexthops: resolve(c.attrs.next_hop),
                    })
                    .collect();
                let nexthops: BTreeSet<NextHop> = paths
                    .iter()
                    .flat_map(|p| p.nexthops.iter().cloned())
                    .collect();
                fib.insert(FibRoute::new(*prefix, RouteKind::Unicast { nexthops }));
                rib.insert(*prefix, RibEntry::Learned { paths });
            }
        }
    }
    if let Some(node) = node {
        for (prefix, hops) in &node.statics {
            let route = FibRoute::new(
                *prefix,
                RouteKind::Unicast {
                    nexthops: hops.clone(),
                },
            );
            if let Some(old) = fib.insert(route) {
                notes.push(format!(
                    "static route {prefix} shadows the BGP route ({})",
                    old.kind
                ));
            }
        }
        for (prefix, ifname) in &node.pods {
            let route = FibRoute::new(*prefix, RouteKind::unicast([NextHop::dev(ifname.clone())]));
            if let Some(old) = fib.insert(route) {
                notes.push(format!("pod route {prefix} shadows {}", old.kind));
            }
        }
    }
    NodeResult {
        fib,
        rib,
        rejected,
        notes,
    }
}
