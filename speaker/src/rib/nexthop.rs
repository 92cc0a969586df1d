//! Next-hop resolution: is a BGP next hop reachable, at what IGP cost, through which interface,
//! and is it one of our own addresses?
//!
//! RFC 4271 §9.1.2: a route whose NEXT_HOP is unresolvable is excluded from the decision process,
//! and becomes eligible when it resolves. The RIB asks a [`NextHopResolver`] for directly
//! connected reachability; resolution through another BGP route (recursive next hop) is done by
//! the RIB itself on top of this (see `Rib`). [`ConnectedRoutes`] is the implementation the daemon
//! feeds from netlink address, link and route events; tests use closures.
//!
//! Besides connected networks, [`ConnectedRoutes`] holds the kernel's other routes (static routes,
//! routes of other daemons; never ours, never the default route): a next hop that is not on a
//! connected network but covered by such a route resolves through it, and the kernel route we
//! install uses that route's gateways (BIRD `gateway recursive` over `learn`ed kernel routes). The
//! RR-node racks rely on it: reflected next hops are loopbacks reached through static routes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::rib::fib_change::FibNextHop;

/// A next hop reached directly through a connected route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DirectRoute {
    /// IGP cost to the next hop (0 for connected, RFC 4271 §9.1.2.2 e).
    pub cost: u32,
    /// Outgoing interface, when known (needed for IPv6 link-local gateways).
    pub ifindex: Option<u32>,
}

/// Answers reachability questions about next hops. Implementations must be pure lookups.
pub trait NextHopResolver {
    /// How `addr` is reached if it is on a connected network, `None` if it is not.
    fn resolve(&self, addr: IpAddr) -> Option<DirectRoute>;

    /// Whether `addr` is one of this speaker's own addresses (RFC 4271 §6.3: a route whose next
    /// hop is ourselves is ignored; §5.1.3 we never install a route via ourselves).
    fn is_local(&self, addr: IpAddr) -> bool;

    /// The gateways a kernel route towards next hop `addr` must use: `addr` itself when it is on
    /// a connected network, the covering route's gateways when it resolves through another
    /// kernel route. Empty when `addr` does not resolve.
    fn gateways(&self, addr: IpAddr) -> Vec<FibNextHop> {
        self.resolve(addr)
            .map(|d| {
                vec![FibNextHop {
                    gateway: addr,
                    ifindex: d.ifindex,
                }]
            })
            .unwrap_or_default()
    }
}

/// IGP cost of a next hop resolved through a kernel route (worse than connected, 0).
pub const KERNEL_ROUTE_COST: u32 = 1;

/// One next hop of a kernel route learned for resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelHop {
    /// Gateway; `None` for a device route (the destination is on-link).
    pub gateway: Option<IpAddr>,
    /// Outgoing interface, when known.
    pub ifindex: Option<u32>,
}

/// A resolver from a closure, for tests and simple setups: `f(addr)` is the direct route; no
/// address is local.
pub struct FnResolver<F>(pub F);

impl<F: Fn(IpAddr) -> Option<DirectRoute>> NextHopResolver for FnResolver<F> {
    fn resolve(&self, addr: IpAddr) -> Option<DirectRoute> {
        (self.0)(addr)
    }
    fn is_local(&self, _addr: IpAddr) -> bool {
        false
    }
}

/// One interface address: the connected network it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectedEntry {
    /// Interface index.
    pub ifindex: u32,
    /// Our address on it.
    pub local: IpAddr,
    /// The connected network (address with its prefix length, truncated).
    pub network: IpNet,
}

/// Connected networks from interface addresses, with link state. Every next hop inside a
/// connected network of an interface that is up resolves at cost 0.
#[derive(Debug, Clone, Default)]
pub struct ConnectedRoutes {
    entries: Vec<ConnectedEntry>,
    down: Vec<u32>,
    /// Other kernel routes by (prefix, metric).
    routes: BTreeMap<(IpNet, u32), Vec<KernelHop>>,
}

impl ConnectedRoutes {
    /// No connected networks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record an interface address. Returns the networks whose reachability changed (to pass to
    /// `Rib::resolver_changed`).
    pub fn add_address(&mut self, ifindex: u32, local: IpAddr, prefix_len: u8) -> Vec<IpNet> {
        let Ok(net) = IpNet::new(local, prefix_len) else {
            return Vec::new();
        };
        let entry = ConnectedEntry {
            ifindex,
            local,
            network: net.trunc(),
        };
        if self.entries.contains(&entry) {
            return Vec::new();
        }
        self.entries.push(entry);
        vec![entry.network]
    }

    /// Forget an interface address. Returns the networks whose reachability changed.
    pub fn remove_address(&mut self, ifindex: u32, local: IpAddr, prefix_len: u8) -> Vec<IpNet> {
        let before = self.entries.len();
        self.entries.retain(|e| {
            !(e.ifindex == ifindex && e.local == local && e.network.prefix_len() == prefix_len)
        });
        if self.entries.len() == before {
            return Vec::new();
        }
        IpNet::new(local, prefix_len)
            .map(|n| vec![n.trunc()])
            .unwrap_or_default()
    }

    /// Record link state. A down link's networks stop resolving (fast failover: RFC 4271 leaves
    /// reachability to the implementation; we react to carrier loss at once). Returns the
    /// networks whose reachability changed.
    pub fn set_link_up(&mut self, ifindex: u32, up: bool) -> Vec<IpNet> {
        let was_down = self.down.contains(&ifindex);
        // Already in the requested state (up and not marked down, or down and marked down).
        if up != was_down {
            return Vec::new();
        }
        if up {
            self.down.retain(|i| *i != ifindex);
        } else {
            self.down.push(ifindex);
        }
        self.networks_of(ifindex)
    }

    /// Forget an interface entirely (link deleted). Returns the networks that went away.
    pub fn remove_link(&mut self, ifindex: u32) -> Vec<IpNet> {
        let nets = self.networks_of(ifindex);
        self.entries.retain(|e| e.ifindex != ifindex);
        self.down.retain(|i| *i != ifindex);
        nets
    }

    /// The interface whose connected network contains `addr` (longest match), whatever the link
    /// state: which link a BGP session to `addr` runs over, so the daemon can drop the session
    /// as soon as that link goes down.
    pub fn interface_of(&self, addr: IpAddr) -> Option<u32> {
        self.entries
            .iter()
            .filter(|e| e.network.contains(&addr))
            .max_by_key(|e| e.network.prefix_len())
            .map(|e| e.ifindex)
    }

    /// One of our addresses of the given family on interface `ifindex` (for next hop self in
    /// the other family of a session, e.g. IPv6 routes over an IPv4 session).
    pub fn local_address_on(&self, ifindex: u32, ipv6: bool) -> Option<IpAddr> {
        self.entries
            .iter()
            .filter(|e| e.ifindex == ifindex && e.local.is_ipv6() == ipv6)
            .map(|e| e.local)
            .min()
    }

    /// All recorded entries.
    pub fn entries(&self) -> &[ConnectedEntry] {
        &self.entries
    }

    /// Record a kernel route (not ours) usable to resolve next hops. The default route is not
    /// used for resolution (FRR's `ip nht resolve-via-default` off): a next hop reachable only
    /// through a default is treated as unreachable. Returns the networks whose reachability
    /// changed.
    pub fn set_route(&mut self, prefix: IpNet, metric: u32, hops: Vec<KernelHop>) -> Vec<IpNet> {
        let prefix = prefix.trunc();
        if prefix.prefix_len() == 0 || hops.is_empty() {
            return Vec::new();
        }
        let mut hops = hops;
        hops.sort();
        hops.dedup();
        if self.routes.get(&(prefix, metric)) == Some(&hops) {
            return Vec::new();
        }
        self.routes.insert((prefix, metric), hops);
        vec![prefix]
    }

    /// Forget a kernel route. Returns the networks whose reachability changed.
    pub fn remove_route(&mut self, prefix: IpNet, metric: u32) -> Vec<IpNet> {
        let prefix = prefix.trunc();
        match self.routes.remove(&(prefix, metric)) {
            Some(_) => vec![prefix],
            None => Vec::new(),
        }
    }

    /// Number of kernel routes held for resolution.
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    fn hop_usable(&self, h: &KernelHop) -> bool {
        h.ifindex.is_none_or(|i| !self.down.contains(&i))
    }

    /// The most specific kernel route covering `addr` with at least one usable hop (lowest
    /// metric among equal prefixes), with those hops.
    fn kernel_route(&self, addr: IpAddr) -> Option<Vec<KernelHop>> {
        self.routes
            .iter()
            .filter(|((p, _), _)| p.contains(&addr))
            .filter_map(|((p, m), hops)| {
                let usable: Vec<KernelHop> = hops
                    .iter()
                    .copied()
                    .filter(|h| self.hop_usable(h))
                    .collect();
                (!usable.is_empty()).then_some((p.prefix_len(), std::cmp::Reverse(*m), usable))
            })
            .max_by_key(|(len, m, _)| (*len, *m))
            .map(|(_, _, hops)| hops)
    }

    fn connected(&self, addr: IpAddr) -> Option<&ConnectedEntry> {
        self.entries
            .iter()
            .filter(|e| {
                !self.down.contains(&e.ifindex) && e.network.contains(&addr) && e.local != addr
            })
            .max_by_key(|e| e.network.prefix_len())
    }

    fn networks_of(&self, ifindex: u32) -> Vec<IpNet> {
        self.entries
            .iter()
            .filter(|e| e.ifindex == ifindex)
            .map(|e| e.network)
            .collect()
    }
}

impl NextHopResolver for ConnectedRoutes {
    fn resolve(&self, addr: IpAddr) -> Option<DirectRoute> {
        if let Some(e) = self.connected(addr) {
            return Some(DirectRoute {
                cost: 0,
                ifindex: Some(e.ifindex),
            });
        }
        if self.is_local(addr) {
            return None;
        }
        let hops = self.kernel_route(addr)?;
        Some(DirectRoute {
            cost: KERNEL_ROUTE_COST,
            ifindex: hops.first().and_then(|h| h.ifindex),
        })
    }

    fn gateways(&self, addr: IpAddr) -> Vec<FibNextHop> {
        if let Some(e) = self.connected(addr) {
            return vec![FibNextHop {
                gateway: addr,
                ifindex: Some(e.ifindex),
            }];
        }
        if self.is_local(addr) {
            return Vec::new();
        }
        self.kernel_route(addr)
            .unwrap_or_default()
            .into_iter()
            .map(|h| FibNextHop {
                // A device route: the next hop itself is on-link there.
                gateway: h.gateway.unwrap_or(addr),
                ifindex: h.ifindex,
            })
            .collect()
    }

    fn is_local(&self, addr: IpAddr) -> bool {
        self.entries.iter().any(|e| e.local == addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn connected_resolution_follows_addresses_and_link_state() {
        let mut c = ConnectedRoutes::new();
        assert_eq!(c.resolve(ip("10.0.0.2")), None);
        let changed = c.add_address(3, ip("10.0.0.1"), 24);
        assert_eq!(changed, vec!["10.0.0.0/24".parse::<IpNet>().unwrap()]);
        assert_eq!(
            c.resolve(ip("10.0.0.2")),
            Some(DirectRoute {
                cost: 0,
                ifindex: Some(3)
            })
        );
        assert!(c.is_local(ip("10.0.0.1")));
        assert_eq!(
            c.resolve(ip("10.0.0.1")),
            None,
            "our own address is not a next hop"
        );
        assert_eq!(c.resolve(ip("10.0.1.2")), None);

        assert_eq!(c.set_link_up(3, false).len(), 1);
        assert_eq!(c.resolve(ip("10.0.0.2")), None);
        assert!(
            c.set_link_up(3, false).is_empty(),
            "no change reported twice"
        );
        assert_eq!(c.set_link_up(3, true).len(), 1);
        assert!(c.resolve(ip("10.0.0.2")).is_some());

        assert_eq!(c.remove_address(3, ip("10.0.0.1"), 24).len(), 1);
        assert_eq!(c.resolve(ip("10.0.0.2")), None);
    }

    #[test]
    fn next_hops_resolve_through_kernel_routes_with_their_gateways() {
        let mut c = ConnectedRoutes::new();
        c.add_address(1, ip("10.0.0.1"), 31);
        c.add_address(2, ip("10.0.0.3"), 31);
        let lo: IpNet = "10.255.0.9/32".parse().unwrap();
        let hops = vec![
            KernelHop {
                gateway: Some(ip("10.0.0.2")),
                ifindex: Some(2),
            },
            KernelHop {
                gateway: Some(ip("10.0.0.0")),
                ifindex: Some(1),
            },
        ];
        assert_eq!(c.set_route(lo, 0, hops.clone()), vec![lo]);
        assert!(c.set_route(lo, 0, hops).is_empty(), "unchanged");
        let r = c.resolve(ip("10.255.0.9")).unwrap();
        assert_eq!(r.cost, KERNEL_ROUTE_COST);
        let gws: Vec<IpAddr> = c
            .gateways(ip("10.255.0.9"))
            .iter()
            .map(|h| h.gateway)
            .collect();
        assert_eq!(gws, vec![ip("10.0.0.0"), ip("10.0.0.2")]);
        // Connected next hops keep themselves as gateway.
        assert_eq!(c.gateways(ip("10.0.0.0"))[0].gateway, ip("10.0.0.0"));
        // A down link removes its leg; both down: unresolvable.
        c.set_link_up(1, false);
        let gws: Vec<IpAddr> = c
            .gateways(ip("10.255.0.9"))
            .iter()
            .map(|h| h.gateway)
            .collect();
        assert_eq!(gws, vec![ip("10.0.0.2")]);
        c.set_link_up(2, false);
        assert_eq!(c.resolve(ip("10.255.0.9")), None);
        c.set_link_up(1, true);
        c.set_link_up(2, true);
        // Default routes never resolve next hops.
        assert!(c
            .set_route(
                "0.0.0.0/0".parse().unwrap(),
                0,
                vec![KernelHop {
                    gateway: Some(ip("10.0.0.0")),
                    ifindex: Some(1)
                }]
            )
            .is_empty());
        assert_eq!(c.resolve(ip("192.0.2.1")), None);
        // Device routes: on-link, the next hop is its own gateway.
        c.set_route(
            "192.0.2.0/24".parse().unwrap(),
            0,
            vec![KernelHop {
                gateway: None,
                ifindex: Some(2),
            }],
        );
        assert_eq!(c.gateways(ip("192.0.2.7"))[0].gateway, ip("192.0.2.7"));
        assert_eq!(c.remove_route(lo, 0), vec![lo]);
        assert_eq!(c.resolve(ip("10.255.0.9")), None);
    }

    #[test]
    fn longest_connected_match_wins() {
        let mut c = ConnectedRoutes::new();
        c.add_address(1, ip("10.0.0.1"), 16);
        c.add_address(2, ip("10.0.5.1"), 24);
        assert_eq!(c.resolve(ip("10.0.5.9")).and_then(|r| r.ifindex), Some(2));
        assert_eq!(c.resolve(ip("10.0.6.9")).and_then(|r| r.ifindex), Some(1));
        assert_eq!(c.remove_link(2).len(), 1);
        assert_eq!(c.resolve(ip("10.0.5.9")).and_then(|r| r.ifindex), Some(1));
    }
}
