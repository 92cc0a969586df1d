//! GoBGP 3 as the peer: `gobgpd -f gobgp.toml --api-hosts 127.0.0.1:PORT` in the namespace (its
//! own loopback, so the port is the same everywhere), queried with `gobgp -j` from the same
//! namespace.
//!
//! GoBGP has no TOML form for originated prefixes: they are added with `gobgp global rib add`
//! once the API answers, and withdrawn with `gobgp global rib del`. Capabilities come as protobuf
//! `Any` values (base64); the Multiprotocol ones are decoded here to list the families. The last
//! NOTIFICATION's code is not in `gobgp neighbor -j` (only a count), so it is read from the
//! daemon's log, where GoBGP writes `received notification` with `Code=` and `Subcode=`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fabric_bgp_wire::{Afi, AfiSafi, Asn, Safi};
use fabriclab::process::{ProgramSpec, RunDir, Supervisor};
use fabriclab::wait::Probe;
use ipnet::IpNet;
use serde_json::Value;

use super::cli::{self, QUERY_TIMEOUT};
use super::peer::{PeerDaemon, PeerNotification, PeerRib, PeerRoute, PeerSession};
use super::{PeerKind, PeerSetup, CONNECT_RETRY, HOLD_TIME, KEEPALIVE};

/// The API port (on the namespace's own loopback).
pub const API_PORT: u16 = 50051;
const CONF: &str = "gobgp.toml";
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A TOML basic string.
fn q(s: impl std::fmt::Display) -> String {
    format!(
        "\"{}\"",
        s.to_string().replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// `gobgp.toml` for `setup` (prefixes are added through the API, see the module docs).
pub fn render(setup: &PeerSetup) -> String {
    let mut s = String::new();
    s.push_str("# fabriclab interop: GoBGP peer of the bundled speaker.\n");
    s.push_str("[global.config]\n");
    s.push_str(&format!("  as = {}\n", setup.local_as));
    s.push_str(&format!("  router-id = {}\n", q(setup.router_id)));
    s.push_str("  port = 179\n\n");
    s.push_str("[[neighbors]]\n");
    s.push_str("  [neighbors.config]\n");
    s.push_str(&format!("    neighbor-address = {}\n", q(setup.remote)));
    s.push_str(&format!("    peer-as = {}\n", setup.remote_as));
    s.push_str("  [neighbors.transport.config]\n");
    s.push_str(&format!("    local-address = {}\n", q(setup.local)));
    s.push_str(&format!("    passive-mode = {}\n", setup.passive));
    s.push_str("  [neighbors.timers.config]\n");
    s.push_str(&format!("    connect-retry = {CONNECT_RETRY}\n"));
    s.push_str(&format!("    hold-time = {HOLD_TIME}\n"));
    s.push_str(&format!("    keepalive-interval = {KEEPALIVE}\n"));
    s.push_str("  [neighbors.graceful-restart.config]\n");
    s.push_str("    enabled = true\n    restart-time = 120\n");
    for af in ["ipv4-unicast", "ipv6-unicast"] {
        s.push_str("  [[neighbors.afi-safis]]\n");
        s.push_str("    [neighbors.afi-safis.config]\n");
        s.push_str(&format!("      afi-safi-name = {}\n", q(af)));
        s.push_str("    [neighbors.afi-safis.mp-graceful-restart.config]\n");
        s.push_str("      enabled = true\n");
    }
    s
}

/// A running gobgpd.
#[derive(Debug)]
pub struct Gobgp {
    sup: Supervisor,
    netns: PathBuf,
    remote: IpAddr,
}

impl Gobgp {
    /// Writes the configuration into `dir`, starts gobgpd in `netns`, waits until the API
    /// answers and adds the originated prefixes.
    pub fn start(netns: &Path, dir: RunDir, setup: &PeerSetup) -> Result<Gobgp> {
        dir.create()?;
        let file = dir.file(CONF);
        std::fs::write(&file, render(setup))?;
        let spec = ProgramSpec::new("gobgpd", cli::exe("gobgpd"))
            .arg("-f")
            .arg(&file)
            .arg(format!("--api-hosts=127.0.0.1:{API_PORT}"))
            .args(["--log-plain", "--pprof-disable"]);
        let mut sup = Supervisor::new(netns, dir, vec![spec]);
        sup.start(START_TIMEOUT)?;
        let probe_ns = netns.to_path_buf();
        sup.wait_ready(START_TIMEOUT, move || {
            Probe::from_result(gobgp(&probe_ns, &["global"]).map(|_| ()))
        })?;
        let g = Gobgp {
            sup,
            netns: netns.to_path_buf(),
            remote: setup.remote,
        };
        for p in &setup.originate {
            g.rib("add", *p)?;
        }
        Ok(g)
    }

    fn rib(&self, op: &str, p: IpNet) -> Result<()> {
        let family = match p {
            IpNet::V4(_) => "ipv4",
            IpNet::V6(_) => "ipv6",
        };
        let prefix = p.to_string();
        gobgp(&self.netns, &["global", "rib", op, &prefix, "-a", family]).map(|_| ())
    }

    fn neighbor_json(&self) -> Result<Value> {
        let addr = self.remote.to_string();
        let out = gobgp(&self.netns, &["neighbor", &addr, "-j"])?;
        serde_json::from_str(&out).with_context(|| format!("gobgp neighbor -j is not JSON: {out}"))
    }
}

fn gobgp(netns: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new(cli::exe("gobgp"));
    cmd.args(["-u", "127.0.0.1", "-p"])
        .arg(API_PORT.to_string())
        .args(args);
    cli::run(cmd, Some(netns), QUERY_TIMEOUT)
}

impl PeerDaemon for Gobgp {
    fn kind(&self) -> PeerKind {
        PeerKind::Gobgp
    }

    fn session(&self) -> Result<PeerSession> {
        parse_neighbor(&self.neighbor_json()?)
    }

    fn routes_from_bundled(&self) -> Result<PeerRib> {
        let mut rib = PeerRib::new();
        for family in ["ipv4", "ipv6"] {
            let out = gobgp(&self.netns, &["global", "rib", "-a", family, "-j"])?;
            let v: Value = serde_json::from_str(&out)
                .with_context(|| format!("gobgp global rib -j is not JSON: {out}"))?;
            rib.extend(parse_rib(&v, self.remote));
        }
        Ok(rib)
    }

    fn stop_originating(&mut self, prefixes: &[IpNet]) -> Result<()> {
        for p in prefixes {
            self.rib("del", *p)?;
        }
        Ok(())
    }

    fn last_notification_received(&self) -> Result<Option<PeerNotification>> {
        let v = self.neighbor_json()?;
        let count = v
            .pointer("/state/messages/received/notification")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if count == 0 {
            return Ok(None);
        }
        // The count is in the CLI; the code only in the log (see the module docs).
        let log = self.sup.dir().stderr_log("gobgpd");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let stdout =
            std::fs::read_to_string(self.sup.dir().stdout_log("gobgpd")).unwrap_or_default();
        let found = parse_log_notification(&format!("{text}\n{stdout}"));
        Ok(Some(found.unwrap_or(PeerNotification {
            code: None,
            text: format!("{count} NOTIFICATION(s) counted, no code in the log"),
        })))
    }

    fn stop(&mut self) -> Result<()> {
        self.sup.stop(Duration::from_secs(3))?;
        Ok(())
    }

    fn logs(&self) -> Vec<PathBuf> {
        vec![
            self.sup.dir().stdout_log("gobgpd"),
            self.sup.dir().stderr_log("gobgpd"),
        ]
    }
}

// ===== JSON =====

/// A capability's kind from its `type_url` (`type.googleapis.com/apipb.RouteRefreshCapability`).
fn cap_kind(c: &Value) -> &str {
    c.get("type_url")
        .and_then(Value::as_str)
        .and_then(|u| u.rsplit('.').next())
        .unwrap_or_default()
}

fn caps<'a>(v: &'a Value, side: &str) -> Vec<&'a Value> {
    v.pointer(&format!("/state/{side}"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// apipb `PeerState.SessionState`: a number (6 = ESTABLISHED) or, in some builds, its name.
fn state_name(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(1) => "Idle",
            Some(2) => "Connect",
            Some(3) => "Active",
            Some(4) => "OpenSent",
            Some(5) => "OpenConfirm",
            Some(6) => "Established",
            _ => "Unknown",
        }
        .to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "Unknown".to_string(),
    }
}

/// Parses `gobgp neighbor ADDR -j`.
pub fn parse_neighbor(v: &Value) -> Result<PeerSession> {
    if v.get("state").is_none() {
        bail!("gobgp neighbor -j has no state: {v}");
    }
    let state = state_name(v.pointer("/state/session_state"));
    let established = state.eq_ignore_ascii_case("established");
    let mut s = PeerSession {
        established,
        remote_as: v
            .pointer("/state/peer_asn")
            .and_then(Value::as_u64)
            .and_then(|a| u32::try_from(a).ok())
            .map(Asn),
        state,
        ..PeerSession::default()
    };
    if established {
        let (local, remote) = (caps(v, "local_cap"), caps(v, "remote_cap"));
        let both = |kind: &str| {
            local.iter().any(|c| cap_kind(c) == kind) && remote.iter().any(|c| cap_kind(c) == kind)
        };
        s.four_octet_as = both("FourOctetASNCapability");
        s.graceful_restart = both("GracefulRestartCapability");
        s.route_refresh = both("RouteRefreshCapability");
        let families = |list: &[&Value]| -> Vec<AfiSafi> {
            list.iter()
                .filter(|c| cap_kind(c) == "MultiProtocolCapability")
                .filter_map(|c| c.get("value").and_then(Value::as_str))
                .filter_map(mp_family)
                .collect()
        };
        let theirs = families(&remote);
        s.families = families(&local)
            .into_iter()
            .filter(|f| theirs.contains(f))
            .collect();
    }
    Ok(s)
}

/// Routes in `gobgp global rib -a FAMILY -j` whose `neighbor-ip` is `remote`.
pub fn parse_rib(v: &Value, remote: IpAddr) -> PeerRib {
    let mut rib = PeerRib::new();
    let Some(map) = v.as_object() else {
        return rib;
    };
    for (prefix, paths) in map {
        let Ok(prefix) = prefix.parse::<IpNet>() else {
            continue;
        };
        let path = paths.as_array().into_iter().flatten().find(|p| {
            p.get("neighbor-ip")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<IpAddr>().ok())
                == Some(remote)
        });
        let Some(path) = path else { continue };
        let mut route = PeerRoute::default();
        for a in path
            .get("attrs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match a.get("type").and_then(Value::as_u64) {
                // AS_PATH: segments of `asns`.
                Some(2) => {
                    route.as_path = a
                        .get("as_paths")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|seg| seg.get("asns").and_then(Value::as_array))
                        .flatten()
                        .filter_map(Value::as_u64)
                        .filter_map(|n| u32::try_from(n).ok())
                        .collect();
                }
                // NEXT_HOP, or MP_REACH_NLRI's next hop.
                Some(3) | Some(14) => {
                    route.next_hop = a
                        .get("nexthop")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                }
                _ => {}
            }
        }
        rib.insert(prefix, route);
    }
    rib
}

/// The last `received notification` line of gobgpd's plain log (`Code=6 ... Subcode=2`).
pub fn parse_log_notification(log: &str) -> Option<PeerNotification> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("received notification"))?;
    let field = |name: &str| -> Option<u8> {
        let rest = line.split(&format!(" {name}=")).nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let reason = line
        .split("Communicated-Reason=")
        .nth(1)
        .map(|r| {
            r.trim_start_matches('"')
                .split('"')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default();
    Some(PeerNotification {
        code: field("Code").zip(field("Subcode")),
        text: format!("gobgpd log: received notification \"{reason}\""),
    })
}

// ===== protobuf Any values =====

/// Standard base64 (RFC 4648 §4), padding optional; `None` on any other character.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// One protobuf varint at `buf[*i..]`.
fn varint(buf: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*i)?;
        *i += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The family of a `MultiProtocolCapability { Family family = 1 }` value, `Family { afi = 1;
/// safi = 2 }` with apipb's enum numbers (AFI_IP 1, AFI_IP6 2; SAFI_UNICAST 1).
pub fn mp_family(value_b64: &str) -> Option<AfiSafi> {
    let buf = base64_decode(value_b64)?;
    let mut i = 0;
    // Field 1, wire type 2 (length-delimited): the Family message.
    if varint(&buf, &mut i)? != (1 << 3 | 2) {
        return None;
    }
    let len = usize::try_from(varint(&buf, &mut i)?).ok()?;
    let inner = buf.get(i..i.checked_add(len)?)?;
    let (mut afi, mut safi) = (0u64, 0u64);
    let mut j = 0;
    while j < inner.len() {
        match varint(inner, &mut j)? {
            0x08 => afi = varint(inner, &mut j)?,
            0x10 => safi = varint(inner, &mut j)?,
            _ => return None,
        }
    }
    Some(AfiSafi {
        afi: Afi::from_code(u16::try_from(afi).ok()?),
        safi: Safi::from_code(u8::try_from(safi).ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: &str = include_str!("testdata/gobgp_neighbor_up.json");
    const RIB: &str = include_str!("testdata/gobgp_rib_ipv4.json");

    fn json(s: &str) -> Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn base64_and_multiprotocol_values() {
        assert_eq!(
            base64_decode("CgQIARAB"),
            Some(vec![0x0a, 4, 8, 1, 0x10, 1])
        );
        assert_eq!(base64_decode("aGk="), Some(b"hi".to_vec()));
        assert_eq!(base64_decode("a*b"), None);
        assert_eq!(mp_family("CgQIARAB"), Some(AfiSafi::IPV4_UNICAST));
        assert_eq!(mp_family("CgQIAhAB"), Some(AfiSafi::IPV6_UNICAST));
        assert_eq!(mp_family("CgQIAh"), None);
        assert_eq!(mp_family(""), None);
    }

    #[test]
    fn established_neighbor_with_capabilities() {
        let s = parse_neighbor(&json(UP)).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.missing(Asn(4_200_000_001)).is_empty(), "{s}");
        assert!(parse_neighbor(&json("{}")).is_err());
    }

    #[test]
    fn rib_keeps_the_neighbors_routes_only() {
        let rib = parse_rib(
            &json(RIB),
            "10.0.0.0".parse().unwrap_or_else(|e| panic!("{e}")),
        );
        let keys: Vec<String> = rib.keys().map(ToString::to_string).collect();
        assert_eq!(keys, ["198.51.100.0/24", "198.51.101.0/24"]);
        assert!(rib
            .values()
            .all(|r| r.as_path == vec![4_200_000_001] && r.next_hop == "10.0.0.0"));
    }

    #[test]
    fn notification_from_the_log() {
        let log = "time=\"x\" level=warning msg=\"received notification\" Code=6 Communicated-Reason=\"fabric-speaker shutting down\" Data=\"[]\" Key=10.0.0.0 Subcode=2 Topic=Peer\n";
        let n = parse_log_notification(log).unwrap_or_else(|| panic!("not parsed"));
        assert!(n.is_admin_shutdown(), "{n}");
        assert!(n.text.contains("fabric-speaker shutting down"));
        assert_eq!(parse_log_notification("nothing here"), None);
    }
}
