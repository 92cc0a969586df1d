//! Graceful restart, helper role (RFC 4724 §4.2, RFC 8538), end to end: two `fabric-speaker`
//! processes over loopback (distinct 127.x addresses, a high port, no root, kernel FIB
//! disabled). Speaker `b` is killed (SIGKILL: its connection ends without a NOTIFICATION) or
//! stopped; speaker `a`, the helper, must keep or drop `b`'s routes as the RFCs say. Everything
//! is observed through `a`'s control socket and logs; waiting is polling with a deadline.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::process::Speaker;
use common::{free_port, neighbor_as, prefixes, TempDir};
use fabric_speaker::config::{AddressFamily, Config, ListenRange, Neighbor, RemoteAs, RestartMode};
use fabric_speaker::fsm::State;
use nix::sys::signal::Signal;

fn speaker_config(id: Ipv4Addr, asn: u32, listen: Ipv4Addr, port: u16) -> Config {
    let mut c = common::config(id, asn, listen, port);
    c.graceful_restart.enabled = true;
    // Helper tests: nobody defers selection after a start.
    c.graceful_restart.restarting = RestartMode::Never;
    c
}

fn neighbor(address: Ipv4Addr, asn: u32, port: u16) -> Neighbor {
    let mut n = neighbor_as(address, asn, port);
    n.address_families = vec![AddressFamily::Ipv4Unicast];
    n
}

/// Helper `a` (AS 65001) and `b` (AS 65002, restart time `b_restart`) with `b` originating two
/// prefixes; returns them once `a` has both.
fn pair(tag: &str, net: u8, b_restart: u16, n_bit: bool) -> (TempDir, Speaker, Speaker, Config) {
    let dir = TempDir::new("fl-grhelper", tag);
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
    a.wait_state(IpAddr::V4(b_ip), State::Established);
    a.wait_received_stale(
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
    a.wait_down(b_addr);
    a.wait_received_stale(
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
    a.wait_state(b_addr, State::Established);
    a.wait_received_stale(b_addr, &[("10.2.0.0/24", None)]);
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
    a.wait_down(b_addr);
    a.wait_log("retaining its routes as stale");
    a.wait_received_stale(b_addr, &[]);
    a.wait_log("timer expired");
}

/// Stmt 54: a NOTIFICATION (SIGTERM sends Cease/Administrative Shutdown) without the N bit is
/// a normal teardown: nothing retained.
#[test]
fn notification_without_n_bit_withdraws_at_once() {
    let (_dir, a, mut b, _) = pair("notif", 3, 60, false);
    let b_addr = IpAddr::V4(Ipv4Addr::new(127, 72, 3, 2));
    b.signal(Signal::SIGTERM);
    a.wait_received_stale(b_addr, &[]);
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
    a.wait_received_stale(b_addr, &[]);
    let n = a.neighbor(b_addr).unwrap_or_else(|e| a.fail(e));
    let rx = n
        .last_notification_received
        .unwrap_or_else(|| a.fail("no NOTIFICATION received".into()));
    assert_eq!((rx.code, rx.subcode), (6, 9), "{rx:?}");
    assert!(!a.logs().contains("retaining its routes as stale"));
}

/// A dynamic neighbor (listen range, as a Calico ToR accepts its nodes) is helped too: killed,
/// it is kept with its routes stale instead of being reaped with its session; back, its routes
/// are refreshed in place; not back before its restart time, it is reaped with its routes.
#[test]
fn dynamic_neighbor_is_kept_while_stale_and_reaped_after_the_restart_time() {
    let dir = TempDir::new("fl-grhelper", "dyn");
    let (a_ip, b_ip) = (Ipv4Addr::new(127, 72, 5, 1), Ipv4Addr::new(127, 72, 5, 2));
    let b_addr = IpAddr::V4(b_ip);
    let port = free_port(a_ip);
    let mut ca = speaker_config(Ipv4Addr::new(10, 0, 0, 1), 65001, a_ip, port);
    let mut range = ListenRange::new(
        "127.72.5.0/24".parse().unwrap_or_else(|e| panic!("{e}")),
        RemoteAs::External,
    );
    range.hold_time = 9;
    range.address_families = vec![AddressFamily::Ipv4Unicast];
    ca.listen_ranges.push(range);
    let mut cb = speaker_config(Ipv4Addr::new(10, 0, 0, 2), 65002, b_ip, port);
    cb.neighbors.push(neighbor(a_ip, 65001, port));
    cb.prefixes = prefixes(&["10.2.0.0/24", "10.2.1.0/24"]);
    cb.graceful_restart.restart_time = 4;
    let a = Speaker::start("a", &dir.0, ca);
    let mut b = Speaker::start("b", &dir.0, cb.clone());
    a.wait_state(b_addr, State::Established);
    a.wait_received_stale(b_addr, &[("10.2.0.0/24", None), ("10.2.1.0/24", None)]);

    // Killed: kept, stale.
    b.signal(Signal::SIGKILL);
    a.wait_log("dynamic neighbor kept while its routes are stale");
    a.wait_received_stale(
        b_addr,
        &[
            ("10.2.0.0/24", Some("stale")),
            ("10.2.1.0/24", Some("stale")),
        ],
    );
    // Back with one prefix: refreshed in place, the other flushed at End-of-RIB.
    cb.prefixes = prefixes(&["10.2.0.0/24"]);
    let mut b2 = Speaker::start("b2", &dir.0, cb.clone());
    a.wait_state(b_addr, State::Established);
    a.wait_received_stale(b_addr, &[("10.2.0.0/24", None)]);
    assert!(
        !a.logs().contains("dynamic neighbor removed"),
        "{}",
        a.logs()
    );

    // Killed again and not back: reaped when the restart time (4 s) ends.
    b2.signal(Signal::SIGKILL);
    a.wait_log("dynamic neighbor removed (not back before its restart time)");
    let n = a.request(&fabric_speaker::control::Request::Neighbors { peer: Some(b_addr) });
    assert!(
        n.map(|r| r.neighbors.unwrap_or_default().is_empty())
            .unwrap_or(true),
        "the dynamic neighbor is still there:\n{}",
        a.logs()
    );
}
