//! ExaBGP 4.2 as the peer. It has no query CLI (and this suite disables its named-pipe CLI), so
//! what it saw is read from its API: an API process (`api.sh`) appends every JSON message ExaBGP
//! hands it (state changes, OPENs sent and received, UPDATEs and NOTIFICATIONs received, all
//! parsed) to `received.jsonl`, and relays lines appended to `commands` to ExaBGP as API
//! commands.
//!
//! The kept prefixes are static routes in the configuration; the ones withdrawn later are
//! announced through the API at start (`announce route ...`) and withdrawn through it
//! (`withdraw route ...`), so both ways of originating are exercised.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use fabric_bgp_wire::{AfiSafi, Asn};
use fabriclab::process::{ProgramSpec, RunDir, Supervisor};
use fabriclab::wait::Probe;
use ipnet::IpNet;
use serde_json::Value;

use super::cli;
use super::peer::{PeerDaemon, PeerNotification, PeerRib, PeerRoute, PeerSession};
use super::{PeerKind, PeerSetup, HOLD_TIME};

const CONF: &str = "exabgp.conf";
const API: &str = "api.sh";
/// What ExaBGP told the API process, one JSON message per line.
pub const RECEIVED: &str = "received.jsonl";
/// API commands for ExaBGP, one per line.
pub const COMMANDS: &str = "commands";
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The next hop ExaBGP announces for `p`: its link address of the prefix's family.
fn next_hop(setup: &PeerSetup, p: &IpNet) -> IpAddr {
    match (p, setup.local) {
        (IpNet::V4(_), IpAddr::V4(_)) | (IpNet::V6(_), IpAddr::V6(_)) => setup.local,
        _ => setup.local_other,
    }
}

/// The API command announcing (`announce`) or withdrawing (`withdraw`) `p`.
pub fn route_command(verb: &str, setup: &PeerSetup, p: &IpNet) -> String {
    format!("{verb} route {p} next-hop {}", next_hop(setup, p))
}

/// `exabgp.conf` for `setup`: `kept` as static routes (the rest of `setup.originate` goes
/// through the API).
pub fn render(setup: &PeerSetup, kept: &[IpNet], api: &Path) -> String {
    let mut s = String::new();
    s.push_str("# fabriclab interop: ExaBGP peer of the bundled speaker.\n");
    s.push_str(&format!(
        "process fabriclab {{\n    run {};\n    encoder json;\n}}\n\n",
        api.display()
    ));
    s.push_str(&format!("neighbor {} {{\n", setup.remote));
    s.push_str(&format!("    router-id {};\n", setup.router_id));
    s.push_str(&format!("    local-address {};\n", setup.local));
    s.push_str(&format!("    local-as {};\n", setup.local_as));
    s.push_str(&format!("    peer-as {};\n", setup.remote_as));
    s.push_str(&format!("    hold-time {HOLD_TIME};\n"));
    if setup.passive {
        s.push_str("    passive;\n");
    }
    s.push_str("    family {\n        ipv4 unicast;\n        ipv6 unicast;\n    }\n");
    s.push_str("    capability {\n        route-refresh;\n        graceful-restart 120;\n    }\n");
    s.push_str("    static {\n");
    for p in kept.iter().filter(|p| setup.originate.contains(p)) {
        s.push_str(&format!(
            "        route {p} next-hop {};\n",
            next_hop(setup, p)
        ));
    }
    s.push_str("    }\n");
    s.push_str("    api {\n        processes [ fabriclab ];\n        neighbor-changes;\n");
    s.push_str("        receive {\n            parsed;\n            open;\n            update;\n            notification;\n        }\n");
    s.push_str("        send {\n            parsed;\n            open;\n        }\n");
    s.push_str("    }\n}\n");
    s
}

/// The API process: see the module docs.
pub fn api_script(dir: &Path) -> String {
    let received = dir.join(RECEIVED);
    let commands = dir.join(COMMANDS);
    format!(
        "#!/bin/sh\n\
         # fabriclab interop: ExaBGP API process (see suites/src/interop/exabgp.rs).\n\
         '{}' -n +1 -F -s 0.1 '{}' &\n\
         relay=$!\n\
         trap 'kill $relay 2>/dev/null' EXIT INT TERM\n\
         while IFS= read -r line; do printf '%s\\n' \"$line\" >> '{}'; done\n",
        cli::exe("tail").display(),
        commands.display(),
        received.display()
    )
}

/// A running ExaBGP.
#[derive(Debug)]
pub struct Exabgp {
    sup: Supervisor,
    dir: PathBuf,
    setup: PeerSetup,
}

impl Exabgp {
    /// Writes the configuration and API process into `dir`, starts ExaBGP in `netns` (listening
    /// when passive) and waits until its API process runs.
    pub fn start(netns: &Path, dir: RunDir, setup: &PeerSetup) -> Result<Exabgp> {
        let kept = super::peer_origination().kept;
        let api_only: Vec<IpNet> = setup
            .originate
            .iter()
            .filter(|p| !kept.contains(p))
            .copied()
            .collect();
        dir.create()?;
        let path = dir.path().to_path_buf();
        let api = dir.file(API);
        std::fs::write(&api, api_script(&path))?;
        set_executable(&api)?;
        let commands: String = api_only
            .iter()
            .map(|p| route_command("announce", setup, p) + "\n")
            .collect();
        std::fs::write(dir.file(COMMANDS), commands)?;
        std::fs::write(dir.file(RECEIVED), "")?;
        let conf = dir.file(CONF);
        std::fs::write(&conf, render(setup, &kept, &api))?;
        let mut spec = ProgramSpec::new("exabgp", cli::exe("exabgp"))
            .arg(&conf)
            .env("exabgp.daemon.user", "root")
            .env("exabgp.api.cli", "false")
            .env("exabgp.log.destination", "stdout")
            .env("exabgp.tcp.port", "179");
        if setup.passive {
            spec = spec.env("exabgp.tcp.bind", setup.local.to_string());
        }
        let mut sup = Supervisor::new(netns, dir, vec![spec]);
        sup.start(START_TIMEOUT)?;
        let log = sup.dir().stdout_log("exabgp");
        sup.wait_ready(START_TIMEOUT, move || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("loaded new configuration successfully") {
                Probe::Done(())
            } else {
                Probe::pending("ExaBGP has not loaded its configuration yet")
            }
        })?;
        Ok(Exabgp {
            sup,
            dir: path,
            setup: setup.clone(),
        })
    }

    fn messages(&self) -> Result<Vec<Value>> {
        let file = self.dir.join(RECEIVED);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("failed to read {}", file.display()))?;
        Ok(parse_lines(&text))
    }
}

fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path)?.permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(path, perms)?;
    Ok(())
}

impl PeerDaemon for Exabgp {
    fn kind(&self) -> PeerKind {
        PeerKind::Exabgp
    }

    fn session(&self) -> Result<PeerSession> {
        Ok(session(&self.messages()?))
    }

    fn routes_from_bundled(&self) -> Result<PeerRib> {
        Ok(rib(&self.messages()?))
    }

    fn stop_originating(&mut self, prefixes: &[IpNet]) -> Result<()> {
        let file = self.dir.join(COMMANDS);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .with_context(|| format!("failed to open {}", file.display()))?;
        for p in prefixes {
            writeln!(f, "{}", route_command("withdraw", &self.setup, p))?;
        }
        Ok(())
    }

    fn last_notification_received(&self) -> Result<Option<PeerNotification>> {
        Ok(last_notification(&self.messages()?))
    }

    fn stop(&mut self) -> Result<()> {
        self.sup.stop(Duration::from_secs(3))?;
        Ok(())
    }

    fn logs(&self) -> Vec<PathBuf> {
        vec![self.sup.dir().stdout_log("exabgp"), self.dir.join(RECEIVED)]
    }
}

// ===== The API's JSON =====

/// The JSON messages in the API log (ExaBGP's `done` acknowledgements and partial lines are
/// skipped).
pub fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect()
}

fn msg_type(m: &Value) -> &str {
    m.get("type").and_then(Value::as_str).unwrap_or_default()
}

fn direction(m: &Value) -> &str {
    m.pointer("/neighbor/direction")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// ExaBGP's family names (`ipv4/unicast` in OPENs, `ipv4 unicast` in UPDATEs).
fn family(name: &str) -> Option<AfiSafi> {
    match name.trim().replace('/', " ").as_str() {
        "ipv4 unicast" => Some(AfiSafi::IPV4_UNICAST),
        "ipv6 unicast" => Some(AfiSafi::IPV6_UNICAST),
        _ => None,
    }
}

/// What one OPEN (as ExaBGP parsed it: `neighbor.open.capabilities`, keyed by code or name,
/// each with a `name`) advertised: capability names and MP families.
fn open_caps(m: &Value) -> (BTreeSet<String>, BTreeSet<AfiSafi>) {
    let mut names = BTreeSet::new();
    let mut fams = BTreeSet::new();
    if let Some(caps) = m
        .pointer("/neighbor/open/capabilities")
        .and_then(Value::as_object)
    {
        for c in caps.values() {
            if let Some(n) = c.get("name").and_then(Value::as_str) {
                names.insert(n.to_string());
            }
            for f in c
                .get("families")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                fams.extend(f.as_str().and_then(family));
            }
        }
    }
    (names, fams)
}

/// The session from the state changes and the last OPENs sent and received.
pub fn session(messages: &[Value]) -> PeerSession {
    let state = messages
        .iter()
        .rev()
        .filter(|m| msg_type(m) == "state")
        .find_map(|m| m.pointer("/neighbor/state").and_then(Value::as_str))
        .unwrap_or("unknown")
        .to_string();
    let established = state == "up";
    let last_open = |dir: &str| {
        messages
            .iter()
            .rev()
            .find(|m| msg_type(m) == "open" && direction(m) == dir)
    };
    let mut s = PeerSession {
        established,
        state,
        ..PeerSession::default()
    };
    if let (Some(sent), Some(recv)) = (last_open("send"), last_open("receive")) {
        let (ln, lf) = open_caps(sent);
        let (rn, rf) = open_caps(recv);
        let both = |name: &str| ln.contains(name) && rn.contains(name);
        s.remote_as = recv
            .pointer("/neighbor/open/capabilities")
            .and_then(Value::as_object)
            .and_then(|caps| caps.values().find_map(|c| c.get("asn4")))
            .and_then(Value::as_u64)
            .and_then(|a| u32::try_from(a).ok())
            .map(Asn);
        if established {
            s.four_octet_as = both("asn4");
            s.graceful_restart = both("graceful restart");
            s.route_refresh = both("route-refresh");
            s.families = lf.intersection(&rf).copied().collect();
        }
    }
    s
}

/// The routes received, replaying announcements and withdrawals in order (a session going down
/// flushes them: ExaBGP keeps no stale routes).
pub fn rib(messages: &[Value]) -> PeerRib {
    let mut rib = PeerRib::new();
    for m in messages {
        match msg_type(m) {
            "state" if m.pointer("/neighbor/state").and_then(Value::as_str) == Some("down") => {
                rib.clear();
            }
            "update" if direction(m) == "receive" => {
                let Some(u) = m.pointer("/neighbor/message/update") else {
                    continue;
                };
                let as_path: Vec<u32> = u
                    .pointer("/attribute/as-path")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_u64)
                    .filter_map(|a| u32::try_from(a).ok())
                    .collect();
                // announce: { "ipv4 unicast": { "<next hop>": [ { "nlri": "<prefix>" } ] } }
                for by_nh in u
                    .get("announce")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|a| a.values())
                    .filter_map(Value::as_object)
                {
                    for (nh, list) in by_nh {
                        for p in nlris(list) {
                            rib.insert(
                                p,
                                PeerRoute {
                                    as_path: as_path.clone(),
                                    next_hop: nh.clone(),
                                },
                            );
                        }
                    }
                }
                // withdraw: { "ipv4 unicast": [ { "nlri": "<prefix>" } ] }
                for list in u
                    .get("withdraw")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|w| w.values())
                {
                    for p in nlris(list) {
                        rib.remove(&p);
                    }
                }
            }
            _ => {}
        }
    }
    rib
}

fn nlris(list: &Value) -> Vec<IpNet> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("nlri").and_then(Value::as_str))
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The last NOTIFICATION received from the bundled speaker.
pub fn last_notification(messages: &[Value]) -> Option<PeerNotification> {
    let n = messages
        .iter()
        .rev()
        .filter(|m| msg_type(m) == "notification" && direction(m) == "receive")
        .find_map(|m| m.pointer("/neighbor/notification"))?;
    let num = |k: &str| {
        n.get(k)
            .and_then(Value::as_u64)
            .and_then(|v| u8::try_from(v).ok())
    };
    Some(PeerNotification {
        code: num("code").zip(num("subcode")),
        text: format!("ExaBGP API: {n}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = include_str!("testdata/exabgp_received.jsonl");

    #[test]
    fn session_routes_and_notification_from_the_api_log() {
        // The fixture: up, routes, two withdrawals, then `disable` (Cease 6/2, session down).
        let all = parse_lines(LOG);
        let up: Vec<Value> = all
            .iter()
            .take_while(|m| msg_type(m) != "notification")
            .cloned()
            .collect();
        assert!(up.len() < all.len());
        let s = session(&up);
        assert!(s.missing(Asn(4_200_000_001)).is_empty(), "{s}");
        let r = rib(&up);
        let keys: Vec<String> = r.keys().map(ToString::to_string).collect();
        assert_eq!(keys, ["198.51.100.0/24", "2001:db8:100::/48"]);
        assert!(r.values().all(|r| r.as_path == vec![4_200_000_001]));
        assert_eq!(last_notification(&up), None);

        assert!(!session(&all).established);
        assert!(rib(&all).is_empty());
        let n = last_notification(&all).unwrap_or_else(|| panic!("no notification"));
        assert!(n.is_admin_shutdown(), "{n}");
    }

    #[test]
    fn withdrawals_and_session_down_remove_routes() {
        let a = r#"{"type":"update","neighbor":{"direction":"receive","message":{"update":{"attribute":{"as-path":[1]},"announce":{"ipv4 unicast":{"10.0.0.0":[{"nlri":"198.51.100.0/24"},{"nlri":"198.51.101.0/24"}]}}}}}}"#;
        let w = r#"{"type":"update","neighbor":{"direction":"receive","message":{"update":{"withdraw":{"ipv4 unicast":[{"nlri":"198.51.101.0/24"}]}}}}}"#;
        let down = r#"{"type":"state","neighbor":{"state":"down"}}"#;
        let r = rib(&parse_lines(&format!("{a}\ndone\n{w}\n")));
        assert_eq!(r.len(), 1);
        assert!(rib(&parse_lines(&format!("{a}\n{down}\n"))).is_empty());
    }

    #[test]
    fn config_has_statics_api_and_passive() {
        let a = |s: &str| -> IpAddr { s.parse().unwrap_or_else(|e| panic!("{e}")) };
        let n = |s: &str| -> IpNet { s.parse().unwrap_or_else(|e| panic!("{e}")) };
        let setup = PeerSetup {
            local: a("10.0.0.1"),
            remote: a("10.0.0.0"),
            local_other: a("fd00:0:0:1::1"),
            local_as: Asn(4_200_000_002),
            remote_as: Asn(4_200_000_001),
            router_id: "10.255.0.2".parse().unwrap_or_else(|e| panic!("{e}")),
            passive: true,
            originate: vec![
                n("203.0.113.0/24"),
                n("2001:db8:200::/48"),
                n("192.0.2.0/24"),
            ],
            transport: super::super::Transport::V4,
        };
        let kept = vec![n("203.0.113.0/24"), n("2001:db8:200::/48")];
        let c = render(&setup, &kept, Path::new("/x/api.sh"));
        assert!(c.contains("route 203.0.113.0/24 next-hop 10.0.0.1;"));
        assert!(c.contains("route 2001:db8:200::/48 next-hop fd00:0:0:1::1;"));
        assert!(!c.contains("192.0.2.0/24"));
        assert!(c.contains("passive;") && c.contains("run /x/api.sh;"));
        let api = api_script(Path::new("/x"));
        assert!(api.starts_with("#!/bin/sh\n"));
        assert!(api.contains(" -n +1 -F -s 0.1 '/x/commands' &\n"), "{api}");
        assert!(api.contains(">> '/x/received.jsonl'; done\n"), "{api}");
        assert_eq!(
            route_command("withdraw", &setup, &n("192.0.2.0/24")),
            "withdraw route 192.0.2.0/24 next-hop 10.0.0.1"
        );
    }
}
