//! Expand the compact form (`spines` + `racks`) into nodes and links.
//!
//! Wiring: every ToR links to every spine; every node links to every ToR of its rack; RR nodes
//! link to the rack's ToRs; external peers link to the spines they attach to. Links are listed
//! spine–ToR first (by rack, ToR, spine), then per rack ToR–RR and ToR–node (by member, ToR),
//! then spine–external, so interface numbers read naturally: a ToR's `e0..` face the spines.

use std::collections::BTreeMap;

use super::draft::{check_name, index_names, At, DraftLink, DraftNode, MAX_NODES, MAX_PODS};
use super::error::{ErrorKind, Pos, Problem};
use super::model::{RrMode, TopologyFile};
use super::plan::{Design, Role};

/// Nodes (in plan order), links and per-rack ASNs of a compact file.
pub(crate) struct Expanded {
    pub nodes: Vec<DraftNode>,
    pub links: Vec<DraftLink>,
    pub rack_asn: BTreeMap<u32, At<u64>>,
}

fn node(name: String, role: Role, rack: Option<u32>, pods: u32, pos: Pos) -> DraftNode {
    let mut labels = BTreeMap::new();
    if let Some(r) = rack {
        labels.insert("rack".to_string(), r.to_string());
    }
    DraftNode {
        name,
        role,
        rack,
        asn: None,
        speaker: None,
        labels,
        pods,
        originates: Vec::new(),
        pos,
    }
}

/// Members of one rack, as indexes into the node list.
struct RackMembers {
    tors: Vec<usize>,
    rrs: Vec<usize>,
    nodes: Vec<usize>,
}

pub(crate) fn expand(f: &TopologyFile, design: Design, mtu: u32) -> Result<Expanded, Problem> {
    let racks = f
        .racks
        .as_ref()
        .ok_or_else(|| Pos::root("racks").err(ErrorKind::Invalid("missing `racks`".into())))?;
    let spines = f.spines.as_ref().map(|s| s.value).unwrap_or(0);
    if racks.value.len() > 1 && spines == 0 {
        let pos = f
            .spines
            .as_ref()
            .map(|s| Pos::of(s, "spines"))
            .unwrap_or_else(|| Pos::of(racks, "spines"));
        return Err(pos.err(ErrorKind::Invalid(
            "more than one rack needs at least one spine to connect them".into(),
        )));
    }
    let rr_mode = f
        .route_reflectors
        .as_ref()
        .map(|m| m.value)
        .unwrap_or(RrMode::Tor);
    // RR nodes only exist in AS per rack; under another design (e.g. `--design`) they are left
    // out so any file can be re-run under any design.
    let with_rrs = rr_mode == RrMode::Nodes && design == Design::AsPerRack;
    let default_pods = f.pods_per_node.as_ref().map(|p| p.value).unwrap_or(1);

    let mut nodes = Vec::new();
    let spines_pos = f
        .spines
        .as_ref()
        .map(|s| Pos::of(s, "spines"))
        .unwrap_or_else(|| Pos::root("spines"));
    if spines as usize > MAX_NODES {
        return Err(spines_pos.err(ErrorKind::Invalid(format!(
            "{spines} spines: more than {MAX_NODES} nodes; a lab this size cannot run"
        ))));
    }
    for i in 1..=spines {
        nodes.push(node(
            format!("s{i}"),
            Role::Spine,
            None,
            0,
            spines_pos.clone(),
        ));
    }

    let mut members = Vec::new();
    let mut rack_asn = BTreeMap::new();
    let mut total_pods: usize = 0;
    for (idx, rack) in racks.value.iter().enumerate() {
        let r = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        let field = format!("racks[{idx}]");
        let pos = Pos::of(rack, field.clone());
        let spec = &rack.value;
        let tors = spec.tors.as_ref().map(|t| t.value).unwrap_or(1);
        if tors == 0 {
            let p = spec
                .tors
                .as_ref()
                .map(|t| Pos::of(t, format!("{field}.tors")))
                .unwrap_or_else(|| pos.clone());
            return Err(p.err(ErrorKind::Invalid("a rack needs at least one ToR".into())));
        }
        let rrs = match (&spec.rrs, rr_mode) {
            (Some(n), RrMode::Tor) if n.value > 0 => {
                return Err(Pos::of(n, format!("{field}.rrs")).err(ErrorKind::Invalid(
                    "`rrs` needs `route-reflectors: nodes`".into(),
                )))
            }
            (Some(n), RrMode::Nodes) if n.value == 0 => {
                return Err(Pos::of(n, format!("{field}.rrs")).err(ErrorKind::Invalid(
                    "with `route-reflectors: nodes` a rack needs at least one RR".into(),
                )))
            }
            (Some(n), RrMode::Nodes) => n.value,
            (None, RrMode::Nodes) => 1,
            _ => 0,
        };
        let rrs = if with_rrs { rrs } else { 0 };
        let count = spec.nodes.value as usize + tors as usize + rrs as usize;
        if nodes.len().saturating_add(count) > MAX_NODES {
            return Err(pos.err(ErrorKind::Invalid(format!(
                "more than {MAX_NODES} nodes in total; a lab this size cannot run"
            ))));
        }
        let pods = spec
            .pods_per_node
            .as_ref()
            .map(|p| p.value)
            .unwrap_or(default_pods);
        total_pods = total_pods.saturating_add(spec.nodes.value as usize * pods as usize);
        if total_pods > MAX_PODS {
            return Err(pos.err(ErrorKind::Invalid(format!(
                "more than {MAX_PODS} pods in total; a lab this size cannot run"
            ))));
        }
        if let Some(asn) = &spec.asn {
            rack_asn.insert(r, At::new(asn.value, Pos::of(asn, format!("{field}.asn"))));
        }
        let mut m = RackMembers {
            tors: Vec::new(),
            rrs: Vec::new(),
            nodes: Vec::new(),
        };
        for i in 1..=tors {
            m.tors.push(nodes.len());
            nodes.push(node(
                format!("r{r}t{i}"),
                Role::Tor,
                Some(r),
                0,
                pos.clone(),
            ));
        }
        for i in 1..=rrs {
            m.rrs.push(nodes.len());
            nodes.push(node(
                format!("r{r}rr{i}"),
                Role::RouteReflector,
                Some(r),
                0,
                pos.clone(),
            ));
        }
        for i in 1..=spec.nodes.value {
            m.nodes.push(nodes.len());
            nodes.push(node(
                format!("r{r}n{i}"),
                Role::Node,
                Some(r),
                pods,
                pos.clone(),
            ));
        }
        members.push(m);
    }

    let first_external = nodes.len();
    for (i, ext) in f.externals.iter().enumerate() {
        let field = format!("externals[{i}]");
        let name_pos = Pos::of(&ext.value.name, format!("{field}.name"));
        check_name(&ext.value.name.value, &name_pos)?;
        let mut n = node(
            ext.value.name.value.clone(),
            Role::External,
            None,
            0,
            name_pos,
        );
        n.asn = ext
            .value
            .asn
            .as_ref()
            .map(|a| At::new(a.value, Pos::of(a, format!("{field}.asn"))));
        n.speaker = ext.value.speaker;
        n.labels = ext.value.labels.clone();
        n.originates = ext.value.originates.iter().map(|p| p.value).collect();
        for (j, p) in ext.value.originates.iter().enumerate() {
            if p.value.trunc() != p.value {
                return Err(Pos::of(p, format!("{field}.originates[{j}]"))
                    .err(ErrorKind::Invalid(format!("{} has host bits set", p.value))));
            }
        }
        nodes.push(n);
    }

    let index = index_names(&nodes)?;
    apply_overrides(f, &mut nodes, &index)?;

    let mut links = Vec::new();
    let link = |a: usize, b: usize, pos: &Pos| DraftLink {
        a,
        b,
        mtu,
        a_ifname: None,
        b_ifname: None,
        pos: pos.clone(),
    };
    for m in &members {
        for &t in &m.tors {
            for s in 0..spines as usize {
                links.push(link(s, t, &nodes[t].pos));
            }
        }
    }
    for m in &members {
        for &x in m.rrs.iter().chain(&m.nodes) {
            for &t in &m.tors {
                links.push(link(t, x, &nodes[x].pos));
            }
        }
    }
    for (i, ext) in f.externals.iter().enumerate() {
        let x = first_external + i;
        let attach: Vec<usize> = match &ext.value.attach {
            None => (0..spines as usize).collect(),
            Some(list) => {
                let mut out = Vec::new();
                for (j, name) in list.iter().enumerate() {
                    let pos = Pos::of(name, format!("externals[{i}].attach[{j}]"));
                    match index.get(&name.value) {
                        Some(&k) if nodes.get(k).is_some_and(|n| n.role == Role::Spine) => {
                            out.push(k)
                        }
                        Some(_) => {
                            return Err(pos.err(ErrorKind::Invalid(format!(
                                "external peers attach to spines; `{}` is not a spine",
                                name.value
                            ))))
                        }
                        None => return Err(pos.err(ErrorKind::UnknownNode(name.value.clone()))),
                    }
                }
                out
            }
        };
        if attach.is_empty() {
            return Err(nodes[x].pos.err(ErrorKind::Invalid(
                "external peer attached to no spine".into(),
            )));
        }
        for s in attach {
            links.push(link(s, x, &nodes[x].pos));
        }
    }
    Ok(Expanded {
        nodes,
        links,
        rack_asn,
    })
}

fn apply_overrides(
    f: &TopologyFile,
    nodes: &mut [DraftNode],
    index: &std::collections::HashMap<String, usize>,
) -> Result<(), Problem> {
    for (name, ov) in &f.overrides {
        let field = format!("overrides.{name}");
        let pos = Pos::of(ov, field.clone());
        let n = index
            .get(name)
            .and_then(|&i| nodes.get_mut(i))
            .ok_or_else(|| pos.err(ErrorKind::UnknownNode(name.clone())))?;
        if let Some(asn) = &ov.value.asn {
            n.asn = Some(At::new(asn.value, Pos::of(asn, format!("{field}.asn"))));
        }
        if let Some(s) = ov.value.speaker {
            n.speaker = Some(s);
        }
        for (k, v) in &ov.value.labels {
            // The rack label is what pools select on; it follows the rack, not the override.
            if k != "rack" || n.rack.is_none() {
                n.labels.insert(k.clone(), v.clone());
            }
        }
        if let Some(p) = &ov.value.pods {
            if n.role != Role::Node {
                return Err(Pos::of(p, format!("{field}.pods"))
                    .err(ErrorKind::Invalid("only nodes host pods".into())));
            }
            n.pods = p.value;
        }
    }
    Ok(())
}
