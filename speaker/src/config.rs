//! Speaker configuration: one YAML file, typed, with unknown fields rejected.
//!
//! The harness renders configurations by building a [`Config`] value and serialising it with
//! [`Config::to_yaml`], so this type is a stable public contract: fields are only added (with
//! defaults), never renamed.
//!
//! ```yaml
//! router-id: 10.0.0.1            # BGP Identifier (RFC 4271 §4.2)
//! local-as: 65001
//! listen:
//!   address: 0.0.0.0             # "::" listens dual-stack
//!   port: 179
//! hostname: leaf1                # FQDN capability (defaults to the system host name)
//! graceful-restart:              # RFC 4724 (helper and restarting roles)
//!   enabled: true
//!   restart-time: 120            # advertised: how long peers keep our routes after a reset
//!   restarting: auto             # R bit: auto (our kernel routes survived), true (as bird -R), false
//!   preserve-forwarding: false   # true forces F=1; otherwise F=1 when our kernel routes survived
//!   notification: false          # RFC 8538 N bit: NOTIFICATIONs (but Hard Reset) keep routes too
//!   stale-path-time: 360         # helper: most wait for End-of-RIB after the peer is back
//!   selection-deferral-time: 120 # restarting: most wait for peers' End-of-RIB (RFC 4724 §4.1)
//!   long-lived-stale-time: 0     # RFC 9494 LLGR: seconds routes stay LLGR_STALE (0: off)
//! neighbors:
//!   - address: 10.0.1.0
//!     remote-as: 65100           # or "internal" / "external"
//!     description: spine1
//!     address-families: [ipv4-unicast, ipv6-unicast]
//!     hold-time: 9               # 0 or >= 3 seconds
//!     keepalive: 3               # optional; default hold-time / 3
//!     connect-retry: 5
//!     idle-hold-time: 1          # wait after an error before restarting
//!     passive: false
//!     port: 179                  # peer's TCP port
//!     local-address: 10.0.1.1    # source address for outbound connections (optional)
//!     next-hop-self: false       # false|off, true|all (also reflected routes), non-reflected
//!     route-reflector-client: false
//!     import-policy: accept-all  # accept-all | reject-all | originated-only | default-only
//!     export-policy: accept-all  #   | a name from `policies:`
//!     default-originate: false
//!     allowas-in: 0
//!     mrai: 0                    # MinRouteAdvertisementInterval, seconds (RFC 4271 §9.2.1.1)
//! listen-ranges:                 # dynamic neighbors: accept sessions from any address inside
//!   - prefix: 10.0.2.0/24
//!     remote-as: external        # a number, internal or external
//!     limit: 100                 # most dynamic peers at once from this range
//!     hold-time: 9               # ...and every routing/timer setting of a neighbor
//!     export-policy: accept-all
//! prefixes: [10.1.0.0/24, "2001:db8:1::/64"]   # originated, each with a local blackhole
//! blackhole-prefixes: true       # false: announce `prefixes` without the blackhole
//! originate:                     # originated routes with per-route settings
//!   - prefix: 10.9.0.0/24
//!     blackhole: false           # default: blackhole-prefixes
//!     communities: ["65000:1"]
//!     large-communities: ["65000:1:2"]
//!     med: 10
//! max-paths: 8                   # ECMP width; 1 turns multipath off
//! multipath-relax: false         # ECMP across different neighbour ASes (equal AS_PATH length)
//! cluster-id: 10.0.0.1           # RFC 4456 CLUSTER_ID; default the router id
//! ebgp-requires-policy: false    # RFC 8212: eBGP without a policy exchanges nothing
//! kernel:                        # the kernel FIB
//!   enabled: true                # install Loc-RIB routes (false: the RIB only)
//!   protocol: 201                # route protocol number of our routes (purged at start)
//!   table: 254                   # main
//!   metric: 20
//! policies:                      # named import/export policies (see `crate::policy`)
//!   pods:
//!     statements:
//!       - conditions: [{prefix-list: [{prefix: 10.64.0.0/16, ge: 26, le: 32}]}]
//!         action: accept
//!         set: [{add-communities: ["65000:7"]}]
//!       - conditions: [{community-any: ["65000:666"]}]
//!         action: reject
//!     default-action: reject
//! control-socket: /run/fabric-speaker/10.0.0.1.sock
//! log-format: text               # text | json (to stderr)
//! log-level: info                # a tracing EnvFilter directive
//! ```
//!
//! Defaults chosen for the fabric designs, each a deliberate choice:
//!
//! * **Blackholes**: every `prefixes` entry is a Calico block: exported once as the aggregate and
//!   blackholed locally, so addresses of the block without a local pod are dropped here instead
//!   of bouncing back to the fabric (calico-designs.md §1.3, invariant 4). The blackhole has our
//!   protocol and metric, so a more specific pod route or a connected route still wins. Use
//!   `blackhole-prefixes: false` or an `originate:` entry with `blackhole: false` to announce
//!   only (a service CIDR).
//! * **RFC 8212** is off by default (`ebgp-requires-policy: false`): a neighbor without a policy
//!   accepts and sends everything BGP's rules allow, as BIRD's `import all; export all` in the
//!   designs. Turn it on to get FRR's default behaviour (nothing exchanged over eBGP until a
//!   policy is configured).
//! * **ECMP**: `max-paths: 8`, without relax (FRR `maximum-paths 8`); the harness renders the
//!   plan's value.
//! * **Kernel**: routes go to the main table with protocol 201 and metric 20, replaced in place;
//!   they stay in the kernel when the speaker stops (BIRD's `persist`), and every route of ours
//!   left by a previous run is removed at the next start. Next hops resolve through connected
//!   networks and through the kernel's other routes (static routes; never the default route),
//!   and the installed route uses the resolving route's gateways.
//! * **Dynamic neighbors** (`listen-ranges`): passive peers created on an accepted connection,
//!   removed when the session closes; a configured neighbor always wins over a range.
//!
//! Errors name the file and the field: parse errors carry serde-saphyr's location and field
//! message; semantic errors found by [`Config::validate`] name the field path, e.g.
//! `neighbors[1].hold-time`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fabric_bgp_wire::{AfiSafi, Asn, RouterId};
use ipnet::IpNet;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::fsm::SessionConfig;
use crate::policy::{Policy, PolicyBook};
use crate::rib::attrs::{Community, LargeCommunity};
use crate::rib::origin::{LocalRoute, LocalRouteKind};
pub use crate::rib::peer::NextHopSelf;

/// Default BGP port (RFC 4271 §8.2.1).
pub const DEFAULT_PORT: u16 = 179;
/// Default hold time in seconds (RFC 4271 §10 suggests 90).
pub const DEFAULT_HOLD_TIME: u16 = 90;
/// Default ConnectRetryTime in seconds (shorter than RFC 4271's 120 s: fabrics want fast recovery).
pub const DEFAULT_CONNECT_RETRY: u16 = 5;
/// Default wait in Idle after an error before restarting, seconds.
pub const DEFAULT_IDLE_HOLD: u16 = 1;
/// Default graceful restart time, seconds.
pub const DEFAULT_RESTART_TIME: u16 = 120;
/// Largest restart time that fits the 12-bit field (RFC 4724 §3).
pub const MAX_RESTART_TIME: u16 = 4095;
/// Default stale-path time (helper), seconds (FRR's default).
pub const DEFAULT_STALE_PATH_TIME: u16 = 360;
/// Default selection deferral time (restarting speaker), seconds (FRR's default).
pub const DEFAULT_SELECTION_DEFERRAL_TIME: u16 = 120;
/// Largest long-lived stale time: a 24-bit field (RFC 9494 §3).
pub const MAX_LONG_LIVED_STALE_TIME: u32 = 0x00FF_FFFF;
/// Default ECMP width.
pub const DEFAULT_MAX_PATHS: u8 = 8;
/// Default limit of dynamic peers per listen range (FRR `bgp listen limit`).
pub const DEFAULT_LISTEN_LIMIT: u32 = 100;
/// Directory of the default control socket.
pub const DEFAULT_SOCKET_DIR: &str = "/run/fabric-speaker";

// ===== Top level =====

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Our BGP Identifier.
    pub router_id: RouterId,
    /// Our AS (4-octet capable, RFC 6793).
    pub local_as: Asn,
    /// Where to accept BGP connections.
    #[serde(default)]
    pub listen: Listen,
    /// Host name for the FQDN capability; defaults to the system host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Domain name for the FQDN capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    /// Graceful restart capability settings.
    #[serde(default)]
    pub graceful_restart: GracefulRestart,
    /// Configured peers.
    #[serde(default)]
    pub neighbors: Vec<Neighbor>,
    /// Dynamic neighbors: sessions accepted from any address inside a range.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen_ranges: Vec<ListenRange>,
    /// Prefixes this speaker originates (blackholed locally unless `blackhole-prefixes` is
    /// false).
    #[serde(default)]
    pub prefixes: Vec<IpNet>,
    /// Whether `prefixes` get a local blackhole route (Calico blocks; default true).
    #[serde(default = "default_true")]
    pub blackhole_prefixes: bool,
    /// Originated routes with per-route settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub originate: Vec<Originate>,
    /// ECMP width: how many equal paths are used and installed (1: no multipath).
    #[serde(default = "default_max_paths")]
    pub max_paths: u8,
    /// Multipath across paths from different neighbour ASes with equal AS_PATH length (FRR
    /// `bestpath as-path multipath-relax`).
    #[serde(default)]
    pub multipath_relax: bool,
    /// CLUSTER_ID when reflecting routes (RFC 4456 §7); default the router id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<Ipv4Addr>,
    /// RFC 8212: eBGP sessions without an import (export) policy import (export) nothing.
    #[serde(default)]
    pub ebgp_requires_policy: bool,
    /// Kernel FIB settings.
    #[serde(default)]
    pub kernel: Kernel,
    /// Named policies, referenced by `import-policy` / `export-policy`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<String, Policy>,
    /// Control socket path; default `/run/fabric-speaker/<router-id>.sock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_socket: Option<PathBuf>,
    /// Log line format.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Log filter (tracing `EnvFilter` syntax); `RUST_LOG` overrides it.
    #[serde(default = "default_log_level")]
    pub log_level: String,
}

/// The listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Listen {
    /// Address to bind; `0.0.0.0` (default) or `::` for all.
    #[serde(default = "default_listen_address")]
    pub address: IpAddr,
    /// TCP port (default 179; tests use a high port).
    #[serde(default = "default_port")]
    pub port: u16,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            address: default_listen_address(),
            port: DEFAULT_PORT,
        }
    }
}

/// Graceful restart (RFC 4724), its notification extension (RFC 8538) and long-lived graceful
/// restart (RFC 9494): the capability and both roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GracefulRestart {
    /// Advertise the capability and act as helper and restarting speaker.
    #[serde(default)]
    pub enabled: bool,
    /// Restart Time in seconds (12 bits, at most 4095): how long peers retain our routes.
    #[serde(default = "default_restart_time")]
    pub restart_time: u16,
    /// Whether this process start is a graceful restart (the R bit, RFC 4724 §3/§4.1).
    #[serde(default)]
    pub restarting: RestartMode,
    /// Force the Forwarding State (F) bit for every advertised family. Without it F is set only
    /// when our kernel routes survived the restart (RFC 4724 §4.1).
    #[serde(default)]
    pub preserve_forwarding: bool,
    /// Notification (N) bit of RFC 8538: when both sides set it, a NOTIFICATION other than
    /// Cease/Hard Reset and a hold timer expiry keep routes like a TCP failure does.
    #[serde(default)]
    pub notification: bool,
    /// Helper: how long, after the restarted peer is back, its stale routes may wait for its
    /// End-of-RIB before they are deleted (FRR `stalepath-time`, default 360 s).
    #[serde(default = "default_stale_path_time")]
    pub stale_path_time: u16,
    /// Restarting speaker: the Selection_Deferral_Timer, the most best-path selection waits for
    /// End-of-RIB from its peers (RFC 4724 §4.1; FRR `select-defer-time`, default 120 s).
    #[serde(default = "default_selection_deferral_time")]
    pub selection_deferral_time: u16,
    /// Long-lived stale time in seconds advertised per family (RFC 9494 §3, 24 bits); 0 turns
    /// LLGR off (no capability 71 sent, stale routes are not kept beyond the restart time).
    #[serde(default)]
    pub long_lived_stale_time: u32,
}

impl Default for GracefulRestart {
    fn default() -> Self {
        GracefulRestart {
            enabled: false,
            restart_time: DEFAULT_RESTART_TIME,
            restarting: RestartMode::default(),
            preserve_forwarding: false,
            notification: false,
            stale_path_time: DEFAULT_STALE_PATH_TIME,
            selection_deferral_time: DEFAULT_SELECTION_DEFERRAL_TIME,
            long_lived_stale_time: 0,
        }
    }
}

/// Whether a start of the speaker is a graceful restart (sets R=1, keeps its kernel routes,
/// defers selection). Written `auto`, `true` or `false` in YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartMode {
    /// A restart when routes of our kernel protocol survived from a previous instance.
    #[default]
    Auto,
    /// Every start is a restart (as `bird -R`, which calico-node uses).
    Always,
    /// Never a restart.
    Never,
}

impl Serialize for RestartMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RestartMode::Auto => s.serialize_str("auto"),
            RestartMode::Always => s.serialize_bool(true),
            RestartMode::Never => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for RestartMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RestartMode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("auto, true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RestartMode, E> {
                Ok(if v {
                    RestartMode::Always
                } else {
                    RestartMode::Never
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RestartMode, E> {
                match v {
                    "auto" => Ok(RestartMode::Auto),
                    "true" => Ok(RestartMode::Always),
                    "false" => Ok(RestartMode::Never),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The kernel forwarding table the speaker programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Kernel {
    /// Install the Loc-RIB in the kernel (false: compute routes, install nothing).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Route protocol number of our routes; routes with it are ours and purged at start.
    #[serde(default = "default_protocol")]
    pub protocol: u8,
    /// Routing table (254 = main).
    #[serde(default = "default_table")]
    pub table: u32,
    /// Route metric (priority).
    #[serde(default = "default_metric")]
    pub metric: u32,
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel {
            enabled: true,
            protocol: default_protocol(),
            table: default_table(),
            metric: default_metric(),
        }
    }
}

impl Kernel {
    /// Kernel routes off (tests on loopback in the host namespace, dry runs).
    pub fn disabled() -> Self {
        Kernel {
            enabled: false,
            ..Kernel::default()
        }
    }
}

/// An originated route with its own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Originate {
    /// The prefix.
    pub prefix: IpNet,
    /// Install a local blackhole for it; default `blackhole-prefixes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blackhole: Option<bool>,
    /// Communities to attach (`asn:value`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<Community>,
    /// Large communities to attach (`global:local1:local2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub large_communities: Vec<LargeCommunity>,
    /// MULTI_EXIT_DISC to attach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub med: Option<u32>,
}

/// A range of addresses from which sessions are accepted without a configured neighbor
/// (dynamic neighbors, FRR `bgp listen range`). A peer is created when a connection from the
/// range is accepted, with the settings below, and removed when its session closes. It never
/// dials (passive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ListenRange {
    /// Addresses accepted.
    pub prefix: IpNet,
    /// The AS peers must announce, or `internal` / `external`.
    pub remote_as: RemoteAs,
    /// Most dynamic peers from this range at once; further connections are refused.
    #[serde(default = "default_listen_limit")]
    pub limit: u32,
    /// Free text shown by the control socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Address families to negotiate.
    #[serde(default = "default_families")]
    pub address_families: Vec<AddressFamily>,
    /// Hold time we propose, seconds.
    #[serde(default = "default_hold_time")]
    pub hold_time: u16,
    /// Keepalive interval, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<u16>,
    /// Next hop self towards these peers.
    #[serde(
        default,
        deserialize_with = "next_hop_self_de",
        serialize_with = "next_hop_self_ser"
    )]
    pub next_hop_self: NextHopSelf,
    /// The peers are route-reflector clients.
    #[serde(default)]
    pub route_reflector_client: bool,
    /// Import policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_policy: Option<PolicyRef>,
    /// Export policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_policy: Option<PolicyRef>,
    /// Send a default route.
    #[serde(default)]
    pub default_originate: bool,
    /// allowas-in.
    #[serde(default)]
    pub allowas_in: u8,
    /// MinRouteAdvertisementInterval, seconds.
    #[serde(default)]
    pub mrai: u16,
}

impl ListenRange {
    /// A range with every optional setting at its default.
    pub fn new(prefix: IpNet, remote_as: RemoteAs) -> Self {
        ListenRange {
            prefix,
            remote_as,
            limit: DEFAULT_LISTEN_LIMIT,
            description: None,
            address_families: default_families(),
            hold_time: DEFAULT_HOLD_TIME,
            keepalive: None,
            next_hop_self: NextHopSelf::Off,
            route_reflector_client: false,
            import_policy: None,
            export_policy: None,
            default_originate: false,
            allowas_in: 0,
            mrai: 0,
        }
    }

    /// The neighbor a connection from `address` gets: this range's settings, passive.
    pub fn neighbor(&self, address: IpAddr) -> Neighbor {
        let mut n = Neighbor::new(address, self.remote_as);
        n.description = Some(
            self.description
                .clone()
                .unwrap_or_else(|| format!("dynamic ({})", self.prefix)),
        );
        n.address_families = self.address_families.clone();
        n.hold_time = self.hold_time;
        n.keepalive = self.keepalive;
        n.passive = true;
        n.next_hop_self = self.next_hop_self;
        n.route_reflector_client = self.route_reflector_client;
        n.import_policy = self.import_policy.clone();
        n.export_policy = self.export_policy.clone();
        n.default_originate = self.default_originate;
        n.allowas_in = self.allowas_in;
        n.mrai = self.mrai;
        n
    }
}

/// Log line format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

// ===== Neighbors =====

/// One configured peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Neighbor {
    /// Peer address (the session's remote address).
    pub address: IpAddr,
    /// The AS the peer must announce, or `internal` / `external`.
    pub remote_as: RemoteAs,
    /// Free text shown by the control socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Address families to negotiate (Multiprotocol capability, RFC 4760).
    #[serde(default = "default_families")]
    pub address_families: Vec<AddressFamily>,
    /// Hold time we propose, seconds: 0 (no keepalives) or at least 3.
    #[serde(default = "default_hold_time")]
    pub hold_time: u16,
    /// Keepalive interval, seconds; default a third of the negotiated hold time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<u16>,
    /// ConnectRetryTime, seconds.
    #[serde(default = "default_connect_retry")]
    pub connect_retry: u16,
    /// Wait in Idle after an error before restarting, seconds.
    #[serde(default = "default_idle_hold")]
    pub idle_hold_time: u16,
    /// Never dial; only accept the peer's connection.
    #[serde(default)]
    pub passive: bool,
    /// The peer's TCP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Source address for outbound connections; default: the listen address when it is not a
    /// wildcard of the same family, otherwise chosen by the kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<IpAddr>,
    /// Routing: set NEXT_HOP to our address on routes sent to this internal peer: `false` /
    /// `off`, `true` / `all` (reflected routes too, FRR `next-hop-self force`), or
    /// `non-reflected` (FRR `next-hop-self`). Towards eBGP the next hop is always ours.
    #[serde(
        default,
        deserialize_with = "next_hop_self_de",
        serialize_with = "next_hop_self_ser"
    )]
    pub next_hop_self: NextHopSelf,
    /// Routing: the peer is a route-reflector client (RFC 4456; consumed by the RIB).
    #[serde(default)]
    pub route_reflector_client: bool,
    /// Routing: policy applied to routes received (RFC 8212 default: none means reject for eBGP,
    /// enforced by the RIB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_policy: Option<PolicyRef>,
    /// Routing: policy applied to routes sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_policy: Option<PolicyRef>,
    /// Routing: send a default route to this peer.
    #[serde(default)]
    pub default_originate: bool,
    /// Routing: accept routes whose AS_PATH contains our AS up to this many times (0: off).
    #[serde(default)]
    pub allowas_in: u8,
    /// Routing: MinRouteAdvertisementInterval in seconds (RFC 4271 §9.2.1.1); 0 sends at once.
    #[serde(default)]
    pub mrai: u16,
}

impl Neighbor {
    /// A neighbor with every optional setting at its default.
    pub fn new(address: IpAddr, remote_as: RemoteAs) -> Self {
        Neighbor {
            address,
            remote_as,
            description: None,
            address_families: default_families(),
            hold_time: DEFAULT_HOLD_TIME,
            keepalive: None,
            connect_retry: DEFAULT_CONNECT_RETRY,
            idle_hold_time: DEFAULT_IDLE_HOLD,
            passive: false,
            port: DEFAULT_PORT,
            local_address: None,
            next_hop_self: NextHopSelf::Off,
            route_reflector_client: false,
            import_policy: None,
            export_policy: None,
            default_originate: false,
            allowas_in: 0,
            mrai: 0,
        }
    }

    /// Whether the peer is internal (same AS), as far as the configuration tells.
    pub fn is_internal(&self, local_as: Asn) -> bool {
        match self.remote_as {
            RemoteAs::Asn(a) => a == local_as,
            RemoteAs::Internal => true,
            RemoteAs::External => false,
        }
    }

    /// The FSM settings for this neighbor.
    pub fn session_config(&self, config: &Config, jitter_seed: u64) -> SessionConfig {
        SessionConfig {
            local_as: config.local_as,
            local_id: config.router_id,
            remote_as: self.remote_as,
            hold_time: self.hold_time,
            keepalive: self.keepalive,
            connect_retry: Duration::from_secs(u64::from(self.connect_retry)),
            idle_hold: Duration::from_secs(u64::from(self.idle_hold_time)),
            passive: self.passive,
            jitter_seed,
        }
    }

    /// The families as (AFI, SAFI) pairs, without duplicates, in configuration order.
    pub fn afi_safis(&self) -> Vec<AfiSafi> {
        let mut out: Vec<AfiSafi> = Vec::new();
        for af in &self.address_families {
            let a = af.afi_safi();
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }
}

/// The AS a neighbor must announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemoteAs {
    /// Exactly this AS.
    Asn(Asn),
    /// Our own AS (iBGP).
    Internal,
    /// Any AS but ours (eBGP).
    External,
}

impl RemoteAs {
    /// Whether an OPEN announcing `peer_as` is acceptable (RFC 4271 §6.2 Bad Peer AS otherwise).
    pub fn accepts(self, local_as: Asn, peer_as: Asn) -> bool {
        match self {
            RemoteAs::Asn(a) => a == peer_as,
            RemoteAs::Internal => peer_as == local_as,
            RemoteAs::External => peer_as != local_as,
        }
    }
}

impl fmt::Display for RemoteAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteAs::Asn(a) => write!(f, "{a}"),
            RemoteAs::Internal => f.write_str("internal"),
            RemoteAs::External => f.write_str("external"),
        }
    }
}

impl Serialize for RemoteAs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RemoteAs::Asn(a) => s.serialize_u32(a.0),
            RemoteAs::Internal => s.serialize_str("internal"),
            RemoteAs::External => s.serialize_str("external"),
        }
    }
}

impl<'de> Deserialize<'de> for RemoteAs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RemoteAs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AS number (1-4294967295), \"internal\" or \"external\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RemoteAs, E> {
                u32::try_from(v)
                    .map(|a| RemoteAs::Asn(Asn(a)))
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RemoteAs, E> {
                u64::try_from(v)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RemoteAs, E> {
                match v {
                    "internal" => Ok(RemoteAs::Internal),
                    "external" => Ok(RemoteAs::External),
                    other => other
                        .parse::<u32>()
                        .map(|a| RemoteAs::Asn(Asn(a)))
                        .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// An address family the speaker supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressFamily {
    /// IPv4 unicast (AFI 1, SAFI 1).
    Ipv4Unicast,
    /// IPv6 unicast (AFI 2, SAFI 1).
    Ipv6Unicast,
}

impl AddressFamily {
    /// The (AFI, SAFI) pair.
    pub fn afi_safi(self) -> AfiSafi {
        match self {
            AddressFamily::Ipv4Unicast => AfiSafi::IPV4_UNICAST,
            AddressFamily::Ipv6Unicast => AfiSafi::IPV6_UNICAST,
        }
    }

    /// The family of a prefix.
    pub fn of(prefix: &IpNet) -> Self {
        match prefix {
            IpNet::V4(_) => AddressFamily::Ipv4Unicast,
            IpNet::V6(_) => AddressFamily::Ipv6Unicast,
        }
    }
}

/// A reference to a routing policy; the policies themselves belong to the RIB/policy module.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PolicyRef {
    /// Accept (or send) every route.
    AcceptAll,
    /// Reject every route.
    RejectAll,
    /// A named policy defined elsewhere.
    Named(String),
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyRef::AcceptAll => f.write_str("accept-all"),
            PolicyRef::RejectAll => f.write_str("reject-all"),
            PolicyRef::Named(n) => f.write_str(n),
        }
    }
}

impl Serialize for PolicyRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PolicyRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "accept-all" => PolicyRef::AcceptAll,
            "reject-all" => PolicyRef::RejectAll,
            _ => PolicyRef::Named(s),
        })
    }
}

// ===== Loading =====

/// A configuration that could not be loaded; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML does not match the schema (the message carries line, column and field).
    #[error("failed to parse config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// serde-saphyr's message.
        message: String,
    },
    /// A value is well-typed but not acceptable.
    #[error("invalid config file {path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Field path, e.g. `neighbors[1].hold-time`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The configuration could not be serialised.
    #[error("failed to serialise config: {0}")]
    Serialize(String),
}

impl Config {
    /// A minimal configuration: no neighbors, no prefixes, defaults elsewhere.
    pub fn new(router_id: RouterId, local_as: Asn) -> Self {
        Config {
            router_id,
            local_as,
            listen: Listen::default(),
            hostname: None,
            domain_name: None,
            graceful_restart: GracefulRestart::default(),
            neighbors: Vec::new(),
            listen_ranges: Vec::new(),
            prefixes: Vec::new(),
            blackhole_prefixes: true,
            originate: Vec::new(),
            max_paths: DEFAULT_MAX_PATHS,
            multipath_relax: false,
            cluster_id: None,
            ebgp_requires_policy: false,
            kernel: Kernel::default(),
            policies: BTreeMap::new(),
            control_socket: None,
            log_format: LogFormat::Text,
            log_level: default_log_level(),
        }
    }

    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates YAML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Serialises to YAML that [`Config::parse`] reads back to an equal value.
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        serde_saphyr::to_string(self).map_err(|e| ConfigError::Serialize(e.to_string()))
    }

    /// The control socket path: configured, or `/run/fabric-speaker/<router-id>.sock`.
    pub fn control_socket_path(&self) -> PathBuf {
        self.control_socket.clone().unwrap_or_else(|| {
            Path::new(DEFAULT_SOCKET_DIR).join(format!("{}.sock", self.router_id))
        })
    }

    /// The neighbor with this address.
    pub fn neighbor(&self, address: IpAddr) -> Option<&Neighbor> {
        self.neighbors.iter().find(|n| n.address == address)
    }

    /// The named policies (with the built-ins behind them).
    pub fn policy_book(&self) -> PolicyBook {
        PolicyBook {
            policies: self.policies.clone(),
        }
    }

    /// Every originated route: `prefixes` (blackholed per `blackhole-prefixes`) and then
    /// `originate` entries (which win for a prefix listed in both), one per prefix, in prefix
    /// order.
    pub fn originated_routes(&self) -> Vec<LocalRoute> {
        let mut out: BTreeMap<IpNet, LocalRoute> = BTreeMap::new();
        let kind = |blackhole: bool| {
            if blackhole {
                LocalRouteKind::Blackhole
            } else {
                LocalRouteKind::Announce
            }
        };
        for p in &self.prefixes {
            let mut r = LocalRoute::announce(*p);
            r.kind = kind(self.blackhole_prefixes);
            out.insert(r.prefix, r);
        }
        for o in &self.originate {
            let mut r = LocalRoute::announce(o.prefix);
            r.kind = kind(o.blackhole.unwrap_or(self.blackhole_prefixes));
            r.communities = o.communities.clone();
            r.large_communities = o.large_communities.clone();
            r.med = o.med;
            out.insert(r.prefix, r);
        }
        out.into_values().collect()
    }

    /// The listen range a connection from `address` falls in (the longest match).
    pub fn listen_range(&self, address: IpAddr) -> Option<&ListenRange> {
        self.listen_ranges
            .iter()
            .filter(|r| r.prefix.contains(&address))
            .max_by_key(|r| r.prefix.prefix_len())
    }

    /// Checks what the types cannot express; errors name the field.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: String, message: &str| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message: message.to_owned(),
        };
        if self.router_id.0 == Ipv4Addr::UNSPECIFIED {
            return Err(invalid(
                "router-id".into(),
                "must not be 0.0.0.0 (RFC 6286 §2.1)",
            ));
        }
        if self.local_as.0 == 0 {
            return Err(invalid("local-as".into(), "AS 0 is reserved (RFC 7607)"));
        }
        if self.graceful_restart.restart_time > MAX_RESTART_TIME {
            return Err(invalid(
                "graceful-restart.restart-time".into(),
                "must be at most 4095 seconds (12-bit field, RFC 4724 §3)",
            ));
        }
        if self.graceful_restart.long_lived_stale_time > MAX_LONG_LIVED_STALE_TIME {
            return Err(invalid(
                "graceful-restart.long-lived-stale-time".into(),
                "must be at most 16777215 seconds (24-bit field, RFC 9494 §3)",
            ));
        }
        // The FQDN capability value is 1 + host + 1 + domain octets, and at most 255.
        let fqdn_len = self.hostname.as_ref().map_or(0, String::len)
            + self.domain_name.as_ref().map_or(0, String::len);
        if fqdn_len > 253 {
            return Err(invalid(
                "hostname".into(),
                "hostname and domain-name together must be at most 253 octets",
            ));
        }
        let mut seen = HashSet::new();
        for (i, n) in self.neighbors.iter().enumerate() {
            let at = |field: &str| format!("neighbors[{i}].{field}");
            if !seen.insert(n.address) {
                return Err(invalid(at("address"), "duplicate neighbor address"));
            }
            if n.address.is_unspecified() || n.address.is_multicast() {
                return Err(invalid(at("address"), "must be a unicast address"));
            }
            if n.remote_as == RemoteAs::Asn(Asn(0)) {
                return Err(invalid(at("remote-as"), "AS 0 is reserved (RFC 7607)"));
            }
            if n.hold_time == 1 || n.hold_time == 2 {
                return Err(invalid(
                    at("hold-time"),
                    "must be 0 or at least 3 (RFC 4271 §4.2)",
                ));
            }
            if n.keepalive == Some(0) && n.hold_time != 0 {
                return Err(invalid(
                    at("keepalive"),
                    "must be at least 1 when hold-time is not 0",
                ));
            }
            if n.connect_retry == 0 {
                return Err(invalid(at("connect-retry"), "must be at least 1"));
            }
            if n.address_families.is_empty() {
                return Err(invalid(
                    at("address-families"),
                    "must list at least one family",
                ));
            }
            if n.port == 0 {
                return Err(invalid(at("port"), "must not be 0"));
            }
        }
        for (i, p) in self.prefixes.iter().enumerate() {
            if p.trunc() != *p {
                return Err(invalid(
                    format!("prefixes[{i}]"),
                    &format!("host bits set; did you mean {}?", p.trunc()),
                ));
            }
        }
        for (i, o) in self.originate.iter().enumerate() {
            if o.prefix.trunc() != o.prefix {
                return Err(invalid(
                    format!("originate[{i}].prefix"),
                    &format!("host bits set; did you mean {}?", o.prefix.trunc()),
                ));
            }
        }
        if self.listen.port == 0 {
            return Err(invalid("listen.port".into(), "must not be 0"));
        }
        if self.max_paths == 0 {
            return Err(invalid(
                "max-paths".into(),
                "must be at least 1 (1 turns multipath off)",
            ));
        }
        if self.cluster_id == Some(Ipv4Addr::UNSPECIFIED) {
            return Err(invalid(
                "cluster-id".into(),
                "must not be 0.0.0.0 (RFC 4456 §7)",
            ));
        }
        for (i, r) in self.listen_ranges.iter().enumerate() {
            let at = |field: &str| format!("listen-ranges[{i}].{field}");
            if r.prefix.trunc() != r.prefix {
                return Err(invalid(
                    at("prefix"),
                    &format!("host bits set; did you mean {}?", r.prefix.trunc()),
                ));
            }
            if r.remote_as == RemoteAs::Asn(Asn(0)) {
                return Err(invalid(at("remote-as"), "AS 0 is reserved (RFC 7607)"));
            }
            if r.hold_time == 1 || r.hold_time == 2 {
                return Err(invalid(
                    at("hold-time"),
                    "must be 0 or at least 3 (RFC 4271 §4.2)",
                ));
            }
            if r.address_families.is_empty() {
                return Err(invalid(
                    at("address-families"),
                    "must list at least one family",
                ));
            }
            if r.limit == 0 {
                return Err(invalid(at("limit"), "must be at least 1"));
            }
        }
        // Policy names must resolve: a typo would otherwise silently reject everything.
        let book = self.policy_book();
        let unknown = |r: &Option<PolicyRef>| match r {
            Some(PolicyRef::Named(n)) if book.get(n).is_none() => Some(n.clone()),
            _ => None,
        };
        let refs = self
            .neighbors
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    format!("neighbors[{i}]"),
                    &n.import_policy,
                    &n.export_policy,
                )
            })
            .chain(self.listen_ranges.iter().enumerate().map(|(i, r)| {
                (
                    format!("listen-ranges[{i}]"),
                    &r.import_policy,
                    &r.export_policy,
                )
            }));
        for (at, import, export) in refs {
            for (field, r) in [("import-policy", import), ("export-policy", export)] {
                if let Some(n) = unknown(r) {
                    return Err(invalid(
                        format!("{at}.{field}"),
                        &format!(
                            "no policy named {n:?} in `policies` (built-ins: accept-all, reject-all, originated-only, default-only)"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn default_listen_address() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}
fn default_port() -> u16 {
    DEFAULT_PORT
}
fn default_hold_time() -> u16 {
    DEFAULT_HOLD_TIME
}
fn default_connect_retry() -> u16 {
    DEFAULT_CONNECT_RETRY
}
fn default_idle_hold() -> u16 {
    DEFAULT_IDLE_HOLD
}
fn default_restart_time() -> u16 {
    DEFAULT_RESTART_TIME
}
fn default_stale_path_time() -> u16 {
    DEFAULT_STALE_PATH_TIME
}
fn default_selection_deferral_time() -> u16 {
    DEFAULT_SELECTION_DEFERRAL_TIME
}
fn default_families() -> Vec<AddressFamily> {
    vec![AddressFamily::Ipv4Unicast]
}
fn default_log_level() -> String {
    "info".to_owned()
}
fn default_true() -> bool {
    true
}
fn default_max_paths() -> u8 {
    DEFAULT_MAX_PATHS
}
fn default_listen_limit() -> u32 {
    DEFAULT_LISTEN_LIMIT
}
fn default_protocol() -> u8 {
    crate::fib::RTPROT_FABRIC
}
fn default_table() -> u32 {
    254
}
fn default_metric() -> u32 {
    crate::fib::DEFAULT_METRIC
}

/// `next-hop-self`: a boolean (the original form: `true` is `all`) or a mode name.
fn next_hop_self_de<'de, D: Deserializer<'de>>(d: D) -> Result<NextHopSelf, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = NextHopSelf;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("true, false, \"off\", \"all\" or \"non-reflected\"")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<NextHopSelf, E> {
            Ok(if v {
                NextHopSelf::All
            } else {
                NextHopSelf::Off
            })
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<NextHopSelf, E> {
            match v {
                "true" | "all" | "force" => Ok(NextHopSelf::All),
                "false" | "off" => Ok(NextHopSelf::Off),
                "non-reflected" => Ok(NextHopSelf::NonReflected),
                _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
            }
        }
    }
    d.deserialize_any(V)
}

fn next_hop_self_ser<S: Serializer>(v: &NextHopSelf, s: S) -> Result<S::Ok, S::Error> {
    match v {
        NextHopSelf::Off => s.serialize_bool(false),
        NextHopSelf::All => s.serialize_bool(true),
        NextHopSelf::NonReflected => s.serialize_str("non-reflected"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
router-id: 10.0.0.1
local-as: 65001
listen:
  address: 127.0.0.1
  port: 1179
hostname: leaf1
graceful-restart:
  enabled: true
  restart-time: 120
neighbors:
  - address: 127.0.0.2
    remote-as: 65002
    description: spine1
    address-families: [ipv4-unicast, ipv6-unicast]
    hold-time: 9
    keepalive: 3
    passive: true
    import-policy: accept-all
    export-policy: my-export
  - address: "2001:db8::2"
    remote-as: internal
    route-reflector-client: true
    allowas-in: 2
    next-hop-self: non-reflected
    mrai: 5
listen-ranges:
  - prefix: 10.0.2.0/24
    remote-as: external
    limit: 3
    hold-time: 9
    export-policy: my-export
    next-hop-self: true
prefixes: [10.1.0.0/24, "2001:db8:1::/64"]
originate:
  - prefix: 10.9.0.0/24
    blackhole: false
    communities: ["65000:1"]
    med: 7
max-paths: 4
multipath-relax: true
cluster-id: 10.0.0.9
ebgp-requires-policy: true
kernel:
  enabled: false
  metric: 30
policies:
  my-export:
    statements:
      - conditions: [{prefix-list: [{prefix: 10.0.0.0/8, le: 26}]}, {not: originated}]
        action: accept
        set: [{add-communities: ["65000:7"]}, {prepend: {asn: 65001, count: 2}}]
      - conditions: [default-route]
        action: accept
    default-action: reject
control-socket: /tmp/leaf1.sock
log-format: json
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.yaml"))
    }

    #[test]
    fn restarting_reads_auto_true_false_and_round_trips() {
        for (text, want) in [
            ("auto", RestartMode::Auto),
            ("true", RestartMode::Always),
            ("false", RestartMode::Never),
        ] {
            let yaml = format!(
                "router-id: 1.1.1.1\nlocal-as: 1\ngraceful-restart:\n  restarting: {text}\n"
            );
            let c = parse(&yaml).expect("parses");
            assert_eq!(c.graceful_restart.restarting, want, "{text}");
            let again = parse(&c.to_yaml().expect("renders")).expect("re-parses");
            assert_eq!(again.graceful_restart, c.graceful_restart, "{text}");
        }
        let c = parse("router-id: 1.1.1.1\nlocal-as: 1\n").expect("parses");
        assert_eq!(c.graceful_restart.restarting, RestartMode::Auto);
        assert_eq!(c.graceful_restart.stale_path_time, DEFAULT_STALE_PATH_TIME);
        assert_eq!(
            c.graceful_restart.selection_deferral_time,
            DEFAULT_SELECTION_DEFERRAL_TIME
        );
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn example_parses_with_types_and_defaults() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.router_id, RouterId(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(c.local_as, Asn(65001));
        assert_eq!(c.listen.port, 1179);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.neighbors.len(), 2);
        let n0 = &c.neighbors[0];
        assert_eq!(n0.remote_as, RemoteAs::Asn(Asn(65002)));
        assert_eq!(
            n0.afi_safis(),
            vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]
        );
        assert_eq!((n0.hold_time, n0.keepalive, n0.passive), (9, Some(3), true));
        assert_eq!(n0.import_policy, Some(PolicyRef::AcceptAll));
        assert_eq!(n0.export_policy, Some(PolicyRef::Named("my-export".into())));
        assert_eq!(n0.connect_retry, DEFAULT_CONNECT_RETRY);
        let n1 = &c.neighbors[1];
        assert_eq!(n1.remote_as, RemoteAs::Internal);
        assert!(n1.is_internal(c.local_as));
        assert_eq!(n1.hold_time, DEFAULT_HOLD_TIME);
        assert_eq!(n1.address_families, vec![AddressFamily::Ipv4Unicast]);
        assert_eq!((n1.route_reflector_client, n1.allowas_in), (true, 2));
        assert_eq!(c.prefixes.len(), 2);
        assert_eq!(c.control_socket_path(), PathBuf::from("/tmp/leaf1.sock"));
        assert_eq!(n0.next_hop_self, NextHopSelf::Off);
        assert_eq!((n1.next_hop_self, n1.mrai), (NextHopSelf::NonReflected, 5));
        assert_eq!((c.max_paths, c.multipath_relax), (4, true));
        assert_eq!(c.cluster_id, Some(Ipv4Addr::new(10, 0, 0, 9)));
        assert!(c.ebgp_requires_policy);
        assert_eq!(
            c.kernel,
            Kernel {
                enabled: false,
                metric: 30,
                ..Kernel::default()
            }
        );
        let p = c.policy_book().get("my-export").unwrap();
        assert_eq!(p.statements.len(), 2);
        assert_eq!(p.statements[0].set.len(), 2);
        let r = &c.listen_ranges[0];
        assert_eq!((r.limit, r.remote_as), (3, RemoteAs::External));
        let dynamic = c.listen_range("10.0.2.7".parse().unwrap()).unwrap();
        let n = dynamic.neighbor("10.0.2.7".parse().unwrap());
        assert!(n.passive);
        assert_eq!((n.hold_time, n.next_hop_self), (9, NextHopSelf::All));
        assert_eq!(n.export_policy, Some(PolicyRef::Named("my-export".into())));
        assert!(c.listen_range("10.0.3.7".parse().unwrap()).is_none());
    }

    #[test]
    fn originated_routes_blackhole_prefixes_by_default() {
        let c = parse(EXAMPLE).unwrap();
        let routes = c.originated_routes();
        let by: BTreeMap<String, &LocalRoute> =
            routes.iter().map(|r| (r.prefix.to_string(), r)).collect();
        assert_eq!(by["10.1.0.0/24"].kind, LocalRouteKind::Blackhole);
        assert_eq!(by["2001:db8:1::/64"].kind, LocalRouteKind::Blackhole);
        let o = by["10.9.0.0/24"];
        assert_eq!(o.kind, LocalRouteKind::Announce);
        assert_eq!((o.med, o.communities.len()), (Some(7), 1));
        let mut off = c.clone();
        off.blackhole_prefixes = false;
        off.originate.push(Originate {
            prefix: "10.1.0.0/24".parse().unwrap(),
            blackhole: Some(true),
            communities: Vec::new(),
            large_communities: Vec::new(),
            med: None,
        });
        let routes = off.originated_routes();
        assert_eq!(routes.len(), 3, "one route per prefix");
        for r in routes {
            let want = if r.prefix.to_string() == "10.1.0.0/24" {
                LocalRouteKind::Blackhole
            } else {
                LocalRouteKind::Announce
            };
            assert_eq!(r.kind, want, "{}", r.prefix);
        }
    }

    #[test]
    fn next_hop_self_accepts_booleans_and_modes() {
        for (text, want) in [
            ("true", NextHopSelf::All),
            ("false", NextHopSelf::Off),
            ("all", NextHopSelf::All),
            ("off", NextHopSelf::Off),
            ("non-reflected", NextHopSelf::NonReflected),
        ] {
            let y = format!("router-id: 1.1.1.1\nlocal-as: 1\nneighbors:\n  - address: 10.0.0.2\n    remote-as: 2\n    next-hop-self: {text}\n");
            let c = parse(&y).unwrap();
            assert_eq!(c.neighbors[0].next_hop_self, want, "{text}");
            assert_eq!(parse(&c.to_yaml().unwrap()).unwrap(), c);
        }
        let y = "router-id: 1.1.1.1\nlocal-as: 1\nneighbors:\n  - address: 10.0.0.2\n    remote-as: 2\n    next-hop-self: sometimes\n";
        assert!(parse(y).is_err());
    }

    #[test]
    fn routing_settings_are_validated() {
        let e = err("router-id: 1.1.1.1\nlocal-as: 1\nmax-paths: 0\n");
        assert!(e.contains("max-paths"), "{e}");
        let e = err("router-id: 1.1.1.1\nlocal-as: 1\ncluster-id: 0.0.0.0\n");
        assert!(e.contains("cluster-id"), "{e}");
        let e = err("router-id: 1.1.1.1\nlocal-as: 1\nneighbors:\n  - address: 10.0.0.2\n    remote-as: 2\n    import-policy: typo\n");
        assert!(
            e.contains("neighbors[0].import-policy") && e.contains("typo"),
            "{e}"
        );
        let e = err("router-id: 1.1.1.1\nlocal-as: 1\nlisten-ranges:\n  - prefix: 10.0.0.1/24\n    remote-as: external\n");
        assert!(e.contains("listen-ranges[0].prefix"), "{e}");
        let e = err("router-id: 1.1.1.1\nlocal-as: 1\nlisten-ranges:\n  - prefix: 10.0.0.0/24\n    remote-as: external\n    limit: 0\n");
        assert!(e.contains("listen-ranges[0].limit"), "{e}");
        let e = err("router-id: 1.1.1.1\nlocal-as: 1\nlisten-ranges:\n  - prefix: 10.0.0.0/24\n    remote-as: external\n    export-policy: nope\n");
        assert!(e.contains("listen-ranges[0].export-policy"), "{e}");
        let e = err("router-id: 1.1.1.1\nlocal-as: 1\noriginate:\n  - prefix: 10.0.0.1/24\n");
        assert!(e.contains("originate[0].prefix"), "{e}");
        let e = err("router-id: 1.1.1.1\nlocal-as: 1\npolicies:\n  p:\n    statements:\n      - conditions: [{no-such-condition: 1}]\n        action: accept\n");
        assert!(e.contains("test.yaml"), "{e}");
        // Built-in names need no definition.
        for name in [
            "accept-all",
            "reject-all",
            "originated-only",
            "default-only",
        ] {
            let y = format!("router-id: 1.1.1.1\nlocal-as: 1\nneighbors:\n  - address: 10.0.0.2\n    remote-as: 2\n    export-policy: {name}\n");
            assert!(parse(&y).is_ok(), "{name}");
        }
    }

    #[test]
    fn serialises_and_reads_back_equal() {
        let c = parse(EXAMPLE).unwrap();
        let yaml = c.to_yaml().unwrap();
        let back = parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(back, c);

        let mut built = Config::new(RouterId(Ipv4Addr::new(192, 0, 2, 1)), Asn(4_200_000_000));
        let mut n = Neighbor::new("192.0.2.2".parse().unwrap(), RemoteAs::External);
        n.import_policy = Some(PolicyRef::RejectAll);
        built.neighbors.push(n);
        built.prefixes.push("198.51.100.0/24".parse().unwrap());
        let yaml = built.to_yaml().unwrap();
        assert_eq!(
            parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}")),
            built
        );
    }

    #[test]
    fn default_control_socket_is_named_after_router_id() {
        let c = Config::new(RouterId(Ipv4Addr::new(10, 9, 8, 7)), Asn(1));
        assert_eq!(
            c.control_socket_path(),
            PathBuf::from("/run/fabric-speaker/10.9.8.7.sock")
        );
    }

    #[test]
    fn unknown_field_is_rejected_with_file_and_field() {
        let e = err("router-id: 10.0.0.1\nlocal-as: 1\nneighbours: []\n");
        assert!(e.contains("test.yaml") && e.contains("neighbours"), "{e}");
        let e = err(
            "router-id: 10.0.0.1\nlocal-as: 1\nneighbors:\n  - address: 10.0.0.2\n    remote-as: 2\n    hold: 3\n",
        );
        assert!(e.contains("test.yaml") && e.contains("hold"), "{e}");
    }

    #[test]
    fn bad_values_are_rejected_with_the_field() {
        let e = err("router-id: 10.0.0.300\nlocal-as: 1\n");
        assert!(e.contains("test.yaml"), "{e}");
        let e = err("router-id: 10.0.0.1\nlocal-as: 1\nneighbors:\n  - address: 10.0.0.2\n    remote-as: somewhere\n");
        assert!(e.contains("internal") || e.contains("remote-as"), "{e}");
        let e = err("router-id: 10.0.0.1\nlocal-as: 1\nprefixes: [10.0.0.0/33]\n");
        assert!(e.contains("test.yaml"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_field_path() {
        let base = "router-id: 10.0.0.1\nlocal-as: 1\nneighbors:\n  - address: 10.0.0.2\n    remote-as: 2\n";
        let e = err(&format!(
            "{base}  - address: 10.0.0.3\n    remote-as: 3\n    hold-time: 2\n"
        ));
        assert!(
            e.contains("neighbors[1].hold-time") && e.contains("test.yaml"),
            "{e}"
        );
        let e = err(&format!("{base}  - address: 10.0.0.2\n    remote-as: 3\n"));
        assert!(e.contains("neighbors[1].address"), "{e}");
        let e = err(&format!("{base}prefixes: [10.0.0.1/24]\n"));
        assert!(
            e.contains("prefixes[0]") && e.contains("10.0.0.0/24"),
            "{e}"
        );
        let e = err(&format!(
            "router-id: 1.1.1.1\nlocal-as: 1\nhostname: {}\n",
            "h".repeat(254)
        ));
        assert!(e.contains("hostname"), "{e}");
        let e = err("router-id: 0.0.0.0\nlocal-as: 1\n");
        assert!(e.contains("router-id"), "{e}");
        let e = err("router-id: 1.1.1.1\nlocal-as: 1\ngraceful-restart:\n  restart-time: 5000\n");
        assert!(e.contains("graceful-restart.restart-time"), "{e}");
        let e = err(
            "router-id: 1.1.1.1\nlocal-as: 1\ngraceful-restart:\n  long-lived-stale-time: 16777216\n",
        );
        assert!(e.contains("graceful-restart.long-lived-stale-time"), "{e}");
        let e = err("router-id: 1.1.1.1\nlocal-as: 1\ngraceful-restart:\n  restarting: maybe\n");
        assert!(e.contains("auto, true or false"), "{e}");
    }

    #[test]
    fn remote_as_keywords_and_numbers() {
        for (text, want) in [
            ("65001", RemoteAs::Asn(Asn(65001))),
            ("4200000000", RemoteAs::Asn(Asn(4_200_000_000))),
            ("\"65002\"", RemoteAs::Asn(Asn(65002))),
            ("internal", RemoteAs::Internal),
            ("external", RemoteAs::External),
        ] {
            let y = format!("router-id: 1.1.1.1\nlocal-as: 1\nneighbors:\n  - address: 10.0.0.2\n    remote-as: {text}\n");
            assert_eq!(parse(&y).unwrap().neighbors[0].remote_as, want, "{text}");
        }
        let y = "router-id: 1.1.1.1\nlocal-as: 1\nneighbors:\n  - address: 10.0.0.2\n    remote-as: 4294967296\n";
        assert!(parse(y).is_err());
        assert!(RemoteAs::External.accepts(Asn(1), Asn(2)));
        assert!(!RemoteAs::External.accepts(Asn(1), Asn(1)));
        assert!(RemoteAs::Internal.accepts(Asn(1), Asn(1)));
    }

    #[test]
    fn garbage_does_not_panic() {
        for text in [
            "",
            ":",
            "[",
            "router-id: [1,2]",
            "\u{0}",
            "a: &x *x",
            "- - - -",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }
}
