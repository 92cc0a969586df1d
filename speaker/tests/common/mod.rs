//! Scaffolding shared by the speaker's integration tests: polling with a deadline, scratch
//! directories, free loopback ports, base configurations, a `fabric-speaker` process wrapper
//! ([`process::Speaker`]) and one speaker driven by a hand-written raw peer ([`raw::Dut`]).

// Each test binary compiles this module and uses only a subset of it.
#![allow(dead_code)]

pub mod process;
pub mod raw;

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fabric_bgp_wire::{Asn, RouterId};
use fabric_speaker::config::{AddressFamily, Config, Kernel, Neighbor, RemoteAs};
use ipnet::IpNet;

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How often a wait probes again.
pub const POLL: Duration = Duration::from_millis(100);

/// Polls `probe` until it returns `Ok` or `timeout` passes; the error carries the last
/// observation.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let end = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(v) => return Ok(v),
            Err(last) if Instant::now() >= end => {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}; last: {last}"
                ))
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// A scratch directory `<tmp>/<prefix>-<tag>-<pid>`, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates the directory afresh (a leftover of an earlier run is removed first).
    pub fn new(prefix: &str, tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port free on `addr` now (speakers listen on distinct loopback addresses with this port).
pub fn free_port(addr: Ipv4Addr) -> u16 {
    TcpListener::bind((addr, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A speaker configuration listening on `listen`:`port`, kernel FIB disabled.
pub fn config(id: Ipv4Addr, asn: u32, listen: Ipv4Addr, port: u16) -> Config {
    let mut c = Config::new(RouterId(id), Asn(asn));
    c.listen.address = IpAddr::V4(listen);
    c.listen.port = port;
    // The host's namespace: never touch its kernel routes.
    c.kernel = Kernel::disabled();
    c
}

/// A neighbor on `port` with short timers (hold 9 s, retries after 1 s), IPv4 and IPv6 unicast.
pub fn neighbor(address: Ipv4Addr, remote_as: RemoteAs, port: u16) -> Neighbor {
    let mut n = Neighbor::new(IpAddr::V4(address), remote_as);
    n.port = port;
    n.hold_time = 9;
    n.connect_retry = 1;
    n.idle_hold_time = 1;
    n.address_families = vec![AddressFamily::Ipv4Unicast, AddressFamily::Ipv6Unicast];
    n
}

/// [`neighbor`] with an explicit remote AS.
pub fn neighbor_as(address: Ipv4Addr, asn: u32, port: u16) -> Neighbor {
    neighbor(address, RemoteAs::Asn(Asn(asn)), port)
}

/// Parses a list of prefixes.
pub fn prefixes(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}
