//! Root tests: a real capture across a scratch veth. Each test prints why it skips when not root.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;

use pcap_file::pcapng::{Block, PcapNgReader};

use super::engine::{Capture, CaptureConfig, CaptureTarget};
use super::scratch::ScratchPair;
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
    let listen_at = SocketAddr::from((ScratchPair::ADDR_B, 179));
    let listener = in_netns(&pair.path_b(), move || TcpListener::bind(listen_at))
        .and_then(|r| r)
        .expect("listen in b");
    let client = in_netns(&pair.path_a(), move || TcpStream::connect(listen_at))
        .and_then(|r| r)
        .expect("connect from a");
    let total: usize = chunks.iter().map(Vec::len).sum();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let (mut server, _) = listener.accept().expect("accept");
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while got.len() < total {
                let n = server.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
            got
        });
        let mut client = client;
        client.set_nodelay(true).expect("nodelay");
        for c in chunks {
            client.write_all(c).expect("write");
        }
        let got = reader.join().expect("reader thread");
        drop(client);
        got
    })
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
