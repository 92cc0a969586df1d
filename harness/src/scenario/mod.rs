//! Scenario files: YAML event schedules run on a converged fabric (`fabriclab run --scenario`).
//!
//! Schema (unknown keys are errors):
//!
//! ```yaml
//! name: link-down-up              # optional, defaults to the file stem
//! topology: ../topologies/as-per-rack.yaml   # relative to the scenario file
//! design: as-per-rack             # optional override
//! speaker: bird                   # optional, `fabriclab run --speaker` syntax
//! misconfig: no-next-hop-self     # optional (negative cases)
//! deadline: 60                    # seconds for the initial convergence (optional)
//! expect: pass                    # or: expect: { fail: [fib, step2-expect-fib] }
//! steps:
//!   - at: 0                       # ms after the initial convergence (optional)
//!     link-down: { link: r1t1-s1 }  # "A-B" (every link between A and B), or "l3"
//!   - after: converged            # first wait until the FIBs match the expectation
//!     expect-fib: { node: r1n1, prefix: 10.0.0.0/26, present: true }
//! ```
//!
//! Actions (exactly one per step): `link-down`/`link-up {link}`, `impair {link, loss-percent,
//! delay-ms}` (only 100 % loss works without netem: anything else becomes an ignored check
//! with the reason), `clear-impairment {link}`, `kill {node}` (SIGKILL the daemon), `stop
//! {node, grace-ms}`, `start {node}`, `restart {node, delay-ms}` (SIGTERM, wait, start),
//! `wait-converged {timeout}` (seconds; the expectation is recomputed from the plan without the
//! sessions over downed links), `expect-fib {node, prefix, present}`, `expect-reachability {}`,
//! `expect-loss {max}` (percent of pod pings lost), `sleep {ms}`.
//!
//! A disruptive step (`kill`, `stop`, `start`, `restart`, `link-down`, `link-up`, `impair`,
//! `clear-impairment`) may also carry `expect-event: {max-lost-packets, max-gap-ms,
//! routes-kept}` (each optional): what the event it starts (see [`events`]) must cost on the
//! probe flows, and whether the helpers must keep the restarted node's routes (no withdraw, no
//! re-add: a successful graceful restart, RFC 4724 §4.2). It adds a check named
//! `step<N>-expect-event`.
//!
//! Every `wait-converged` and `expect-*` step, and every step that could not act, adds a check
//! named `step<N>-<action>` (N from 1) to the run. `expect` states the outcome the scenario must
//! show: `pass`, or the exact set of failing check names.

pub mod events;
mod exec;

pub use events::{events_from_records, EventKind, ScenarioEvent, StepRecord};
pub use exec::{run_steps, ScenarioState};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::check::CheckResult;
use crate::run::{Misconfig, RunOptions};
use crate::topology::{Design, LinkId, NodeId, Plan, SpeakerSelection};

/// Why a scenario file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("failed to read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// The outcome a scenario must show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Every check passes.
    Pass,
    /// Exactly these checks fail.
    Fail(BTreeSet<String>),
}

/// `after: converged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum After {
    Converged,
}

/// A link reference: `"r1t1-s1"` (every link between two nodes) or `"l3"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkArg {
    pub link: String,
}

/// A node reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeArg {
    pub node: NodeId,
    #[serde(default)]
    pub grace_ms: Option<u64>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

/// `impair`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImpairArg {
    pub link: String,
    #[serde(default)]
    pub loss_percent: f64,
    #[serde(default)]
    pub delay_ms: u64,
}

/// `wait-converged`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitArg {
    /// Seconds.
    pub timeout: u64,
}

/// `expect-fib`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FibArg {
    pub node: NodeId,
    pub prefix: IpNet,
    pub present: bool,
}

/// `expect-loss`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossArg {
    /// Maximum share of pod pings lost, in percent.
    pub max: f64,
}

/// `expect-event`: what a disruptive step's event must cost (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EventExpect {
    /// Most probe packets lost over all flows within the event's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lost_packets: Option<u64>,
    /// Longest time any flow may go without an arrival within the window, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gap_ms: Option<u64>,
    /// `true`: no helper removes or re-adds the event's nodes' own prefixes (RFC 4724 §4.2:
    /// stale routes are retained and refreshed in place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_kept: Option<bool>,
}

/// `sleep`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepArg {
    pub ms: u64,
}

/// An empty argument map (`expect-reachability: {}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArg {}

/// One action of a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    LinkDown(LinkArg),
    LinkUp(LinkArg),
    Impair(ImpairArg),
    ClearImpairment(LinkArg),
    Kill(NodeArg),
    Stop(NodeArg),
    Start(NodeArg),
    Restart(NodeArg),
    WaitConverged(WaitArg),
    ExpectFib(FibArg),
    ExpectReachability,
    ExpectLoss(LossArg),
    Sleep(SleepArg),
}

impl Action {
    /// The action's key in the file.
    pub fn name(&self) -> &'static str {
        match self {
            Action::LinkDown(_) => "link-down",
            Action::LinkUp(_) => "link-up",
            Action::Impair(_) => "impair",
            Action::ClearImpairment(_) => "clear-impairment",
            Action::Kill(_) => "kill",
            Action::Stop(_) => "stop",
            Action::Start(_) => "start",
            Action::Restart(_) => "restart",
            Action::WaitConverged(_) => "wait-converged",
            Action::ExpectFib(_) => "expect-fib",
            Action::ExpectReachability => "expect-reachability",
            Action::ExpectLoss(_) => "expect-loss",
            Action::Sleep(_) => "sleep",
        }
    }

    /// Whether the action disturbs the fabric (and so starts an event).
    pub fn is_disruptive(&self) -> bool {
        matches!(
            self,
            Action::LinkDown(_)
                | Action::LinkUp(_)
                | Action::Impair(_)
                | Action::ClearImpairment(_)
                | Action::Kill(_)
                | Action::Stop(_)
                | Action::Start(_)
                | Action::Restart(_)
        )
    }
}

/// When a step acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Right after the previous step.
    Next,
    /// This long after the initial convergence (at once if that moment has passed).
    At(Duration),
    /// Once the FIBs match the current expectation again (or the run deadline passed).
    AfterConverged,
}

/// One scheduled action.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub when: When,
    pub action: Action,
    /// What the event this step starts must cost (disruptive steps only).
    pub expect_event: Option<EventExpect>,
}

/// A step as written (one optional field per action; exactly one must be set).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct StepFile {
    at: Option<u64>,
    after: Option<After>,
    link_down: Option<LinkArg>,
    link_up: Option<LinkArg>,
    impair: Option<ImpairArg>,
    clear_impairment: Option<LinkArg>,
    kill: Option<NodeArg>,
    stop: Option<NodeArg>,
    start: Option<NodeArg>,
    restart: Option<NodeArg>,
    wait_converged: Option<WaitArg>,
    expect_fib: Option<FibArg>,
    expect_reachability: Option<NoArg>,
    expect_loss: Option<LossArg>,
    sleep: Option<SleepArg>,
    expect_event: Option<EventExpect>,
}

impl StepFile {
    fn into_step(self) -> Result<Step, String> {
        let when = match (self.at, self.after) {
            (Some(_), Some(_)) => return Err("a step has either `at` or `after`, not both".into()),
            (Some(ms), None) => When::At(Duration::from_millis(ms)),
            (None, Some(After::Converged)) => When::AfterConverged,
            (None, None) => When::Next,
        };
        let expect_event = self.expect_event;
        let actions: Vec<Action> = [
            self.link_down.map(Action::LinkDown),
            self.link_up.map(Action::LinkUp),
            self.impair.map(Action::Impair),
            self.clear_impairment.map(Action::ClearImpairment),
            self.kill.map(Action::Kill),
            self.stop.map(Action::Stop),
            self.start.map(Action::Start),
            self.restart.map(Action::Restart),
            self.wait_converged.map(Action::WaitConverged),
            self.expect_fib.map(Action::ExpectFib),
            self.expect_reachability.map(|_| Action::ExpectReachability),
            self.expect_loss.map(Action::ExpectLoss),
            self.sleep.map(Action::Sleep),
        ]
        .into_iter()
        .flatten()
        .collect();
        match <[Action; 1]>::try_from(actions) {
            Ok([action]) if expect_event.is_some() && !action.is_disruptive() => Err(format!(
                "`expect-event` belongs on a disruptive step, not on `{}`",
                action.name()
            )),
            Ok([action]) => Ok(Step {
                when,
                action,
                expect_event,
            }),
            Err(v) => Err(format!(
                "a step needs exactly one action, found {}",
                v.len()
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ScenarioFile {
    name: Option<String>,
    topology: Option<PathBuf>,
    design: Option<Design>,
    speaker: Option<String>,
    misconfig: Option<String>,
    deadline: Option<u64>,
    expect: Expect,
    #[serde(default)]
    steps: Vec<StepFile>,
}

/// A parsed scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// The file it came from (bundled verbatim).
    pub path: PathBuf,
    /// The file's text.
    pub source: String,
    /// Resolved against the scenario's directory.
    pub topology: Option<PathBuf>,
    pub design: Option<Design>,
    pub speaker: Option<SpeakerSelection>,
    pub misconfig: Option<Misconfig>,
    pub deadline: Option<Duration>,
    pub expect: Expect,
    pub steps: Vec<Step>,
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let source = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(&source, path)
    }

    /// Parses a scenario's text; `path` names it and anchors its relative topology path.
    pub fn parse(source: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let invalid = |reason: String| ScenarioError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let f: ScenarioFile = serde_saphyr::from_str(source).map_err(|e| invalid(e.to_string()))?;
        let steps = f
            .steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.into_step().map_err(|e| format!("step {}: {e}", i + 1)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let speaker = f
            .speaker
            .map(|s| s.parse::<SpeakerSelection>())
            .transpose()
            .map_err(|e| invalid(format!("speaker: {e}")))?;
        let misconfig = f
            .misconfig
            .map(|s| s.parse::<Misconfig>())
            .transpose()
            .map_err(|e| invalid(format!("misconfig: {e}")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = f.name.unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        });
        Ok(Scenario {
            name,
            path: path.to_path_buf(),
            source: source.to_string(),
            topology: f.topology.map(|t| dir.join(t)),
            design: f.design,
            speaker,
            misconfig,
            deadline: f.deadline.map(Duration::from_secs),
            expect: f.expect,
            steps,
        })
    }

    /// Run options for running this scenario on its own topology (the suite and `repro`):
    /// the file's topology, design, speakers, misconfiguration and deadline.
    pub fn run_options(&self) -> Result<RunOptions, ScenarioError> {
        let topo = self
            .topology
            .clone()
            .ok_or_else(|| ScenarioError::Invalid {
                path: self.path.clone(),
                reason: "no `topology:` (pass one on the command line)".into(),
            })?;
        let mut o = RunOptions::new(topo);
        self.apply_defaults(&mut o);
        Ok(o)
    }

    /// Fills what the command line left unset from the file.
    pub fn apply_defaults(&self, o: &mut RunOptions) {
        if o.load.design.is_none() {
            o.load.design = self.design;
        }
        if o.load.speakers.is_none() {
            o.load.speakers = self.speaker.clone();
        }
        if o.misconfig.is_none() {
            o.misconfig = self.misconfig;
        }
        if let Some(d) = self.deadline {
            o.deadline = d;
        }
    }

    /// Whether `checks` show the outcome the scenario claims; the error says how they differ.
    pub fn outcome_matches(&self, checks: &[CheckResult]) -> Result<(), String> {
        let failed: BTreeSet<String> = checks
            .iter()
            .filter(|c| c.failed())
            .map(|c| c.name.clone())
            .collect();
        let want = match &self.expect {
            Expect::Pass => BTreeSet::new(),
            Expect::Fail(names) => names.clone(),
        };
        if failed == want {
            Ok(())
        } else {
            Err(format!(
                "scenario {} expects failing checks {:?}, got {:?}",
                self.name, want, failed
            ))
        }
    }
}

/// The links a reference names: `l3` by id, `A-B` every link between nodes A and B.
pub fn resolve_link(plan: &Plan, reference: &str) -> Result<Vec<LinkId>, String> {
    if let Some(id) = reference
        .strip_prefix('l')
        .and_then(|n| n.parse::<u32>().ok())
    {
        if plan.links.iter().any(|l| l.id == LinkId(id)) {
            return Ok(vec![LinkId(id)]);
        }
    }
    let (a, b) = reference
        .split_once('-')
        .ok_or_else(|| format!("link `{reference}`: expected `A-B` or `l<N>`"))?;
    let (a, b) = (NodeId::from(a), NodeId::from(b));
    let ids: Vec<LinkId> = plan
        .links
        .iter()
        .filter(|l| (l.a.node == a && l.b.node == b) || (l.a.node == b && l.b.node == a))
        .map(|l| l.id)
        .collect();
    if ids.is_empty() {
        Err(format!("no link between {a} and {b}"))
    } else {
        Ok(ids)
    }
}

/// The plan with the BGP sessions over `down` links removed: what the fabric must converge to
/// while those links are down.
pub fn without_links(plan: &Plan, down: &BTreeSet<LinkId>) -> Plan {
    let mut p = plan.clone();
    p.sessions.retain(|s| !down.contains(&s.link));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::expected_fibs;
    use crate::topology::parse;

    const TOPO: &str = "design: as-per-rack\nspines: 2\nracks:\n  - { nodes: 2 }\n  - { nodes: 2 }\npods-per-node: 1\n";

    #[test]
    fn parses_every_action_and_timing() {
        let text = r#"
topology: ../topologies/as-per-rack.yaml
speaker: bird
expect: { fail: [fib, step2-expect-fib] }
steps:
  - at: 100
    link-down: { link: r1t1-s1 }
  - after: converged
    expect-fib: { node: r1n1, prefix: 10.0.0.0/26, present: false }
  - impair: { link: l1, loss-percent: 100 }
  - restart: { node: r1t1, delay-ms: 500 }
  - wait-converged: { timeout: 20 }
  - expect-reachability: {}
  - expect-loss: { max: 0 }
"#;
        let s = Scenario::parse(text, Path::new("/x/scenarios/s.yaml")).expect("parse");
        assert_eq!(s.name, "s");
        assert_eq!(
            s.topology.as_deref(),
            Some(Path::new("/x/scenarios/../topologies/as-per-rack.yaml"))
        );
        assert_eq!(s.steps.len(), 7);
        assert_eq!(s.steps[0].when, When::At(Duration::from_millis(100)));
        assert_eq!(s.steps[1].when, When::AfterConverged);
        assert_eq!(s.steps[2].when, When::Next);
        assert_eq!(s.steps[3].action.name(), "restart");
        assert!(matches!(&s.expect, Expect::Fail(f) if f.len() == 2));
    }

    #[test]
    fn rejects_steps_with_zero_or_two_actions_and_unknown_keys() {
        for bad in [
            "expect: pass\nsteps:\n  - at: 1\n",
            "expect: pass\nsteps:\n  - kill: { node: a }\n    start: { node: a }\n",
            "expect: pass\nsteps:\n  - explode: { node: a }\n",
            "expect: maybe\n",
        ] {
            assert!(
                Scenario::parse(bad, Path::new("b.yaml")).is_err(),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn expect_event_rides_on_disruptive_steps_only() {
        let ok = "expect: pass\nsteps:\n  - kill: { node: r1n1 }\n    expect-event: { max-lost-packets: 0, routes-kept: true }\n  - at: 2000\n    start: { node: r1n1 }\n";
        let s = Scenario::parse(ok, Path::new("g.yaml")).expect("parse");
        assert_eq!(
            s.steps.first().and_then(|st| st.expect_event.clone()),
            Some(EventExpect {
                max_lost_packets: Some(0),
                max_gap_ms: None,
                routes_kept: Some(true),
            })
        );
        assert_eq!(
            s.steps.get(1).map(|st| st.expect_event.is_none()),
            Some(true)
        );
        for bad in [
            "expect: pass\nsteps:\n  - sleep: { ms: 1 }\n    expect-event: { max-lost-packets: 0 }\n",
            "expect: pass\nsteps:\n  - kill: { node: a }\n    expect-event: { max-loss: 0 }\n",
        ] {
            assert!(
                Scenario::parse(bad, Path::new("b.yaml")).is_err(),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn outcome_compares_failing_check_names() {
        let s = Scenario::parse("expect: { fail: [fib] }\n", Path::new("s.yaml")).expect("parse");
        let pass = CheckResult::from_details("reachability", "ok".into(), vec![]);
        let fail = CheckResult::from_details("fib", "bad".into(), vec!["x".into()]);
        assert!(s.outcome_matches(&[pass.clone(), fail.clone()]).is_ok());
        assert!(s.outcome_matches(&[pass]).is_err());
    }

    #[test]
    fn links_resolve_and_downed_links_lose_their_sessions() {
        let plan = parse(TOPO, "t.yaml").expect("plan");
        let ids = resolve_link(&plan, "r1t1-s1").expect("link");
        assert_eq!(ids.len(), 1);
        assert_eq!(resolve_link(&plan, "s1-r1t1").ok(), Some(ids.clone()));
        assert!(resolve_link(&plan, "r1t1-r2t1").is_err());
        let down: BTreeSet<LinkId> = ids.into_iter().collect();
        let cut = without_links(&plan, &down);
        assert_eq!(cut.sessions.len() + 1, plan.sessions.len());
        // s1 no longer learns rack 1's blocks from r1t1 directly (only around, via rack 2).
        let before = expected_fibs(&plan);
        let after = expected_fibs(&cut);
        let s1 = NodeId::from("s1");
        assert_ne!(after.get(&s1), before.get(&s1));
        assert_eq!(
            after.get(&NodeId::from("r2n1")),
            before.get(&NodeId::from("r2n1"))
        );
    }
}
