//! Pure translation between the RIB's [`FibChange`]s and rtnetlink route messages, so what goes
//! to the kernel is unit-tested without root.

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteNextHop, RouteProtocol,
    RouteScope, RouteType, RouteVia,
};
use netlink_packet_route::AddressFamily;

use crate::rib::{FibChange, FibNextHop, FibRoute};

/// Route protocol number of the routes this speaker installs (`ip route ... proto 201`).
///
/// Chosen free of the kernel's `rtnetlink.h` (up to 192 used, plus 42 babel and 99 openr), of
/// iproute2's `rt_protos` and of FRR's `rt_protos.d/frr.conf` and `rt_netlink.h` (186-198).
/// Add `201 fabric` to `/etc/iproute2/rt_protos.d/fabric.conf` to see the name in `ip route`.
pub const RTPROT_FABRIC: u8 = 201;

/// Metric of our routes (FRR uses 20 for BGP). Part of the route's identity for replace and
/// delete, so it must not change while routes are installed.
pub const DEFAULT_METRIC: u32 = 20;

/// Where and how our routes are installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteTarget {
    /// Route protocol number (default [`RTPROT_FABRIC`]).
    pub protocol: u8,
    /// Routing table (default main, 254).
    pub table: u32,
    /// Route metric (default [`DEFAULT_METRIC`]).
    pub metric: u32,
}

impl Default for RouteTarget {
    fn default() -> Self {
        RouteTarget {
            protocol: RTPROT_FABRIC,
            table: u32::from(RouteHeader::RT_TABLE_MAIN),
            metric: DEFAULT_METRIC,
        }
    }
}

fn family(prefix: &IpNet) -> AddressFamily {
    match prefix {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    }
}

/// A message skeleton for `prefix` in `target` (header and destination, no next hops).
fn skeleton(prefix: &IpNet, target: &RouteTarget) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family(prefix);
    m.header.destination_prefix_length = prefix.prefix_len();
    m.header.protocol = RouteProtocol::from(target.protocol);
    match u8::try_from(target.table) {
        Ok(t) => m.header.table = t,
        Err(_) => {
            m.header.table = RouteHeader::RT_TABLE_UNSPEC;
            m.attributes.push(RouteAttribute::Table(target.table));
        }
    }
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            prefix.network(),
        )));
    m.attributes.push(RouteAttribute::Priority(target.metric));
    m
}

fn gateway_attr(route_family: AddressFamily, gw: IpAddr) -> RouteAttribute {
    match (route_family, gw) {
        // RFC 5549/8950-style IPv4 route via an IPv6 gateway.
        (AddressFamily::Inet, IpAddr::V6(v6)) => RouteAttribute::Via(RouteVia::Inet6(v6)),
        _ => RouteAttribute::Gateway(RouteAddress::from(gw)),
    }
}

fn next_hop(route_family: AddressFamily, hop: &FibNextHop) -> RouteNextHop {
    let mut h = RouteNextHop::default();
    h.interface_index = hop.ifindex.unwrap_or(0);
    h.attributes.push(gateway_attr(route_family, hop.gateway));
    h
}

/// The RTM_NEWROUTE message (to be sent with NLM_F_CREATE | NLM_F_REPLACE) for a route.
pub fn new_route_message(prefix: &IpNet, route: &FibRoute, target: &RouteTarget) -> RouteMessage {
    let mut m = skeleton(prefix, target);
    match route {
        FibRoute::Blackhole => {
            m.header.kind = RouteType::BlackHole;
            m.header.scope = RouteScope::Universe;
        }
        FibRoute::Unicast(hops) => {
            m.header.kind = RouteType::Unicast;
            m.header.scope = RouteScope::Universe;
            match &hops[..] {
                [one] => {
                    m.attributes
                        .push(gateway_attr(m.header.address_family, one.gateway));
                    if let Some(i) = one.ifindex {
                        m.attributes.push(RouteAttribute::Oif(i));
                    }
                }
                many => {
                    let fam = m.header.address_family;
                    m.attributes.push(RouteAttribute::MultiPath(
                        many.iter().map(|h| next_hop(fam, h)).collect(),
                    ));
                }
            }
        }
    }
    m
}

/// The RTM_DELROUTE message removing our route for `prefix`, whatever its type and next hops.
/// The kernel matches protocol, table and metric, so other daemons' routes are never hit.
pub fn del_route_message(prefix: &IpNet, target: &RouteTarget) -> RouteMessage {
    let mut m = skeleton(prefix, target);
    // RTN_UNSPEC and RT_SCOPE_NOWHERE match any type and scope (as `ip route del` does).
    m.header.kind = RouteType::Unspec;
    m.header.scope = RouteScope::NoWhere;
    m
}

/// The kernel message for a change: `(message, is_delete)`.
pub fn change_message(change: &FibChange, target: &RouteTarget) -> (RouteMessage, bool) {
    match change {
        FibChange::Replace { prefix, route } => (new_route_message(prefix, route, target), false),
        FibChange::Delete { prefix } => (del_route_message(prefix, target), true),
    }
}

/// The table a dumped route belongs to.
pub fn route_table(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

/// Whether a dumped route is one of ours (protocol and table), i.e. stale at start-up.
pub fn is_ours(m: &RouteMessage, target: &RouteTarget) -> bool {
    u8::from(m.header.protocol) == target.protocol && route_table(m) == target.table
}

/// The destination prefix of a route message, if it has one.
pub fn route_prefix(m: &RouteMessage) -> Option<IpNet> {
    let addr = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
        RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
        _ => None,
    });
    let addr = match (addr, m.header.address_family) {
        (Some(a), _) => a,
        // The default route has no RTA_DST.
        (None, AddressFamily::Inet) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        (None, AddressFamily::Inet6) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        (None, _) => return None,
    };
    IpNet::new(addr, m.header.destination_prefix_length).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn hop(gw: &str, i: u32) -> FibNextHop {
        FibNextHop {
            gateway: gw.parse().unwrap(),
            ifindex: Some(i),
        }
    }

    #[test]
    fn single_next_hop_route() {
        let t = RouteTarget::default();
        let m = new_route_message(
            &net("192.168.1.0/24"),
            &FibRoute::unicast(vec![hop("10.0.0.1", 3)]),
            &t,
        );
        assert_eq!(m.header.address_family, AddressFamily::Inet);
        assert_eq!(m.header.destination_prefix_length, 24);
        assert_eq!(u8::from(m.header.protocol), RTPROT_FABRIC);
        assert_eq!(m.header.table, RouteHeader::RT_TABLE_MAIN);
        assert_eq!(m.header.kind, RouteType::Unicast);
        assert!(m
            .attributes
            .contains(&RouteAttribute::Gateway(RouteAddress::Inet(
                "10.0.0.1".parse().unwrap()
            ))));
        assert!(m.attributes.contains(&RouteAttribute::Oif(3)));
        assert!(m
            .attributes
            .contains(&RouteAttribute::Priority(DEFAULT_METRIC)));
        assert_eq!(route_prefix(&m), Some(net("192.168.1.0/24")));
        assert!(is_ours(&m, &t));
    }

    #[test]
    fn ecmp_route_uses_multipath() {
        let t = RouteTarget::default();
        let m = new_route_message(
            &net("2001:db8::/48"),
            &FibRoute::unicast(vec![hop("fd00::1", 1), hop("fd00::2", 2)]),
            &t,
        );
        let hops = m
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::MultiPath(h) => Some(h.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(hops.len(), 2);
        assert_eq!(hops[1].interface_index, 2);
        assert_eq!(
            hops[1].attributes,
            vec![RouteAttribute::Gateway(RouteAddress::Inet6(
                "fd00::2".parse().unwrap()
            ))]
        );
        assert!(!m
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Gateway(_))));
    }

    #[test]
    fn blackhole_and_delete_and_big_table() {
        let t = RouteTarget {
            table: 1000,
            ..RouteTarget::default()
        };
        let b = new_route_message(&net("192.168.10.64/26"), &FibRoute::Blackhole, &t);
        assert_eq!(b.header.kind, RouteType::BlackHole);
        assert!(b.attributes.contains(&RouteAttribute::Table(1000)));
        assert_eq!(route_table(&b), 1000);
        let d = del_route_message(&net("0.0.0.0/0"), &t);
        assert_eq!(d.header.kind, RouteType::Unspec);
        assert_eq!(d.header.scope, RouteScope::NoWhere);
        assert_eq!(route_prefix(&d), Some(net("0.0.0.0/0")));
        let mut other = d.clone();
        other.header.protocol = RouteProtocol::Bird;
        assert!(!is_ours(&other, &t));
    }
}
