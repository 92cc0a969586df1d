//! Where labs are recorded: on disk for other processes (`fabriclab ls/exec/down/clean`), and in
//! memory for this process's signal handler.
//!
//! On disk, `/run/fabriclab/<lab>/state.json` ([`LabState`]) and `plan.json` (the resolved
//! [`Plan`]). The state is written *before* the first namespace is created, so a harness killed
//! with SIGKILL in the middle of a build still leaves a record `fabriclab clean` can act on.
//! `/run` is a tmpfs: a reboot forgets labs together with their namespaces.
//!
//! Every namespace of a lab is named `fl<run id>-<node>`, the run id being 6 random hex digits,
//! so two labs of the same topology never collide and strays are recognisable by name.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::error::LabError;
use crate::topology::Plan;

/// Root of the on-disk lab records.
pub const STATE_ROOT: &str = "/run/fabriclab";

/// Prefix of every namespace fabriclab creates.
pub const NETNS_PREFIX: &str = "fl";

/// Length of a run id in hex digits.
pub const RUN_ID_LEN: usize = 6;

/// What a lab's record says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabState {
    /// The lab's name (`--name`, or the run id).
    pub lab: String,
    /// Random id in every namespace name of the lab.
    pub run_id: String,
    /// The process that built the lab and tears it down when it ends (unless kept).
    pub owner_pid: u32,
    /// The owner's start time (clock ticks since boot, `/proc/<pid>/stat` field 22), so a
    /// recycled pid is not mistaken for the owner.
    pub owner_start: u64,
    /// Detached by `fabriclab up`: lives until `fabriclab down`/`clean --all`.
    pub kept: bool,
    /// How far the build got.
    pub phase: LabPhase,
    /// Namespace names (under `/run/netns`), node and pod namespaces alike.
    pub namespaces: Vec<String>,
    /// The topology file the plan came from, if any.
    pub topology: Option<PathBuf>,
    /// Plan name and sizes, for `fabriclab ls`.
    pub plan_name: String,
    pub nodes: usize,
    pub links: usize,
    pub pods: usize,
    /// Creation time, seconds since the Unix epoch.
    pub created_unix: u64,
}

/// Build progress recorded in [`LabState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabPhase {
    Building,
    Ready,
}

/// Whether a recorded lab is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabStatus {
    /// Its owner process runs and will tear it down.
    Alive,
    /// Detached with `fabriclab up`; removed only by `down` or `clean --all`.
    Kept,
    /// Its owner died without tearing it down (SIGKILL, crash): `fabriclab clean` removes it.
    Orphaned,
}

impl std::fmt::Display for LabStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LabStatus::Alive => "alive",
            LabStatus::Kept => "kept",
            LabStatus::Orphaned => "orphaned",
        })
    }
}

impl LabState {
    /// Alive, kept or orphaned, judged now.
    pub fn status(&self) -> LabStatus {
        if self.kept {
            LabStatus::Kept
        } else if process_start_time(self.owner_pid) == Some(self.owner_start) {
            LabStatus::Alive
        } else {
            LabStatus::Orphaned
        }
    }

    /// Paths of the lab's namespaces.
    pub fn namespace_paths(&self) -> Vec<PathBuf> {
        self.namespaces
            .iter()
            .map(|n| super::netns::netns_path(n))
            .collect()
    }
}

/// `/run/fabriclab/<lab>`.
pub fn state_dir(lab: &str) -> PathBuf {
    Path::new(STATE_ROOT).join(lab)
}

fn state_file(lab: &str) -> PathBuf {
    state_dir(lab).join("state.json")
}

fn plan_file(lab: &str) -> PathBuf {
    state_dir(lab).join("plan.json")
}

/// The namespace name of `node` in run `run_id`.
pub fn netns_name(run_id: &str, node: &str) -> String {
    format!("{NETNS_PREFIX}{run_id}-{node}")
}

/// The run id in a namespace name made by [`netns_name`], if it is one.
pub fn run_id_of_netns(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(NETNS_PREFIX)?;
    let id = rest.get(..RUN_ID_LEN)?;
    let sep = rest.get(RUN_ID_LEN..RUN_ID_LEN + 1)?;
    (sep == "-"
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then_some(id)
}

/// A fresh random run id (from the kernel's CSPRNG).
pub fn new_run_id() -> io::Result<String> {
    let mut b = [0u8; RUN_ID_LEN / 2];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Checks a lab name: 1-32 characters of `[A-Za-z0-9_.-]`, not starting with `.` or `-`.
pub fn validate_lab_name(name: &str) -> Result<(), LabError> {
    validate_component(name, 32).map_err(|reason| LabError::InvalidName {
        name: name.to_string(),
        reason,
    })
}

/// Checks a string used inside a file name (lab or node name).
pub(crate) fn validate_component(s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() || s.len() > max {
        return Err(format!("must be 1 to {max} characters long"));
    }
    if s.starts_with('.') || s.starts_with('-') {
        return Err("must not start with '.' or '-'".to_string());
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c)))
    {
        return Err(format!(
            "contains {c:?}; allowed are letters, digits, '_', '.', '-'"
        ));
    }
    Ok(())
}

/// Start time of a process (ticks since boot), or `None` if it does not exist.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    let after = stat.get(stat.rfind(')')? + 1..)?;
    // Fields from 3 (state) on; starttime is field 22.
    after.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Seconds since the epoch.
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn state_err(path: &Path, reason: impl std::fmt::Display) -> LabError {
    LabError::State {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Creates `/run/fabriclab/<lab>` exclusively; an existing lab of that name is an error that
/// says what state it is in.
pub(crate) fn create_state_dir(lab: &str) -> Result<PathBuf, LabError> {
    std::fs::create_dir_all(STATE_ROOT).map_err(|e| LabError::Environment {
        what: format!("cannot create {STATE_ROOT}: {e}"),
        fix: "run as root on a host with a writable /run".to_string(),
    })?;
    let dir = state_dir(lab);
    match std::fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let status = match read_state(lab) {
                Ok(s) => s.status().to_string(),
                Err(_) => "no readable state".to_string(),
            };
            Err(LabError::Exists {
                name: lab.to_string(),
                status,
            })
        }
        Err(e) => Err(state_err(&dir, e)),
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LabError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| state_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| state_err(path, e))
}

/// Writes (replaces atomically) a lab's state file.
pub(crate) fn write_state(state: &LabState) -> Result<(), LabError> {
    let path = state_file(&state.lab);
    let json = serde_json::to_vec_pretty(state).map_err(|e| state_err(&path, e))?;
    write_atomic(&path, &json)
}

/// Stores the lab's plan (for `Lab::open`).
pub(crate) fn write_plan(lab: &str, plan: &Plan) -> Result<(), LabError> {
    let path = plan_file(lab);
    let json = serde_json::to_vec(plan).map_err(|e| state_err(&path, e))?;
    write_atomic(&path, &json)
}

/// Reads a lab's state file.
pub fn read_state(lab: &str) -> Result<LabState, LabError> {
    let path = state_file(lab);
    let text = std::fs::read(&path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            LabError::NotFound {
                name: lab.to_string(),
            }
        } else {
            state_err(&path, e)
        }
    })?;
    serde_json::from_slice(&text).map_err(|e| state_err(&path, e))
}

/// Reads a lab's stored plan.
pub fn read_plan(lab: &str) -> Result<Plan, LabError> {
    let path = plan_file(lab);
    let text = std::fs::read(&path).map_err(|e| state_err(&path, e))?;
    serde_json::from_slice(&text).map_err(|e| state_err(&path, e))
}

/// Every recorded lab: its directory name and its state (or why it cannot be read).
pub fn list_labs() -> Vec<(String, Result<LabState, LabError>)> {
    let Ok(dir) = std::fs::read_dir(STATE_ROOT) else {
        return Vec::new();
    };
    let mut labs: Vec<_> = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .map(|name| {
            let st = read_state(&name);
            (name, st)
        })
        .collect();
    labs.sort_by(|a, b| a.0.cmp(&b.0));
    labs
}

// ===== in-process registry of live labs (for the signal handler) =====

/// A lab this process owns and must tear down if it is interrupted.
#[derive(Debug, Clone)]
pub(crate) struct LiveLab {
    pub name: String,
    pub namespaces: Vec<PathBuf>,
}

static LIVE: Mutex<BTreeMap<String, LiveLab>> = Mutex::new(BTreeMap::new());

/// Set once SIGINT/SIGTERM arrived: builders stop creating namespaces.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Held (shared) while a namespace is being created, (exclusive) by the shutdown path, so that
/// no namespace appears after the shutdown teardown looked.
pub(crate) static CREATION: RwLock<()> = RwLock::new(());

pub(crate) fn register_live(lab: LiveLab) {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    live.insert(lab.name.clone(), lab);
}

pub(crate) fn unregister_live(name: &str) {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    live.remove(name);
}

pub(crate) fn take_all_live() -> Vec<LiveLab> {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    std::mem::take(&mut *live).into_values().collect()
}

pub(crate) fn shutting_down() -> bool {
    SHUTTING_DOWN.load(Ordering::SeqCst)
}

pub(crate) fn begin_shutdown() {
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_round_trips_through_namespace_name() {
        let id = new_run_id().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id.len(), RUN_ID_LEN);
        let ns = netns_name(&id, "r1t1");
        assert_eq!(run_id_of_netns(&ns), Some(id.as_str()));
    }

    #[test]
    fn foreign_namespace_names_have_no_run_id() {
        for name in [
            "flannel",
            "fl12345",
            "flzzzzzz-x",
            "fl0A0b0c-x",
            "xfl123456-a",
            "fl",
        ] {
            assert_eq!(run_id_of_netns(name), None, "{name}");
        }
        assert_eq!(run_id_of_netns("fl0a0b0c-"), Some("0a0b0c"));
    }

    #[test]
    fn lab_names_are_checked() {
        assert!(validate_lab_name("ci-run_1.a").is_ok());
        for bad in ["", ".x", "-x", "a/b", "a b", "é", &"x".repeat(33)] {
            assert!(validate_lab_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_start_time_is_readable_and_stable() {
        let me = std::process::id();
        let a = process_start_time(me);
        assert!(a.is_some());
        assert_eq!(a, process_start_time(me));
        assert_eq!(process_start_time(u32::MAX), None);
    }

    #[test]
    fn status_reflects_kept_and_owner_liveness() {
        let me = std::process::id();
        let mut s = LabState {
            lab: "t".into(),
            run_id: "000000".into(),
            owner_pid: me,
            owner_start: process_start_time(me).unwrap_or(0),
            kept: false,
            phase: LabPhase::Ready,
            namespaces: vec![],
            topology: None,
            plan_name: "p".into(),
            nodes: 0,
            links: 0,
            pods: 0,
            created_unix: 0,
        };
        assert_eq!(s.status(), LabStatus::Alive);
        s.owner_start += 1;
        assert_eq!(s.status(), LabStatus::Orphaned);
        s.kept = true;
        assert_eq!(s.status(), LabStatus::Kept);
    }
}
