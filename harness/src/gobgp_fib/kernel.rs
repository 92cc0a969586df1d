//! The agent's kernel side: next-hop resolution with RTM_GETROUTE, and route programming through
//! the bundled speaker's [`NetlinkFib`] (replace in place with NLM_F_REPLACE, delete ignoring
//! "no such route", purge of our protocol's routes at start).
//!
//! Resolution asks the kernel for the FIB entry that matches the gateway (`ip route get fibmatch
//! GW`): a connected route gives its interface, a local-table entry means the gateway is our
//! own address, a route with a gateway of its own (a static route to a peer's loopback) gives
//! that gateway. Entries installed by the agent itself are refused, so a BGP next hop never
//! resolves through a BGP route (no recursion loops through our own default). Answers are
//! cached per gateway: in a lab the links and addresses of a node do not change while it runs;
//! an unreachable answer is not cached, so a later update retries.

use std::collections::HashMap;
use std::future::Future;
use std::net::Ipv4Addr;

use fabric_speaker::fib::{ApplyReport, Fib, FibError, NetlinkFib, RouteTarget};
use fabric_speaker::rib::FibChange;
use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteType,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::Handle;

use super::compute::{Gateway, Resolution};

/// The kernel FIB of the agent's own namespace, with a next-hop cache.
#[derive(Debug)]
pub(crate) struct Kernel {
    fib: NetlinkFib,
    handle: Handle,
    protocol: u8,
    cache: HashMap<Ipv4Addr, Resolution>,
}

impl Kernel {
    /// Opens an rtnetlink socket in the calling thread's namespace; the returned future drives
    /// it and must be spawned.
    pub(crate) fn connect(
        protocol: u8,
    ) -> std::io::Result<(Self, impl Future<Output = ()> + Send)> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        let target = RouteTarget {
            protocol,
            ..RouteTarget::default()
        };
        let kernel = Kernel {
            fib: NetlinkFib::from_handle(handle.clone(), target),
            handle,
            protocol,
            cache: HashMap::new(),
        };
        Ok((kernel, conn))
    }

    /// Removes every route of our protocol (left by an earlier run); returns their prefixes.
    pub(crate) async fn purge_stale(&mut self) -> Result<Vec<IpNet>, FibError> {
        self.fib.purge_stale().await
    }

    /// Applies route changes (individual failures are in the report).
    pub(crate) async fn apply(&mut self, changes: Vec<FibChange>) -> ApplyReport {
        self.fib.apply(changes).await
    }

    /// Resolves every gateway not in the cache yet. Errors other than "no route" are returned
    /// as text for the log; the gateway then counts as unreachable.
    pub(crate) async fn resolve_all(
        &mut self,
        gateways: impl IntoIterator<Item = Ipv4Addr>,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        for gw in gateways {
            if self.cache.contains_key(&gw) {
                continue;
            }
            match self.lookup(gw).await {
                Ok(Resolution::Unreachable) => {}
                Ok(r) => {
                    self.cache.insert(gw, r);
                }
                Err(e) => errors.push(format!("resolving {gw}: {e}")),
            }
        }
        errors
    }

    /// The cached resolution of `gw` ([`Resolution::Unreachable`] when unknown).
    pub(crate) fn resolution(&self, gw: Ipv4Addr) -> Resolution {
        self.cache
            .get(&gw)
            .cloned()
            .unwrap_or(Resolution::Unreachable)
    }

    async fn lookup(&self, gw: Ipv4Addr) -> Result<Resolution, rtnetlink::Error> {
        let req = self.handle.route().get(fib_match_request(gw));
        match req.execute().try_next().await {
            Ok(Some(msg)) => Ok(resolution(&msg, self.protocol)),
            Ok(None) => Ok(Resolution::Unreachable),
            Err(rtnetlink::Error::NetlinkError(e))
                if is_unreachable_errno(e.raw_code().unsigned_abs()) =>
            {
                Ok(Resolution::Unreachable)
            }
            Err(e) => Err(e),
        }
    }
}

/// ENETUNREACH / EHOSTUNREACH: the kernel has no route to the gateway.
fn is_unreachable_errno(errno: u32) -> bool {
    [
        nix::errno::Errno::ENETUNREACH,
        nix::errno::Errno::EHOSTUNREACH,
    ]
    .iter()
    .any(|e| u32::try_from(*e as i32).ok() == Some(errno))
}

/// `RTM_GETROUTE` for `gw`/32 with `RTM_F_FIB_MATCH` (answer with the matching FIB entry, not
/// the resolved result). Every other header field is left 0, as `ip route get` sends it.
fn fib_match_request(gw: Ipv4Addr) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet;
    m.header.destination_prefix_length = 32;
    m.header.flags = RouteFlags::FibMatch;
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::Inet(gw)));
    m
}

/// What a `fibmatch` answer means for a BGP next hop (see the module docs).
pub(crate) fn resolution(msg: &RouteMessage, own_protocol: u8) -> Resolution {
    match msg.header.kind {
        RouteType::Local => return Resolution::Local,
        RouteType::Unicast => {}
        _ => return Resolution::Unreachable,
    }
    if u8::from(msg.header.protocol) == own_protocol {
        return Resolution::Unreachable;
    }
    let oif = msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    });
    let gateway = msg.attributes.iter().find_map(ipv4_gateway);
    let multipath = msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::MultiPath(hops) => Some(hops),
        _ => None,
    });
    match (oif, gateway, multipath) {
        (Some(ifindex), None, None) => Resolution::Connected { ifindex },
        (Some(ifindex), Some(addr), _) => Resolution::Via(vec![Gateway { addr, ifindex }]),
        (_, _, Some(hops)) => {
            // A multipath route (a rack's two ToRs): every hop with a gateway.
            let gateways: Vec<Gateway> = hops
                .iter()
                .filter_map(|h| {
                    h.attributes
                        .iter()
                        .find_map(ipv4_gateway)
                        .map(|addr| Gateway {
                            addr,
                            ifindex: h.interface_index,
                        })
                })
                .collect();
            if gateways.is_empty() {
                Resolution::Unreachable
            } else {
                Resolution::Via(gateways)
            }
        }
        _ => Resolution::Unreachable,
    }
}

fn ipv4_gateway(a: &RouteAttribute) -> Option<Ipv4Addr> {
    match a {
        RouteAttribute::Gateway(RouteAddress::Inet(g)) => Some(*g),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use rtnetlink::packet_route::route::{RouteNextHop, RouteProtocol};

    use super::*;

    const OURS: u8 = 202;

    fn answer(
        kind: RouteType,
        protocol: RouteProtocol,
        attrs: Vec<RouteAttribute>,
    ) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.kind = kind;
        m.header.protocol = protocol;
        m.attributes = attrs;
        m
    }

    fn gw(s: &str) -> RouteAttribute {
        RouteAttribute::Gateway(RouteAddress::Inet(
            s.parse().unwrap_or_else(|e| panic!("{s}: {e}")),
        ))
    }

    #[test]
    fn connected_route_gives_its_interface() {
        let m = answer(
            RouteType::Unicast,
            RouteProtocol::Kernel,
            vec![RouteAttribute::Oif(4)],
        );
        assert_eq!(resolution(&m, OURS), Resolution::Connected { ifindex: 4 });
    }

    #[test]
    fn own_address_is_local() {
        let m = answer(
            RouteType::Local,
            RouteProtocol::Kernel,
            vec![RouteAttribute::Oif(1)],
        );
        assert_eq!(resolution(&m, OURS), Resolution::Local);
    }

    #[test]
    fn static_route_with_gateway_resolves_via_it() {
        let m = answer(
            RouteType::Unicast,
            RouteProtocol::Static,
            vec![gw("10.0.0.1"), RouteAttribute::Oif(2)],
        );
        let g = |a: [u8; 4], ifindex| Gateway {
            addr: Ipv4Addr::from(a),
            ifindex,
        };
        assert_eq!(
            resolution(&m, OURS),
            Resolution::Via(vec![g([10, 0, 0, 1], 2)])
        );
        let hop = |ifindex, via: &str| {
            let mut h = RouteNextHop::default();
            h.interface_index = ifindex;
            h.attributes.push(gw(via));
            h
        };
        let ecmp = answer(
            RouteType::Unicast,
            RouteProtocol::Static,
            vec![RouteAttribute::MultiPath(vec![
                hop(3, "10.0.0.5"),
                hop(4, "10.0.0.7"),
            ])],
        );
        assert_eq!(
            resolution(&ecmp, OURS),
            Resolution::Via(vec![g([10, 0, 0, 5], 3), g([10, 0, 0, 7], 4)])
        );
    }

    #[test]
    fn our_own_routes_and_blackholes_do_not_resolve() {
        let ours = answer(
            RouteType::Unicast,
            RouteProtocol::from(OURS),
            vec![gw("10.0.0.1"), RouteAttribute::Oif(2)],
        );
        assert_eq!(resolution(&ours, OURS), Resolution::Unreachable);
        let bh = answer(RouteType::BlackHole, RouteProtocol::Static, vec![]);
        assert_eq!(resolution(&bh, OURS), Resolution::Unreachable);
    }

    #[test]
    fn request_asks_for_the_fib_entry_of_one_address() {
        let m = fib_match_request(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(m.header.destination_prefix_length, 32);
        assert!(m.header.flags.contains(RouteFlags::FibMatch));
        assert_eq!(m.header.address_family, AddressFamily::Inet);
    }

    #[test]
    fn unreachable_errnos() {
        assert!(is_unreachable_errno(nix::errno::Errno::ENETUNREACH as u32));
        assert!(!is_unreachable_errno(nix::errno::Errno::EPERM as u32));
    }
}
