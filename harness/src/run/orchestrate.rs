//! `fabriclab run` as one call: up, converge, check, finish.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::check::CheckResult;
use crate::fib::reader::RouteChange;
use crate::lab::LabError;
use crate::restart::probe::{FlowSpec, Probe, ProbeConfig, ProbeReport};
use crate::speakers::{MissingDaemon, SpeakerError};
use crate::topology::{NodeId, TopologyError};

use super::convergence::WatchError;
use super::events::{event_reports, expectation_checks, route_log_snapshot, EventInputs};
use super::fabric::{Convergence, Evidence, Fabric};
use super::options::RunOptions;
use super::report::{FlowLoss, NodeChurn, RunReport};
use crate::scenario::events::SETTLE;
use crate::scenario::{events_from_records, run_steps, Scenario};

/// Why a run could not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Missing(#[from] MissingDaemon),
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("failed to start the speaker of {node}: {source}")]
    Speaker {
        node: NodeId,
        #[source]
        source: SpeakerError,
    },
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error("{0}")]
    Misconfig(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl RunError {
    /// Bad input or environment (exit code 2), as opposed to a fabric that failed to run.
    pub fn is_bad_input(&self) -> bool {
        match self {
            RunError::Topology(_) | RunError::Missing(_) | RunError::Misconfig(_) => true,
            RunError::Lab(e) => e.is_environment(),
            _ => false,
        }
    }
}

/// Runs a fabric end to end and returns its report (the lab is gone when this returns).
pub fn run(opts: &RunOptions) -> Result<RunReport, RunError> {
    let mut fabric = Fabric::up(opts)?;
    let (conv, checks) = initial_convergence(&mut fabric, opts);
    let (state, actual) = fabric.checks()?;
    let mut checks = checks;
    checks.extend(state);
    fabric.finish(checks, &conv, &actual)
}

/// [`run`] with a scenario run after the initial convergence, keeping the evidence (timeline,
/// FIBs, artifacts directory) for bundles and reports. The artifacts directory is never removed
/// here: the caller bundles it and removes it when it was temporary.
pub fn run_with(
    opts: &RunOptions,
    scenario: Option<&Scenario>,
) -> Result<(RunReport, Evidence), RunError> {
    let mut fabric = Fabric::up(opts)?;
    let (conv, mut checks) = initial_convergence(&mut fabric, opts);
    let mut flows = Vec::new();
    let mut churn = Vec::new();
    let mut events = Vec::new();
    if let Some(sc) = scenario {
        let converged_at = std::time::Instant::now();
        crate::progress::line(format!("scenario {}: {} steps", sc.name, sc.steps.len()));
        // Continuous flows across racks for the whole scenario: what each event cost in
        // packets, measured, not inferred from routes.
        let probe = start_flows(&fabric);
        let (steps, state) = run_steps(&mut fabric, sc, converged_at, opts.deadline);
        let mut finished = None;
        if let Some((probe, specs)) = probe {
            match probe.stop() {
                Ok(r) => {
                    flows = flow_losses(&r, &specs);
                    finished = Some((r, specs));
                }
                Err(e) => crate::progress::line(format!("probe flows failed: {e}")),
            }
        }
        churn = churn_since(&fabric, converged_at);
        // Each disruption's share of the loss and churn, and its own expectation's check.
        let windows = events_from_records(&state.records, state.end_us, SETTLE);
        let log = fabric
            .route_log()
            .map(|l| route_log_snapshot(&l))
            .unwrap_or_default();
        events = event_reports(
            &windows,
            &EventInputs {
                plan: fabric.plan(),
                probe: finished.as_ref().map(|(r, s)| (r, s.as_slice())),
                route_log: &log,
                checks: &steps,
                check_times: &state.check_times,
                scenario_start_us: state.start_us,
            },
        );
        checks.extend(steps);
        for c in expectation_checks(&events) {
            fabric.recorder().note_check(&c);
            checks.push(c);
        }
        for e in &events {
            crate::progress::line(e.line());
        }
    }
    let (state, actual) = fabric.checks()?;
    checks.extend(state);
    let (mut report, evidence) = fabric.finish_with_evidence(checks, &conv, &actual)?;
    report.flows = flows;
    report.churn = churn;
    report.events = events;
    Ok((report, evidence))
}

/// One flow from the first pod of each rack to the first pod of the next rack (the last rack
/// to the first): every rack sends and receives.
fn start_flows(fabric: &Fabric) -> Option<(Probe, Vec<FlowSpec>)> {
    let plan = fabric.plan();
    let mut firsts: BTreeMap<u32, &crate::topology::PodPlan> = BTreeMap::new();
    for pod in &plan.pods {
        if let Some(rack) = plan.node(&pod.host).and_then(|n| n.rack) {
            firsts.entry(rack).or_insert(pod);
        }
    }
    let pods: Vec<_> = firsts.values().copied().collect();
    if pods.len() < 2 {
        return None;
    }
    let specs: Vec<FlowSpec> = pods
        .iter()
        .enumerate()
        .filter_map(|(i, src)| {
            let dst = pods.get((i + 1) % pods.len())?;
            let id = u32::try_from(i).ok()?;
            Some(FlowSpec {
                id,
                src: src.id.clone(),
                dst: dst.id.clone(),
                dst_addr: dst.v4,
                port: 40000 + u16::try_from(i).ok()?,
            })
        })
        .collect();
    let config = ProbeConfig {
        rate: 1000,
        duration: Duration::from_secs(600),
        max_packets: 600_000,
    };
    match Probe::start(fabric.lab(), &specs, config) {
        Ok(p) => Some((p, specs)),
        Err(e) => {
            crate::progress::line(format!("probe flows not started: {e}"));
            None
        }
    }
}

fn flow_losses(report: &ProbeReport, specs: &[FlowSpec]) -> Vec<FlowLoss> {
    report
        .per_flow(report.epoch, None)
        .into_iter()
        .filter_map(|(id, w)| {
            let spec = specs.iter().find(|s| s.id == id)?;
            Some(FlowLoss {
                src: spec.src.clone(),
                dst: spec.dst.clone(),
                sent: w.sent,
                received: w.received,
                lost: w.lost,
                longest_gap_ms: u64::try_from(w.longest_gap.as_millis()).unwrap_or(u64::MAX),
            })
        })
        .collect()
}

/// Route events per node after `since` (nodes without any are left out).
fn churn_since(fabric: &Fabric, since: Instant) -> Vec<NodeChurn> {
    let Some(log) = fabric.route_log() else {
        return Vec::new();
    };
    let log = log.lock().unwrap_or_else(|p| p.into_inner());
    let mut per: BTreeMap<NodeId, (u64, u64)> = BTreeMap::new();
    for (node, ev) in log.iter().filter(|(_, e)| e.at >= since) {
        let e = per.entry(node.clone()).or_default();
        match ev.change {
            RouteChange::Added => e.0 += 1,
            RouteChange::Removed => e.1 += 1,
        }
    }
    per.into_iter()
        .map(|(node, (added, removed))| NodeChurn {
            node,
            added,
            removed,
        })
        .collect()
}

/// Like [`run_with`], but leaves the lab and its daemons up after the checks (`repro
/// --keep`): returns the checks and the lab's name.
pub fn run_and_keep(
    opts: &RunOptions,
    scenario: Option<&Scenario>,
) -> Result<(Vec<CheckResult>, String), RunError> {
    let mut fabric = Fabric::up(opts)?;
    let (_conv, mut checks) = initial_convergence(&mut fabric, opts);
    if let Some(sc) = scenario {
        let converged_at = std::time::Instant::now();
        let (steps, _) = run_steps(&mut fabric, sc, converged_at, opts.deadline);
        checks.extend(steps);
    }
    let (state, _actual) = fabric.checks()?;
    checks.extend(state);
    let name = fabric.keep()?;
    Ok((checks, name))
}

fn initial_convergence(fabric: &mut Fabric, opts: &RunOptions) -> (Convergence, Vec<CheckResult>) {
    crate::progress::line(format!(
        "waiting up to {} s for convergence",
        opts.deadline.as_secs()
    ));
    let t0 = fabric.t0();
    let conv = fabric.wait_converged(t0, opts.deadline);
    crate::progress::line(format!(
        "{}: {}",
        if conv.converged {
            "converged"
        } else {
            "NOT converged"
        },
        conv.observation
    ));
    let checks = vec![CheckResult::from_details(
        "convergence",
        match conv.elapsed {
            Some(e) => format!(
                "every FIB matched the design {} ms after all speakers started",
                e.as_millis()
            ),
            None => format!("not every FIB matched within {} s", opts.deadline.as_secs()),
        },
        if conv.converged {
            Vec::new()
        } else {
            vec![format!("deadline passed; last seen: {}", conv.observation)]
        },
    )];
    for c in &checks {
        fabric.recorder().note_check(c);
    }
    (conv, checks)
}
