//! Counts a table's prefixes in a namespace's kernel FIB from route notifications
//! (RTNLGRP_IPV4_ROUTE), on its own thread, without polling the FIB: the time the last prefix
//! arrives is the FIB time.
//!
//! The socket asks for a large receive buffer with SO_RCVBUFFORCE; if the kernel still drops
//! notifications (ENOBUFS) the loss is counted and reported, and the caller falls back to dumps.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::Result;
use fabriclab::lab::Lab;
use fabriclab::topology::NodeId;
use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

use crate::inject::Table;

/// `RTNLGRP_IPV4_ROUTE` (linux/rtnetlink.h).
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTA_DST: u16 = 1;
const AF_INET: u8 = 2;
const RTN_UNICAST: u8 = 1;
/// Receive buffer forced on the socket.
const RCVBUF: usize = 256 * 1024 * 1024;

/// A running watch.
pub struct FibWatch {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU32>,
    overruns: Arc<AtomicU64>,
    thread: Option<JoinHandle<Option<Instant>>>,
}

impl FibWatch {
    /// Subscribes in `node`'s namespace (before anything installs the table).
    pub fn start(lab: &Lab, node: &NodeId, table: Table) -> Result<FibWatch> {
        let fd: OwnedFd = lab.in_node(node, || -> nix::Result<OwnedFd> {
            let fd = socket(
                AddressFamily::Netlink,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::NetlinkRoute,
            )?;
            bind(
                fd.as_raw_fd(),
                &NetlinkAddr::new(0, 1 << (RTNLGRP_IPV4_ROUTE - 1)),
            )?;
            Ok(fd)
        })??;
        setsockopt(&fd, sockopt::RcvBufForce, &RCVBUF)?;
        setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 200_000))?;
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU32::new(0));
        let overruns = Arc::new(AtomicU64::new(0));
        let (s, c, o) = (Arc::clone(&stop), Arc::clone(&count), Arc::clone(&overruns));
        let thread = std::thread::Builder::new()
            .name("fib-watch".into())
            .spawn(move || run(fd, table, &s, &c, &o))?;
        Ok(FibWatch {
            stop,
            count,
            overruns,
            thread: Some(thread),
        })
    }

    /// Prefixes of the table currently in the FIB, as far as notifications told.
    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// Times the kernel dropped notifications.
    pub fn overruns(&self) -> u64 {
        self.overruns.load(Ordering::Relaxed)
    }

    /// Stops the watch; returns when the last prefix arrived, if it did.
    pub fn finish(mut self) -> Option<Instant> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).flatten()
    }
}

impl Drop for FibWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    fd: OwnedFd,
    table: Table,
    stop: &AtomicBool,
    count: &AtomicU32,
    overruns: &AtomicU64,
) -> Option<Instant> {
    let mut present = vec![false; table.prefixes as usize];
    let mut n = 0u32;
    let mut complete = None;
    let mut buf = vec![0u8; 4 << 20];
    while !stop.load(Ordering::Relaxed) {
        let len = match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(len) => len,
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            Err(Errno::ENOBUFS) => {
                overruns.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(_) => break,
        };
        for (kind, dst, dst_len) in messages(buf.get(..len).unwrap_or_default()) {
            let Some(i) = table.index(dst, dst_len) else {
                continue;
            };
            let Some(slot) = present.get_mut(i as usize) else {
                continue;
            };
            match kind {
                RTM_NEWROUTE if !*slot => {
                    *slot = true;
                    n += 1;
                }
                RTM_DELROUTE if *slot => {
                    *slot = false;
                    n -= 1;
                }
                _ => {}
            }
        }
        count.store(n, Ordering::Relaxed);
        if n == table.prefixes && complete.is_none() {
            complete = Some(Instant::now());
        }
    }
    complete
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The IPv4 unicast route messages of a datagram: (type, destination, prefix length).
fn messages(b: &[u8]) -> Vec<(u16, Ipv4Addr, u8)> {
    let mut out = Vec::new();
    let mut off = 0usize;
    // struct nlmsghdr (16 bytes) + struct rtmsg (12 bytes) + rtattrs.
    while let (Some(len), Some(kind)) = (u32_at(b, off), u16_at(b, off + 4)) {
        let len = len as usize;
        if len < 16 || off + len > b.len() {
            break;
        }
        if kind == RTM_NEWROUTE || kind == RTM_DELROUTE {
            let rt = off + 16;
            let (family, dst_len, rtype) = (b.get(rt), b.get(rt + 1), b.get(rt + 7));
            if family == Some(&AF_INET) && rtype == Some(&RTN_UNICAST) {
                let dst_len = dst_len.copied().unwrap_or(0);
                let mut a = rt + 12;
                let mut dst = Ipv4Addr::UNSPECIFIED;
                while let (Some(alen), Some(atype)) = (u16_at(b, a), u16_at(b, a + 2)) {
                    let alen = usize::from(alen);
                    if alen < 4 || a + alen > off + len {
                        break;
                    }
                    if atype == RTA_DST && alen == 8 {
                        if let Some(v) = b.get(a + 4..a + 8) {
                            dst = Ipv4Addr::new(v[0], v[1], v[2], v[3]);
                        }
                    }
                    a += align4(alen);
                }
                out.push((kind, dst, dst_len));
            }
        }
        off += align4(len);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_newroute_message() {
        // nlmsghdr(len 36, type 24) + rtmsg(AF_INET, /24, ..., type unicast) + RTA_DST.
        let mut m = Vec::new();
        m.extend_from_slice(&36u32.to_ne_bytes());
        m.extend_from_slice(&RTM_NEWROUTE.to_ne_bytes());
        m.extend_from_slice(&[0u8; 10]);
        m.extend_from_slice(&[AF_INET, 24, 0, 0, 254, 201, 0, RTN_UNICAST, 0, 0, 0, 0]);
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&RTA_DST.to_ne_bytes());
        m.extend_from_slice(&[32, 0, 1, 0]);
        assert_eq!(
            messages(&m),
            vec![(RTM_NEWROUTE, Ipv4Addr::new(32, 0, 1, 0), 24)]
        );
        assert!(messages(&m[..20]).is_empty());
    }
}
