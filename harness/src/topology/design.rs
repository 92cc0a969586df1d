//! Sessions, policies and routing settings each Calico design implies (see
//! `/work/shared/reference/calico-designs.md` §1.5–1.6 and `topologies/README.md`).
//!
//! Who dials: the lower tier (node < RR < ToR < spine < external) connects, the higher tier is
//! `passive`; between equals side `b` is passive. Exactly one side dials, so no collision
//! resolution (RFC 4271 §6.8) is ever needed.
//!
//! | design, pair            | lower side exports | upper side exports                  | notes |
//! |-------------------------|--------------------|-------------------------------------|-------|
//! | rack, node–ToR (iBGP)   | Originated         | All, rr_client, next_hop_self       | ToR reflects (RFC 4456); next-hop-self because /31 links make the originator's address unreachable to other nodes |
//! | rack, node–RR (iBGP)    | Originated         | All, rr_client                      | multihop, loopback to loopback, via the ToR |
//! | rack, RR–ToR (iBGP)     | All, rr_client     | All, next_hop_self                  | the ToR is the RR's client; multihop loopbacks |
//! | server, node–ToR (eBGP) | Originated         | All                                 | multipath_relax everywhere |
//! | downward, node–ToR      | Originated         | DefaultOnly + default_originate     | |
//! | any, ToR–spine (eBGP)   | All                | All (downward: DefaultOnly + default_originate) | |
//! | any, spine–external     | All                | All                                 | |
//! | anything else           | All (Originated for nodes) | All (Originated for nodes)  | plain iBGP/eBGP by ASN |
//!
//! Nodes never export what they learned (Calico's BIRD export filter; RFC 4271 §9.2 forbids
//! passing iBGP routes to iBGP peers anyway). Every side imports everything.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use super::plan::{
    Design, ExportPolicy, ImportPolicy, LinkId, LinkPlan, NodeId, NodePlan, Role, RoutingPolicy,
    SessionPlan, SessionSide, StaticNextHop, StaticRoute,
};

fn tier(role: Role) -> u8 {
    match role {
        Role::Node => 0,
        Role::RouteReflector => 1,
        Role::Tor => 2,
        Role::Spine => 3,
        Role::External => 4,
    }
}

/// Racks whose route reflectors are RR nodes (the ToRs of other racks reflect).
pub(crate) fn rr_racks(nodes: &[NodePlan]) -> BTreeSet<u32> {
    nodes
        .iter()
        .filter(|n| n.role == Role::RouteReflector)
        .filter_map(|n| n.rack)
        .collect()
}

/// What a side does, before addresses are filled in.
#[derive(Clone, Copy)]
struct Behaviour {
    export: ExportPolicy,
    rr_client: bool,
    next_hop_self: bool,
    default_originate: bool,
}

fn plain(n: &NodePlan) -> Behaviour {
    Behaviour {
        export: if n.role == Role::Node {
            ExportPolicy::Originated
        } else {
            ExportPolicy::All
        },
        rr_client: false,
        next_hop_self: false,
        default_originate: false,
    }
}

/// (upper side, lower side) behaviour for a session between `upper` and `lower`.
fn behaviours(
    design: Design,
    upper: &NodePlan,
    lower: &NodePlan,
    ibgp: bool,
) -> (Behaviour, Behaviour) {
    let mut up = plain(upper);
    let mut low = plain(lower);
    match (upper.role, lower.role) {
        (Role::Tor, Role::Node) => match design {
            Design::AsPerRack if ibgp => {
                up.rr_client = true;
                up.next_hop_self = true;
            }
            Design::DownwardDefault => {
                up.export = ExportPolicy::DefaultOnly;
                up.default_originate = true;
            }
            _ => {}
        },
        (Role::RouteReflector, Role::Node) if ibgp => up.rr_client = true,
        (Role::Tor, Role::RouteReflector) if ibgp => {
            low.rr_client = true;
            up.next_hop_self = true;
        }
        (Role::Spine, Role::Tor) if design == Design::DownwardDefault => {
            up.export = ExportPolicy::DefaultOnly;
            up.default_originate = true;
        }
        _ => {}
    }
    (up, low)
}

/// A side of a session from its behaviour and addresses.
fn side(
    me: &NodePlan,
    local: IpAddr,
    peer: &NodePlan,
    peer_addr: IpAddr,
    ifname: &str,
    b: Behaviour,
    passive: bool,
) -> SessionSide {
    SessionSide {
        node: me.id.clone(),
        local_addr: local,
        local_as: me.asn,
        peer_addr,
        peer_as: peer.asn,
        ifname: ifname.to_string(),
        rr_client: b.rr_client,
        next_hop_self: b.next_hop_self,
        export: b.export,
        import: ImportPolicy::All,
        default_originate: b.default_originate,
        allowas_in: 0,
        passive,
    }
}

/// Build a session between nodes `x` (session side a) and `y` (side b).
#[expect(
    clippy::too_many_arguments,
    reason = "two ends of a session, each node + address + interface; a struct would only rename them"
)]
fn session(
    design: Design,
    link: LinkId,
    multihop: bool,
    x: &NodePlan,
    x_addr: IpAddr,
    x_if: &str,
    y: &NodePlan,
    y_addr: IpAddr,
    y_if: &str,
) -> SessionPlan {
    let ibgp = x.asn == y.asn;
    // Between equals side b is the upper (passive) one.
    let x_upper = tier(x.role) > tier(y.role);
    let (upper, lower) = if x_upper { (x, y) } else { (y, x) };
    let (bu, bl) = behaviours(design, upper, lower, ibgp);
    let (bx, by) = if x_upper { (bu, bl) } else { (bl, bu) };
    SessionPlan {
        link,
        ibgp,
        multihop,
        a: side(x, x_addr, y, y_addr, x_if, bx, x_upper),
        b: side(y, y_addr, x, x_addr, y_if, by, !x_upper),
    }
}

/// All sessions of the fabric: one per link, except inside RR racks where ToR–node links carry
/// no session and nodes peer with the rack's RRs over loopbacks instead.
pub(crate) fn sessions(design: Design, nodes: &[NodePlan], links: &[LinkPlan]) -> Vec<SessionPlan> {
    let by_id: BTreeMap<&NodeId, &NodePlan> = nodes.iter().map(|n| (&n.id, n)).collect();
    let rr_racks = rr_racks(nodes);
    let in_rr_rack = |n: &NodePlan| n.rack.is_some_and(|r| rr_racks.contains(&r));
    let mut out = Vec::new();
    for l in links {
        let (Some(a), Some(b)) = (by_id.get(&l.a.node), by_id.get(&l.b.node)) else {
            continue;
        };
        let roles = [a.role, b.role];
        let rr_rack_link = in_rr_rack(a) && in_rr_rack(b) && a.rack == b.rack;
        if rr_rack_link && roles.contains(&Role::Tor) && roles.contains(&Role::Node) {
            continue;
        }
        if rr_rack_link && roles.contains(&Role::Tor) && roles.contains(&Role::RouteReflector) {
            out.push(session(
                design,
                l.id,
                true,
                a,
                IpAddr::V4(a.loopback_v4),
                &l.a.ifname,
                b,
                IpAddr::V4(b.loopback_v4),
                &l.b.ifname,
            ));
            continue;
        }
        out.push(session(
            design,
            l.id,
            false,
            a,
            IpAddr::V4(l.a.v4.addr()),
            &l.a.ifname,
            b,
            IpAddr::V4(l.b.v4.addr()),
            &l.b.ifname,
        ));
    }
    // Node ↔ RR sessions, first hop over the node's first uplink to a ToR of its rack.
    for rack in &rr_racks {
        let members: Vec<&NodePlan> = nodes.iter().filter(|n| n.rack == Some(*rack)).collect();
        let first_uplink = |n: &NodePlan| -> Option<(LinkId, String)> {
            links.iter().find_map(|l| {
                let (me, far) = l.ends_from(&n.id)?;
                let far_node = by_id.get(&far.node)?;
                (far_node.role == Role::Tor && far_node.rack == Some(*rack))
                    .then(|| (l.id, me.ifname.clone()))
            })
        };
        for node in members.iter().filter(|n| n.role == Role::Node) {
            let Some((link, node_if)) = first_uplink(node) else {
                continue;
            };
            for rr in members.iter().filter(|n| n.role == Role::RouteReflector) {
                let rr_if = first_uplink(rr).map(|(_, i)| i).unwrap_or_default();
                out.push(session(
                    design,
                    link,
                    true,
                    node,
                    IpAddr::V4(node.loopback_v4),
                    &node_if,
                    rr,
                    IpAddr::V4(rr.loopback_v4),
                    &rr_if,
                ));
            }
        }
    }
    out
}

/// Routing settings per node: ECMP everywhere, multipath-relax where equal-length paths come
/// from different neighbour ASes, cluster id on every route reflector (RFC 4456 §7).
pub(crate) fn routing(
    design: Design,
    max_paths: u8,
    nodes: &[NodePlan],
    sessions: &[SessionPlan],
) -> Vec<RoutingPolicy> {
    // One pass over the sessions: eBGP peer ASes and whether the node reflects.
    let mut seen: BTreeMap<&NodeId, (BTreeSet<u32>, bool)> = BTreeMap::new();
    for s in sessions {
        for (me, peer) in [(&s.a, &s.b), (&s.b, &s.a)] {
            let e = seen.entry(&me.node).or_default();
            e.1 |= me.rr_client;
            if !s.ibgp {
                e.0.insert(peer.local_as.0);
            }
        }
    }
    nodes
        .iter()
        .map(|n| {
            let (ebgp_peer_as, reflects) = seen
                .get(&n.id)
                .map(|(a, r)| (a.len(), *r))
                .unwrap_or((0, false));
            let multipath_relax = match (design, n.role) {
                (_, Role::External) => false,
                (Design::AsPerServer, _) => true,
                // ToRs see the same prefix from spines in different ASes (per-spine ASNs).
                (_, Role::Tor) => ebgp_peer_as > 1,
                _ => false,
            };
            RoutingPolicy {
                max_paths,
                multipath_relax,
                cluster_id: reflects.then_some(n.loopback_v4),
            }
        })
        .collect()
}

/// Static routes for RR racks: each ToR reaches every rack member's loopback over their link;
/// each member reaches the ToRs' loopbacks directly and the other members' loopbacks through
/// all of the rack's ToRs (ECMP). That is what one shared rack segment would give.
pub(crate) fn static_routes(nodes: &[NodePlan], links: &[LinkPlan]) -> Vec<StaticRoute> {
    let mut out = Vec::new();
    let by_id: BTreeMap<&NodeId, &NodePlan> = nodes.iter().map(|n| (&n.id, n)).collect();
    // (from, to) -> (from's interface, to's address) for every link.
    let mut adj: BTreeMap<(&NodeId, &NodeId), (&str, Ipv4Addr)> = BTreeMap::new();
    for l in links {
        adj.entry((&l.a.node, &l.b.node))
            .or_insert((&l.a.ifname, l.b.v4.addr()));
        adj.entry((&l.b.node, &l.a.node))
            .or_insert((&l.b.ifname, l.a.v4.addr()));
    }
    for rack in rr_racks(nodes) {
        let tors: Vec<&NodePlan> = nodes
            .iter()
            .filter(|n| n.rack == Some(rack) && n.role == Role::Tor)
            .collect();
        let members: Vec<&NodePlan> = nodes
            .iter()
            .filter(|n| n.rack == Some(rack) && matches!(n.role, Role::Node | Role::RouteReflector))
            .collect();
        let hop = |from: &NodeId, to: &NodeId| -> Option<StaticNextHop> {
            let (ifname, via) = adj.get(&(from, to))?;
            Some(StaticNextHop {
                via: *via,
                ifname: ifname.to_string(),
            })
        };
        let host = |a: Ipv4Addr| ipnet::Ipv4Net::new(a, 32).unwrap_or_default();
        for t in &tors {
            for m in &members {
                if let Some(h) = hop(&t.id, &m.id) {
                    out.push(StaticRoute {
                        node: t.id.clone(),
                        prefix: host(m.loopback_v4),
                        nexthops: vec![h],
                    });
                }
            }
        }
        for m in &members {
            for t in &tors {
                if let Some(h) = hop(&m.id, &t.id) {
                    out.push(StaticRoute {
                        node: m.id.clone(),
                        prefix: host(t.loopback_v4),
                        nexthops: vec![h],
                    });
                }
            }
            let via_tors: Vec<StaticNextHop> =
                tors.iter().filter_map(|t| hop(&m.id, &t.id)).collect();
            if via_tors.is_empty() {
                continue;
            }
            for other in &members {
                if other.id != m.id && by_id.contains_key(&other.id) {
                    out.push(StaticRoute {
                        node: m.id.clone(),
                        prefix: host(other.loopback_v4),
                        nexthops: via_tors.clone(),
                    });
                }
            }
        }
    }
    out
}
