//! One CLI call (`birdc`, `vtysh`, `gobgp`) with a deadline: a daemon that does not answer must
//! fail the case with the command line, not hang it.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fabriclab::lab::netns::spawn_in_netns;
use fabriclab::speakers::find_executable;
use fabriclab::wait::{wait_until, Probe};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How long one CLI query may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where `name` is installed (`PATH` and the sbin directories, as the skip check looks), or the
/// bare name when it is not: the same executable is checked for and run.
pub fn exe(name: &str) -> PathBuf {
    find_executable(name).unwrap_or_else(|| PathBuf::from(name))
}

/// The command line, for messages.
pub fn argv(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn reader(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        // A read error leaves what was read; the exit status tells whether the call worked.
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.wait();
}

/// Runs `cmd` (inside the namespace `netns` when given) and returns its standard output; fails
/// with the command line and its stderr if it exits non-zero or is not done within `timeout`
/// (then its process group is killed).
pub fn run(mut cmd: Command, netns: Option<&Path>, timeout: Duration) -> Result<String> {
    let shown = argv(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match netns {
        Some(ns) => spawn_in_netns(ns, cmd),
        None => {
            cmd.process_group(0);
            cmd.spawn()
        }
    }
    .with_context(|| format!("failed to start `{shown}`"))?;
    // Readers on their own threads: a large answer must not fill the pipe and stall the child.
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let status = wait_until(timeout, Duration::from_millis(5), || {
        match child.try_wait() {
            Ok(Some(s)) => Probe::Done(Ok(s)),
            Ok(None) => Probe::pending("still running"),
            Err(e) => Probe::Done(Err(e)),
        }
    });
    let status = match status {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            kill_group(&mut child);
            return Err(e).with_context(|| format!("failed to wait for `{shown}`"));
        }
        Err(t) => {
            kill_group(&mut child);
            bail!("`{shown}` did not finish: {t}");
        }
    };
    let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    if !status.success() {
        bail!(
            "`{shown}` failed ({status}): {}{}",
            stderr.trim(),
            if stderr.trim().is_empty() {
                stdout.trim()
            } else {
                ""
            }
        );
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_failure_and_timeout() {
        let mut ok = Command::new("sh");
        ok.args(["-c", "echo hello; echo noise >&2"]);
        assert_eq!(
            run(ok, None, QUERY_TIMEOUT).ok().as_deref(),
            Some("hello\n")
        );

        let mut bad = Command::new("sh");
        bad.args(["-c", "echo broken >&2; exit 3"]);
        let e = run(bad, None, QUERY_TIMEOUT).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("broken") && e.contains("sh -c")),
            "{e:?}"
        );

        let mut slow = Command::new("sleep");
        slow.arg("30");
        let e = run(slow, None, Duration::from_millis(100))
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains("did not finish")),
            "{e:?}"
        );
    }
}
