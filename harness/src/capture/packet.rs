//! A small Ethernet / IPv4 / IPv6 / TCP parser for captured frames: explicit lengths, no
//! panics, no allocation. It finds the TCP segment in a frame and nothing more.
//!
//! Lengths come from the IP header, not the frame, so Ethernet padding never becomes payload. A
//! length field of zero (GSO/BIG TCP super-frames as the capture sees them; RFC 2675 jumbograms)
//! means "the rest of the frame". When the frame was cut by the snap length, the segment says how
//! many payload bytes are missing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a frame holds no TCP segment we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Not IPv4 or IPv6 (ARP, LLDP, ...).
    #[error("not IP (ethertype {0:#06x})")]
    NotIp(u16),
    /// IP, but not TCP (ICMP, UDP, ...).
    #[error("not TCP (IP protocol {0})")]
    NotTcp(u8),
    /// An IP fragment: BGP over a point-to-point link never fragments (TCP uses path MTU), so
    /// fragments are not reassembled.
    #[error("IP fragment")]
    Fragment,
    /// The frame ends inside a header.
    #[error("frame truncated inside the {0} header")]
    Truncated(&'static str),
    /// A header field is impossible.
    #[error("malformed {0} header")]
    Malformed(&'static str),
}

/// TCP flags (RFC 9293 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// The TCP segment inside a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// The payload bytes present in the frame.
    pub payload: &'a [u8],
    /// Payload bytes the IP header announces but the capture cut off (snap length).
    pub missing: usize,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const IPPROTO_TCP: u8 = 6;

/// Finds the TCP segment in an Ethernet frame.
pub fn parse_tcp_frame(frame: &[u8]) -> Result<TcpSegment<'_>, PacketError> {
    let mut ethertype = be16(frame, 12).ok_or(PacketError::Truncated("Ethernet"))?;
    let mut off = 14;
    // Up to two VLAN tags (802.1Q, 802.1ad), each 4 bytes before the real ethertype.
    for _ in 0..2 {
        if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
            break;
        }
        ethertype = be16(frame, off + 2).ok_or(PacketError::Truncated("VLAN"))?;
        off += 4;
    }
    let ip = frame.get(off..).ok_or(PacketError::Truncated("Ethernet"))?;
    match ethertype {
        ETHERTYPE_IPV4 => parse_ipv4(ip),
        ETHERTYPE_IPV6 => parse_ipv6(ip),
        other => Err(PacketError::NotIp(other)),
    }
}

fn parse_ipv4(ip: &[u8]) -> Result<TcpSegment<'_>, PacketError> {
    let vihl = *ip.first().ok_or(PacketError::Truncated("IPv4"))?;
    if vihl >> 4 != 4 {
        return Err(PacketError::Malformed("IPv4"));
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < 20 {
        return Err(PacketError::Malformed("IPv4"));
    }
    if ip.len() < ihl {
        return Err(PacketError::Truncated("IPv4"));
    }
    let total = usize::from(be16(ip, 2).ok_or(PacketError::Truncated("IPv4"))?);
    let frag = be16(ip, 6).ok_or(PacketError::Truncated("IPv4"))?;
    // More-fragments flag or a non-zero offset (RFC 791 §3.1).
    if frag & 0x2000 != 0 || frag & 0x1fff != 0 {
        return Err(PacketError::Fragment);
    }
    let proto = *ip.get(9).ok_or(PacketError::Truncated("IPv4"))?;
    let src = ipv4_at(ip, 12).ok_or(PacketError::Truncated("IPv4"))?;
    let dst = ipv4_at(ip, 16).ok_or(PacketError::Truncated("IPv4"))?;
    if proto != IPPROTO_TCP {
        return Err(PacketError::NotTcp(proto));
    }
    // Zero total length: a GSO/BIG TCP super-frame as seen by a tap; use what is there.
    let declared = if total == 0 { ip.len() } else { total };
    if declared < ihl {
        return Err(PacketError::Malformed("IPv4"));
    }
    let (body, missing) = bounded(ip, ihl, declared);
    parse_tcp(IpAddr::V4(src), IpAddr::V4(dst), body, missing)
}

fn parse_ipv6(ip: &[u8]) -> Result<TcpSegment<'_>, PacketError> {
    let v = *ip.first().ok_or(PacketError::Truncated("IPv6"))?;
    if v >> 4 != 6 {
        return Err(PacketError::Malformed("IPv6"));
    }
    if ip.len() < 40 {
        return Err(PacketError::Truncated("IPv6"));
    }
    let payload_len = usize::from(be16(ip, 4).ok_or(PacketError::Truncated("IPv6"))?);
    let mut next = *ip.get(6).ok_or(PacketError::Truncated("IPv6"))?;
    let src = ipv6_at(ip, 8).ok_or(PacketError::Truncated("IPv6"))?;
    let dst = ipv6_at(ip, 24).ok_or(PacketError::Truncated("IPv6"))?;
    // Zero payload length: jumbogram (RFC 2675) or BIG TCP; use what is there.
    let declared = if payload_len == 0 {
        ip.len()
    } else {
        40 + payload_len
    };
    let mut off = 40;
    // Skip extension headers (RFC 8200 §4); a bounded number of them.
    for _ in 0..8 {
        match next {
            IPPROTO_TCP => {
                let (body, missing) = bounded(ip, off, declared);
                return parse_tcp(IpAddr::V6(src), IpAddr::V6(dst), body, missing);
            }
            // Hop-by-hop, routing, destination options: (len + 1) * 8 octets.
            0 | 43 | 60 => {
                let len = usize::from(*ip.get(off + 1).ok_or(PacketError::Truncated("IPv6"))?);
                next = *ip.get(off).ok_or(PacketError::Truncated("IPv6"))?;
                off += (len + 1) * 8;
            }
            // Authentication header: (len + 2) * 4 octets (RFC 4302 §2.2).
            51 => {
                let len = usize::from(*ip.get(off + 1).ok_or(PacketError::Truncated("IPv6"))?);
                next = *ip.get(off).ok_or(PacketError::Truncated("IPv6"))?;
                off += (len + 2) * 4;
            }
            44 => return Err(PacketError::Fragment),
            other => return Err(PacketError::NotTcp(other)),
        }
        if off > declared {
            return Err(PacketError::Malformed("IPv6 extension"));
        }
    }
    Err(PacketError::Malformed("IPv6 extension chain"))
}

fn parse_tcp<'a>(
    src: IpAddr,
    dst: IpAddr,
    tcp: &'a [u8],
    missing_after: usize,
) -> Result<TcpSegment<'a>, PacketError> {
    let sport = be16(tcp, 0).ok_or(PacketError::Truncated("TCP"))?;
    let dport = be16(tcp, 2).ok_or(PacketError::Truncated("TCP"))?;
    let seq = be32(tcp, 4).ok_or(PacketError::Truncated("TCP"))?;
    let ack = be32(tcp, 8).ok_or(PacketError::Truncated("TCP"))?;
    let data_off = usize::from(*tcp.get(12).ok_or(PacketError::Truncated("TCP"))? >> 4) * 4;
    let flags = TcpFlags(*tcp.get(13).ok_or(PacketError::Truncated("TCP"))?);
    if data_off < 20 {
        return Err(PacketError::Malformed("TCP"));
    }
    let payload = tcp.get(data_off..).ok_or(PacketError::Truncated("TCP"))?;
    Ok(TcpSegment {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        seq,
        ack,
        flags,
        payload,
        missing: missing_after,
    })
}

/// `buf[start..end]` cut to what is present, and how many declared bytes are absent.
fn bounded(buf: &[u8], start: usize, end: usize) -> (&[u8], usize) {
    let present_end = end.min(buf.len());
    let body = buf.get(start..present_end).unwrap_or_default();
    (body, end - present_end)
}

fn be16(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

fn be32(buf: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn ipv4_at(buf: &[u8], at: usize) -> Option<Ipv4Addr> {
    let b: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

fn ipv6_at(buf: &[u8], at: usize) -> Option<Ipv6Addr> {
    let b: [u8; 16] = buf.get(at..at.checked_add(16)?)?.try_into().ok()?;
    Some(Ipv6Addr::from(b))
}

// ===== test frame builder =====

/// Builds Ethernet/IP/TCP frames for tests (here and in `bgp_stream`).
#[cfg(test)]
pub(crate) mod build {
    use std::net::{IpAddr, SocketAddr};

    /// An Ethernet frame carrying one TCP segment (checksums zero: nothing here checks them).
    pub fn tcp_frame(
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut tcp = Vec::with_capacity(20 + payload.len());
        tcp.extend_from_slice(&src.port().to_be_bytes());
        tcp.extend_from_slice(&dst.port().to_be_bytes());
        tcp.extend_from_slice(&seq.to_be_bytes());
        tcp.extend_from_slice(&0u32.to_be_bytes());
        tcp.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
        tcp.extend_from_slice(payload);
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                f.extend_from_slice(&0x0800u16.to_be_bytes());
                let total = u16::try_from(20 + tcp.len()).unwrap_or(0);
                f.extend_from_slice(&[0x45, 0]);
                f.extend_from_slice(&total.to_be_bytes());
                f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                f.extend_from_slice(&0x86ddu16.to_be_bytes());
                let plen = u16::try_from(tcp.len()).unwrap_or(0);
                f.extend_from_slice(&[0x60, 0, 0, 0]);
                f.extend_from_slice(&plen.to_be_bytes());
                f.extend_from_slice(&[6, 64]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            _ => {}
        }
        f.extend_from_slice(&tcp);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::build::tcp_frame;
    use super::*;

    fn v4(a: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::from(a), port))
    }

    #[test]
    fn parses_ipv4_tcp_and_ignores_ethernet_padding() {
        let (s, d) = (v4([10, 0, 0, 0], 40000), v4([10, 0, 0, 1], 179));
        let mut f = tcp_frame(s, d, 1000, TcpFlags::ACK | TcpFlags::PSH, b"abc");
        // Pad to the 60-byte Ethernet minimum: padding is not payload.
        f.resize(60, 0xee);
        let seg = parse_tcp_frame(&f).expect("segment");
        assert_eq!((seg.src, seg.dst, seg.seq), (s, d, 1000));
        assert_eq!(seg.payload, b"abc");
        assert_eq!(seg.missing, 0);
        assert!(seg.flags.ack() && !seg.flags.syn());
    }

    #[test]
    fn parses_ipv6_tcp_past_a_hop_by_hop_header() {
        let s: SocketAddr = "[fd00::1]:179".parse().expect("addr");
        let d: SocketAddr = "[fd00::2]:50000".parse().expect("addr");
        let f = tcp_frame(s, d, 7, TcpFlags::SYN, b"");
        // Insert an 8-byte hop-by-hop header (next header TCP) after the fixed header.
        let mut g = f.get(..14 + 40).expect("headers").to_vec();
        g.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        g.extend_from_slice(f.get(14 + 40..).expect("tcp"));
        if let Some(nh) = g.get_mut(14 + 6) {
            *nh = 0;
        }
        let plen = u16::try_from(g.len() - 14 - 40).expect("len");
        g.splice(14 + 4..14 + 6, plen.to_be_bytes());
        let seg = parse_tcp_frame(&g).expect("segment");
        assert_eq!((seg.src, seg.dst, seg.seq), (s, d, 7));
        assert!(seg.flags.syn());
        assert!(seg.payload.is_empty());
    }

    #[test]
    fn parses_a_vlan_tagged_frame() {
        let (s, d) = (v4([192, 0, 2, 1], 179), v4([192, 0, 2, 2], 1234));
        let f = tcp_frame(s, d, 1, 0, b"x");
        let mut g = f.get(..12).expect("macs").to_vec();
        g.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
        g.extend_from_slice(f.get(12..).expect("rest"));
        assert_eq!(parse_tcp_frame(&g).expect("segment").payload, b"x");
    }

    #[test]
    fn reports_payload_cut_by_the_snap_length() {
        let (s, d) = (v4([10, 0, 0, 0], 179), v4([10, 0, 0, 1], 1));
        let f = tcp_frame(s, d, 1, 0, &[7u8; 100]);
        let cut = f.get(..f.len() - 30).expect("cut");
        let seg = parse_tcp_frame(cut).expect("segment");
        assert_eq!(seg.payload.len(), 70);
        assert_eq!(seg.missing, 30);
    }

    #[test]
    fn classifies_non_tcp_and_fragments() {
        let arp = [0u8; 12]
            .iter()
            .copied()
            .chain([0x08, 0x06, 0, 1])
            .collect::<Vec<_>>();
        assert_eq!(parse_tcp_frame(&arp), Err(PacketError::NotIp(0x0806)));
        let (s, d) = (v4([10, 0, 0, 0], 1), v4([10, 0, 0, 1], 2));
        let mut udp = tcp_frame(s, d, 0, 0, b"");
        if let Some(p) = udp.get_mut(14 + 9) {
            *p = 17;
        }
        assert_eq!(parse_tcp_frame(&udp), Err(PacketError::NotTcp(17)));
        let mut frag = tcp_frame(s, d, 0, 0, b"");
        if let Some(p) = frag.get_mut(14 + 6) {
            *p = 0x20; // more fragments
        }
        assert_eq!(parse_tcp_frame(&frag), Err(PacketError::Fragment));
    }

    #[test]
    fn never_panics_on_any_prefix_or_corruption_of_a_frame() {
        let (s, d) = (v4([10, 0, 0, 0], 179), v4([10, 0, 0, 1], 2));
        let f = tcp_frame(s, d, 0, TcpFlags::ACK, &[0xffu8; 40]);
        for len in 0..=f.len() {
            let _ = parse_tcp_frame(f.get(..len).unwrap_or_default());
        }
        // Flip every byte to a few values, including impossible header lengths.
        for i in 0..f.len() {
            for v in [0u8, 0x0f, 0x40, 0x4f, 0x60, 0xf0, 0xff] {
                let mut g = f.clone();
                if let Some(b) = g.get_mut(i) {
                    *b = v;
                }
                let _ = parse_tcp_frame(&g);
            }
        }
        let v6 = tcp_frame(
            "[fd00::1]:179".parse().expect("addr"),
            "[fd00::2]:2".parse().expect("addr"),
            0,
            0,
            b"z",
        );
        for i in 0..v6.len() {
            for v in [0u8, 0x2c, 0x33, 0x3c, 0xff] {
                let mut g = v6.clone();
                if let Some(b) = g.get_mut(i) {
                    *b = v;
                }
                let _ = parse_tcp_frame(&g);
            }
        }
    }
}
