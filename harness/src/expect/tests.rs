//! Model tests on fabrics worked out by hand (see `fixtures.rs` for the address table), plus
//! invariants on the repository's topology files.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use super::fixtures::{small, Builder, Knobs, SideCfg};
use super::*;
use crate::fib::{FibRoute, NextHop, NodeFib, RouteKind};
use crate::topology::{self, Design, NodeId, Plan, Role};

// ===== helpers =====

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn bh(p: &str) -> FibRoute {
    FibRoute::new(net(p), RouteKind::Blackhole)
}

fn pod(addr: &str, ifname: &str) -> FibRoute {
    FibRoute::new(
        net(&format!("{addr}/32")),
        RouteKind::unicast([NextHop::dev(ifname)]),
    )
}

fn via(p: &str, hops: &[(&str, &str)]) -> FibRoute {
    let hops = hops
        .iter()
        .map(|(gw, dev)| NextHop::via(gw.parse::<IpAddr>().expect("gw"), *dev));
    FibRoute::new(net(p), RouteKind::unicast(hops))
}

fn fib(routes: Vec<FibRoute>) -> NodeFib {
    routes.into_iter().collect()
}

fn of<'a>(fibs: &'a ExpectedFibs, node: &str) -> &'a NodeFib {
    fibs.get(&NodeId::from(node))
        .unwrap_or_else(|| panic!("no FIB for {node}"))
}

/// Asserts equality with a readable diff on failure.
fn assert_fib(fibs: &ExpectedFibs, node: &str, want: NodeFib) {
    let got = of(fibs, node);
    let d = diff(&NodeId::from(node), &want, got);
    assert!(
        d.is_empty(),
        "{node}: model differs from the hand-worked FIB\n{}",
        render_diffs(&d)
    );
}

fn good(design: Design) -> Plan {
    small(design, Knobs::for_design(design))
}

// ===== AS per rack =====

#[test]
fn as_per_rack_node_reaches_everything_through_its_tor() {
    let fibs = expected_fibs(&good(Design::AsPerRack));
    // In-rack block via the ToR too: /31 links make r1n2's own address unreachable, and the ToR
    // reflects with next-hop-self.
    assert_fib(
        &fibs,
        "r1n1",
        fib(vec![
            bh("10.1.0.0/26"),
            pod("10.1.0.1", "cali0"),
            via("10.1.0.64/26", &[("10.0.0.12", "e0")]),
            via("10.2.0.0/26", &[("10.0.0.12", "e0")]),
            via("10.2.0.64/26", &[("10.0.0.12", "e0")]),
        ]),
    );
}

#[test]
fn as_per_rack_dual_homed_node_uses_both_tors() {
    let fibs = expected_fibs(&good(Design::AsPerRack));
    let both = [("10.0.0.16", "e0"), ("10.0.0.18", "e1")];
    assert_fib(
        &fibs,
        "r2n1",
        fib(vec![
            via("10.1.0.0/26", &both),
            via("10.1.0.64/26", &both),
            bh("10.2.0.0/26"),
            pod("10.2.0.1", "cali0"),
            via("10.2.0.64/26", &both),
        ]),
    );
}

#[test]
fn as_per_rack_tor_has_rack_blocks_direct_and_remote_over_both_spines() {
    let fibs = expected_fibs(&good(Design::AsPerRack));
    let spines = [("10.0.0.4", "e0"), ("10.0.0.6", "e1")];
    assert_fib(
        &fibs,
        "r2t1",
        fib(vec![
            via("10.1.0.0/26", &spines),
            via("10.1.0.64/26", &spines),
            via("10.2.0.0/26", &[("10.0.0.17", "e2")]),
            via("10.2.0.64/26", &[("10.0.0.21", "e3")]),
        ]),
    );
}

#[test]
fn as_per_rack_spine_has_every_block_with_ecmp_over_a_racks_tors() {
    let fibs = expected_fibs(&good(Design::AsPerRack));
    let rack2 = [("10.0.0.5", "e1"), ("10.0.0.9", "e2")];
    assert_fib(
        &fibs,
        "s1",
        fib(vec![
            via("10.1.0.0/26", &[("10.0.0.1", "e0")]),
            via("10.1.0.64/26", &[("10.0.0.1", "e0")]),
            via("10.2.0.0/26", &rack2),
            via("10.2.0.64/26", &rack2),
        ]),
    );
}

#[test]
fn without_next_hop_self_on_the_tor_nodes_lose_every_learned_route() {
    let good_plan = good(Design::AsPerRack);
    let bad_plan = small(
        Design::AsPerRack,
        Knobs {
            tor_next_hop_self: false,
            ..Knobs::for_design(Design::AsPerRack)
        },
    );
    let good_fibs = expected_fibs(&good_plan);
    let sim = simulate(&bad_plan);
    let bad = sim.fibs();

    // Only what the node itself installs is left.
    assert_fib(
        &bad,
        "r1n1",
        fib(vec![bh("10.1.0.0/26"), pod("10.1.0.1", "cali0")]),
    );
    assert_fib(
        &bad,
        "r2n1",
        fib(vec![bh("10.2.0.0/26"), pod("10.2.0.1", "cali0")]),
    );
    // Routers are unaffected: only the ToR→node direction lacks next-hop-self.
    for router in ["s1", "s2", "r1t1", "r2t1", "r2t2"] {
        assert_eq!(of(&bad, router), of(&good_fibs, router), "{router}");
    }

    // Why: the reflected in-rack route carries r1n2's address on its own ToR link, the
    // eBGP-learned ones the spine's link address; neither is on r1n1's link.
    let reasons: Vec<(String, RejectReason)> = sim.nodes[&NodeId::from("r1n1")]
        .rejected
        .iter()
        .map(|r| (r.prefix.to_string(), r.reason.clone()))
        .collect();
    let unresolvable = |p: &str, nh: &str| {
        (
            p.to_string(),
            RejectReason::NextHopUnresolvable {
                next_hop: nh.parse().expect("nh"),
            },
        )
    };
    assert_eq!(
        reasons,
        vec![
            unresolvable("10.1.0.64/26", "10.0.0.15"),
            unresolvable("10.2.0.0/26", "10.0.0.0"),
            unresolvable("10.2.0.64/26", "10.0.0.0"),
        ]
    );

    // The diff against the correct design names the missing routes, and the explanation says why.
    let d = diff(
        &NodeId::from("r1n1"),
        of(&good_fibs, "r1n1"),
        of(&bad, "r1n1"),
    );
    let text = render_diffs(&d);
    assert!(
        text.contains("r1n1 10.2.0.0/26: missing (expected via 10.0.0.12 dev e0)"),
        "{text}"
    );
    assert_eq!(d.len(), 3, "{text}");
    assert!(d.iter().all(|x| matches!(x.kind, DiffKind::Missing { .. })));
    let explained = render_simulation(&bad_plan, &sim);
    assert!(
        explained
            .lines()
            .any(|l| l.contains("not installed: 10.2.0.0/26")
                && l.contains("from r1t1: next hop 10.0.0.0 unresolvable")),
        "{explained}"
    );
}

#[test]
fn racks_reusing_one_as_drop_each_others_routes_without_allowas_in() {
    let knobs = Knobs {
        shared_rack_as: Some(65001),
        ..Knobs::for_design(Design::AsPerRack)
    };
    let sim = simulate(&small(Design::AsPerRack, knobs));
    let fibs = sim.fibs();
    // The spine still sees every rack (its AS is not in the paths).
    assert_eq!(of(&fibs, "s1").len(), 4);
    // Each ToR drops the other rack's routes: their AS_PATH [65000 65001] holds its own AS.
    assert_fib(
        &fibs,
        "r1t1",
        fib(vec![
            via("10.1.0.0/26", &[("10.0.0.13", "e2")]),
            via("10.1.0.64/26", &[("10.0.0.15", "e3")]),
        ]),
    );
    assert_fib(
        &fibs,
        "r1n1",
        fib(vec![
            bh("10.1.0.0/26"),
            pod("10.1.0.1", "cali0"),
            via("10.1.0.64/26", &[("10.0.0.12", "e0")]),
        ]),
    );
    let loop_at_tor = sim
        .rejections_for(&NodeId::from("r1t1"), &net("10.2.0.0/26"))
        .next()
        .cloned();
    assert_eq!(
        loop_at_tor.map(|r| r.reason),
        Some(RejectReason::AsLoop {
            asn: fabric_bgp_wire::Asn(65001),
            count: 1,
            allowed: 0
        })
    );
}

#[test]
fn allowas_in_on_tors_and_nodes_restores_a_shared_rack_as() {
    let knobs = Knobs {
        shared_rack_as: Some(65001),
        allowas_in: 1,
        ..Knobs::for_design(Design::AsPerRack)
    };
    let fixed = expected_fibs(&small(Design::AsPerRack, knobs));
    let good_fibs = expected_fibs(&good(Design::AsPerRack));
    let d = diff_all(&good_fibs, &fixed);
    assert!(d.is_empty(), "{}", render_diffs(&d));
}

#[test]
fn allowas_in_on_the_tor_alone_stops_at_the_nodes() {
    // Calico needs numAllowedLocalASNumbers too: the ToR passes [65000 65001] down unchanged
    // over iBGP and the node (also AS 65001) finds its AS in it.
    let mut plan = small(
        Design::AsPerRack,
        Knobs {
            shared_rack_as: Some(65001),
            allowas_in: 1,
            ..Knobs::for_design(Design::AsPerRack)
        },
    );
    for s in &mut plan.sessions {
        for side in [&mut s.a, &mut s.b] {
            if side.node.as_str().contains('n') {
                side.allowas_in = 0;
            }
        }
    }
    let fibs = expected_fibs(&plan);
    assert_eq!(of(&fibs, "r1t1").len(), 4);
    assert!(!of(&fibs, "r1n1").contains(&net("10.2.0.0/26")));
}

#[test]
fn max_paths_one_keeps_the_lowest_router_id() {
    let knobs = Knobs {
        max_paths: 1,
        ..Knobs::for_design(Design::AsPerRack)
    };
    let fibs = expected_fibs(&small(Design::AsPerRack, knobs));
    // r2t1 (10.255.2.1) beats r2t2 (10.255.2.2).
    assert_eq!(
        of(&fibs, "r2n1").get(&net("10.1.0.0/26")),
        Some(&via("10.1.0.0/26", &[("10.0.0.16", "e0")]))
    );
    assert_eq!(
        of(&fibs, "r2t1").get(&net("10.1.0.0/26")),
        Some(&via("10.1.0.0/26", &[("10.0.0.4", "e0")]))
    );
}

// ===== AS per compute server =====

#[test]
fn as_per_server_spine_uses_both_tors_of_a_rack_thanks_to_relax() {
    let fibs = expected_fibs(&good(Design::AsPerServer));
    // Paths [65201 65211] and [65202 65211]: different neighbour AS, same length.
    let rack2 = [("10.0.0.5", "e1"), ("10.0.0.9", "e2")];
    assert_fib(
        &fibs,
        "s1",
        fib(vec![
            via("10.1.0.0/26", &[("10.0.0.1", "e0")]),
            via("10.1.0.64/26", &[("10.0.0.1", "e0")]),
            via("10.2.0.0/26", &rack2),
            via("10.2.0.64/26", &rack2),
        ]),
    );
}

#[test]
fn as_per_server_tor_uses_both_spines_thanks_to_relax() {
    let fibs = expected_fibs(&good(Design::AsPerServer));
    // [65010 65201 65211] from s1, [65020 65201 65211] from s2.
    let spines = [("10.0.0.0", "e0"), ("10.0.0.2", "e1")];
    assert_fib(
        &fibs,
        "r1t1",
        fib(vec![
            via("10.1.0.0/26", &[("10.0.0.13", "e2")]),
            via("10.1.0.64/26", &[("10.0.0.15", "e3")]),
            via("10.2.0.0/26", &spines),
            via("10.2.0.64/26", &spines),
        ]),
    );
}

#[test]
fn as_per_server_node_routes_even_in_rack_traffic_through_its_tors() {
    let fibs = expected_fibs(&good(Design::AsPerServer));
    assert_fib(
        &fibs,
        "r1n1",
        fib(vec![
            bh("10.1.0.0/26"),
            pod("10.1.0.1", "cali0"),
            via("10.1.0.64/26", &[("10.0.0.12", "e0")]),
            via("10.2.0.0/26", &[("10.0.0.12", "e0")]),
            via("10.2.0.64/26", &[("10.0.0.12", "e0")]),
        ]),
    );
    let both = [("10.0.0.16", "e0"), ("10.0.0.18", "e1")];
    assert_fib(
        &fibs,
        "r2n1",
        fib(vec![
            via("10.1.0.0/26", &both),
            via("10.1.0.64/26", &both),
            bh("10.2.0.0/26"),
            pod("10.2.0.1", "cali0"),
            via("10.2.0.64/26", &both),
        ]),
    );
}

#[test]
fn as_per_server_without_relax_has_one_path_where_neighbour_ases_differ() {
    let knobs = Knobs {
        relax: false,
        ..Knobs::for_design(Design::AsPerServer)
    };
    let fibs = expected_fibs(&small(Design::AsPerServer, knobs));
    // Lowest router id wins: r2t1, s1.
    assert_eq!(
        of(&fibs, "r2n1").get(&net("10.2.0.64/26")),
        Some(&via("10.2.0.64/26", &[("10.0.0.16", "e0")]))
    );
    assert_eq!(
        of(&fibs, "r1t1").get(&net("10.2.0.0/26")),
        Some(&via("10.2.0.0/26", &[("10.0.0.0", "e0")]))
    );
    assert_eq!(
        of(&fibs, "s1").get(&net("10.2.0.0/26")),
        Some(&via("10.2.0.0/26", &[("10.0.0.5", "e1")]))
    );
}

// ===== Downward default =====

#[test]
fn downward_default_node_has_only_its_own_routes_and_a_default() {
    let fibs = expected_fibs(&good(Design::DownwardDefault));
    assert_fib(
        &fibs,
        "r1n1",
        fib(vec![
            via("0.0.0.0/0", &[("10.0.0.12", "e0")]),
            bh("10.1.0.0/26"),
            pod("10.1.0.1", "cali0"),
        ]),
    );
    assert_fib(
        &fibs,
        "r2n2",
        fib(vec![
            via("0.0.0.0/0", &[("10.0.0.20", "e0"), ("10.0.0.22", "e1")]),
            bh("10.2.0.64/26"),
            pod("10.2.0.65", "cali0"),
        ]),
    );
}

#[test]
fn downward_default_tor_has_its_rack_and_a_default_over_both_spines() {
    let fibs = expected_fibs(&good(Design::DownwardDefault));
    assert_fib(
        &fibs,
        "r1t1",
        fib(vec![
            via("0.0.0.0/0", &[("10.0.0.0", "e0"), ("10.0.0.2", "e1")]),
            via("10.1.0.0/26", &[("10.0.0.13", "e2")]),
            via("10.1.0.64/26", &[("10.0.0.15", "e3")]),
        ]),
    );
}

#[test]
fn downward_default_spine_has_everything_and_no_default() {
    let sim = simulate(&good(Design::DownwardDefault));
    let fibs = sim.fibs();
    let rack2 = [("10.0.0.5", "e1"), ("10.0.0.9", "e2")];
    assert_fib(
        &fibs,
        "s1",
        fib(vec![
            via("10.1.0.0/26", &[("10.0.0.1", "e0")]),
            via("10.1.0.64/26", &[("10.0.0.1", "e0")]),
            via("10.2.0.0/26", &rack2),
            via("10.2.0.64/26", &rack2),
        ]),
    );
    // Every ToR's best default comes from s1 (lower router id), so it is offered up to s2 only,
    // as [65100 65000]: s2 sees its own AS in it. Split horizon keeps it from s1.
    assert!(sim
        .rejections_for(&NodeId::from("s1"), &net("0.0.0.0/0"))
        .next()
        .is_none());
    let r = sim
        .rejections_for(&NodeId::from("s2"), &net("0.0.0.0/0"))
        .next()
        .cloned();
    assert!(matches!(
        r.map(|r| r.reason),
        Some(RejectReason::AsLoop { .. })
    ));
}

// ===== route reflection (RFC 4456) =====

/// n1 — rr1 — rr2 — n2, all AS 65001; each node a client of its RR; RRs peer as non-clients;
/// RRs set next-hop-self (the chain has no shared segment).
fn rr_chain(cluster: Option<&str>, n1_client: bool) -> Plan {
    let mut b = Builder::new("rr-chain", Design::AsPerRack);
    b.node("n1", Role::Node, Some(1), 65001, "10.255.1.11");
    b.node("rr1", Role::RouteReflector, Some(1), 65001, "10.255.1.21");
    b.node("rr2", Role::RouteReflector, Some(1), 65001, "10.255.1.22");
    b.node("n2", Role::Node, Some(1), 65001, "10.255.1.12");
    b.block("n1", "10.1.0.0/26", "10.1.0.1");
    b.block("n2", "10.1.0.64/26", "10.1.0.65");
    b.routing("rr1", 8, false, cluster);
    b.routing("rr2", 8, false, cluster);
    let rr = |client: bool| SideCfg {
        rr_client: client,
        next_hop_self: true,
        ..SideCfg::all()
    };
    let l = b.link("n1", "rr1"); // 10.0.0.0 / 10.0.0.1
    b.session(l, SideCfg::originated(), rr(n1_client));
    let l = b.link("rr1", "rr2"); // 10.0.0.2 / 10.0.0.3
    b.session(l, rr(false), rr(false));
    let l = b.link("n2", "rr2"); // 10.0.0.4 / 10.0.0.5
    b.session(l, SideCfg::originated(), rr(true));
    b.finish()
}

#[test]
fn client_routes_are_reflected_across_non_client_reflectors() {
    let fibs = expected_fibs(&rr_chain(None, true));
    assert_eq!(
        of(&fibs, "n2").get(&net("10.1.0.0/26")),
        Some(&via("10.1.0.0/26", &[("10.0.0.5", "e0")]))
    );
    assert_eq!(
        of(&fibs, "n1").get(&net("10.1.0.64/26")),
        Some(&via("10.1.0.64/26", &[("10.0.0.1", "e0")]))
    );
}

#[test]
fn reflectors_sharing_a_cluster_id_do_not_relay_each_others_clients() {
    // RFC 4456 §7-8 (conformance statement 45).
    let sim = simulate(&rr_chain(Some("10.255.1.20"), true));
    let fibs = sim.fibs();
    assert!(!of(&fibs, "n2").contains(&net("10.1.0.0/26")));
    assert!(!of(&fibs, "rr2").contains(&net("10.1.0.0/26")));
    let r = sim
        .rejections_for(&NodeId::from("rr2"), &net("10.1.0.0/26"))
        .next()
        .cloned();
    assert_eq!(
        r.map(|r| r.reason),
        Some(RejectReason::ClusterLoop {
            cluster_id: "10.255.1.20".parse().expect("id")
        })
    );
}

#[test]
fn non_client_routes_are_not_passed_to_other_non_clients() {
    // RFC 4271 §9.2 / RFC 4456 §6: n1 is a plain iBGP peer of rr1, so is rr2.
    let fibs = expected_fibs(&rr_chain(None, false));
    assert!(of(&fibs, "rr1").contains(&net("10.1.0.0/26")));
    assert!(!of(&fibs, "rr2").contains(&net("10.1.0.0/26")));
    assert!(!of(&fibs, "n2").contains(&net("10.1.0.0/26")));
    // The other direction still works: n2 is rr2's client, n1 is a... non-client of rr1, which
    // only reflects to clients.
    assert!(of(&fibs, "rr1").contains(&net("10.1.0.64/26")));
    assert!(!of(&fibs, "n1").contains(&net("10.1.0.64/26")));
}

#[test]
fn a_route_reflected_back_to_its_originator_is_ignored() {
    // n1 is a client of rr1 and rr2 but announces nothing to rr2 (export DefaultOnly with no
    // default), so rr2 only knows n1's block through rr1 and reflects it to its client n1.
    let mut b = Builder::new("rr-triangle", Design::AsPerRack);
    b.node("n1", Role::Node, Some(1), 65001, "10.255.1.11");
    b.node("rr1", Role::RouteReflector, Some(1), 65001, "10.255.1.21");
    b.node("rr2", Role::RouteReflector, Some(1), 65001, "10.255.1.22");
    b.block("n1", "10.1.0.0/26", "10.1.0.1");
    let rr = |client: bool| SideCfg {
        rr_client: client,
        next_hop_self: true,
        ..SideCfg::all()
    };
    let l = b.link("n1", "rr1");
    b.session(l, SideCfg::originated(), rr(true));
    let l = b.link("n1", "rr2");
    b.session(
        l,
        SideCfg {
            export: crate::topology::ExportPolicy::DefaultOnly,
            ..SideCfg::all()
        },
        rr(true),
    );
    let l = b.link("rr1", "rr2");
    b.session(l, rr(false), rr(false));
    let sim = simulate(&b.finish());
    let r = sim
        .rejections_for(&NodeId::from("n1"), &net("10.1.0.0/26"))
        .next()
        .cloned();
    assert_eq!(r.as_ref().map(|r| r.from.as_str()), Some("rr2"));
    assert_eq!(r.map(|r| r.reason), Some(RejectReason::OriginatorIsSelf));
    // rr2 installs it via rr1 (reflected with next-hop-self).
    assert_eq!(
        sim.fibs()[&NodeId::from("rr2")].get(&net("10.1.0.0/26")),
        Some(&via("10.1.0.0/26", &[("10.0.0.4", "e1")]))
    );
}

// ===== multihop sessions and static routes (RR nodes) =====

/// Rack with ToR t (AS 65001), nodes n1, n2 and RR node rr behind it, all peering with rr over
/// loopbacks; spine s (AS 65000) originates 10.9.0.0/24. Static /32s to loopbacks stand in for
/// the rack segment, as `plan.static_routes` does.
fn rr_node_rack(with_statics: bool) -> Plan {
    let mut b = Builder::new("rr-node-rack", Design::AsPerRack);
    b.node("s", Role::Spine, None, 65000, "10.255.0.1");
    b.node("t", Role::Tor, Some(1), 65001, "10.255.1.1");
    b.node("rr", Role::RouteReflector, Some(1), 65001, "10.255.1.9");
    b.node("n1", Role::Node, Some(1), 65001, "10.255.1.11");
    b.node("n2", Role::Node, Some(1), 65001, "10.255.1.12");
    b.block("n1", "10.1.0.0/26", "10.1.0.1");
    b.block("n2", "10.1.0.64/26", "10.1.0.65");
    b.originate("s", "10.9.0.0/24");
    let st = b.link("s", "t"); // s.e0 10.0.0.0, t.e0 10.0.0.1
    let tn1 = b.link("t", "n1"); // t.e1 10.0.0.2, n1.e0 10.0.0.3
    let tn2 = b.link("t", "n2"); // t.e2 10.0.0.4, n2.e0 10.0.0.5
    let trr = b.link("t", "rr"); // t.e3 10.0.0.6, rr.e0 10.0.0.7
    b.session(st, SideCfg::all(), SideCfg::all());
    let rr_side = SideCfg {
        rr_client: true,
        ..SideCfg::all()
    };
    b.multihop_session(
        trr,
        "t",
        "rr",
        SideCfg {
            next_hop_self: true,
            ..SideCfg::all()
        },
        rr_side,
    );
    b.multihop_session(tn1, "n1", "rr", SideCfg::originated(), rr_side);
    b.multihop_session(tn2, "n2", "rr", SideCfg::originated(), rr_side);
    if with_statics {
        b.static_route("t", "10.255.1.9/32", &[("10.0.0.7", "e3")]);
        b.static_route("t", "10.255.1.11/32", &[("10.0.0.3", "e1")]);
        b.static_route("t", "10.255.1.12/32", &[("10.0.0.5", "e2")]);
        for (m, gw, dev) in [
            ("rr", "10.0.0.6", "e0"),
            ("n1", "10.0.0.2", "e0"),
            ("n2", "10.0.0.4", "e0"),
        ] {
            for lo in [
                "10.255.1.1/32",
                "10.255.1.9/32",
                "10.255.1.11/32",
                "10.255.1.12/32",
            ] {
                let own = b_loopback(m);
                if lo != own {
                    b.static_route(m, lo, &[(gw, dev)]);
                }
            }
        }
    }
    b.finish()
}

fn b_loopback(node: &str) -> &'static str {
    match node {
        "rr" => "10.255.1.9/32",
        "n1" => "10.255.1.11/32",
        "n2" => "10.255.1.12/32",
        _ => "10.255.1.1/32",
    }
}

#[test]
fn loopback_next_hops_resolve_through_static_routes() {
    let fibs = expected_fibs(&rr_node_rack(true));
    let tor = [("10.0.0.2", "e0")];
    // n2's block: NEXT_HOP n2's loopback (reflected unchanged), resolved via the static /32 to
    // the ToR. The spine's prefix: NEXT_HOP the ToR's loopback (next-hop-self), same path.
    assert_fib(
        &fibs,
        "n1",
        fib(vec![
            bh("10.1.0.0/26"),
            pod("10.1.0.1", "cali0"),
            via("10.1.0.64/26", &tor),
            via("10.9.0.0/24", &tor),
            via("10.255.1.1/32", &tor),
            via("10.255.1.9/32", &tor),
            via("10.255.1.12/32", &tor),
        ]),
    );
    assert_fib(
        &fibs,
        "t",
        fib(vec![
            via("10.1.0.0/26", &[("10.0.0.3", "e1")]),
            via("10.1.0.64/26", &[("10.0.0.5", "e2")]),
            via("10.9.0.0/24", &[("10.0.0.0", "e0")]),
            via("10.255.1.9/32", &[("10.0.0.7", "e3")]),
            via("10.255.1.11/32", &[("10.0.0.3", "e1")]),
            via("10.255.1.12/32", &[("10.0.0.5", "e2")]),
        ]),
    );
    assert_fib(
        &fibs,
        "s",
        fib(vec![
            via("10.1.0.0/26", &[("10.0.0.1", "e0")]),
            via("10.1.0.64/26", &[("10.0.0.1", "e0")]),
            bh("10.9.0.0/24"),
        ]),
    );
}

#[test]
fn loopback_next_hops_without_static_routes_are_unusable() {
    let fibs = expected_fibs(&rr_node_rack(false));
    assert_fib(
        &fibs,
        "n1",
        fib(vec![bh("10.1.0.0/26"), pod("10.1.0.1", "cali0")]),
    );
    // The spine still learns the rack over its eBGP link... only if the ToR has them, which it
    // cannot resolve either.
    assert_fib(&fibs, "s", fib(vec![bh("10.9.0.0/24")]));
}

// ===== general properties =====

#[test]
fn the_model_is_deterministic_and_serialises() {
    for design in [
        Design::AsPerRack,
        Design::AsPerServer,
        Design::DownwardDefault,
    ] {
        let plan = good(design);
        let a = simulate(&plan);
        let b = simulate(&plan);
        assert_eq!(a, b);
        assert!(a.converged, "{design}");
        let json = serde_json::to_string(&a.fibs()).expect("json");
        let back: ExpectedFibs = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, a.fibs());
        let sim_json = serde_json::to_string(&a).expect("sim json");
        let sim_back: Simulation = serde_json::from_str(&sim_json).expect("sim parse");
        assert_eq!(sim_back, a);
    }
}

#[test]
fn render_is_readable_and_in_plan_order() {
    let plan = good(Design::DownwardDefault);
    let text = render_expected(&plan, &expected_fibs(&plan));
    let r2n2 = "r2n2 (node, rack 2, AS 65200): 3 routes (1 via gateway, 1 ecmp, 1 on-link, 1 blackhole, has default)\n\
                \x20 0.0.0.0/0          via 10.0.0.20 dev e0 (r2t1)\n\
                \x20                    via 10.0.0.22 dev e1 (r2t2)\n\
                \x20 10.2.0.64/26       blackhole\n\
                \x20 10.2.0.65/32       dev cali0\n";
    assert!(text.contains(r2n2), "{text}");
    let order: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(
        order,
        ["s1", "s2", "r1t1", "r1n1", "r1n2", "r2t1", "r2t2", "r2n1", "r2n2"]
    );
}

#[test]
fn summaries_count_routes_per_node() {
    let s = summaries(&expected_fibs(&good(Design::AsPerRack)));
    let r2n1 = s[&NodeId::from("r2n1")];
    assert_eq!(
        (r2n1.routes, r2n1.ecmp, r2n1.blackhole, r2n1.on_link),
        (5, 3, 1, 1)
    );
    assert_eq!(s[&NodeId::from("s1")].routes, 4);
}

// ===== the repository's topology files =====

fn topo(name: &str) -> Plan {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../topologies")
        .join(name);
    topology::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Design-independent invariants (calico-designs.md): blackholes exactly for a node's own blocks,
/// a pod route per hosted pod, no route through the node's own address, a fixed point reached.
fn check_invariants(plan: &Plan, sim: &Simulation) {
    assert!(sim.converged, "{}: no fixed point", plan.name);
    assert!(sim.warnings.is_empty(), "{}: {:?}", plan.name, sim.warnings);
    for n in &plan.nodes {
        let fib = &sim.nodes[&n.id].fib;
        let blackholes: Vec<IpNet> = fib
            .iter()
            .filter(|r| r.kind == RouteKind::Blackhole)
            .map(|r| r.prefix)
            .collect();
        let mut own: Vec<IpNet> = n
            .blocks
            .iter()
            .chain(&n.originates)
            .map(|b| IpNet::V4(*b))
            .collect();
        own.sort();
        assert_eq!(blackholes, own, "{}: blackholes of {}", plan.name, n.id);
        for p in plan.pods_of(&n.id) {
            assert_eq!(
                fib.get(&net(&format!("{}/32", p.v4))),
                Some(&pod(&p.v4.to_string(), &p.host_ifname))
            );
        }
        let own_addrs: Vec<IpAddr> = plan
            .links_of(&n.id)
            .map(|(me, _, _)| IpAddr::V4(me.v4.addr()))
            .collect();
        for r in fib {
            for nh in r.kind.nexthops().into_iter().flatten() {
                assert!(
                    nh.gateway.is_none_or(|g| !own_addrs.contains(&g)),
                    "{}: {} {r}",
                    plan.name,
                    n.id
                );
            }
        }
    }
}

fn all_blocks(plan: &Plan) -> Vec<IpNet> {
    plan.nodes
        .iter()
        .flat_map(|n| n.blocks.iter().map(|b| IpNet::V4(*b)))
        .collect()
}

#[test]
fn full_mesh_designs_give_every_node_every_block() {
    for file in [
        "as-per-rack.yaml",
        "as-per-rack-rr-nodes.yaml",
        "as-per-server.yaml",
    ] {
        let plan = topo(file);
        let sim = simulate(&plan);
        check_invariants(&plan, &sim);
        let blocks = all_blocks(&plan);
        for n in plan.nodes.iter().filter(|n| n.role != Role::External) {
            let fib = &sim.nodes[&n.id].fib;
            for b in &blocks {
                assert!(
                    fib.contains(b),
                    "{file}: {} lacks {b}\n{}",
                    n.id,
                    render_simulation(&plan, &sim)
                );
            }
        }
    }
}

#[test]
fn downward_default_keeps_lower_tiers_small() {
    let plan = topo("downward-default.yaml");
    let sim = simulate(&plan);
    check_invariants(&plan, &sim);
    let default = net("0.0.0.0/0");
    for n in &plan.nodes {
        let fib = &sim.nodes[&n.id].fib;
        let learned: Vec<IpNet> = fib
            .iter()
            .filter(|r| {
                r.kind
                    .nexthops()
                    .is_some_and(|h| h.iter().any(|nh| nh.gateway.is_some()))
            })
            .map(|r| r.prefix)
            .collect();
        match n.role {
            Role::Node => assert_eq!(learned, vec![default], "{}", n.id),
            Role::Tor => {
                // Its rack's blocks and the default, nothing from other racks.
                let rack_blocks: Vec<IpNet> = plan
                    .nodes
                    .iter()
                    .filter(|m| m.rack == n.rack && m.role == Role::Node)
                    .flat_map(|m| m.blocks.iter().map(|b| IpNet::V4(*b)))
                    .collect();
                let mut want = rack_blocks;
                want.push(default);
                want.sort();
                assert_eq!(learned, want, "{}", n.id);
            }
            Role::Spine => {
                assert!(!fib.contains(&default), "{}", n.id);
                for b in all_blocks(&plan) {
                    assert!(fib.contains(&b), "{} lacks {b}", n.id);
                }
            }
            _ => {}
        }
    }
}
