//! FIB entries: the common language of the expected-FIB model ([`crate::expect`]), the netlink
//! reader ([`super::reader`]) and the checks.
//!
//! A route is compared by *content* only: prefix, kind (unicast, blackhole, ...) and, for
//! unicast routes, the set of next hops (gateway, interface name). The installing protocol and
//! the metric are carried for reports but never compared: BIRD installs its routes with
//! `proto bird`, FRR with `proto bgp`/`zebra`, the bundled speaker with its own number, and each
//! picks its own metric, while the forwarding content is what a design prescribes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// One next hop of a unicast route.
///
/// Ordered by gateway then interface so that sets of next hops have one stable order in reports
/// and JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NextHop {
    /// The neighbour to forward to; `None` for an on-link route (`dev cali0`, a pod host route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// The outgoing interface.
    pub ifname: String,
}

impl NextHop {
    /// A next hop through a gateway (`via GW dev IF`).
    pub fn via(gateway: IpAddr, ifname: impl Into<String>) -> Self {
        NextHop {
            gateway: Some(gateway),
            ifname: ifname.into(),
        }
    }

    /// An on-link next hop (`dev IF`), as for a pod's host route.
    pub fn dev(ifname: impl Into<String>) -> Self {
        NextHop {
            gateway: None,
            ifname: ifname.into(),
        }
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.gateway {
            Some(gw) => write!(f, "via {gw} dev {}", self.ifname),
            None => write!(f, "dev {}", self.ifname),
        }
    }
}

/// What a route does with a packet (the kernel's `RTN_*` route type, with next hops for
/// unicast).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RouteKind {
    /// Forward to one next hop, or several (ECMP, `RTA_MULTIPATH`).
    Unicast { nexthops: BTreeSet<NextHop> },
    /// Silently drop (`RTN_BLACKHOLE`): Calico's route for a node's own IPAM blocks.
    Blackhole,
    /// Drop with ICMP unreachable (`RTN_UNREACHABLE`).
    Unreachable,
    /// Drop with ICMP administratively prohibited (`RTN_PROHIBIT`).
    Prohibit,
    /// Deliver locally (`RTN_LOCAL`), when found outside the local table.
    Local,
    /// Any other kernel route type, by number.
    Other { rtn: u8 },
}

impl RouteKind {
    /// A unicast route over the given next hops.
    pub fn unicast(nexthops: impl IntoIterator<Item = NextHop>) -> Self {
        RouteKind::Unicast {
            nexthops: nexthops.into_iter().collect(),
        }
    }

    /// The next hops of a unicast route, `None` for every other kind.
    pub fn nexthops(&self) -> Option<&BTreeSet<NextHop>> {
        match self {
            RouteKind::Unicast { nexthops } => Some(nexthops),
            _ => None,
        }
    }
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteKind::Unicast { nexthops } if nexthops.is_empty() => {
                f.write_str("unicast without next hop")
            }
            RouteKind::Unicast { nexthops } => {
                for (i, nh) in nexthops.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{nh}")?;
                }
                Ok(())
            }
            RouteKind::Blackhole => f.write_str("blackhole"),
            RouteKind::Unreachable => f.write_str("unreachable"),
            RouteKind::Prohibit => f.write_str("prohibit"),
            RouteKind::Local => f.write_str("local"),
            RouteKind::Other { rtn } => write!(f, "route type {rtn}"),
        }
    }
}

/// The routing protocol that installed a route (`rtm_protocol`, numbers from
/// `/etc/iproute2/rt_protos`). Informational only: never compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteProto {
    /// 1: ICMP redirect.
    Redirect,
    /// 2: the kernel itself (connected and local routes).
    Kernel,
    /// 3: `ip route add` without `proto`.
    Boot,
    /// 4: administrator static routes.
    Static,
    /// 9: IPv6 router advertisements.
    Ra,
    /// 11: FRR's zebra (non-BGP routes of FRR).
    Zebra,
    /// 12: BIRD.
    Bird,
    /// 186: BGP (FRR's bgpd routes, and any speaker that uses the standard number).
    Bgp,
    /// 196: FRR staticd.
    FrrStatic,
    /// Any other number.
    Other(u8),
}

impl RouteProto {
    /// The protocol for an `rtm_protocol` number.
    pub fn from_number(n: u8) -> Self {
        match n {
            1 => RouteProto::Redirect,
            2 => RouteProto::Kernel,
            3 => RouteProto::Boot,
            4 => RouteProto::Static,
            9 => RouteProto::Ra,
            11 => RouteProto::Zebra,
            12 => RouteProto::Bird,
            186 => RouteProto::Bgp,
            196 => RouteProto::FrrStatic,
            other => RouteProto::Other(other),
        }
    }

    /// The `rtm_protocol` number.
    pub fn number(self) -> u8 {
        match self {
            RouteProto::Redirect => 1,
            RouteProto::Kernel => 2,
            RouteProto::Boot => 3,
            RouteProto::Static => 4,
            RouteProto::Ra => 9,
            RouteProto::Zebra => 11,
            RouteProto::Bird => 12,
            RouteProto::Bgp => 186,
            RouteProto::FrrStatic => 196,
            RouteProto::Other(n) => n,
        }
    }

    /// Routes the kernel creates by itself (connected subnets, redirects, RA): never part of a
    /// comparison, because no design prescribes them.
    pub fn is_kernel_owned(self) -> bool {
        matches!(
            self,
            RouteProto::Redirect | RouteProto::Kernel | RouteProto::Ra
        )
    }
}

impl fmt::Display for RouteProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteProto::Redirect => f.write_str("redirect"),
            RouteProto::Kernel => f.write_str("kernel"),
            RouteProto::Boot => f.write_str("boot"),
            RouteProto::Static => f.write_str("static"),
            RouteProto::Ra => f.write_str("ra"),
            RouteProto::Zebra => f.write_str("zebra"),
            RouteProto::Bird => f.write_str("bird"),
            RouteProto::Bgp => f.write_str("bgp"),
            RouteProto::FrrStatic => f.write_str("frr-static"),
            RouteProto::Other(n) => write!(f, "{n}"),
        }
    }
}

/// One route of a FIB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibRoute {
    /// Destination prefix, host bits cleared.
    pub prefix: IpNet,
    #[serde(flatten)]
    pub kind: RouteKind,
    /// Who installed it (read FIBs only; the model leaves it empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<RouteProto>,
    /// The route's priority (`RTA_PRIORITY`, "metric"; read FIBs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
}

impl FibRoute {
    /// A route with no protocol or metric (what the model produces). The prefix is normalised
    /// (host bits cleared) so that it can key a [`NodeFib`].
    pub fn new(prefix: IpNet, kind: RouteKind) -> Self {
        FibRoute {
            prefix: prefix.trunc(),
            kind,
            protocol: None,
            metric: None,
        }
    }

    /// Same route content: prefix and kind, ignoring protocol and metric.
    pub fn same_content(&self, other: &FibRoute) -> bool {
        self.prefix == other.prefix && self.kind == other.kind
    }
}

impl fmt::Display for FibRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.prefix, self.kind)?;
        if let Some(p) = self.protocol {
            write!(f, " proto {p}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        Ok(())
    }
}

/// Address family selector for [`NodeFib::filtered`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FamilyFilter {
    Ipv4,
    Ipv6,
}

impl FamilyFilter {
    /// Whether `prefix` belongs to this family.
    pub fn matches(self, prefix: &IpNet) -> bool {
        matches!(
            (self, prefix),
            (FamilyFilter::Ipv4, IpNet::V4(_)) | (FamilyFilter::Ipv6, IpNet::V6(_))
        )
    }
}

/// One node's FIB: at most one route per prefix, in prefix order.
///
/// Serialised as a JSON list of routes (the prefix is inside each route).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<FibRoute>", into = "Vec<FibRoute>")]
pub struct NodeFib {
    routes: BTreeMap<IpNet, FibRoute>,
}

impl NodeFib {
    /// An empty FIB.
    pub fn new() -> Self {
        NodeFib::default()
    }

    /// Adds or replaces the route for `route.prefix`; returns the replaced one.
    pub fn insert(&mut self, route: FibRoute) -> Option<FibRoute> {
        self.routes.insert(route.prefix, route)
    }

    /// The route for exactly this prefix.
    pub fn get(&self, prefix: &IpNet) -> Option<&FibRoute> {
        self.routes.get(prefix)
    }

    /// Removes and returns the route for exactly this prefix.
    pub fn remove(&mut self, prefix: &IpNet) -> Option<FibRoute> {
        self.routes.remove(prefix)
    }

    /// Whether a route for exactly this prefix exists.
    pub fn contains(&self, prefix: &IpNet) -> bool {
        self.routes.contains_key(prefix)
    }

    /// Routes in prefix order.
    pub fn iter(&self) -> impl Iterator<Item = &FibRoute> + '_ {
        self.routes.values()
    }

    /// Prefixes in order.
    pub fn prefixes(&self) -> impl Iterator<Item = &IpNet> + '_ {
        self.routes.keys()
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Only the routes of one address family (the model covers IPv4 only so far: compare a read
    /// FIB's IPv4 part against it).
    pub fn filtered(&self, family: FamilyFilter) -> NodeFib {
        self.iter()
            .filter(|r| family.matches(&r.prefix))
            .cloned()
            .collect()
    }

    /// Route counts.
    pub fn summary(&self) -> FibSummary {
        let mut s = FibSummary::default();
        for r in self.iter() {
            s.routes += 1;
            if r.prefix.prefix_len() == 0 {
                s.has_default = true;
            }
            match &r.kind {
                RouteKind::Unicast { nexthops } => {
                    if nexthops.iter().all(|nh| nh.gateway.is_none()) {
                        s.on_link += 1;
                    } else {
                        s.via_gateway += 1;
                    }
                    if nexthops.len() > 1 {
                        s.ecmp += 1;
                    }
                }
                RouteKind::Blackhole => s.blackhole += 1,
                _ => s.other += 1,
            }
        }
        s
    }
}

impl FromIterator<FibRoute> for NodeFib {
    /// Later routes for the same prefix replace earlier ones.
    fn from_iter<T: IntoIterator<Item = FibRoute>>(iter: T) -> Self {
        let mut fib = NodeFib::new();
        for r in iter {
            fib.insert(r);
        }
        fib
    }
}

impl From<Vec<FibRoute>> for NodeFib {
    fn from(routes: Vec<FibRoute>) -> Self {
        routes.into_iter().collect()
    }
}

impl From<NodeFib> for Vec<FibRoute> {
    fn from(fib: NodeFib) -> Self {
        fib.routes.into_values().collect()
    }
}

impl<'a> IntoIterator for &'a NodeFib {
    type Item = &'a FibRoute;
    type IntoIter = std::collections::btree_map::Values<'a, IpNet, FibRoute>;
    fn into_iter(self) -> Self::IntoIter {
        self.routes.values()
    }
}

/// Route counts of one FIB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibSummary {
    /// All routes.
    pub routes: usize,
    /// Unicast routes with at least one gateway (BGP and static routes).
    pub via_gateway: usize,
    /// Unicast routes with only on-link next hops (pod host routes).
    pub on_link: usize,
    /// Unicast routes with more than one next hop.
    pub ecmp: usize,
    pub blackhole: usize,
    /// Unreachable, prohibit, local and other types.
    pub other: usize,
    /// A default route (`0.0.0.0/0` or `::/0`) is present.
    pub has_default: bool,
}

impl fmt::Display for FibSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} routes ({} via gateway, {} ecmp, {} on-link, {} blackhole",
            self.routes, self.via_gateway, self.ecmp, self.on_link, self.blackhole
        )?;
        if self.other > 0 {
            write!(f, ", {} other", self.other)?;
        }
        if self.has_default {
            f.write_str(", has default")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|e| panic!("bad prefix {s}: {e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("bad address {s}: {e}"))
    }

    fn sample() -> NodeFib {
        [
            FibRoute::new(net("10.1.0.0/26"), RouteKind::Blackhole),
            FibRoute::new(
                net("10.1.0.1/32"),
                RouteKind::unicast([NextHop::dev("cali0")]),
            ),
            FibRoute::new(
                net("10.2.0.0/26"),
                RouteKind::unicast([
                    NextHop::via(ip("10.0.0.18"), "e1"),
                    NextHop::via(ip("10.0.0.16"), "e0"),
                ]),
            ),
            FibRoute::new(
                net("0.0.0.0/0"),
                RouteKind::unicast([NextHop::via(ip("10.0.0.16"), "e0")]),
            ),
            FibRoute::new(net("2001:db8::/64"), RouteKind::Unreachable),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn json_round_trip_keeps_every_route() {
        let fib = sample();
        let json = serde_json::to_string(&fib).unwrap_or_default();
        assert!(json.contains(r#""type":"blackhole""#), "{json}");
        assert!(json.contains(r#""prefix":"10.2.0.0/26""#), "{json}");
        let back: NodeFib = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, fib);
    }

    #[test]
    fn nexthops_are_ordered_and_rendered_stably() {
        let fib = sample();
        let route = fib.get(&net("10.2.0.0/26")).map(|r| r.kind.to_string());
        assert_eq!(
            route.as_deref(),
            Some("via 10.0.0.16 dev e0, via 10.0.0.18 dev e1")
        );
    }

    #[test]
    fn prefixes_are_normalised() {
        let r = FibRoute::new(net("10.1.0.7/26"), RouteKind::Blackhole);
        assert_eq!(r.prefix, net("10.1.0.0/26"));
    }

    #[test]
    fn summary_counts_kinds() {
        let s = sample().summary();
        assert_eq!(
            s,
            FibSummary {
                routes: 5,
                via_gateway: 2,
                on_link: 1,
                ecmp: 1,
                blackhole: 1,
                other: 1,
                has_default: true
            }
        );
    }

    #[test]
    fn family_filter_keeps_one_family() {
        let v4 = sample().filtered(FamilyFilter::Ipv4);
        assert_eq!(v4.len(), 4);
        assert!(!v4.contains(&net("2001:db8::/64")));
        assert_eq!(sample().filtered(FamilyFilter::Ipv6).len(), 1);
    }

    #[test]
    fn protocol_numbers_round_trip() {
        for n in 0..=u8::MAX {
            assert_eq!(RouteProto::from_number(n).number(), n);
        }
        assert!(RouteProto::Kernel.is_kernel_owned());
        assert!(!RouteProto::Bird.is_kernel_owned());
        assert!(!RouteProto::Boot.is_kernel_owned());
    }
}
