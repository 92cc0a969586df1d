//! `fabriclab repro BUNDLE`: the same lab, speakers, misconfiguration and schedule again.

use std::collections::BTreeSet;

use crate::check::CheckResult;
use crate::run::{Misconfig, RunOptions};
use crate::scenario::Scenario;
use crate::topology::SpeakerSelection;

use super::bundle::{BundleError, OpenBundle};

/// The run options and scenario a bundle was recorded with (topology and scenario from the
/// bundle itself, so the replay does not depend on the original files).
pub fn repro_options(b: &OpenBundle) -> Result<(RunOptions, Option<Scenario>), BundleError> {
    let o = &b.manifest.options;
    let mut opts = RunOptions::new(b.topology());
    opts.load.design = o.design;
    opts.load.speakers = o
        .speakers
        .as_deref()
        .map(str::parse::<SpeakerSelection>)
        .transpose()
        .map_err(|e| BundleError::Invalid(format!("bundled speakers: {e}")))?;
    opts.misconfig = o
        .misconfig
        .as_deref()
        .map(str::parse::<Misconfig>)
        .transpose()
        .map_err(|e| BundleError::Invalid(format!("bundled misconfiguration: {e}")))?;
    opts.deadline = std::time::Duration::from_secs(o.deadline_s);
    opts.capture = o.capture;
    opts.ping_timeout = std::time::Duration::from_millis(o.ping_timeout_ms);
    let scenario = match b.scenario() {
        Some(p) => Some(
            Scenario::load(&p)
                .map_err(|e| BundleError::Invalid(format!("bundled scenario: {e}")))?,
        ),
        None => None,
    };
    if let Some(sc) = &scenario {
        // The scenario's own timers etc. apply, but never its topology path: the bundle's wins.
        let mut o2 = opts.clone();
        sc.apply_defaults(&mut o2);
        opts.speaker = o2.speaker;
    }
    Ok((opts, scenario))
}

/// How a replay compares with the bundled run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReproOutcome {
    pub bundled: BTreeSet<String>,
    pub replayed: BTreeSet<String>,
}

impl ReproOutcome {
    /// Compares the failing checks of the replay with the bundle's.
    pub fn compare(bundled: &[String], replayed: &[CheckResult]) -> Self {
        ReproOutcome {
            bundled: bundled.iter().cloned().collect(),
            replayed: replayed
                .iter()
                .filter(|c| c.failed())
                .map(|c| c.name.clone())
                .collect(),
        }
    }

    /// The same checks failed (or none, both times).
    pub fn reproduced(&self) -> bool {
        self.bundled == self.replayed
    }

    /// One line for people.
    pub fn render(&self) -> String {
        if self.reproduced() {
            format!("reproduced: the same failing checks {:?}", self.bundled)
        } else {
            format!(
                "NOT reproduced: the bundle failed {:?}, the replay failed {:?}",
                self.bundled, self.replayed
            )
        }
    }
}
