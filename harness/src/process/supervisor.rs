//! Starting, watching and stopping the processes of one daemon inside a node's namespace.
//!
//! Every program runs in its own process group (the group id is its pid), so a stop reaches the
//! helpers a daemon may fork, and a SIGKILL of the group is a faithful "kill -9 without cleanup"
//! for graceful-restart tests (RFC 4724 §4: the restarting speaker's sessions drop with no
//! NOTIFICATION). Waiting is always [`wait_until`] with a deadline, never a bare sleep.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::RunDir;
use crate::lab::netns::spawn_in_netns;
use crate::wait::{wait_until, Probe, Timeout};

/// How often the supervisor looks at its children and probes while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long a SIGKILLed group may take to disappear before we report it.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How much of a log's tail goes into an error message.
const LOG_TAIL_BYTES: u64 = 2048;

/// One program of a daemon: what to run and what it creates once it is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// Short name for logs, pid files and errors (`bird`, `zebra`, `bgpd`, `gobgpd`).
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Arguments, without the program itself.
    pub args: Vec<OsString>,
    /// Extra environment variables (the rest is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// A path the program creates when it is up (zebra's zserv socket): the supervisor waits
    /// for it before starting the next program, so clients do not race their server.
    pub wait_for_path: Option<PathBuf>,
}

impl ProgramSpec {
    /// A program with no arguments.
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>) -> Self {
        ProgramSpec {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            wait_for_path: None,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Waits for `path` to exist after starting this program.
    pub fn wait_for(mut self, path: impl Into<PathBuf>) -> Self {
        self.wait_for_path = Some(path.into());
        self
    }

    /// The argv as one string, for error messages.
    pub fn display_argv(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

/// Why supervising failed.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("failed to prepare run directory {path}: {source}")]
    RunDir { path: PathBuf, source: io::Error },
    #[error("failed to open log file {path}: {source}")]
    Log { path: PathBuf, source: io::Error },
    #[error("failed to spawn `{argv}` in {netns}: {source}")]
    Spawn {
        argv: String,
        netns: PathBuf,
        source: io::Error,
    },
    #[error("{program} exited during startup ({status}); stderr tail:\n{stderr}")]
    ExitedEarly {
        program: String,
        status: String,
        stderr: String,
    },
    #[error("{program} did not become ready: {timeout}")]
    NotReady { program: String, timeout: Timeout },
    #[error("failed to signal process group {pgid} of {program}: {source}")]
    Signal {
        program: String,
        pgid: i32,
        source: Errno,
    },
    #[error("process group {pgid} of {program} still has processes after SIGKILL")]
    Unkillable { program: String, pgid: i32 },
    #[error("the daemon is already running; stop it first")]
    AlreadyRunning,
    #[error("failed to wait for {program}: {source}")]
    Wait { program: String, source: io::Error },
}

/// How a stop went, per program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopReport {
    /// Programs that exited within the grace period after SIGTERM, with their exit status.
    pub exited: Vec<(String, String)>,
    /// Programs whose group had to be SIGKILLed.
    pub killed: Vec<String>,
}

/// A started program.
#[derive(Debug)]
struct Running {
    name: String,
    child: Child,
    pgid: Pid,
    status: Option<ExitStatus>,
}

impl Running {
    /// Reaps the leader if it has exited; returns whether it has.
    fn poll_exit(&mut self) -> io::Result<bool> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status.is_some())
    }

    /// Whether any process is left in the group (signal 0 to the group, kill(2)).
    fn group_alive(&self) -> bool {
        killpg(self.pgid, None).is_ok()
    }

    fn signal(&self, sig: Signal) -> Result<(), SupervisorError> {
        match killpg(self.pgid, sig) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(source) => Err(SupervisorError::Signal {
                program: self.name.clone(),
                pgid: self.pgid.as_raw(),
                source,
            }),
        }
    }
}

/// The processes of one daemon on one node.
#[derive(Debug)]
pub struct Supervisor {
    netns: PathBuf,
    dir: RunDir,
    programs: Vec<ProgramSpec>,
    running: Vec<Running>,
}

impl Supervisor {
    /// A supervisor for `programs` (started in this order, stopped together) inside the network
    /// namespace at `netns` (e.g. `/run/netns/fl1a2b-r1t1`). Nothing runs until [`start`].
    ///
    /// [`start`]: Supervisor::start
    pub fn new(netns: impl Into<PathBuf>, dir: RunDir, programs: Vec<ProgramSpec>) -> Self {
        Supervisor {
            netns: netns.into(),
            dir,
            programs,
            running: Vec::new(),
        }
    }

    /// The daemon's run directory.
    pub fn dir(&self) -> &RunDir {
        &self.dir
    }

    /// The namespace the daemon runs in.
    pub fn netns(&self) -> &Path {
        &self.netns
    }

    /// The programs this supervisor starts.
    pub fn programs(&self) -> &[ProgramSpec] {
        &self.programs
    }

    /// Starts every program in order. A program with [`ProgramSpec::wait_for_path`] must create
    /// that path within `timeout` before the next one starts; a program that exits meanwhile
    /// fails the start with its stderr tail. On error everything started is killed.
    pub fn start(&mut self, timeout: Duration) -> Result<(), SupervisorError> {
        if !self.running.is_empty() {
            return Err(SupervisorError::AlreadyRunning);
        }
        self.dir
            .create()
            .map_err(|source| SupervisorError::RunDir {
                path: self.dir.path().to_path_buf(),
                source,
            })?;
        let programs = self.programs.clone();
        for spec in &programs {
            if let Err(e) = self.start_one(spec, timeout) {
                self.kill_all();
                return Err(e);
            }
        }
        Ok(())
    }

    fn start_one(&mut self, spec: &ProgramSpec, timeout: Duration) -> Result<(), SupervisorError> {
        let stdout = open_log(&self.dir.stdout_log(&spec.name))?;
        let stderr = open_log(&self.dir.stderr_log(&spec.name))?;
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = spawn_in_netns(&self.netns, cmd).map_err(|source| SupervisorError::Spawn {
            argv: spec.display_argv(),
            netns: self.netns.clone(),
            source,
        })?;
        let raw = i32::try_from(child.id()).unwrap_or(i32::MAX);
        self.running.push(Running {
            name: spec.name.clone(),
            child,
            pgid: Pid::from_raw(raw),
            status: None,
        });
        if let Some(path) = &spec.wait_for_path {
            let path = path.clone();
            self.wait_ready_named(&spec.name, timeout, move || {
                if path.exists() {
                    Probe::Done(())
                } else {
                    Probe::pending(format!("{} does not exist yet", path.display()))
                }
            })?;
        }
        Ok(())
    }

    /// Waits until `probe` reports the daemon ready, failing fast (with the stderr tail) if a
    /// program exits meanwhile. Call once after [`start`](Supervisor::start): readiness is
    /// checked at start only, since polling CLIs while a daemon works slows it down.
    pub fn wait_ready(
        &mut self,
        timeout: Duration,
        probe: impl FnMut() -> Probe<()>,
    ) -> Result<(), SupervisorError> {
        let name = self
            .programs
            .last()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        self.wait_ready_named(&name, timeout, probe)
    }

    fn wait_ready_named(
        &mut self,
        name: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Probe<()>,
    ) -> Result<(), SupervisorError> {
        let dir = self.dir.clone();
        let running = &mut self.running;
        let outcome = wait_until(timeout, POLL_INTERVAL, || {
            for r in running.iter_mut() {
                match r.poll_exit() {
                    Ok(false) => {}
                    Ok(true) => {
                        return Probe::Done(Err(SupervisorError::ExitedEarly {
                            program: r.name.clone(),
                            status: r.status.map(|s| s.to_string()).unwrap_or_default(),
                            stderr: log_tail(&dir.stderr_log(&r.name)),
                        }))
                    }
                    Err(source) => {
                        return Probe::Done(Err(SupervisorError::Wait {
                            program: r.name.clone(),
                            source,
                        }))
                    }
                }
            }
            match probe() {
                Probe::Done(()) => Probe::Done(Ok(())),
                Probe::Pending(s) => Probe::Pending(s),
            }
        });
        match outcome {
            Ok(r) => r,
            Err(timeout) => Err(SupervisorError::NotReady {
                program: name.to_string(),
                timeout,
            }),
        }
    }

    /// Whether every started program is still alive (false when nothing was started).
    pub fn is_running(&mut self) -> bool {
        !self.running.is_empty()
            && self
                .running
                .iter_mut()
                .all(|r| matches!(r.poll_exit(), Ok(false)))
    }

    /// Pids (= process group ids) of the started programs, by name.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.running
            .iter()
            .map(|r| (r.name.clone(), r.child.id()))
            .collect()
    }

    /// Whether any process is left in any group this supervisor started (even after stop).
    pub fn any_process_left(&self) -> bool {
        self.running.iter().any(Running::group_alive)
    }

    /// SIGTERM to every group, wait up to `grace` for all of them to be empty, then SIGKILL the
    /// rest. Programs are signalled in reverse start order (bgpd before zebra) but waited on
    /// together, so `grace` bounds the whole stop.
    pub fn stop(&mut self, grace: Duration) -> Result<StopReport, SupervisorError> {
        let mut report = StopReport::default();
        for r in self.running.iter().rev() {
            r.signal(Signal::SIGTERM)?;
        }
        // A timeout here is not an error: it is what SIGKILL below is for.
        let _ = wait_all_gone(&mut self.running, grace);
        for r in self.running.iter_mut() {
            let exited = r.poll_exit().unwrap_or(false);
            if exited && !r.group_alive() {
                let status = r.status.map(|s| s.to_string()).unwrap_or_default();
                report.exited.push((r.name.clone(), status));
            } else {
                report.killed.push(r.name.clone());
            }
        }
        self.kill_checked()?;
        Ok(report)
    }

    /// SIGKILL to every group (a crash: no cleanup, routes and sockets stay behind), then reap.
    pub fn kill(&mut self) -> Result<(), SupervisorError> {
        self.kill_checked()
    }

    /// [`stop`](Supervisor::stop) then [`start`](Supervisor::start).
    pub fn restart(
        &mut self,
        grace: Duration,
        timeout: Duration,
    ) -> Result<StopReport, SupervisorError> {
        let report = self.stop(grace)?;
        self.start(timeout)?;
        Ok(report)
    }

    /// SIGKILLs every group, reaps the leaders and checks the groups are empty.
    fn kill_checked(&mut self) -> Result<(), SupervisorError> {
        for r in &self.running {
            r.signal(Signal::SIGKILL)?;
        }
        let waited = wait_all_gone(&mut self.running, KILL_WAIT);
        let result = match (waited, self.running.iter().find(|r| r.group_alive())) {
            (Err(_), Some(r)) => Err(SupervisorError::Unkillable {
                program: r.name.clone(),
                pgid: r.pgid.as_raw(),
            }),
            _ => Ok(()),
        };
        self.running.clear();
        result
    }

    /// Best-effort kill for error paths and Drop.
    fn kill_all(&mut self) {
        let _ = self.kill_checked();
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if !self.running.is_empty() {
            self.kill_all();
        }
    }
}

fn open_log(path: &Path) -> Result<File, SupervisorError> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| SupervisorError::Log {
            path: path.to_path_buf(),
            source,
        })?;
    // A marker per start so restarts are visible in the appended log.
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let _ = writeln!(f, "=== fabriclab: started at unix time {secs:.3} ===");
    Ok(f)
}

/// The last few KiB of a log file, or a note why it could not be read.
pub(crate) fn log_tail(path: &Path) -> String {
    let read = || -> io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    read().unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

/// Waits until every program has exited and its whole process group is gone; the timeout
/// names the ones still running.
fn wait_all_gone(running: &mut [Running], timeout: Duration) -> Result<(), crate::wait::Timeout> {
    wait_until(timeout, POLL_INTERVAL, || {
        let left: Vec<&str> = running
            .iter_mut()
            .filter_map(|r| {
                let exited = r.poll_exit().unwrap_or(false);
                (!exited || r.group_alive()).then_some(r.name.as_str())
            })
            .collect();
        if left.is_empty() {
            Probe::Done(())
        } else {
            Probe::pending(format!("still running: {}", left.join(", ")))
        }
    })
}

#[cfg(test)]
mod tests {
    //! These run real processes in the test's own network namespace (`/proc/self/ns/net`):
    //! entering it needs CAP_SYS_ADMIN, so without root they print why and return.
    use super::*;

    fn root_or_skip(test: &str) -> bool {
        if nix::unistd::Uid::effective().is_root() {
            true
        } else {
            eprintln!("{test}: ignored: needs root to setns(2)");
            false
        }
    }

    fn sup(dir: &tempfile::TempDir, programs: Vec<ProgramSpec>) -> Supervisor {
        Supervisor::new("/proc/self/ns/net", RunDir::at(dir.path()), programs)
    }

    fn pid_alive(pid: u32) -> bool {
        let raw = i32::try_from(pid).unwrap_or(i32::MAX);
        nix::sys::signal::kill(Pid::from_raw(raw), None).is_ok()
    }

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
    }

    #[test]
    fn stop_terminates_gracefully_and_leaves_nothing() {
        if !root_or_skip("stop_terminates_gracefully_and_leaves_nothing") {
            return;
        }
        let d = tmp();
        let mut s = sup(&d, vec![ProgramSpec::new("sleeper", "sleep").arg("30")]);
        s.start(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(s.is_running());
        let report = s
            .stop(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.killed, Vec::<String>::new());
        assert_eq!(report.exited.len(), 1);
        assert!(!s.any_process_left());
        assert!(!s.is_running());
    }

    #[test]
    fn stop_escalates_to_sigkill_for_the_whole_group() {
        if !root_or_skip("stop_escalates_to_sigkill_for_the_whole_group") {
            return;
        }
        let d = tmp();
        // Both the shell and its background child ignore SIGTERM (dispositions survive exec).
        let mut s = sup(
            &d,
            vec![ProgramSpec::new("stubborn", "sh")
                .args(["-c", "trap '' TERM; sleep 30 & echo $! > child.pid; wait"])],
        );
        s.start(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
        let child_pid_file = d.path().join("child.pid");
        let child_pid =
            wait_until(
                Duration::from_secs(5),
                POLL_INTERVAL,
                || match std::fs::read_to_string(&child_pid_file)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                {
                    Some(p) => Probe::Done(p),
                    None => Probe::pending("no child pid yet"),
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let report = s
            .stop(Duration::from_millis(300))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.killed, vec!["stubborn".to_string()]);
        assert!(!pid_alive(child_pid), "grandchild {child_pid} survived");
    }

    #[test]
    fn early_exit_is_reported_with_stderr() {
        if !root_or_skip("early_exit_is_reported_with_stderr") {
            return;
        }
        let d = tmp();
        let mut s = sup(
            &d,
            vec![ProgramSpec::new("broken", "sh").args(["-c", "echo bad config >&2; exit 3"])],
        );
        s.start(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = s.wait_ready(Duration::from_secs(5), || Probe::pending("never ready"));
        match err {
            Err(SupervisorError::ExitedEarly {
                program, stderr, ..
            }) => {
                assert_eq!(program, "broken");
                assert!(stderr.contains("bad config"), "stderr tail: {stderr}");
            }
            other => panic!("expected ExitedEarly, got {other:?}"),
        }
    }

    #[test]
    fn wait_for_path_orders_programs_and_kill_and_drop_clean_up() {
        if !root_or_skip("wait_for_path_orders_programs_and_kill_and_drop_clean_up") {
            return;
        }
        let d = tmp();
        let marker = d.path().join("server.sock");
        let mut s = sup(
            &d,
            vec![
                ProgramSpec::new("server", "sh")
                    .args(["-c", "sleep 0.2; touch server.sock; exec sleep 30"])
                    .wait_for(&marker),
                // Fails at once unless the server's marker exists when it starts.
                ProgramSpec::new("client", "sh")
                    .args(["-c", "test -e server.sock && exec sleep 30"]),
            ],
        );
        s.start(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
        s.wait_ready(Duration::from_millis(300), || Probe::Done(()))
            .unwrap_or_else(|e| panic!("{e}"));
        let pids: Vec<u32> = s.pids().into_iter().map(|(_, p)| p).collect();
        assert_eq!(pids.len(), 2);
        s.kill().unwrap_or_else(|e| panic!("{e}"));
        assert!(pids.iter().all(|p| !pid_alive(*p)));

        // Restart after a kill, then Drop must kill the new processes.
        s.start(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
        let pids: Vec<u32> = s.pids().into_iter().map(|(_, p)| p).collect();
        drop(s);
        assert!(pids.iter().all(|p| !pid_alive(*p)));
        let log = std::fs::read_to_string(d.path().join("server.stdout.log")).unwrap_or_default();
        assert_eq!(log.matches("=== fabriclab: started").count(), 2);
    }
}
