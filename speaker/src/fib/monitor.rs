//! Kernel link, address and route events (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
//! RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE).
//!
//! Route events report the main table's unicast routes that are not the kernel's own connected
//! routes (static routes, other daemons', ours too: the consumer drops its own protocol). They
//! let next hops resolve through static routes (see `ConnectedRoutes::set_route`).
//!
//! Fast failover: when a link loses carrier or is set down, the daemon learns it within
//! milliseconds instead of after the hold timer. It should then (1) drop the BGP sessions whose
//! peer is reached over that interface ([`ConnectedRoutes::interface_of`]) and (2) feed the event
//! to the RIB's resolver ([`KernelEvent::apply_to`] + `Rib::resolver_changed`), which re-runs the
//! decision for routes via that link and repairs the FIB (ECMP legs removed, routes withdrawn).
//!
//! Subscribe first, then take a [`KernelEventStream::snapshot`], so no change between the two is
//! lost (applying an event twice is harmless: the connected table is idempotent).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc::UnboundedReceiver;
use futures::stream::{Stream, StreamExt, TryStreamExt};
use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteType, RouteVia,
};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::sys::{AsyncSocket, SocketAddr};
use rtnetlink::{Handle, MulticastGroup};

use crate::fib::api::FibError;
use crate::fib::messages::{route_prefix, route_table};
use crate::rib::nexthop::KernelHop;
use crate::rib::ConnectedRoutes;

/// A change of interface state that matters for routing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KernelEvent {
    /// A link exists with this state. `up` = administratively up and carrier present.
    Link {
        /// Interface index.
        ifindex: u32,
        /// Interface name, if reported.
        name: Option<String>,
        /// Usable for forwarding.
        up: bool,
    },
    /// A link was deleted.
    LinkRemoved {
        /// Interface index.
        ifindex: u32,
    },
    /// An address was added to an interface.
    AddressAdded {
        /// Interface index.
        ifindex: u32,
        /// Our address.
        address: IpAddr,
        /// Prefix length of the connected network.
        prefix_len: u8,
    },
    /// An address was removed.
    AddressRemoved {
        /// Interface index.
        ifindex: u32,
        /// Our address.
        address: IpAddr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// A route of the main table was added or replaced.
    RouteAdded {
        /// Destination.
        prefix: IpNet,
        /// Metric (priority).
        metric: u32,
        /// Route protocol number (ours must be ignored by the consumer).
        protocol: u8,
        /// Next hops.
        hops: Vec<KernelHop>,
    },
    /// A route of the main table was removed.
    RouteRemoved {
        /// Destination.
        prefix: IpNet,
        /// Metric (priority).
        metric: u32,
        /// Route protocol number.
        protocol: u8,
    },
    /// The kernel dropped notifications (the socket's receive buffer overflowed, ENOBUFS):
    /// the state must be read again ([`KernelEventStream::snapshot`]).
    Overrun,
}

impl KernelEvent {
    /// Apply to the connected-routes table; returns the networks whose reachability changed
    /// (pass them to `Rib::resolver_changed`).
    pub fn apply_to(&self, c: &mut ConnectedRoutes) -> Vec<IpNet> {
        match self {
            KernelEvent::Link { ifindex, up, .. } => c.set_link_up(*ifindex, *up),
            KernelEvent::LinkRemoved { ifindex } => c.remove_link(*ifindex),
            KernelEvent::AddressAdded {
                ifindex,
                address,
                prefix_len,
            } => c.add_address(*ifindex, *address, *prefix_len),
            KernelEvent::AddressRemoved {
                ifindex,
                address,
                prefix_len,
            } => c.remove_address(*ifindex, *address, *prefix_len),
            KernelEvent::RouteAdded {
                prefix,
                metric,
                hops,
                ..
            } => c.set_route(*prefix, *metric, hops.clone()),
            KernelEvent::RouteRemoved { prefix, metric, .. } => c.remove_route(*prefix, *metric),
            KernelEvent::Overrun => Vec::new(),
        }
    }

    /// The route protocol of a route event.
    pub fn route_protocol(&self) -> Option<u8> {
        match self {
            KernelEvent::RouteAdded { protocol, .. }
            | KernelEvent::RouteRemoved { protocol, .. } => Some(*protocol),
            _ => None,
        }
    }

    /// Whether this reports a link that cannot forward (down, or gone).
    pub fn is_link_down(&self) -> bool {
        matches!(
            self,
            KernelEvent::Link { up: false, .. } | KernelEvent::LinkRemoved { .. }
        )
    }
}

fn link_event(m: &LinkMessage, removed: bool) -> KernelEvent {
    let ifindex = m.header.index;
    if removed {
        return KernelEvent::LinkRemoved { ifindex };
    }
    let name = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    });
    let f = m.header.flags;
    // Carrier loss clears IFF_RUNNING/IFF_LOWER_UP while IFF_UP stays set.
    let up = f.contains(LinkFlags::Up)
        && (f.contains(LinkFlags::Running) || f.contains(LinkFlags::LowerUp));
    KernelEvent::Link { ifindex, name, up }
}

fn address_event(m: &AddressMessage, removed: bool) -> Option<KernelEvent> {
    // Host-scope (127/8, ::1) and link-scope (fe80::/10) addresses resolve no BGP next hop by
    // network: skip them.
    if m.header.scope != AddressScope::Universe {
        return None;
    }
    // IFA_LOCAL is our address on point-to-point links; IFA_ADDRESS otherwise (and for IPv6).
    let local = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let address = local.or_else(|| {
        m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })?;
    let (ifindex, prefix_len) = (m.header.index, m.header.prefix_len);
    Some(if removed {
        KernelEvent::AddressRemoved {
            ifindex,
            address,
            prefix_len,
        }
    } else {
        KernelEvent::AddressAdded {
            ifindex,
            address,
            prefix_len,
        }
    })
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
        RouteAttribute::Via(RouteVia::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        RouteAttribute::Via(RouteVia::Inet(v4)) => Some(IpAddr::V4(*v4)),
        _ => None,
    })
}

fn route_event(m: &RouteMessage, removed: bool) -> Option<KernelEvent> {
    // Main table only, unicast only; the kernel's connected routes are covered by addresses.
    if route_table(m) != u32::from(RouteHeader::RT_TABLE_MAIN)
        || m.header.kind != RouteType::Unicast
        || m.header.protocol == RouteProtocol::Kernel
    {
        return None;
    }
    let prefix = route_prefix(m)?;
    let metric = m
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Priority(p) => Some(*p),
            _ => None,
        })
        .unwrap_or(0);
    let protocol = u8::from(m.header.protocol);
    if removed {
        return Some(KernelEvent::RouteRemoved {
            prefix,
            metric,
            protocol,
        });
    }
    let mut hops = Vec::new();
    let multipath = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::MultiPath(h) => Some(h),
        _ => None,
    });
    match multipath {
        Some(list) => {
            for h in list {
                hops.push(KernelHop {
                    gateway: gateway_of(&h.attributes),
                    ifindex: (h.interface_index != 0).then_some(h.interface_index),
                });
            }
        }
        None => {
            let ifindex = m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                _ => None,
            });
            hops.push(KernelHop {
                gateway: gateway_of(&m.attributes),
                ifindex,
            });
        }
    }
    Some(KernelEvent::RouteAdded {
        prefix,
        metric,
        protocol,
        hops,
    })
}

/// Translate one rtnetlink message (pure; unknown kinds give `None`).
pub fn parse_event(msg: &RouteNetlinkMessage) -> Option<KernelEvent> {
    match msg {
        RouteNetlinkMessage::NewLink(m) => Some(link_event(m, false)),
        RouteNetlinkMessage::DelLink(m) => Some(link_event(m, true)),
        RouteNetlinkMessage::NewAddress(m) => address_event(m, false),
        RouteNetlinkMessage::DelAddress(m) => address_event(m, true),
        RouteNetlinkMessage::NewRoute(m) => route_event(m, false),
        RouteNetlinkMessage::DelRoute(m) => route_event(m, true),
        _ => None,
    }
}

type NetlinkRx = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

/// A stream of [`KernelEvent`]s from multicast rtnetlink subscriptions.
///
/// Links and addresses come over one socket, routes over another, and the first is always
/// read first: a flood of route notifications (a million routes being installed) can overflow
/// only the route socket, so link-down events, which fast failover depends on, are neither
/// lost nor queued behind it.
pub struct KernelEventStream {
    links: NetlinkRx,
    routes: NetlinkRx,
    handle: Handle,
    /// Route events of this protocol (our own routes) are dropped here, before they cost the
    /// owner loop anything: a million installed routes echo a million notifications.
    ignore_protocol: Option<u8>,
}

/// Receive buffer asked for the subscription socket (capped by `net.core.rmem_max`); an
/// overflow is reported as [`KernelEvent::Overrun`] and repaired by a new snapshot.
const MONITOR_RCVBUF: usize = 8 * 1024 * 1024;

impl KernelEventStream {
    fn keep(&self, ev: &KernelEvent) -> bool {
        self.ignore_protocol
            .is_none_or(|p| ev.route_protocol() != Some(p))
    }
}

impl std::fmt::Debug for KernelEventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelEventStream").finish_non_exhaustive()
    }
}

/// Subscribe to link, address and route events in the calling thread's namespace. The returned
/// future drives the socket and must be spawned.
pub fn subscribe() -> Result<(KernelEventStream, impl Future<Output = ()> + Send), FibError> {
    subscribe_ignoring(None)
}

/// [`subscribe`], dropping route events of protocol `ignore` (our own routes).
pub fn subscribe_ignoring(
    ignore: Option<u8>,
) -> Result<(KernelEventStream, impl Future<Output = ()> + Send), FibError> {
    let (mut link_conn, handle, links) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ])
    .map_err(FibError::Socket)?;
    let (mut route_conn, _, routes) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
    ])
    .map_err(FibError::Socket)?;
    for conn in [&mut link_conn, &mut route_conn] {
        let sock = conn.socket_mut().socket_mut();
        // SO_RCVBUFFORCE (root, CAP_NET_ADMIN) goes past net.core.rmem_max; else SO_RCVBUF.
        let forced = nix::sys::socket::setsockopt(
            &*sock,
            nix::sys::socket::sockopt::RcvBufForce,
            &MONITOR_RCVBUF,
        );
        if forced.is_err() {
            if let Err(e) = sock.set_rx_buf_sz(MONITOR_RCVBUF) {
                tracing::debug!(error = %e, "kernel event socket: receive buffer not enlarged");
            }
        }
    }
    let driver = async move {
        futures::join!(link_conn, route_conn);
    };
    Ok((
        KernelEventStream {
            links,
            routes,
            handle,
            ignore_protocol: ignore,
        },
        driver,
    ))
}

impl KernelEventStream {
    /// The current state as events: every link, then every address, then every route.
    pub async fn snapshot(&self) -> Result<Vec<KernelEvent>, FibError> {
        let links: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| FibError::Dump {
                what: "links",
                source,
            })?;
        let addrs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| FibError::Dump {
                what: "addresses",
                source,
            })?;
        let mut out: Vec<KernelEvent> = links.iter().map(|l| link_event(l, false)).collect();
        out.extend(addrs.iter().filter_map(|a| address_event(a, false)));
        let v4 = rtnetlink::RouteMessageBuilder::<std::net::Ipv4Addr>::new().build();
        let v6 = rtnetlink::RouteMessageBuilder::<std::net::Ipv6Addr>::new().build();
        for (what, req) in [("ipv4 routes", v4), ("ipv6 routes", v6)] {
            // Streamed, not collected: the table may hold a million routes of ours, which are
            // dropped here one by one.
            let mut routes = self.handle.route().get(req).execute();
            while let Some(m) = routes
                .try_next()
                .await
                .map_err(|source| FibError::Dump { what, source })?
            {
                if let Some(ev) = route_event(&m, false).filter(|e| self.keep(e)) {
                    out.push(ev);
                }
            }
        }
        Ok(out)
    }
}

impl Stream for KernelEventStream {
    type Item = KernelEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<KernelEvent>> {
        // Links and addresses first (see the type's docs); the stream ends when either socket
        // does.
        loop {
            let next = match self.links.poll_next_unpin(cx) {
                Poll::Ready(item) => item,
                Poll::Pending => match self.routes.poll_next_unpin(cx) {
                    Poll::Ready(item) => item,
                    Poll::Pending => return Poll::Pending,
                },
            };
            let Some((msg, _)) = next else {
                return Poll::Ready(None);
            };
            match &msg.payload {
                NetlinkPayload::InnerMessage(inner) => {
                    if let Some(ev) = parse_event(inner).filter(|e| self.keep(e)) {
                        return Poll::Ready(Some(ev));
                    }
                }
                NetlinkPayload::Overrun(_) => return Poll::Ready(Some(KernelEvent::Overrun)),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::AddressFamily;

    #[test]
    fn link_flags_decide_up() {
        let mut m = LinkMessage::default();
        m.header.index = 4;
        m.attributes.push(LinkAttribute::IfName("eth0".into()));
        m.header.flags = LinkFlags::Up | LinkFlags::Running | LinkFlags::LowerUp;
        assert_eq!(
            parse_event(&RouteNetlinkMessage::NewLink(m.clone())),
            Some(KernelEvent::Link {
                ifindex: 4,
                name: Some("eth0".into()),
                up: true
            })
        );
        // Carrier lost: IFF_UP stays, RUNNING and LOWER_UP go.
        m.header.flags = LinkFlags::Up;
        let ev = parse_event(&RouteNetlinkMessage::NewLink(m.clone())).unwrap();
        assert!(ev.is_link_down());
        assert_eq!(
            parse_event(&RouteNetlinkMessage::DelLink(m)),
            Some(KernelEvent::LinkRemoved { ifindex: 4 })
        );
    }

    #[test]
    fn addresses_feed_connected_routes() {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.index = 2;
        m.header.prefix_len = 24;
        m.header.scope = AddressScope::Universe;
        m.attributes
            .push(AddressAttribute::Address("10.0.0.1".parse().unwrap()));
        m.attributes
            .push(AddressAttribute::Local("10.0.0.1".parse().unwrap()));
        let ev = parse_event(&RouteNetlinkMessage::NewAddress(m.clone())).unwrap();
        let mut c = ConnectedRoutes::new();
        assert_eq!(
            ev.apply_to(&mut c),
            vec!["10.0.0.0/24".parse::<IpNet>().unwrap()]
        );
        assert_eq!(c.interface_of("10.0.0.9".parse().unwrap()), Some(2));
        let down = KernelEvent::Link {
            ifindex: 2,
            name: None,
            up: false,
        };
        assert_eq!(down.apply_to(&mut c).len(), 1);
        use crate::rib::NextHopResolver;
        assert!(c.resolve("10.0.0.9".parse().unwrap()).is_none());
        assert_eq!(
            c.interface_of("10.0.0.9".parse().unwrap()),
            Some(2),
            "known even when down"
        );

        let mut lo = m;
        lo.header.scope = AddressScope::Host;
        assert_eq!(parse_event(&RouteNetlinkMessage::NewAddress(lo)), None);
    }

    #[test]
    fn static_routes_become_route_events() {
        use crate::fib::messages::new_route_message;
        use crate::fib::RouteTarget;
        use crate::rib::{FibNextHop, FibRoute};
        let target = RouteTarget {
            protocol: 4, // RTPROT_STATIC
            metric: 0,
            ..RouteTarget::default()
        };
        let hop = |gw: &str, i| FibNextHop {
            gateway: gw.parse().unwrap(),
            ifindex: Some(i),
        };
        let prefix: IpNet = "10.255.0.9/32".parse().unwrap();
        let m = new_route_message(
            &prefix,
            &FibRoute::unicast(vec![hop("10.0.0.0", 1), hop("10.0.0.2", 2)]),
            &target,
        );
        let ev = parse_event(&RouteNetlinkMessage::NewRoute(m.clone())).unwrap();
        assert_eq!(ev.route_protocol(), Some(4));
        let KernelEvent::RouteAdded { hops, metric, .. } = &ev else {
            panic!("{ev:?}")
        };
        assert_eq!(*metric, 0);
        assert_eq!(hops.len(), 2);
        assert_eq!(hops[1].gateway, Some("10.0.0.2".parse().unwrap()));
        let mut c = ConnectedRoutes::new();
        assert_eq!(ev.apply_to(&mut c), vec![prefix]);
        assert_eq!(
            parse_event(&RouteNetlinkMessage::DelRoute(m.clone())),
            Some(KernelEvent::RouteRemoved {
                prefix,
                metric: 0,
                protocol: 4
            })
        );
        // Blackholes, other tables and the kernel's connected routes are not reported.
        let b = new_route_message(&prefix, &FibRoute::Blackhole, &target);
        assert_eq!(parse_event(&RouteNetlinkMessage::NewRoute(b)), None);
        let mut k = m;
        k.header.protocol = RouteProtocol::Kernel;
        assert_eq!(parse_event(&RouteNetlinkMessage::NewRoute(k)), None);
    }
}
