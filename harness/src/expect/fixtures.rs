//! Small fabrics built by hand for the model's tests, independent of the topology loader and
//! design engine, so that a test states both the configuration and the FIB it implies.
//!
//! The fabric of [`small`]: two spines; rack 1 with ToR `r1t1` and nodes `r1n1`, `r1n2`; rack 2
//! with ToRs `r2t1`, `r2t2` and nodes `r2n1`, `r2n2`, each node wired to both ToRs. Link `k`
//! gets `10.0.0.2k/31` on its `a` end and `10.0.0.2k+1/31` on its `b` end; a node's interfaces
//! are `e0`, `e1`, ... in link order:
//!
//! | k | a.ifname    | b.ifname    | a addr    | b addr    |
//! |---|-------------|-------------|-----------|-----------|
//! | 0 | s1.e0       | r1t1.e0     | 10.0.0.0  | 10.0.0.1  |
//! | 1 | s2.e0       | r1t1.e1     | 10.0.0.2  | 10.0.0.3  |
//! | 2 | s1.e1       | r2t1.e0     | 10.0.0.4  | 10.0.0.5  |
//! | 3 | s2.e1       | r2t1.e1     | 10.0.0.6  | 10.0.0.7  |
//! | 4 | s1.e2       | r2t2.e0     | 10.0.0.8  | 10.0.0.9  |
//! | 5 | s2.e2       | r2t2.e1     | 10.0.0.10 | 10.0.0.11 |
//! | 6 | r1t1.e2     | r1n1.e0     | 10.0.0.12 | 10.0.0.13 |
//! | 7 | r1t1.e3     | r1n2.e0     | 10.0.0.14 | 10.0.0.15 |
//! | 8 | r2t1.e2     | r2n1.e0     | 10.0.0.16 | 10.0.0.17 |
//! | 9 | r2t2.e2     | r2n1.e1     | 10.0.0.18 | 10.0.0.19 |
//! | 10| r2t1.e3     | r2n2.e0     | 10.0.0.20 | 10.0.0.21 |
//! | 11| r2t2.e3     | r2n2.e1     | 10.0.0.22 | 10.0.0.23 |
//!
//! Blocks and pods: r1n1 `10.1.0.0/26` (pod 10.1.0.1), r1n2 `10.1.0.64/26` (10.1.0.65), r2n1
//! `10.2.0.0/26` (10.2.0.1), r2n2 `10.2.0.64/26` (10.2.0.65); each pod behind `cali0`.
//! Router ids: s1 10.255.0.1, s2 10.255.0.2, r1t1 10.255.1.1, r1n1 10.255.1.11, r1n2
//! 10.255.1.12, r2t1 10.255.2.1, r2t2 10.255.2.2, r2n1 10.255.2.11, r2n2 10.255.2.12.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fabric_bgp_wire::{Asn, RouterId};
use ipnet::{Ipv4Net, Ipv6Net};

use crate::topology::{
    Design, Endpoint, ExportPolicy, ImportPolicy, LinkId, LinkPlan, NodeId, NodePlan, Plan,
    PodPlan, Role, RoutingPolicy, SessionPlan, SessionSide, SpeakerKind, StaticNextHop,
    StaticRoute,
};

/// What one session end does (the addresses and ASNs come from the plan).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SideCfg {
    pub export: ExportPolicy,
    pub import: ImportPolicy,
    pub rr_client: bool,
    pub next_hop_self: bool,
    pub default_originate: bool,
    pub allowas_in: u8,
}

impl SideCfg {
    pub fn all() -> Self {
        SideCfg {
            export: ExportPolicy::All,
            import: ImportPolicy::All,
            rr_client: false,
            next_hop_self: false,
            default_originate: false,
            allowas_in: 0,
        }
    }

    pub fn originated() -> Self {
        SideCfg {
            export: ExportPolicy::Originated,
            ..SideCfg::all()
        }
    }

    pub fn default_only() -> Self {
        SideCfg {
            export: ExportPolicy::DefaultOnly,
            default_originate: true,
            ..SideCfg::all()
        }
    }
}

/// Builds a plan node by node and link by link.
pub(crate) struct Builder {
    plan: Plan,
    ifcount: BTreeMap<String, u32>,
    podcount: BTreeMap<String, u32>,
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn v4net(s: &str) -> Ipv4Net {
    s.parse().unwrap_or_default()
}

impl Builder {
    pub fn new(name: &str, design: Design) -> Self {
        Builder {
            plan: Plan {
                name: name.to_string(),
                design,
                nodes: Vec::new(),
                links: Vec::new(),
                pods: Vec::new(),
                pools: Vec::new(),
                sessions: Vec::new(),
                static_routes: Vec::new(),
            },
            ifcount: BTreeMap::new(),
            podcount: BTreeMap::new(),
        }
    }

    /// A node; its loopback is its router id.
    pub fn node(&mut self, id: &str, role: Role, rack: Option<u32>, asn: u32, rid: &str) {
        let mut labels = BTreeMap::new();
        if let Some(r) = rack {
            labels.insert("rack".to_string(), r.to_string());
        }
        self.plan.nodes.push(NodePlan {
            id: NodeId::from(id),
            role,
            rack,
            asn: Asn(asn),
            router_id: RouterId(v4(rid)),
            loopback_v4: v4(rid),
            loopback_v6: Ipv6Addr::LOCALHOST,
            speaker: SpeakerKind::Bundled,
            labels,
            blocks: Vec::new(),
            blocks_v6: Vec::new(),
            originates: Vec::new(),
            routing: RoutingPolicy {
                max_paths: 8,
                multipath_relax: false,
                cluster_id: None,
            },
        });
    }

    fn node_mut(&mut self, id: &str) -> Option<&mut NodePlan> {
        self.plan.nodes.iter_mut().find(|n| n.id.as_str() == id)
    }

    /// An IPAM block on a node, with one pod at `pod` behind the next `cali` interface.
    pub fn block(&mut self, id: &str, block: &str, pod: &str) {
        let block = v4net(block);
        if let Some(n) = self.node_mut(id) {
            n.blocks.push(block);
        }
        let i = self.podcount.entry(id.to_string()).or_insert(0);
        self.plan.pods.push(PodPlan {
            id: NodeId(format!("{id}p{}", *i + 1)),
            host: NodeId::from(id),
            host_ifname: format!("cali{i}"),
            v4: v4(pod),
            v6: Ipv6Addr::UNSPECIFIED,
            block,
        });
        *i += 1;
    }

    pub fn originate(&mut self, id: &str, prefix: &str) {
        let p = v4net(prefix);
        if let Some(n) = self.node_mut(id) {
            n.originates.push(p);
        }
    }

    pub fn routing(&mut self, id: &str, max_paths: u8, relax: bool, cluster_id: Option<&str>) {
        if let Some(n) = self.node_mut(id) {
            n.routing = RoutingPolicy {
                max_paths,
                multipath_relax: relax,
                cluster_id: cluster_id.map(v4),
            };
        }
    }

    fn next_if(&mut self, id: &str) -> String {
        let i = self.ifcount.entry(id.to_string()).or_insert(0);
        let name = format!("e{i}");
        *i += 1;
        name
    }

    /// A point-to-point link: `a` gets `10.0.0.2k/31`, `b` `10.0.0.2k+1/31`.
    pub fn link(&mut self, a: &str, b: &str) -> LinkId {
        let k = self.plan.links.len() as u32;
        let base = u32::from(v4("10.0.0.0")) + 2 * k;
        let end = |node: &str, ifname: String, addr: u32| Endpoint {
            node: NodeId::from(node),
            ifname,
            v4: Ipv4Net::new(Ipv4Addr::from(addr), 31).unwrap_or_default(),
            v6: Ipv6Net::default(),
        };
        let (ia, ib) = (self.next_if(a), self.next_if(b));
        let id = LinkId(k);
        self.plan.links.push(LinkPlan {
            id,
            a: end(a, ia, base),
            b: end(b, ib, base + 1),
            mtu: 1500,
        });
        id
    }

    fn asn_of(&self, id: &NodeId) -> Asn {
        self.plan.node(id).map(|n| n.asn).unwrap_or(Asn(0))
    }

    /// A session over `link` between its link ends (`a` cfg for the link's `a` end).
    pub fn session(&mut self, link: LinkId, a: SideCfg, b: SideCfg) {
        let Some(l) = self.plan.links.iter().find(|l| l.id == link).cloned() else {
            return;
        };
        let (asa, asb) = (self.asn_of(&l.a.node), self.asn_of(&l.b.node));
        let side =
            |me: &Endpoint, far: &Endpoint, my_as: Asn, far_as: Asn, c: SideCfg| SessionSide {
                node: me.node.clone(),
                local_addr: IpAddr::V4(me.v4.addr()),
                local_as: my_as,
                peer_addr: IpAddr::V4(far.v4.addr()),
                peer_as: far_as,
                ifname: me.ifname.clone(),
                rr_client: c.rr_client,
                next_hop_self: c.next_hop_self,
                export: c.export,
                import: c.import,
                default_originate: c.default_originate,
                allowas_in: c.allowas_in,
                passive: false,
            };
        self.plan.sessions.push(SessionPlan {
            link,
            ibgp: asa == asb,
            multihop: false,
            a: side(&l.a, &l.b, asa, asb, a),
            b: side(&l.b, &l.a, asb, asa, b),
        });
    }

    /// A loopback-to-loopback session; `first_hop` only names the link it leaves `a` by.
    pub fn multihop_session(
        &mut self,
        first_hop: LinkId,
        a: &str,
        b: &str,
        ca: SideCfg,
        cb: SideCfg,
    ) {
        let (Some(na), Some(nb)) = (
            self.plan.node(&NodeId::from(a)).cloned(),
            self.plan.node(&NodeId::from(b)).cloned(),
        ) else {
            return;
        };
        let side = |me: &NodePlan, far: &NodePlan, c: SideCfg| SessionSide {
            node: me.id.clone(),
            local_addr: IpAddr::V4(me.loopback_v4),
            local_as: me.asn,
            peer_addr: IpAddr::V4(far.loopback_v4),
            peer_as: far.asn,
            ifname: String::new(),
            rr_client: c.rr_client,
            next_hop_self: c.next_hop_self,
            export: c.export,
            import: c.import,
            default_originate: c.default_originate,
            allowas_in: c.allowas_in,
            passive: false,
        };
        self.plan.sessions.push(SessionPlan {
            link: first_hop,
            ibgp: na.asn == nb.asn,
            multihop: true,
            a: side(&na, &nb, ca),
            b: side(&nb, &na, cb),
        });
    }

    /// A static route on `node` towards `prefix` over the given (via, ifname) next hops.
    pub fn static_route(&mut self, node: &str, prefix: &str, hops: &[(&str, &str)]) {
        self.plan.static_routes.push(StaticRoute {
            node: NodeId::from(node),
            prefix: v4net(prefix),
            nexthops: hops
                .iter()
                .map(|(via, ifname)| StaticNextHop {
                    via: v4(via),
                    ifname: ifname.to_string(),
                })
                .collect(),
        });
    }

    pub fn finish(self) -> Plan {
        self.plan
    }
}

/// Knobs of [`small`] for the negative cases.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Knobs {
    /// AS per rack: the ToRs set next-hop-self towards their nodes.
    pub tor_next_hop_self: bool,
    /// AS per rack: every rack uses this AS instead of 65001/65002.
    pub shared_rack_as: Option<u32>,
    /// allowas-in on ToR ends towards spines and node ends towards ToRs.
    pub allowas_in: u8,
    /// multipath-relax on every node.
    pub relax: bool,
    pub max_paths: u8,
}

impl Knobs {
    /// The configuration each design calls for.
    pub fn for_design(design: Design) -> Self {
        Knobs {
            tor_next_hop_self: true,
            shared_rack_as: None,
            allowas_in: 0,
            relax: design == Design::AsPerServer,
            max_paths: 8,
        }
    }
}

/// The fabric of the module docs under `design`, configured as the Calico L3 fabric guide says.
///
/// - AS per rack: spines AS 65000; rack r AS 6500r shared by ToRs and nodes; node↔ToR iBGP, the
///   ToR reflects to its nodes (clients) with next-hop-self; ToR↔spine eBGP; nodes export only
///   their blocks.
/// - AS per server: spines 65010/65020, ToRs 65101/65201/65202, nodes 65111/65112/65211/65212;
///   all eBGP; nodes export their blocks; multipath-relax everywhere.
/// - Downward default: spines 65000, ToRs 65100, nodes 65200; each tier exports everything up
///   and only a (self-originated) default down.
pub(crate) fn small(design: Design, k: Knobs) -> Plan {
    let mut b = Builder::new(&format!("small-{design}"), design);
    let (spine_as, tor_as, node_as): ([u32; 2], [u32; 3], [u32; 4]) = match design {
        Design::AsPerRack => {
            let (r1, r2) = k.shared_rack_as.map_or((65001, 65002), |a| (a, a));
            ([65000, 65000], [r1, r2, r2], [r1, r1, r2, r2])
        }
        Design::AsPerServer => (
            [65010, 65020],
            [65101, 65201, 65202],
            [65111, 65112, 65211, 65212],
        ),
        Design::DownwardDefault => ([65000, 65000], [65100; 3], [65200; 4]),
    };
    b.node("s1", Role::Spine, None, spine_as[0], "10.255.0.1");
    b.node("s2", Role::Spine, None, spine_as[1], "10.255.0.2");
    b.node("r1t1", Role::Tor, Some(1), tor_as[0], "10.255.1.1");
    b.node("r1n1", Role::Node, Some(1), node_as[0], "10.255.1.11");
    b.node("r1n2", Role::Node, Some(1), node_as[1], "10.255.1.12");
    b.node("r2t1", Role::Tor, Some(2), tor_as[1], "10.255.2.1");
    b.node("r2t2", Role::Tor, Some(2), tor_as[2], "10.255.2.2");
    b.node("r2n1", Role::Node, Some(2), node_as[2], "10.255.2.11");
    b.node("r2n2", Role::Node, Some(2), node_as[3], "10.255.2.12");
    for id in [
        "s1", "s2", "r1t1", "r1n1", "r1n2", "r2t1", "r2t2", "r2n1", "r2n2",
    ] {
        b.routing(id, k.max_paths, k.relax, None);
    }
    b.block("r1n1", "10.1.0.0/26", "10.1.0.1");
    b.block("r1n2", "10.1.0.64/26", "10.1.0.65");
    b.block("r2n1", "10.2.0.0/26", "10.2.0.1");
    b.block("r2n2", "10.2.0.64/26", "10.2.0.65");

    // Spine (a) – ToR (b).
    let (spine_side, tor_up) = match design {
        Design::DownwardDefault => (SideCfg::default_only(), SideCfg::all()),
        _ => (SideCfg::all(), SideCfg::all()),
    };
    let tor_up = SideCfg {
        allowas_in: k.allowas_in,
        ..tor_up
    };
    for (s, t) in [
        ("s1", "r1t1"),
        ("s2", "r1t1"),
        ("s1", "r2t1"),
        ("s2", "r2t1"),
        ("s1", "r2t2"),
        ("s2", "r2t2"),
    ] {
        let l = b.link(s, t);
        b.session(l, spine_side, tor_up);
    }
    // ToR (a) – node (b).
    let tor_down = match design {
        Design::AsPerRack => SideCfg {
            rr_client: true,
            next_hop_self: k.tor_next_hop_self,
            ..SideCfg::all()
        },
        Design::AsPerServer => SideCfg::all(),
        Design::DownwardDefault => SideCfg::default_only(),
    };
    let node_up = SideCfg {
        allowas_in: k.allowas_in,
        ..SideCfg::originated()
    };
    for (t, n) in [
        ("r1t1", "r1n1"),
        ("r1t1", "r1n2"),
        ("r2t1", "r2n1"),
        ("r2t2", "r2n1"),
        ("r2t1", "r2n2"),
        ("r2t2", "r2n2"),
    ] {
        let l = b.link(t, n);
        b.session(l, tor_down, node_up);
    }
    b.finish()
}
