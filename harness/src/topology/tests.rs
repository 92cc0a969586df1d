//! Tests over the sample topologies in `topologies/` and the bad inputs in `topologies/bad/`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;

fn topologies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../topologies")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn sample(name: &str) -> Plan {
    let path = topologies_dir().join(name);
    load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn sample_with(name: &str, opts: &LoadOptions) -> Plan {
    let path = topologies_dir().join(name);
    load_with(&path, opts).unwrap_or_else(|e| panic!("{e}"))
}

fn node<'a>(plan: &'a Plan, id: &str) -> &'a NodePlan {
    plan.node(&NodeId::from(id))
        .unwrap_or_else(|| panic!("{}: no node {id}", plan.name))
}

/// The structural invariants every plan must hold; panics naming the first broken one.
fn check_invariants(plan: &Plan) {
    let ctx = &plan.name;
    let ids: HashMap<&NodeId, &NodePlan> = plan.nodes.iter().map(|n| (&n.id, n)).collect();
    assert_eq!(ids.len(), plan.nodes.len(), "{ctx}: duplicate node ids");

    // Names: nodes and pods share one namespace of names.
    let mut names = HashSet::new();
    for id in plan
        .nodes
        .iter()
        .map(|n| &n.id)
        .chain(plan.pods.iter().map(|p| &p.id))
    {
        assert!(names.insert(id.as_str()), "{ctx}: name {id} used twice");
    }

    // Plan order: spines, racked nodes by rack (ToRs, RRs, nodes), externals.
    let order: Vec<(u8, u32, u8)> = plan
        .nodes
        .iter()
        .map(|n| match n.role {
            Role::Spine => (0, 0, 0),
            Role::Tor => (1, n.rack.unwrap_or(0), 0),
            Role::RouteReflector => (1, n.rack.unwrap_or(0), 1),
            Role::Node => (1, n.rack.unwrap_or(0), 2),
            Role::External => (2, 0, 0),
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "{ctx}: nodes not in plan order");

    // Every address is used once: loopbacks, link ends, pods.
    let mut addrs: HashSet<IpAddr> = HashSet::new();
    let mut add = |a: IpAddr, what: String| assert!(addrs.insert(a), "{ctx}: {a} reused by {what}");
    for n in &plan.nodes {
        assert_eq!(n.router_id.0, n.loopback_v4, "{ctx}: {} router id", n.id);
        add(n.loopback_v4.into(), format!("loopback of {}", n.id));
        add(n.loopback_v6.into(), format!("loopback of {}", n.id));
        if let Some(r) = n.rack {
            assert_eq!(
                n.labels.get("rack"),
                Some(&r.to_string()),
                "{ctx}: {} rack label",
                n.id
            );
        }
    }
    for l in &plan.links {
        assert_eq!(l.a.v4.prefix_len(), 31, "{ctx}: {}", l.id);
        assert_eq!(l.a.v6.prefix_len(), 127, "{ctx}: {}", l.id);
        assert_eq!(
            l.a.v4.network(),
            l.b.v4.network(),
            "{ctx}: {} not one /31",
            l.id
        );
        assert_eq!(
            l.a.v6.network(),
            l.b.v6.network(),
            "{ctx}: {} not one /127",
            l.id
        );
        assert!(
            l.a.v4.addr() < l.b.v4.addr(),
            "{ctx}: {} side a not lower",
            l.id
        );
        for e in [&l.a, &l.b] {
            assert!(
                ids.contains_key(&e.node),
                "{ctx}: {} ends at unknown {}",
                l.id,
                e.node
            );
            add(e.v4.addr().into(), format!("{} end {}", l.id, e.node));
            add(e.v6.addr().into(), format!("{} end {}", l.id, e.node));
        }
        assert_ne!(l.a.node, l.b.node, "{ctx}: {} is a loop", l.id);
    }
    for p in &plan.pods {
        add(p.v4.into(), format!("pod {}", p.id));
        add(p.v6.into(), format!("pod {}", p.id));
    }

    // Link ids are indexes.
    for (i, l) in plan.links.iter().enumerate() {
        assert_eq!(l.id, LinkId(i as u32), "{ctx}: link id");
    }

    // Interface names: short, unique per node, including pod-facing ones.
    let mut ifs: HashMap<String, HashSet<String>> = HashMap::new();
    let mut put = |n: &NodeId, i: &str| {
        assert!(!i.is_empty() && i.len() <= 15, "{ctx}: ifname {i:?} on {n}");
        let fresh = ifs.entry(n.to_string()).or_default().insert(i.to_string());
        assert!(fresh, "{ctx}: {n}:{i} twice");
    };
    for l in &plan.links {
        put(&l.a.node, &l.a.ifname);
        put(&l.b.node, &l.b.ifname);
    }
    for p in &plan.pods {
        put(&p.host, &p.host_ifname);
    }

    // Pools, blocks, pods.
    for (i, a) in plan.pools.iter().enumerate() {
        assert!(
            a.block_len >= a.cidr.prefix_len(),
            "{ctx}: pool {} block",
            a.name
        );
        assert_eq!(a.cidr_v6.prefix_len(), a.cidr.prefix_len() + 96);
        for b in plan.pools.iter().skip(i + 1) {
            assert!(
                !a.cidr.contains(&b.cidr.network()) && !b.cidr.contains(&a.cidr.network()),
                "{ctx}: pools {} and {} overlap",
                a.cidr,
                b.cidr
            );
        }
    }
    let mut all_blocks = BTreeSet::new();
    for n in &plan.nodes {
        if n.role == Role::Node {
            assert!(!n.blocks.is_empty(), "{ctx}: node {} has no block", n.id);
        } else {
            assert!(n.blocks.is_empty(), "{ctx}: router {} has blocks", n.id);
        }
        assert_eq!(
            n.blocks.len(),
            n.blocks_v6.len(),
            "{ctx}: {} v6 blocks",
            n.id
        );
        for (b, b6) in n.blocks.iter().zip(&n.blocks_v6) {
            assert!(all_blocks.insert(*b), "{ctx}: block {b} claimed twice");
            assert_eq!(b6.prefix_len(), b.prefix_len() + 96);
            let pool = plan
                .pools
                .iter()
                .find(|p| p.cidr.contains(b))
                .unwrap_or_else(|| panic!("{ctx}: block {b} of {} in no pool", n.id));
            assert_eq!(pool.block_len, b.prefix_len(), "{ctx}: block {b} size");
            assert_eq!(
                pool.rack, n.rack,
                "{ctx}: block {b} of {} in another rack's pool",
                n.id
            );
            assert!(
                pool.cidr_v6.contains(b6),
                "{ctx}: {b6} outside {}",
                pool.cidr_v6
            );
        }
    }
    for p in &plan.pods {
        let host = ids[&p.host];
        assert_eq!(host.role, Role::Node, "{ctx}: pod {} on a router", p.id);
        assert!(
            host.blocks.contains(&p.block),
            "{ctx}: pod {} block not its host's",
            p.id
        );
        assert!(
            p.block.contains(&p.v4),
            "{ctx}: pod {} outside its block",
            p.id
        );
        let twin = host
            .blocks
            .iter()
            .position(|b| *b == p.block)
            .map(|i| host.blocks_v6[i]);
        assert!(
            twin.is_some_and(|b6| b6.contains(&p.v6)),
            "{ctx}: pod {} v6",
            p.id
        );
    }

    // Sessions: both ends exist, addresses belong to the link (or are loopbacks when
    // multihop), ASNs match the nodes, exactly one side dials.
    let mut pairs = HashSet::new();
    for s in &plan.sessions {
        let (a, b) = (ids[&s.a.node], ids[&s.b.node]);
        assert!(
            pairs.insert((a.id.clone(), b.id.clone())),
            "{ctx}: two sessions {} {}",
            a.id,
            b.id
        );
        assert!(
            !pairs.contains(&(b.id.clone(), a.id.clone())),
            "{ctx}: two sessions"
        );
        assert_eq!(s.a.local_as, a.asn, "{ctx}: {} local as", a.id);
        assert_eq!(s.b.local_as, b.asn, "{ctx}: {} local as", b.id);
        assert_eq!(s.a.peer_as, b.asn);
        assert_eq!(s.b.peer_as, a.asn);
        assert_eq!(s.ibgp, a.asn == b.asn, "{ctx}: ibgp flag {} {}", a.id, b.id);
        assert_eq!(s.a.local_addr, s.b.peer_addr);
        assert_eq!(s.b.local_addr, s.a.peer_addr);
        assert!(
            s.a.passive != s.b.passive,
            "{ctx}: {} {} both/neither passive",
            a.id,
            b.id
        );
        let link = &plan.links[s.link.0 as usize];
        if s.multihop {
            assert!(s.ibgp, "{ctx}: multihop eBGP");
            assert_eq!(s.a.local_addr, IpAddr::V4(a.loopback_v4));
            assert_eq!(s.b.local_addr, IpAddr::V4(b.loopback_v4));
            let (mine, _) = link.ends_from(&a.id).expect("first hop leaves side a");
            assert_eq!(mine.ifname, s.a.ifname);
        } else {
            let (ea, eb) = link
                .ends_from(&a.id)
                .unwrap_or_else(|| panic!("{ctx}: session {} not on {}", a.id, s.link));
            assert_eq!(eb.node, b.id, "{ctx}: session/link mismatch");
            assert_eq!(
                s.a.local_addr,
                IpAddr::V4(ea.v4.addr()),
                "{ctx}: {} addr",
                a.id
            );
            assert_eq!(
                s.b.local_addr,
                IpAddr::V4(eb.v4.addr()),
                "{ctx}: {} addr",
                b.id
            );
            assert_eq!(s.a.ifname, ea.ifname);
            assert_eq!(s.b.ifname, eb.ifname);
        }
        for side in [&s.a, &s.b] {
            if side.rr_client {
                assert!(s.ibgp, "{ctx}: rr-client on eBGP");
            }
            if ids[&side.node].role == Role::Node {
                assert_eq!(
                    side.export,
                    ExportPolicy::Originated,
                    "{ctx}: node exports learned"
                );
            }
        }
    }
    // Route reflectors carry a cluster id.
    for n in &plan.nodes {
        let reflects = plan.sessions_of(&n.id).any(|(me, _, _)| me.rr_client);
        assert_eq!(
            n.routing.cluster_id.is_some(),
            reflects,
            "{ctx}: {} cluster id",
            n.id
        );
        assert!(n.routing.max_paths >= 1);
    }

    // Static routes: next hops are the far end of one of the node's links, on that interface.
    for r in &plan.static_routes {
        assert!(!r.nexthops.is_empty());
        for h in &r.nexthops {
            let ok = plan
                .links_of(&r.node)
                .any(|(me, far, _)| far.v4.addr() == h.via && me.ifname == h.ifname);
            assert!(
                ok,
                "{ctx}: static {} on {} via {} not connected",
                r.prefix, r.node, h.via
            );
        }
    }
}

/// ASN rules of each design, as documented in asn.rs and topologies/README.md.
fn check_asn_plan(plan: &Plan) {
    let ctx = format!("{} ({})", plan.name, plan.design);
    let of =
        |role: Role| -> Vec<&NodePlan> { plan.nodes.iter().filter(|n| n.role == role).collect() };
    let spine_asns: BTreeSet<u32> = of(Role::Spine).iter().map(|n| n.asn.0).collect();
    match plan.design {
        Design::AsPerRack => {
            let mut rack_as: BTreeMap<u32, u32> = BTreeMap::new();
            for n in plan.nodes.iter().filter(|n| n.rack.is_some()) {
                let r = n.rack.unwrap_or(0);
                let asn = *rack_as.entry(r).or_insert(n.asn.0);
                assert_eq!(n.asn.0, asn, "{ctx}: {} not in its rack's AS", n.id);
            }
            let distinct: BTreeSet<u32> = rack_as.values().copied().collect();
            assert_eq!(distinct.len(), rack_as.len(), "{ctx}: racks share an AS");
            assert!(
                distinct.is_disjoint(&spine_asns),
                "{ctx}: rack AS = spine AS"
            );
            for s in &plan.sessions {
                let roles = (
                    node(plan, s.a.node.as_str()).role,
                    node(plan, s.b.node.as_str()).role,
                );
                match roles {
                    (Role::Spine, Role::Tor) => assert!(!s.ibgp, "{ctx}: spine-ToR iBGP"),
                    (Role::Tor, Role::Node) => {
                        assert!(s.ibgp, "{ctx}: ToR-node eBGP");
                        assert!(
                            s.a.rr_client && s.a.next_hop_self,
                            "{ctx}: ToR must reflect"
                        );
                        assert!(s.a.passive && !s.b.passive, "{ctx}: nodes dial ToRs");
                    }
                    _ => {}
                }
            }
        }
        Design::AsPerServer => {
            let all: Vec<u32> = plan
                .nodes
                .iter()
                .filter(|n| n.role != Role::External)
                .map(|n| n.asn.0)
                .collect();
            let set: BTreeSet<u32> = all.iter().copied().collect();
            assert_eq!(set.len(), all.len(), "{ctx}: ASNs not unique");
            assert!(all.iter().all(|&a| a > 65535), "{ctx}: not all 4-byte");
            assert!(plan.sessions.iter().all(|s| !s.ibgp), "{ctx}: iBGP session");
            for n in plan.nodes.iter().filter(|n| n.role != Role::External) {
                assert!(
                    n.routing.multipath_relax,
                    "{ctx}: {} without multipath-relax",
                    n.id
                );
            }
        }
        Design::DownwardDefault => {
            let nodes: BTreeSet<u32> = of(Role::Node).iter().map(|n| n.asn.0).collect();
            let tors: BTreeSet<u32> = of(Role::Tor).iter().map(|n| n.asn.0).collect();
            assert_eq!(nodes.len(), 1, "{ctx}: nodes not in one AS");
            assert_eq!(tors.len(), 1, "{ctx}: ToRs not in one AS");
            assert!(nodes.is_disjoint(&tors) && nodes.is_disjoint(&spine_asns));
            assert!(tors.is_disjoint(&spine_asns));
            for s in &plan.sessions {
                let (ra, rb) = (
                    node(plan, s.a.node.as_str()).role,
                    node(plan, s.b.node.as_str()).role,
                );
                if matches!((ra, rb), (Role::Spine, Role::Tor) | (Role::Tor, Role::Node)) {
                    assert_eq!(
                        s.a.export,
                        ExportPolicy::DefaultOnly,
                        "{ctx}: downward export"
                    );
                    assert!(s.a.default_originate, "{ctx}: no default-originate");
                    assert!(!s.b.default_originate);
                    assert_ne!(
                        s.b.export,
                        ExportPolicy::DefaultOnly,
                        "{ctx}: upward export"
                    );
                }
            }
        }
    }
}

#[test]
fn every_sample_topology_loads_and_holds_the_invariants() {
    let files = yaml_files(&topologies_dir());
    assert!(
        files.len() >= 7,
        "expected the sample topologies, found {files:?}"
    );
    for f in files {
        let plan = load(&f).unwrap_or_else(|e| panic!("{e}"));
        check_invariants(&plan);
        check_asn_plan(&plan);
        assert!(!render_plan(&plan).is_empty());
    }
}

#[test]
fn every_sample_holds_the_invariants_under_every_design() {
    for f in yaml_files(&topologies_dir()) {
        for design in [
            Design::AsPerRack,
            Design::AsPerServer,
            Design::DownwardDefault,
        ] {
            let opts = LoadOptions {
                design: Some(design),
                speakers: None,
            };
            match load_with(&f, &opts) {
                Ok(plan) => {
                    assert_eq!(plan.design, design);
                    check_invariants(&plan);
                    check_asn_plan(&plan);
                }
                // Explicit RR nodes and explicit ASNs can make another design impossible;
                // none of the samples has either, so every combination must load.
                Err(e) => panic!("{} under {design}: {e}", f.display()),
            }
        }
    }
}

#[test]
fn loading_is_deterministic() {
    for f in yaml_files(&topologies_dir()) {
        let a = load(&f).unwrap();
        let b = load(&f).unwrap();
        assert_eq!(a, b, "{}", f.display());
        assert_eq!(render_plan(&a), render_plan(&b));
    }
}

/// `# expect-error:`, `# expect-line:` and `# expect-field:` comment lines of a bad file.
fn expectations(text: &str) -> (String, u64, String) {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
            .map(str::trim)
            .map(str::to_string)
    };
    let err = get("expect-error").expect("bad file without # expect-error:");
    let line = get("expect-line")
        .and_then(|l| l.parse().ok())
        .expect("no # expect-line:");
    let field = get("expect-field").expect("no # expect-field:");
    (err, line, field)
}

#[test]
fn every_bad_topology_fails_naming_file_line_and_field() {
    let files = yaml_files(&topologies_dir().join("bad"));
    assert!(files.len() >= 8, "expected the bad inputs, found {files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let (want, line, field) = expectations(&text);
        let err = match load(&f) {
            Ok(_) => panic!("{} loaded but should fail with {want:?}", f.display()),
            Err(e) => e,
        };
        let msg = err.to_string();
        let inv = err.invalid().unwrap_or_else(|| panic!("{msg}"));
        assert!(
            msg.contains(&want),
            "{}: {msg:?} lacks {want:?}",
            f.display()
        );
        assert!(
            msg.contains(&f.display().to_string()),
            "{msg:?} lacks the file name"
        );
        assert_eq!(inv.line, line, "{msg}");
        assert!(msg.contains(&format!(":{line}:")), "{msg:?} lacks the line");
        assert_eq!(inv.field, field, "{msg}");
        assert!(
            msg.contains(&format!("`{field}`")),
            "{msg:?} lacks the field"
        );
    }
}

#[test]
fn unreadable_file_is_a_read_error() {
    let err = load(Path::new("/nonexistent/fabriclab/none.yaml")).unwrap_err();
    assert!(matches!(err, TopologyError::Read { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/fabriclab/none.yaml"));
}

#[test]
fn compact_names_and_wiring_follow_the_conventions() {
    let plan = sample("as-per-rack.yaml");
    let ids: Vec<&str> = plan.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "s1", "s2", "r1t1", "r1n1", "r1n2", "r1n3", "r2t1", "r2t2", "r2n1", "r2n2", "r2n3",
            "r3t1", "r3n1", "r3n2", "r3n3"
        ]
    );
    // Every ToR to every spine, every node to every ToR of its rack, nothing else.
    let mut pairs = BTreeSet::new();
    for l in &plan.links {
        pairs.insert((l.a.node.as_str(), l.b.node.as_str()));
    }
    for n in &plan.nodes {
        for m in &plan.nodes {
            let want = match (n.role, m.role) {
                (Role::Spine, Role::Tor) => true,
                (Role::Tor, Role::Node) => n.rack == m.rack,
                _ => false,
            };
            assert_eq!(
                pairs.contains(&(n.id.as_str(), m.id.as_str())),
                want,
                "{} {}",
                n.id,
                m.id
            );
        }
    }
    // Interfaces count each node's links in plan order: a ToR's first ones face the spines.
    let t = NodeId::from("r2t2");
    let mine: Vec<(String, String)> = plan
        .links_of(&t)
        .map(|(me, far, _)| (me.ifname.clone(), far.node.to_string()))
        .collect();
    let want: Vec<(String, String)> = [
        ("e0", "s1"),
        ("e1", "s2"),
        ("e2", "r2n1"),
        ("e3", "r2n2"),
        ("e4", "r2n3"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(mine, want);
    let host = NodeId::from("r2n3");
    let pods: Vec<&str> = plan.pods_of(&host).map(|p| p.id.as_str()).collect();
    assert_eq!(pods, ["r2n3p1"]);
}

#[test]
fn addresses_are_carved_as_documented() {
    let plan = sample("as-per-rack.yaml");
    // Loopbacks: host i+1 of 10.255.0.0/16 in plan order.
    assert_eq!(node(&plan, "s1").loopback_v4, Ipv4Addr::new(10, 255, 0, 1));
    assert_eq!(
        node(&plan, "r1t1").loopback_v4,
        Ipv4Addr::new(10, 255, 0, 3)
    );
    // Link k is the k-th /31 of 10.0.0.0/16.
    assert_eq!(plan.links[3].a.v4.to_string(), "10.0.0.6/31");
    assert_eq!(plan.links[3].b.v4.to_string(), "10.0.0.7/31");
    assert_eq!(plan.links[3].a.v6.to_string(), "fd00:0:0:1::6/127");
    // Rack r's pool is the r-th /20 of 10.64.0.0/12; nodes take /26 blocks in order.
    let pools: Vec<String> = plan.pools.iter().map(|p| p.cidr.to_string()).collect();
    assert_eq!(pools, ["10.64.0.0/20", "10.64.16.0/20", "10.64.32.0/20"]);
    assert_eq!(node(&plan, "r2n2").blocks[0].to_string(), "10.64.16.64/26");
    assert_eq!(
        node(&plan, "r2n2").blocks_v6[0].to_string(),
        "fd00:64::a40:1040/122"
    );
    // Pods use every address of the block, from the first (Calico IPAM).
    let pod = plan
        .pods
        .iter()
        .find(|p| p.id.as_str() == "r2n2p1")
        .unwrap();
    assert_eq!(pod.v4, Ipv4Addr::new(10, 64, 16, 64));
    assert_eq!(pod.v6.to_string(), "fd00:64::a40:1040");
}

#[test]
fn nodes_with_many_pods_claim_more_blocks() {
    let text = "design: as-per-rack\nspines: 1\nracks: [{ nodes: 2, pods-per-node: 70 }]\n\
                addressing: { block-size: 27 }\n";
    let plan = parse(text, "many.yaml").unwrap();
    check_invariants(&plan);
    let n = node(&plan, "r1n1");
    assert_eq!(n.blocks.len(), 3, "70 pods need three /27s: {:?}", n.blocks);
    assert_eq!(plan.pods_of(&n.id).count(), 70);
    assert_eq!(node(&plan, "r1n2").blocks[0].to_string(), "10.64.0.96/27");
}

#[test]
fn nodes_without_pods_still_claim_one_block() {
    let plan = sample("fabric-1000.yaml");
    assert!(plan.pods.is_empty());
    let nodes: Vec<&NodePlan> = plan.nodes.iter().filter(|n| n.role == Role::Node).collect();
    assert_eq!(nodes.len(), 960);
    assert!(nodes.iter().all(|n| n.blocks.len() == 1));
}

#[test]
fn as_per_rack_asns_and_policies() {
    let plan = sample("as-per-rack.yaml");
    assert_eq!(node(&plan, "s1").asn.0, 64512);
    assert_eq!(node(&plan, "s2").asn.0, 64513);
    assert_eq!(node(&plan, "r1n2").asn.0, 64601);
    assert_eq!(node(&plan, "r2t2").asn.0, 64602);
    assert_eq!(node(&plan, "r3n1").asn.0, 64603);
    // ToRs see each prefix from two spines in different ASes: multipath-relax.
    assert!(node(&plan, "r2t1").routing.multipath_relax);
    assert!(!node(&plan, "r2n1").routing.multipath_relax);
    assert_eq!(
        node(&plan, "r2t1").routing.cluster_id,
        Some(node(&plan, "r2t1").loopback_v4)
    );
    assert_eq!(node(&plan, "r2n1").routing.cluster_id, None);
    assert!(plan.static_routes.is_empty());
    let shared = parse(
        "design: as-per-rack\nspines: 2\nracks: [{nodes: 1}, {nodes: 1}]\nas-plan: { spine: shared, spine-asn: 65000, rack-asn: 65100 }\n",
        "shared.yaml",
    )
    .unwrap();
    assert_eq!(node(&shared, "s1").asn, node(&shared, "s2").asn);
    assert_eq!(node(&shared, "r2n1").asn.0, 65101);
    assert!(
        !node(&shared, "r1t1").routing.multipath_relax,
        "one spine AS: plain multipath"
    );
}

#[test]
fn as_per_server_gives_everyone_a_unique_four_byte_asn() {
    let plan = sample("as-per-server.yaml");
    assert_eq!(node(&plan, "s1").asn.0, 4_200_000_001);
    assert_eq!(node(&plan, "r1t1").asn.0, 4_200_001_001);
    assert_eq!(node(&plan, "r2t2").asn.0, 4_200_001_003);
    assert_eq!(node(&plan, "r1n1").asn.0, 4_200_100_001);
    assert_eq!(node(&plan, "r3n2").asn.0, 4_200_100_006);
    for (me, _, _) in plan.sessions_of(&NodeId::from("r2n1")) {
        assert_eq!(me.export, ExportPolicy::Originated);
        assert!(!me.passive);
    }
}

#[test]
fn downward_default_shares_asns_and_sends_only_defaults_down() {
    let plan = sample("downward-default.yaml");
    assert_eq!(node(&plan, "s1").asn.0, 64512);
    assert_eq!(node(&plan, "s2").asn.0, 64512);
    assert_eq!(node(&plan, "r3t1").asn.0, 64600);
    assert_eq!(node(&plan, "r1n1").asn.0, 64700);
    let t = NodeId::from("r2t2");
    for (me, peer, _) in plan.sessions_of(&t) {
        if node(&plan, peer.node.as_str()).role == Role::Node {
            assert_eq!(me.export, ExportPolicy::DefaultOnly);
            assert!(me.default_originate);
        } else {
            assert_eq!(me.export, ExportPolicy::All);
            assert_eq!(peer.export, ExportPolicy::DefaultOnly);
        }
    }
}

#[test]
fn rr_nodes_reflect_over_loopbacks_with_static_reachability() {
    let plan = sample("as-per-rack-rr-nodes.yaml");
    let rr = node(&plan, "r2rr1");
    assert_eq!(rr.role, Role::RouteReflector);
    assert!(rr.blocks.is_empty());
    assert_eq!(rr.routing.cluster_id, Some(rr.loopback_v4));
    // No session on ToR-node links inside RR racks; nodes peer with the RR only.
    let n = NodeId::from("r2n1");
    let peers: Vec<&str> = plan
        .sessions_of(&n)
        .map(|(_, p, _)| p.node.as_str())
        .collect();
    assert_eq!(peers, ["r2rr1"]);
    let (me, peer, s) = plan.sessions_of(&n).next().unwrap();
    assert!(s.multihop && s.ibgp);
    assert!(peer.rr_client && !peer.next_hop_self && peer.passive);
    assert_eq!(me.export, ExportPolicy::Originated);
    assert_eq!(me.local_addr, IpAddr::V4(node(&plan, "r2n1").loopback_v4));
    // The ToR is the RR's client and sets next-hop-self (its loopback).
    let t = NodeId::from("r2t2");
    let (tor_side, rr_side, s) = plan
        .sessions_of(&t)
        .find(|(_, p, _)| p.node.as_str() == "r2rr1")
        .unwrap();
    assert!(s.multihop);
    assert!(tor_side.next_hop_self && rr_side.rr_client);
    assert_eq!(
        tor_side.local_addr,
        IpAddr::V4(node(&plan, "r2t2").loopback_v4)
    );
    // Statics: r2n1 reaches r2n2's loopback through both ToRs, the RR's through both too.
    let lo = |id: &str| ipnet::Ipv4Net::new(node(&plan, id).loopback_v4, 32).unwrap();
    let r = plan
        .static_routes
        .iter()
        .find(|r| r.node == n && r.prefix == lo("r2n2"))
        .expect("static to the other node's loopback");
    assert_eq!(r.nexthops.len(), 2);
    assert!(plan
        .static_routes
        .iter()
        .any(|r| r.node == n && r.prefix == lo("r2rr1")));
    assert!(plan
        .static_routes
        .iter()
        .any(|r| r.node == t && r.prefix == lo("r2n1")));
    assert!(plan
        .static_routes
        .iter()
        .any(|r| r.node == n && r.prefix == lo("r2t2")));
    // Under another design RR nodes are left out.
    let opts = LoadOptions {
        design: Some(Design::AsPerServer),
        speakers: None,
    };
    let other = sample_with("as-per-rack-rr-nodes.yaml", &opts);
    assert!(other.nodes.iter().all(|n| n.role != Role::RouteReflector));
    assert!(other.static_routes.is_empty());
}

#[test]
fn explicit_form_keeps_what_it_says() {
    let plan = sample("explicit-small.yaml");
    let ext = node(&plan, "ext1");
    assert_eq!(ext.role, Role::External);
    assert_eq!(ext.asn.0, 65010);
    assert_eq!(ext.originates[0].to_string(), "203.0.113.0/24");
    assert_eq!(plan.nodes.last().map(|n| n.id.as_str()), Some("ext1"));
    assert_eq!(node(&plan, "r1n2").speaker, SpeakerKind::Bird);
    assert_eq!(node(&plan, "r1n1").speaker, SpeakerKind::Bundled);
    assert_eq!(
        node(&plan, "r1n1").labels.get("zone").map(String::as_str),
        Some("a")
    );
    assert_eq!(plan.pods_of(&NodeId::from("r1n2")).count(), 3);
    assert_eq!(plan.pods_of(&NodeId::from("r2n1")).count(), 2);
    assert_eq!(plan.links[0].mtu, 9000);
    assert_eq!(plan.links[6].mtu, 1500);
    assert_eq!(plan.pools[1].name, "rack2");
    // Spine ↔ external: the spine dials, both export everything.
    let (me, peer, s) = plan.sessions_of(&ext.id).next().unwrap();
    assert!(!s.ibgp && me.passive && !peer.passive);
    assert_eq!(me.export, ExportPolicy::All);
}

#[test]
fn speaker_choice_precedence() {
    let text = "design: as-per-rack\nspines: 1\nracks: [{ nodes: 2 }]\nspeaker: frr\n\
                speakers: { node: bird }\noverrides: { r1n2: { speaker: gobgp } }\n";
    let plan = parse(text, "s.yaml").unwrap();
    let kinds = |p: &Plan| -> Vec<SpeakerKind> { p.nodes.iter().map(|n| n.speaker).collect() };
    use SpeakerKind::*;
    // s1, r1t1, r1n1, r1n2: file default, file default, file role, node override.
    assert_eq!(kinds(&plan), [Frr, Frr, Bird, Gobgp]);
    let opts = LoadOptions {
        design: None,
        speakers: Some("tor=bundled".parse().unwrap()),
    };
    let p = parse_with(text, "s.yaml", &opts).unwrap();
    assert_eq!(kinds(&p), [Frr, Bundled, Bird, Gobgp]);
    let opts = LoadOptions {
        design: None,
        speakers: Some("bird".parse().unwrap()),
    };
    let p = parse_with(text, "s.yaml", &opts).unwrap();
    assert_eq!(
        kinds(&p),
        [Bird, Bird, Bird, Bird],
        "the CLI wins over everything"
    );
    let none = parse("spines: 1\nracks: [{ nodes: 1 }]\n", "d.yaml").unwrap();
    assert!(none.nodes.iter().all(|n| n.speaker == Bundled));
    assert_eq!(
        none.design,
        Design::AsPerRack,
        "as-per-rack is the default design"
    );
    assert_eq!(none.name, "d", "name defaults to the file stem");
}

#[test]
fn node_asn_override_turns_a_session_into_ebgp() {
    let text = "design: as-per-rack\nspines: 1\nracks: [{ nodes: 2 }]\n\
                overrides: { r1n2: { asn: 4200000042 } }\n";
    let plan = parse(text, "o.yaml").unwrap();
    check_invariants(&plan);
    let id = NodeId::from("r1n2");
    let (me, peer, s) = plan.sessions_of(&id).next().unwrap();
    assert!(!s.ibgp);
    assert!(!peer.rr_client, "no reflection towards an eBGP peer");
    assert_eq!(me.local_as.0, 4_200_000_042);
}

#[test]
fn design_and_speaker_names_parse_from_cli_strings() {
    for d in [
        Design::AsPerRack,
        Design::AsPerServer,
        Design::DownwardDefault,
    ] {
        assert_eq!(d.to_string().parse::<Design>(), Ok(d));
    }
    for k in [
        SpeakerKind::Bundled,
        SpeakerKind::Bird,
        SpeakerKind::Frr,
        SpeakerKind::Gobgp,
    ] {
        assert_eq!(k.to_string().parse::<SpeakerKind>(), Ok(k));
    }
    let err = "as-per-pod".parse::<Design>().unwrap_err();
    assert!(err.to_string().contains("as-per-pod"));
}

#[test]
fn the_thousand_node_fabric_resolves_fast() {
    let path = topologies_dir().join("fabric-1000.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = Instant::now();
    let plan = parse(&text, "fabric-1000.yaml").unwrap();
    let took = start.elapsed();
    eprintln!("resolving fabric-1000 took {took:?}");
    assert!(plan.nodes.len() >= 990, "{}", plan.nodes.len());
    assert_eq!(plan.sessions.len(), plan.links.len());
    // Generous for an unoptimised test build on a loaded 2-core machine; release is ~10x less.
    assert!(
        took < Duration::from_millis(500),
        "resolving 1000 nodes took {took:?}"
    );
}

#[test]
fn arbitrary_edits_of_the_samples_never_panic() {
    // Deterministic mutations: every prefix cut at a line end, and byte substitutions.
    let subs: [&[u8]; 6] = [b"", b":", b"-", b"{", b"9999999999999", b"\t"];
    for f in yaml_files(&topologies_dir())
        .iter()
        .filter(|f| !f.ends_with("fabric-1000.yaml"))
    {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, _) in text.match_indices('\n') {
            let _ = parse(&text[..i], "cut.yaml");
        }
        let bytes = text.as_bytes();
        for pos in (0..bytes.len()).step_by(11) {
            for s in subs {
                let mut m = bytes[..pos].to_vec();
                m.extend_from_slice(s);
                m.extend_from_slice(&bytes[(pos + 1).min(bytes.len())..]);
                if let Ok(t) = String::from_utf8(m) {
                    if let Ok(plan) = parse(&t, "mutated.yaml") {
                        check_invariants(&plan);
                    }
                }
            }
        }
    }
}

#[test]
fn the_example_schema_of_the_brief_parses_with_its_aliases() {
    let text = r#"
name: small
design: as-per-rack
spines: 2
racks:
  - { tors: 1, nodes: 4 }
  - { tors: 2, nodes: 4 }
  - { tors: 1, nodes: 4 }
pods-per-node: 1
speaker: bundled
speakers: { node: bird, tor: frr, rr: gobgp }
as-plan: { spine: shared }
addressing: { loopbacks: 10.255.0.0/16, links-v4: 10.0.0.0/16, links-v6: "fd00:0:0:1::/64", pods: 10.64.0.0/12, block-size: 26 }
route-reflectors: tor
"#;
    let plan = parse(text, "inline").unwrap();
    check_invariants(&plan);
    check_asn_plan(&plan);
    assert_eq!(plan.name, "small");
    assert_eq!(node(&plan, "r2n4").speaker, SpeakerKind::Bird);
    assert_eq!(node(&plan, "r2t2").speaker, SpeakerKind::Frr);
    assert_eq!(node(&plan, "s2").speaker, SpeakerKind::Bundled);
    assert_eq!(node(&plan, "s1").asn, node(&plan, "s2").asn);
}

#[test]
fn plans_survive_a_json_round_trip() {
    for name in ["as-per-rack-rr-nodes.yaml", "explicit-small.yaml"] {
        let plan = sample(name);
        let json = serde_json::to_string(&plan).unwrap();
        let back: Plan = serde_json::from_str(&json).unwrap();
        assert_eq!(back, plan, "{name}");
    }
}

#[test]
fn absurd_sizes_are_errors_not_allocations() {
    for text in [
        "spines: 4000000000\nracks: [{ nodes: 1 }]\n",
        "spines: 1\nracks: [{ nodes: 4000000000 }]\n",
        "spines: 1\nracks: [{ nodes: 2, pods-per-node: 4000000000 }]\n",
        "spines: 1\nracks: [{ nodes: 1 }]\noverrides: { r1n1: { pods: 4000000000 } }\n",
    ] {
        let err = parse(text, "big.yaml").unwrap_err().to_string();
        assert!(err.contains("cannot run"), "{text}: {err}");
    }
}

#[test]
fn a_thousand_node_rr_fabric_resolves_fast_too() {
    let racks = "  - { nodes: 30, rrs: 2, tors: 2 }\n".repeat(32);
    let text = format!("design: as-per-rack\nroute-reflectors: nodes\nspines: 4\nracks:\n{racks}");
    let start = Instant::now();
    let plan = parse(&text, "rr-1000.yaml").unwrap();
    let took = start.elapsed();
    check_invariants(&plan);
    assert_eq!(plan.nodes.len(), 4 + 32 * 34);
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}
