//! Expand the explicit form (`nodes` + `links`) into nodes (sorted into plan order) and links.

use std::collections::{BTreeMap, HashSet};

use super::draft::{
    check_name, index_names, plan_order_key, At, DraftLink, DraftNode, MAX_NODES, MAX_PODS,
};
use super::error::{ErrorKind, Pos, Problem};
use super::model::TopologyFile;
use super::plan::{Design, Role};

/// Nodes (in plan order) and links of an explicit file.
pub(crate) struct Expanded {
    pub nodes: Vec<DraftNode>,
    pub links: Vec<DraftLink>,
}

/// Reject compact-form keys in an explicit file: mixing the forms has no single meaning.
fn reject_compact_keys(f: &TopologyFile) -> Result<(), Problem> {
    let msg = |key: &str| {
        ErrorKind::Invalid(format!(
            "`{key}` belongs to the compact form; this file lists `nodes` (explicit form)"
        ))
    };
    if let Some(s) = &f.spines {
        return Err(Pos::of(s, "spines").err(msg("spines")));
    }
    if let Some(r) = &f.racks {
        return Err(Pos::of(r, "racks").err(msg("racks")));
    }
    if let Some(r) = &f.route_reflectors {
        return Err(Pos::of(r, "route-reflectors").err(msg("route-reflectors")));
    }
    if let Some((name, ov)) = f.overrides.iter().next() {
        return Err(Pos::of(ov, format!("overrides.{name}")).err(msg("overrides")));
    }
    if let Some(e) = f.externals.first() {
        return Err(Pos::of(e, "externals[0]").err(msg("externals")));
    }
    Ok(())
}

pub(crate) fn expand(f: &TopologyFile, design: Design, mtu: u32) -> Result<Expanded, Problem> {
    reject_compact_keys(f)?;
    let specs = match &f.nodes {
        Some(n) => n,
        None => return Err(Pos::root("nodes").err(ErrorKind::Invalid("missing `nodes`".into()))),
    };
    if specs.value.len() > MAX_NODES {
        return Err(Pos::of(specs, "nodes").err(ErrorKind::Invalid(format!(
            "more than {MAX_NODES} nodes; a lab this size cannot run"
        ))));
    }
    let default_pods = f.pods_per_node.as_ref().map(|p| p.value).unwrap_or(1);
    let mut nodes = Vec::with_capacity(specs.value.len());
    let mut total_pods: usize = 0;
    for (i, spec) in specs.value.iter().enumerate() {
        let s = &spec.value;
        let field = format!("nodes[{i}]");
        let name_pos = Pos::of(&s.name, format!("{field}.name"));
        check_name(&s.name.value, &name_pos)?;
        let role = s.role.value;
        let role_pos = Pos::of(&s.role, format!("{field}.role"));
        let racked = matches!(role, Role::Tor | Role::Node | Role::RouteReflector);
        let rack = match (&s.rack, racked) {
            (Some(r), true) if r.value == 0 => {
                return Err(Pos::of(r, format!("{field}.rack"))
                    .err(ErrorKind::Invalid("racks are numbered from 1".into())))
            }
            (Some(r), true) => Some(r.value),
            (None, true) => {
                return Err(role_pos.err(ErrorKind::Invalid(format!("a {role} needs a `rack`"))))
            }
            (Some(r), false) => {
                return Err(Pos::of(r, format!("{field}.rack"))
                    .err(ErrorKind::Invalid(format!("a {role} is not in a rack"))))
            }
            (None, false) => None,
        };
        if role == Role::RouteReflector && design != Design::AsPerRack {
            return Err(role_pos.err(ErrorKind::Invalid(format!(
                "route-reflector nodes only exist in design as-per-rack, not {design}"
            ))));
        }
        let pods = match (&s.pods, role) {
            (Some(p), Role::Node) => p.value,
            (Some(p), _) => {
                return Err(Pos::of(p, format!("{field}.pods"))
                    .err(ErrorKind::Invalid("only nodes host pods".into())))
            }
            (None, Role::Node) => default_pods,
            (None, _) => 0,
        };
        total_pods = total_pods.saturating_add(pods as usize);
        if total_pods > MAX_PODS {
            return Err(Pos::of(spec, field).err(ErrorKind::Invalid(format!(
                "more than {MAX_PODS} pods in total; a lab this size cannot run"
            ))));
        }
        for (j, p) in s.originates.iter().enumerate() {
            if p.value.trunc() != p.value {
                return Err(Pos::of(p, format!("{field}.originates[{j}]"))
                    .err(ErrorKind::Invalid(format!("{} has host bits set", p.value))));
            }
        }
        let mut labels: BTreeMap<String, String> = s.labels.clone();
        if let Some(r) = rack {
            labels.insert("rack".to_string(), r.to_string());
        }
        nodes.push(DraftNode {
            name: s.name.value.clone(),
            role,
            rack,
            asn: s
                .asn
                .as_ref()
                .map(|a| At::new(a.value, Pos::of(a, format!("{field}.asn")))),
            speaker: s.speaker,
            labels,
            pods,
            originates: s.originates.iter().map(|p| p.value).collect(),
            pos: name_pos,
        });
    }
    // Duplicates are reported in file order, before sorting moves nodes around.
    index_names(&nodes)?;
    nodes.sort_by_key(plan_order_key);
    let index = index_names(&nodes)?;

    let mut links = Vec::new();
    let mut pairs = HashSet::new();
    if let Some(list) = &f.links {
        for (i, l) in list.value.iter().enumerate() {
            let field = format!("links[{i}]");
            let end = |name: &serde_saphyr::Spanned<String>, side: &str| {
                let pos = Pos::of(name, format!("{field}.{side}"));
                index
                    .get(&name.value)
                    .copied()
                    .ok_or_else(|| pos.err(ErrorKind::UnknownNode(name.value.clone())))
            };
            let a = end(&l.value.a, "a")?;
            let b = end(&l.value.b, "b")?;
            let pos = Pos::of(l, field.clone());
            if a == b {
                return Err(pos.err(ErrorKind::Invalid(format!(
                    "link from `{}` to itself",
                    l.value.a.value
                ))));
            }
            if !pairs.insert((a.min(b), a.max(b))) {
                return Err(pos.err(ErrorKind::Invalid(format!(
                    "second link between `{}` and `{}` (one link, one session per pair)",
                    l.value.a.value, l.value.b.value
                ))));
            }
            let roles = [nodes.get(a).map(|n| n.role), nodes.get(b).map(|n| n.role)];
            if roles.contains(&Some(Role::Node)) && roles.contains(&Some(Role::RouteReflector)) {
                return Err(pos.err(ErrorKind::Invalid(
                    "route reflectors reach nodes through the ToR (loopback sessions); \
                     link them to the rack's ToRs, not to nodes"
                        .into(),
                )));
            }
            let ifname = |x: &Option<serde_saphyr::Spanned<String>>, side: &str| {
                x.as_ref().map(|s| {
                    At::new(
                        s.value.clone(),
                        Pos::of(s, format!("{field}.{side}-ifname")),
                    )
                })
            };
            links.push(DraftLink {
                a,
                b,
                mtu: l.value.mtu.as_ref().map(|m| m.value).unwrap_or(mtu),
                a_ifname: ifname(&l.value.a_ifname, "a"),
                b_ifname: ifname(&l.value.b_ifname, "b"),
                pos,
            });
        }
    }
    Ok(Expanded { nodes, links })
}
