//! FIB and wire invariants every design must hold (calico-designs.md, "Invariants a harness can
//! assert"): the FIB equals the model, blackholes exist exactly for a node's own blocks, a ToR
//! holds as many routes as its design implies, and a node only ever announces its own blocks
//! (inside the pools, never a default route), each block from exactly one node.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use fabric_bgp_wire::Message;
use ipnet::{IpNet, Ipv4Net};

use super::result::CheckResult;
use crate::capture::WireEvent;
use crate::expect::{diff_all, ExpectedFibs};
use crate::fib::{NodeFib, RouteKind};
use crate::topology::{NodeId, Plan, Role};

/// Every node's FIB equals its expected FIB; details are the readable diff.
pub fn fib_check(expected: &ExpectedFibs, actual: &BTreeMap<NodeId, NodeFib>) -> CheckResult {
    let diffs = diff_all(expected, actual);
    let nodes: BTreeSet<&NodeId> = diffs.iter().map(|d| &d.node).collect();
    CheckResult::from_details(
        "fib",
        if diffs.is_empty() {
            format!("{} FIBs equal the design's expected FIBs", actual.len())
        } else {
            format!(
                "{} differences on {} of {} nodes",
                diffs.len(),
                nodes.len(),
                actual.len()
            )
        },
        diffs.iter().map(|d| d.to_string()).collect(),
    )
}

/// Blackhole routes exist exactly for each node's own blocks (invariant 4) and the prefixes a
/// node originates, and nowhere else.
pub fn blackholes_check(plan: &Plan, actual: &BTreeMap<NodeId, NodeFib>) -> CheckResult {
    let mut details = Vec::new();
    let mut count = 0usize;
    for node in &plan.nodes {
        let Some(fib) = actual.get(&node.id) else {
            continue;
        };
        let have: BTreeSet<IpNet> = fib
            .iter()
            .filter(|r| r.kind == RouteKind::Blackhole)
            .map(|r| r.prefix)
            .collect();
        // Calico blackholes its blocks; an external peer blackholes what it originates.
        let want: BTreeSet<IpNet> = node
            .blocks
            .iter()
            .chain(&node.originates)
            .map(|b| IpNet::V4(*b))
            .collect();
        count += have.len();
        for missing in want.difference(&have) {
            details.push(format!("{}: no blackhole for its block {missing}", node.id));
        }
        for extra in have.difference(&want) {
            details.push(format!(
                "{}: blackhole for {extra}, which it does not own",
                node.id
            ));
        }
    }
    CheckResult::from_details(
        "blackholes",
        format!("{count} blackhole routes, one per owned block"),
        details,
    )
}

/// Each ToR holds the number of routes its design implies (AS per rack and per server: every
/// block; downward default: its rack's blocks plus the default).
pub fn tor_fib_size_check(
    plan: &Plan,
    expected: &ExpectedFibs,
    actual: &BTreeMap<NodeId, NodeFib>,
) -> CheckResult {
    let mut details = Vec::new();
    let mut sizes = BTreeSet::new();
    for tor in plan.nodes.iter().filter(|n| n.role == Role::Tor) {
        let (Some(want), Some(have)) = (expected.get(&tor.id), actual.get(&tor.id)) else {
            continue;
        };
        sizes.insert(want.len());
        if want.len() != have.len() {
            details.push(format!(
                "{}: {} routes, the {} design implies {}",
                tor.id,
                have.len(),
                plan.design,
                want.len()
            ));
        }
    }
    let sizes: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
    CheckResult::from_details(
        "tor-fib-size",
        format!("ToR FIB sizes per design: {}", sizes.join("/")),
        details,
    )
}

/// From the captures: every prefix a node announced lies inside one of its own blocks and is
/// not a default route (invariants 1, 2 and 5), and every block was announced by its owner and
/// by no other node (invariant 3, calico#6486/#6867).
pub fn node_exports_check(plan: &Plan, events: &[WireEvent]) -> CheckResult {
    let mut owner_of_addr: BTreeMap<IpAddr, &NodeId> = BTreeMap::new();
    for node in plan.nodes.iter().filter(|n| n.role == Role::Node) {
        for (mine, _, _) in plan.links_of(&node.id) {
            owner_of_addr.insert(IpAddr::V4(mine.v4.addr()), &node.id);
        }
        // Multihop sessions (route-reflector nodes) run between loopbacks.
        owner_of_addr.insert(IpAddr::V4(node.loopback_v4), &node.id);
    }
    let mut announced: BTreeMap<Ipv4Net, BTreeSet<&NodeId>> = BTreeMap::new();
    let mut details = Vec::new();
    let mut updates = 0usize;
    for ev in events {
        let Some(node) = owner_of_addr.get(&ev.src.ip()) else {
            continue;
        };
        let Some(Message::Update(update)) = ev.message() else {
            continue;
        };
        updates += 1;
        let mut prefixes: Vec<Ipv4Net> = update.nlri.iter().map(|n| n.prefix).collect();
        if let Some(fabric_bgp_wire::attribute::MpNlri::Ipv4(v)) =
            update.attributes.mp_reach.as_ref().map(|r| &r.nlri)
        {
            prefixes.extend(v.iter().map(|n| n.prefix));
        }
        let blocks = plan.node(node).map(|n| n.blocks.as_slice()).unwrap_or(&[]);
        for p in prefixes {
            if p.prefix_len() == 0 {
                details.push(format!("{node} announced a default route {p}"));
            } else if !blocks.iter().any(|b| b.contains(&p)) {
                details.push(format!("{node} announced {p}, outside its own blocks"));
            }
            announced.entry(p).or_default().insert(node);
        }
    }
    for node in plan.nodes.iter().filter(|n| n.role == Role::Node) {
        for b in &node.blocks {
            match announced.get(b) {
                None => details.push(format!("block {b} of {} was never announced", node.id)),
                Some(who) if who.len() > 1 || !who.contains(&node.id) => {
                    let who: Vec<String> = who.iter().map(|n| n.to_string()).collect();
                    details.push(format!(
                        "block {b} of {} announced by {}",
                        node.id,
                        who.join(", ")
                    ));
                }
                Some(_) => {}
            }
        }
    }
    details.sort();
    details.dedup();
    CheckResult::from_details(
        "node-exports",
        format!("{updates} UPDATEs from nodes: only own blocks, one originator per block"),
        details,
    )
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use fabric_bgp_wire::{AsPath, Asn, Ipv4Nlri, Update};

    use super::*;
    use crate::capture::WireBody;
    use crate::fib::{FibRoute, NextHop};
    use crate::topology::{parse, LinkId};

    const FABRIC: &str = "design: as-per-rack\nspines: 1\nracks:\n  - { nodes: 2 }\n  - { nodes: 1 }\npods-per-node: 1\n";

    fn plan() -> Plan {
        parse(FABRIC, "t.yaml").expect("plan")
    }

    fn blackholes(plan: &Plan) -> BTreeMap<NodeId, NodeFib> {
        plan.nodes
            .iter()
            .map(|n| {
                let mut fib = NodeFib::new();
                for b in &n.blocks {
                    fib.insert(FibRoute::new(IpNet::V4(*b), RouteKind::Blackhole));
                }
                (n.id.clone(), fib)
            })
            .collect()
    }

    #[test]
    fn blackholes_exactly_for_owned_blocks() {
        let plan = plan();
        let mut fibs = blackholes(&plan);
        assert!(blackholes_check(&plan, &fibs).passed());
        // A node that blackholes another node's block, and one that lost its own.
        let r1n1 = NodeId::from("r1n1");
        let r1n2 = NodeId::from("r1n2");
        let other = plan.node(&r1n2).expect("r1n2").blocks[0];
        fibs.get_mut(&r1n1)
            .expect("fib")
            .insert(FibRoute::new(IpNet::V4(other), RouteKind::Blackhole));
        fibs.get_mut(&r1n2).expect("fib").remove(&IpNet::V4(other));
        let c = blackholes_check(&plan, &fibs);
        assert!(c.failed());
        assert_eq!(c.details.len(), 2, "{:?}", c.details);
        assert!(c
            .details
            .iter()
            .any(|d| d.starts_with("r1n1: blackhole for")));
        assert!(c
            .details
            .iter()
            .any(|d| d.starts_with("r1n2: no blackhole")));
        // A unicast route is not a blackhole.
        let via = RouteKind::unicast([NextHop::via("10.0.0.1".parse().expect("ip"), "e0")]);
        fibs.get_mut(&r1n2)
            .expect("fib")
            .insert(FibRoute::new(IpNet::V4(other), via));
        assert!(blackholes_check(&plan, &fibs).failed());
    }

    fn update_from(plan: &Plan, node: &str, prefixes: &[Ipv4Net]) -> WireEvent {
        let id = NodeId::from(node);
        let (mine, far, link) = plan.links_of(&id).next().expect("a link");
        let mut update = Update::default();
        update.attributes.as_path = Some(AsPath::from_sequence(vec![Asn(65000)]));
        update.nlri = prefixes.iter().map(|p| Ipv4Nlri::from(*p)).collect();
        WireEvent {
            ts: Duration::from_secs(1),
            link: LinkId(link.id.0),
            conn: 0,
            src: SocketAddr::new(IpAddr::V4(mine.v4.addr()), 40000),
            dst: SocketAddr::new(IpAddr::V4(far.v4.addr()), 179),
            msg_type: None,
            len: 0,
            body: WireBody::Message {
                message: Box::new(Message::Update(update)),
                non_fatal: Vec::new(),
            },
        }
    }

    #[test]
    fn nodes_announce_only_their_blocks_each_once() {
        let plan = plan();
        let mut events: Vec<WireEvent> = plan
            .nodes
            .iter()
            .filter(|n| n.role == Role::Node)
            .map(|n| update_from(&plan, n.id.as_str(), &n.blocks))
            .collect();
        let ok = node_exports_check(&plan, &events);
        assert!(ok.passed(), "{:?}", ok.details);

        // r1n1 also announces r1n2's block and a default route: both are reported.
        let stolen = plan.node(&NodeId::from("r1n2")).expect("r1n2").blocks[0];
        let default: Ipv4Net = "0.0.0.0/0".parse().expect("net");
        events.push(update_from(&plan, "r1n1", &[stolen, default]));
        let bad = node_exports_check(&plan, &events);
        assert!(bad.failed());
        assert!(bad
            .details
            .iter()
            .any(|d| d.contains("announced a default route")));
        assert!(bad
            .details
            .iter()
            .any(|d| d.contains("outside its own blocks")));
        assert!(bad
            .details
            .iter()
            .any(|d| d.contains(&format!("block {stolen} of r1n2 announced by r1n1, r1n2"))));

        // A node that never announces its block.
        let silent = node_exports_check(&plan, &events[1..]);
        assert!(silent
            .details
            .iter()
            .any(|d| d.contains("was never announced")));
    }
}
