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
//! graceful-restart:              # capability only for now (RFC 4724 §3)
//!   enabled: true
//!   restart-time: 120
//!   restarting: false            # the R bit: set when this start is a graceful restart
//!   preserve-forwarding: false   # the F bit for every advertised family
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
//!     next-hop-self: false       # routing settings, consumed by the RIB
//!     route-reflector-client: false
//!     import-policy: accept-all  # accept-all | reject-all | <policy name>
//!     export-policy: accept-all
//!     default-originate: false
//!     allowas-in: 0
//! prefixes: [10.1.0.0/24, "2001:db8:1::/64"]   # originated
//! control-socket: /run/fabric-speaker/10.0.0.1.sock
//! log-format: text               # text | json (to stderr)
//! log-level: info                # a tracing EnvFilter directive
//! ```
//!
//! Errors name the file and the field: parse errors carry serde-saphyr's location and field
//! message; semantic errors found by [`Config::validate`] name the field path, e.g.
//! `neighbors[1].hold-time`.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fabric_bgp_wire::{AfiSafi, Asn, RouterId};
use ipnet::IpNet;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::fsm::SessionConfig;

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
    /// Prefixes this speaker originates.
    #[serde(default)]
    pub prefixes: Vec<IpNet>,
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

/// Graceful restart capability (RFC 4724 §3). Only the capability is implemented so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GracefulRestart {
    /// Advertise the capability.
    #[serde(default)]
    pub enabled: bool,
    /// Restart Time in seconds (12 bits, at most 4095).
    #[serde(default = "default_restart_time")]
    pub restart_time: u16,
    /// Restart State (R) bit: set when this process start is a graceful restart.
    #[serde(default)]
    pub restarting: bool,
    /// Forwarding State (F) bit for every advertised family.
    #[serde(default)]
    pub preserve_forwarding: bool,
    /// Notification (N) bit of RFC 8538.
    #[serde(default)]
    pub notification: bool,
}

impl Default for GracefulRestart {
    fn default() -> Self {
        GracefulRestart {
            enabled: false,
            restart_time: DEFAULT_RESTART_TIME,
            restarting: false,
            preserve_forwarding: false,
            notification: false,
        }
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
    /// Routing: set NEXT_HOP to our address on routes sent to this peer (consumed by the RIB).
    #[serde(default)]
    pub next_hop_self: bool,
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
            next_hop_self: false,
            route_reflector_client: false,
            import_policy: None,
            export_policy: None,
            default_originate: false,
            allowas_in: 0,
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
            prefixes: Vec::new(),
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
        if self.listen.port == 0 {
            return Err(invalid("listen.port".into(), "must not be 0"));
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
fn default_families() -> Vec<AddressFamily> {
    vec![AddressFamily::Ipv4Unicast]
}
fn default_log_level() -> String {
    "info".to_owned()
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
prefixes: [10.1.0.0/24, "2001:db8:1::/64"]
control-socket: /tmp/leaf1.sock
log-format: json
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.yaml"))
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
