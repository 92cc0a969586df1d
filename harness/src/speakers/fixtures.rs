//! Test plans: the repository's sample topologies, and one representative node per role.

use std::path::PathBuf;

use crate::topology::{self, NodeId, Plan, Role};

/// The sample topologies covering every design and route-reflector mode.
pub(crate) const SAMPLES: &[&str] = &[
    "as-per-rack.yaml",
    "as-per-rack-rr-nodes.yaml",
    "as-per-server.yaml",
    "downward-default.yaml",
    "explicit-small.yaml",
];

/// Loads `topologies/<file>`.
pub(crate) fn load(file: &str) -> Plan {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../topologies")
        .join(file);
    topology::load(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// The first node of each role present (spine, ToR, node, route reflector, external).
pub(crate) fn representatives(plan: &Plan) -> Vec<NodeId> {
    [
        Role::Spine,
        Role::Tor,
        Role::Node,
        Role::RouteReflector,
        Role::External,
    ]
    .iter()
    .filter_map(|role| plan.nodes.iter().find(|n| n.role == *role))
    .map(|n| n.id.clone())
    .collect()
}
