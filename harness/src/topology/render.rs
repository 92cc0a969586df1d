//! The human-readable plan `fabriclab validate TOPO` prints.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::plan::{ExportPolicy, ImportPolicy, Plan, SessionSide};

/// How many pods to list before summarising.
const POD_SAMPLE: usize = 8;

fn export(e: ExportPolicy) -> &'static str {
    match e {
        ExportPolicy::All => "all",
        ExportPolicy::Originated => "originated",
        ExportPolicy::DefaultOnly => "default-only",
    }
}

fn import(i: ImportPolicy) -> &'static str {
    match i {
        ImportPolicy::All => "all",
        ImportPolicy::DefaultOnly => "default-only",
    }
}

fn side_flags(s: &SessionSide) -> String {
    let mut f = vec![
        format!("export {}", export(s.export)),
        format!("import {}", import(s.import)),
    ];
    if s.rr_client {
        f.push("rr-client".into());
    }
    if s.next_hop_self {
        f.push("next-hop-self".into());
    }
    if s.default_originate {
        f.push("default-originate".into());
    }
    if s.allowas_in > 0 {
        f.push(format!("allowas-in {}", s.allowas_in));
    }
    f.push(if s.passive { "passive" } else { "dials" }.into());
    f.join(", ")
}

/// Render `plan` as text: nodes, links, pools, pods, sessions, static routes.
pub fn render_plan(plan: &Plan) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "topology {} (design {})", plan.name, plan.design);
    let _ = writeln!(
        o,
        "  {} nodes, {} links, {} pods, {} pools, {} sessions, {} static routes",
        plan.nodes.len(),
        plan.links.len(),
        plan.pods.len(),
        plan.pools.len(),
        plan.sessions.len(),
        plan.static_routes.len()
    );

    let _ = writeln!(o, "\nnodes:");
    for n in &plan.nodes {
        let rack = n
            .rack
            .map(|r| format!("rack {r}"))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            o,
            "  {:<12} {:<15} {:<8} AS {:<10} id {:<15} lo {} {}  speaker {}",
            n.id.as_str(),
            n.role.to_string(),
            rack,
            n.asn.to_string(),
            n.router_id.to_string(),
            n.loopback_v4,
            n.loopback_v6,
            n.speaker
        );
        let mut extra = Vec::new();
        if !n.blocks.is_empty() {
            let b: Vec<String> = n.blocks.iter().map(|b| b.to_string()).collect();
            let b6: Vec<String> = n.blocks_v6.iter().map(|b| b.to_string()).collect();
            extra.push(format!("blocks {} / {}", b.join(" "), b6.join(" ")));
        }
        if !n.originates.is_empty() {
            let p: Vec<String> = n.originates.iter().map(|p| p.to_string()).collect();
            extra.push(format!("originates {}", p.join(" ")));
        }
        let user_labels: BTreeMap<_, _> = n.labels.iter().filter(|(k, _)| *k != "rack").collect();
        if !user_labels.is_empty() {
            let l: Vec<String> = user_labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            extra.push(format!("labels {}", l.join(",")));
        }
        let mut routing = format!("max-paths {}", n.routing.max_paths);
        if n.routing.multipath_relax {
            routing.push_str(", multipath-relax");
        }
        if let Some(c) = n.routing.cluster_id {
            let _ = write!(routing, ", cluster-id {c}");
        }
        extra.push(routing);
        let _ = writeln!(o, "  {:<12} {}", "", extra.join("; "));
    }

    let _ = writeln!(o, "\nlinks:");
    for l in &plan.links {
        let _ = writeln!(
            o,
            "  {:<5} {}:{} {} {}  <->  {}:{} {} {}  mtu {}",
            l.id.to_string(),
            l.a.node,
            l.a.ifname,
            l.a.v4,
            l.a.v6,
            l.b.node,
            l.b.ifname,
            l.b.v4,
            l.b.v6,
            l.mtu
        );
    }

    let _ = writeln!(o, "\npools:");
    for p in &plan.pools {
        let rack = p
            .rack
            .map(|r| format!("rack == \"{r}\""))
            .unwrap_or_else(|| "all".into());
        let _ = writeln!(
            o,
            "  {:<14} {} / {}  block /{}  nodeSelector {}",
            p.name, p.cidr, p.cidr_v6, p.block_len, rack
        );
    }

    let _ = writeln!(o, "\npods: {}", plan.pods.len());
    for p in plan.pods.iter().take(POD_SAMPLE) {
        let _ = writeln!(
            o,
            "  {:<14} on {}:{}  {} {}  (block {})",
            p.id.as_str(),
            p.host,
            p.host_ifname,
            p.v4,
            p.v6,
            p.block
        );
    }
    if plan.pods.len() > POD_SAMPLE {
        let _ = writeln!(o, "  ... {} more", plan.pods.len() - POD_SAMPLE);
    }

    let _ = writeln!(o, "\nsessions:");
    for s in &plan.sessions {
        let kind = if s.ibgp { "ibgp" } else { "ebgp" };
        let hop = if s.multihop { " multihop" } else { "" };
        let _ = writeln!(
            o,
            "  {} {}{}: {} {} AS {} <-> {} {} AS {}",
            s.link,
            kind,
            hop,
            s.a.node,
            s.a.local_addr,
            s.a.local_as,
            s.b.node,
            s.b.local_addr,
            s.b.local_as
        );
        let _ = writeln!(o, "      {}: {}", s.a.node, side_flags(&s.a));
        let _ = writeln!(o, "      {}: {}", s.b.node, side_flags(&s.b));
    }

    if !plan.static_routes.is_empty() {
        let _ = writeln!(o, "\nstatic routes:");
        for r in &plan.static_routes {
            let hops: Vec<String> = r
                .nexthops
                .iter()
                .map(|h| format!("via {} dev {}", h.via, h.ifname))
                .collect();
            let _ = writeln!(
                o,
                "  {:<12} {} {}",
                r.node.as_str(),
                r.prefix,
                hops.join(" ")
            );
        }
    }
    o
}
