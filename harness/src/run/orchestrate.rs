//! `fabriclab run` as one call: up, converge, check, finish.

use crate::check::CheckResult;
use crate::lab::LabError;
use crate::speakers::{MissingDaemon, SpeakerError};
use crate::topology::{NodeId, TopologyError};

use super::convergence::WatchError;
use super::fabric::{Convergence, Evidence, Fabric};
use super::options::RunOptions;
use super::report::RunReport;
use crate::scenario::{run_steps, Scenario};

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
    if let Some(sc) = scenario {
        let converged_at = std::time::Instant::now();
        progress(format!("scenario {}: {} steps", sc.name, sc.steps.len()));
        let (steps, _) = run_steps(&mut fabric, sc, converged_at, opts.deadline);
        checks.extend(steps);
    }
    let (state, actual) = fabric.checks()?;
    checks.extend(state);
    fabric.finish_with_evidence(checks, &conv, &actual)
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

fn progress(msg: impl AsRef<str>) {
    crate::progress::line(msg);
}

fn initial_convergence(fabric: &mut Fabric, opts: &RunOptions) -> (Convergence, Vec<CheckResult>) {
    progress(format!(
        "waiting up to {} s for convergence",
        opts.deadline.as_secs()
    ));
    let t0 = fabric.t0();
    let conv = fabric.wait_converged(t0, opts.deadline);
    progress(format!(
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
