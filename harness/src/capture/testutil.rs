//! Test helpers: BGP messages built with the wire crate, and a TCP conversation that turns them
//! into Ethernet frames with correct sequence numbers.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use fabric_bgp_wire::capability::{GrFamily, GracefulRestart};
use fabric_bgp_wire::{
    AfiSafi, AsPath, Asn, Capability, CodecContext, Message, Nlri, Notification, Open, Origin,
    PathAttributes, RouterId, Update,
};

use super::packet::build::tcp_frame;
use super::packet::TcpFlags;

/// An OPEN with 4-octet AS, IPv4+IPv6 unicast, and GR (restart time 120, F bit for IPv4).
pub fn open(asn: u32, id: [u8; 4], restarting: bool) -> Message {
    Message::Open(Open::new(
        Asn(asn),
        90,
        RouterId(Ipv4Addr::from(id)),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(Asn(asn)),
            Capability::GracefulRestart(GracefulRestart {
                restart_state: restarting,
                notification: true,
                restart_time: 120,
                families: vec![
                    GrFamily {
                        afi_safi: AfiSafi::IPV4_UNICAST,
                        forwarding_state: true,
                    },
                    GrFamily {
                        afi_safi: AfiSafi::IPV6_UNICAST,
                        forwarding_state: false,
                    },
                ],
            }),
        ],
    ))
}

/// An UPDATE announcing `prefixes` (IPv4 unicast) with AS_PATH `path`.
pub fn announce(prefixes: &[&str], path: &[u32]) -> Message {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(path.iter().copied().map(Asn))),
        next_hop: Some(Ipv4Addr::new(10, 99, 0, 0)),
        ..PathAttributes::default()
    };
    let nlri = prefixes
        .iter()
        .filter_map(|p| p.parse().ok())
        .map(Nlri::new)
        .collect();
    Message::Update(Update::announce_ipv4(attrs, nlri))
}

/// An UPDATE withdrawing `prefixes` (IPv4 unicast).
pub fn withdraw(prefixes: &[&str]) -> Message {
    let nlri = prefixes
        .iter()
        .filter_map(|p| p.parse().ok())
        .map(Nlri::new)
        .collect();
    Message::Update(Update::withdraw_ipv4(nlri))
}

pub fn eor(af: AfiSafi) -> Message {
    Message::Update(Update::end_of_rib(af))
}

pub fn cease(text: &str) -> Message {
    Message::Notification(Notification::cease(
        fabric_bgp_wire::CeaseSubcode::AdministrativeShutdown,
        text,
    ))
}

/// Encodes with 4-octet AS numbers (what both test OPENs negotiate).
pub fn encode(m: &Message) -> Vec<u8> {
    m.encode(&CodecContext::four_octet()).unwrap_or_default()
}

/// A TCP conversation between `a` (client) and `b` (server, port 179), producing frames.
pub struct Conversation {
    pub a: SocketAddr,
    pub b: SocketAddr,
    pub seq_a: u32,
    pub seq_b: u32,
    pub ms: u64,
}

impl Conversation {
    pub fn new(a: SocketAddr, b: SocketAddr, isn_a: u32, isn_b: u32) -> Self {
        Conversation {
            a,
            b,
            seq_a: isn_a,
            seq_b: isn_b,
            ms: 0,
        }
    }

    pub fn ts(&self) -> Duration {
        Duration::from_millis(self.ms)
    }

    /// SYN and SYN-ACK.
    pub fn handshake(&mut self) -> Vec<(Duration, Vec<u8>)> {
        let syn = tcp_frame(self.a, self.b, self.seq_a, TcpFlags::SYN, b"");
        self.seq_a = self.seq_a.wrapping_add(1);
        self.ms += 1;
        let t1 = self.ts();
        let synack = tcp_frame(
            self.b,
            self.a,
            self.seq_b,
            TcpFlags::SYN | TcpFlags::ACK,
            b"",
        );
        self.seq_b = self.seq_b.wrapping_add(1);
        self.ms += 1;
        vec![(t1, syn), (self.ts(), synack)]
    }

    /// One segment from a (`from_a`) or b carrying `payload`, advancing the sender's sequence.
    pub fn segment(&mut self, from_a: bool, payload: &[u8]) -> (Duration, Vec<u8>) {
        self.ms += 1;
        let (src, dst, seq) = if from_a {
            (self.a, self.b, &mut self.seq_a)
        } else {
            (self.b, self.a, &mut self.seq_b)
        };
        let f = tcp_frame(src, dst, *seq, TcpFlags::ACK | TcpFlags::PSH, payload);
        *seq = seq.wrapping_add(payload.len() as u32);
        (self.ts(), f)
    }
}
