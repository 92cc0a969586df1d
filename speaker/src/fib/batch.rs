//! Route changes written to the kernel in batches: many RTM_NEWROUTE/RTM_DELROUTE messages in one
//! `sendmsg`, an acknowledgement asked for only on the last message of each batch.
//!
//! The kernel processes the messages of one datagram in order and reports an error for any
//! message that fails whether or not it asked for an acknowledgement; so when the last
//! message's answer (acknowledgement or error) arrives, every earlier message is done and every
//! failure has been reported. That is two system calls per batch of [`BATCH`] routes instead of
//! two per route, which roughly doubles what one core installs per second (FRR's dplane batches
//! the same way).
//!
//! Blocking I/O: [`BatchSocket::apply`] runs on a blocking thread (see `NetlinkFib`).

use std::io;

use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST,
};
use rtnetlink::sys::protocols::NETLINK_ROUTE;
use rtnetlink::sys::{Socket, SocketAddr};

use crate::fib::api::{ApplyReport, RouteFailure};
use crate::fib::messages::{change_message, RouteTarget};
use crate::rib::FibChange;

/// Messages per `sendmsg` (about 80 bytes each: well inside the socket's send buffer).
pub const BATCH: usize = 512;

/// Receive buffer for acknowledgements and errors.
const RECV_BUF: usize = 1 << 20;

/// A netlink socket of the current namespace used only for route changes.
#[derive(Debug)]
pub struct BatchSocket {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl BatchSocket {
    /// Opens a NETLINK_ROUTE socket in the calling thread's namespace.
    pub fn open() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Best effort: a bigger buffer only matters for many failures in one batch.
        let _ = sock.set_rx_buf_sz(RECV_BUF);
        // The kernel always answers; the bound only keeps a lost answer from hanging the FIB
        // worker forever (the batch is then reported as failed).
        nix::sys::socket::setsockopt(
            &sock,
            nix::sys::socket::sockopt::ReceiveTimeout,
            &nix::sys::time::TimeVal::new(10, 0),
        )
        .map_err(io::Error::from)?;
        Ok(BatchSocket {
            sock,
            seq: 1,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Applies `changes` in order, [`BATCH`] per datagram. A refused change does not stop the
    /// others; deleting an absent route (ESRCH) counts as done.
    pub fn apply(&mut self, changes: Vec<FibChange>, target: &RouteTarget) -> ApplyReport {
        let messages: Vec<(RouteNetlinkMessage, u16)> = changes
            .iter()
            .map(|c| {
                let (msg, is_delete) = change_message(c, target);
                if is_delete {
                    (RouteNetlinkMessage::DelRoute(msg), 0)
                } else {
                    (
                        RouteNetlinkMessage::NewRoute(msg),
                        NLM_F_CREATE | NLM_F_REPLACE,
                    )
                }
            })
            .collect();
        let answers = self.exchange(messages);
        let mut report = ApplyReport::default();
        for (change, answer) in changes.into_iter().zip(answers) {
            match answer {
                Ok(()) => report.applied += 1,
                // ESRCH on delete: the route is gone already, which is what was asked.
                Err(Some(code))
                    if code == nix::errno::Errno::ESRCH as i32 && is_delete(&change) =>
                {
                    report.applied += 1
                }
                Err(code) => report.failed.push(RouteFailure {
                    change,
                    error: match code {
                        Some(c) => io::Error::from_raw_os_error(c).to_string(),
                        None => "no answer from the kernel".to_owned(),
                    },
                }),
            }
        }
        report
    }

    /// Sends route messages (with extra header flags) in order, [`BATCH`] per datagram, and
    /// returns each one's outcome: `Err(Some(errno))` if the kernel refused it, `Err(None)` if
    /// the batch could not be sent or answered.
    pub fn exchange(
        &mut self,
        messages: Vec<(RouteNetlinkMessage, u16)>,
    ) -> Vec<Result<(), Option<i32>>> {
        let mut results = Vec::with_capacity(messages.len());
        let mut out = Vec::with_capacity(BATCH * 96);
        let mut rest = messages;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(BATCH));
            let batch = std::mem::replace(&mut rest, tail);
            let first_seq = self.seq;
            let n = batch.len();
            out.clear();
            for (i, (msg, extra)) in batch.into_iter().enumerate() {
                let mut nl = NetlinkMessage::from(msg);
                let mut flags = NLM_F_REQUEST | extra;
                if i + 1 == n {
                    flags |= NLM_F_ACK;
                }
                nl.header.flags = flags;
                nl.header.sequence_number = self.seq;
                self.seq = self.seq.wrapping_add(1);
                nl.finalize();
                let start = out.len();
                out.resize(start + nl.buffer_len(), 0);
                if let Some(dst) = out.get_mut(start..) {
                    nl.serialize(dst);
                }
            }
            let last_seq = self.seq.wrapping_sub(1);
            let mut failed = vec![None; n];
            let sent = self
                .sock
                .send(&out, 0)
                .and_then(|_| self.await_batch(first_seq, last_seq, &mut failed));
            match sent {
                Ok(()) => results.extend(failed.into_iter().map(|f| match f {
                    None => Ok(()),
                    Some(code) => Err(Some(code)),
                })),
                Err(e) => {
                    tracing::warn!(error = %e, "netlink batch lost");
                    results.extend(std::iter::repeat_n(Err(None), n));
                }
            }
        }
        results
    }

    /// Reads answers until the last message's acknowledgement (or error); records the errno of
    /// every failed message of the batch.
    fn await_batch(
        &mut self,
        first_seq: u32,
        last_seq: u32,
        failed: &mut [Option<i32>],
    ) -> io::Result<()> {
        loop {
            self.buf.clear();
            self.buf.reserve(RECV_BUF);
            let n = self.sock.recv(&mut self.buf, 0)?;
            let mut off = 0usize;
            while off < n {
                let Some(data) = self.buf.get(off..n) else {
                    break;
                };
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(data)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = (msg.header.length as usize).max(16);
                off += (len + 3) & !3;
                let seq = msg.header.sequence_number;
                if let NetlinkPayload::Error(e) = msg.payload {
                    let idx = seq.wrapping_sub(first_seq) as usize;
                    let code = e.code.map(|c| -c.get());
                    if let (Some(code), Some(slot)) = (code, failed.get_mut(idx)) {
                        *slot = Some(code);
                    }
                    if seq == last_seq {
                        return Ok(());
                    }
                }
            }
        }
    }
}

fn is_delete(c: &FibChange) -> bool {
    matches!(c, FibChange::Delete { .. })
}
