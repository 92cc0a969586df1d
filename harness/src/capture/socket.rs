//! One `AF_PACKET` raw socket bound to one interface: the capture end of a veth.
//!
//! A veth end sees both directions of its link (received frames as `PACKET_HOST`, sent frames as
//! `PACKET_OUTGOING`; packet(7)), so one socket per link is enough. The socket is created inside
//! the node's namespace (interface names and indexes are per namespace) and may then be read from
//! any thread: a socket stays in the namespace it was created in.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::net::if_::if_nametoindex;
use nix::sys::socket::{
    recvmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, LinkAddr, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::time::TimeSpec;

use super::sys::{self, KernelStats};

/// `sll_pkttype` of a frame this host sent (linux/if_packet.h).
const PACKET_OUTGOING: u8 = 4;

/// A non-blocking packet socket capturing every frame on one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

/// One frame read from a [`PacketSocket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Kernel receive (or transmit) time since the Unix epoch (`SO_TIMESTAMPNS`), or the time of
    /// the read when the kernel gave none.
    pub ts: Duration,
    /// Bytes stored in the buffer (at most its length: the snap length).
    pub captured: usize,
    /// Length of the frame on the wire.
    pub orig_len: usize,
    /// Whether the interface sent the frame (`PACKET_OUTGOING`) rather than received it.
    pub outgoing: bool,
}

impl PacketSocket {
    /// Opens a packet socket bound to `ifname`. Must run on a thread inside the interface's
    /// network namespace.
    ///
    /// `rcvbuf` sizes the kernel receive queue; frames beyond it are dropped by the kernel and
    /// counted in [`PacketSocket::take_kernel_stats`].
    pub fn open(ifname: &str, rcvbuf: usize) -> io::Result<Self> {
        let ifindex = if_nametoindex(ifname).map_err(io::Error::from)?;
        // Protocol 0 first, then bind with ETH_P_ALL: a socket created with ETH_P_ALL would
        // receive frames of every interface until bound (packet(7)).
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(io::Error::from)?;
        // Root may exceed net.core.rmem_max with SO_RCVBUFFORCE; fall back to the capped one.
        if setsockopt(&fd, sockopt::RcvBufForce, &rcvbuf).is_err() {
            setsockopt(&fd, sockopt::RcvBuf, &rcvbuf).map_err(io::Error::from)?;
        }
        setsockopt(&fd, sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)?;
        sys::bind_to_ifindex(fd.as_fd(), ifindex)?;
        Ok(PacketSocket { fd, ifindex })
    }

    /// The interface index the socket is bound to (in its namespace).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Reads one frame into `buf` without blocking. Frames longer than `buf` are truncated to it
    /// (`captured < orig_len`). Returns `ErrorKind::WouldBlock` when the queue is empty, and
    /// `ENETDOWN` once after the interface went down (the socket keeps working when it comes up
    /// again; packet(7)).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let mut cmsg = nix::cmsg_space!(TimeSpec);
        let buf_len = buf.len();
        let mut iov = [IoSliceMut::new(buf)];
        // MSG_TRUNC makes a packet socket return the frame's real length (packet(7)).
        let msg = recvmsg::<LinkAddr>(
            self.fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io::Error::from)?;
        let orig_len = msg.bytes;
        let mut ts = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmTimestampns(t) = c {
                    ts = timespec_to_duration(t);
                }
            }
        }
        let ts = ts.unwrap_or_else(now_since_epoch);
        let outgoing = msg.address.is_some_and(|a| a.pkttype() == PACKET_OUTGOING);
        Ok(Received {
            ts,
            captured: orig_len.min(buf_len),
            orig_len,
            outgoing,
        })
    }

    /// Reads and resets the kernel's counters for this socket (frames seen and dropped).
    pub fn take_kernel_stats(&self) -> io::Result<KernelStats> {
        sys::take_kernel_stats(self.fd.as_fd())
    }
}

/// Whether an error from [`PacketSocket::recv`] only reports that the interface went down.
pub fn is_link_down(err: &io::Error) -> bool {
    err.raw_os_error() == Some(Errno::ENETDOWN as i32)
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn timespec_to_duration(t: TimeSpec) -> Option<Duration> {
    let secs = u64::try_from(t.tv_sec()).ok()?;
    let nanos = u32::try_from(t.tv_nsec()).ok()?;
    (nanos < 1_000_000_000).then(|| Duration::new(secs, nanos))
}

fn now_since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}
