//! Build/teardown timing of labs (`fabriclab bench-lab`).

use std::time::{Duration, Instant};

use super::error::LabError;
use super::lab::{BuildOptions, Lab};
use crate::topology::Plan;

/// One build + teardown.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSample {
    pub build: Duration,
    pub teardown: Duration,
}

/// Builds and tears down `plan` `rounds` times.
pub fn bench_plan(plan: &Plan, rounds: usize) -> Result<Vec<BenchSample>, LabError> {
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let lab = Lab::build(plan, BuildOptions::default())?;
        let build = start.elapsed();
        let start = Instant::now();
        lab.teardown()?;
        out.push(BenchSample {
            build,
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
