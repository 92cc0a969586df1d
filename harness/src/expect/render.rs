//! Readable text for expected FIBs: per node (plan order), prefix → next hops or blackhole, with
//! each gateway annotated with the neighbour that owns it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::fib::{FibRoute, NodeFib, RouteKind};
use crate::topology::{NodeId, Plan};

use super::model::{ExpectedFibs, RibEntry, Simulation};

/// Width of the prefix column (`255.255.255.255/32`).
const PREFIX_WIDTH: usize = 18;

/// What `fabriclab expect TOPO` prints: every node's expected FIB, in plan order.
pub fn render_expected(plan: &Plan, fibs: &ExpectedFibs) -> String {
    render(plan, fibs, None)
}

/// [`render_expected`] plus, per node, the received paths that were not installed and why, and
/// the simulation's convergence and warnings.
pub fn render_simulation(plan: &Plan, sim: &Simulation) -> String {
    render(plan, &sim.fibs(), Some(sim))
}

fn render(plan: &Plan, fibs: &ExpectedFibs, sim: Option<&Simulation>) -> String {
    let owners = address_owners(plan);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# expected FIBs of {} (design {}), IPv4 unicast, {} nodes",
        plan.name,
        plan.design,
        fibs.len()
    );
    if let Some(sim) = sim {
        if sim.converged {
            let _ = writeln!(out, "# model converged after {} rounds", sim.rounds);
        } else {
            let _ = writeln!(
                out,
                "# WARNING: model did not converge within {} rounds",
                sim.rounds
            );
        }
        for w in &sim.warnings {
            let _ = writeln!(out, "# warning: {w}");
        }
    }
    for id in node_order(plan, fibs) {
        let Some(fib) = fibs.get(id) else { continue };
        out.push('\n');
        let _ = write!(out, "{id}");
        if let Some(n) = plan.node(id) {
            let _ = write!(out, " ({}", n.role);
            if let Some(r) = n.rack {
                let _ = write!(out, ", rack {r}");
            }
            let _ = write!(out, ", AS {})", n.asn);
        }
        let _ = writeln!(out, ": {}", fib.summary());
        render_fib(&mut out, fib, &owners);
        if let Some(result) = sim.and_then(|s| s.nodes.get(id)) {
            for note in &result.notes {
                let _ = writeln!(out, "  note: {note}");
            }
            for r in &result.rejected {
                // Only explain prefixes that ended up without a learned route; a rejected
                // alternative to an installed route is normal (loop prevention at work).
                if matches!(
                    result.rib.get(&r.prefix),
                    Some(RibEntry::Learned { .. } | RibEntry::Local)
                ) {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "  not installed: {:<w$} from {}: {} ({})",
                    r.prefix.to_string(),
                    r.from,
                    r.reason,
                    r.attrs,
                    w = PREFIX_WIDTH
                );
            }
        }
    }
    out
}

/// Nodes in plan order, then any others alphabetically.
fn node_order<'a>(plan: &'a Plan, fibs: &'a ExpectedFibs) -> Vec<&'a NodeId> {
    let mut order: Vec<&NodeId> = plan
        .nodes
        .iter()
        .map(|n| &n.id)
        .filter(|id| fibs.contains_key(id))
        .collect();
    order.extend(fibs.keys().filter(|id| plan.node(id).is_none()));
    order
}

/// Which node owns each link and loopback address, to name gateways.
pub(crate) fn address_owners(plan: &Plan) -> BTreeMap<IpAddr, NodeId> {
    let mut owners = BTreeMap::new();
    for n in &plan.nodes {
        owners.insert(IpAddr::V4(n.loopback_v4), n.id.clone());
        owners.insert(IpAddr::V6(n.loopback_v6), n.id.clone());
    }
    for l in &plan.links {
        for e in [&l.a, &l.b] {
            owners.insert(IpAddr::V4(e.v4.addr()), e.node.clone());
            owners.insert(IpAddr::V6(e.v6.addr()), e.node.clone());
        }
    }
    owners
}

/// One line per next hop; ECMP members on continuation lines.
pub(crate) fn render_fib(out: &mut String, fib: &NodeFib, owners: &BTreeMap<IpAddr, NodeId>) {
    for route in fib {
        render_route(out, route, owners);
    }
}

fn render_route(out: &mut String, route: &FibRoute, owners: &BTreeMap<IpAddr, NodeId>) {
    let prefix = route.prefix.to_string();
    match &route.kind {
        RouteKind::Unicast { nexthops } if !nexthops.is_empty() => {
            for (i, nh) in nexthops.iter().enumerate() {
                let shown = if i == 0 { prefix.as_str() } else { "" };
                let _ = write!(out, "  {shown:<PREFIX_WIDTH$} {nh}");
                if let Some(owner) = nh.gateway.and_then(|g| owners.get(&g)) {
                    let _ = write!(out, " ({owner})");
                }
                out.push('\n');
            }
        }
        kind => {
            let _ = writeln!(out, "  {prefix:<PREFIX_WIDTH$} {kind}");
        }
    }
}
