//! Build/teardown timing of labs (`fabriclab bench-lab`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::LabError;
use super::lab::{BuildOptions, BuildPhase, Lab};
use crate::topology::Plan;

/// One build + teardown.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSample {
    /// Whole build, from `Lab::build` to its return.
    pub build: Duration,
    /// Time since the build started at which each phase completed.
    pub phases: Vec<(BuildPhase, Duration)>,
    pub teardown: Duration,
}

/// Builds and tears down `plan` `rounds` times (with `workers` threads, default if `None`).
pub fn bench_plan(
    plan: &Plan,
    rounds: usize,
    workers: Option<usize>,
) -> Result<Vec<BenchSample>, LabError> {
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let phases = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let seen = phases.clone();
        let opts = BuildOptions {
            progress: Some(Arc::new(move |p| {
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((p, start.elapsed()));
            })),
            workers,
            ..BuildOptions::default()
        };
        let lab = Lab::build(plan, opts)?;
        let build = start.elapsed();
        let start = Instant::now();
        lab.teardown()?;
        let phases = std::mem::take(&mut *phases.lock().unwrap_or_else(|e| e.into_inner()));
        out.push(BenchSample {
            build,
            phases,
            teardown: start.elapsed(),
        });
    }
    Ok(out)
}

/// Peak resident set size of this process in KiB (`VmHWM` in /proc/self/status).
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_reported() {
        assert!(peak_rss_kib().is_some_and(|k| k > 0));
    }
}
