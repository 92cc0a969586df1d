//! The agent's event loop: purge, wait for the API, follow `gobgp monitor`, program the kernel.
//!
//! Stop: the shutdown future (SIGTERM or SIGINT for the subcommand) removes the routes the
//! agent installed (as BIRD's kernel protocol and FRR's zebra do on a clean shutdown) and ends
//! with `Ok`. If the monitor stream ends for another reason (gobgpd went away), the agent ends
//! with an error and leaves its routes, as a crashed daemon would; the next start purges them.

use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use fabric_speaker::rib::{FibChange, FibRoute};
use ipnet::IpNet;
use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::compute::{changes, desired_route, Installed};
use super::kernel::Kernel;
use super::monitor::{gateways, parse_line, MonitorLine, PrefixState};
use super::{AgentError, AgentOptions};
use crate::wait::{wait_until_async, Probe};

/// How often the API port is tried while gobgpd starts.
const CONNECT_INTERVAL: Duration = Duration::from_millis(50);

/// Why the loop ended.
enum Stop {
    /// Asked to stop (signal to us or to our process group).
    Requested,
    /// The monitor's output ended by itself.
    StreamEnded,
}

/// Runs the agent until `shutdown` completes or the monitor ends (see the module docs).
pub(crate) async fn agent(
    opts: &AgentOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let mut shutdown = std::pin::pin!(shutdown);
    let (mut kernel, conn) = Kernel::connect(opts.protocol).map_err(AgentError::Netlink)?;
    tokio::spawn(conn);
    let stale = kernel.purge_stale().await.map_err(AgentError::Purge)?;
    log(format_args!(
        "removed {} stale routes of protocol {}",
        stale.len(),
        opts.protocol
    ));
    // A stop while gobgpd is still starting ends the wait (nothing is installed yet).
    tokio::select! {
        biased;
        () = &mut shutdown => return Ok(()),
        r = wait_for_api(opts) => r?,
    }

    let mut child = Command::new(&opts.gobgp)
        .arg("-u")
        .arg(opts.api.ip().to_string())
        .arg("-p")
        .arg(opts.api.port().to_string())
        .args(["monitor", "global", "rib", "-a", "ipv4", "-j", "--current"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| AgentError::Spawn {
            program: opts.gobgp.display().to_string(),
            source,
        })?;
    let stdout = child.stdout.take().ok_or(AgentError::NoStdout)?;
    let mut lines = BufReader::new(stdout).lines();
    if let Some(path) = &opts.ready_file {
        super::write_ready_file(path).map_err(|source| AgentError::ReadyFile {
            path: path.clone(),
            source,
        })?;
    }
    log(format_args!("following gobgp monitor on {}", opts.api));

    let mut installed = Installed::new();
    let stop = loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break Stop::Requested,
            line = lines.next_line() => match line {
                Ok(Some(line)) => on_line(&mut kernel, &mut installed, opts, &line).await,
                Ok(None) => break Stop::StreamEnded,
                Err(e) => return Err(AgentError::Read(e)),
            },
        }
    };
    let status = match stop {
        Stop::Requested => None,
        Stop::StreamEnded => Some(child.wait().await.map_err(AgentError::Read)?),
    };
    // The supervisor signals the whole process group: the monitor may see SIGTERM first.
    let requested = match status {
        None => true,
        Some(s) => matches!(
            s.signal().and_then(|n| Signal::try_from(n).ok()),
            Some(Signal::SIGTERM | Signal::SIGINT)
        ),
    };
    if let Some(path) = &opts.ready_file {
        let _ = std::fs::remove_file(path);
    }
    if !requested {
        return Err(AgentError::MonitorEnded {
            status: status.map(|s| s.to_string()).unwrap_or_default(),
        });
    }
    let removal: Vec<FibChange> = installed
        .keys()
        .map(|p| FibChange::Delete {
            prefix: IpNet::V4(*p),
        })
        .collect();
    let n = removal.len();
    let report = kernel.apply(removal).await;
    log(format_args!(
        "stopping: removed {} of {n} routes",
        report.applied
    ));
    for f in report.failed {
        log(format_args!("failed to remove {:?}: {}", f.change, f.error));
    }
    Ok(())
}

/// Waits until gobgpd accepts connections on its API port (it was started just before us).
async fn wait_for_api(opts: &AgentOptions) -> Result<(), AgentError> {
    let api = opts.api;
    wait_until_async(opts.connect_timeout, CONNECT_INTERVAL, || async move {
        match tokio::net::TcpStream::connect(api).await {
            Ok(_) => Probe::Done(()),
            Err(e) => Probe::pending(format!("connect {api}: {e}")),
        }
    })
    .await
    .map_err(|timeout| AgentError::ApiUnreachable {
        api,
        timeout: timeout.to_string(),
    })
}

/// One monitor line: new routes for every prefix it mentions.
async fn on_line(kernel: &mut Kernel, installed: &mut Installed, opts: &AgentOptions, line: &str) {
    let update = match parse_line(line) {
        Ok(MonitorLine::Update(u)) => u,
        Ok(MonitorLine::Error(e)) => {
            log(format_args!("gobgp monitor: {e}"));
            return;
        }
        Err(e) => {
            log(format_args!("{e}"));
            return;
        }
    };
    let gws: Vec<_> = update
        .values()
        .filter_map(|s| match s {
            PrefixState::Paths(p) => Some(gateways(p).collect::<Vec<_>>()),
            PrefixState::Withdrawn => None,
        })
        .flatten()
        .collect();
    for e in kernel.resolve_all(gws).await {
        log(format_args!("{e}"));
    }
    let wanted: Vec<_> = update
        .iter()
        .map(|(prefix, state)| {
            let route = desired_route(*prefix, state, opts.ecmp, |gw| kernel.resolution(gw));
            (*prefix, route)
        })
        .collect();
    let todo = changes(installed, wanted);
    if todo.is_empty() {
        return;
    }
    for c in &todo {
        log(format_args!("{}", describe(c)));
    }
    let report = kernel.apply(todo).await;
    if report.failed.is_empty() {
        return;
    }
    // A refused route: forget it and make sure none of ours is left for that prefix, so the
    // kernel and `installed` agree.
    let mut cleanup = Vec::new();
    for f in report.failed {
        log(format_args!(
            "kernel refused {}: {}",
            describe(&f.change),
            f.error
        ));
        if let FibChange::Replace {
            prefix: IpNet::V4(p),
            ..
        } = f.change
        {
            installed.remove(&p);
            cleanup.push(FibChange::Delete {
                prefix: IpNet::V4(p),
            });
        }
    }
    let _ = kernel.apply(cleanup).await;
}

fn describe(c: &FibChange) -> String {
    match c {
        FibChange::Replace { prefix, route } => format!("replace {prefix} {}", show(route)),
        FibChange::Delete { prefix } => format!("delete {prefix}"),
    }
}

/// `blackhole`, or `via GW dev IFINDEX` per next hop.
fn show(route: &FibRoute) -> String {
    match route {
        FibRoute::Blackhole => "blackhole".to_string(),
        FibRoute::Unicast(hops) => hops
            .iter()
            .map(|h| match h.ifindex {
                Some(i) => format!("via {} ifindex {i}", h.gateway),
                None => format!("via {}", h.gateway),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// One log line, stamped with the unix time (as the supervisor's log headers) so that kernel
/// changes can be lined up with captures and daemon logs.
fn log(msg: std::fmt::Arguments<'_>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    println!(
        "{}.{:03} gobgp-fib: {msg}",
        now.as_secs(),
        now.subsec_millis()
    );
}
