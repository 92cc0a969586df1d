//! A hand-driven peer talks bytes to one `fabric-speaker` over loopback and checks its answers
//! (conformance statements A.1-A.10, C.28/C.41 of `conformance-statements.md`): header errors,
//! OPEN errors, UPDATE in OpenSent/OpenConfirm, unknown capabilities, RFC 7606 treat-as-withdraw
//! keeping the session, and hold timer expiry.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::raw::Dut;
use common::{wait_until, TempDir, DEADLINE};
use fabric_bgp_wire::{
    AfiSafi, AsPath, Asn, Capability, CodecContext, Message, Nlri, Open, Origin, PathAttributes,
    RawMessage, RouteRefresh, RouteRefreshSubtype, RouterId, Update,
};
use fabric_speaker::config::Config;
use fabric_speaker::fsm::State;

const LOCAL_AS: u32 = 65001;
const PEER_AS: u32 = 65002;

/// The DUT: one passive neighbor (us) at 127.71.4.2, one prefix of its own.
fn start_dut() -> Dut {
    let mut c = Config::new(RouterId(Ipv4Addr::new(10, 0, 4, 1)), Asn(LOCAL_AS));
    c.prefixes = vec!["10.4.0.0/24".parse().unwrap()];
    Dut::start(
        TempDir::new("fl-speaker", "raw"),
        Ipv4Addr::new(127, 71, 4, 1),
        Ipv4Addr::new(127, 71, 4, 2),
        PEER_AS,
        c,
    )
}

fn open(asn: u32, hold: u16, id: Ipv4Addr, extra: Vec<Capability>) -> Open {
    let mut caps = vec![
        Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
        Capability::FourOctetAs(Asn(asn)),
    ];
    caps.extend(extra);
    Open::new(Asn(asn), hold, RouterId(id), caps)
}

fn peer_id() -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 4, 2)
}

fn good_open(hold: u16) -> Message {
    Message::Open(open(PEER_AS, hold, peer_id(), vec![]))
}

/// A valid UPDATE for 10.9.0.0/24; with `bad_origin` the ORIGIN value is 5 (RFC 7606 §7.1:
/// treat-as-withdraw).
fn update_10_9(bad_origin: bool) -> Vec<u8> {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence([Asn(PEER_AS)])),
        next_hop: Some(Ipv4Addr::new(127, 71, 4, 2)),
        ..PathAttributes::default()
    };
    let u = Update::announce_ipv4(attrs, vec![Nlri::new("10.9.0.0/24".parse().unwrap())]);
    let mut bytes = Message::Update(u)
        .encode(&CodecContext::four_octet())
        .unwrap();
    if bad_origin {
        // Attributes are encoded in type order: ORIGIN first, right after the two length
        // fields: header(19) + withdrawn len(2) + attr len(2) = 23; flags, type, len, value.
        assert_eq!(&bytes[23..26], &[0x40, 1, 1]);
        bytes[26] = 5;
    }
    bytes
}

/// Sends `bytes` on a fresh connection and returns the NOTIFICATION the DUT answers with.
fn answer_to(dut: &Dut, msgs: &[Vec<u8>]) -> (u8, u8, Vec<u8>) {
    let mut p = dut.connect();
    for m in msgs {
        p.send(m);
    }
    p.expect_notification(DEADLINE)
}

fn enc(m: &Message) -> Vec<u8> {
    m.encode(&CodecContext::four_octet()).unwrap()
}

#[test]
fn raw_peer_conformance() {
    let dut = start_dut();
    let check = |what: &str, got: (u8, u8, Vec<u8>), want: (u8, u8)| {
        assert_eq!(
            (got.0, got.1),
            want,
            "{what}: got {got:?}\n--- DUT log ---\n{}",
            dut.logs()
        );
        got.2
    };

    // A.7: header errors.
    let bad_marker = RawMessage::keepalive().with_marker([0; 16]).encode();
    check("bad marker", answer_to(&dut, &[bad_marker]), (1, 1));
    let long_keepalive = RawMessage::new(4u8, vec![0u8]).encode();
    let data = check(
        "KEEPALIVE of 20 octets",
        answer_to(&dut, &[long_keepalive]),
        (1, 2),
    );
    assert_eq!(data, vec![0, 20], "1/2 carries the bad length");
    let unknown_type = RawMessage::new(9u8, Vec::<u8>::new()).encode();
    check("unknown type", answer_to(&dut, &[unknown_type]), (1, 3));

    // A.6, A.4, A.5, A.1: OPEN errors.
    let mut v3 = open(PEER_AS, 90, peer_id(), vec![]);
    v3.version = 3;
    let data = check(
        "version 3",
        answer_to(&dut, &[enc(&Message::Open(v3))]),
        (2, 1),
    );
    assert_eq!(data, vec![0, 4], "2/1 carries the supported version");
    let wrong_as = Message::Open(open(65003, 90, peer_id(), vec![]));
    check("wrong AS", answer_to(&dut, &[enc(&wrong_as)]), (2, 2));
    let wrong_as4 = Message::Open(open(4_200_000_002, 90, peer_id(), vec![]));
    check(
        "wrong 4-octet AS",
        answer_to(&dut, &[enc(&wrong_as4)]),
        (2, 2),
    );
    let zero_id = Message::Open(open(PEER_AS, 90, Ipv4Addr::UNSPECIFIED, vec![]));
    check(
        "BGP identifier 0",
        answer_to(&dut, &[enc(&zero_id)]),
        (2, 3),
    );
    check(
        "hold time 1",
        answer_to(&dut, &[enc(&good_open(1))]),
        (2, 6),
    );
    check(
        "hold time 2",
        answer_to(&dut, &[enc(&good_open(2))]),
        (2, 6),
    );

    // A.9: UPDATE in OpenSent (before our OPEN) and in OpenConfirm (before our KEEPALIVE).
    check(
        "UPDATE in OpenSent",
        answer_to(&dut, &[update_10_9(false)]),
        (5, 1),
    );
    let got = answer_to(&dut, &[enc(&good_open(90)), update_10_9(false)]);
    check("UPDATE in OpenConfirm", got, (5, 2));

    // A.10: an unknown capability is ignored and the session comes up.
    let mut p = dut.connect();
    let odd = Capability::Unknown {
        code: 200,
        value: vec![1, 2, 3],
    };
    let refresh_caps = vec![
        odd,
        Capability::RouteRefresh,
        Capability::EnhancedRouteRefresh,
    ];
    p.send_msg(&Message::Open(open(PEER_AS, 90, peer_id(), refresh_caps)));
    p.expect("OPEN", |m| matches!(m, Message::Open(_)));
    p.expect("KEEPALIVE", |m| matches!(m, Message::Keepalive));
    p.send_msg(&Message::Keepalive);
    // The DUT's route and End-of-RIB arrive once Established.
    p.expect(
        "End-of-RIB",
        |m| matches!(m, Message::Update(u) if u.is_end_of_rib().is_some()),
    );
    assert_eq!(dut.state(), Ok(State::Established));

    // C.28/C.41: a malformed ORIGIN is treat-as-withdraw, the session stays up, and a later
    // good UPDATE is accepted; a malformed one for the same prefix withdraws it.
    let wait_routes = |want: &[&str]| {
        wait_until("received routes", DEADLINE, || {
            let got = dut.received_prefixes()?;
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", dut.logs()))
    };
    p.send(&update_10_9(true));
    p.send_msg(&Message::Keepalive);
    p.send(&update_10_9(false));
    wait_routes(&["10.9.0.0/24"]);
    p.send(&update_10_9(true));
    wait_routes(&[]);
    assert_eq!(
        dut.state(),
        Ok(State::Established),
        "treat-as-withdraw keeps the session"
    );

    // RFC 2918/7313: ROUTE-REFRESH re-sends the Adj-RIB-Out between BoRR and EoRR.
    p.send_msg(&Message::RouteRefresh(RouteRefresh::request(
        AfiSafi::IPV4_UNICAST,
    )));
    let is_rr = |m: &Message, want: RouteRefreshSubtype| matches!(m, Message::RouteRefresh(r) if r.subtype == want && r.afi_safi == AfiSafi::IPV4_UNICAST);
    p.expect("BoRR", |m| {
        is_rr(m, RouteRefreshSubtype::BeginningOfRefresh)
    });
    let m = p.recv(DEADLINE).unwrap();
    let Some(Message::Update(u)) = m else {
        panic!("expected the refreshed UPDATE, got {m:?}")
    };
    assert_eq!(u.nlri, vec![Nlri::new("10.4.0.0/24".parse().unwrap())]);
    let m = p.recv(DEADLINE).unwrap();
    assert!(
        m.as_ref()
            .is_some_and(|m| is_rr(m, RouteRefreshSubtype::EndOfRefresh)),
        "{m:?}"
    );

    // A.3: silence for longer than the negotiated hold time → 4/0, routes gone.
    // Closing our end must bring the session down before we reconnect: a new connection
    // while the old session is still Established is closed with Cease 6/7 (RFC 4271 §6.8).
    drop(p);
    wait_until("the session to drop", DEADLINE, || match dut.state()? {
        State::Established => Err("still established".into()),
        _ => Ok(()),
    })
    .unwrap();
    let mut p = dut.connect();
    p.send_msg(&good_open(3));
    p.expect("KEEPALIVE", |m| matches!(m, Message::Keepalive));
    p.send_msg(&Message::Keepalive);
    p.send(&update_10_9(false));
    wait_routes(&["10.9.0.0/24"]);
    let quiet_since = Instant::now();
    let (code, sub, _) = p.expect_notification(DEADLINE);
    let waited = quiet_since.elapsed();
    assert_eq!((code, sub), (4, 0), "{}", dut.logs());
    assert!(
        waited >= Duration::from_millis(2500),
        "hold timer fired after {waited:?}"
    );
    wait_routes(&[]);
    assert_ne!(dut.state(), Ok(State::Established));
}
