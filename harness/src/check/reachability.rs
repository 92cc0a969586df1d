//! Pod-to-pod reachability: which pairs to probe, and what the answers mean.
//!
//! Every pod probes one pod in every other rack (rotating the target so that all pods are
//! targets), and one pod on another node of its own rack: every pair of racks is covered in both
//! directions, plus a sample within each rack, in O(pods x racks) probes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::result::CheckResult;
use crate::topology::{NodeId, Plan};

/// Probes to send: per source pod, the target addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReachabilityPlan {
    pub jobs: Vec<(NodeId, Vec<IpAddr>)>,
}

impl ReachabilityPlan {
    pub fn pairs(&self) -> usize {
        self.jobs.iter().map(|(_, t)| t.len()).sum()
    }
}

/// Chooses the probes for `plan` (IPv4 pod addresses).
pub fn reachability_jobs(plan: &Plan) -> ReachabilityPlan {
    // Pods grouped by rack (pods of unracked hosts are grouped under rack 0).
    let mut by_rack: BTreeMap<u32, Vec<(&NodeId, &NodeId, IpAddr)>> = BTreeMap::new();
    for pod in &plan.pods {
        let rack = plan.node(&pod.host).and_then(|n| n.rack).unwrap_or(0);
        by_rack
            .entry(rack)
            .or_default()
            .push((&pod.id, &pod.host, IpAddr::V4(pod.v4)));
    }
    let mut jobs = Vec::new();
    for (rack, pods) in &by_rack {
        for (i, (pod, host, _)) in pods.iter().enumerate() {
            let mut targets = Vec::new();
            for (other_rack, others) in &by_rack {
                if other_rack == rack || others.is_empty() {
                    continue;
                }
                if let Some((_, _, addr)) = others.get(i % others.len()) {
                    targets.push(*addr);
                }
            }
            // Within the rack: the next pod that lives on another node.
            let n = pods.len();
            if let Some((_, _, addr)) = (1..n)
                .filter_map(|k| pods.get((i + k) % n))
                .find(|(_, h, _)| h != host)
            {
                targets.push(*addr);
            }
            if !targets.is_empty() {
                jobs.push(((*pod).clone(), targets));
            }
        }
    }
    ReachabilityPlan { jobs }
}

/// Turns probe outcomes (`(source, target, answered)`) into the check result.
pub fn reachability_check(outcomes: &[(NodeId, IpAddr, bool)]) -> CheckResult {
    let total = outcomes.len();
    let lost: Vec<String> = outcomes
        .iter()
        .filter(|(_, _, ok)| !ok)
        .map(|(src, dst, _)| format!("{src} -> {dst}: no answer"))
        .collect();
    if total == 0 {
        return CheckResult::ignored("reachability", "the topology has no pods to probe");
    }
    CheckResult::from_details(
        "reachability",
        format!(
            "{}/{} pod pairs answered ({} lost)",
            total - lost.len(),
            total,
            lost.len()
        ),
        lost,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::parse;

    const FABRIC: &str = "name: t\ndesign: as-per-rack\nspines: 2\nracks:\n  - { nodes: 2 }\n  - { nodes: 2 }\n  - { nodes: 3 }\npods-per-node: 1\n";

    #[test]
    fn every_pair_of_racks_is_probed_both_ways_and_within_racks() {
        let plan = parse(FABRIC, "t.yaml").expect("plan");
        let rp = reachability_jobs(&plan);
        let rack_of = |addr: &IpAddr| {
            let pod = plan
                .pods
                .iter()
                .find(|p| IpAddr::V4(p.v4) == *addr)
                .expect("pod");
            plan.node(&pod.host).and_then(|n| n.rack).expect("rack")
        };
        let src_rack = |id: &NodeId| {
            let pod = plan.pods.iter().find(|p| &p.id == id).expect("pod");
            plan.node(&pod.host).and_then(|n| n.rack).expect("rack")
        };
        let mut covered = std::collections::BTreeSet::new();
        for (src, targets) in &rp.jobs {
            for t in targets {
                covered.insert((src_rack(src), rack_of(t)));
            }
        }
        for a in 1..=3 {
            for b in 1..=3 {
                assert!(covered.contains(&(a, b)), "rack {a} -> rack {b} not probed");
            }
        }
        // Every pod probes 2 other racks + 1 pod in its own rack.
        assert_eq!(rp.pairs(), plan.pods.len() * 3);
    }

    #[test]
    fn lost_probes_fail_the_check_and_are_listed() {
        let ok = reachability_check(&[
            (NodeId::from("a"), "10.0.0.1".parse().expect("ip"), true),
            (NodeId::from("a"), "10.0.0.2".parse().expect("ip"), false),
        ]);
        assert!(ok.failed());
        assert_eq!(ok.details, vec!["a -> 10.0.0.2: no answer".to_string()]);
        assert!(reachability_check(&[]).status == super::super::CheckStatus::Ignored);
    }
}
