//! BIRD 2 as the peer: `bird -f -c bird.conf -s bird.ctl`, queried with `birdc`.
//!
//! Each originated prefix is its own static protocol (`o0`, `o1`, ...) so that one prefix is
//! withdrawn by `birdc disable oN`. Over an IPv6 session the IPv4 channel uses the extended next
//! hop (RFC 8950), which the bundled speaker advertises there; over an IPv4 session BIRD sends
//! IPv6 routes with the interface's global IPv6 address as next hop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use fabric_bgp_wire::{Afi, AfiSafi, Asn, Safi};
use fabriclab::process::{ProgramSpec, RunDir, Supervisor};
use fabriclab::wait::Probe;
use ipnet::IpNet;

use super::cli::{self, QUERY_TIMEOUT};
use super::peer::{cease_subcode, PeerDaemon, PeerNotification, PeerRib, PeerSession};
use super::{PeerKind, PeerSetup, Transport, CONNECT_RETRY, HOLD_TIME, KEEPALIVE};

/// The BGP protocol's name in BIRD.
pub const PROTOCOL: &str = "bundled";
const CONF: &str = "bird.conf";
const CTL: &str = "bird.ctl";
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// `bird.conf` for `setup`, and the static protocol originating each prefix.
pub fn render(setup: &PeerSetup) -> (String, BTreeMap<IpNet, String>) {
    let mut statics = BTreeMap::new();
    let mut s = String::new();
    s.push_str("# fabriclab interop: BIRD 2 peer of the bundled speaker.\n");
    s.push_str(&format!("router id {};\n", setup.router_id));
    s.push_str("log stderr all;\n");
    s.push_str("protocol device {}\n");
    for (i, p) in setup.originate.iter().enumerate() {
        let name = format!("o{i}");
        let channel = match p {
            IpNet::V4(_) => "ipv4",
            IpNet::V6(_) => "ipv6",
        };
        s.push_str(&format!(
            "protocol static {name} {{ {channel}; route {p} blackhole; }}\n"
        ));
        statics.insert(*p, name);
    }
    s.push_str(&format!("protocol bgp {PROTOCOL} {{\n"));
    s.push_str(&format!(
        "  local {} as {};\n  neighbor {} as {};\n",
        setup.local, setup.local_as, setup.remote, setup.remote_as
    ));
    if setup.passive {
        s.push_str("  passive on;\n");
    }
    // daemons.md: BIRD's default start delay (5 s) and error wait (60 s) make cases slow.
    s.push_str(&format!(
        "  hold time {HOLD_TIME}; keepalive time {KEEPALIVE}; connect retry time {CONNECT_RETRY};\n"
    ));
    s.push_str("  start delay time 0; error wait time 1,5;\n");
    s.push_str("  graceful restart on;\n");
    let enh = if setup.transport == Transport::V6 {
        " extended next hop on;"
    } else {
        ""
    };
    s.push_str(&format!("  ipv4 {{ import all; export all;{enh} }};\n"));
    s.push_str("  ipv6 { import all; export all; };\n");
    s.push_str("}\n");
    (s, statics)
}

/// A running BIRD.
#[derive(Debug)]
pub struct Bird {
    sup: Supervisor,
    ctl: PathBuf,
    statics: BTreeMap<IpNet, String>,
}

impl Bird {
    /// Writes the configuration into `dir`, starts BIRD in `netns` and waits until `birdc`
    /// answers.
    pub fn start(netns: &Path, dir: RunDir, setup: &PeerSetup) -> Result<Bird> {
        let (conf, statics) = render(setup);
        dir.create()?;
        let file = dir.file(CONF);
        std::fs::write(&file, conf)?;
        let ctl = dir.file(CTL);
        let spec = ProgramSpec::new("bird", cli::exe("bird"))
            .arg("-f")
            .arg("-c")
            .arg(&file)
            .arg("-s")
            .arg(&ctl);
        let mut sup = Supervisor::new(netns, dir, vec![spec]);
        sup.start(START_TIMEOUT)?;
        let probe_ctl = ctl.clone();
        sup.wait_ready(START_TIMEOUT, move || {
            if !probe_ctl.exists() {
                return Probe::pending(format!("{} does not exist yet", probe_ctl.display()));
            }
            Probe::from_result(birdc(&probe_ctl, &["show", "status"]).map(|_| ()))
        })?;
        Ok(Bird { sup, ctl, statics })
    }
}

fn birdc(ctl: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new(cli::exe("birdc"));
    cmd.arg("-s").arg(ctl).args(args);
    cli::run(cmd, None, QUERY_TIMEOUT)
}

impl PeerDaemon for Bird {
    fn kind(&self) -> PeerKind {
        PeerKind::Bird
    }

    fn session(&self) -> Result<PeerSession> {
        let out = birdc(&self.ctl, &["show", "protocols", "all", PROTOCOL])?;
        parse_protocol(&out).map(|p| p.session)
    }

    fn routes_from_bundled(&self) -> Result<PeerRib> {
        let out = birdc(&self.ctl, &["show", "route", "all", "protocol", PROTOCOL])?;
        Ok(parse_routes(&out))
    }

    fn stop_originating(&mut self, prefixes: &[IpNet]) -> Result<()> {
        for p in prefixes {
            let name = self
                .statics
                .get(p)
                .ok_or_else(|| anyhow!("BIRD does not originate {p}"))?;
            let out = birdc(&self.ctl, &["disable", name])?;
            if !out.contains("disabled") {
                bail!("birdc disable {name}: {}", out.trim());
            }
        }
        Ok(())
    }

    fn last_notification_received(&self) -> Result<Option<PeerNotification>> {
        let out = birdc(&self.ctl, &["show", "protocols", "all", PROTOCOL])?;
        Ok(parse_protocol(&out)?.last_received)
    }

    fn stop(&mut self) -> Result<()> {
        self.sup.stop(Duration::from_secs(3))?;
        Ok(())
    }

    fn logs(&self) -> Vec<PathBuf> {
        vec![self.sup.dir().stderr_log("bird")]
    }
}

/// What `show protocols all NAME` says about one BGP protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BirdProtocol {
    pub session: PeerSession,
    /// From `Last error: Received: ...` (BIRD words NOTIFICATIONs it received that way).
    pub last_received: Option<PeerNotification>,
    /// The RFC 9003 communication (`Message:` line).
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Local,
    Neighbor,
}

/// Parses `birdc show protocols all NAME` for one BGP protocol.
pub fn parse_protocol(text: &str) -> Result<BirdProtocol> {
    let mut found = false;
    let mut p = BirdProtocol::default();
    let mut section = Section::None;
    let mut last_item = String::new();
    let mut local: BTreeSet<String> = BTreeSet::new();
    let mut neighbor: BTreeSet<String> = BTreeSet::new();
    let mut local_afs: BTreeSet<String> = BTreeSet::new();
    let mut neighbor_afs: BTreeSet<String> = BTreeSet::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if indent == 0 {
            let mut tokens = t.split_whitespace();
            if let (Some(_), Some("BGP")) = (tokens.next(), tokens.next()) {
                found = true;
            }
            continue;
        }
        if t.starts_with("Local capabilities") {
            section = Section::Local;
            continue;
        }
        if t.starts_with("Neighbor capabilities") {
            section = Section::Neighbor;
            continue;
        }
        // Capability items are indented 6, their details deeper (BIRD 2.0 layout).
        if section != Section::None && indent >= 6 {
            let (items, afs) = match section {
                Section::Neighbor => (&mut neighbor, &mut neighbor_afs),
                _ => (&mut local, &mut local_afs),
            };
            if indent == 6 {
                last_item = t.to_string();
                items.insert(t.to_string());
            } else if last_item == "Multiprotocol" {
                if let Some(list) = t.strip_prefix("AF announced:") {
                    afs.extend(list.split_whitespace().map(str::to_string));
                }
            }
            continue;
        }
        section = Section::None;
        if let Some(v) = t.strip_prefix("BGP state:") {
            p.session.state = v.trim().to_string();
        } else if let Some(v) = t.strip_prefix("Neighbor AS:") {
            p.session.remote_as = v.trim().parse().ok().map(Asn);
        } else if let Some(v) = t.strip_prefix("Last error:") {
            p.last_received = v.trim().strip_prefix("Received:").map(|what| {
                let what = what.trim();
                PeerNotification {
                    code: cease_subcode(what).map(|s| (6, s)),
                    text: what.to_string(),
                }
            });
        } else if let Some(v) = t.strip_prefix("Message:") {
            p.message = Some(v.trim().to_string());
        }
    }
    if !found {
        bail!("no BGP protocol in birdc output: {}", text.trim());
    }
    let s = &mut p.session;
    s.established = s.state == "Established";
    if s.established {
        let both = |name: &str| local.contains(name) && neighbor.contains(name);
        s.four_octet_as = both("4-octet AS numbers");
        s.graceful_restart = both("Graceful restart");
        s.route_refresh = both("Route refresh");
        s.families = local_afs
            .intersection(&neighbor_afs)
            .filter_map(|af| match af.as_str() {
                "ipv4" => Some(AfiSafi::IPV4_UNICAST),
                "ipv6" => Some(AfiSafi {
                    afi: Afi::Ipv6,
                    safi: Safi::Unicast,
                }),
                _ => None,
            })
            .collect();
    }
    Ok(p)
}

/// Parses `birdc show route all protocol NAME`: prefix lines start in column 0, attributes follow
/// indented (`BGP.as_path: ...`, `BGP.next_hop: ...`).
pub fn parse_routes(text: &str) -> PeerRib {
    let mut rib = PeerRib::new();
    let mut current: Option<IpNet> = None;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            current = line
                .split_whitespace()
                .next()
                .and_then(|t| t.parse::<IpNet>().ok());
            if let Some(p) = current {
                rib.entry(p).or_default();
            }
            continue;
        }
        let Some(route) = current.and_then(|p| rib.get_mut(&p)) else {
            continue;
        };
        let t = line.trim();
        if let Some(v) = t.strip_prefix("BGP.as_path:") {
            route.as_path = v
                .split(|c: char| c.is_whitespace() || c == '{' || c == '}' || c == ',')
                .filter_map(|a| a.parse().ok())
                .collect();
        } else if let Some(v) = t.strip_prefix("BGP.next_hop:") {
            route.next_hop = v.trim().to_string();
        }
    }
    rib
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: &str = include_str!("testdata/bird_protocol_up.txt");
    const SHUT: &str = include_str!("testdata/bird_protocol_shutdown.txt");
    const ROUTES: &str = include_str!("testdata/bird_routes.txt");

    fn setup(transport: Transport) -> PeerSetup {
        let v4 = transport == Transport::V4;
        let a = |s: &str| s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        PeerSetup {
            local: a(if v4 { "10.0.0.1" } else { "fd00:0:0:1::1" }),
            remote: a(if v4 { "10.0.0.0" } else { "fd00:0:0:1::" }),
            local_other: a(if v4 { "fd00:0:0:1::1" } else { "10.0.0.1" }),
            local_as: Asn(4_200_000_002),
            remote_as: Asn(4_200_000_001),
            router_id: "10.255.0.2".parse().unwrap_or_else(|e| panic!("{e}")),
            passive: true,
            originate: ["203.0.113.0/24", "2001:db8:200::/48"]
                .iter()
                .map(|p| p.parse().unwrap_or_else(|e| panic!("{e}")))
                .collect(),
            transport,
        }
    }

    #[test]
    fn renders_one_static_per_prefix_and_enh_only_over_ipv6() {
        let (c4, statics) = render(&setup(Transport::V4));
        assert_eq!(statics.len(), 2);
        assert!(c4.contains("protocol static o0 { ipv4; route 203.0.113.0/24 blackhole; }"));
        assert!(c4.contains("protocol static o1 { ipv6; route 2001:db8:200::/48 blackhole; }"));
        assert!(c4.contains("neighbor 10.0.0.0 as 4200000001;"));
        assert!(c4.contains("passive on;"));
        assert!(!c4.contains("extended next hop"));
        let (c6, _) = render(&setup(Transport::V6));
        assert!(c6.contains("local fd00:0:0:1::1 as 4200000002;"));
        assert!(c6.contains("extended next hop on;"));
    }

    #[test]
    fn established_protocol_with_capabilities() {
        let p = parse_protocol(UP).unwrap_or_else(|e| panic!("{e}"));
        let s = &p.session;
        assert!(s.established, "{s}");
        assert_eq!(s.remote_as, Some(Asn(4_200_000_001)));
        assert!(
            s.four_octet_as && s.graceful_restart && s.route_refresh,
            "{s}"
        );
        assert_eq!(s.families.len(), 2);
        assert!(s.missing(Asn(4_200_000_001)).is_empty());
        assert_eq!(p.last_received, None);
    }

    #[test]
    fn one_sided_capability_is_not_negotiated() {
        let text = UP.replacen("      Graceful restart\n", "", 1);
        let p = parse_protocol(&text).unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.session.graceful_restart);
        assert!(p.session.route_refresh);
    }

    #[test]
    fn administrative_shutdown_received() {
        let p = parse_protocol(SHUT).unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.session.established);
        let n = p
            .last_received
            .unwrap_or_else(|| panic!("no last error parsed"));
        assert!(n.is_admin_shutdown(), "{n}");
        assert_eq!(p.message.as_deref(), Some("fabric-speaker shutting down"));
        assert!(parse_protocol("BIRD 2.0.12 ready.\n").is_err());
    }

    #[test]
    fn routes_with_as_path_and_next_hop() {
        let rib = parse_routes(ROUTES);
        let keys: Vec<String> = rib.keys().map(ToString::to_string).collect();
        assert_eq!(
            keys,
            [
                "198.51.100.0/24",
                "198.51.101.0/24",
                "2001:db8:100::/48",
                "2001:db8:101::/48"
            ]
        );
        for r in rib.values() {
            assert_eq!(r.as_path, vec![4_200_000_001]);
        }
        let v6: IpNet = "2001:db8:100::/48"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            rib.get(&v6).map(|r| r.next_hop.as_str()),
            Some("fd00:0:0:1::")
        );
    }
}
