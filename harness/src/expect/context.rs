//! The plan, indexed for the simulation: per node its addresses, connected subnets, static
//! routes and originated prefixes; per session end its configuration and its reverse end.
//!
//! This is the one place that knows how a plan maps to one address family. Only IPv4 unicast is
//! built ([`Context::ipv4`]); IPv6 slots in as a second constructor reading `blocks_v6`, the
//! endpoints' `v6` addresses and `pod.v6`, once the plan says which next hop a session carries
//! for IPv6 (the simulation itself is written over `IpNet`/`IpAddr`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

use crate::fib::NextHop;
use crate::topology::{NodeId, NodePlan, Plan, SessionSide};

/// One node as the simulation sees it.
#[derive(Debug)]
pub(crate) struct NodeCtx<'p> {
    pub plan: &'p NodePlan,
    /// RFC 4456 §7: CLUSTER_ID, the router id unless configured.
    pub cluster_id: Ipv4Addr,
    /// Every address of the node: link ends, loopback, session local addresses.
    pub own_addrs: BTreeSet<IpAddr>,
    /// Connected subnets: (subnet, interface) of each link end.
    pub connected: Vec<(IpNet, String)>,
    /// Static routes installed by the lab, by prefix.
    pub statics: BTreeMap<IpNet, BTreeSet<NextHop>>,
    /// Pod host routes: pod address (as a host prefix) → host-side interface.
    pub pods: BTreeMap<IpNet, String>,
    /// Prefixes the node originates (its blocks and `originates`).
    pub originated: BTreeSet<IpNet>,
    /// Indices into [`Context::sides`] of the session ends this node holds, in plan order.
    pub sides: Vec<usize>,
}

/// One end of a session: what `me` does on it.
#[derive(Debug)]
pub(crate) struct SideCtx<'p> {
    /// Node index of this end.
    pub me: usize,
    /// Node index of the far end.
    pub peer: usize,
    /// This end's configuration.
    pub mine: &'p SessionSide,
    pub ibgp: bool,
    /// Index of the far end's [`SideCtx`].
    pub reverse: usize,
}

/// The indexed plan for one address family.
#[derive(Debug)]
pub(crate) struct Context<'p> {
    pub nodes: Vec<NodeCtx<'p>>,
    pub sides: Vec<SideCtx<'p>>,
    /// The family's default route.
    pub default_route: IpNet,
    /// Inconsistencies found in the plan (sessions naming unknown nodes, ...).
    pub warnings: Vec<String>,
}

impl<'p> Context<'p> {
    /// IPv4 unicast.
    pub fn ipv4(plan: &'p Plan) -> Self {
        let index: BTreeMap<&NodeId, usize> = plan
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (&n.id, i))
            .collect();
        let mut warnings = Vec::new();
        let mut nodes: Vec<NodeCtx<'p>> = plan
            .nodes
            .iter()
            .map(|n| {
                let mut own_addrs: BTreeSet<IpAddr> = BTreeSet::new();
                own_addrs.insert(IpAddr::V4(n.loopback_v4));
                let mut connected = Vec::new();
                for (mine, _far, _link) in plan.links_of(&n.id) {
                    own_addrs.insert(IpAddr::V4(mine.v4.addr()));
                    connected.push((IpNet::V4(mine.v4.trunc()), mine.ifname.clone()));
                }
                let originated = n
                    .blocks
                    .iter()
                    .chain(n.originates.iter())
                    .map(|p: &Ipv4Net| IpNet::V4(p.trunc()))
                    .collect();
                let pods = plan
                    .pods_of(&n.id)
                    .map(|p| (IpNet::V4(Ipv4Net::from(p.v4)), p.host_ifname.clone()))
                    .collect();
                NodeCtx {
                    plan: n,
                    cluster_id: n.routing.cluster_id.unwrap_or(n.router_id.0),
                    own_addrs,
                    connected,
                    statics: BTreeMap::new(),
                    pods,
                    originated,
                    sides: Vec::new(),
                }
            })
            .collect();

        for s in &plan.static_routes {
            let Some(node) = index.get(&s.node).and_then(|&i| nodes.get_mut(i)) else {
                warnings.push(format!(
                    "static route {} on unknown node {}",
                    s.prefix, s.node
                ));
                continue;
            };
            let hops = s
                .nexthops
                .iter()
                .map(|h| NextHop::via(IpAddr::V4(h.via), h.ifname.clone()));
            node.statics
                .entry(IpNet::V4(s.prefix.trunc()))
                .or_default()
                .extend(hops);
        }

        let mut sides = Vec::new();
        for s in &plan.sessions {
            let (Some(&a), Some(&b)) = (index.get(&s.a.node), index.get(&s.b.node)) else {
                warnings.push(format!(
                    "session over {} between {} and {} names an unknown node; ignored",
                    s.link, s.a.node, s.b.node
                ));
                continue;
            };
            if a == b {
                warnings.push(format!(
                    "session over {} has {} on both ends; ignored",
                    s.link, s.a.node
                ));
                continue;
            }
            // Ends are pushed in pairs, so an end's reverse is its index with the low bit flipped.
            let ia = sides.len();
            let ib = ia + 1;
            for (i, me, peer, mine, reverse) in [(ia, a, b, &s.a, ib), (ib, b, a, &s.b, ia)] {
                sides.push(SideCtx {
                    me,
                    peer,
                    mine,
                    ibgp: s.ibgp,
                    reverse,
                });
                if let Some(n) = nodes.get_mut(me) {
                    n.sides.push(i);
                    n.own_addrs.insert(mine.local_addr);
                }
            }
        }

        Context {
            nodes,
            sides,
            default_route: IpNet::V4(Ipv4Net::default()),
            warnings,
        }
    }

    /// The node at `i` (indices come from this context, so a miss is a bug; callers skip it).
    pub fn node(&self, i: usize) -> Option<&NodeCtx<'p>> {
        self.nodes.get(i)
    }

    pub fn side(&self, i: usize) -> Option<&SideCtx<'p>> {
        self.sides.get(i)
    }
}

impl NodeCtx<'_> {
    /// Resolves a BGP NEXT_HOP to the kernel next hops a route through it gets (RFC 4271
    /// §9.1.2.1 "route resolvability"): a next hop inside a connected subnet is used as is on
    /// that interface; otherwise the most specific static route covering it lends its next hops
    /// (recursive resolution, as BIRD `gateway recursive` and FRR's nexthop tracking install
    /// it). BGP routes and the default route never resolve a next hop. `None` = unresolvable.
    pub fn resolve(&self, nh: IpAddr) -> Option<BTreeSet<NextHop>> {
        if self.own_addrs.contains(&nh) {
            return None;
        }
        if let Some((_, ifname)) = self.connected.iter().find(|(net, _)| net.contains(&nh)) {
            return Some(std::iter::once(NextHop::via(nh, ifname.clone())).collect());
        }
        self.statics
            .iter()
            .filter(|(net, hops)| net.prefix_len() > 0 && net.contains(&nh) && !hops.is_empty())
            .max_by_key(|(net, _)| net.prefix_len())
            .map(|(_, hops)| hops.clone())
    }

    /// Whether [`NodeCtx::resolve`] would succeed, without building the next-hop set.
    pub fn resolvable(&self, nh: IpAddr) -> bool {
        !self.own_addrs.contains(&nh)
            && (self.connected.iter().any(|(net, _)| net.contains(&nh))
                || self.statics.iter().any(|(net, hops)| {
                    net.prefix_len() > 0 && net.contains(&nh) && !hops.is_empty()
                }))
    }
}
