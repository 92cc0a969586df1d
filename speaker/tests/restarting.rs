//! Graceful restart, restarting speaker (RFC 4724 §4.1), end to end: two `fabric-speaker`
//! processes over loopback (distinct 127.x addresses, no root, kernel FIB disabled). Speaker `a`
//! starts as a restarting speaker (`restarting: true`, as `bird -R`); its peer `b` must receive
//! nothing from it while `a` defers selection, then `a`'s routes followed by End-of-RIB.
//! Everything is observed through the control socket and the logs; waiting is polling with a
//! deadline.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use common::process::Speaker;
use common::{free_port, neighbor_as, wait_until, TempDir, DEADLINE};
use fabric_speaker::config::{Config, Kernel, RestartMode};
use fabric_speaker::fsm::State;

fn speaker_config(id: Ipv4Addr, asn: u32, listen: Ipv4Addr, port: u16) -> Config {
    let mut c = common::config(id, asn, listen, port);
    c.graceful_restart.enabled = true;
    c
}

/// `a` restarts with two configured neighbors: `b` (up, GR, R=0) and a third that never comes
/// up. `a` learns `b`'s routes but sends nothing (no route, no End-of-RIB) until the Selection
/// Deferral Timer expires (RFC 4724 §4.1: neighbors not yet up are waited for, bounded by
/// the timer); then `b` receives `a`'s routes and End-of-RIB. `a`'s OPEN carried R=1.
#[test]
fn restarting_speaker_defers_until_the_timer_then_sends_routes_and_end_of_rib() {
    let dir = TempDir::new("fl-restart", "timer");
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
    ca.neighbors.push(neighbor_as(b_ip, 65002, port));
    ca.neighbors.push(neighbor_as(ghost, 65003, port));
    ca.prefixes = vec!["10.1.0.0/24".parse().unwrap()];

    let mut cb = speaker_config(Ipv4Addr::new(10, 0, 0, 2), 65002, b_ip, port);
    cb.graceful_restart.restarting = RestartMode::Never;
    cb.neighbors.push(neighbor_as(a_ip, 65001, port));
    cb.prefixes = vec!["10.2.0.0/24".parse().unwrap()];

    let a = Speaker::start("a", &dir.0, ca);
    let b = Speaker::start("b", &dir.0, cb);
    let (a_addr, b_addr) = (IpAddr::V4(a_ip), IpAddr::V4(b_ip));

    let nb = b.wait_state(a_addr, State::Established);
    let gr = nb
        .capabilities
        .and_then(|c| c.graceful_restart_peer)
        .unwrap_or_else(|| b.fail("no GR capability from a".into()));
    assert!(gr.restart_state, "a's OPEN carries R=1 while recovering");

    // a receives b's route (selection input is accepted while deferring) ...
    a.wait_received(b_addr, &["10.2.0.0/24"]);
    // ... b's End-of-RIB arrived, the ghost is still awaited: nothing went to b.
    let st = a.restart_status().unwrap_or_else(|e| a.fail(e));
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
    b.wait_received(a_addr, &["10.1.0.0/24"]);
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
    let st = a.restart_status().unwrap_or_else(|e| a.fail(e));
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
    let dir = TempDir::new("fl-restart", "eor");
    let (a_ip, b_ip) = (Ipv4Addr::new(127, 72, 2, 1), Ipv4Addr::new(127, 72, 2, 2));
    let port = free_port(a_ip);

    let mut ca = speaker_config(Ipv4Addr::new(10, 0, 0, 1), 65001, a_ip, port);
    ca.graceful_restart.restarting = RestartMode::Always;
    ca.graceful_restart.selection_deferral_time = 300;
    ca.neighbors.push(neighbor_as(b_ip, 65002, port));
    ca.prefixes = vec!["10.1.0.0/24".parse().unwrap()];

    let mut cb = speaker_config(Ipv4Addr::new(10, 0, 0, 2), 65002, b_ip, port);
    cb.graceful_restart.restarting = RestartMode::Never;
    cb.neighbors.push(neighbor_as(a_ip, 65001, port));

    let a = Speaker::start("a", &dir.0, ca);
    let b = Speaker::start("b", &dir.0, cb);
    let a_addr = IpAddr::V4(a_ip);

    b.wait_received(a_addr, &["10.1.0.0/24"]);
    let st = a.restart_status().unwrap_or_else(|e| a.fail(e));
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
    let dir = TempDir::new("fl-restart", "kill");
    let (a_ip, b_ip) = (Ipv4Addr::new(127, 72, 3, 1), Ipv4Addr::new(127, 72, 3, 2));
    let port = 17_179;

    let mut ca = speaker_config(Ipv4Addr::new(10, 0, 0, 1), 65001, a_ip, port);
    ca.kernel = Kernel::default();
    ca.graceful_restart.restarting = RestartMode::Auto;
    ca.graceful_restart.selection_deferral_time = 300;
    ca.neighbors.push(neighbor_as(b_ip, 65002, port));
    ca.prefixes = vec!["10.1.0.0/26".parse().unwrap()];
    ca.blackhole_prefixes = true;
    let mut cb = speaker_config(Ipv4Addr::new(10, 0, 0, 2), 65002, b_ip, port);
    cb.graceful_restart.restarting = RestartMode::Never;
    cb.neighbors.push(neighbor_as(a_ip, 65001, port));
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
    b.wait_state(a_addr, State::Established);

    // kill -9: the routes stay in the kernel.
    a.kill();
    assert_eq!(ns.our_routes().len(), 1, "{:?}", ns.our_routes());
    let first_log = a.logs();
    drop(a);

    let a = Speaker::start_in("a", &dir.0, ca, Some(&ns.0));
    let st = a.restart_status().unwrap_or_else(|e| a.fail(e));
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
        let st = a.restart_status()?;
        (!st.recovering)
            .then_some(st.clone())
            .ok_or(format!("{st:?}"))
    })
    .unwrap_or_else(|e| a.fail(e));
    assert_eq!(st.kernel_routes_swept, Some(0), "{st:?}");
    let nb = b.wait_state(a_addr, State::Established);
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
