//! The speaker under test: `fabric-speaker --config speaker.yaml` in the `dut` namespace, its
//! typed configuration built here, and its control socket (JSON lines, `fabric_speaker::control`)
//! for routes, withdrawals and the neighbor table.

use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use fabric_bgp_wire::RouterId;
use fabric_speaker::config::{
    AddressFamily, Config, GracefulRestart, Listen, Neighbor, PolicyRef, RemoteAs,
};
use fabric_speaker::control::{self, NeighborStatus, Request, Response, RouteDir, RouteEntry};
use fabriclab::process::{ProgramSpec, RunDir, StopReport, Supervisor};
use fabriclab::speakers::{speaker_binary, SPEAKER_BIN_ENV};
use fabriclab::wait::Probe;
use ipnet::IpNet;

use super::{BUNDLED_AS, BUNDLED_ID, CONNECT_RETRY, HOLD_TIME, KEEPALIVE, PEER_AS};

/// Configuration file name in the run directory.
pub const CONF: &str = "speaker.yaml";
/// Control socket name in the run directory.
pub const SOCKET: &str = "speaker.sock";
/// How long the daemon may take to answer `status` after start.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one control request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the bundled speaker cannot run here, if it cannot.
pub fn missing() -> Option<String> {
    speaker_binary().is_none().then(|| {
        format!("fabric-speaker is not built: run `cargo build -p fabric-speaker` or set {SPEAKER_BIN_ENV}")
    })
}

/// The speaker's configuration: one neighbor (`peer`, both unicast families, short timers,
/// accept-all policies both ways since RFC 8212 makes eBGP reject-all by default), graceful
/// restart advertised, `prefixes` originated, listening dual-stack on port 179.
pub fn config(
    local: IpAddr,
    peer: IpAddr,
    passive: bool,
    prefixes: &[IpNet],
    socket: &Path,
) -> Config {
    let mut c = Config::new(RouterId(BUNDLED_ID), BUNDLED_AS);
    c.listen = Listen {
        // Dual-stack: the same listener takes the IPv4 and the IPv6 sessions.
        address: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        port: 179,
    };
    c.hostname = Some("dut".to_string());
    c.graceful_restart = GracefulRestart {
        enabled: true,
        restart_time: 120,
        ..GracefulRestart::default()
    };
    let mut n = Neighbor::new(peer, RemoteAs::Asn(PEER_AS));
    n.description = Some("interop peer".to_string());
    n.address_families = vec![AddressFamily::Ipv4Unicast, AddressFamily::Ipv6Unicast];
    n.hold_time = HOLD_TIME;
    n.keepalive = Some(KEEPALIVE);
    n.connect_retry = CONNECT_RETRY;
    n.idle_hold_time = 1;
    n.passive = passive;
    n.local_address = Some(local);
    n.import_policy = Some(PolicyRef::AcceptAll);
    n.export_policy = Some(PolicyRef::AcceptAll);
    c.neighbors.push(n);
    c.prefixes = prefixes.to_vec();
    c.control_socket = Some(socket.to_path_buf());
    c.log_level = "debug".to_string();
    c
}

/// A running bundled speaker with one neighbor.
#[derive(Debug)]
pub struct BundledSpeaker {
    sup: Supervisor,
    socket: PathBuf,
    peer: IpAddr,
}

impl BundledSpeaker {
    /// Writes `config` into `dir` and starts the speaker in `netns`; returns once the control
    /// socket answers `status`.
    pub fn start(netns: &Path, dir: RunDir, config: &Config) -> Result<BundledSpeaker> {
        let bin = speaker_binary().ok_or_else(|| anyhow!("{}", missing().unwrap_or_default()))?;
        let peer = config
            .neighbors
            .first()
            .map(|n| n.address)
            .ok_or_else(|| anyhow!("the speaker config has no neighbor"))?;
        dir.create()
            .with_context(|| format!("failed to create {}", dir.path().display()))?;
        let file = dir.file(CONF);
        std::fs::write(&file, config.to_yaml()?)
            .with_context(|| format!("failed to write {}", file.display()))?;
        let socket = config.control_socket_path();
        let spec = ProgramSpec::new("fabric-speaker", bin)
            .arg("--config")
            .arg(&file);
        let mut sup = Supervisor::new(netns, dir, vec![spec]);
        sup.start(READY_TIMEOUT)?;
        let probe_socket = socket.clone();
        sup.wait_ready(READY_TIMEOUT, move || {
            match control::request(&probe_socket, &Request::Status, REQUEST_TIMEOUT) {
                Ok(r) if r.ok && r.status.is_some() => Probe::Done(()),
                Ok(r) => Probe::pending(format!("status answer: {r:?}")),
                Err(e) => Probe::pending(e),
            }
        })?;
        Ok(BundledSpeaker { sup, socket, peer })
    }

    /// The neighbor's address.
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// One request; an answer with `ok: false` is an error carrying the daemon's message.
    pub fn ask(&self, req: &Request) -> Result<Response> {
        let r = control::request(&self.socket, req, REQUEST_TIMEOUT)?;
        if !r.ok {
            bail!(
                "control request {} refused: {}",
                serde_json::to_string(req).unwrap_or_default(),
                r.error.unwrap_or_default()
            );
        }
        Ok(r)
    }

    /// The neighbor's status.
    pub fn neighbor(&self) -> Result<NeighborStatus> {
        let r = self.ask(&Request::Neighbors {
            peer: Some(self.peer),
        })?;
        r.neighbors
            .and_then(|n| n.into_iter().find(|n| n.address == self.peer))
            .ok_or_else(|| anyhow!("the neighbor table has no {}", self.peer))
    }

    /// Routes received from the neighbor (its Adj-RIB-In).
    pub fn routes(&self, dir: RouteDir) -> Result<Vec<RouteEntry>> {
        let r = self.ask(&Request::Routes {
            dir,
            peer: Some(self.peer),
            prefix: None,
        })?;
        r.routes
            .ok_or_else(|| anyhow!("the routes answer carries no routes"))
    }

    /// Stops originating `prefix`.
    pub fn withdraw(&self, prefix: IpNet) -> Result<()> {
        self.ask(&Request::Withdraw { prefix }).map(|_| ())
    }

    /// Stops the session with Cease/Administrative Shutdown and keeps it down; no shutdown
    /// communication (RFC 9003) is sent.
    pub fn disable(&self) -> Result<()> {
        self.ask(&Request::Disable {
            peer: self.peer,
            communication: None,
        })
        .map(|_| ())
    }

    /// SIGTERM (the daemon sends Cease/Administrative Shutdown to every peer, then exits), waiting
    /// up to `grace` before SIGKILL.
    pub fn terminate(&mut self, grace: Duration) -> Result<StopReport> {
        Ok(self.sup.stop(grace)?)
    }

    /// The daemon's log (stderr), for failure messages.
    pub fn log_path(&self) -> PathBuf {
        self.sup.dir().stderr_log("fabric-speaker")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn config_is_valid_and_round_trips() {
        let prefixes: Vec<IpNet> = ["198.51.100.0/24", "2001:db8:100::/48"]
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        for (local, peer) in [("10.0.0.0", "10.0.0.1"), ("fd00:0:0:1::", "fd00:0:0:1::1")] {
            let (Ok(local), Ok(peer)) = (local.parse::<IpAddr>(), peer.parse::<IpAddr>()) else {
                panic!("bad literal");
            };
            let c = config(
                local,
                peer,
                true,
                &prefixes,
                Path::new("/tmp/x/speaker.sock"),
            );
            let yaml = c.to_yaml().unwrap_or_else(|e| panic!("{e}"));
            let back =
                Config::parse(&yaml, Path::new(CONF)).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            assert_eq!(back, c);
            let n = &back.neighbors[0];
            assert!(n.passive);
            assert_eq!(n.local_address, Some(local));
            assert_eq!(n.address_families.len(), 2);
            assert_eq!(back.prefixes, prefixes);
            assert!(back.graceful_restart.enabled);
        }
    }
}
