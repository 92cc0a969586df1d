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
//! - `events[]` (scenario runs): one per disruption (a restart = the kill or stop and the start
//!   that follows; steps of the same kind within 100 ms = one event on several targets):
//!   `kind` (`restart` | `kill` | `stop` | `start` | `link-down` | `link-up` | `impair` |
//!   `clear-impairment`), `method` (restarts: `kill` | `stop`), `nodes[]` (daemons, or a
//!   link's end nodes), `links[]` (as written), `steps[]` (numbers from 1), `start_us`/`end_us`
//!   (window on the timeline's clock, µs since the Unix epoch), `start_ms` (from the scenario's
//!   start), `duration_ms`, `window_end` (`next-event` | `scenario-end` | `settle-bound`),
//!   `down_ms` (restarts), `sent`/`received`/`lost`/`longest_gap_ms`/`longest_gap_start_ms`
//!   (all flows, packets sent within the window; the gap's start from the window's start),
//!   `flows[]` (same per flow plus `src`, `dst`), `own_prefixes` (how many prefixes the event's
//!   nodes originate), `churn[]` (`node`, `helper` (a BGP peer of the event's nodes),
//!   `own_removed`/`own_readded`/`own_changed` (distinct prefixes of the event's nodes),
//!   `other_removed`/`other_readded`/`other_changed`), `expect` (the step's `expect-event`),
//!   `expect_failures[]`, `expect_checks[]` (`name`, `status`: the scenario's checks made within
//!   the window), `expect_held` (null when nothing was expected);
//! - `speakers_rss_kib`: resident memory of every daemon at convergence (and `nodes[].rss_kib`);
//! - `artifacts`: directory holding captures and daemon logs (kept on failure).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::check::{CheckResult, CheckStatus};
use crate::scenario::events::{EventKind, RestartMethod, WindowEnd};
use crate::scenario::EventExpect;
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

/// Packets of one probe flow sent within an event's window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFlowLoss {
    pub src: NodeId,
    pub dst: NodeId,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub longest_gap_ms: u64,
    /// From the window's start.
    pub longest_gap_start_ms: u64,
}

/// One node's route churn within an event's window, in distinct prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventChurn {
    pub node: NodeId,
    /// A BGP peer of the event's nodes (a graceful-restart helper for restarts).
    pub helper: bool,
    /// The event's nodes' own prefixes: removed, re-added after a removal, added or replaced
    /// without one.
    pub own_removed: u64,
    pub own_readded: u64,
    pub own_changed: u64,
    pub other_removed: u64,
    pub other_readded: u64,
    pub other_changed: u64,
}

impl EventChurn {
    /// Changed prefixes that are not the event's own routes on a helper (the summary's
    /// "other").
    pub fn other_total(&self) -> u64 {
        let own = self.own_removed + self.own_changed;
        let other = self.other_removed + self.other_changed;
        if self.helper {
            other + self.own_changed
        } else {
            other + own
        }
    }
}

/// A check a scenario step made within an event's window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCheck {
    pub name: String,
    pub status: CheckStatus,
}

/// One disruption of a scenario and what it cost (see the module doc's `events[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventReport {
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<RestartMethod>,
    pub nodes: Vec<NodeId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    pub steps: Vec<usize>,
    pub start_us: u64,
    pub end_us: u64,
    pub start_ms: u64,
    pub duration_ms: u64,
    pub window_end: WindowEnd,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_ms: Option<u64>,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub longest_gap_ms: u64,
    pub longest_gap_start_ms: u64,
    pub flows: Vec<EventFlowLoss>,
    pub own_prefixes: usize,
    pub churn: Vec<EventChurn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<EventExpect>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_failures: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_checks: Vec<EventCheck>,
    pub expect_held: Option<bool>,
}

impl EventReport {
    /// What the event acted on: its links, or its nodes.
    pub fn targets(&self) -> String {
        if self.links.is_empty() {
            self.nodes
                .iter()
                .map(NodeId::as_str)
                .collect::<Vec<_>>()
                .join(",")
        } else {
            self.links.join(",")
        }
    }

    /// The summary's line, e.g. `restart r2n1 (kill -9, down 2.0 s) at +0 ms for 10.0 s: lost 0
    /// pkts (9 ms max gap) over 3 flows; churn: r2t1 -0/+0, r2t2 -0/+0 of r2n1's routes, 0
    /// other; expect-event held`. Daemon events list their helpers (removed/re-added own
    /// routes); link events the nodes whose FIBs changed most.
    pub fn line(&self) -> String {
        let mut s = format!("{} {}", self.kind, self.targets());
        let mut how = Vec::new();
        if let Some(m) = self.method {
            how.push(
                match m {
                    RestartMethod::Kill => "kill -9",
                    RestartMethod::Stop => "SIGTERM",
                }
                .to_string(),
            );
        }
        if let Some(d) = self.down_ms {
            how.push(format!("down {}", span(d)));
        }
        if !how.is_empty() {
            let _ = write!(s, " ({})", how.join(", "));
        }
        let _ = write!(
            s,
            " at +{} for {}: ",
            span(self.start_ms),
            span(self.duration_ms)
        );
        if self.flows.is_empty() {
            s.push_str("no probe flows");
        } else {
            let _ = write!(
                s,
                "lost {} pkts ({} ms max gap",
                self.lost, self.longest_gap_ms
            );
            if self.lost > 0 {
                let _ = write!(s, " at +{} ms", self.longest_gap_start_ms);
            }
            let _ = write!(s, ") over {} flows", self.flows.len());
        }
        s.push_str("; churn: ");
        let helpers: Vec<String> = self
            .churn
            .iter()
            .filter(|c| c.helper)
            .map(|c| format!("{} -{}/+{}", c.node, c.own_removed, c.own_readded))
            .collect();
        if helpers.is_empty() {
            // No helpers (link events): the nodes whose FIBs changed most.
            let mut per: Vec<(u64, &NodeId)> = self
                .churn
                .iter()
                .map(|c| {
                    (
                        c.own_removed + c.own_changed + c.other_removed + c.other_changed,
                        &c.node,
                    )
                })
                .filter(|(n, _)| *n > 0)
                .collect();
            per.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            let total: u64 = per.iter().map(|(n, _)| n).sum();
            let _ = write!(s, "{total} prefixes changed on {} nodes", per.len());
            if !per.is_empty() {
                let mut top: Vec<String> = per
                    .iter()
                    .take(4)
                    .map(|(n, node)| format!("{node} {n}"))
                    .collect();
                if per.len() > 4 {
                    top.push(format!("+{}", per.len() - 4));
                }
                let _ = write!(s, " ({})", top.join(", "));
            }
        } else {
            let other: u64 = self.churn.iter().map(EventChurn::other_total).sum();
            let shown = helpers.len().min(4);
            let _ = write!(
                s,
                "{}{} of {}'s routes, {other} other",
                helpers.get(..shown).unwrap_or_default().join(", "),
                if helpers.len() > shown {
                    format!(" (+{} helpers)", helpers.len() - shown)
                } else {
                    String::new()
                },
                self.nodes_str()
            );
        }
        if self.expect.is_some() {
            if self.expect_failures.is_empty() {
                s.push_str("; expect-event held");
            } else {
                let _ = write!(
                    s,
                    "; EXPECT-EVENT FAILED: {}",
                    self.expect_failures.join("; ")
                );
            }
        }
        for c in &self.expect_checks {
            let st = match c.status {
                CheckStatus::Pass => "passed",
                CheckStatus::Fail => "FAILED",
                CheckStatus::Ignored => "ignored",
            };
            let _ = write!(s, "; {} {st}", c.name);
        }
        s
    }

    fn nodes_str(&self) -> String {
        self.nodes
            .iter()
            .map(NodeId::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `850 ms`, `2.0 s`.
fn span(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
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
    /// Every disruption of the scenario with the loss and churn within its window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventReport>,
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
        if !self.events.is_empty() {
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "  events (loss on the probe flows, churn in distinct prefixes):"
            );
            for e in &self.events {
                let _ = writeln!(s, "  {}", e.line());
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
