//! The kernel route for one prefix, from what GoBGP says about it (pure).
//!
//! - Locally originated paths (next hop `0.0.0.0`) are the node's own blocks: a blackhole, as
//!   calico-node installs for its IPAM blocks (addresses of a block not assigned to a local pod
//!   must not bounce back to the fabric, calico-designs.md §1.3). The exception is the default
//!   route: GoBGP's own 0/0 exists only to be advertised (default-originate), so it is never
//!   installed (BIRD's equivalent static default is not exported to the kernel either).
//! - Learned paths become a unicast route over every usable next hop of the set (one, or the
//!   ECMP set, RTA_MULTIPATH), at most `max_paths`, in GoBGP's order (best first). A next hop
//!   that is one of the node's own addresses is skipped (RFC 4271 §5.1.3: a route via ourselves
//!   is never installed), as is one the kernel cannot reach.
//! - Without multipath-relax only paths compatible with the best join it: the same neighbouring
//!   AS for eBGP, the identical AS_PATH for iBGP (FRR's rule, and the design model's). GoBGP
//!   3.10 parses `allow-multiple-as` but its multipath set is every path equal to the best in
//!   `Path.Compare` (local, iBGP/eBGP, LOCAL_PREF, AS_PATH length, MED), whatever the AS.
//! - Nothing usable left: no route.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use fabric_speaker::rib::{FibChange, FibNextHop, FibRoute};
use ipnet::{IpNet, Ipv4Net};

use super::monitor::{MonitorPath, PrefixState};

/// How the kernel reaches a BGP next hop (see `kernel::resolution`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// On a connected network of interface `ifindex`.
    Connected {
        /// Outgoing interface.
        ifindex: u32,
    },
    /// Through a route that has gateways of its own (e.g. a static route to a peer's loopback,
    /// ECMP over a rack's two ToRs): the kernel route goes via those gateways (one level of
    /// recursion, as BIRD's `gateway recursive`).
    Via(Vec<Gateway>),
    /// One of this node's own addresses.
    Local,
    /// No usable route to it.
    Unreachable,
}

/// A gateway on a connected network and the interface it is reached through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gateway {
    /// The gateway.
    pub addr: Ipv4Addr,
    /// Outgoing interface.
    pub ifindex: u32,
}

/// Which of GoBGP's multipath set go into the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EcmpRule {
    /// Next hops per route at most.
    pub max_paths: usize,
    /// Paths from different neighbouring ASes may share a route (`multipath-relax`).
    pub relax: bool,
}

impl EcmpRule {
    /// Whether `other` may join `best` (see the module docs).
    fn compatible(self, best: &MonitorPath, other: &MonitorPath) -> bool {
        if self.relax {
            true
        } else if best.ibgp {
            best.as_path == other.as_path
        } else {
            best.neighbor_as() == other.neighbor_as()
        }
    }
}

/// The kernel route `prefix` should have, `None` for none. `resolve` answers for every gateway
/// of `state` (see [`super::monitor::gateways`]).
pub fn desired_route(
    prefix: Ipv4Net,
    state: &PrefixState,
    rule: EcmpRule,
    mut resolve: impl FnMut(Ipv4Addr) -> Resolution,
) -> Option<FibRoute> {
    let paths = match state {
        PrefixState::Withdrawn => return None,
        PrefixState::Paths(p) => p,
    };
    // GoBGP never puts local and learned paths in one multipath set (Path.Compare ranks local
    // first), so one local path means the best is ours.
    if paths.iter().any(MonitorPath::is_local) {
        return (prefix.prefix_len() != 0).then_some(FibRoute::Blackhole);
    }
    let best = paths.first()?;
    let members: Vec<MonitorPath> = paths
        .iter()
        .filter(|p| rule.compatible(best, p))
        .cloned()
        .collect();
    let max_paths = rule.max_paths;
    let mut hops: Vec<FibNextHop> = Vec::new();
    for gw in super::monitor::gateways(&members) {
        let resolved = match resolve(gw) {
            Resolution::Connected { ifindex } => vec![Gateway { addr: gw, ifindex }],
            Resolution::Via(gateways) => gateways,
            Resolution::Local | Resolution::Unreachable => continue,
        };
        for g in resolved {
            let hop = FibNextHop {
                gateway: IpAddr::V4(g.addr),
                ifindex: Some(g.ifindex),
            };
            if !hops.contains(&hop) {
                hops.push(hop);
            }
        }
    }
    hops.truncate(max_paths.max(1));
    if hops.is_empty() {
        return None;
    }
    // The kernel keeps multipath next hops in the order given; sorted makes equal sets equal.
    let sorted: BTreeSet<FibNextHop> = hops.into_iter().collect();
    Some(FibRoute::Unicast(sorted.into_iter().collect()))
}

/// The routes the agent has installed, by prefix.
pub type Installed = HashMap<Ipv4Net, FibRoute>;

/// The kernel changes that take `installed` to `wanted` for the prefixes in `wanted` (other
/// prefixes are untouched), and records them in `installed`. Unchanged routes send nothing; a
/// prefix that should have no route is deleted only if we installed one.
pub fn changes(
    installed: &mut Installed,
    wanted: impl IntoIterator<Item = (Ipv4Net, Option<FibRoute>)>,
) -> Vec<FibChange> {
    let mut out = Vec::new();
    for (prefix, route) in wanted {
        let net = IpNet::V4(prefix);
        match route {
            Some(route) => {
                if installed.get(&prefix) != Some(&route) {
                    installed.insert(prefix, route.clone());
                    out.push(FibChange::Replace { prefix: net, route });
                }
            }
            None => {
                if installed.remove(&prefix).is_some() {
                    out.push(FibChange::Delete { prefix: net });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uni(hops: Vec<FibNextHop>) -> FibRoute {
        FibRoute::Unicast(hops.into())
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    const RELAX: EcmpRule = EcmpRule {
        max_paths: 8,
        relax: true,
    };

    fn ecmp(max_paths: usize) -> EcmpRule {
        EcmpRule {
            max_paths,
            relax: true,
        }
    }

    /// An eBGP path from AS 65002 via `nh`.
    fn learned(prefix: &str, nh: &str) -> MonitorPath {
        learned_as(prefix, nh, &[65002], false)
    }

    fn learned_as(prefix: &str, nh: &str, as_path: &[u32], ibgp: bool) -> MonitorPath {
        let a: IpAddr = nh.parse().unwrap_or_else(|e| panic!("{nh}: {e}"));
        MonitorPath {
            prefix: net(prefix),
            next_hop: Some(a),
            neighbor: Some(a),
            as_path: as_path.to_vec(),
            ibgp,
            withdrawal: false,
        }
    }

    fn local(prefix: &str) -> MonitorPath {
        MonitorPath {
            prefix: net(prefix),
            next_hop: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            neighbor: None,
            as_path: Vec::new(),
            ibgp: false,
            withdrawal: false,
        }
    }

    /// 10.0.0.1 on if 2, 10.0.0.3 on if 3, 10.0.0.0 is ours, 10.255.0.9 via 10.0.0.1,
    /// 10.255.0.7 via 10.0.0.1 and 10.0.0.3 (a static ECMP route).
    fn lab(gw: Ipv4Addr) -> Resolution {
        let g1 = Gateway {
            addr: Ipv4Addr::new(10, 0, 0, 1),
            ifindex: 2,
        };
        let g3 = Gateway {
            addr: Ipv4Addr::new(10, 0, 0, 3),
            ifindex: 3,
        };
        match gw.octets() {
            [10, 0, 0, 1] => Resolution::Connected { ifindex: 2 },
            [10, 0, 0, 3] => Resolution::Connected { ifindex: 3 },
            [10, 0, 0, 0] => Resolution::Local,
            [10, 255, 0, 9] => Resolution::Via(vec![g1]),
            [10, 255, 0, 7] => Resolution::Via(vec![g3, g1]),
            _ => Resolution::Unreachable,
        }
    }

    fn hop(gw: &str, ifindex: u32) -> FibNextHop {
        FibNextHop {
            gateway: gw.parse().unwrap_or_else(|e| panic!("{gw}: {e}")),
            ifindex: Some(ifindex),
        }
    }

    fn paths(p: Vec<MonitorPath>) -> PrefixState {
        PrefixState::Paths(p)
    }

    #[test]
    fn own_block_is_a_blackhole_but_own_default_is_not_installed() {
        let b = "10.64.0.0/26";
        assert_eq!(
            desired_route(net(b), &paths(vec![local(b)]), RELAX, lab),
            Some(FibRoute::Blackhole)
        );
        assert_eq!(
            desired_route(
                net("0.0.0.0/0"),
                &paths(vec![local("0.0.0.0/0")]),
                RELAX,
                lab
            ),
            None
        );
    }

    #[test]
    fn learned_default_is_installed() {
        let d = "0.0.0.0/0";
        assert_eq!(
            desired_route(net(d), &paths(vec![learned(d, "10.0.0.1")]), RELAX, lab),
            Some(uni(vec![hop("10.0.0.1", 2)]))
        );
    }

    #[test]
    fn multipath_set_becomes_one_sorted_ecmp_route() {
        let p = "10.77.0.0/24";
        let set = paths(vec![learned(p, "10.0.0.3"), learned(p, "10.0.0.1")]);
        assert_eq!(
            desired_route(net(p), &set, RELAX, lab),
            Some(uni(vec![hop("10.0.0.1", 2), hop("10.0.0.3", 3)]))
        );
    }

    #[test]
    fn max_paths_keeps_gobgps_first_paths() {
        let p = "10.77.0.0/24";
        let set = paths(vec![learned(p, "10.0.0.3"), learned(p, "10.0.0.1")]);
        assert_eq!(
            desired_route(net(p), &set, ecmp(1), lab),
            Some(uni(vec![hop("10.0.0.3", 3)]))
        );
    }

    #[test]
    fn next_hop_self_and_unreachable_are_skipped() {
        let p = "10.77.0.0/24";
        let set = paths(vec![learned(p, "10.0.0.0"), learned(p, "10.0.0.3")]);
        assert_eq!(
            desired_route(net(p), &set, RELAX, lab),
            Some(uni(vec![hop("10.0.0.3", 3)]))
        );
        let only_self = paths(vec![learned(p, "10.0.0.0"), learned(p, "192.0.2.1")]);
        assert_eq!(desired_route(net(p), &only_self, RELAX, lab), None);
    }

    #[test]
    fn recursive_next_hop_goes_via_the_resolving_gateway_once() {
        let p = "10.77.0.0/24";
        // Two paths whose next hops resolve to the same gateway: one kernel next hop.
        let set = paths(vec![learned(p, "10.255.0.9"), learned(p, "10.0.0.1")]);
        assert_eq!(
            desired_route(net(p), &set, RELAX, lab),
            Some(uni(vec![hop("10.0.0.1", 2)]))
        );
    }

    #[test]
    fn changes_replace_only_what_differs_and_delete_only_what_is_ours() {
        let mut installed = Installed::new();
        let a = net("10.64.0.0/26");
        let b = net("10.77.0.0/24");
        let via1 = uni(vec![hop("10.0.0.1", 2)]);
        let c = changes(
            &mut installed,
            [(a, Some(FibRoute::Blackhole)), (b, Some(via1.clone()))],
        );
        assert_eq!(c.len(), 2);
        // The same again: nothing to do; an unknown prefix withdrawn: nothing either.
        let c = changes(
            &mut installed,
            [(a, Some(FibRoute::Blackhole)), (net("10.9.0.0/24"), None)],
        );
        assert!(c.is_empty(), "{c:?}");
        // The ECMP set grows: one replace in place.
        let both = uni(vec![hop("10.0.0.1", 2), hop("10.0.0.3", 3)]);
        let c = changes(&mut installed, [(b, Some(both.clone()))]);
        assert_eq!(
            c,
            [FibChange::Replace {
                prefix: IpNet::V4(b),
                route: both
            }]
        );
        let c = changes(&mut installed, [(b, None)]);
        assert_eq!(
            c,
            [FibChange::Delete {
                prefix: IpNet::V4(b)
            }]
        );
        assert_eq!(installed.len(), 1);
        assert_eq!(installed.get(&a), Some(&FibRoute::Blackhole));
    }

    #[test]
    fn next_hop_behind_a_static_ecmp_route_gets_both_gateways() {
        let p = "10.64.16.64/26";
        let set = paths(vec![learned(p, "10.255.0.7")]);
        assert_eq!(
            desired_route(net(p), &set, RELAX, lab),
            Some(uni(vec![hop("10.0.0.1", 2), hop("10.0.0.3", 3)]))
        );
        assert_eq!(
            desired_route(net(p), &set, ecmp(1), lab),
            Some(uni(vec![hop("10.0.0.3", 3)]))
        );
    }

    #[test]
    fn without_relax_only_the_best_paths_neighbour_as_joins() {
        let p = "10.64.0.0/26";
        let strict = EcmpRule {
            max_paths: 8,
            relax: false,
        };
        // eBGP from s1 (AS 64512, the best) and s2 (AS 64513): one path; with relax both.
        let set = paths(vec![
            learned_as(p, "10.0.0.3", &[64512, 64601], false),
            learned_as(p, "10.0.0.1", &[64513, 64601], false),
        ]);
        assert_eq!(
            desired_route(net(p), &set, strict, lab),
            Some(uni(vec![hop("10.0.0.3", 3)]))
        );
        assert_eq!(
            desired_route(net(p), &set, RELAX, lab),
            Some(uni(vec![hop("10.0.0.1", 2), hop("10.0.0.3", 3)]))
        );
        // The same neighbouring AS (two ToRs of one rack): both.
        let same = paths(vec![
            learned_as(p, "10.0.0.3", &[64602], false),
            learned_as(p, "10.0.0.1", &[64602], false),
        ]);
        assert_eq!(
            desired_route(net(p), &same, strict, lab),
            Some(uni(vec![hop("10.0.0.1", 2), hop("10.0.0.3", 3)]))
        );
        // iBGP needs the identical AS_PATH.
        let ibgp = paths(vec![
            learned_as(p, "10.0.0.3", &[64512, 64602], true),
            learned_as(p, "10.0.0.1", &[64512, 64603], true),
        ]);
        assert_eq!(
            desired_route(net(p), &ibgp, strict, lab),
            Some(uni(vec![hop("10.0.0.3", 3)]))
        );
    }

    #[test]
    fn withdrawn_prefix_has_no_route() {
        assert_eq!(
            desired_route(net("10.77.0.0/24"), &PrefixState::Withdrawn, RELAX, lab),
            None
        );
    }
}
