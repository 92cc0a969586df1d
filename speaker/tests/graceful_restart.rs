//! Graceful restart, helper role (RFC 4724 §4.2, RFC 8538), end to end: two `fabric-speaker`
//! processes over loopback (distinct 127.x addresses, a high port, no root, kernel FIB
//! disabled). Speaker `b` is killed (SIGKILL: its connection ends without a NOTIFICATION) or
//! stopped; speaker `a`, the helper, must keep or drop `b`'s routes as the RFCs say. Everything
//! is observed through `a`'s control socket and logs; waiting is polling with a deadline.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fabric_bgp_wire::{Asn, RouterId};
use fabric_speaker::config::{AddressFamily, Config, Kernel, Neighbor, RemoteAs, RestartMode};
use fabric_speaker::control::{self, NeighborStatus, Request, Response, RouteDir, RouteEntry};
use fabric_speaker::fsm::State;
use ipnet::IpNet;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

fn wait_until<T>(
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

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("fl-grhelper-{tag}-{}", std::process::id()));
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

/// A running speaker process; killed on drop if still running.
struct Speaker {
    name: String,
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Speaker {
    fn start(name: &str, dir: &Path, mut config: Config) -> Speaker {
        let socket = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.log"));
        let path = dir.join(format!("{name}.yaml"));
        config.control_socket = Some(socket.clone());
        config.log_level = "debug".into();
        std::fs::write(&path, config.to_yaml().unwrap()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_fabric-speaker"))
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let s = Speaker {
            name: name.to_owned(),
            child,
            socket,
            log,
        };
        wait_until("control socket", DEADLINE, || {
            s.request(&Request::Status).map(|_| ())
        })
        .unwrap_or_else(|e| s.fail(e));
        s
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn fail(&self, e: String) -> ! {
        panic!("{e}\n--- {} log ---\n{}", self.name, self.logs())
    }

    fn request(&self, req: &Request) -> Result<Response, String> {
        let r = control::request(&self.socket, req, Duration::from_secs(2))
            .map_err(|e| e.to_string())?;
        if r.ok {
            Ok(r)
        } else {
            Err(r.error.unwrap_or_default())
        }
    }

    fn neighbor(&self, peer: IpAddr) -> Result<NeighborStatus, String> {
        let r = self.request(&Request::Neighbors { peer: Some(peer) })?;
        r.neighbors
            .and_then(|mut v| v.pop())
            .ok_or_else(|| "no neighbor in answer".into())
    }

    fn received(&self, peer: IpAddr) -> Result<Vec<RouteEntry>, String> {
        let r = self.request(&Request::Routes {
            dir: RouteDir::Received,
            peer: Some(peer),
            prefix: None,
        })?;
        let mut v = r.routes.ok_or("no routes in answer")?;
        v.sort_by_key(|r| r.prefix);
        Ok(v)
    }

    /// Waits until the routes from `peer` are exactly `want` (prefix, staleness).
    fn wait_received(&self, peer: IpAddr, want: &[(&str, Option<&str>)]) {
        let want: Vec<(IpNet, Option<String>)> = want
            .iter()
            .map(|(p, s)| (p.parse().unwrap(), s.map(str::to_owned)))
            .collect();
        wait_until(
            &format!("{} routes from {peer}", self.name),
            DEADLINE,
            || {
                let got: Vec<(IpNet, Option<String>)> = self
                    .received(peer)?
                    .into_iter()
                    .map(|r| (r.prefix, r.stale))
                    .collect();
                if got == want {
                    Ok(())
                } else {
                    Err(format!("received {got:?}"))
                }
            },
        )
        .unwrap_or_else(|e| self.fail(e));
    }

    fn wait_state(&self, peer: IpAddr, established: bool) -> NeighborStatus {
        wait_until(&format!("{} -> {peer}", self.name), DEADLINE, || {
            let n = self.neighbor(peer)?;
            if (n.state == State::Established) == established {
                Ok(n)
            } else {
                Err(format!("state {} (last error {:?})", n.state, n.last_error))
            }
        })
        .unwrap_or_else(|e| self.fail(e))
    }

    fn wait_log(&self, needle: &str) {
        wait_until(
            &format!("{} log line {needle:?}", self.name),
            DEADLINE,
            || {
                if self.logs().contains(needle) {
                    Ok(())
                } else {
                    Err("not yet".into())
                }
            },
        )
        .unwrap_or_else(|e| self.fail(e));
    }

    fn signal(&mut self, sig: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, sig).unwrap();
        wait_until(&format!("{} to exit", self.name), DEADLINE, || {
            self.child
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "running".to_owned())
        })
        .unwrap_or_else(|e| self.fail(e));
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port(addr: Ipv4Addr) -> u16 {
    TcpListener::bind((addr, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn speaker_config(id: Ipv4Addr, asn: u32, listen: Ipv4Addr, port: u16) -> Config {
    let mut c = Config::new(RouterId(id), Asn(asn));
    c.listen.address = IpAddr::V4(listen);
    c.listen.port = port;
    c.kernel = Kernel::disabled();
    c.graceful_restart.enabled = true;
    // Helper tests: nobody defers selection after a start.
    c.graceful_restart.restarting = RestartMode::Never;
    c
}

fn neighbor(address: Ipv4Addr, asn: u32, port: u16) -> Neighbor {
    let mut n = Neighbor::new(IpAddr::V4(address), RemoteAs::Asn(Asn(asn)));
    n.port = port;
    n.hold_time = 9;
    n.connect_retry = 1;
    n.idle_hold_time = 1;
    n.address_families = vec![AddressFamily::Ipv4Unicast];
    n
}

fn prefixes(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

/// Helper `a` (AS 65001) and `b` (AS 65002, restart time `b_restart`) with `b` originating two
/// prefixes; returns them once `a` has both.
fn pair(tag: &str, net: u8, b_restart: u16, n_bit: bool) -> (TempDir, Speaker, Speaker, Config) {
    let dir = TempDir::new(tag);
    let (a_ip, b_ip) = (
        Ipv4Addr::new(127, 72, net, 1),
        Ipv4Addr::new(127, 72, net, 2),
    );
    let port = free_port(a_ip);
    let mut ca = speaker_config(Ipv4Addr::new(10, 0, 0, 1), 65001, a_ip, port);
    ca.neighbors.push(neighbor(b_ip, 65002, port));
    ca.graceful_restart.notification = n_bit;
    let mut cb = speaker_config(Ipv4Addr::new(10, 0, 0, 2), 65002, b_ip, port);
    cb.neighbors.push(neighbor(a_ip, 65001, port));
    cb.prefixes = prefixes(&["10.2.0.0/24", "10.2.1.0/24"]);
    cb.graceful_restart.restart_time = b_restart;
    cb.graceful_restart.notification = n_bit;
    let a = Speaker::start("a", &dir.0, ca);
    let b = Speaker::start("b", &dir.0, cb.clone());
    a.wait_state(IpAddr::V4(b_ip), true);
    a.wait_received(
        IpAddr::V4(b_ip),
        &[("10.2.0.0/24", None), ("10.2.1.0/24", None)],
    );
    (dir, a, b, cb)
}

/// Stmts 55, 57, 62, 67: a peer killed without NOTIFICATION keeps its routes (stale) at the
/// helper; when it is back, the refreshed route stays and End-of-RIB removes the one it no
/// longer announces.
#[test]
fn killed_peer_routes_are_retained_then_end_of_rib_flushes_the_rest() {
    let (dir, a, mut b, mut cb) = pair("eor", 1, 60, false);
    let b_addr = IpAddr::V4(Ipv4Addr::new(127, 72, 1, 2));
    b.signal(Signal::SIGKILL);
    a.wait_state(b_addr, false);
    a.wait_received(
        b_addr,
        &[
            ("10.2.0.0/24", Some("stale")),
            ("10.2.1.0/24", Some("stale")),
        ],
    );
    let n = a.neighbor(b_addr).unwrap_or_else(|e| a.fail(e));
    let h = n
        .graceful_restart_helper
        .unwrap_or_else(|| a.fail("no helper status".into()));
    assert_eq!(h.state, "retaining", "{h:?}");
    assert_eq!(h.stale_routes, 2, "{h:?}");
    assert!(
        h.restart_timer_secs.is_some_and(|s| s > 30.0 && s <= 60.0),
        "{h:?}"
    );
    assert!(h.summary().contains("2 stale routes"), "{}", h.summary());
    a.wait_log("retaining its routes as stale");

    // b comes back announcing only one of the two.
    cb.prefixes = prefixes(&["10.2.0.0/24"]);
    let b2 = Speaker::start("b2", &dir.0, cb);
    a.wait_state(b_addr, true);
    a.wait_received(b_addr, &[("10.2.0.0/24", None)]);
    a.wait_log("graceful restart helper: stale routes deleted");
    let logs = a.logs();
    assert!(logs.contains("End-of-RIB"), "{logs}");
    let n = a.neighbor(b_addr).unwrap_or_else(|e| a.fail(e));
    assert_eq!(n.graceful_restart_helper, None, "nothing stale any more");
    drop(b2);
}

/// Stmt 56: a peer that does not come back within its restart time loses its routes.
#[test]
fn restart_timer_expiry_deletes_stale_routes() {
    let (_dir, a, mut b, _) = pair("timer", 2, 2, false);
    let b_addr = IpAddr::V4(Ipv4Addr::new(127, 72, 2, 2));
    b.signal(Signal::SIGKILL);
    a.wait_state(b_addr, false);
    a.wait_log("retaining its routes as stale");
    a.wait_received(b_addr, &[]);
    a.wait_log("timer expired");
}

/// Stmt 54: a NOTIFICATION (SIGTERM sends Cease/Administrative Shutdown) without the N bit is
/// a normal teardown: nothing retained.
#[test]
fn notification_without_n_bit_withdraws_at_once() {
    let (_dir, a, mut b, _) = pair("notif", 3, 60, false);
    let b_addr = IpAddr::V4(Ipv4Addr::new(127, 72, 3, 2));
    b.signal(Signal::SIGTERM);
    a.wait_received(b_addr, &[]);
    assert!(
        !a.logs().contains("retaining its routes as stale"),
        "{}",
        a.logs()
    );
}

/// Stmt 75 / RFC 8538 §3: with N both ways, a stop is a Cease/Hard Reset, which flushes.
#[test]
fn shutdown_with_n_bit_sends_hard_reset_and_the_peer_flushes() {
    let (_dir, a, mut b, _) = pair("hard", 4, 60, true);
    let b_addr = IpAddr::V4(Ipv4Addr::new(127, 72, 4, 2));
    b.signal(Signal::SIGTERM);
    a.wait_received(b_addr, &[]);
    let n = a.neighbor(b_addr).unwrap_or_else(|e| a.fail(e));
    let rx = n
        .last_notification_received
        .unwrap_or_else(|| a.fail("no NOTIFICATION received".into()));
    assert_eq!((rx.code, rx.subcode), (6, 9), "{rx:?}");
    assert!(!a.logs().contains("retaining its routes as stale"));
}
