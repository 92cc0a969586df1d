//! Pods wired the way Calico wires workloads (the CNI plugin plus felix), as rtnetlink requests.
//!
//! ```text
//!   pod namespace                         node namespace
//!   eth0  10.0.1.5/32, fd..:5/128  <-veth->  caliN  (no address, MAC ee:ee:ee:ee:ee:ee,
//!   169.254.1.1 dev eth0 scope link            proxy_arp=1, proxy_delay=0)
//!   default via 169.254.1.1 dev eth0           10.0.1.5/32 dev caliN  proto static scope link
//!   default via fe80::ecee:eeff:feee:eeee      fd..:5/128  dev caliN  proto static
//!           dev eth0
//! ```
//!
//! - Host routes use protocol `static` ([`POD_ROUTE_PROTOCOL`], RTPROT_STATIC = 4) so the FIB
//!   checker can tell them from kernel (2) and BGP (186) routes. Calico's felix uses its own
//!   protocol number (80); we use `static` because it is the conventional value for routes a
//!   provisioning tool installs and every daemon (BIRD, FRR, GoBGP) leaves such routes alone.
//! - IPv4: the pod's gateway 169.254.1.1 exists nowhere; the host side answers ARP for it with
//!   proxy ARP. Proxy ARP only answers when the *host* has a route to 169.254.1.1 (in Calico that
//!   is the host's default route), which a lab node does not have before BGP converges, so the
//!   pod additionally gets a permanent neighbour entry 169.254.1.1 -> ee:ee:ee:ee:ee:ee. This
//!   makes pod -> node traffic independent of the node's routing table; it is the one place where
//!   the lab deviates from a stock Calico pod.
//! - IPv6: the host side's MAC is fixed (as Calico does), so its link-local address is known in
//!   advance ([`CALI_LINK_LOCAL`]) and the pod's default route points at it; the node answers
//!   neighbour solicitations for its own link-local, so no proxy NDP is needed. DAD is off in both
//!   namespaces so both link-locals are usable at once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteProtocol, RouteScope, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::RouteMessageBuilder;
use rtnetlink::{packet_core as netlink_packet_core, packet_route as netlink_packet_route};

use super::link::{address, set_index_up, CALI_LINK_LOCAL, CALI_MAC, POD_GATEWAY_V4};
use super::netlink::Request;
use crate::topology::PodPlan;

/// Protocol of every route the lab installs (pod host routes and plan static routes).
pub const POD_ROUTE_PROTOCOL: RouteProtocol = RouteProtocol::Static;

/// Name of the pod-side interface.
pub const POD_IFNAME: &str = "eth0";

fn route(msg: netlink_packet_route::route::RouteMessage, what: String) -> Request {
    Request::new(
        RouteNetlinkMessage::NewRoute(msg),
        NLM_F_CREATE | NLM_F_REPLACE,
        what,
    )
}

/// Requests in the *node* namespace for one of its pods: host routes to the pod's addresses
/// through the host-side interface `host_index`.
pub(crate) fn host_side(pod: &PodPlan, host_index: u32) -> Vec<Request> {
    let v4 = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(pod.v4, 32)
        .output_interface(host_index)
        .protocol(POD_ROUTE_PROTOCOL)
        .scope(RouteScope::Link)
        .build();
    let v6 = RouteMessageBuilder::<Ipv6Addr>::new()
        .destination_prefix(pod.v6, 128)
        .output_interface(host_index)
        .protocol(POD_ROUTE_PROTOCOL)
        .build();
    vec![
        route(
            v4,
            format!(
                "route {}/32 dev {} on {}",
                pod.v4, pod.host_ifname, pod.host
            ),
        ),
        route(
            v6,
            format!(
                "route {}/128 dev {} on {}",
                pod.v6, pod.host_ifname, pod.host
            ),
        ),
    ]
}

/// Requests in the *pod* namespace: `eth0` up, addresses on it (index `eth0`), gateway routes and the
/// permanent neighbour entry for 169.254.1.1.
pub(crate) fn pod_side(pod: &PodPlan, eth0: u32) -> Vec<Request> {
    let at = format!("{} {POD_IFNAME}", pod.id);
    let gw_v4 = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(POD_GATEWAY_V4, 32)
        .output_interface(eth0)
        .protocol(POD_ROUTE_PROTOCOL)
        .scope(RouteScope::Link)
        .build();
    let default_v4 = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(POD_GATEWAY_V4)
        .output_interface(eth0)
        .protocol(POD_ROUTE_PROTOCOL)
        .build();
    let default_v6 = RouteMessageBuilder::<Ipv6Addr>::new()
        .gateway(CALI_LINK_LOCAL)
        .output_interface(eth0)
        .protocol(POD_ROUTE_PROTOCOL)
        .build();
    let mut neigh = NeighbourMessage::default();
    neigh.header.family = AddressFamily::Inet;
    neigh.header.ifindex = eth0;
    neigh.header.state = NeighbourState::Permanent;
    neigh.header.kind = RouteType::Unicast;
    neigh
        .attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
            POD_GATEWAY_V4,
        )));
    neigh
        .attributes
        .push(NeighbourAttribute::LinkLayerAddress(CALI_MAC.to_vec()));
    vec![
        set_index_up(eth0, format!("{at} up")),
        address(
            eth0,
            IpAddr::V4(pod.v4),
            32,
            format!("address {}/32 on {at}", pod.v4),
        ),
        address(
            eth0,
            IpAddr::V6(pod.v6),
            128,
            format!("address {}/128 on {at}", pod.v6),
        ),
        route(
            gw_v4,
            format!("route {POD_GATEWAY_V4} dev {POD_IFNAME} on {}", pod.id),
        ),
        route(
            default_v4,
            format!("default route via {POD_GATEWAY_V4} on {}", pod.id),
        ),
        route(
            default_v6,
            format!("default route via {CALI_LINK_LOCAL} on {}", pod.id),
        ),
        Request::new(
            RouteNetlinkMessage::NewNeighbour(neigh),
            NLM_F_CREATE | NLM_F_REPLACE,
            format!("neighbour {POD_GATEWAY_V4} on {at}"),
        ),
    ]
}
