//! Kernel routes kept across a graceful restart (RFC 4724 §4.1): the routes of our protocol a
//! previous instance left installed, read back at start instead of purged.
//!
//! While the restarting speaker defers selection they keep forwarding ("stale" from the
//! speaker's point of view, though the kernel forwards with them like any other route, RFC 4724
//! §4.1 and conformance statement 67). When the deferral ends, [`KeptRoutes::reconcile`] turns
//! the Loc-RIB's wanted routes into the few kernel changes needed: routes whose next hops did
//! not change are not written at all (no delete and re-add, no packet lost), changed ones are
//! replaced in place, and kept routes the Loc-RIB no longer has are deleted (the sweep).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteType, RouteVia,
};

use crate::fib::messages::route_prefix;
use crate::rib::{FibChange, FibNextHop, FibRoute};

/// Our kernel routes found at start, by prefix. `None`: a route we cannot express as a
/// [`FibRoute`] (e.g. an `unreachable` route): it is replaced or swept like any other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptRoutes {
    routes: BTreeMap<IpNet, Option<FibRoute>>,
}

/// What [`KeptRoutes::reconcile`] decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// The kernel changes to apply: replacements first, then the sweep's deletes.
    pub changes: Vec<FibChange>,
    /// Kept routes the Loc-RIB still wants exactly as installed (not written).
    pub unchanged: usize,
    /// Kept routes replaced in place with other next hops.
    pub replaced: usize,
    /// Kept routes deleted because the Loc-RIB no longer has them.
    pub swept: usize,
}

impl KeptRoutes {
    /// No routes kept.
    pub fn new() -> Self {
        Self::default()
    }

    /// The kept routes from dumped kernel messages (already filtered to ours).
    pub fn from_messages<'a>(messages: impl IntoIterator<Item = &'a RouteMessage>) -> Self {
        let routes = messages
            .into_iter()
            .filter_map(|m| Some((route_prefix(m)?.trunc(), fib_route_of(m))))
            .collect();
        KeptRoutes { routes }
    }

    /// Kept routes from known values (tests, in-memory FIBs).
    pub fn from_routes(routes: impl IntoIterator<Item = (IpNet, FibRoute)>) -> Self {
        KeptRoutes {
            routes: routes
                .into_iter()
                .map(|(p, r)| (p.trunc(), Some(r)))
                .collect(),
        }
    }

    /// Number of kept routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no route was kept.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Whether a route of this IP version was kept (its forwarding state survived: the F bit
    /// of RFC 4724 §3 for that address family).
    pub fn has_family(&self, ipv6: bool) -> bool {
        self.routes
            .keys()
            .any(|p| matches!(p, IpNet::V6(_)) == ipv6)
    }

    /// The kept route for `prefix`, if one was kept and is expressible.
    pub fn get(&self, prefix: &IpNet) -> Option<&FibRoute> {
        self.routes.get(&prefix.trunc()).and_then(Option::as_ref)
    }

    /// The kernel changes that make the kernel hold exactly `wanted` (the Loc-RIB's routes,
    /// RFC 4724 §4.1: "update its FIB ... and remove stale routes"). A wanted route equal to the
    /// kept one is not written (the kernel already forwards with it).
    pub fn reconcile(&self, wanted: &BTreeMap<IpNet, FibRoute>) -> Reconciled {
        let mut out = Reconciled::default();
        for (prefix, route) in wanted {
            match self.routes.get(prefix) {
                Some(Some(kept)) if same_route(kept, route) => out.unchanged += 1,
                kept => {
                    if kept.is_some() {
                        out.replaced += 1;
                    }
                    out.changes.push(FibChange::Replace {
                        prefix: *prefix,
                        route: route.clone(),
                    });
                }
            }
        }
        for prefix in self.routes.keys().filter(|p| !wanted.contains_key(p)) {
            out.swept += 1;
            out.changes.push(FibChange::Delete { prefix: *prefix });
        }
        out
    }
}

/// Whether the kernel's route forwards like the wanted one. A wanted hop without an interface
/// matches a kept hop with any interface (the kernel always reports the one it resolved).
fn same_route(kept: &FibRoute, wanted: &FibRoute) -> bool {
    match (kept, wanted) {
        (FibRoute::Blackhole, FibRoute::Blackhole) => true,
        (FibRoute::Unicast(k), FibRoute::Unicast(w)) => {
            k.len() == w.len()
                && w.iter().all(|wh| {
                    k.iter().any(|kh| {
                        kh.gateway == wh.gateway
                            && (wh.ifindex.is_none() || wh.ifindex == kh.ifindex)
                    })
                })
        }
        _ => false,
    }
}

fn gateway(attrs: &[RouteAttribute]) -> Option<IpAddr> {
    attrs.iter().find_map(|a| match a {
        RouteAttribute::Gateway(RouteAddress::Inet(g)) => Some(IpAddr::V4(*g)),
        RouteAttribute::Gateway(RouteAddress::Inet6(g)) => Some(IpAddr::V6(*g)),
        // RFC 8950 style: an IPv4 route via an IPv6 gateway.
        RouteAttribute::Via(RouteVia::Inet6(g)) => Some(IpAddr::V6(*g)),
        RouteAttribute::Via(RouteVia::Inet(g)) => Some(IpAddr::V4(*g)),
        _ => None,
    })
}

/// A dumped kernel route as the RIB would express it; `None` for anything else.
pub fn fib_route_of(m: &RouteMessage) -> Option<FibRoute> {
    match m.header.kind {
        RouteType::BlackHole => return Some(FibRoute::Blackhole),
        RouteType::Unicast => {}
        _ => return None,
    }
    let mut hops: Vec<FibNextHop> = match m.attributes.iter().find_map(|a| match a {
        RouteAttribute::MultiPath(h) => Some(h),
        _ => None,
    }) {
        Some(multi) => multi
            .iter()
            .map(|h| {
                Some(FibNextHop {
                    gateway: gateway(&h.attributes)?,
                    ifindex: (h.interface_index != 0).then_some(h.interface_index),
                })
            })
            .collect::<Option<Vec<_>>>()?,
        None => vec![FibNextHop {
            gateway: gateway(&m.attributes)?,
            ifindex: m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                _ => None,
            }),
        }],
    };
    hops.sort();
    hops.dedup();
    (!hops.is_empty()).then(|| FibRoute::unicast(hops))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::messages::{new_route_message, RouteTarget};

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn hop(gw: &str, i: Option<u32>) -> FibNextHop {
        FibNextHop {
            gateway: gw.parse().unwrap(),
            ifindex: i,
        }
    }

    #[test]
    fn dumped_messages_read_back_as_fib_routes() {
        let t = RouteTarget::default();
        let routes = [
            (
                net("192.168.1.0/24"),
                FibRoute::unicast(vec![hop("10.0.0.1", Some(3))]),
            ),
            (
                net("2001:db8::/48"),
                FibRoute::unicast(vec![hop("fd00::1", Some(1)), hop("fd00::2", Some(2))]),
            ),
            (net("192.168.10.0/26"), FibRoute::Blackhole),
            (
                net("10.1.0.0/16"),
                FibRoute::unicast(vec![hop("fe80::1", Some(4))]),
            ),
        ];
        let msgs: Vec<RouteMessage> = routes
            .iter()
            .map(|(p, r)| new_route_message(p, r, &t))
            .collect();
        let kept = KeptRoutes::from_messages(&msgs);
        assert_eq!(kept.len(), 4);
        for (p, r) in &routes {
            assert_eq!(kept.get(p), Some(r), "{p}");
        }
        assert!(kept.has_family(false) && kept.has_family(true));
        let mut other = msgs[0].clone();
        other.header.kind = RouteType::Unreachable;
        assert_eq!(fib_route_of(&other), None);
    }

    #[test]
    fn reconcile_skips_unchanged_replaces_changed_and_sweeps_the_rest() {
        let kept = KeptRoutes::from_routes([
            (
                net("10.1.0.0/24"),
                FibRoute::unicast(vec![hop("10.0.0.1", Some(2))]),
            ),
            (
                net("10.2.0.0/24"),
                FibRoute::unicast(vec![hop("10.0.0.1", Some(2))]),
            ),
            (net("10.3.0.0/24"), FibRoute::Blackhole),
            (net("10.4.0.0/24"), FibRoute::Blackhole),
        ]);
        let wanted: BTreeMap<IpNet, FibRoute> = [
            // Same gateway, the RIB does not know the interface: unchanged.
            (
                net("10.1.0.0/24"),
                FibRoute::unicast(vec![hop("10.0.0.1", None)]),
            ),
            // Another gateway: replaced.
            (
                net("10.2.0.0/24"),
                FibRoute::unicast(vec![hop("10.0.0.9", Some(2))]),
            ),
            (net("10.3.0.0/24"), FibRoute::Blackhole),
            // New.
            (net("10.5.0.0/24"), FibRoute::Blackhole),
        ]
        .into_iter()
        .collect();
        let r = kept.reconcile(&wanted);
        assert_eq!((r.unchanged, r.replaced, r.swept), (2, 1, 1));
        let prefixes: Vec<(IpNet, bool)> = r
            .changes
            .iter()
            .map(|c| (*c.prefix(), matches!(c, FibChange::Delete { .. })))
            .collect();
        assert_eq!(
            prefixes,
            vec![
                (net("10.2.0.0/24"), false),
                (net("10.5.0.0/24"), false),
                (net("10.4.0.0/24"), true)
            ]
        );
        // Nothing kept: everything wanted is written, nothing swept.
        let r = KeptRoutes::new().reconcile(&wanted);
        assert_eq!((r.changes.len(), r.swept), (4, 0));
    }
}
