//! What every peer driver answers, read from the peer's own CLI (or, for ExaBGP, which has no
//! query CLI, from the messages its API process logged).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use fabric_bgp_wire::{AfiSafi, Asn};
use fabriclab::process::RunDir;
use ipnet::IpNet;

use super::{PeerKind, PeerSetup};

/// The session as the peer reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSession {
    /// The state in the daemon's words.
    pub state: String,
    /// RFC 4271 Established.
    pub established: bool,
    /// The AS the peer sees on the other side.
    pub remote_as: Option<Asn>,
    /// 4-octet AS numbers negotiated (both sides advertised the capability, RFC 6793).
    pub four_octet_as: bool,
    /// Multiprotocol families both sides advertised (RFC 4760).
    pub families: BTreeSet<AfiSafi>,
    /// Graceful restart advertised by both sides (RFC 4724).
    pub graceful_restart: bool,
    /// Route refresh advertised by both sides (RFC 2918).
    pub route_refresh: bool,
}

impl PeerSession {
    /// What the interop cases require that this session lacks (empty when it has it all):
    /// Established, the remote AS, 4-octet AS, IPv4 and IPv6 unicast, graceful restart, route
    /// refresh.
    pub fn missing(&self, remote_as: Asn) -> Vec<String> {
        let mut m = Vec::new();
        if !self.established {
            m.push(format!("Established (state is {:?})", self.state));
        }
        if self.remote_as != Some(remote_as) {
            m.push(format!(
                "remote AS {remote_as} (the peer reports {:?})",
                self.remote_as.map(|a| a.0)
            ));
        }
        if !self.four_octet_as {
            m.push("4-octet AS".into());
        }
        for af in [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST] {
            if !self.families.contains(&af) {
                m.push(format!("multiprotocol {af}"));
            }
        }
        if !self.graceful_restart {
            m.push("graceful restart".into());
        }
        if !self.route_refresh {
            m.push("route refresh".into());
        }
        m
    }
}

impl fmt::Display for PeerSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fams: Vec<String> = self.families.iter().map(ToString::to_string).collect();
        write!(
            f,
            "state {} remote-as {:?} as4 {} families [{}] gr {} rr {}",
            self.state,
            self.remote_as.map(|a| a.0),
            self.four_octet_as,
            fams.join(" "),
            self.graceful_restart,
            self.route_refresh
        )
    }
}

/// A route the peer learned from the bundled speaker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerRoute {
    /// AS_PATH as a flat list (sets flattened), as the peer shows it.
    pub as_path: Vec<u32>,
    /// Next hop as the peer shows it (free text: daemons print IPv4-mapped addresses
    /// differently).
    pub next_hop: String,
}

impl fmt::Display for PeerRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path: Vec<String> = self.as_path.iter().map(u32::to_string).collect();
        write!(f, "as-path [{}] next-hop {}", path.join(" "), self.next_hop)
    }
}

/// Routes by prefix.
pub type PeerRib = BTreeMap<IpNet, PeerRoute>;

/// The last NOTIFICATION the peer received, as far as it tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerNotification {
    /// Error code and subcode, when the daemon shows them as numbers (or a name we map).
    pub code: Option<(u8, u8)>,
    /// The daemon's own words, for messages.
    pub text: String,
}

impl PeerNotification {
    /// Cease / Administrative Shutdown (RFC 4486 §4 subcode 2).
    pub fn is_admin_shutdown(&self) -> bool {
        self.code == Some((6, 2))
    }
}

impl fmt::Display for PeerNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some((c, s)) => write!(f, "{c}/{s} ({})", self.text),
            None => write!(f, "({})", self.text),
        }
    }
}

/// Cease subcodes by the names daemons print (RFC 4486 §4, RFC 8538 §5), case-insensitive.
pub fn cease_subcode(name: &str) -> Option<u8> {
    let n = name.trim().to_ascii_lowercase();
    Some(match n.as_str() {
        "maximum number of prefixes reached" => 1,
        "administrative shutdown" => 2,
        "peer de-configured" | "peer deconfigured" => 3,
        "administrative reset" => 4,
        "connection rejected" => 5,
        "other configuration change" => 6,
        "connection collision resolution" => 7,
        "out of resources" => 8,
        "hard reset" => 9,
        _ => return None,
    })
}

/// A peer daemon running in the `peer` namespace with one session to the bundled speaker.
pub trait PeerDaemon: Send {
    /// Which implementation.
    fn kind(&self) -> PeerKind;
    /// The session as the peer's CLI shows it.
    fn session(&self) -> Result<PeerSession>;
    /// The routes the peer holds from the bundled speaker (accepted and usable).
    fn routes_from_bundled(&self) -> Result<PeerRib>;
    /// Stops announcing `prefixes` (which the peer announced at start).
    fn stop_originating(&mut self, prefixes: &[IpNet]) -> Result<()>;
    /// The last NOTIFICATION the peer received from the bundled speaker, if any.
    fn last_notification_received(&self) -> Result<Option<PeerNotification>>;
    /// Stops the daemon (SIGTERM, then SIGKILL after a grace period).
    fn stop(&mut self) -> Result<()>;
    /// Log files worth reading when a case fails.
    fn logs(&self) -> Vec<PathBuf>;
}

/// Starts the peer of `kind` in `netns` with its files in `dir`; returns once its CLI (or API)
/// answers and its prefixes are configured.
pub fn start(
    kind: PeerKind,
    netns: &Path,
    dir: RunDir,
    setup: &PeerSetup,
) -> Result<Box<dyn PeerDaemon>> {
    Ok(match kind {
        PeerKind::Bird => Box::new(super::bird::Bird::start(netns, dir, setup)?),
        PeerKind::Frr => Box::new(super::frr::Frr::start(netns, dir, setup)?),
        PeerKind::Gobgp => Box::new(super::gobgp::Gobgp::start(netns, dir, setup)?),
        PeerKind::Exabgp => Box::new(super::exabgp::Exabgp::start(netns, dir, setup)?),
    })
}

/// Why `kind` cannot run here (a missing executable), if it cannot.
pub fn missing(kind: PeerKind) -> Option<String> {
    let needs: &[(&str, &str)] = match kind {
        PeerKind::Bird => &[("bird", "bird2"), ("birdc", "bird2")],
        PeerKind::Frr => &[
            (super::frr::ZEBRA, "frr"),
            (super::frr::BGPD, "frr"),
            ("vtysh", "frr"),
        ],
        PeerKind::Gobgp => &[("gobgpd", "gobgpd"), ("gobgp", "gobgpd")],
        PeerKind::Exabgp => &[("exabgp", "exabgp")],
    };
    needs.iter().find_map(|(bin, pkg)| {
        fabriclab::speakers::find_executable(bin)
            .is_none()
            .then(|| {
                format!("{kind} needs `{bin}`, which is not installed (apt-get install {pkg})")
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_session_misses_nothing_and_each_gap_is_named() {
        let full = PeerSession {
            state: "Established".into(),
            established: true,
            remote_as: Some(Asn(4_200_000_001)),
            four_octet_as: true,
            families: [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST].into(),
            graceful_restart: true,
            route_refresh: true,
        };
        assert!(full.missing(Asn(4_200_000_001)).is_empty());
        assert_eq!(full.missing(Asn(65001)).len(), 1);
        let mut gap = full.clone();
        gap.families.remove(&AfiSafi::IPV6_UNICAST);
        gap.graceful_restart = false;
        let m = gap.missing(Asn(4_200_000_001));
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m.iter().any(|s| s.contains("ipv6-unicast")));
        assert_eq!(PeerSession::default().missing(Asn(1)).len(), 7);
    }

    #[test]
    fn cease_names_map_to_subcodes() {
        assert_eq!(cease_subcode("Administrative shutdown"), Some(2));
        assert_eq!(cease_subcode(" administrative Reset "), Some(4));
        assert_eq!(cease_subcode("Hold timer expired"), None);
        let n = PeerNotification {
            code: Some((6, 2)),
            text: "x".into(),
        };
        assert!(n.is_admin_shutdown());
    }
}
