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
