//! Running a daemon's CLI once, with a deadline: `birdc` does not answer while BIRD is busy, and
//! a hung query must not hang a test.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::api::SpeakerError;
use crate::lab::netns::spawn_in_netns;
use crate::wait::{wait_until, Probe};

/// What a finished command printed.
#[derive(Debug, Clone)]
pub(crate) struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// The argv of `cmd` as one string, for errors.
pub(crate) fn argv(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` (inside `netns` when given) and collects its output; kills its process group if it
/// is not done within `timeout`.
pub(crate) fn run(
    mut cmd: Command,
    netns: Option<&Path>,
    timeout: Duration,
) -> Result<CliOutput, SpeakerError> {
    let shown = argv(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let spawned = match netns {
        Some(ns) => spawn_in_netns(ns, cmd),
        None => {
            cmd.process_group(0);
            cmd.spawn()
        }
    };
    let mut child = spawned.map_err(|source| SpeakerError::Exec {
        argv: shown.clone(),
        source,
    })?;
    // Readers on their own threads so a large output cannot fill the pipe and stall the child.
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let status = wait_until(timeout, Duration::from_millis(10), || {
        match child.try_wait() {
            Ok(Some(s)) => Probe::Done(Ok(s)),
            Ok(None) => Probe::pending("running"),
            Err(e) => Probe::Done(Err(e)),
        }
    });
    let status = match status {
        Ok(Ok(s)) => s,
        Ok(Err(source)) => {
            kill_group(&mut child);
            return Err(SpeakerError::Exec {
                argv: shown,
                source,
            });
        }
        Err(_) => {
            kill_group(&mut child);
            return Err(SpeakerError::CommandTimeout {
                argv: shown,
                timeout,
            });
        }
    };
    Ok(CliOutput {
        status,
        stdout: join(out),
        stderr: join(err),
    })
}

/// [`run`], failing on a non-zero exit status.
pub(crate) fn run_ok(
    cmd: Command,
    netns: Option<&Path>,
    timeout: Duration,
) -> Result<CliOutput, SpeakerError> {
    let shown = argv(&cmd);
    let out = run(cmd, netns, timeout)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(SpeakerError::CommandFailed {
            argv: shown,
            status: out.status.to_string(),
            stderr: format!("{}{}", out.stderr.trim(), out.stdout.trim()),
        })
    }
}

fn reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn join(h: Option<std::thread::JoinHandle<String>>) -> String {
    h.and_then(|h| h.join().ok()).unwrap_or_default()
}

fn kill_group(child: &mut Child) {
    if let Ok(raw) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_output_and_status() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo out; echo err >&2; exit 4"]);
        let o = run(c, None, Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.stdout, "out\n");
        assert_eq!(o.stderr, "err\n");
        assert_eq!(o.status.code(), Some(4));
    }

    #[test]
    fn times_out_and_kills() {
        let mut c = Command::new("sleep");
        c.arg("30");
        match run(c, None, Duration::from_millis(100)) {
            Err(SpeakerError::CommandTimeout { .. }) => {}
            other => panic!("expected a timeout, got {other:?}"),
        }
    }

    #[test]
    fn run_ok_reports_failure() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo nope >&2; exit 1"]);
        match run_ok(c, None, Duration::from_secs(5)) {
            Err(SpeakerError::CommandFailed { stderr, .. }) => assert!(stderr.contains("nope")),
            other => panic!("expected failure, got {other:?}"),
        }
    }
}
