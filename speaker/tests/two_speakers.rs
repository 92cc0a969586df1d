//! Two `fabric-speaker` processes peering over loopback (distinct 127.x addresses, a high port, no
//! namespaces, no root): session establishment, capabilities, route exchange both ways,
//! withdrawal, and Cease/Administrative Shutdown on SIGTERM as seen by the peer. Everything is
//! observed through the control socket; waiting is polling with a deadline.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use common::process::Speaker;
use common::{free_port, neighbor, prefixes, wait_until, TempDir, DEADLINE};
use fabric_bgp_wire::{Asn, RouterId};
use fabric_speaker::config::{Config, RemoteAs};
use fabric_speaker::control::{Request, RouteDir};
use fabric_speaker::fsm::State;
use ipnet::IpNet;

fn speaker_config(id: Ipv4Addr, asn: u32, listen: Ipv4Addr, port: u16) -> Config {
    let mut c = common::config(id, asn, listen, port);
    c.hostname = Some(format!("speaker-{id}"));
    c
}

// ===== tests =====

/// eBGP, both sides dialling (so a connection collision is likely and must resolve to one
/// session), IPv4 + IPv6, GR capability on one side.
#[test]
fn ebgp_session_exchanges_withdraws_and_shuts_down_with_cease() {
    let dir = TempDir::new("fl-speaker", "ebgp");
    let (a_ip, b_ip) = (Ipv4Addr::new(127, 71, 1, 1), Ipv4Addr::new(127, 71, 1, 2));
    let port = free_port(a_ip);

    let mut ca = speaker_config(Ipv4Addr::new(10, 0, 0, 1), 65001, a_ip, port);
    ca.neighbors
        .push(neighbor(b_ip, RemoteAs::Asn(Asn(65002)), port));
    ca.prefixes = prefixes(&["10.1.0.0/24", "2001:db8:1::/64"]);
    ca.graceful_restart.enabled = true;
    ca.graceful_restart.restart_time = 90;

    let mut cb = speaker_config(Ipv4Addr::new(10, 0, 0, 2), 65002, b_ip, port);
    cb.neighbors.push(neighbor(a_ip, RemoteAs::External, port));
    cb.prefixes = prefixes(&["10.2.0.0/24", "10.2.1.0/24"]);

    let mut a = Speaker::start("a", &dir.0, ca);
    let mut b = Speaker::start("b", &dir.0, cb);
    let (a_addr, b_addr) = (IpAddr::V4(a_ip), IpAddr::V4(b_ip));

    // Established on both sides, with the negotiated values.
    let na = a.wait_state(b_addr, State::Established);
    let nb = b.wait_state(a_addr, State::Established);
    assert_eq!(na.peer_as, Some(Asn(65002)));
    assert_eq!(nb.peer_as, Some(Asn(65001)));
    assert_eq!(nb.peer_id, Some(RouterId(Ipv4Addr::new(10, 0, 0, 1))));
    assert_eq!(nb.peer_hostname.as_deref(), Some("speaker-10.0.0.1"));
    assert_eq!((na.hold_time, na.keepalive_secs), (Some(9), Some(3)));
    for n in [&na, &nb] {
        let caps = n.capabilities.as_ref().expect("capabilities");
        assert!(
            caps.four_octet_as && caps.route_refresh && caps.enhanced_route_refresh,
            "{caps:?}"
        );
        assert_eq!(
            caps.families,
            vec!["ipv4-unicast".to_owned(), "ipv6-unicast".to_owned()]
        );
    }
    let gr = nb
        .capabilities
        .as_ref()
        .and_then(|c| c.graceful_restart_peer.clone());
    let gr = gr.expect("b sees a's graceful restart capability");
    assert_eq!(gr.restart_time, 90);
    assert!(!gr.restart_state);
    assert!(na
        .capabilities
        .as_ref()
        .is_some_and(|c| c.graceful_restart_local));
    // The same TCP connection seen from both ends: exactly one session survived any collision.
    let (ca_conn, cb_conn) = (
        na.connection.expect("a conn"),
        nb.connection.expect("b conn"),
    );
    assert_eq!(
        (ca_conn.local, ca_conn.remote),
        (cb_conn.remote, cb_conn.local)
    );
    assert_ne!(ca_conn.direction, cb_conn.direction);

    // Routes both ways, with eBGP attributes. The IPv6 prefix needs an IPv6 next hop of a's on
    // the link (RFC 2545 §3); over loopback a has none, and an IPv4-mapped address cannot
    // forward, so it is not sent.
    let at_b = b.wait_received(a_addr, &["10.1.0.0/24"]);
    let v4 = at_b
        .iter()
        .find(|r| r.prefix == "10.1.0.0/24".parse::<IpNet>().unwrap())
        .unwrap();
    assert_eq!(v4.as_path, "65001");
    assert_eq!(v4.next_hop, Some(a_addr));
    assert_eq!(v4.origin.as_deref(), Some("igp"));
    let at_a = a.wait_received(b_addr, &["10.2.0.0/24", "10.2.1.0/24"]);
    assert!(
        at_a.iter()
            .all(|r| r.as_path == "65002" && r.next_hop == Some(b_addr)),
        "{at_a:?}"
    );
    let adv = a.routes(RouteDir::Advertised, b_addr).unwrap();
    assert_eq!(adv.len(), 1, "{adv:?}");

    // Withdrawal and a new announcement at run time.
    b.request(&Request::Withdraw {
        prefix: "10.2.1.0/24".parse().unwrap(),
    })
    .unwrap();
    a.wait_received(b_addr, &["10.2.0.0/24"]);
    b.request(&Request::Announce {
        prefix: "10.2.2.0/24".parse().unwrap(),
    })
    .unwrap();
    a.wait_received(b_addr, &["10.2.0.0/24", "10.2.2.0/24"]);

    // Counters agree across the session once it is quiet: everything b sent, a received.
    wait_until("counters to agree", DEADLINE, || {
        let (na, nb) = (a.neighbor(b_addr)?, b.neighbor(a_addr)?);
        let (sent, rcvd) = (nb.messages.sent.update, na.messages.received.update);
        // b sent: 2 initial prefixes in one UPDATE + 1 End-of-RIB per family + withdraw + announce.
        if sent == rcvd && sent >= 5 {
            Ok(())
        } else {
            Err(format!("b sent {sent} UPDATEs, a received {rcvd}"))
        }
    })
    .unwrap();

    // SIGTERM: a exits 0 and b sees Cease/Administrative Shutdown with the communication.
    let status = a.terminate();
    assert!(status.success(), "a exited with {status}\n{}", a.logs());
    let nb = wait_until("b to see the Cease", DEADLINE, || {
        let n = b.neighbor(a_addr)?;
        match &n.last_notification_received {
            Some(_) if n.state != State::Established => Ok(n),
            other => Err(format!("state {} notification {other:?}", n.state)),
        }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", b.logs()));
    let cease = nb.last_notification_received.unwrap();
    assert_eq!((cease.code, cease.subcode), (6, 2), "{cease:?}");
    assert_eq!(
        cease.communication.as_deref(),
        Some("fabric-speaker shutting down")
    );
    // The peer stopped: its routes are gone.
    b.wait_received(a_addr, &[]);

    let status = b.terminate();
    assert!(status.success(), "b exited with {status}\n{}", b.logs());
}

/// iBGP between 4-octet ASes, one side passive: LOCAL_PREF and an empty AS_PATH on originated
/// routes, hold time 0 negotiated (no keepalives).
#[test]
fn ibgp_passive_four_octet_as() {
    let dir = TempDir::new("fl-speaker", "ibgp");
    let (a_ip, b_ip) = (Ipv4Addr::new(127, 71, 2, 1), Ipv4Addr::new(127, 71, 2, 2));
    let port = free_port(a_ip);
    let asn = 4_200_000_001;

    let mut ca = speaker_config(Ipv4Addr::new(10, 0, 1, 1), asn, a_ip, port);
    let mut n = neighbor(b_ip, RemoteAs::Internal, port);
    n.passive = true;
    n.hold_time = 0;
    ca.neighbors.push(n);
    ca.prefixes = prefixes(&["10.11.0.0/24"]);

    let mut cb = speaker_config(Ipv4Addr::new(10, 0, 1, 2), asn, b_ip, port);
    cb.neighbors
        .push(neighbor(a_ip, RemoteAs::Asn(Asn(asn)), port));

    let a = Speaker::start("a", &dir.0, ca);
    let b = Speaker::start("b", &dir.0, cb);
    let (a_addr, b_addr) = (IpAddr::V4(a_ip), IpAddr::V4(b_ip));

    let na = a.wait_state(b_addr, State::Established);
    let nb = b.wait_state(a_addr, State::Established);
    assert_eq!(na.peer_as, Some(Asn(asn)));
    assert_eq!(
        na.connection.unwrap().direction,
        fabric_speaker::fsm::Direction::Inbound,
        "a is passive"
    );
    assert_eq!((nb.hold_time, nb.keepalive_secs), (Some(0), Some(0)));
    let routes = b.wait_received(a_addr, &["10.11.0.0/24"]);
    assert_eq!(routes[0].as_path, "");
    assert_eq!(routes[0].local_pref, Some(100));
}

/// Conformance A.4: an OPEN whose AS is not the configured one is answered with 2/2.
#[test]
fn wrong_peer_as_is_refused_with_bad_peer_as() {
    let dir = TempDir::new("fl-speaker", "badas");
    let (a_ip, b_ip) = (Ipv4Addr::new(127, 71, 3, 1), Ipv4Addr::new(127, 71, 3, 2));
    let port = free_port(a_ip);

    let mut ca = speaker_config(Ipv4Addr::new(10, 0, 2, 1), 65001, a_ip, port);
    let mut n = neighbor(b_ip, RemoteAs::Asn(Asn(65009)), port);
    n.passive = true;
    ca.neighbors.push(n);
    let mut cb = speaker_config(Ipv4Addr::new(10, 0, 2, 2), 65002, b_ip, port);
    cb.neighbors
        .push(neighbor(a_ip, RemoteAs::Asn(Asn(65001)), port));

    let a = Speaker::start("a", &dir.0, ca);
    let b = Speaker::start("b", &dir.0, cb);
    let nb = wait_until("b to receive 2/2", DEADLINE, || {
        let n = b.neighbor(IpAddr::V4(a_ip))?;
        match &n.last_notification_received {
            Some(x) if (x.code, x.subcode) == (2, 2) => Ok(n),
            other => Err(format!("state {} notification {other:?}", n.state)),
        }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", a.logs(), b.logs()));
    assert_ne!(nb.state, State::Established);
    let na = a.neighbor(IpAddr::V4(b_ip)).unwrap();
    assert_eq!(
        na.last_notification_sent.map(|n| (n.code, n.subcode)),
        Some((2, 2))
    );
    assert_eq!(na.established_transitions, 0);
}

/// A bad configuration fails at start, naming the file and the field.
#[test]
fn bad_config_names_file_and_field() {
    let dir = TempDir::new("fl-speaker", "badcfg");
    let path = dir.0.join("bad.yaml");
    std::fs::write(&path, "router-id: 10.0.0.1\nlocal-as: 65001\nneighbors:\n  - address: 10.0.0.2\n    remote-as: 65002\n    hold-time: 2\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fabric-speaker"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml") && err.contains("neighbors[0].hold-time"),
        "{err}"
    );

    std::fs::write(
        &path,
        "router-id: 10.0.0.1\nlocal-as: 65001\nlisten:\n  prot: 179\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fabric-speaker"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml") && err.contains("prot") && err.contains("line 4"),
        "{err}"
    );
}

/// Run-time changes: Administrative Reset from the control socket, prefixes changed by SIGHUP,
/// a neighbor removed by `reload` (Cease/Peer De-configured).
#[test]
fn reset_reload_and_deconfigure() {
    let dir = TempDir::new("fl-speaker", "reload");
    let (a_ip, b_ip) = (Ipv4Addr::new(127, 71, 5, 1), Ipv4Addr::new(127, 71, 5, 2));
    let port = free_port(a_ip);
    let mut ca = speaker_config(Ipv4Addr::new(10, 0, 5, 1), 65001, a_ip, port);
    ca.neighbors
        .push(neighbor(b_ip, RemoteAs::Asn(Asn(65002)), port));
    ca.prefixes = prefixes(&["10.51.0.0/24", "10.52.0.0/24"]);
    let mut cb = speaker_config(Ipv4Addr::new(10, 0, 5, 2), 65002, b_ip, port);
    cb.neighbors
        .push(neighbor(a_ip, RemoteAs::Asn(Asn(65001)), port));

    let mut a = Speaker::start("a", &dir.0, ca);
    let b = Speaker::start("b", &dir.0, cb);
    let (a_addr, b_addr) = (IpAddr::V4(a_ip), IpAddr::V4(b_ip));
    b.wait_received(a_addr, &["10.51.0.0/24", "10.52.0.0/24"]);

    // Administrative Reset with a communication: the peer sees 6/4, the session comes back.
    let req = Request::Reset {
        peer: b_addr,
        communication: Some("planned reset".into()),
    };
    a.request(&req).unwrap();
    let nb = wait_until("b to see 6/4 and re-establish", DEADLINE, || {
        let n = b.neighbor(a_addr)?;
        let cease = n
            .last_notification_received
            .as_ref()
            .map(|c| (c.code, c.subcode));
        if cease == Some((6, 4)) && n.state == State::Established && n.established_transitions == 2
        {
            Ok(n)
        } else {
            Err(format!(
                "state {} transitions {} cease {cease:?}",
                n.state, n.established_transitions
            ))
        }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", a.logs(), b.logs()));
    let cease = nb.last_notification_received.unwrap();
    assert_eq!(cease.communication.as_deref(), Some("planned reset"));
    b.wait_received(a_addr, &["10.51.0.0/24", "10.52.0.0/24"]);

    // SIGHUP with a prefix removed from the file and one added.
    a.reconfigure(|c| c.prefixes = prefixes(&["10.52.0.0/24", "10.53.0.0/24"]));
    b.wait_received(a_addr, &["10.52.0.0/24", "10.53.0.0/24"]);
    assert_eq!(
        b.neighbor(a_addr).unwrap().state,
        State::Established,
        "no reset for prefix changes"
    );

    // Neighbor removed from the file, applied with the control socket's reload: 6/3.
    a.reconfigure(|c| c.neighbors.clear());
    a.request(&Request::Reload).unwrap();
    wait_until("b to see 6/3", DEADLINE, || {
        let n = b.neighbor(a_addr)?;
        let cease = n
            .last_notification_received
            .as_ref()
            .map(|c| (c.code, c.subcode));
        if cease == Some((6, 3)) && n.state != State::Established {
            Ok(())
        } else {
            Err(format!("state {} cease {cease:?}", n.state))
        }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", a.logs(), b.logs()));
    b.wait_received(a_addr, &[]);
    let r = a.request(&Request::Neighbors { peer: None }).unwrap();
    assert_eq!(r.neighbors.map(|n| n.len()), Some(0));
    assert!(a
        .request(&Request::Neighbors { peer: Some(b_addr) })
        .is_err());
}
