//! Graceful restart helper, conformance statement 60 (RFC 4724 §4.2, overriding RFC 4271 §6.8):
//! a hand-driven peer with a GR session to one `fabric-speaker` opens a second connection as if
//! it had restarted unnoticed. The speaker must close the old connection without a
//! NOTIFICATION, keep the peer's routes (stale), carry on with the new connection, and flush
//! the stale routes at the peer's End-of-RIB.

mod common;

use std::net::Ipv4Addr;

use common::raw::{Dut, Peer};
use common::TempDir;
use fabric_bgp_wire::{
    AfiSafi, AsPath, Asn, Capability, GrFamily, GracefulRestart, Message, Nlri, Open, Origin,
    PathAttributes, RouterId, Update,
};
use fabric_speaker::config::{Config, RestartMode};

const LOCAL_AS: u32 = 65001;
const PEER_AS: u32 = 65002;

/// The DUT: graceful restart on (never restarting itself), one passive neighbor (us) at
/// 127.72.9.2.
fn start_dut() -> Dut {
    let mut c = Config::new(RouterId(Ipv4Addr::new(10, 0, 9, 1)), Asn(LOCAL_AS));
    c.graceful_restart.enabled = true;
    c.graceful_restart.restarting = RestartMode::Never;
    Dut::start(
        TempDir::new("fl", "grconn"),
        Ipv4Addr::new(127, 72, 9, 1),
        Ipv4Addr::new(127, 72, 9, 2),
        PEER_AS,
        c,
    )
}

fn gr_open() -> Message {
    let caps = vec![
        Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
        Capability::FourOctetAs(Asn(PEER_AS)),
        Capability::GracefulRestart(GracefulRestart {
            restart_state: true,
            notification: false,
            restart_time: 60,
            families: vec![GrFamily {
                afi_safi: AfiSafi::IPV4_UNICAST,
                forwarding_state: true,
            }],
        }),
    ];
    Message::Open(Open::new(
        Asn(PEER_AS),
        9,
        RouterId(Ipv4Addr::new(10, 0, 9, 2)),
        caps,
    ))
}

fn announce(prefix: &str) -> Message {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence([Asn(PEER_AS)])),
        next_hop: Some(Ipv4Addr::new(127, 72, 9, 2)),
        ..PathAttributes::default()
    };
    Message::Update(Update::announce_ipv4(
        attrs,
        vec![Nlri::new(prefix.parse().unwrap())],
    ))
}

/// OPEN and KEEPALIVE on a fresh connection, then waits for Established.
fn establish(dut: &Dut) -> Peer {
    let mut p = dut.connect();
    p.send_msg(&gr_open());
    p.send_msg(&Message::Keepalive);
    dut.wait_established();
    p
}

#[test]
fn new_connection_replaces_an_established_gr_session_without_notification() {
    let dut = start_dut();
    let mut first = establish(&dut);
    first.send_msg(&announce("10.9.1.0/24"));
    first.send_msg(&announce("10.9.2.0/24"));
    dut.wait_received(&[("10.9.1.0/24", None), ("10.9.2.0/24", None)]);

    // The peer "restarted" without the old connection closing.
    let mut second = dut.connect();
    let old = first.until_closed();
    assert!(
        !old.iter().any(|m| matches!(m, Message::Notification(_))),
        "old connection closed with a NOTIFICATION: {old:?}\n{}",
        dut.logs()
    );
    dut.wait_received(&[
        ("10.9.1.0/24", Some("stale")),
        ("10.9.2.0/24", Some("stale")),
    ]);
    second.send_msg(&gr_open());
    second.send_msg(&Message::Keepalive);
    dut.wait_established();
    // One route refreshed, then End-of-RIB (RFC 4724 §2: an empty UPDATE for IPv4 unicast).
    second.send_msg(&announce("10.9.1.0/24"));
    second.send_msg(&Message::Update(Update::default()));
    dut.wait_received(&[("10.9.1.0/24", None)]);
    let logs = dut.logs();
    assert!(
        logs.contains("old connection closed without NOTIFICATION"),
        "{logs}"
    );
    assert!(logs.contains("retaining its routes as stale"), "{logs}");
}
