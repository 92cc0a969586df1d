//! The run report: JSON for machines (`--report FILE.json`), a summary for people.
//!
//! JSON schema (stable; fields are only ever added):
//! - `version`: fabriclab version; `topology`, `plan`, `design`, `lab`, `run_id`;
//! - `speakers`: role -> speaker kind;
//! - `timings_ms`: `build`, `speakers_start`, `convergence` (null when the fabric did not
//!   converge before the deadline), `checks`, `total`;
//! - `nodes[]`: `node`, `role`, `speaker`, `expected_routes`, `actual_routes`,
//!   `converged_ms` (from all speakers started; null if never), `route_events`;
//! - `checks[]`: `name`, `status` (`pass` | `fail` | `ignored`), `summary`, `details[]`;
//! - `verdict`: `pass` | `fail`;
//! - `flows[]` (scenario runs): `src`, `dst`, `sent`, `received`, `lost`, `longest_gap_ms`;
//! - `churn[]` (scenario runs): `node`, `added`, `removed` route events after convergence;
//! - `speakers_rss_kib`: resident memory of every daemon at convergence (and `nodes[].rss_kib`);
//! - `artifacts`: directory holding captures and daemon logs (kept on failure).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::check::{CheckResult, CheckStatus};
use crate::topology::{Design, NodeId, Role, SpeakerKind};

/// Overall outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
}

/// One node's line in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    pub node: NodeId,
    pub role: Role,
    pub speaker: SpeakerKind,
    pub expected_routes: usize,
    pub actual_routes: usize,
    pub converged_ms: Option<u64>,
    pub route_events: u64,
    /// Resident memory of the node's daemon processes at convergence, in KiB.
    #[serde(default)]
    pub rss_kib: Option<u64>,
}

/// Packets of one continuous probe flow during a scenario (pod to pod across racks, UDP with
/// sequence numbers, about 1,000 packets per second).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowLoss {
    pub src: NodeId,
    pub dst: NodeId,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub longest_gap_ms: u64,
}

/// Route churn on one node during a scenario (netlink route events after convergence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeChurn {
    pub node: NodeId,
    pub added: u64,
    pub removed: u64,
}

/// Durations of the run's phases, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    pub build: u64,
    pub speakers_start: u64,
    pub convergence: Option<u64>,
    pub checks: u64,
    pub total: u64,
}

/// Everything a run found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub version: String,
    pub topology: PathBuf,
    pub plan: String,
    pub design: Design,
    pub lab: String,
    pub run_id: String,
    pub speakers: BTreeMap<Role, SpeakerKind>,
    pub timings_ms: Timings,
    pub nodes: Vec<NodeReport>,
    pub checks: Vec<CheckResult>,
    pub verdict: Verdict,
    pub artifacts: Option<PathBuf>,
    /// Resident memory of every daemon at convergence, in KiB (all nodes together).
    #[serde(default)]
    pub speakers_rss_kib: u64,
    /// Continuous flows during the scenario (empty without one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<FlowLoss>,
    /// Route churn per node during the scenario (nodes with events only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub churn: Vec<NodeChurn>,
}

impl RunReport {
    /// Pass when no check failed (ignored checks are listed, never counted as passes).
    pub fn verdict_of(checks: &[CheckResult]) -> Verdict {
        if checks.iter().any(CheckResult::failed) {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }

    /// The readable summary `fabriclab run` prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let speakers: Vec<String> = self
            .speakers
            .iter()
            .map(|(r, k)| format!("{r}={k}"))
            .collect();
        let _ = writeln!(
            s,
            "fabriclab run: {} ({}), design {}, speakers {}, lab {}",
            self.plan,
            self.topology.display(),
            self.design,
            speakers.join(","),
            self.lab
        );
        let t = &self.timings_ms;
        let conv = t
            .convergence
            .map(|c| format!("{c} ms"))
            .unwrap_or_else(|| "NOT CONVERGED".into());
        let _ = writeln!(
            s,
            "  built in {} ms, speakers started in {} ms, converged in {conv}, checks {} ms, \
             daemons' memory {:.1} MiB",
            t.build,
            t.speakers_start,
            t.checks,
            self.speakers_rss_kib as f64 / 1024.0
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  {:<12} {:<8} {:<8} {:>9} {:>7} {:>13} {:>7}",
            "node", "role", "speaker", "expected", "actual", "converged", "events"
        );
        for n in &self.nodes {
            let conv = n
                .converged_ms
                .map(|c| format!("{c} ms"))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                s,
                "  {:<12} {:<8} {:<8} {:>9} {:>7} {:>13} {:>7}",
                n.node.to_string(),
                n.role.to_string(),
                n.speaker.to_string(),
                n.expected_routes,
                n.actual_routes,
                conv,
                n.route_events
            );
        }
        let _ = writeln!(s);
        for c in &self.checks {
            let tag = match c.status {
                CheckStatus::Pass => "PASS",
                CheckStatus::Fail => "FAIL",
                CheckStatus::Ignored => "IGNORED",
            };
            let _ = writeln!(s, "  {tag:<7} {:<14} {}", c.name, c.summary);
            for d in c.details.iter().take(40) {
                let _ = writeln!(s, "          {d}");
            }
            if c.details.len() > 40 {
                let _ = writeln!(s, "          ... and {} more", c.details.len() - 40);
            }
        }
        if !self.flows.is_empty() {
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "  flows during the scenario (UDP, ~1,000 packets/s each):"
            );
            for f in &self.flows {
                let _ = writeln!(
                    s,
                    "  {:<10} -> {:<10} sent {:>6} received {:>6} lost {:>5} longest gap {} ms",
                    f.src.to_string(),
                    f.dst.to_string(),
                    f.sent,
                    f.received,
                    f.lost,
                    f.longest_gap_ms
                );
            }
        }
        if !self.churn.is_empty() {
            let churn: Vec<String> = self
                .churn
                .iter()
                .map(|c| format!("{} +{} -{}", c.node, c.added, c.removed))
                .collect();
            let _ = writeln!(s, "  route churn during the scenario: {}", churn.join(", "));
        }
        let _ = writeln!(s);
        let passed = self.checks.iter().filter(|c| c.passed()).count();
        let failed = self.checks.iter().filter(|c| c.failed()).count();
        let ignored = self.checks.len() - passed - failed;
        let _ = writeln!(
            s,
            "{}: {passed} passed, {failed} failed, {ignored} ignored",
            match self.verdict {
                Verdict::Pass => "PASS",
                Verdict::Fail => "FAIL",
            }
        );
        if let (Verdict::Fail, Some(dir)) = (self.verdict, &self.artifacts) {
            let _ = writeln!(s, "artifacts (captures, configs, logs): {}", dir.display());
        }
        s
    }
}
