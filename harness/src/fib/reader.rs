//! Reading a node's FIB over rtnetlink, and watching it change.
//!
//! The caller hands in an [`rtnetlink::Handle`] whose connection was created *inside* the node's
//! network namespace (a netlink socket belongs to the namespace of the thread that created it;
//! `lab` owns namespace entry and does it on a dedicated thread, never on a tokio worker).
//!
//! What is read: routes of the main table (`RT_TABLE_MAIN`, 254) for IPv4 and IPv6, minus
//! - routes installed by the kernel itself (`proto kernel` = connected subnets, `redirect`,
//!   `ra`): no design prescribes them;
//! - cached clones (`RTM_F_CLONED`, IPv6 exceptions);
//! - every other table (`local`, VRFs, policy tables).
//!
//! Everything else is kept whatever its protocol, because the content is what we check: BGP
//! routes from BIRD (`proto bird`, 12), FRR (`proto bgp`, 186, or `zebra`, 11), GoBGP via zebra,
//! or the bundled speaker; blackholes installed by BIRD's static protocol (`proto bird`) or by
//! FRR (`proto bgp`/`zebra`/`196`); pod host routes and lab static routes (`proto boot`/`static`).
//!
//! Multipath routes are read from `RTA_MULTIPATH`. Routes that use kernel nexthop objects
//! (`RTA_NH_ID`, FRR's default when the kernel supports them) carry their expanded gateways as
//! long as `net.ipv4.nexthop_compat_mode` is 1 (the default); a route with a nexthop id and no
//! expanded next hop is reported as [`FibReadError::NexthopObject`].
//!
//! Two routes for the same prefix with different metrics can coexist; the kernel forwards with
//! the lowest metric, so that one goes into [`ReadFib::fib`] and the others into
//! [`ReadFib::shadowed`]. IPv6 multipath routes reported as several same-metric messages are
//! merged into one route.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use futures::channel::mpsc::UnboundedReceiver;
use futures::stream::{Stream, StreamExt, TryStreamExt};
use ipnet::IpNet;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop, RouteType,
    RouteVia,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::proto::Connection;
use rtnetlink::sys::SocketAddr;
use rtnetlink::{Handle, MulticastGroup, RouteMessageBuilder};
use thiserror::Error;

use super::entry::{FamilyFilter, FibRoute, NextHop, NodeFib, RouteKind, RouteProto};

/// A FIB read from the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadFib {
    /// The route the kernel forwards with, per prefix.
    pub fib: NodeFib,
    /// Routes hidden behind a lower-metric route for the same prefix.
    pub shadowed: Vec<FibRoute>,
}

/// Why a FIB could not be read.
#[derive(Debug, Error)]
pub enum FibReadError {
    #[error("failed to dump {what} over rtnetlink: {source}")]
    Netlink {
        what: &'static str,
        #[source]
        source: rtnetlink::Error,
    },
    #[error(
        "route {prefix} uses nexthop object {id} without expanded next hops \
         (set net.ipv4.nexthop_compat_mode=1)"
    )]
    NexthopObject { prefix: IpNet, id: u32 },
}

/// Why a route message was left out of a FIB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not in the main table.
    OtherTable(u32),
    /// Installed by the kernel itself.
    KernelOwned(RouteProto),
    /// A cached clone (`RTM_F_CLONED`).
    Cloned,
    /// Not IPv4 or IPv6, or a malformed destination.
    NotIp,
}

/// Reads the IPv4 and IPv6 main-table FIB (see the module docs for what is skipped).
pub async fn read_fib(handle: &Handle) -> Result<ReadFib, FibReadError> {
    read_fib_families(handle, &[FamilyFilter::Ipv4, FamilyFilter::Ipv6]).await
}

/// Reads the main-table FIB of the given families.
pub async fn read_fib_families(
    handle: &Handle,
    families: &[FamilyFilter],
) -> Result<ReadFib, FibReadError> {
    let links = link_names(handle).await?;
    let mut messages = Vec::new();
    for family in families {
        let request = match family {
            FamilyFilter::Ipv4 => RouteMessageBuilder::<std::net::Ipv4Addr>::new().build(),
            FamilyFilter::Ipv6 => RouteMessageBuilder::<std::net::Ipv6Addr>::new().build(),
        };
        let mut dump = handle.route().get(request).execute();
        while let Some(msg) = dump
            .try_next()
            .await
            .map_err(|source| FibReadError::Netlink {
                what: "routes",
                source,
            })?
        {
            messages.push(msg);
        }
    }
    assemble(&messages, &links)
}

/// Interface index → name, from one link dump.
pub async fn link_names(handle: &Handle) -> Result<BTreeMap<u32, String>, FibReadError> {
    let mut names = BTreeMap::new();
    let mut dump = handle.link().get().execute();
    while let Some(msg) = dump
        .try_next()
        .await
        .map_err(|source| FibReadError::Netlink {
            what: "links",
            source,
        })?
    {
        if let Some(name) = link_name(&msg) {
            names.insert(msg.header.index, name);
        }
    }
    Ok(names)
}

fn link_name(msg: &LinkMessage) -> Option<String> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

/// Builds a [`ReadFib`] from dumped route messages: filters, converts, keeps the lowest metric
/// per prefix and merges same-metric IPv6 multipath pieces.
pub fn assemble(
    messages: &[RouteMessage],
    links: &BTreeMap<u32, String>,
) -> Result<ReadFib, FibReadError> {
    let mut best: BTreeMap<IpNet, FibRoute> = BTreeMap::new();
    let mut shadowed = Vec::new();
    for msg in messages {
        let route = match convert(msg, links)? {
            Ok(r) => r,
            Err(_skip) => continue,
        };
        let prefix = route.prefix;
        match best.remove(&prefix) {
            None => {
                best.insert(prefix, route);
            }
            Some(mut held) => {
                let (held_m, new_m) = (held.metric.unwrap_or(0), route.metric.unwrap_or(0));
                if new_m == held_m {
                    // Same prefix and metric: pieces of one multipath route (IPv6 dumps may
                    // list each next hop separately).
                    if let (
                        RouteKind::Unicast { nexthops: a },
                        RouteKind::Unicast { nexthops: b },
                    ) = (&mut held.kind, &route.kind)
                    {
                        a.extend(b.iter().cloned());
                    } else {
                        shadowed.push(route);
                    }
                    best.insert(prefix, held);
                } else if new_m < held_m {
                    shadowed.push(held);
                    best.insert(prefix, route);
                } else {
                    shadowed.push(route);
                    best.insert(prefix, held);
                }
            }
        }
    }
    Ok(ReadFib {
        fib: best.into_values().collect(),
        shadowed,
    })
}

/// Converts one route message: `Ok(Ok(route))`, `Ok(Err(skip))` for a route that is not part of
/// a compared FIB, `Err` for a route that cannot be represented.
pub fn convert(
    msg: &RouteMessage,
    links: &BTreeMap<u32, String>,
) -> Result<Result<FibRoute, Skip>, FibReadError> {
    let h = &msg.header;
    let table = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(h.table));
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return Ok(Err(Skip::OtherTable(table)));
    }
    let protocol = RouteProto::from_number(u8::from(h.protocol));
    if protocol.is_kernel_owned() {
        return Ok(Err(Skip::KernelOwned(protocol)));
    }
    if h.flags.contains(RouteFlags::Cloned) {
        return Ok(Err(Skip::Cloned));
    }
    let Some(prefix) = destination(msg) else {
        return Ok(Err(Skip::NotIp));
    };
    let metric = msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::Priority(p) => Some(*p),
        _ => None,
    });
    let kind = match h.kind {
        RouteType::Unicast => {
            let nexthops = nexthops(msg, links);
            if nexthops.is_empty() {
                if let Some(id) = msg.attributes.iter().find_map(|a| match a {
                    RouteAttribute::NhId(id) => Some(*id),
                    _ => None,
                }) {
                    return Err(FibReadError::NexthopObject { prefix, id });
                }
            }
            RouteKind::Unicast { nexthops }
        }
        RouteType::BlackHole => RouteKind::Blackhole,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Prohibit => RouteKind::Prohibit,
        RouteType::Local => RouteKind::Local,
        other => RouteKind::Other {
            rtn: u8::from(other),
        },
    };
    Ok(Ok(FibRoute {
        prefix,
        kind,
        protocol: Some(protocol),
        metric,
    }))
}

fn destination(msg: &RouteMessage) -> Option<IpNet> {
    let len = msg.header.destination_prefix_length;
    let addr = msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(d) => route_address(d),
        _ => None,
    });
    let addr = match (addr, msg.header.address_family) {
        (Some(a), _) => a,
        // A default route carries no RTA_DST.
        (None, AddressFamily::Inet) => IpAddr::from([0u8; 4]),
        (None, AddressFamily::Inet6) => IpAddr::from([0u16; 8]),
        (None, _) => return None,
    };
    IpNet::new(addr, len).ok().map(|n| n.trunc())
}

fn route_address(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn gateway_of(attrs: &[RouteAttribute]) -> Option<IpAddr> {
    attrs.iter().find_map(|a| match a {
        RouteAttribute::Gateway(g) => route_address(g),
        // RTA_VIA: a gateway of the other family (IPv4 over an IPv6 next hop, RFC 8950).
        RouteAttribute::Via(RouteVia::Inet(v4)) => Some(IpAddr::V4(*v4)),
        RouteAttribute::Via(RouteVia::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        _ => None,
    })
}

fn ifname(index: u32, links: &BTreeMap<u32, String>) -> String {
    links
        .get(&index)
        .cloned()
        .unwrap_or_else(|| format!("if{index}"))
}

fn nexthops(
    msg: &RouteMessage,
    links: &BTreeMap<u32, String>,
) -> std::collections::BTreeSet<NextHop> {
    let multipath = msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::MultiPath(hops) => Some(hops),
        _ => None,
    });
    match multipath {
        Some(hops) => hops
            .iter()
            .map(|h: &RouteNextHop| nexthop_of(h, links))
            .collect(),
        None => {
            let oif = msg.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                _ => None,
            });
            let gateway = gateway_of(&msg.attributes);
            match (oif, gateway) {
                (Some(i), gateway) => std::iter::once(NextHop {
                    gateway,
                    ifname: ifname(i, links),
                })
                .collect(),
                (None, Some(g)) => std::iter::once(NextHop::via(g, "")).collect(),
                (None, None) => Default::default(),
            }
        }
    }
}

fn nexthop_of(h: &RouteNextHop, links: &BTreeMap<u32, String>) -> NextHop {
    NextHop {
        gateway: gateway_of(&h.attributes),
        ifname: ifname(h.interface_index, links),
    }
}

// ===== route events =====

/// Whether a route appeared or went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteChange {
    /// `RTM_NEWROUTE` (also sent when an existing route is replaced).
    Added,
    /// `RTM_DELROUTE`.
    Removed,
}

/// One FIB change seen on the rtnetlink multicast groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEvent {
    /// When the event was taken from the socket's queue (monotonic, for durations).
    pub at: Instant,
    /// The same moment on the wall clock (for timelines and reports).
    pub wall: SystemTime,
    pub change: RouteChange,
    pub route: FibRoute,
}

/// A stream of [`RouteEvent`]s, filtered like [`read_fib`] (main table, no kernel-owned or
/// cloned routes). Interface names come from [`RouteEvents::load_links`] and from link events
/// seen on the same socket.
///
/// Timestamps are taken when the stream is polled: poll it continuously (e.g. from its own task
/// that pushes into a vector) for timings that reflect the kernel's, not the consumer's, pace.
pub struct RouteEvents {
    messages: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    links: BTreeMap<u32, String>,
}

/// Subscribes to route changes of the given families (`RTNLGRP_IPV4_ROUTE`,
/// `RTNLGRP_IPV6_ROUTE`) plus link changes (`RTNLGRP_LINK`, for interface names).
///
/// The socket is created in the calling thread's network namespace, so call this on the thread
/// that entered the node's namespace, inside a tokio runtime. The returned connection must be
/// spawned (or otherwise polled) for events to flow; the handle can make requests on the same
/// socket, e.g. [`RouteEvents::load_links`].
pub fn subscribe_route_events(
    families: &[FamilyFilter],
) -> io::Result<(Connection<RouteNetlinkMessage>, Handle, RouteEvents)> {
    let mut groups = vec![MulticastGroup::Link];
    for f in families {
        groups.push(match f {
            FamilyFilter::Ipv4 => MulticastGroup::Ipv4Route,
            FamilyFilter::Ipv6 => MulticastGroup::Ipv6Route,
        });
    }
    let (conn, handle, messages) = rtnetlink::new_multicast_connection(&groups)?;
    Ok((
        conn,
        handle,
        RouteEvents {
            messages,
            links: BTreeMap::new(),
        },
    ))
}

impl RouteEvents {
    /// Loads interface names with one link dump (do it right after subscribing, before the
    /// changes of interest).
    pub async fn load_links(&mut self, handle: &Handle) -> Result<(), FibReadError> {
        let names = link_names(handle).await?;
        self.links.extend(names);
        Ok(())
    }

    fn event_of(&mut self, msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<RouteEvent> {
        let NetlinkPayload::InnerMessage(inner) = msg.payload else {
            return None;
        };
        let (change, route) = match inner {
            RouteNetlinkMessage::NewRoute(r) => (RouteChange::Added, r),
            RouteNetlinkMessage::DelRoute(r) => (RouteChange::Removed, r),
            RouteNetlinkMessage::NewLink(l) => {
                if let Some(name) = link_name(&l) {
                    self.links.insert(l.header.index, name);
                }
                return None;
            }
            RouteNetlinkMessage::DelLink(l) => {
                self.links.remove(&l.header.index);
                return None;
            }
            _ => return None,
        };
        // A route that cannot be represented (nexthop object only) is dropped from the event
        // stream; a later dump reports it as an error.
        let route = convert(&route, &self.links).ok()?.ok()?;
        Some(RouteEvent {
            at: Instant::now(),
            wall: SystemTime::now(),
            change,
            route,
        })
    }
}

impl Stream for RouteEvents {
    type Item = RouteEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RouteEvent>> {
        loop {
            match self.messages.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some((msg, _))) => {
                    if let Some(ev) = self.event_of(msg) {
                        return Poll::Ready(Some(ev));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use netlink_packet_route::route::RouteProtocol;

    use super::*;

    fn links() -> BTreeMap<u32, String> {
        [
            (2, "e0".to_string()),
            (3, "e1".to_string()),
            (7, "cali0".to_string()),
        ]
        .into()
    }

    fn msg(
        dst: &str,
        kind: RouteType,
        proto: RouteProtocol,
        attrs: Vec<RouteAttribute>,
    ) -> RouteMessage {
        let net: IpNet = dst.parse().expect("prefix");
        let mut m = RouteMessage::default();
        m.header.address_family = match net {
            IpNet::V4(_) => AddressFamily::Inet,
            IpNet::V6(_) => AddressFamily::Inet6,
        };
        m.header.destination_prefix_length = net.prefix_len();
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = proto;
        m.header.kind = kind;
        if net.prefix_len() > 0 {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(net.addr())));
        }
        m.attributes.extend(attrs);
        m
    }

    fn gw4(a: [u8; 4]) -> RouteAttribute {
        RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::from(a)))
    }

    fn hop(a: [u8; 4], oif: u32) -> RouteNextHop {
        let mut h = RouteNextHop::default();
        h.interface_index = oif;
        h.attributes.push(gw4(a));
        h
    }

    fn route(m: &RouteMessage) -> FibRoute {
        match convert(m, &links()) {
            Ok(Ok(r)) => r,
            other => panic!("not converted: {other:?}"),
        }
    }

    #[test]
    fn single_gateway_route() {
        let m = msg(
            "10.1.0.0/26",
            RouteType::Unicast,
            RouteProtocol::Bird,
            vec![
                gw4([10, 0, 0, 1]),
                RouteAttribute::Oif(2),
                RouteAttribute::Priority(32),
            ],
        );
        let r = route(&m);
        assert_eq!(
            r.to_string(),
            "10.1.0.0/26 via 10.0.0.1 dev e0 proto bird metric 32"
        );
    }

    #[test]
    fn multipath_route_reads_every_leg() {
        let m = msg(
            "10.2.0.0/26",
            RouteType::Unicast,
            RouteProtocol::Bgp,
            vec![RouteAttribute::MultiPath(vec![
                hop([10, 0, 0, 3], 3),
                hop([10, 0, 0, 1], 2),
            ])],
        );
        assert_eq!(
            route(&m).kind.to_string(),
            "via 10.0.0.1 dev e0, via 10.0.0.3 dev e1"
        );
    }

    #[test]
    fn on_link_default_blackhole_and_unknown_interfaces() {
        let pod = msg(
            "10.1.0.1/32",
            RouteType::Unicast,
            RouteProtocol::Boot,
            vec![RouteAttribute::Oif(7)],
        );
        assert_eq!(
            route(&pod).kind,
            RouteKind::unicast([NextHop::dev("cali0")])
        );
        let dflt = msg(
            "0.0.0.0/0",
            RouteType::Unicast,
            RouteProtocol::Bgp,
            vec![gw4([10, 0, 0, 1]), RouteAttribute::Oif(9)],
        );
        let r = route(&dflt);
        assert_eq!(r.to_string(), "0.0.0.0/0 via 10.0.0.1 dev if9 proto bgp");
        let bh = msg(
            "10.1.0.0/26",
            RouteType::BlackHole,
            RouteProtocol::Bird,
            vec![],
        );
        assert_eq!(route(&bh).kind, RouteKind::Blackhole);
        let v6 = msg(
            "::/0",
            RouteType::Unreachable,
            RouteProtocol::Static,
            vec![],
        );
        assert_eq!(route(&v6).prefix, "::/0".parse::<IpNet>().expect("v6"));
    }

    #[test]
    fn kernel_routes_other_tables_and_clones_are_skipped() {
        let connected = msg(
            "10.0.0.0/31",
            RouteType::Unicast,
            RouteProtocol::Kernel,
            vec![RouteAttribute::Oif(2)],
        );
        assert!(matches!(
            convert(&connected, &links()),
            Ok(Err(Skip::KernelOwned(RouteProto::Kernel)))
        ));
        let mut local = msg("10.0.0.0/32", RouteType::Local, RouteProtocol::Boot, vec![]);
        local.header.table = 255;
        assert!(matches!(
            convert(&local, &links()),
            Ok(Err(Skip::OtherTable(255)))
        ));
        let mut big_table = msg(
            "10.9.0.0/24",
            RouteType::Unicast,
            RouteProtocol::Boot,
            vec![RouteAttribute::Table(1000)],
        );
        big_table.header.table = 252; // RT_TABLE_COMPAT: the real id is in RTA_TABLE.
        assert!(matches!(
            convert(&big_table, &links()),
            Ok(Err(Skip::OtherTable(1000)))
        ));
        let mut cloned = msg(
            "2001:db8::1/128",
            RouteType::Unicast,
            RouteProtocol::Boot,
            vec![RouteAttribute::Oif(2)],
        );
        cloned.header.flags = RouteFlags::Cloned;
        assert!(matches!(convert(&cloned, &links()), Ok(Err(Skip::Cloned))));
    }

    #[test]
    fn nexthop_object_without_expansion_is_an_error() {
        let m = msg(
            "10.2.0.0/26",
            RouteType::Unicast,
            RouteProtocol::Bgp,
            vec![RouteAttribute::NhId(17)],
        );
        assert!(matches!(
            convert(&m, &links()),
            Err(FibReadError::NexthopObject { id: 17, .. })
        ));
    }

    #[test]
    fn assemble_keeps_lowest_metric_and_merges_v6_multipath_pieces() {
        let v6gw = |last: u16| {
            RouteAttribute::Gateway(RouteAddress::Inet6(Ipv6Addr::new(
                0x2001, 0xdb8, 0, 0, 0, 0, 0, last,
            )))
        };
        let msgs = vec![
            msg(
                "10.5.0.0/24",
                RouteType::Unicast,
                RouteProtocol::Boot,
                vec![
                    gw4([10, 0, 0, 3]),
                    RouteAttribute::Oif(3),
                    RouteAttribute::Priority(20),
                ],
            ),
            msg(
                "10.5.0.0/24",
                RouteType::Unicast,
                RouteProtocol::Boot,
                vec![
                    gw4([10, 0, 0, 1]),
                    RouteAttribute::Oif(2),
                    RouteAttribute::Priority(10),
                ],
            ),
            msg(
                "2001:db8:1::/64",
                RouteType::Unicast,
                RouteProtocol::Bgp,
                vec![
                    v6gw(1),
                    RouteAttribute::Oif(2),
                    RouteAttribute::Priority(1024),
                ],
            ),
            msg(
                "2001:db8:1::/64",
                RouteType::Unicast,
                RouteProtocol::Bgp,
                vec![
                    v6gw(3),
                    RouteAttribute::Oif(3),
                    RouteAttribute::Priority(1024),
                ],
            ),
        ];
        let read = assemble(&msgs, &links()).expect("assemble");
        let v4: IpNet = "10.5.0.0/24".parse().expect("p");
        assert_eq!(read.fib.get(&v4).map(|r| r.metric), Some(Some(10)));
        assert_eq!(read.shadowed.len(), 1);
        assert_eq!(read.shadowed.first().and_then(|r| r.metric), Some(20));
        let v6: IpNet = "2001:db8:1::/64".parse().expect("p");
        assert_eq!(
            read.fib
                .get(&v6)
                .and_then(|r| r.kind.nexthops())
                .map(|h| h.len()),
            Some(2)
        );
    }
}
