//! `fabriclab gobgp-fib`: a FIB agent that makes GoBGP a full router.
//!
//! GoBGP does not program the kernel; in practice a separate process next to it does (its zebra
//! integration panics with the FRR 8.4 zebra installed here, see the GoBGP adapter). The agent
//! runs inside the node's namespace as the GoBGP adapter's second program, after gobgpd:
//!
//! ```text
//! gobgpd --api-hosts 127.0.0.1:P      (RIB, best path, multipath)
//!    | gRPC WatchEvent(table, best)
//!    | `gobgp -u 127.0.0.1 -p P monitor global rib -a ipv4 -j --current`
//!    v  JSON lines on a pipe
//! fabriclab gobgp-fib --api 127.0.0.1:P   monitor -> compute -> kernel
//!    | rtnetlink (RTM_NEWROUTE replace / RTM_DELROUTE, proto 202)
//!    v
//! the namespace's main table
//! ```
//!
//! - [`monitor`]: parsing of the monitor's JSON lines (each replaces the path set of the prefixes
//!   it mentions; with `use-multiple-paths` the set is GoBGP's multipath set).
//! - [`compute`]: the kernel route of a prefix (pure): ECMP over the resolved next hops, blackhole
//!   for the node's own blocks, nothing for GoBGP's own default or a next hop that is us.
//! - `kernel`: next-hop resolution (`RTM_GETROUTE` with `RTM_F_FIB_MATCH`) and programming,
//!   through the bundled speaker's `NetlinkFib`.
//! - `agent`: the loop. It is passive: it never polls the CLI; the monitor stream is the only
//!   input after start.
//!
//! Routes carry protocol [`RTPROT_GOBGP_FIB`] (202; add `202 gobgp-fib` to
//! `/etc/iproute2/rt_protos.d/` to see the name in `ip route`), metric 20, main table. At start
//! every route of that protocol is removed (stale, from an earlier run), on SIGTERM the agent
//! removes its routes. IPv4 unicast only (the lab's fabrics are IPv4).

mod agent;
pub mod compute;
mod kernel;
pub mod monitor;

#[cfg(test)]
mod root_tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use compute::EcmpRule;

/// Route protocol number of the agent's routes (`ip route ... proto 202`).
///
/// Free in the kernel's `rtnetlink.h` (up to 192 used, plus 42 babel and 99 openr), iproute2's
/// `rt_protos`, FRR's range (186-198) and next to the bundled speaker's 201.
pub const RTPROT_GOBGP_FIB: u8 = 202;

/// Set to the `fabriclab` binary the GoBGP adapter starts as the agent; otherwise the running
/// executable when it is `fabriclab`, then the cargo target directory next to it, then `PATH`.
pub const FABRICLAB_BIN_ENV: &str = "FABRICLAB_BIN";

/// Name of the agent's ready file in the daemon's run directory.
pub const READY_FILE: &str = "gobgp-fib.ready";

/// The subcommand that runs the agent.
pub const SUBCOMMAND: &str = "gobgp-fib";

/// `fabriclab gobgp-fib` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// GoBGP's gRPC API (gobgpd's `--api-hosts`), as seen from this namespace.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub api: SocketAddr,
    /// Route protocol number of the installed routes; every route with it is the agent's.
    #[arg(long, default_value_t = RTPROT_GOBGP_FIB, value_parser = parse_protocol)]
    pub protocol: u8,
    /// At most this many next hops per route (default: GoBGP's whole multipath set; GoBGP 3.10
    /// ignores its own `maximum-paths`).
    #[arg(long)]
    pub max_paths: Option<usize>,
    /// ECMP only over paths with the best path's neighbouring AS (eBGP) or its AS_PATH (iBGP),
    /// as `allow-multiple-as = false` asks (GoBGP 3.10 ignores that setting).
    #[arg(long)]
    pub strict_multipath: bool,
    /// The `gobgp` CLI.
    #[arg(long, default_value = "gobgp")]
    pub gobgp: PathBuf,
    /// Write our pid here once following the monitor (readiness for the supervisor).
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Seconds to wait for gobgpd's API to accept connections.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
}

impl AgentArgs {
    /// The agent options these arguments ask for.
    pub fn options(&self) -> AgentOptions {
        AgentOptions {
            api: self.api,
            protocol: self.protocol,
            ecmp: EcmpRule {
                max_paths: self.max_paths.unwrap_or(usize::MAX),
                relax: !self.strict_multipath,
            },
            gobgp: self.gobgp.clone(),
            ready_file: self.ready_file.clone(),
            connect_timeout: Duration::from_secs(self.connect_timeout),
        }
    }
}

/// Protocol numbers the agent must never own: purging them at start would delete the kernel's
/// own routes (0-2), `ip route add` and the lab's pod/static routes (3, 4), or other daemons'
/// routes (zebra 11, BIRD 12, FRR 186-198, the bundled speaker 201).
fn parse_protocol(s: &str) -> Result<u8, String> {
    let n: u8 = s.parse().map_err(|e| format!("{e}"))?;
    match n {
        0..=4 | 11 | 12 | 186..=198 | 201 => Err(format!(
            "protocol {n} belongs to the kernel or another routing daemon"
        )),
        _ => Ok(n),
    }
}

/// What the agent does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOptions {
    /// GoBGP's API address.
    pub api: SocketAddr,
    /// Route protocol number.
    pub protocol: u8,
    /// Which paths of GoBGP's multipath set are installed.
    pub ecmp: EcmpRule,
    /// The `gobgp` CLI.
    pub gobgp: PathBuf,
    /// Ready file (our pid), written once following.
    pub ready_file: Option<PathBuf>,
    /// How long gobgpd's API may take to come up.
    pub connect_timeout: Duration,
}

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("failed to start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("failed to open an rtnetlink socket: {0}")]
    Netlink(#[source] std::io::Error),
    #[error("failed to remove stale routes: {0}")]
    Purge(#[source] fabric_speaker::fib::FibError),
    #[error("GoBGP's API at {api} did not accept connections: {timeout}")]
    ApiUnreachable { api: SocketAddr, timeout: String },
    #[error("failed to start `{program} monitor`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`gobgp monitor` has no stdout pipe")]
    NoStdout,
    #[error("failed to read `gobgp monitor`: {0}")]
    Read(#[source] std::io::Error),
    #[error("failed to install signal handlers: {0}")]
    Signal(#[source] std::io::Error),
    #[error("failed to write the ready file {path}: {source}")]
    ReadyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`gobgp monitor` ended ({status}): gobgpd went away")]
    MonitorEnded { status: String },
}

/// Runs the agent in the calling process's network namespace until SIGTERM/SIGINT (then its
/// routes are removed and this returns `Ok`) or until GoBGP goes away (an error).
pub fn run(opts: &AgentOptions) -> Result<(), AgentError> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = runtime()?;
    rt.block_on(async {
        // Installed before anything else, so a stop during start-up is not lost.
        let mut term = signal(SignalKind::terminate()).map_err(AgentError::Signal)?;
        let mut int = signal(SignalKind::interrupt()).map_err(AgentError::Signal)?;
        let stop = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        agent::agent(opts, stop).await
    })
}

/// Runs the agent in the calling thread's network namespace until `shutdown` completes (then
/// its routes are removed and this returns `Ok`) or GoBGP goes away (an error). For running the
/// agent inside another program (tests); the subcommand uses [`run`].
pub fn run_until(
    opts: &AgentOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), AgentError> {
    runtime()?.block_on(agent::agent(opts, shutdown))
}

fn runtime() -> Result<tokio::runtime::Runtime, AgentError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AgentError::Runtime)
}

/// Writes our pid to `path` (atomically: a reader never sees a partial file).
fn write_ready_file(path: &Path) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{}\n", std::process::id()))?;
    std::fs::rename(&tmp, path)
}

/// Whether the agent that wrote `ready_file` is running: the file names a live process whose
/// command line is `... gobgp-fib ...` (a file left by a killed agent names a dead pid). Returns
/// the pid, or what was seen.
pub fn agent_ready(ready_file: &Path) -> Result<u32, String> {
    let text = std::fs::read_to_string(ready_file)
        .map_err(|e| format!("{}: {e}", ready_file.display()))?;
    let pid: u32 = text
        .trim()
        .parse()
        .map_err(|_| format!("{}: not a pid: {text:?}", ready_file.display()))?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map_err(|_| format!("the agent (pid {pid}) is not running"))?;
    if cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == SUBCOMMAND.as_bytes())
    {
        Ok(pid)
    } else {
        Err(format!("pid {pid} is not a {SUBCOMMAND} agent"))
    }
}

/// Where the `fabriclab` binary is (see [`FABRICLAB_BIN_ENV`]).
pub fn agent_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(FABRICLAB_BIN_ENV) {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok();
    if let Some(exe) = &exe {
        if exe.file_name().is_some_and(|n| n == "fabriclab") {
            return Some(exe.clone());
        }
        // Test binaries live in target/<profile>/deps, the binary in target/<profile>.
        if let Some(p) = exe
            .ancestors()
            .skip(1)
            .take(3)
            .map(|d| d.join("fabriclab"))
            .find(|p| p.is_file())
        {
            return Some(p);
        }
    }
    crate::speakers::find_executable("fabriclab")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: AgentArgs,
    }

    #[test]
    fn arguments_and_defaults() {
        let c = Cli::try_parse_from([
            "x",
            "--api",
            "127.0.0.1:50099",
            "--max-paths",
            "4",
            "--strict-multipath",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let o = c.args.options();
        assert_eq!(
            o.api,
            "127.0.0.1:50099".parse().unwrap_or_else(|e| panic!("{e}"))
        );
        assert_eq!(o.protocol, RTPROT_GOBGP_FIB);
        let strict = EcmpRule {
            max_paths: 4,
            relax: false,
        };
        assert_eq!(o.ecmp, strict);
        let c = Cli::try_parse_from(["x"]).unwrap_or_else(|e| panic!("{e}"));
        let whole_set = EcmpRule {
            max_paths: usize::MAX,
            relax: true,
        };
        assert_eq!(c.args.options().ecmp, whole_set);
    }

    #[test]
    fn refuses_protocols_of_the_kernel_and_other_daemons() {
        for bad in ["0", "2", "4", "12", "186", "201", "300"] {
            assert!(
                Cli::try_parse_from(["x", "--protocol", bad]).is_err(),
                "{bad} accepted"
            );
        }
        assert!(Cli::try_parse_from(["x", "--protocol", "250"]).is_ok());
    }

    #[test]
    fn ready_file_names_a_live_agent_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = dir.path().join(READY_FILE);
        assert!(agent_ready(&f).is_err(), "no file yet");
        write_ready_file(&f).unwrap_or_else(|e| panic!("{e}"));
        // Our own pid is alive but is a test binary, not an agent.
        let e = agent_ready(&f).err().unwrap_or_default();
        assert!(e.contains("not a gobgp-fib agent"), "{e}");
        std::fs::write(&f, "4194304999\n").unwrap_or_else(|e| panic!("{e}"));
        let e = agent_ready(&f).err().unwrap_or_default();
        assert!(e.contains("not running"), "{e}");
        std::fs::write(&f, "garbage").unwrap_or_else(|e| panic!("{e}"));
        assert!(agent_ready(&f).is_err());
    }
}
