//! Typed messages between the daemon's tasks.
//!
//! ```text
//!   listener task ──Accepted──────┐
//!   dial tasks ─────Dialed────────┤
//!   reader tasks ───Frame/ConnClosed┤        ┌──────────────────────┐
//!   control clients ─Control──────┼──mpsc──►│ owner loop (daemon)  │──bytes──► writer tasks
//!   signal task ────Shutdown/Reload┤        │ FSMs, RIB, counters  │──reply──► control clients
//!   kernel monitor ──Kernel────────┘        └──────────────────────┘──routes──► FIB worker
//! ```
//!
//! Only the owner loop mutates state. Every other task owns one socket (or a signal stream) and
//! talks to the owner through [`Input`]; the owner answers through per-connection byte queues
//! (unbounded, so the owner never blocks on a slow peer) and `oneshot` replies.

use std::net::{IpAddr, SocketAddr};

use fabric_bgp_wire::DecodeError;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::control::{Request, Response};
use crate::fib::KernelEvent;

/// Identifies one TCP connection for its whole life; never reused.
pub type ConnId = u64;

/// Everything the owner loop reacts to.
#[derive(Debug)]
pub enum Input {
    /// The listener accepted a connection.
    Accepted {
        /// The connection.
        stream: TcpStream,
        /// Peer's address.
        remote: SocketAddr,
        /// Our address.
        local: SocketAddr,
    },
    /// An outbound connection attempt finished.
    Dialed {
        /// The neighbor dialled.
        peer: IpAddr,
        /// Which attempt (stale attempts are ignored).
        attempt: u64,
        /// The connection, or why it failed.
        result: Result<TcpStream, String>,
    },
    /// One complete BGP message (header included) read from a connection.
    Frame {
        /// The connection.
        conn: ConnId,
        /// The message bytes.
        frame: Vec<u8>,
    },
    /// A connection ended or its byte stream cannot be framed any more.
    ConnClosed {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: ConnEnd,
    },
    /// A control socket request.
    Control {
        /// The request.
        request: Request,
        /// Where to send the answer.
        reply: oneshot::Sender<Response>,
    },
    /// SIGHUP: re-read the configuration file.
    Reload,
    /// A kernel link, address or route changed.
    Kernel(KernelEvent),
    /// Kernel notifications were lost; this is the whole state again.
    KernelResync(Vec<KernelEvent>),
    /// SIGTERM or SIGINT.
    Shutdown {
        /// Signal name, for the log.
        signal: &'static str,
    },
}

/// Why a connection's reader or writer stopped.
#[derive(Debug)]
pub enum ConnEnd {
    /// Bad marker or length (RFC 4271 §6.1): the NOTIFICATION to send is in the error.
    Framing(DecodeError),
    /// The peer closed the connection.
    Eof,
    /// A read or write failed.
    Io(String),
}
