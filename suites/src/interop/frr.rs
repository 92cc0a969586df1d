//! FRR 8 as the peer: zebra + bgpd with every socket in the run directory (as the fabric adapter
//! runs them), queried with `vtysh --vty_socket DIR -d bgpd`.
//!
//! Prefixes are `network` statements with `no bgp network import-check`, so nothing else (no
//! staticd) is needed to originate them, and one is withdrawn with `no network P` from vtysh.
//! FRR applies RFC 8212 to eBGP (`bgp ebgp-requires-policy`), hence the permit-all route-maps
//! in and out. Over an IPv6 session `capability extended-nexthop` (RFC 8950) lets IPv4 routes
//! through.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use fabric_bgp_wire::{AfiSafi, Asn};
use fabriclab::process::{ProgramSpec, RunDir, Supervisor};
use fabriclab::wait::Probe;
use ipnet::IpNet;
use serde_json::Value;

use super::cli::{self, QUERY_TIMEOUT};
use super::peer::{PeerDaemon, PeerNotification, PeerRib, PeerRoute, PeerSession};
use super::{PeerKind, PeerSetup, Transport, CONNECT_RETRY, HOLD_TIME, KEEPALIVE};

/// zebra.
pub const ZEBRA: &str = "/usr/lib/frr/zebra";
/// bgpd.
pub const BGPD: &str = "/usr/lib/frr/bgpd";
const ZSERV: &str = "zserv.api";
const ROUTE_MAP: &str = "FL-ALL";
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// `bgpd.conf` for `setup`.
pub fn render_bgpd(setup: &PeerSetup) -> String {
    let r = setup.remote;
    let mut s = String::new();
    s.push_str("frr defaults datacenter\n");
    s.push_str("! fabriclab interop: FRR peer of the bundled speaker.\n");
    s.push_str("hostname peer\nlog stdout informational\n!\n");
    s.push_str(&format!("route-map {ROUTE_MAP} permit 10\n!\n"));
    s.push_str(&format!("router bgp {}\n", setup.local_as));
    s.push_str(&format!(" bgp router-id {}\n", setup.router_id));
    s.push_str(" no bgp default ipv4-unicast\n");
    s.push_str(" no bgp network import-check\n");
    s.push_str(" bgp graceful-restart\n");
    s.push_str(&format!(" timers bgp {KEEPALIVE} {HOLD_TIME}\n"));
    s.push_str(&format!(" neighbor {r} remote-as {}\n", setup.remote_as));
    s.push_str(&format!(" neighbor {r} update-source {}\n", setup.local));
    s.push_str(&format!(" neighbor {r} timers connect {CONNECT_RETRY}\n"));
    if setup.passive {
        s.push_str(&format!(" neighbor {r} passive\n"));
    }
    if setup.transport == Transport::V6 {
        s.push_str(&format!(" neighbor {r} capability extended-nexthop\n"));
    }
    for (af, is_af) in [
        (
            "ipv4",
            (|p: &IpNet| matches!(p, IpNet::V4(_))) as fn(&IpNet) -> bool,
        ),
        ("ipv6", |p: &IpNet| matches!(p, IpNet::V6(_))),
    ] {
        s.push_str(&format!(" address-family {af} unicast\n"));
        for p in setup.originate.iter().filter(|p| is_af(p)) {
            s.push_str(&format!("  network {p}\n"));
        }
        s.push_str(&format!("  neighbor {r} activate\n"));
        s.push_str(&format!("  neighbor {r} route-map {ROUTE_MAP} in\n"));
        s.push_str(&format!("  neighbor {r} route-map {ROUTE_MAP} out\n"));
        s.push_str(" exit-address-family\n");
    }
    s.push_str("exit\n!\n");
    s
}

/// A running zebra + bgpd.
#[derive(Debug)]
pub struct Frr {
    sup: Supervisor,
    vty_dir: PathBuf,
    remote: IpAddr,
    local_as: Asn,
}

fn daemon(dir: &RunDir, name: &str, program: &str, conf: &Path) -> ProgramSpec {
    ProgramSpec::new(name, program)
        .arg("-f")
        .arg(conf)
        .arg("-i")
        .arg(dir.pid_file(name))
        .arg("-z")
        .arg(dir.file(ZSERV))
        .arg("--vty_socket")
        .arg(dir.path())
        // FRR refuses a user outside its vty group, and root is not in `frrvty`.
        .args(["-u", "root", "-g", "frrvty"])
}

impl Frr {
    /// Writes the configurations into `dir`, starts zebra then bgpd in `netns` and waits until
    /// bgpd answers vtysh.
    pub fn start(netns: &Path, dir: RunDir, setup: &PeerSetup) -> Result<Frr> {
        dir.create()?;
        let zebra_conf = dir.file("zebra.conf");
        std::fs::write(&zebra_conf, "hostname peer\nlog stdout informational\n")?;
        let bgpd_conf = dir.file("bgpd.conf");
        std::fs::write(&bgpd_conf, render_bgpd(setup))?;
        let programs = vec![
            daemon(&dir, "zebra", ZEBRA, &zebra_conf).wait_for(dir.file(ZSERV)),
            daemon(&dir, "bgpd", BGPD, &bgpd_conf),
        ];
        let vty_dir = dir.path().to_path_buf();
        let mut sup = Supervisor::new(netns, dir, programs);
        sup.start(START_TIMEOUT)?;
        let probe_dir = vty_dir.clone();
        sup.wait_ready(START_TIMEOUT, move || {
            let vty = probe_dir.join("bgpd.vty");
            if !vty.exists() {
                return Probe::pending(format!("{} does not exist yet", vty.display()));
            }
            Probe::from_result(vtysh(&probe_dir, &["show bgp summary json"]).map(|_| ()))
        })?;
        Ok(Frr {
            sup,
            vty_dir,
            remote: setup.remote,
            local_as: setup.local_as,
        })
    }

    fn json(&self, command: &str) -> Result<Value> {
        let out = vtysh(&self.vty_dir, &[command])?;
        serde_json::from_str(&out).with_context(|| format!("vtysh `{command}` is not JSON: {out}"))
    }
}

fn vtysh(vty_dir: &Path, commands: &[&str]) -> Result<String> {
    let mut cmd = Command::new(cli::exe("vtysh"));
    cmd.arg("--vty_socket").arg(vty_dir).args(["-d", "bgpd"]);
    for c in commands {
        cmd.args(["-c", c]);
    }
    cli::run(cmd, None, QUERY_TIMEOUT)
}

impl PeerDaemon for Frr {
    fn kind(&self) -> PeerKind {
        PeerKind::Frr
    }

    fn session(&self) -> Result<PeerSession> {
        let v = self.json("show bgp neighbors json")?;
        Ok(parse_neighbor(&v, self.remote)?.0)
    }

    fn routes_from_bundled(&self) -> Result<PeerRib> {
        let mut rib = PeerRib::new();
        for af in ["ipv4", "ipv6"] {
            let v = self.json(&format!("show bgp {af} unicast json"))?;
            rib.extend(parse_routes(&v, self.remote));
        }
        Ok(rib)
    }

    fn stop_originating(&mut self, prefixes: &[IpNet]) -> Result<()> {
        for p in prefixes {
            let af = match p {
                IpNet::V4(_) => "address-family ipv4 unicast",
                IpNet::V6(_) => "address-family ipv6 unicast",
            };
            let router = format!("router bgp {}", self.local_as);
            let no_network = format!("no network {p}");
            let out = vtysh(
                &self.vty_dir,
                &["configure terminal", &router, af, &no_network, "end"],
            )?;
            // vtysh exits 0 even when a command is refused; it says so with `%`.
            if out.contains('%') {
                return Err(anyhow!("vtysh `{no_network}`: {}", out.trim()));
            }
        }
        Ok(())
    }

    fn last_notification_received(&self) -> Result<Option<PeerNotification>> {
        let v = self.json("show bgp neighbors json")?;
        Ok(parse_neighbor(&v, self.remote)?.1)
    }

    fn stop(&mut self) -> Result<()> {
        self.sup.stop(Duration::from_secs(3))?;
        Ok(())
    }

    fn logs(&self) -> Vec<PathBuf> {
        ["bgpd", "zebra"]
            .iter()
            .flat_map(|p| [self.sup.dir().stdout_log(p), self.sup.dir().stderr_log(p)])
            .collect()
    }
}

/// FRR's JSON family keys.
fn af_key(af: AfiSafi) -> &'static str {
    if af == AfiSafi::IPV4_UNICAST {
        "ipv4Unicast"
    } else {
        "ipv6Unicast"
    }
}

/// The neighbor `remote` in `show bgp neighbors json`: its session, and the last NOTIFICATION it
/// received from the bundled speaker (FRR keeps the code of the last one sent or received, and
/// says which in `lastResetDueTo`).
pub fn parse_neighbor(
    v: &Value,
    remote: IpAddr,
) -> Result<(PeerSession, Option<PeerNotification>)> {
    let (_, n) = v
        .as_object()
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| k.parse::<IpAddr>().ok() == Some(remote))
        })
        .ok_or_else(|| anyhow!("vtysh shows no neighbor {remote}"))?;
    let str_of = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or_default();
    let caps = n.get("neighborCapabilities");
    let cap = |k: &str| {
        caps.and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            // "advertisedAndReceived", or "advertisedAndReceivedOldNew" for route refresh.
            .starts_with("advertisedAndReceived")
    };
    let state = str_of("bgpState").to_string();
    let established = state == "Established";
    let mut session = PeerSession {
        established,
        remote_as: n
            .get("remoteAs")
            .and_then(Value::as_u64)
            .and_then(|a| u32::try_from(a).ok())
            .map(Asn),
        state,
        ..PeerSession::default()
    };
    if established {
        session.four_octet_as = cap("4byteAs");
        session.graceful_restart = cap("gracefulRestart");
        session.route_refresh = cap("routeRefresh");
        for af in [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST] {
            let negotiated = caps
                .and_then(|c| c.get("multiprotocolExtensions"))
                .and_then(|m| m.get(af_key(af)))
                .and_then(|f| f.get("advertisedAndReceived"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if negotiated {
                session.families.insert(af);
            }
        }
    }
    let received = str_of("lastResetDueTo")
        .to_ascii_lowercase()
        .contains("notification received");
    let code = str_of("lastErrorCodeSubcode");
    // "0602": code and subcode, two hex digits each.
    let parsed = code.get(0..2).zip(code.get(2..4)).and_then(|(c, s)| {
        Some((
            u8::from_str_radix(c, 16).ok()?,
            u8::from_str_radix(s, 16).ok()?,
        ))
    });
    let notification = (received && parsed.is_some()).then(|| PeerNotification {
        code: parsed,
        text: format!(
            "{} \"{}\"",
            str_of("lastNotificationReason"),
            str_of("lastShutdownDescription")
        ),
    });
    Ok((session, notification))
}

/// Valid paths learned from `remote` in `show bgp {ipv4|ipv6} unicast json`.
pub fn parse_routes(v: &Value, remote: IpAddr) -> PeerRib {
    let mut rib = PeerRib::new();
    let Some(routes) = v.get("routes").and_then(Value::as_object) else {
        return rib;
    };
    for (prefix, paths) in routes {
        let Ok(prefix) = prefix.parse::<IpNet>() else {
            continue;
        };
        let from_remote = paths.as_array().into_iter().flatten().find(|p| {
            p.get("peerId")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<IpAddr>().ok())
                == Some(remote)
                && p.get("valid").and_then(Value::as_bool) == Some(true)
        });
        if let Some(p) = from_remote {
            let as_path = p
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .split(|c: char| c.is_whitespace() || c == '{' || c == '}' || c == ',')
                .filter_map(|a| a.parse().ok())
                .collect();
            let next_hop = p
                .get("nexthops")
                .and_then(Value::as_array)
                .map(|n| {
                    n.iter()
                        .filter_map(|h| h.get("ip").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            rib.insert(prefix, PeerRoute { as_path, next_hop });
        }
    }
    rib
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: &str = include_str!("testdata/frr_neighbors_up.json");
    const SHUT: &str = include_str!("testdata/frr_neighbors_shutdown.json");
    const ROUTES: &str = include_str!("testdata/frr_routes_ipv6.json");

    fn json(s: &str) -> Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn addr(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn renders_policies_networks_and_enh_over_ipv6() {
        let setup = PeerSetup {
            local: addr("fd00:0:0:1::1"),
            remote: addr("fd00:0:0:1::"),
            local_other: addr("10.0.0.1"),
            local_as: Asn(4_200_000_002),
            remote_as: Asn(4_200_000_001),
            router_id: "10.255.0.2".parse().unwrap_or_else(|e| panic!("{e}")),
            passive: false,
            originate: ["203.0.113.0/24", "2001:db8:200::/48"]
                .iter()
                .map(|p| p.parse().unwrap_or_else(|e| panic!("{e}")))
                .collect(),
            transport: Transport::V6,
        };
        let c = render_bgpd(&setup);
        assert!(c.starts_with("frr defaults datacenter\n"));
        assert!(c.contains(" neighbor fd00:0:0:1:: remote-as 4200000001\n"));
        assert!(c.contains(" neighbor fd00:0:0:1:: capability extended-nexthop\n"));
        assert!(!c.contains("passive"));
        assert!(c.contains(" address-family ipv4 unicast\n  network 203.0.113.0/24\n"));
        assert!(c.contains(" address-family ipv6 unicast\n  network 2001:db8:200::/48\n"));
        assert_eq!(c.matches("route-map FL-ALL in").count(), 2);
    }

    #[test]
    fn established_neighbor_with_capabilities() {
        let (s, n) = parse_neighbor(&json(UP), addr("10.0.0.0")).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.missing(Asn(4_200_000_001)).is_empty(), "{s}");
        assert_eq!(n, None);
        assert!(parse_neighbor(&json(UP), addr("10.0.0.9")).is_err());
    }

    #[test]
    fn shutdown_received() {
        let (s, n) =
            parse_neighbor(&json(SHUT), addr("10.0.0.0")).unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.established);
        let n = n.unwrap_or_else(|| panic!("no notification parsed"));
        assert!(n.is_admin_shutdown(), "{n}");
        assert!(n.text.contains("fabric-speaker shutting down"), "{n}");
    }

    #[test]
    fn only_valid_paths_from_the_neighbor() {
        let rib = parse_routes(&json(ROUTES), addr("10.0.0.0"));
        let keys: Vec<String> = rib.keys().map(ToString::to_string).collect();
        // The locally originated 2001:db8:200::/48 has no peerId of the neighbor.
        assert_eq!(keys, ["2001:db8:100::/48", "2001:db8:101::/48"]);
        assert!(rib.values().all(|r| r.as_path == vec![4_200_000_001]));
        assert!(parse_routes(&json("{}"), addr("10.0.0.0")).is_empty());
    }
}
