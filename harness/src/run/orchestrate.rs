//! `fabriclab run` as one call: up, converge, check, finish.

use crate::check::CheckResult;
use crate::lab::LabError;
use crate::speakers::{MissingDaemon, SpeakerError};
use crate::topology::{NodeId, TopologyError};

use super::convergence::WatchError;
use super::fabric::Fabric;
use super::options::RunOptions;
use super::report::RunReport;

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
    eprintln!(
        "[fabriclab] waiting up to {} s for convergence",
        opts.deadline.as_secs()
    );
    let t0 = fabric.t0();
    let conv = fabric.wait_converged(t0, opts.deadline);
    eprintln!(
        "[fabriclab] {}: {}",
        if conv.converged {
            "converged"
        } else {
            "NOT converged"
        },
        conv.observation
    );
    let mut checks = vec![CheckResult::from_details(
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
    let (state, actual) = fabric.checks()?;
    checks.extend(state);
    fabric.finish(checks, &conv, &actual)
}
