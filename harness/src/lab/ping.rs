//! In-process ICMP echo (ping) from inside a namespace: raw ICMP/ICMPv6 sockets, many targets at
//! once, no `ping` process per pair (spawning costs 2-5 ms each; at 1,000 namespaces that is
//! seconds). The targets' kernels answer echo requests themselves (RFC 792, RFC 4443 §4.1).
//!
//! Must run on a thread inside the source namespace (see `Lab::ping`).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    recvfrom, sendto, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType,
    SockaddrIn, SockaddrIn6, SockaddrStorage,
};

use crate::wait::{wait_until, Probe};

/// How often an unanswered target gets another echo request.
const RESEND: Duration = Duration::from_millis(200);

/// Result of pinging one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOutcome {
    pub target: IpAddr,
    /// Round-trip time of the first answered request; `None` if nothing came back in time.
    pub rtt: Option<Duration>,
}

static NEXT_ID: AtomicU16 = AtomicU16::new(1);

fn checksum(data: &[u8]) -> u16 {
    // RFC 1071: one's complement of the one's complement sum of 16-bit words.
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request: type, code 0, checksum, identifier, sequence, 8 bytes of payload.
fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    // ICMP echo request = 8 (RFC 792); ICMPv6 echo request = 128 (RFC 4443 §4.1).
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"fablab!!");
    if !v6 {
        // The kernel computes ICMPv6 checksums on raw sockets (RFC 3542 §3.1), not ICMP ones.
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// (source, id, seq) of an echo reply in `buf`; for IPv4 `buf` starts with the IP header.
fn parse_reply(v6: bool, buf: &[u8], from: Option<IpAddr>) -> Option<(IpAddr, u16, u16)> {
    let (icmp, src) = if v6 {
        (buf, from?)
    } else {
        let ihl = usize::from(buf.first()? & 0x0f) * 4;
        let src: [u8; 4] = buf.get(12..16)?.try_into().ok()?;
        (buf.get(ihl..)?, IpAddr::V4(Ipv4Addr::from(src)))
    };
    let reply_type = if v6 { 129 } else { 0 };
    if *icmp.first()? != reply_type || *icmp.get(1)? != 0 {
        return None;
    }
    let id = u16::from_be_bytes(icmp.get(4..6)?.try_into().ok()?);
    let seq = u16::from_be_bytes(icmp.get(6..8)?.try_into().ok()?);
    Some((src, id, seq))
}

fn raw_socket(v6: bool) -> io::Result<OwnedFd> {
    let (fam, proto) = if v6 {
        (AddressFamily::Inet6, SockProtocol::IcmpV6)
    } else {
        (AddressFamily::Inet, SockProtocol::Icmp)
    };
    socket(
        fam,
        SockType::Raw,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        proto,
    )
    .map_err(io::Error::from)
}

fn send_echo(fd: &OwnedFd, target: IpAddr, id: u16, seq: u16) -> io::Result<()> {
    let pkt = echo_request(target.is_ipv6(), id, seq);
    let r = match target {
        IpAddr::V4(a) => sendto(
            fd.as_raw_fd(),
            &pkt,
            &SockaddrIn::from(SocketAddrV4::new(a, 0)),
            MsgFlags::empty(),
        ),
        IpAddr::V6(a) => sendto(
            fd.as_raw_fd(),
            &pkt,
            &SockaddrIn6::from(SocketAddrV6::new(a, 0, 0, 0)),
            MsgFlags::empty(),
        ),
    };
    r.map(|_| ()).map_err(io::Error::from)
}

fn storage_ip(s: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v6) = s.as_sockaddr_in6() {
        return Some(IpAddr::V6(v6.ip()));
    }
    s.as_sockaddr_in().map(|v4| IpAddr::V4(v4.ip()))
}

/// Pings every target from the calling thread's namespace until each answered or `timeout`
/// passed. Unreachable targets are not an error: they come back with `rtt: None`.
pub fn ping_many(targets: &[IpAddr], timeout: Duration) -> io::Result<Vec<PingOutcome>> {
    let v4 = if targets.iter().any(IpAddr::is_ipv4) {
        Some(raw_socket(false)?)
    } else {
        None
    };
    let v6 = if targets.iter().any(IpAddr::is_ipv6) {
        Some(raw_socket(true)?)
    } else {
        None
    };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    // seq = index of the target (mod 2^16; the source address disambiguates).
    let mut pending: HashMap<(IpAddr, u16), usize> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| ((*t, (i % 65536) as u16), i))
        .collect();
    let mut sent_at: Vec<Option<Instant>> = vec![None; targets.len()];
    let mut first_sent: Vec<Option<Instant>> = vec![None; targets.len()];
    let mut rtt: Vec<Option<Duration>> = vec![None; targets.len()];
    let mut buf = [0u8; 2048];
    let mut last_error: Option<String> = None;
    let _ = wait_until(timeout, Duration::from_millis(1), || {
        for ((target, seq), i) in &pending {
            let due = sent_at
                .get(*i)
                .copied()
                .flatten()
                .is_none_or(|t| t.elapsed() >= RESEND);
            let fd = if target.is_ipv6() {
                v6.as_ref()
            } else {
                v4.as_ref()
            };
            if let (true, Some(fd)) = (due, fd) {
                // A send error (e.g. ENETUNREACH: no route yet) is retried like a lost packet.
                if let Err(e) = send_echo(fd, *target, id, *seq) {
                    last_error = Some(format!("{target}: {e}"));
                }
                let now = Instant::now();
                if let Some(s) = sent_at.get_mut(*i) {
                    *s = Some(now);
                }
                if let Some(f) = first_sent.get_mut(*i) {
                    f.get_or_insert(now);
                }
            }
        }
        for (fd, is6) in [(v4.as_ref(), false), (v6.as_ref(), true)] {
            let Some(fd) = fd else { continue };
            while let Ok((n, from)) = recvfrom::<SockaddrStorage>(fd.as_raw_fd(), &mut buf) {
                let from_ip = from.as_ref().and_then(storage_ip);
                let Some((src, rid, seq)) = buf.get(..n).and_then(|b| parse_reply(is6, b, from_ip))
                else {
                    continue;
                };
                if rid != id {
                    continue;
                }
                if let Some(i) = pending.remove(&(src, seq)) {
                    if let (Some(r), Some(Some(f))) = (rtt.get_mut(i), first_sent.get(i)) {
                        *r = Some(f.elapsed());
                    }
                }
            }
        }
        if pending.is_empty() {
            Probe::Done(())
        } else {
            Probe::pending(format!(
                "{} of {} targets unanswered{}",
                pending.len(),
                targets.len(),
                last_error
                    .as_deref()
                    .map(|e| format!(" (last send error {e})"))
                    .unwrap_or_default()
            ))
        }
    });
    Ok(targets
        .iter()
        .zip(rtt)
        .map(|(t, rtt)| PingOutcome { target: *t, rtt })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    #[test]
    fn checksum_of_request_verifies_to_zero() {
        let p = echo_request(false, 0x1234, 7);
        assert_eq!(checksum(&p), 0);
    }

    #[test]
    fn parses_v4_reply_after_ip_header() {
        let mut pkt = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let mut icmp = echo_request(false, 9, 3);
        icmp[0] = 0;
        pkt.extend(icmp);
        assert_eq!(
            parse_reply(false, &pkt, None),
            Some((IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 9, 3))
        );
        // A request (type 8) is not a reply; garbage is ignored.
        assert_eq!(parse_reply(false, &[0x45, 1, 2], None), None);
    }

    #[test]
    fn parses_v6_reply_with_sender_address() {
        let mut icmp = echo_request(true, 5, 1);
        icmp[0] = 129;
        let from = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(parse_reply(true, &icmp, Some(from)), Some((from, 5, 1)));
        assert_eq!(parse_reply(true, &icmp, None), None);
    }
}
