//! Deliberate misconfigurations for negative cases: the expected FIBs come from the plan the
//! design prescribes, the daemons get a plan with one thing wrong, and the run must fail with a
//! diff that explains it.

use std::collections::BTreeMap;
use std::str::FromStr;

use fabric_bgp_wire::Asn;

use crate::topology::{Design, NodeId, Plan, Role};

/// A misconfiguration a design forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misconfig {
    /// AS per rack: ToRs do not set next hop self towards their nodes, so nodes receive routes
    /// whose next hop (a spine or another rack's link address) they cannot resolve
    /// (failure scenario F9, calico#1515; RFC 4271 §9.1.2).
    NoNextHopSelf,
    /// AS per rack with every rack reusing one AS, deployed without allowas-in: AS-path loop
    /// detection drops other racks' routes (RFC 4271 §9.1.2; calico-designs.md "loop-detection
    /// traps"). The expectation is the same fabric with allowas-in 1 where it is needed.
    SharedRackAsWithoutAllowasIn,
}

impl FromStr for Misconfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "no-next-hop-self" => Ok(Misconfig::NoNextHopSelf),
            "shared-rack-as" => Ok(Misconfig::SharedRackAsWithoutAllowasIn),
            other => Err(format!(
                "unknown misconfiguration `{other}` (expected no-next-hop-self or shared-rack-as)"
            )),
        }
    }
}

impl std::fmt::Display for Misconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Misconfig::NoNextHopSelf => "no-next-hop-self",
            Misconfig::SharedRackAsWithoutAllowasIn => "shared-rack-as",
        })
    }
}

impl Misconfig {
    /// `(plan the expectation is computed from, plan the daemons are configured from)`.
    pub fn apply(self, plan: &Plan) -> Result<(Plan, Plan), String> {
        if plan.design != Design::AsPerRack {
            return Err(format!(
                "misconfiguration {self:?} applies to the as-per-rack design, not {}",
                plan.design
            ));
        }
        match self {
            Misconfig::NoNextHopSelf => {
                let mut deployed = plan.clone();
                for s in &mut deployed.sessions {
                    for side in [&mut s.a, &mut s.b] {
                        let role = plan.node(&side.node).map(|n| n.role);
                        if role == Some(Role::Tor) && side.rr_client {
                            side.next_hop_self = false;
                        }
                    }
                }
                Ok((plan.clone(), deployed))
            }
            Misconfig::SharedRackAsWithoutAllowasIn => {
                let shared = shared_rack_as(plan)?;
                let mut expected = shared.clone();
                for s in &mut expected.sessions {
                    for side in [&mut s.a, &mut s.b] {
                        let role = shared.node(&side.node).map(|n| n.role);
                        // Routes of other racks carry the shared AS: ToRs accept them from
                        // spines, nodes from their ToR (Calico's numAllowedLocalASNumbers).
                        if matches!(role, Some(Role::Tor | Role::Node | Role::RouteReflector)) {
                            side.allowas_in = 1;
                        }
                    }
                }
                Ok((expected, shared))
            }
        }
    }
}

/// The plan with every rack's members moved to the AS of rack 1.
fn shared_rack_as(plan: &Plan) -> Result<Plan, String> {
    let first = plan
        .nodes
        .iter()
        .find(|n| n.rack.is_some() && n.role != Role::Spine)
        .map(|n| n.asn)
        .ok_or("the plan has no racks")?;
    let mut out = plan.clone();
    let mut new_as: BTreeMap<NodeId, Asn> = BTreeMap::new();
    for n in &mut out.nodes {
        if n.rack.is_some() && matches!(n.role, Role::Tor | Role::Node | Role::RouteReflector) {
            n.asn = first;
        }
        new_as.insert(n.id.clone(), n.asn);
    }
    for s in &mut out.sessions {
        for side in [&mut s.a, &mut s.b] {
            if let Some(a) = new_as.get(&side.node) {
                side.local_as = *a;
            }
        }
        s.a.peer_as = s.b.local_as;
        s.b.peer_as = s.a.local_as;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::expected_fibs;
    use crate::topology::parse;

    const FABRIC: &str = "design: as-per-rack\nspines: 2\nracks:\n  - { nodes: 2 }\n  - { nodes: 2 }\npods-per-node: 1\n";

    #[test]
    fn no_next_hop_self_leaves_expectation_and_breaks_deployment() {
        let plan = parse(FABRIC, "t.yaml").expect("plan");
        let (exp, dep) = Misconfig::NoNextHopSelf.apply(&plan).expect("apply");
        assert_eq!(exp, plan);
        assert!(dep
            .sessions
            .iter()
            .flat_map(|s| [&s.a, &s.b])
            .all(|side| !side.next_hop_self || !side.rr_client));
        // The model of the deployed plan loses the remote routes on nodes: that is the failure.
        let want = expected_fibs(&exp);
        let got = expected_fibs(&dep);
        let node = NodeId::from("r1n1");
        assert!(got[&node].len() < want[&node].len());
    }

    #[test]
    fn shared_rack_as_needs_allowas_in() {
        let plan = parse(FABRIC, "t.yaml").expect("plan");
        let (exp, dep) = Misconfig::SharedRackAsWithoutAllowasIn
            .apply(&plan)
            .expect("apply");
        let want = expected_fibs(&exp);
        let got = expected_fibs(&dep);
        let tor = NodeId::from("r1t1");
        // With allowas-in the ToR learns rack 2's blocks; without it they are dropped.
        assert!(want[&tor].len() > got[&tor].len());
        assert!(dep
            .nodes
            .iter()
            .filter(|n| n.role == Role::Tor)
            .all(|n| n.asn == dep.nodes[2].asn));
    }
}
