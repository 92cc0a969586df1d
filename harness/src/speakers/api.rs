//! The adapter contract every speaker kind implements, and the types it speaks in.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fabric_bgp_wire::{AfiSafi, Asn};

use crate::process::{ProgramSpec, RunDir, SupervisorError};
use crate::topology::{NodeId, NodePlan, Plan, SpeakerKind};
use crate::wait::Probe;

/// Session timers rendered into every config (RFC 4271 §10). Lab defaults are fast so that
/// fabrics converge in about a second (see `daemons.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Hold time offered in OPEN (0 or >= 3, RFC 4271 §4.2).
    pub hold: u16,
    /// Keepalive interval (normally hold / 3).
    pub keepalive: u16,
    /// ConnectRetry time.
    pub connect_retry: u16,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            hold: 9,
            keepalive: 3,
            connect_retry: 1,
        }
    }
}

/// Graceful restart settings (RFC 4724), as Calico runs BIRD: enabled (restarting speaker and
/// helper), restart time 120 s, and every start is a restart (`bird -R`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestart {
    /// Advertise the capability and act as helper and restarting speaker.
    pub enabled: bool,
    /// Restart Time advertised (12 bits, at most 4095 s, RFC 4724 §3).
    pub restart_time: u16,
    /// RFC 8538 N bit (NOTIFICATIONs other than Hard Reset keep routes too). Rendered for the
    /// bundled speaker only: BIRD 2.0.12 and FRR 8.4 have no such setting.
    pub notification: bool,
    /// RFC 9494 long-lived stale time in seconds (0: LLGR off). Rendered for the bundled
    /// speaker only.
    pub long_lived_stale_time: u32,
}

impl Default for GracefulRestart {
    fn default() -> Self {
        GracefulRestart {
            enabled: true,
            restart_time: 120,
            notification: false,
            long_lived_stale_time: 0,
        }
    }
}

/// Which side of each session opens the TCP connection; the other side is passive.
///
/// The plan makes the lower tier dial (node < RR < ToR < spine), so no connection collision
/// (RFC 4271 §6.8) ever happens. An FRR 8.4 helper never dials a peer it keeps stale routes
/// for (its connect timer is off while `PEER_STATUS_NSF_WAIT`: "Active (NSF passive)"), so a
/// restarting speaker must be the dialling side of its sessions: `UpperTier` lets the upper
/// tier (e.g. a restarting spine) dial instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dial {
    /// The lower tier dials (the plan's choice).
    #[default]
    LowerTier,
    /// The upper tier dials; the lower tier is passive.
    UpperTier,
}

impl Dial {
    /// Whether a session side the plan marks `planned_passive` is passive.
    pub fn passive(self, planned_passive: bool) -> bool {
        match self {
            Dial::LowerTier => planned_passive,
            Dial::UpperTier => !planned_passive,
        }
    }
}

/// Per-run choices that are not part of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerOptions {
    pub timers: Timers,
    pub graceful_restart: GracefulRestart,
    /// Which side of each session dials.
    pub dial: Dial,
    /// GoBGP's gRPC API port on the namespace's loopback (each namespace has its own).
    pub gobgp_api_port: u16,
    /// Let GoBGP program the kernel through an FRR zebra in the same namespace. Off by default:
    /// GoBGP 3.10's zebra client panics on FRR 8.4's ZAPI 6 interface messages (see the GoBGP
    /// adapter).
    pub gobgp_zebra: bool,
    /// How long a daemon may take to answer its control socket/API after start.
    pub ready_timeout: Duration,
    /// Bound for one CLI query (`birdc`, `vtysh`, `gobgp`): BIRD does not answer while busy.
    pub query_timeout: Duration,
}

impl Default for SpeakerOptions {
    fn default() -> Self {
        SpeakerOptions {
            timers: Timers::default(),
            graceful_restart: GracefulRestart::default(),
            dial: Dial::default(),
            gobgp_api_port: 50051,
            gobgp_zebra: false,
            ready_timeout: Duration::from_secs(10),
            query_timeout: Duration::from_secs(10),
        }
    }
}

/// Everything an adapter needs about one node: the plan, the node, where it runs, options.
#[derive(Debug, Clone, Copy)]
pub struct NodeContext<'a> {
    pub plan: &'a Plan,
    pub node: &'a NodePlan,
    /// The node's network namespace (e.g. `/run/netns/fl1a2b-r1t1`).
    pub netns: &'a Path,
    /// The daemon's run directory on this node.
    pub dir: &'a RunDir,
    pub options: &'a SpeakerOptions,
}

impl<'a> NodeContext<'a> {
    /// The context for `node`, or [`SpeakerError::UnknownNode`].
    pub fn new(
        plan: &'a Plan,
        node: &NodeId,
        netns: &'a Path,
        dir: &'a RunDir,
        options: &'a SpeakerOptions,
    ) -> Result<Self, SpeakerError> {
        let node = plan
            .node(node)
            .ok_or_else(|| SpeakerError::UnknownNode(node.clone()))?;
        Ok(NodeContext {
            plan,
            node,
            netns,
            dir,
            options,
        })
    }
}

/// One file of a rendered configuration, relative to the run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub name: String,
    pub contents: String,
}

/// The files a daemon needs, ready to write into its run directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedConfig {
    pub files: Vec<ConfigFile>,
}

impl RenderedConfig {
    /// The contents of the file called `name`.
    pub fn file(&self, name: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.contents.as_str())
    }

    /// Writes every file into `dir` (created if needed); returns the paths written.
    pub fn write(&self, dir: &RunDir) -> Result<Vec<PathBuf>, SpeakerError> {
        dir.create().map_err(|source| SpeakerError::Write {
            path: dir.path().to_path_buf(),
            source,
        })?;
        let mut written = Vec::new();
        for f in &self.files {
            let path = dir.file(&f.name);
            std::fs::write(&path, &f.contents).map_err(|source| SpeakerError::Write {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
        Ok(written)
    }
}

/// What the daemon's CLI says about one session. `None` means the CLI does not show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborState {
    /// The daemon's own name for the session (a BIRD protocol name, else the peer address).
    pub name: String,
    pub peer_addr: Option<IpAddr>,
    pub peer_as: Option<Asn>,
    /// The state as the daemon words it (`Established`, `Active`, `Idle`, `Connect`...).
    pub state: String,
    /// In the RFC 4271 §8 Established state.
    pub established: bool,
    /// Prefixes received from the peer and accepted (after import policy where the daemon
    /// only counts those).
    pub prefixes_received: Option<u64>,
    /// Capabilities negotiated on this session.
    pub caps: NegotiatedCaps,
}

/// Capabilities both sides advertised, as far as the CLI shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegotiatedCaps {
    /// 4-octet AS numbers (RFC 6793).
    pub four_octet_as: Option<bool>,
    /// Route refresh (RFC 2918).
    pub route_refresh: Option<bool>,
    /// Graceful restart (RFC 4724): both sides advertised the capability.
    pub graceful_restart: Option<bool>,
    /// Multiprotocol families negotiated (RFC 4760); empty when unknown or not established.
    pub address_families: Vec<AfiSafi>,
}

/// An executable an adapter runs and the Debian package that ships it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// A name looked up in `PATH` (plus the sbin directories), or an absolute path.
    pub binary: &'static str,
    pub package: &'static str,
}

/// A speaker kind whose daemon is not installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} needs `{binary}`, which is not installed (apt-get install {package})")]
pub struct MissingDaemon {
    pub kind: SpeakerKind,
    pub binary: String,
    pub package: String,
}

/// Why an adapter operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    #[error("node {0} is not in the plan")]
    UnknownNode(NodeId),
    #[error("cannot render the {kind} config of {node}: {reason}")]
    Render {
        kind: SpeakerKind,
        node: NodeId,
        reason: String,
    },
    #[error("failed to write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("failed to run `{argv}`: {source}")]
    Exec { argv: String, source: io::Error },
    #[error("`{argv}` did not finish within {timeout:?}")]
    CommandTimeout { argv: String, timeout: Duration },
    #[error("`{argv}` failed ({status}): {stderr}")]
    CommandFailed {
        argv: String,
        status: String,
        stderr: String,
    },
    #[error("{checker} rejected {file}:\n{message}")]
    ConfigRejected {
        checker: String,
        file: PathBuf,
        message: String,
    },
    #[error("cannot parse the output of `{what}`: {reason}")]
    Parse { what: String, reason: String },
    #[error("{kind}: {what} is not available yet: {reason}")]
    Unsupported {
        kind: SpeakerKind,
        what: &'static str,
        reason: String,
    },
    #[error(transparent)]
    Missing(#[from] MissingDaemon),
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
}

/// One BGP implementation: how to configure, run and query it on a node. Suites never match on
/// the kind; they get an adapter from [`adapter_for`](super::adapter_for).
pub trait Speaker: Send + Sync {
    /// Which implementation this is.
    fn kind(&self) -> SpeakerKind;

    /// Name of the run directory under the node (`bird`, `frr`, `gobgp`, `bundled`).
    fn daemon_name(&self) -> &'static str;

    /// Executables this adapter runs (daemons and CLIs).
    fn requirements(&self) -> &'static [Requirement];

    /// The config files for this node, from the plan's sessions and routing policy.
    fn render(&self, ctx: &NodeContext<'_>) -> Result<RenderedConfig, SpeakerError>;

    /// The programs to start, in order, for a config already written to `ctx.dir`.
    fn programs(&self, ctx: &NodeContext<'_>) -> Result<Vec<ProgramSpec>, SpeakerError>;

    /// One look at whether the daemon answers on its control socket or API. Used only at start.
    fn ready(&self, ctx: &NodeContext<'_>) -> Probe<()>;

    /// One-off actions once ready (GoBGP: announce the node's prefixes through its API).
    fn after_start(&self, _ctx: &NodeContext<'_>) -> Result<(), SpeakerError> {
        Ok(())
    }

    /// Session states read from the daemon's own CLI or API.
    fn neighbors(&self, ctx: &NodeContext<'_>) -> Result<Vec<NeighborState>, SpeakerError>;

    /// Runs the daemon's own config checker over the config written in `ctx.dir`.
    /// `Ok(false)` when this kind has no checker.
    fn check_config(&self, ctx: &NodeContext<'_>) -> Result<bool, SpeakerError>;
}
