//! Root tests: a real capture across a scratch veth. Each test prints why it skips when not root.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;

use pcap_file::pcapng::{Block, PcapNgReader};

use fabric_bgp_wire::{AfiSafi, Message, RawAttribute, RawUpdate};

use super::bgp_stream::{decode_capture, WireBody};
use super::checks::session_reports;
use super::engine::{Capture, CaptureConfig, CaptureTarget};
use super::scratch::ScratchPair;
use super::testutil::{announce, encode, eor, open, withdraw};
use super::tshark::{tshark_bgp_findings, TsharkError};
use crate::lab::netns::in_netns;
use crate::topology::plan::LinkId;

fn skip_unless_root(test: &str) -> bool {
    if ScratchPair::can_run() {
        return false;
    }
    println!("{test}: skipped: needs root and `ip` to create namespaces");
    true
}

fn target(pair: &ScratchPair, link: u32, file: &str) -> CaptureTarget {
    CaptureTarget {
        link: LinkId(link),
        netns: pair.path_a(),
        ifname: ScratchPair::IF_A.into(),
        label: format!("a:{}", ScratchPair::IF_A),
        description: "scratch".into(),
        file_name: file.into(),
    }
}

/// Connects from namespace a to b on port 179, sends `chunks` (one write each), and returns what
/// b read. The listener and the client sockets are created inside their namespaces.
pub(super) fn send_across(pair: &ScratchPair, chunks: &[Vec<u8>]) -> Vec<u8> {
    converse(pair, chunks, &[]).0
}

/// Like [`send_across`], then b answers with `replies`; returns what b and a read.
pub(super) fn converse(
    pair: &ScratchPair,
    chunks: &[Vec<u8>],
    replies: &[Vec<u8>],
) -> (Vec<u8>, Vec<u8>) {
    let listen_at = SocketAddr::from((ScratchPair::ADDR_B, 179));
    let listener = in_netns(&pair.path_b(), move || TcpListener::bind(listen_at))
        .and_then(|r| r)
        .expect("listen in b");
    let client = in_netns(&pair.path_a(), move || TcpStream::connect(listen_at))
        .and_then(|r| r)
        .expect("connect from a");
    let total: usize = chunks.iter().map(Vec::len).sum();
    let reply_total: usize = replies.iter().map(Vec::len).sum();
    std::thread::scope(|s| {
        let server = s.spawn(|| {
            let (mut server, _) = listener.accept().expect("accept");
            server.set_nodelay(true).expect("nodelay");
            let got = read_exactly(&mut server, total);
            for r in replies {
                server.write_all(r).expect("reply");
            }
            got
        });
        let mut client = client;
        client.set_nodelay(true).expect("nodelay");
        for c in chunks {
            client.write_all(c).expect("write");
        }
        let got = server.join().expect("server thread");
        let answered = read_exactly(&mut client, reply_total);
        drop(client);
        (got, answered)
    })
}

fn read_exactly(stream: &mut TcpStream, total: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < total {
        let n = stream.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    got
}

fn count_packets(path: &Path) -> usize {
    let file = std::fs::File::open(path).expect("open pcapng");
    let mut reader = PcapNgReader::new(file).expect("pcapng header");
    let mut n = 0;
    while let Some(block) = reader.next_block() {
        if let Block::EnhancedPacket(_) = block.expect("block") {
            n += 1;
        }
    }
    n
}

#[test]
fn captures_a_tcp_session_from_its_first_syn() {
    if skip_unless_root("captures_a_tcp_session_from_its_first_syn") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = ScratchPair::create().expect("scratch namespaces");
    let capture = Capture::start(
        CaptureConfig::new(dir.path()),
        [target(&pair, 7, "l7.pcapng")],
    )
    .expect("start capture");
    let payload = vec![b"hello".to_vec(), vec![0xffu8; 3000]];
    let got = send_across(&pair, &payload);
    assert_eq!(got.len(), 3005);
    let summary = capture.stop().expect("stop");
    let link = summary.links.first().expect("one link");
    assert_eq!(link.link, LinkId(7));
    assert!(link.error.is_none(), "{link:?}");
    // SYN, SYN-ACK, ACK and at least two data segments.
    assert!(link.written.packets >= 5, "{link:?}");
    assert_eq!(count_packets(&link.path) as u64, link.written.packets);
    assert_eq!(
        std::fs::metadata(&link.path).expect("stat").len(),
        link.written.file_bytes
    );
    assert_eq!(summary.total_dropped(), 0);
}

#[test]
fn stops_writing_at_the_size_cap_and_counts_drops() {
    if skip_unless_root("stops_writing_at_the_size_cap_and_counts_drops") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = ScratchPair::create().expect("scratch namespaces");
    let mut config = CaptureConfig::new(dir.path());
    config.max_file_bytes = 1024;
    let capture = Capture::start(config, [target(&pair, 1, "capped.pcapng")]).expect("start");
    send_across(&pair, &[vec![1u8; 20_000]]);
    let summary = capture.stop().expect("stop");
    let link = summary.links.first().expect("one link");
    assert!(link.written.file_bytes <= 1024, "{link:?}");
    assert!(link.written.dropped_cap > 0, "{link:?}");
    assert_eq!(count_packets(&link.path) as u64, link.written.packets);
}

#[test]
fn rejects_a_missing_interface_and_leaves_no_file() {
    if skip_unless_root("rejects_a_missing_interface_and_leaves_no_file") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = ScratchPair::create().expect("scratch namespaces");
    let mut bad = target(&pair, 2, "bad.pcapng");
    bad.ifname = "nosuchif".into();
    let err = Capture::start(
        CaptureConfig::new(dir.path()),
        [target(&pair, 1, "good.pcapng"), bad],
    )
    .expect_err("missing interface");
    assert!(err.to_string().contains("nosuchif"), "{err}");
    assert!(!dir.path().join("good.pcapng").exists());
}

#[test]
fn bgp_messages_across_a_veth_decode_exactly_and_pass_tshark() {
    let test = "bgp_messages_across_a_veth_decode_exactly_and_pass_tshark";
    if skip_unless_root(test) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = ScratchPair::create().expect("scratch namespaces");
    let capture = Capture::start(
        CaptureConfig::new(dir.path()),
        [target(&pair, 4, "l4.pcapng")],
    )
    .expect("start");
    let from_a = [
        open(4_200_000_001, [10, 0, 0, 1], false),
        Message::Keepalive,
        announce(&["10.1.0.0/26", "10.1.0.64/26"], &[4_200_000_001, 65010]),
        withdraw(&["10.1.0.128/26"]),
        eor(AfiSafi::IPV4_UNICAST),
    ];
    let from_b = [open(65002, [10, 0, 0, 2], false), Message::Keepalive];
    let bytes_a: Vec<Vec<u8>> = from_a.iter().map(encode).collect();
    let bytes_b: Vec<Vec<u8>> = from_b.iter().map(encode).collect();
    let (got_b, got_a) = converse(&pair, &bytes_a, &bytes_b);
    assert_eq!(got_b, bytes_a.concat());
    assert_eq!(got_a, bytes_b.concat());
    let summary = capture.stop().expect("stop");
    let link = summary.links.first().expect("link");
    assert_eq!(summary.total_dropped(), 0, "{summary:?}");

    let (events, stats) = decode_capture(&link.path, LinkId(4)).expect("decode");
    assert!(events.iter().all(|e| !e.is_problem()), "{events:#?}");
    assert_eq!(stats.connections, 1);
    let a_ip = std::net::IpAddr::V4(ScratchPair::ADDR_A);
    let sent_by = |ip| -> Vec<&Message> {
        events
            .iter()
            .filter(|e| e.src.ip() == ip)
            .filter_map(|e| e.message())
            .collect()
    };
    assert_eq!(sent_by(a_ip), from_a.iter().collect::<Vec<_>>());
    let b_ip = std::net::IpAddr::V4(ScratchPair::ADDR_B);
    assert_eq!(sent_by(b_ip), from_b.iter().collect::<Vec<_>>());
    assert!(events.iter().all(|e| e.link == LinkId(4)));

    let reports = session_reports(&events);
    let report = reports.first().expect("session report");
    let a = report.speaker(a_ip).expect("a");
    assert_eq!(a.end_of_rib.first().map(|e| e.updates_before), Some(2));
    assert_eq!((a.announced, a.withdrawn), (2, 1));

    match tshark_bgp_findings(&link.path) {
        Ok(findings) => assert!(findings.is_empty(), "{findings:#?}"),
        Err(TsharkError::Missing(why)) => println!("{test}: tshark part skipped: {why}"),
        Err(e) => panic!("tshark: {e}"),
    }
}

#[test]
fn a_malformed_update_is_flagged_by_both_decoders() {
    let test = "a_malformed_update_is_flagged_by_both_decoders";
    if skip_unless_root(test) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = ScratchPair::create().expect("scratch namespaces");
    let capture = Capture::start(
        CaptureConfig::new(dir.path()),
        [target(&pair, 5, "l5.pcapng")],
    )
    .expect("start");
    // Total Path Attribute Length says 40, but only a 4-byte ORIGIN follows: 3/1 (RFC 7606 §4).
    let bad = RawUpdate {
        attributes: vec![RawAttribute::new(0x40, 1u8, vec![0])],
        attributes_len: Some(40),
        ..RawUpdate::default()
    }
    .encode();
    send_across(&pair, &[encode(&open(65001, [1, 1, 1, 1], false)), bad]);
    let summary = capture.stop().expect("stop");
    let link = summary.links.first().expect("link");

    let (events, _) = decode_capture(&link.path, LinkId(5)).expect("decode");
    let ours: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.body {
            WireBody::DecodeError(err) => Some((err.code, err.subcode)),
            _ => None,
        })
        .collect();
    assert_eq!(ours, vec![(3, 1)], "{events:#?}");

    match tshark_bgp_findings(&link.path) {
        Ok(findings) => assert_eq!(findings.len(), 1, "{findings:#?}"),
        Err(TsharkError::Missing(why)) => println!("{test}: tshark part skipped: {why}"),
        Err(e) => panic!("tshark: {e}"),
    }
}

#[test]
fn a_link_flap_is_counted_and_capture_goes_on() {
    let test = "a_link_flap_is_counted_and_capture_goes_on";
    if skip_unless_root(test) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = ScratchPair::create().expect("scratch namespaces");
    let capture = Capture::start(
        CaptureConfig::new(dir.path()),
        [target(&pair, 6, "l6.pcapng")],
    )
    .expect("start");
    send_across(&pair, &[encode(&Message::Keepalive)]);
    pair.set_a_up(false).expect("link down");
    pair.set_a_up(true).expect("link up");
    // After the flap the socket captures again: a second session is recorded.
    send_across(&pair, &[encode(&open(65001, [1, 1, 1, 1], false))]);
    let summary = capture.stop().expect("stop");
    let link = summary.links.first().expect("link");
    assert!(link.error.is_none(), "{link:?}");
    assert!(link.link_down_events >= 1, "{link:?}");
    let (events, stats) = decode_capture(&link.path, LinkId(6)).expect("decode");
    assert_eq!(stats.connections, 2);
    let types: Vec<_> = events
        .iter()
        .filter_map(|e| e.message())
        .map(Message::msg_type)
        .collect();
    assert_eq!(
        types,
        vec![
            fabric_bgp_wire::MessageType::Keepalive,
            fabric_bgp_wire::MessageType::Open
        ]
    );
}
