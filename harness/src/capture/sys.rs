//! The three operations of `capture` that have no safe API: binding an `AF_PACKET` socket to one
//! interface (nix 0.30's `LinkAddr` has no public constructor), reading the kernel's
//! `PACKET_STATISTICS` counters (no nix sockopt), and registering a socket with tokio's reactor
//! (`AsyncFd::register` is `unsafe` since tokio 1.54). Everything else in `capture` is safe code.
#![expect(
    unsafe_code,
    reason = "no safe API for sockaddr_ll, PACKET_STATISTICS or AsyncFd registration"
)]

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::libc;
use nix::sys::socket::{bind, LinkAddr, SockaddrLike};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::socket::PacketSocket;

/// `ETH_P_ALL` in network byte order, as `sll_protocol` wants it (packet(7)).
const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

/// Binds a packet socket to interface `ifindex`, receiving every protocol (`ETH_P_ALL`).
///
/// The socket should have been created with protocol 0 so that it receives nothing before this
/// bind: packet(7) says a socket created with a protocol receives from all interfaces until bound.
pub fn bind_to_ifindex(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    let ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ifindex out of range"))?;
    let raw = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: ETH_P_ALL_BE,
        sll_ifindex: ifindex,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    let len = libc::socklen_t::try_from(mem::size_of::<libc::sockaddr_ll>())
        .map_err(|_| io::Error::other("sockaddr_ll size"))?;
    // SAFETY: `raw` is a fully initialised `sockaddr_ll` living on this stack frame for the whole
    // call, `len` is exactly its size, and its family is AF_PACKET, which is what
    // `LinkAddr::from_raw` requires (it copies the struct out with `read_unaligned`).
    let addr = unsafe {
        LinkAddr::from_raw(
            (&raw as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
            Some(len),
        )
    }
    .ok_or_else(|| io::Error::other("failed to build a sockaddr_ll"))?;
    bind(fd.as_raw_fd(), &addr).map_err(io::Error::from)
}

/// Kernel counters of a packet socket since the previous call (reading resets them; packet(7)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Packets the kernel passed to the socket, including those it then dropped.
    pub packets: u32,
    /// Packets dropped because the socket's receive buffer was full.
    pub drops: u32,
}

/// Reads and resets `PACKET_STATISTICS` of a packet socket.
pub fn take_kernel_stats(fd: BorrowedFd<'_>) -> io::Result<KernelStats> {
    let mut stats = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = libc::socklen_t::try_from(mem::size_of::<libc::tpacket_stats>())
        .map_err(|_| io::Error::other("tpacket_stats size"))?;
    // SAFETY: `stats` is a valid, writable `tpacket_stats` and `len` holds its exact size, so the
    // kernel writes at most `len` bytes into it; `fd` is a live socket borrowed for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut stats as *mut libc::tpacket_stats).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(KernelStats {
        packets: stats.tp_packets,
        drops: stats.tp_drops,
    })
}

/// Registers a packet socket with the current tokio runtime's reactor, for readability only.
///
/// Must be called inside a tokio runtime with I/O enabled.
pub fn register_readable(socket: PacketSocket) -> io::Result<AsyncFd<PacketSocket>> {
    // SAFETY: `PacketSocket` owns its descriptor (an `OwnedFd` set once in `PacketSocket::open`,
    // never replaced or closed before drop), and its `AsRawFd` always returns that descriptor,
    // so the fd stays open and refers to the same socket for the whole life of the `AsyncFd`.
    unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }.map_err(io::Error::from)
}
