//! The plan's static routes (stand-ins for a rack's shared L2 segment), as rtnetlink requests.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::{packet_core as netlink_packet_core, packet_route as netlink_packet_route};
use rtnetlink::{RouteMessageBuilder, RouteNextHopBuilder};

use super::netlink::Request;
use super::pod::POD_ROUTE_PROTOCOL;
use crate::topology::StaticRoute;

/// The request installing `sr`, resolving interface names with `indexes` (this namespace's
/// name -> ifindex). One next hop is a plain route, several an ECMP (multipath) route.
pub(crate) fn static_route(
    sr: &StaticRoute,
    indexes: &HashMap<String, u32>,
) -> Result<Request, String> {
    let what = format!("static route {} on {}", sr.prefix, sr.node);
    let index_of = |ifname: &str| {
        indexes
            .get(ifname)
            .copied()
            .ok_or_else(|| format!("{what}: no interface {ifname}"))
    };
    let base = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(sr.prefix.addr(), sr.prefix.prefix_len())
        .protocol(POD_ROUTE_PROTOCOL);
    let msg = match sr.nexthops.as_slice() {
        [] => return Err(format!("{what}: no next hop")),
        [nh] => base
            .gateway(nh.via)
            .output_interface(index_of(&nh.ifname)?)
            .build(),
        many => {
            let mut hops = Vec::with_capacity(many.len());
            for nh in many {
                let hop = RouteNextHopBuilder::new_ipv4()
                    .interface(index_of(&nh.ifname)?)
                    .via(IpAddr::V4(nh.via))
                    .map_err(|e| format!("{what}: {e}"))?
                    .build();
                hops.push(hop);
            }
            base.multipath(hops).build()
        }
    };
    Ok(Request::new(
        RouteNetlinkMessage::NewRoute(msg),
        NLM_F_CREATE | NLM_F_REPLACE,
        what,
    ))
}
