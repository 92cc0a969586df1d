//! The resolved plan: what a topology file plus a design *mean*, fully expanded.
//!
//! Everything downstream (lab builder, config renderers, expected-FIB model, checks, reports)
//! reads only this. It is plain data, deterministic for a given input file, and serialisable so
//! `fabriclab validate` can print it and a failure bundle can store it.
//!
//! Naming (stable, short enough for 15-byte interface names):
//! - spines `s1..sN`; ToRs `r{rack}t{i}` (e.g. `r1t1`); nodes `r{rack}n{i}`; route reflectors
//!   `r{rack}rr{i}`; pods `{node}p{i}`; external peers as named in the file.
//! - an interface on node X towards node Y is `e{index}` where index counts X's links in plan
//!   order; a node's pod-facing interfaces are `cali{i}`; a pod's interface is `eth0`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fabric_bgp_wire::{Asn, RouterId};
use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

/// A node's name, unique within a plan (e.g. `s1`, `r2t1`, `r2n3`, `r2n3p1`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl NodeId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId(s.to_string())
    }
}

/// Index of a link in [`Plan::links`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LinkId(pub u32);

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "l{}", self.0)
    }
}

/// What a node is in the fabric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Spine,
    Tor,
    /// A compute server (a Kubernetes node running calico-node).
    Node,
    /// A route reflector inside a rack (AS per rack with RR nodes instead of the ToR).
    RouteReflector,
    /// An external BGP peer attached to a spine (or wherever the file says).
    External,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Spine => "spine",
            Role::Tor => "tor",
            Role::Node => "node",
            Role::RouteReflector => "route-reflector",
            Role::External => "external",
        })
    }
}

/// The Calico fabric design (Calico "L3 interconnect fabric"; RFC 7938).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    AsPerRack,
    AsPerServer,
    DownwardDefault,
}

impl fmt::Display for Design {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Design::AsPerRack => "as-per-rack",
            Design::AsPerServer => "as-per-server",
            Design::DownwardDefault => "downward-default",
        })
    }
}

/// Which BGP implementation runs on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpeakerKind {
    /// `fabric-speaker`, the default.
    Bundled,
    Bird,
    Frr,
    Gobgp,
}

impl fmt::Display for SpeakerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpeakerKind::Bundled => "bundled",
            SpeakerKind::Bird => "bird",
            SpeakerKind::Frr => "frr",
            SpeakerKind::Gobgp => "gobgp",
        })
    }
}

/// The whole resolved fabric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Topology name (from the file's `name:` or its file stem).
    pub name: String,
    pub design: Design,
    /// Routers and servers, in a deterministic order: spines, then per rack ToRs, RRs, nodes,
    /// then external peers.
    pub nodes: Vec<NodePlan>,
    /// Point-to-point links between routers/servers (not pod links).
    pub links: Vec<LinkPlan>,
    /// Pods, each a namespace behind its host node.
    pub pods: Vec<PodPlan>,
    /// Topology-aware IP pools, one or more per rack.
    pub pools: Vec<PoolPlan>,
    /// BGP sessions implied by the design, one per (a, b) pair.
    pub sessions: Vec<SessionPlan>,
    /// Static routes the lab installs before any speaker starts (not BGP). Only racks whose route
    /// reflectors are separate nodes need them: they stand in for the rack's shared L2 segment so
    /// that loopback-to-loopback iBGP sessions come up and reflected next hops (a node's or a
    /// ToR's loopback) resolve. Empty for every other design.
    #[serde(default)]
    pub static_routes: Vec<StaticRoute>,
}

/// A static route on one node, possibly ECMP over several next hops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticRoute {
    pub node: NodeId,
    pub prefix: Ipv4Net,
    /// Directly connected next hops (the far end of one of `node`'s links).
    pub nexthops: Vec<StaticNextHop>,
}

/// One next hop of a [`StaticRoute`]: a neighbour's link address and our interface towards it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticNextHop {
    pub via: Ipv4Addr,
    pub ifname: String,
}

/// One router or server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodePlan {
    pub id: NodeId,
    pub role: Role,
    /// Rack number (1-based) for ToRs, RRs and nodes; `None` for spines and external peers.
    pub rack: Option<u32>,
    pub asn: Asn,
    pub router_id: RouterId,
    /// Loopback addresses (on `lo`), also used as router id (v4).
    pub loopback_v4: Ipv4Addr,
    pub loopback_v6: Ipv6Addr,
    pub speaker: SpeakerKind,
    /// Free-form labels (`rack` is always set for racked nodes), like Kubernetes node labels.
    pub labels: BTreeMap<String, String>,
    /// IPAM blocks affine to this node (Calico `/26` blocks by default); empty for routers.
    pub blocks: Vec<Ipv4Net>,
    /// The IPv6 twin of each entry of `blocks`, same index (a `/122` for a `/26`).
    #[serde(default)]
    pub blocks_v6: Vec<Ipv6Net>,
    /// Prefixes this node originates besides its blocks (e.g. an external peer's routes).
    pub originates: Vec<Ipv4Net>,
    /// Decision-process settings the design implies for this node.
    pub routing: RoutingPolicy,
}

/// One end of a point-to-point link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub node: NodeId,
    pub ifname: String,
    /// Address with its /31 prefix length.
    pub v4: Ipv4Net,
    /// Address with its /127 prefix length.
    pub v6: Ipv6Net,
}

/// A point-to-point link (a veth pair).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPlan {
    pub id: LinkId,
    pub a: Endpoint,
    pub b: Endpoint,
    pub mtu: u32,
}

impl LinkPlan {
    /// The endpoint on `node`, and the one facing it.
    pub fn ends_from(&self, node: &NodeId) -> Option<(&Endpoint, &Endpoint)> {
        if &self.a.node == node {
            Some((&self.a, &self.b))
        } else if &self.b.node == node {
            Some((&self.b, &self.a))
        } else {
            None
        }
    }
}

/// A pod: a namespace with one interface `eth0` holding `v4`/32 and `v6`/128, wired the way
/// Calico wires workloads (host side `cali*` with proxy ARP and a host route to the pod).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodPlan {
    pub id: NodeId,
    pub host: NodeId,
    /// Interface name on the host side (e.g. `cali0`).
    pub host_ifname: String,
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
    /// The block (on `host`) the v4 address was allocated from.
    pub block: Ipv4Net,
}

/// A Calico IP pool with a node selector on the rack label (topology-aware allocation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolPlan {
    pub name: String,
    pub cidr: Ipv4Net,
    /// Block size as a prefix length (Calico `blockSize`, 26 by default).
    pub block_len: u8,
    /// Rack whose nodes draw from this pool.
    pub rack: Option<u32>,
    /// The IPv6 twin of `cidr` (pod v6 addresses embed the v4 address in a /96).
    pub cidr_v6: Ipv6Net,
}

/// What one side of a session exports to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportPolicy {
    /// Everything in the Loc-RIB that BGP rules allow (RFC 4271 §9.2).
    All,
    /// Only locally originated prefixes (a Calico node: its blocks and nothing learned).
    Originated,
    /// Only a default route (Downward Default, towards the layer below).
    DefaultOnly,
}

/// What one side of a session accepts from the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportPolicy {
    All,
    /// Only a default route.
    DefaultOnly,
}

/// One speaker's view of a session: everything its config needs for this neighbor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSide {
    pub node: NodeId,
    pub local_addr: IpAddr,
    pub local_as: Asn,
    /// The peer's address as this side dials it.
    pub peer_addr: IpAddr,
    pub peer_as: Asn,
    pub ifname: String,
    /// The peer is this side's route-reflector client (RFC 4456).
    pub rr_client: bool,
    /// Set NEXT_HOP to self on routes sent to this peer, also reflected/iBGP ones.
    pub next_hop_self: bool,
    pub export: ExportPolicy,
    pub import: ImportPolicy,
    /// Originate a default route towards this peer (default-originate).
    pub default_originate: bool,
    /// Accept this many occurrences of the local AS in AS_PATH (allowas-in; 0 = RFC behaviour).
    pub allowas_in: u8,
    /// Only accept connections, never dial.
    pub passive: bool,
}

/// A BGP session over one link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPlan {
    /// The link the session runs over; for a `multihop` session, the link its packets leave the
    /// `a` side by (its first hop).
    pub link: LinkId,
    pub ibgp: bool,
    /// Loopback-to-loopback session routed through other nodes (iBGP to a route-reflector node
    /// across the ToR). Addresses are then loopbacks, not link addresses, and `ifname` on each
    /// side is the first-hop interface; reachability comes from [`Plan::static_routes`].
    #[serde(default)]
    pub multihop: bool,
    pub a: SessionSide,
    pub b: SessionSide,
}

/// Per-node routing settings implied by the design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingPolicy {
    /// Maximum ECMP paths installed.
    pub max_paths: u8,
    /// ECMP across paths with equal AS_PATH length but different neighbor AS.
    pub multipath_relax: bool,
    /// Cluster id when acting as route reflector (defaults to the router id).
    pub cluster_id: Option<Ipv4Addr>,
}

impl Plan {
    pub fn node(&self, id: &NodeId) -> Option<&NodePlan> {
        self.nodes.iter().find(|n| &n.id == id)
    }

    /// Sessions in which `id` takes part, as (my side, peer side).
    pub fn sessions_of<'a>(
        &'a self,
        id: &'a NodeId,
    ) -> impl Iterator<Item = (&'a SessionSide, &'a SessionSide, &'a SessionPlan)> + 'a {
        self.sessions.iter().filter_map(move |s| {
            if &s.a.node == id {
                Some((&s.a, &s.b, s))
            } else if &s.b.node == id {
                Some((&s.b, &s.a, s))
            } else {
                None
            }
        })
    }

    /// Links attached to `id`, as (my end, far end).
    pub fn links_of<'a>(
        &'a self,
        id: &'a NodeId,
    ) -> impl Iterator<Item = (&'a Endpoint, &'a Endpoint, &'a LinkPlan)> + 'a {
        self.links
            .iter()
            .filter_map(move |l| l.ends_from(id).map(|(m, f)| (m, f, l)))
    }

    pub fn pods_of<'a>(&'a self, id: &'a NodeId) -> impl Iterator<Item = &'a PodPlan> + 'a {
        self.pods.iter().filter(move |p| &p.host == id)
    }
}

/// Why a design or speaker name given on the command line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub expected: &'static str,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} `{}` (expected {})",
            self.what, self.given, self.expected
        )
    }
}

impl std::error::Error for UnknownName {}

impl std::str::FromStr for Design {
    type Err = UnknownName;

    /// `as-per-rack`, `as-per-server` or `downward-default` (as `Display` writes them).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "as-per-rack" => Ok(Design::AsPerRack),
            "as-per-server" => Ok(Design::AsPerServer),
            "downward-default" => Ok(Design::DownwardDefault),
            other => Err(UnknownName {
                what: "design",
                given: other.to_string(),
                expected: "as-per-rack, as-per-server or downward-default",
            }),
        }
    }
}

impl std::str::FromStr for SpeakerKind {
    type Err = UnknownName;

    /// `bundled`, `bird`, `frr` or `gobgp` (as `Display` writes them).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "bundled" => Ok(SpeakerKind::Bundled),
            "bird" => Ok(SpeakerKind::Bird),
            "frr" => Ok(SpeakerKind::Frr),
            "gobgp" => Ok(SpeakerKind::Gobgp),
            other => Err(UnknownName {
                what: "speaker",
                given: other.to_string(),
                expected: "bundled, bird, frr or gobgp",
            }),
        }
    }
}
