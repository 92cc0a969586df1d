//! Graceful restart, restarting speaker (RFC 4724 §4.1), end to end: two `fabric-speaker`
//! processes over loopback (distinct 127.x addresses, no root, kernel FIB disabled). Speaker `a`
//! starts as a restarting speaker (`restarting: true`, as `bird -R`); its peer `b` must receive
//! nothing from it while `a` defers selection, then `a`'s routes followed by End-of-RIB.
//! Everything is observed through the control socket and the logs; waiting is polling with a
//! deadline.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fabric_bgp_wire::{Asn, RouterId};
use fabric_speaker::config::{AddressFamily, Config, Kernel, Neighbor, RemoteAs, RestartMode};
use fabric_speaker::control::{self, Request, Response, RestartStatus, RouteDir};
use fabric_speaker::fsm::State;
use ipnet::IpNet;

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
        let dir = std::env::temp_dir().join(format!("fl-restart-{tag}-{}", std::process::id()));
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

/// A running speaker process; killed on drop.
struct Speaker {
    name: &'static str,
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Speaker {
    fn start(name: &'static str, dir: &Path, config: Config) -> Speaker {
        Self::start_in(name, dir, config, None)
    }

    /// Starts the speaker, inside network namespace `netns` if given (`ip netns exec`).
    fn start_in(
        name: &'static str,
        dir: &Path,
        mut config: Config,
        netns: Option<&str>,
    ) -> Speaker {
        let socket = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.log"));
        let path = dir.join(format!("{name}.yaml"));
        config.control_socket = Some(socket.clone());
        config.log_level = "debug".into();
        std::fs::write(&path, config.to_yaml().unwrap()).unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_fabric-speaker")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_fabric-speaker")),
        };
        let child = cmd
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let s = Speaker {
            name,
            child,
            socket,
            log,
        };
        wait_until("control socket", DEADLINE, || s.status().map(|_| ()))
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", s.name, s.logs()));
        s
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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

    fn status(&self) -> Result<control::Status, String> {
        self.request(&Request::Status)?
            .status
            .ok_or_else(|| "no status".into())
    }

    fn restart(&self) -> Result<RestartStatus, String> {
        self.status()?
            .graceful_restart
            .ok_or_else(|| "no graceful-restart status".into())
    }

    fn received(&self, peer: IpAddr) -> Result<Vec<IpNet>, String> {
        let r = self.request(&Request::Routes {
            dir: RouteDir::Received,
            peer: Some(peer),
            prefix: None,
        })?;
        let mut v: Vec<IpNet> = r
            .routes
            .unwrap_or_default()
            .iter()
            .map(|r| r.prefix)
            .collect();
        v.sort();
        Ok(v)
    }

    fn established(&self, peer: IpAddr) -> Result<control::NeighborStatus, String> {
        let n = self
            .request(&Request::Neighbors { peer: Some(peer) })?
            .neighbors
            .and_then(|mut v| v.pop())
            .ok_or("no neighbor")?;
        if n.state == State::Established {
            Ok(n)
        } else {
            Err(format!("state {}", n.state))
        }
    }

    fn fail(&self, e: String) -> ! {
        panic!("{e}\n--- {} log ---\n{}", self.name, self.logs())
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
    // The host's namespace: never touch its kernel routes.
    c.kernel = Kernel::disabled();
    c.graceful_restart.enabled = true;
    c
}

fn neighbor(address: Ipv4Addr, asn: u32, port: u16) -> Neighbor {
    let mut n = Neighbor::new(IpAddr::V4(address), RemoteAs::Asn(Asn(asn)));
    n.port = port;
    n.hold_time = 9;
    n.connect_retry = 1;
    n.idle_hold_time = 1;
    n.address_families = vec![AddressFamily::Ipv4Unicast, AddressFamily::Ipv6Unicast];
    n
}

/// `a` restarts with two configured neighbors: `b` (up, GR, R=0) and a third that never comes
/// up. `a` learns `b`'s routes but sends nothing (no route, no End-of-RIB) until the Selection
/// Deferral Timer expires (RFC 4724 §4.1: neighbors not yet up are waited for, bounded by
/// the timer); then `b` receives `a`'s routes and End-of-RIB. `a`'s OPEN carried R=1.
#[test]
fn restarting_speaker_defers_until_the_timer_then_sends_routes_and_end_of_rib() {
    let dir = TempDir::new("timer");
    let (a_ip, b_ip, ghost) = (
        Ipv4Addr::new(127, 72, 1, 1),
        Ipv4Addr::new(127, 72, 1, 2),
        Ipv4Addr::new(127, 72, 1, 3),
    );
    let port = free_port(a_ip);
    let deferral = 4;

    let mut ca = speaker_config(Ipv4Addr::new(10, 0, 0, 1), 65001, a_ip, port);
    ca.graceful_restart.restarting = RestartMode::Always;
    ca.graceful_restart.selection_deferral_time = deferral;
    ca.neighbors.push(neighbor(b_ip, 65002, port));
    ca.neighbors.push(neighbor(ghost, 65003, port));
    ca.prefixes = vec!["10.1.0.0/24".parse().unwrap()];

    let mut cb = speaker_config(Ipv4Addr::new(10, 0, 0, 2), 65002, b_ip, port);
    cb.graceful_restart.restarting = RestartMode::Never;
    cb.neighbors.push(neighbor(a_ip, 65001, port));
    cb.prefixes = vec!["10.2.0.0/24".parse().unwrap()];

    let a = Speaker::start("a", &dir.0, ca);
    let b = Speaker::start("b", &dir.0, cb);
    let (a_addr, b_addr) = (IpAddr::V4(a_ip), IpAddr::V4(b_ip));

    let nb = wait_until("b -> a Established", DEADLINE, || b.established(a_addr))
        .unwrap_or_else(|e| b.fail(e));
    let gr = nb
        .capabilities
        .and_then(|c| c.graceful_restart_peer)
        .unwrap_or_else(|| b.fail("no GR capability from a".into()));
    assert!(gr.restart_state, "a's OPEN carries R=1 while recovering");

    // a receives b's route (selection input is accepted while deferring) ...
    wait_until("a to receive b's route", DEADLINE, || {
        let got = a.received(b_addr)?;
        (got == vec!["10.2.0.0/24".parse::<IpNet>().unwrap()])
            .then_some(())
            .ok_or(format!("{got:?}"))
    })
    .unwrap_or_else(|e| a.fail(e));
    // ... b's End-of-RIB arrived, the ghost is still awaited: nothing went to b.
    let st = a.restart().unwrap_or_else(|e| a.fail(e));
    assert!(st.recovering, "{st:?}");
    let awaited: Vec<IpAddr> = st.awaiting_end_of_rib.iter().map(|p| p.address).collect();
    assert_eq!(awaited, vec![IpAddr::V4(ghost)], "{st:?}");
    assert!(
        st.deferral_remaining_secs.is_some_and(|s| s > 0.0),
        "{st:?}"
    );
    assert!(
        b.received(a_addr).unwrap().is_empty(),
        "routes sent while deferring"
    );
    assert!(
        !b.logs().contains("End-of-RIB received"),
        "End-of-RIB sent while deferring:\n{}",
        b.logs()
    );

    // The timer ends the deferral: b now gets a's route, then End-of-RIB.
    wait_until("b to receive a's route", DEADLINE, || {
        let got = b.received(a_addr)?;
        (got == vec!["10.1.0.0/24".parse::<IpNet>().unwrap()])
            .then_some(())
            .ok_or(format!("{got:?}"))
    })
    .unwrap_or_else(|e| b.fail(e));
    wait_until("b to receive a's End-of-RIB", DEADLINE, || {
        let logs = b.logs();
        let eors = logs
            .lines()
            .filter(|l| l.contains("End-of-RIB received") && l.contains("127.72.1.1"))
            .count();
        (eors >= 2)
            .then_some(())
            .ok_or(format!("{eors} End-of-RIB"))
    })
    .unwrap_or_else(|e| b.fail(e));
    let st = a.restart().unwrap_or_else(|e| a.fail(e));
    assert!(!st.recovering, "{st:?}");
    assert_eq!(st.deferral_ended.as_deref(), Some("timer"), "{st:?}");
    assert!(
        st.deferral_ms
            .is_some_and(|ms| ms >= u64::from(deferral) * 1000),
        "{st:?}"
    );
    let logs = a.logs();
    assert!(
        logs.contains("graceful restart: recovering, 0 kernel routes kept"),
        "{logs}"
    );
    assert!(
        logs.contains("selection deferral ended (timer) after"),
        "{logs}"
    );
}

/// `a` restarts with one configured neighbor, `b`, GR-capable with R=0: the deferral ends as
/// soon as `b`'s End-of-RIB arrived (long before the timer), and `b` gets `a`'s routes.
#[test]
fn restarting_speaker_ends_deferral_on_the_peers_end_of_rib() {
    let dir = TempDir::new("eor");
    let (a_ip, b_ip) = (Ipv4Addr::new(127, 72, 2, 1), Ipv4Addr::new(127, 72, 2, 2));
    let port = free_port(a_ip);

    let mut ca = speaker_config(Ipv4Addr::new(10, 0, 0, 1), 65001, a_ip, port);
    ca.graceful_restart.restarting = RestartMode::Always;
    ca.graceful_restart.selection_deferral_time = 300;
    ca.neighbors.push(neighbor(b_ip, 65002, port));
    ca.prefixes = vec!["10.1.0.0/24".parse().unwrap()];

    let mut cb = speaker_config(Ipv4Addr::new(10, 0, 0, 2), 65002, b_ip, port);
    cb.graceful_restart.restarting = RestartMode::Never;
    cb.neighbors.push(neighbor(a_ip, 65001, port));

    let a = Speaker::start("a", &dir.0, ca);
    let b = Speaker::start("b", &dir.0, cb);
    let a_addr = IpAddr::V4(a_ip);

    wait_until("b to receive a's route", DEADLINE, || {
        let got = b.received(a_addr)?;
        (got == vec!["10.1.0.0/24".parse::<IpNet>().unwrap()])
            .then_some(())
            .ok_or(format!("{got:?}"))
    })
    .unwrap_or_else(|e| b.fail(e));
    let st = a.restart().unwrap_or_else(|e| a.fail(e));
    assert_eq!(
        st.deferral_ended.as_deref(),
        Some("all End-of-RIB received"),
        "{st:?}"
    );
    assert!(st.deferral_ms.is_some_and(|ms| ms < 300_000), "{st:?}");
    assert!(
        a.logs()
            .contains("selection deferral ended (all End-of-RIB received) after"),
        "{}",
        a.logs()
    );
}

/// A network namespace (`ip netns add`), deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Self> {
        let name = format!("fl-gr-{tag}-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        let ns = Netns(name);
        ns.ip(&["link", "set", "lo", "up"]).ok()?;
        Some(ns)
    }

    fn ip(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ip")
            .args(["-n", &self.0])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Our kernel routes (protocol 201) in the namespace, one line each.
    fn our_routes(&self) -> Vec<String> {
        self.ip(&["route", "show", "proto", "201"])
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// What the harness does: `restarting: auto`, kernel FIB on, kill -9 and start again with the
/// same configuration. The first start finds no route of ours (not a restart: no recovery);
/// the second finds the blackhole of the originated block, keeps it installed throughout, and
/// recovers (R=1 until the peer's End-of-RIB), sweeping nothing. NEEDS ROOT (a namespace).
#[test]
fn killed_speaker_keeps_its_kernel_routes_across_the_restart() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root for a network namespace");
        return;
    }
    let Some(ns) = Netns::new("kill") else {
        eprintln!("skipped: ip netns add failed");
        return;
    };
    let dir = TempDir::new("kill");
    let (a_ip, b_ip) = (Ipv4Addr::new(127, 72, 3, 1), Ipv4Addr::new(127, 72, 3, 2));
    let port = 17_179;

    let mut ca = speaker_config(Ipv4Addr::new(10, 0, 0, 1), 65001, a_ip, port);
    ca.kernel = Kernel::default();
    ca.graceful_restart.restarting = RestartMode::Auto;
    ca.graceful_restart.selection_deferral_time = 300;
    ca.neighbors.push(neighbor(b_ip, 65002, port));
    ca.prefixes = vec!["10.1.0.0/26".parse().unwrap()];
    ca.blackhole_prefixes = true;
    let mut cb = speaker_config(Ipv4Addr::new(10, 0, 0, 2), 65002, b_ip, port);
    cb.graceful_restart.restarting = RestartMode::Never;
    cb.neighbors.push(neighbor(a_ip, 65001, port));
    let b = Speaker::start_in("b", &dir.0, cb, Some(&ns.0));
    let a_addr = IpAddr::V4(a_ip);

    let mut a = Speaker::start_in("a", &dir.0, ca.clone(), Some(&ns.0));
    wait_until("the blackhole in the kernel", DEADLINE, || {
        let r = ns.our_routes();
        r.iter()
            .any(|l| l.starts_with("blackhole 10.1.0.0/26"))
            .then_some(())
            .ok_or(format!("{r:?}"))
    })
    .unwrap_or_else(|e| a.fail(e));
    let st = a.status().unwrap_or_else(|e| a.fail(e));
    assert!(
        st.graceful_restart.is_none(),
        "first start is no restart: {st:?}"
    );
    wait_until("b -> a Established", DEADLINE, || b.established(a_addr))
        .unwrap_or_else(|e| b.fail(e));

    // kill -9: the routes stay in the kernel.
    let _ = a.child.kill();
    let _ = a.child.wait();
    assert_eq!(ns.our_routes().len(), 1, "{:?}", ns.our_routes());
    let first_log = a.logs();
    drop(a);

    let a = Speaker::start_in("a", &dir.0, ca, Some(&ns.0));
    let st = a.restart().unwrap_or_else(|e| a.fail(e));
    assert_eq!(st.kernel_routes_kept, 1, "{st:?}");
    assert_eq!(st.forwarding_preserved, vec!["ipv4-unicast".to_owned()]);
    // The peer's End-of-RIB ends the deferral; the blackhole was never removed.
    let st = wait_until("the deferral to end", DEADLINE, || {
        assert!(
            ns.our_routes()
                .iter()
                .any(|l| l.starts_with("blackhole 10.1.0.0/26")),
            "kept route removed during recovery"
        );
        let st = a.restart()?;
        (!st.recovering)
            .then_some(st.clone())
            .ok_or(format!("{st:?}"))
    })
    .unwrap_or_else(|e| a.fail(e));
    assert_eq!(st.kernel_routes_swept, Some(0), "{st:?}");
    let nb = wait_until("b -> a Established", DEADLINE, || b.established(a_addr))
        .unwrap_or_else(|e| b.fail(e));
    let gr = nb.capabilities.and_then(|c| c.graceful_restart_peer);
    assert!(
        gr.is_some_and(|g| g.restart_state && g.families.iter().any(|f| f.forwarding_state)),
        "R=1 and F=1 for IPv4 in the restarted speaker's OPEN"
    );
    assert_eq!(ns.our_routes().len(), 1, "{:?}", ns.our_routes());
    let logs = a.logs();
    assert!(
        logs.contains("graceful restart: recovering, 1 kernel routes kept"),
        "{first_log}\n---\n{logs}"
    );
    assert!(logs.contains("swept 0 stale kernel routes"), "{logs}");
}
