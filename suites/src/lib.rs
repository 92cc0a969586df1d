//! Shared helpers of the suites: turning cases into libtest-mimic trials.
//!
//! Every suite is a `harness = false` test binary whose `main` builds a list of
//! [`Trial`]s and hands it to [`run`]. Cases that need root become *ignored* (with the reason) when
//! not run as root: they never pass without having run. `cargo nextest run` runs each trial in its
//! own process, so a failing trial's `Lab` guard still cleans up (and the `lab` test group in
//! `.config/nextest.toml` runs them one at a time).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

pub mod interop;

pub use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// Why a root-only case was not run.
pub const NEEDS_ROOT: &str = "needs root (network namespaces): run the suite as root";

/// Whether this process runs as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `Ok(())` as root, otherwise the [`Completion`] that marks the case ignored with the reason.
pub fn require_root() -> Result<(), Completion> {
    if is_root() {
        Ok(())
    } else {
        Err(Completion::ignored_with(NEEDS_ROOT))
    }
}

fn failed(e: anyhow::Error) -> Failed {
    Failed::from(format!("{e:#}"))
}

/// A case that runs anywhere.
pub fn case(
    name: impl Into<String>,
    f: impl FnOnce() -> anyhow::Result<()> + Send + 'static,
) -> Trial {
    Trial::test(name, move || f().map_err(failed))
}

/// A case that needs root: when not root it is marked ignored up front (so `cargo nextest`
/// lists it as skipped, and libtest prints "ignored"), and if forced to run anyway
/// (`--include-ignored`) it reports itself ignored with [`NEEDS_ROOT`] instead of running.
///
/// No libtest-mimic "kind" is set: it would prefix the listed name (`[root] x`) and break
/// `cargo nextest`'s `--exact` filtering.
pub fn root_case(
    name: impl Into<String>,
    f: impl FnOnce() -> anyhow::Result<()> + Send + 'static,
) -> Trial {
    Trial::ignorable_test(name, move || {
        if let Err(skip) = require_root() {
            return Ok(skip);
        }
        f().map(|()| Completion::Completed).map_err(failed)
    })
    .with_ignored_flag(!is_root())
}

/// Parses the test binary's arguments (libtest compatible, so `cargo test` and `cargo nextest`
/// both drive it) and runs the trials; exits the process with the result.
pub fn run(trials: Vec<Trial>) -> ! {
    let args = Arguments::from_args();
    let skipped = trials.iter().filter(|t| t.has_ignored_flag()).count();
    if !is_root() && skipped > 0 && !args.list {
        eprintln!("{skipped} cases ignored: {NEEDS_ROOT}");
    }
    libtest_mimic::run(&args, trials).exit()
}

/// The workspace root (the directory holding `topologies/`).
pub fn repo_root() -> PathBuf {
    // suites/ is one level below the workspace root.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// Every `topologies/*.yaml` (not the `bad/` ones), sorted.
pub fn topology_files() -> Vec<PathBuf> {
    let dir = repo_root().join("topologies");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A lab name unique to this process and call (`t<pid>-<n>-<tag>`), so concurrently running
/// suites never collide; the run id inside every namespace name isolates them further.
pub fn unique_lab_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(12)
        .collect();
    format!("t{}-{n}-{tag}", std::process::id())
}

/// `anyhow::bail!` unless `cond`, for terse assertions in cases.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(anyhow::anyhow!($($msg)+));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_root_holds_the_workspace() {
        assert!(repo_root().join("Cargo.toml").is_file());
        assert!(repo_root().join("suites").is_dir());
    }

    #[test]
    fn lab_names_are_unique_and_valid() {
        let a = unique_lab_name("x y/z");
        let b = unique_lab_name("x y/z");
        assert_ne!(a, b);
        assert!(
            fabriclab::lab::registry::validate_lab_name(&a).is_ok(),
            "{a}"
        );
    }
}
