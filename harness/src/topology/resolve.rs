//! Text → [`Plan`]: parse, expand the file form, then number everything (ASNs, addresses,
//! interfaces, blocks, pods) and derive the design's sessions. Deterministic and panic-free.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use fabric_bgp_wire::RouterId;

use super::addressing;
use super::asn;
use super::compact;
use super::design;
use super::draft::{At, Draft, DraftPool, MAX_PODS};
use super::error::{self, ErrorKind, Pos, Problem};
use super::explicit;
use super::model::{RoleSpeakers, TopologyFile};
use super::plan::{
    Design, Endpoint, LinkId, LinkPlan, NodeId, NodePlan, Plan, PodPlan, Role, RoutingPolicy,
    SpeakerKind,
};
use super::speaker_selection::SpeakerSelection;
use super::LoadOptions;

/// Deserialize, tracking the field path so schema errors can name it.
fn deserialize(text: &str) -> Result<TopologyFile, Problem> {
    let mut path = String::new();
    let r = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = error::field_path(e.path());
            e.into_inner()
        })
    });
    r.map_err(|e| error::from_yaml(&e, path))
}

fn file_speakers(f: &TopologyFile) -> SpeakerSelection {
    let mut sel = SpeakerSelection {
        default: f.speaker,
        ..SpeakerSelection::default()
    };
    let d = RoleSpeakers::default();
    let s = f.speakers.as_ref().unwrap_or(&d);
    for (role, kind) in [
        (Role::Spine, s.spine),
        (Role::Tor, s.tor),
        (Role::Node, s.node),
        (Role::RouteReflector, s.route_reflector),
        (Role::External, s.external),
    ] {
        if let Some(k) = kind {
            sel.per_role.insert(role, k);
        }
    }
    sel
}

fn draft(f: &TopologyFile, name: String, design: Design) -> Result<Draft, Problem> {
    let mtu = match &f.mtu {
        Some(m) => checked_mtu(At::new(m.value, Pos::of(m, "mtu")))?,
        None => 1500,
    };
    let max_paths = match &f.max_paths {
        Some(m) if m.value == 0 => {
            return Err(Pos::of(m, "max-paths")
                .err(ErrorKind::Invalid("max-paths must be at least 1".into())))
        }
        Some(m) => m.value,
        None => 8,
    };
    let (nodes, links, rack_asn) = match (&f.nodes, &f.racks) {
        (Some(_), _) => {
            let e = explicit::expand(f, design, mtu)?;
            (e.nodes, e.links, Default::default())
        }
        (None, Some(_)) => {
            if let Some(l) = &f.links {
                return Err(Pos::of(l, "links").err(ErrorKind::Invalid(
                    "`links` belongs to the explicit form; the compact form wires racks itself"
                        .into(),
                )));
            }
            let e = compact::expand(f, design, mtu)?;
            (e.nodes, e.links, e.rack_asn)
        }
        (None, None) => {
            return Err(Pos::root("").err(ErrorKind::Invalid(
                "a topology needs `racks` (compact form) or `nodes` (explicit form)".into(),
            )))
        }
    };
    for l in &links {
        checked_mtu(At::new(l.mtu, l.pos.clone()))?;
    }
    let pools = f.pools.as_ref().map(|list| {
        list.iter()
            .enumerate()
            .map(|(i, p)| DraftPool {
                name: p
                    .value
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("rack{}-pool{}", p.value.rack.value, i + 1)),
                cidr: p.value.cidr.value,
                rack: p.value.rack.value,
                block_len: p
                    .value
                    .block_size
                    .as_ref()
                    .map(|b| At::new(b.value, Pos::of(b, format!("pools[{i}].block-size")))),
                pos: Pos::of(&p.value.cidr, format!("pools[{i}].cidr")),
            })
            .collect()
    });
    Ok(Draft {
        name,
        design,
        nodes,
        links,
        pools,
        rack_asn,
        speakers: file_speakers(f),
        max_paths,
    })
}

/// Links carry IPv6 too, so at least the IPv6 minimum (RFC 8200 §5).
fn checked_mtu(m: At<u32>) -> Result<u32, Problem> {
    if (1280..=65535).contains(&m.v) {
        Ok(m.v)
    } else {
        Err(m.pos.err(ErrorKind::Invalid(format!(
            "MTU {} outside 1280..=65535",
            m.v
        ))))
    }
}

fn plan_name(f: &TopologyFile, source_name: &str) -> String {
    match &f.name {
        Some(n) => n.value.clone(),
        None => Path::new(source_name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| source_name.to_string()),
    }
}

/// Interface names per link end: `e{i}` counting the node's links in plan order, unless the
/// link names it. Names must be unique per node and fit IFNAMSIZ.
fn ifnames(d: &Draft) -> Result<Vec<(String, String)>, Problem> {
    let mut count = vec![0u32; d.nodes.len()];
    let mut used: Vec<HashSet<String>> = vec![HashSet::new(); d.nodes.len()];
    let mut out = Vec::with_capacity(d.links.len());
    for l in &d.links {
        let mut pick = |node: usize, given: &Option<At<String>>| -> Result<String, Problem> {
            let auto = format!("e{}", count.get(node).copied().unwrap_or(0));
            if let Some(c) = count.get_mut(node) {
                *c += 1;
            }
            let (name, pos) = match given {
                Some(g) => (g.v.clone(), g.pos.clone()),
                None => (auto, l.pos.clone()),
            };
            if name.len() > 15 {
                return Err(pos.err(ErrorKind::IfnameTooLong(name)));
            }
            if name.is_empty() || name == "lo" || name.contains(['/', ' ', ':']) {
                return Err(pos.err(ErrorKind::InvalidName {
                    name,
                    reason: "not a usable interface name".into(),
                }));
            }
            if let Some(set) = used.get_mut(node) {
                if !set.insert(name.clone()) {
                    return Err(pos.err(ErrorKind::Invalid(format!(
                        "interface `{name}` used twice on node `{}`",
                        d.nodes.get(node).map(|n| n.name.as_str()).unwrap_or("?")
                    ))));
                }
            }
            Ok(name)
        };
        let a = pick(l.a, &l.a_ifname)?;
        let b = pick(l.b, &l.b_ifname)?;
        out.push((a, b));
    }
    // Pod-facing interfaces are `cali{j}`; a link may not take one of those names.
    for (i, n) in d.nodes.iter().enumerate() {
        for j in 0..n.pods {
            let cali = format!("cali{j}");
            if used.get(i).is_some_and(|s| s.contains(&cali)) {
                return Err(n.pos.err(ErrorKind::Invalid(format!(
                    "interface `{cali}` of node `{}` is both a link and a pod interface",
                    n.name
                ))));
            }
        }
    }
    Ok(out)
}

/// RR racks need every member linked to a ToR of the rack, or the loopback sessions and the
/// static routes have no first hop.
fn check_rr_racks(d: &Draft) -> Result<(), Problem> {
    let rr_racks: BTreeSet<u32> = d
        .nodes
        .iter()
        .filter(|n| n.role == Role::RouteReflector)
        .filter_map(|n| n.rack)
        .collect();
    for (i, n) in d.nodes.iter().enumerate() {
        let Some(rack) = n.rack.filter(|r| rr_racks.contains(r)) else {
            continue;
        };
        if !matches!(n.role, Role::Node | Role::RouteReflector) {
            continue;
        }
        let uplinked = d.links.iter().any(|l| {
            let far = if l.a == i {
                l.b
            } else if l.b == i {
                l.a
            } else {
                return false;
            };
            d.nodes
                .get(far)
                .is_some_and(|f| f.role == Role::Tor && f.rack == Some(rack))
        });
        if !uplinked {
            return Err(n.pos.err(ErrorKind::Invalid(format!(
                "`{}` is in rack {rack}, whose route reflectors are nodes, but has no link to a \
                 ToR of that rack",
                n.name
            ))));
        }
    }
    Ok(())
}

/// Reflection is iBGP (RFC 4456): in a rack with RR nodes, the ToRs, RRs and nodes must all be
/// in the RR's AS.
fn check_rr_rack_asns(d: &Draft, asns: &[fabric_bgp_wire::Asn]) -> Result<(), Problem> {
    let mut rack_as = std::collections::BTreeMap::new();
    for (n, a) in d.nodes.iter().zip(asns) {
        if n.role == Role::RouteReflector {
            if let Some(r) = n.rack {
                rack_as.entry(r).or_insert((n.name.as_str(), *a));
            }
        }
    }
    for (n, a) in d.nodes.iter().zip(asns) {
        let Some(&(rr, rr_as)) = n.rack.and_then(|r| rack_as.get(&r)) else {
            continue;
        };
        if *a != rr_as {
            let pos = n
                .asn
                .as_ref()
                .map(|x| x.pos.clone())
                .unwrap_or(n.pos.clone());
            return Err(pos.err(ErrorKind::Invalid(format!(
                "`{}` is in AS {a} but its rack's route reflector `{rr}` is in AS {rr_as}; \
                 reflection needs one AS per rack",
                n.name
            ))));
        }
    }
    Ok(())
}

pub(crate) fn resolve(text: &str, source_name: &str, opts: &LoadOptions) -> Result<Plan, Problem> {
    let f = deserialize(text)?;
    let design = opts
        .design
        .or(f.design.as_ref().map(|d| d.value))
        .unwrap_or(Design::AsPerRack);
    let d = draft(&f, plan_name(&f, source_name), design)?;
    check_rr_racks(&d)?;
    let mut total_pods: usize = 0;
    for n in &d.nodes {
        total_pods = total_pods.saturating_add(n.pods as usize);
        if total_pods > MAX_PODS {
            return Err(n.pos.err(ErrorKind::Invalid(format!(
                "more than {MAX_PODS} pods in total; a lab this size cannot run"
            ))));
        }
    }

    let asns = asn::assign(&d, f.as_plan.as_ref())?;
    check_rr_rack_asns(&d, &asns)?;
    let ranges = addressing::ranges(f.addressing.as_ref())?;
    let loopbacks = addressing::loopbacks(&ranges, d.nodes.len())?;
    let link_addrs = addressing::link_addrs(&ranges, d.links.len())?;
    let pools = addressing::pools(&ranges, &d)?;
    let blocks = addressing::blocks(&pools, &d)?;
    let ifnames = ifnames(&d)?;

    let cli = opts.speakers.clone().unwrap_or_default();
    let mut nodes = Vec::with_capacity(d.nodes.len());
    for (i, n) in d.nodes.iter().enumerate() {
        let (Some(&asn), Some(&(lo4, lo6)), Some(blocks)) =
            (asns.get(i), loopbacks.get(i), blocks.get(i))
        else {
            return Err(n
                .pos
                .err(ErrorKind::Invalid("internal: node numbering".into())));
        };
        // CLI choice > the node's own > the file's per-role/default > bundled.
        let speaker = cli
            .pick(n.role)
            .or(n.speaker)
            .or(d.speakers.pick(n.role))
            .unwrap_or(SpeakerKind::Bundled);
        nodes.push(NodePlan {
            id: NodeId(n.name.clone()),
            role: n.role,
            rack: n.rack,
            asn,
            router_id: RouterId(lo4),
            loopback_v4: lo4,
            loopback_v6: lo6,
            speaker,
            labels: n.labels.clone(),
            blocks: blocks.clone(),
            blocks_v6: blocks
                .iter()
                .map(|b| addressing::embed_net_v6(&ranges, *b))
                .collect(),
            originates: n.originates.clone(),
            routing: RoutingPolicy {
                max_paths: d.max_paths,
                multipath_relax: false,
                cluster_id: None,
            },
        });
    }

    let mut links = Vec::with_capacity(d.links.len());
    for (k, l) in d.links.iter().enumerate() {
        let (Some(a), Some(b), Some(addrs), Some(names)) = (
            nodes.get(l.a),
            nodes.get(l.b),
            link_addrs.get(k),
            ifnames.get(k),
        ) else {
            return Err(l
                .pos
                .err(ErrorKind::Invalid("internal: link numbering".into())));
        };
        let ((a4, b4), (a6, b6)) = *addrs;
        links.push(LinkPlan {
            id: LinkId(u32::try_from(k).unwrap_or(u32::MAX)),
            a: Endpoint {
                node: a.id.clone(),
                ifname: names.0.clone(),
                v4: a4,
                v6: a6,
            },
            b: Endpoint {
                node: b.id.clone(),
                ifname: names.1.clone(),
                v4: b4,
                v6: b6,
            },
            mtu: l.mtu,
        });
    }

    let names: HashSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let mut pods = Vec::new();
    for (n, dn) in nodes.iter().zip(&d.nodes) {
        for j in 0..dn.pods {
            let Some((v4, block)) = addressing::pod_addr(&n.blocks, u64::from(j)) else {
                return Err(dn.pos.err(ErrorKind::PoolExhausted(format!(
                    "node {} has no address left for pod {}",
                    n.id,
                    j + 1
                ))));
            };
            let id = format!("{}p{}", n.id, j + 1);
            if names.contains(id.as_str()) {
                return Err(dn.pos.err(ErrorKind::DuplicateNode(id)));
            }
            pods.push(PodPlan {
                id: NodeId(id),
                host: n.id.clone(),
                host_ifname: format!("cali{j}"),
                v4,
                v6: addressing::embed_v6(&ranges, v4),
                block,
            });
        }
    }

    let sessions = design::sessions(design, &nodes, &links);
    let routing = design::routing(design, d.max_paths, &nodes, &sessions);
    for (n, r) in nodes.iter_mut().zip(routing) {
        n.routing = r;
    }
    let static_routes = design::static_routes(&nodes, &links);

    Ok(Plan {
        name: d.name,
        design,
        nodes,
        links,
        pods,
        pools: pools.into_iter().map(|p| p.plan).collect(),
        sessions,
        static_routes,
    })
}
