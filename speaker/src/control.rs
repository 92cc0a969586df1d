//! The control socket: JSON lines over a Unix stream socket.
//!
//! The harness uses it for readiness and assertions, `fabric-speaker ctl` for humans. The path is
//! `control-socket` from the configuration, default `/run/fabric-speaker/<router-id>.sock`. The
//! socket exists once the daemon listens for BGP connections (readiness = a `status` answer).
//!
//! # Protocol
//!
//! Each request is one JSON object on one line; each answer is one JSON object on one line. A
//! connection may carry any number of requests. Every answer has `"ok"`; failures carry
//! `"error"`. The request and answer types below are public and `Deserialize`, so Rust clients
//! (the harness) can parse answers into them directly.
//!
//! | request | answer |
//! |---|---|
//! | `{"cmd":"status"}` | `{"ok":true,"status":Status}` |
//! | `{"cmd":"neighbors"}` or `{"cmd":"neighbors","peer":"10.0.0.2"}` | `{"ok":true,"neighbors":[NeighborStatus]}` |
//! | `{"cmd":"routes","dir":"received"\|"advertised"}` (+ optional `"peer"`, `"prefix"`) | `{"ok":true,"routes":[RouteEntry]}` |
//! | `{"cmd":"routes","dir":"loc-rib"}` (+ optional `"prefix"`, `"peer"`) | `{"ok":true,"rib":[RibEntry]}`: every path with its status and why |
//! | `{"cmd":"fib"}` (+ optional `"prefix"`) | `{"ok":true,"fib":[FibEntry]}`: what the speaker installed in the kernel |
//! | `{"cmd":"announce","prefix":"10.9.0.0/24"}` | `{"ok":true}`: originate a prefix at run time |
//! | `{"cmd":"withdraw","prefix":"10.9.0.0/24"}` | `{"ok":true}`: stop originating it |
//! | `{"cmd":"reset","peer":"10.0.0.2"}` (+ optional `"communication"`) | `{"ok":true}`: Cease 6/4, then automatic restart |
//! | `{"cmd":"disable","peer":"10.0.0.2"}` (+ optional `"communication"`) | `{"ok":true}`: Cease 6/2, stays down |
//! | `{"cmd":"enable","peer":"10.0.0.2"}` | `{"ok":true}`: start a disabled session |
//! | `{"cmd":"reload"}` | `{"ok":true}` or the configuration error: same as SIGHUP |
//! | anything else | `{"ok":false,"error":"..."}` |
//!
//! `Status`:
//! ```json
//! {"router-id":"10.0.0.1","local-as":65001,"listen":"127.0.0.1:1179","pid":4242,
//!  "version":"0.1.0","uptime-secs":12.5,"neighbors-configured":2,"neighbors-established":2,
//!  "originated":["10.1.0.0/24"],"shutting-down":false}
//! ```
//!
//! `NeighborStatus` (`null` where not known yet):
//! ```json
//! {"address":"127.0.0.2","description":"spine1","remote-as":65002,
//!  "peer-as":65002,"peer-id":"10.0.0.2","peer-hostname":"spine1",
//!  "state":"established","state-secs":3.2,"established-secs":3.2,"established-transitions":1,
//!  "connect-retry-counter":0,
//!  "connection":{"local":"127.0.0.1:40211","remote":"127.0.0.2:1179","direction":"outbound"},
//!  "hold-time":9,"keepalive-secs":3,
//!  "capabilities":{"four-octet-as":true,"families":["ipv4-unicast","ipv6-unicast"],
//!    "route-refresh":true,"enhanced-route-refresh":true,"extended-next-hop":[],
//!    "graceful-restart-local":true,
//!    "graceful-restart-peer":{"restart-time":120,"restart-state":false,"notification":false,
//!                             "families":[{"family":"ipv4-unicast","forwarding-state":false}]}},
//!  "messages":{"received":{"open":1,"update":2,"notification":0,"keepalive":3,"route-refresh":0,"total":6},
//!              "sent":{"open":1,"update":2,"notification":0,"keepalive":3,"route-refresh":0,"total":6}},
//!  "prefixes":{"received":1,"advertised":1},
//!  "last-notification-received":{"code":6,"subcode":2,"description":"cease: administrative shutdown",
//!                                "communication":"maintenance","data":"0b6d61...","age-secs":1.5},
//!  "last-notification-sent":null,
//!  "last-error":"received NOTIFICATION 6/2 (cease: administrative shutdown) \"maintenance\""}
//! ```
//! A dynamic neighbor (accepted from a `listen-ranges` entry) also has `"listen-range":"10.0.2.0/24"`.
//! `remote-as` is the configured value (a number, `"internal"` or `"external"`); `state` is one
//! of `idle`, `connect`, `active`, `open-sent`, `open-confirm`, `established`. Counters and the
//! last NOTIFICATIONs survive session resets.
//!
//! `RouteEntry`:
//! ```json
//! {"peer":"127.0.0.2","prefix":"10.2.0.0/24","next-hop":"127.0.0.2","as-path":"65002",
//!  "origin":"igp","med":null,"local-pref":null,"communities":["65000:1"]}
//! ```
//! `as-path` is the textual path (sets in braces, confederation segments in parentheses).
//! `originator-id` and `cluster-list` are shown when present (RFC 4456).
//!
//! `RibEntry` (the Loc-RIB with the decision explained; `status` is `best`, `multipath`,
//! `not-selected` with the decisive step in `reason` and the winner in `beaten-by`, or
//! `ineligible` with the exclusion in `reason`):
//! ```json
//! {"prefix":"10.64.16.0/26","paths":[
//!   {"from":"10.0.0.5","next-hop":"10.0.0.5","as-path":"64602","origin":"igp","med":null,
//!    "local-pref":null,"communities":[],"originator-id":null,"cluster-list":[],
//!    "status":"best","reason":null,"beaten-by":null},
//!   {"from":"10.0.0.9",...,"status":"multipath",...},
//!   {"from":null,...,"status":"not-selected","reason":"shorter as-path","beaten-by":"10.0.0.5"}]}
//! ```
//! `from` is the peer address (`null`: originated here); `beaten-by` likewise, `"local"` for an
//! originated winner.
//!
//! `FibEntry`:
//! ```json
//! {"prefix":"10.64.16.0/26","kind":"unicast",
//!  "next-hops":[{"gateway":"10.0.0.5","ifindex":3},{"gateway":"10.0.0.9","ifindex":4}],
//!  "installed":true,"error":null}
//! ```
//! `kind` is `unicast` or `blackhole` (`removal-refused` for a route the RIB no longer wants
//! but the kernel refused to delete); a route the kernel refused has `installed: false` and the
//! kernel's error. The answer also has `"fib-pending": N`, the changes the kernel has not applied
//! yet (0: the list is exactly what the kernel holds from us). Without a kernel FIB
//! (`kernel.enabled: false`) the answer is an error.

pub mod table;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fabric_bgp_wire::{Asn, RouterId};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use crate::config::RemoteAs;
use crate::fsm::{Direction, State};
use crate::messages::Input;

/// Longest request line accepted, in bytes.
pub const MAX_REQUEST_LEN: usize = 64 * 1024;

// ===== Schema =====

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Daemon-wide status.
    Status,
    /// Neighbor table, optionally one peer.
    Neighbors {
        /// Only this peer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<IpAddr>,
    },
    /// Routes received from or advertised to peers, or the Loc-RIB.
    Routes {
        /// Which table.
        dir: RouteDir,
        /// Only this peer (for the Loc-RIB: only destinations with a path from it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<IpAddr>,
        /// Only this prefix.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<IpNet>,
    },
    /// The kernel routes the speaker installed.
    Fib {
        /// Only this prefix.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<IpNet>,
    },
    /// Start originating a prefix.
    Announce {
        /// The prefix.
        prefix: IpNet,
    },
    /// Stop originating a prefix.
    Withdraw {
        /// The prefix.
        prefix: IpNet,
    },
    /// Reset a session: Cease/Administrative Reset (6/4), then automatic restart.
    Reset {
        /// The neighbor.
        peer: IpAddr,
        /// RFC 9003 shutdown communication.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        communication: Option<String>,
    },
    /// Stop a session and keep it down: Cease/Administrative Shutdown (6/2).
    Disable {
        /// The neighbor.
        peer: IpAddr,
        /// RFC 9003 shutdown communication.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        communication: Option<String>,
    },
    /// Start a disabled session again.
    Enable {
        /// The neighbor.
        peer: IpAddr,
    },
    /// Re-read the configuration file (as SIGHUP does).
    Reload,
}

/// Route direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteDir {
    /// Adj-RIB-In.
    Received,
    /// Adj-RIB-Out.
    Advertised,
    /// Loc-RIB, every path with its decision status.
    LocRib,
}

/// An answer. Exactly one payload field is set on success.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Answer to `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Answer to `neighbors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbors: Option<Vec<NeighborStatus>>,
    /// Answer to `routes` (received, advertised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<RouteEntry>>,
    /// Answer to `routes` (loc-rib).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rib: Option<Vec<RibEntry>>,
    /// Answer to `fib`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fib: Option<Vec<FibEntry>>,
    /// With `fib`: changes sent to the kernel but not applied yet (0: the list is what the
    /// kernel holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fib_pending: Option<usize>,
}

impl Response {
    /// A success without payload.
    pub fn ok() -> Self {
        Response {
            ok: true,
            ..Response::default()
        }
    }

    /// A failure.
    pub fn error(message: impl Into<String>) -> Self {
        Response {
            ok: false,
            error: Some(message.into()),
            ..Response::default()
        }
    }
}

/// Daemon-wide status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Status {
    /// Our BGP Identifier.
    pub router_id: RouterId,
    /// Our AS.
    pub local_as: Asn,
    /// The BGP listening socket.
    pub listen: SocketAddr,
    /// Process id.
    pub pid: u32,
    /// Crate version.
    pub version: String,
    /// Seconds since start.
    pub uptime_secs: f64,
    /// Configured neighbors.
    pub neighbors_configured: usize,
    /// Neighbors in Established.
    pub neighbors_established: usize,
    /// Prefixes we originate.
    pub originated: Vec<IpNet>,
    /// A shutdown signal was received.
    pub shutting_down: bool,
    /// Restarting-speaker state (RFC 4724 §4.1) when this start was a graceful restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<RestartStatus>,
}

/// The restarting speaker's recovery (RFC 4724 §4.1), in `status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct RestartStatus {
    /// Selection is still deferred (R=1 in OPENs sent now).
    pub recovering: bool,
    /// Peers whose End-of-RIB is awaited, with the families still missing.
    pub awaiting_end_of_rib: Vec<AwaitedPeer>,
    /// Seconds until the Selection Deferral Timer expires, while recovering.
    pub deferral_remaining_secs: Option<f64>,
    /// Why the deferral ended: `all End-of-RIB received`, `timer` or `requested`.
    pub deferral_ended: Option<String>,
    /// How long the deferral lasted, milliseconds from the process start.
    pub deferral_ms: Option<u64>,
    /// Families whose forwarding state survived (F=1), e.g. `ipv4-unicast`.
    pub forwarding_preserved: Vec<String>,
    /// Our kernel routes found at start and kept installed.
    pub kernel_routes_kept: usize,
    /// Kept routes deleted when the deferral ended (the Loc-RIB no longer had them).
    pub kernel_routes_swept: Option<usize>,
}

/// A peer whose End-of-RIB a restarting speaker waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AwaitedPeer {
    /// Peer address.
    pub address: IpAddr,
    /// Families whose End-of-RIB is missing.
    #[serde(default)]
    pub families: Vec<String>,
}

/// One neighbor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NeighborStatus {
    /// Peer address.
    pub address: IpAddr,
    /// Configured description.
    pub description: Option<String>,
    /// Configured remote AS.
    pub remote_as: RemoteAs,
    /// AS from the peer's OPEN.
    pub peer_as: Option<Asn>,
    /// BGP Identifier from the peer's OPEN.
    pub peer_id: Option<RouterId>,
    /// Host name from the peer's FQDN capability.
    pub peer_hostname: Option<String>,
    /// FSM state.
    pub state: State,
    /// Seconds in the current state.
    pub state_secs: f64,
    /// Seconds since Established, while Established.
    pub established_secs: Option<f64>,
    /// Times the session reached Established.
    pub established_transitions: u32,
    /// ConnectRetryCounter (RFC 4271 §8.1.1).
    pub connect_retry_counter: u32,
    /// The TCP connection, if any.
    pub connection: Option<ConnectionInfo>,
    /// Negotiated hold time, seconds.
    pub hold_time: Option<u16>,
    /// Keepalive interval (before jitter), seconds.
    pub keepalive_secs: Option<u64>,
    /// What was negotiated in the OPEN exchange (kept after the session drops).
    pub capabilities: Option<NegotiatedCapabilities>,
    /// Message counters.
    pub messages: MessageStats,
    /// Prefix counters.
    pub prefixes: PrefixCounts,
    /// Last NOTIFICATION received from the peer.
    pub last_notification_received: Option<NotificationInfo>,
    /// Last NOTIFICATION sent to the peer.
    pub last_notification_sent: Option<NotificationInfo>,
    /// Why the session last went down.
    pub last_error: Option<String>,
    /// Created from a listen range (a dynamic neighbor, removed when its session closes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_range: Option<IpNet>,
    /// Graceful restart helper state for this peer (RFC 4724 §4.2): what we keep of its
    /// routes while it restarts. Absent when nothing is retained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart_helper: Option<crate::gr::helper::HelperStatus>,
}

/// A TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConnectionInfo {
    /// Our end.
    pub local: SocketAddr,
    /// The peer's end.
    pub remote: SocketAddr,
    /// Who opened it.
    pub direction: Direction,
}

/// Capabilities in effect on the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NegotiatedCapabilities {
    /// Both sides support 4-octet AS numbers (RFC 6793).
    pub four_octet_as: bool,
    /// Families both sides support, e.g. `ipv4-unicast`.
    pub families: Vec<String>,
    /// Route refresh (RFC 2918).
    pub route_refresh: bool,
    /// Enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// Extended next hop pairs, e.g. `ipv4-unicast/ipv6` (RFC 8950).
    pub extended_next_hop: Vec<String>,
    /// We advertised graceful restart.
    pub graceful_restart_local: bool,
    /// The peer's graceful restart capability.
    pub graceful_restart_peer: Option<GracefulRestartInfo>,
}

/// A graceful restart capability (RFC 4724 §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GracefulRestartInfo {
    /// Restart Time, seconds.
    pub restart_time: u16,
    /// R bit.
    pub restart_state: bool,
    /// N bit (RFC 8538).
    pub notification: bool,
    /// Families and their F bits.
    pub families: Vec<GracefulRestartFamily>,
}

/// One family of a graceful restart capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GracefulRestartFamily {
    /// e.g. `ipv4-unicast`.
    pub family: String,
    /// F bit.
    pub forwarding_state: bool,
}

/// Received and sent message counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MessageStats {
    /// From the peer.
    pub received: MessageCounts,
    /// To the peer.
    pub sent: MessageCounts,
}

/// Messages per type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MessageCounts {
    /// OPEN.
    pub open: u64,
    /// UPDATE.
    pub update: u64,
    /// NOTIFICATION.
    pub notification: u64,
    /// KEEPALIVE.
    pub keepalive: u64,
    /// ROUTE-REFRESH.
    pub route_refresh: u64,
    /// All of the above.
    pub total: u64,
}

/// Prefix counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PrefixCounts {
    /// In the peer's Adj-RIB-In.
    pub received: usize,
    /// In the peer's Adj-RIB-Out.
    pub advertised: usize,
}

/// A NOTIFICATION seen on a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NotificationInfo {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// English name of code/subcode.
    pub description: String,
    /// RFC 9003 shutdown communication, if any.
    pub communication: Option<String>,
    /// Data field, hex.
    pub data: String,
    /// Seconds since it was sent or received.
    pub age_secs: f64,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RouteEntry {
    /// The peer it was received from or advertised to.
    pub peer: IpAddr,
    /// The prefix.
    pub prefix: IpNet,
    /// NEXT_HOP (or the MP_REACH next hop).
    pub next_hop: Option<IpAddr>,
    /// AS path as text.
    pub as_path: String,
    /// `igp`, `egp` or `incomplete`.
    pub origin: Option<String>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// Communities as `asn:value`.
    pub communities: Vec<String>,
    /// ORIGINATOR_ID (RFC 4456).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originator_id: Option<RouterId>,
    /// CLUSTER_LIST, most recent reflector first (RFC 4456).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_list: Vec<std::net::Ipv4Addr>,
    /// Received routes kept for a restarting peer: `stale` (RFC 4724 §4.2) or `llgr-stale`
    /// (RFC 9494 §4.2); absent for fresh routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
}

/// A Loc-RIB destination with every path and its decision status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RibEntry {
    /// The destination.
    pub prefix: IpNet,
    /// Its paths, selected ones first (best, then multipath), then the others.
    pub paths: Vec<RibPath>,
}

/// Decision status of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathState {
    /// The best path.
    Best,
    /// In the ECMP set with the best.
    Multipath,
    /// Eligible, but lost (see `reason`).
    NotSelected,
    /// Excluded from the decision (see `reason`).
    Ineligible,
}

/// One path of a [`RibEntry`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RibPath {
    /// The peer it came from; `None` when originated here.
    pub from: Option<IpAddr>,
    /// NEXT_HOP.
    pub next_hop: Option<IpAddr>,
    /// AS path as text.
    pub as_path: String,
    /// `igp`, `egp` or `incomplete`.
    pub origin: Option<String>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// Communities as `asn:value`.
    pub communities: Vec<String>,
    /// ORIGINATOR_ID.
    pub originator_id: Option<RouterId>,
    /// CLUSTER_LIST.
    pub cluster_list: Vec<std::net::Ipv4Addr>,
    /// Decision status.
    pub status: PathState,
    /// Why it lost (the decisive step) or why it is ineligible.
    pub reason: Option<String>,
    /// The path it lost to: a peer address, or `local`.
    pub beaten_by: Option<String>,
    /// `stale` or `llgr-stale` for a path kept for a restarting peer (RFC 4724 §4.2, RFC 9494
    /// §4.2); absent for fresh paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
}

/// One route the speaker put in the kernel (or tried to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FibEntry {
    /// Destination.
    pub prefix: IpNet,
    /// `unicast` or `blackhole`.
    pub kind: String,
    /// Gateways (several: an ECMP route).
    pub next_hops: Vec<FibHop>,
    /// Whether the kernel accepted it.
    pub installed: bool,
    /// The kernel's error when it did not.
    pub error: Option<String>,
}

/// One next hop of a [`FibEntry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FibHop {
    /// Gateway.
    pub gateway: IpAddr,
    /// Outgoing interface index.
    pub ifindex: Option<u32>,
}

// ===== Server =====

/// A control socket failure.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Binding the socket failed.
    #[error("failed to bind control socket {path}: {source}")]
    Bind {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Talking to the socket failed.
    #[error("failed to query control socket {path}: {source}")]
    Io {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The answer was not valid JSON of the expected shape.
    #[error("failed to parse control socket answer from {path}: {source}")]
    Parse {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
}

/// Binds the control socket, replacing a stale socket file and creating the directory.
pub fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    let err = |source| ControlError::Bind {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    UnixListener::bind(path).map_err(err)
}

/// Accepts control connections forever, forwarding each request to the owner loop.
pub async fn serve(listener: UnixListener, owner: mpsc::Sender<Input>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(handle_client(stream, owner.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                // Avoid a hot loop on persistent errors (EMFILE); this is not a wait for a
                // condition, just pacing.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle_client(stream: UnixStream, owner: mpsc::Sender<Input>) {
    let (rd, mut wr) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(rd);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bounded read: a line longer than MAX_REQUEST_LEN is answered with an error and the
        // connection closed.
        let mut limited = (&mut lines).take(MAX_REQUEST_LEN as u64 + 1);
        let n = match limited.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let too_long = n > MAX_REQUEST_LEN;
        let response = if too_long {
            Response::error("request line too long")
        } else {
            match serde_json::from_slice::<Request>(&line) {
                Ok(request) => ask_owner(&owner, request).await,
                Err(e) => Response::error(format!("bad request: {e}")),
            }
        };
        let mut text = serde_json::to_vec(&response)
            .unwrap_or_else(|_| br#"{"ok":false,"error":"failed to serialise answer"}"#.to_vec());
        text.push(b'\n');
        if wr.write_all(&text).await.is_err() || too_long {
            return;
        }
    }
}

async fn ask_owner(owner: &mpsc::Sender<Input>, request: Request) -> Response {
    let (reply, answer) = oneshot::channel();
    if owner.send(Input::Control { request, reply }).await.is_err() {
        return Response::error("daemon is shutting down");
    }
    answer
        .await
        .unwrap_or_else(|_| Response::error("daemon is shutting down"))
}

// ===== Client =====

/// Sends one request and reads one answer (blocking; no async runtime needed).
pub fn request(path: &Path, req: &Request, timeout: Duration) -> Result<Response, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut line = serde_json::to_vec(req).map_err(|source| ControlError::Parse {
        path: path.to_owned(),
        source,
    })?;
    line.push(b'\n');
    stream.write_all(&line).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(io)?;
    serde_json::from_str(&answer).map_err(|source| ControlError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Formats bytes as lowercase hex.
pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_from_the_documented_json() {
        let cases = [
            (r#"{"cmd":"status"}"#, Request::Status),
            (r#"{"cmd":"neighbors"}"#, Request::Neighbors { peer: None }),
            (
                r#"{"cmd":"neighbors","peer":"10.0.0.2"}"#,
                Request::Neighbors {
                    peer: Some("10.0.0.2".parse().unwrap()),
                },
            ),
            (
                r#"{"cmd":"routes","dir":"received"}"#,
                Request::Routes {
                    dir: RouteDir::Received,
                    peer: None,
                    prefix: None,
                },
            ),
            (
                r#"{"cmd":"routes","dir":"advertised","peer":"::1"}"#,
                Request::Routes {
                    dir: RouteDir::Advertised,
                    peer: Some("::1".parse().unwrap()),
                    prefix: None,
                },
            ),
            (
                r#"{"cmd":"routes","dir":"loc-rib","prefix":"10.0.0.0/24"}"#,
                Request::Routes {
                    dir: RouteDir::LocRib,
                    peer: None,
                    prefix: Some("10.0.0.0/24".parse().unwrap()),
                },
            ),
            (r#"{"cmd":"fib"}"#, Request::Fib { prefix: None }),
            (
                r#"{"cmd":"announce","prefix":"10.9.0.0/24"}"#,
                Request::Announce {
                    prefix: "10.9.0.0/24".parse().unwrap(),
                },
            ),
            (
                r#"{"cmd":"reset","peer":"10.0.0.2","communication":"maintenance"}"#,
                Request::Reset {
                    peer: "10.0.0.2".parse().unwrap(),
                    communication: Some("maintenance".into()),
                },
            ),
            (
                r#"{"cmd":"disable","peer":"10.0.0.2"}"#,
                Request::Disable {
                    peer: "10.0.0.2".parse().unwrap(),
                    communication: None,
                },
            ),
            (
                r#"{"cmd":"enable","peer":"10.0.0.2"}"#,
                Request::Enable {
                    peer: "10.0.0.2".parse().unwrap(),
                },
            ),
            (r#"{"cmd":"reload"}"#, Request::Reload),
        ];
        for (json, want) in cases {
            let got: Request = serde_json::from_str(json).unwrap();
            assert_eq!(got, want);
            let back: Request =
                serde_json::from_str(&serde_json::to_string(&got).unwrap()).unwrap();
            assert_eq!(back, want);
        }
        for bad in [
            r#"{"cmd":"nope"}"#,
            r#"{"cmd":"routes"}"#,
            r#"{"cmd":"neighbors","x":1}"#,
            "[]",
        ] {
            assert!(serde_json::from_str::<Request>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_response_shape() {
        let json = serde_json::to_string(&Response::error("nope")).unwrap();
        assert_eq!(json, r#"{"ok":false,"error":"nope"}"#);
        assert_eq!(
            serde_json::to_string(&Response::ok()).unwrap(),
            r#"{"ok":true}"#
        );
    }

    #[test]
    fn neighbor_status_round_trips_with_kebab_keys() {
        let n = NeighborStatus {
            address: "127.0.0.2".parse().unwrap(),
            description: None,
            remote_as: RemoteAs::Internal,
            peer_as: Some(Asn(65001)),
            peer_id: None,
            peer_hostname: None,
            state: State::OpenConfirm,
            state_secs: 1.5,
            established_secs: None,
            established_transitions: 0,
            connect_retry_counter: 2,
            connection: None,
            hold_time: Some(9),
            keepalive_secs: Some(3),
            capabilities: None,
            messages: MessageStats::default(),
            prefixes: PrefixCounts::default(),
            last_notification_received: None,
            last_notification_sent: None,
            last_error: None,
            listen_range: None,
            graceful_restart_helper: None,
        };
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["state"], "open-confirm");
        assert_eq!(json["remote-as"], "internal");
        assert_eq!(json["connect-retry-counter"], 2);
        assert_eq!(json["messages"]["received"]["route-refresh"], 0);
        let back: NeighborStatus = serde_json::from_value(json).unwrap();
        assert_eq!(back, n);
    }
}
