//! Teardown and `fabriclab clean`: kill what runs in a lab's namespaces, delete the namespaces,
//! drop the record. Idempotent: every step tolerates what is already gone.
//!
//! Processes are found by their network namespace (the inode `/proc/<pid>/ns/net` links to),
//! not by name or pid file, so nothing started inside a lab survives it, whoever started it
//! (munet's `cleanup.py` approach). A process that leads its own group also gets its group killed
//! (the supervisor starts every daemon as a group leader).
//!
//! Also here: the SIGINT/SIGTERM handler that tears down every live lab of this process.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{getpgid, Pid};

use super::error::LabError;
use super::netns::{delete_netns, netns_inode, NETNS_RUN_DIR};
use super::registry::{self, LabStatus};
use crate::wait::{wait_until, Probe};

/// How long killed processes get to disappear.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// What a teardown removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeardownReport {
    /// Namespaces that existed and were deleted.
    pub namespaces: usize,
    /// Processes killed inside them.
    pub processes_killed: usize,
    pub elapsed: Duration,
}

/// What `clean` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanReport {
    /// Labs removed, with the status they had.
    pub labs: Vec<(String, String)>,
    /// Namespaces named like fabriclab's that belonged to no recorded lab.
    pub stray_namespaces: Vec<String>,
    pub processes_killed: usize,
}

/// Which labs [`clean`] removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanScope {
    /// Orphaned labs (owner dead, not kept) and stray `fl<runid>-*` namespaces of unknown labs.
    Orphaned,
    /// Every lab, alive and kept ones included, and every stray namespace.
    All,
    /// Only this lab (whatever its status) and stray namespaces of its run id.
    Lab(String),
}

/// Every process (pid, netns inode) on the host, except this one.
fn processes_by_netns() -> Vec<(i32, u64)> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| *pid != me)
        .filter_map(|pid| {
            let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
            let ino = parse_ns_link(link.to_str()?)?;
            Some((i32::try_from(pid).ok()?, ino))
        })
        .collect()
}

/// `net:[4026532281]` -> 4026532281.
fn parse_ns_link(s: &str) -> Option<u64> {
    s.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

/// SIGKILLs every process living in one of the namespaces `inodes` (and the groups they lead),
/// then waits until none is left. Returns how many were killed.
pub fn kill_processes_in(inodes: &HashSet<u64>) -> Result<usize, LabError> {
    if inodes.is_empty() {
        return Ok(0);
    }
    let victims: Vec<i32> = processes_by_netns()
        .into_iter()
        .filter(|(_, ino)| inodes.contains(ino))
        .map(|(pid, _)| pid)
        .collect();
    for pid in &victims {
        let pid = Pid::from_raw(*pid);
        if getpgid(Some(pid)).ok() == Some(pid) {
            let _ = killpg(pid, Signal::SIGKILL);
        }
        let _ = kill(pid, Signal::SIGKILL);
    }
    if victims.is_empty() {
        return Ok(0);
    }
    // A killed process leaves its namespace when it exits (a zombie no longer has one).
    wait_until(KILL_WAIT, Duration::from_millis(5), || {
        let left: Vec<i32> = processes_by_netns()
            .into_iter()
            .filter(|(_, ino)| inodes.contains(ino))
            .map(|(pid, _)| pid)
            .collect();
        if left.is_empty() {
            Probe::Done(())
        } else {
            Probe::pending(format!("processes still in the lab's namespaces: {left:?}"))
        }
    })
    .map_err(|t| LabError::Teardown {
        lab: String::new(),
        failures: vec![t.to_string()],
    })?;
    Ok(victims.len())
}

/// Deletes namespaces on up to `workers` threads (deleting many is kernel-bound; a few threads
/// overlap the unmounts). Returns the failures.
pub(crate) fn delete_namespaces(paths: &[PathBuf], workers: usize) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let workers = workers.clamp(1, paths.len().max(1));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut failures = Vec::new();
                    while let Some(p) = paths.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if let Err(e) = delete_netns(p) {
                            failures.push(e.to_string());
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["delete thread panicked".into()])
            })
            .collect()
    })
}

/// Number of threads for parallel lab work.
pub(crate) fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
}

/// Tears down the lab `name`: kills its processes, deletes its namespaces, removes its record.
pub(crate) fn teardown(name: &str, namespaces: &[PathBuf]) -> Result<TeardownReport, LabError> {
    let start = Instant::now();
    let existing: Vec<PathBuf> = namespaces.iter().filter(|p| p.exists()).cloned().collect();
    let inodes: HashSet<u64> = existing
        .iter()
        .filter_map(|p| netns_inode(p).ok())
        .collect();
    let mut failures = Vec::new();
    let processes_killed = match kill_processes_in(&inodes) {
        Ok(n) => n,
        Err(e) => {
            failures.push(e.to_string());
            0
        }
    };
    failures.extend(delete_namespaces(&existing, default_workers()));
    let dir = registry::state_dir(name);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => failures.push(format!("failed to remove {}: {e}", dir.display())),
    }
    registry::unregister_live(name);
    if failures.is_empty() {
        Ok(TeardownReport {
            namespaces: existing.len(),
            processes_killed,
            elapsed: start.elapsed(),
        })
    } else {
        Err(LabError::Teardown {
            lab: name.to_string(),
            failures,
        })
    }
}

/// Names in `/run/netns` that look like fabriclab's (`fl<runid>-...`), with their run id.
fn fabriclab_namespaces() -> Vec<(String, String)> {
    let Ok(dir) = std::fs::read_dir(NETNS_RUN_DIR) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| registry::run_id_of_netns(&n).map(|id| (n.clone(), id.to_string())))
        .collect()
}

/// Removes labs and stray namespaces according to `scope` (`fabriclab clean`).
pub fn clean(scope: &CleanScope) -> Result<CleanReport, LabError> {
    let mut report = CleanReport::default();
    let mut failures = Vec::new();
    let mut removed_ids = HashSet::new();
    for (name, state) in registry::list_labs() {
        let (status, run_id, namespaces) = match &state {
            Ok(s) => (
                s.status().to_string(),
                Some(s.run_id.clone()),
                s.namespace_paths(),
            ),
            // An unreadable record has no owner to protect it.
            Err(_) => ("unreadable".to_string(), None, Vec::new()),
        };
        let selected = match scope {
            CleanScope::All => true,
            CleanScope::Lab(l) => *l == name,
            CleanScope::Orphaned => state
                .as_ref()
                .map(|s| s.status() == LabStatus::Orphaned)
                .unwrap_or(true),
        };
        if !selected {
            continue;
        }
        // Also namespaces of the run that the record may not list (defensive).
        let mut all_ns = namespaces;
        if let Some(id) = &run_id {
            for (n, nid) in fabriclab_namespaces() {
                if nid == *id {
                    all_ns.push(super::netns::netns_path(&n));
                }
            }
            removed_ids.insert(id.clone());
        }
        all_ns.sort();
        all_ns.dedup();
        match teardown(&name, &all_ns) {
            Ok(t) => report.processes_killed += t.processes_killed,
            Err(e) => failures.push(e.to_string()),
        }
        report.labs.push((name, status));
    }
    // Strays: fabriclab-looking namespaces whose run id no remaining record claims. Records are
    // listed *after* the namespaces: a lab writes its record before its first namespace, so a lab
    // being built right now is always seen as known.
    let candidates = fabriclab_namespaces();
    let known: HashSet<String> = registry::list_labs()
        .into_iter()
        .filter_map(|(_, s)| s.ok().map(|s| s.run_id))
        .collect();
    let strays: Vec<(String, String)> = candidates
        .into_iter()
        .filter(|(_, id)| !known.contains(id))
        .filter(|(_, id)| match scope {
            CleanScope::Lab(_) => removed_ids.contains(id),
            _ => true,
        })
        .collect();
    if !strays.is_empty() {
        let paths: Vec<PathBuf> = strays
            .iter()
            .map(|(n, _)| super::netns::netns_path(n))
            .collect();
        let inodes: HashSet<u64> = paths.iter().filter_map(|p| netns_inode(p).ok()).collect();
        match kill_processes_in(&inodes) {
            Ok(n) => report.processes_killed += n,
            Err(e) => failures.push(e.to_string()),
        }
        failures.extend(delete_namespaces(&paths, default_workers()));
        report.stray_namespaces = strays.into_iter().map(|(n, _)| n).collect();
    }
    if failures.is_empty() {
        Ok(report)
    } else {
        Err(LabError::Teardown {
            lab: "clean".to_string(),
            failures,
        })
    }
}

/// Names of the namespaces in `/run/netns` that belong to run `run_id` (for leak checks).
pub fn leftover_namespaces(run_id: &str) -> Vec<String> {
    fabriclab_namespaces()
        .into_iter()
        .filter(|(_, id)| id == run_id)
        .map(|(n, _)| n)
        .collect()
}

/// Processes living in any namespace whose path is given (for leak checks).
pub fn processes_in(paths: &[&Path]) -> Vec<i32> {
    let inodes: HashSet<u64> = paths.iter().filter_map(|p| netns_inode(p).ok()).collect();
    processes_by_netns()
        .into_iter()
        .filter(|(_, i)| inodes.contains(i))
        .map(|(p, _)| p)
        .collect()
}

// ===== signals =====

static SIGNALS: Once = Once::new();

/// Installs (once per process) a SIGINT/SIGTERM handler that tears down every lab this process
/// still owns, then exits with 130 (SIGINT) or 143 (SIGTERM), the shell convention 128 + signo.
///
/// Runs on its own thread with a small tokio runtime (`tokio::signal`); called by `Lab::build`.
pub fn install_signal_handler() {
    SIGNALS.call_once(|| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let spawned = std::thread::Builder::new()
            .name("fabriclab-signals".to_string())
            .spawn(move || signal_thread(ready_tx));
        match spawned {
            // Wait until the handlers are registered, so a signal right after build is caught.
            Ok(_) => match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("no SIGINT/SIGTERM teardown: {e}"),
                Err(_) => tracing::warn!("no SIGINT/SIGTERM teardown: handler thread ended"),
            },
            Err(e) => tracing::warn!("no SIGINT/SIGTERM teardown: {e}"),
        }
    });
}

fn signal_thread(ready: std::sync::mpsc::Sender<Result<(), String>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let code = rt.block_on(async move {
        let (mut int, mut term) = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(i), Ok(t)) => (i, t),
            (Err(e), _) | (_, Err(e)) => {
                let _ = ready.send(Err(e.to_string()));
                return None;
            }
        };
        let _ = ready.send(Ok(()));
        tokio::select! {
            _ = int.recv() => Some(130),
            _ = term.recv() => Some(143),
        }
    });
    let Some(code) = code else { return };
    registry::begin_shutdown();
    // Wait for namespace creations in flight, then nothing new appears.
    let _quiet = registry::CREATION
        .write()
        .unwrap_or_else(|p| p.into_inner());
    for lab in registry::take_all_live() {
        if let Err(e) = teardown(&lab.name, &lab.namespaces) {
            eprintln!("fabriclab: {e}");
        }
    }
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ns_links() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("mnt:[4026531840]"), None);
        assert_eq!(parse_ns_link("net:[x]"), None);
    }

    #[test]
    fn own_process_is_never_a_victim() {
        let me = i32::try_from(std::process::id()).unwrap_or(-1);
        assert!(processes_by_netns().iter().all(|(p, _)| *p != me));
    }
}
