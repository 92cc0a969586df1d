//! A small synchronous rtnetlink client that pipelines requests in batches.
//!
//! Building a lab sends thousands of small requests (veths, addresses, routes). Awaiting each one
//! costs a round trip; here many requests are written in one `send` and their ACKs are collected
//! afterwards (as `ip -batch` does), in windows small enough that the ACKs never overflow the
//! socket's receive buffer (an overflowing kernel ACK is dropped silently, with `ENOBUFS`).
//!
//! A netlink socket belongs to the namespace of the thread that created it, for its whole life,
//! so a [`Netlink`] is opened on a thread that is already inside the target namespace (see
//! `netns`); it is plain blocking I/O and never touches a tokio runtime.
//!
//! Every request carries a human label ("veth e1 on r1t1 <-> e0 on s1"); a failed request is
//! reported with that label, the errno and the kernel's extended-ACK text if it sent one.

use std::collections::HashMap;
use std::fmt;
use std::io;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use rtnetlink::sys as netlink_sys;
use rtnetlink::{packet_core as netlink_packet_core, packet_route as netlink_packet_route};

/// Requests in flight before their ACKs are read. Each kernel ACK takes roughly 1 KiB of the
/// receive buffer (skb truesize), and the default buffer is ~208 KiB.
const WINDOW: usize = 64;

/// Size of the receive buffer for one datagram (dump replies come in skbs of up to 32 KiB).
const RECV_BUF: usize = 64 * 1024;

/// `NLMSGERR_ATTR_MSG`: the extended-ACK error string (include/uapi/linux/netlink.h).
const NLMSGERR_ATTR_MSG: u16 = 1;

/// One request to send, with the label its failure will be reported under.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub msg: RouteNetlinkMessage,
    /// `NLM_F_*` flags besides `NLM_F_REQUEST | NLM_F_ACK` (e.g. `NLM_F_CREATE | NLM_F_EXCL`).
    pub flags: u16,
    pub what: String,
}

impl Request {
    pub(crate) fn new(msg: RouteNetlinkMessage, flags: u16, what: impl Into<String>) -> Self {
        Request {
            msg,
            flags,
            what: what.into(),
        }
    }
}

/// A request the kernel refused.
#[derive(Debug)]
pub(crate) struct Failure {
    pub what: String,
    pub error: io::Error,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}

/// A blocking rtnetlink socket in the namespace of the thread that opened it.
pub(crate) struct Netlink {
    sock: Socket,
    seq: u32,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl Netlink {
    /// Opens a socket in the calling thread's current network namespace.
    pub(crate) fn open() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Small ACKs (only the original header echoed back) and error strings from the kernel.
        sock.set_cap_ack(true)?;
        sock.set_ext_ack(true)?;
        Ok(Netlink {
            sock,
            seq: 0,
            rx: Vec::with_capacity(RECV_BUF),
            tx: Vec::new(),
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn encode(&mut self, msg: RouteNetlinkMessage, flags: u16) -> u32 {
        let seq = self.next_seq();
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        nl.finalize();
        let start = self.tx.len();
        self.tx.resize(start + nl.buffer_len(), 0);
        if let Some(dst) = self.tx.get_mut(start..) {
            nl.serialize(dst);
        }
        seq
    }

    fn recv_datagram(&mut self) -> io::Result<()> {
        self.rx.clear();
        self.rx.reserve(RECV_BUF);
        self.sock.recv(&mut self.rx, 0)?;
        Ok(())
    }

    /// Sends all requests, pipelined, and waits for every ACK. Requests are independent: a failed
    /// one does not stop the others. Returns every failure with its label.
    pub(crate) fn run(&mut self, reqs: Vec<Request>) -> Result<(), Vec<Failure>> {
        let mut failures = Vec::new();
        let mut reqs = reqs.into_iter().peekable();
        while reqs.peek().is_some() {
            self.tx.clear();
            let mut pending: HashMap<u32, String> = HashMap::new();
            for r in reqs.by_ref().take(WINDOW) {
                let seq = self.encode(r.msg, NLM_F_ACK | r.flags);
                pending.insert(seq, r.what);
            }
            if let Err(e) = self.sock.send(&self.tx, 0) {
                failures.extend(pending.into_values().map(|what| Failure {
                    what,
                    error: io::Error::new(e.kind(), format!("failed to send: {e}")),
                }));
                continue;
            }
            while !pending.is_empty() {
                if let Err(e) = self.recv_datagram() {
                    failures.extend(pending.drain().map(|(_, what)| Failure {
                        what,
                        error: io::Error::new(e.kind(), format!("no ACK received: {e}")),
                    }));
                    break;
                }
                for (seq, result) in parse_acks(&self.rx) {
                    if let Some(what) = pending.remove(&seq) {
                        if let Err(error) = result {
                            failures.push(Failure { what, error });
                        }
                    }
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures)
        }
    }

    /// Runs one request; the error carries the request's label.
    pub(crate) fn run_one(&mut self, req: Request) -> io::Result<()> {
        self.run(vec![req]).map_err(|f| {
            let msg = f
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            let kind = f
                .first()
                .map(|x| x.error.kind())
                .unwrap_or(io::ErrorKind::Other);
            io::Error::new(kind, msg)
        })
    }

    /// Sends a dump request and returns every reply message.
    fn dump(&mut self, msg: RouteNetlinkMessage) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.tx.clear();
        let seq = self.encode(msg, NLM_F_DUMP);
        self.sock.send(&self.tx, 0)?;
        let mut out = Vec::new();
        loop {
            self.recv_datagram()?;
            let mut off = 0usize;
            while let Some(buf) = self.rx.get(off..).filter(|b| !b.is_empty()) {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(buf)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = msg.header.length as usize;
                if len == 0 {
                    break;
                }
                off += align4(len);
                if msg.header.sequence_number != seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        if let Some(code) = e.code {
                            return Err(io::Error::from_raw_os_error(-code.get()));
                        }
                    }
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    _ => {}
                }
            }
        }
    }

    /// Interface name -> index of every link in this namespace.
    pub(crate) fn link_indexes(&mut self) -> io::Result<HashMap<String, u32>> {
        let links = self.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))?;
        Ok(links
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some((n.clone(), l.header.index)),
                    _ => None,
                }),
                _ => None,
            })
            .collect())
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Extracts (sequence number, result) of every ACK/NACK in one received datagram.
///
/// Parsed by hand rather than through `NetlinkMessage::deserialize` because with
/// `NETLINK_EXT_ACK` the error carries TLVs after the echoed header, which hold the kernel's
/// explanation (e.g. "Specified qdisc kind is unknown").
fn parse_acks(buf: &[u8]) -> Vec<(u32, io::Result<()>)> {
    const NLMSG_ERROR: u16 = 2;
    const HDR: usize = 16;
    let mut out = Vec::new();
    let mut off = 0usize;
    while let Some(h) = buf.get(off..off + HDR) {
        let len = u32_at(h, 0) as usize;
        let kind = u16_at(h, 4);
        let seq = u32_at(h, 8);
        if len < HDR {
            break;
        }
        if kind == NLMSG_ERROR {
            let body = buf.get(off + HDR..off + len).unwrap_or(&[]);
            let code = i32::from_ne_bytes(
                body.get(0..4)
                    .and_then(|b| b.try_into().ok())
                    .unwrap_or([0; 4]),
            );
            if code == 0 {
                out.push((seq, Ok(())));
            } else {
                let errno = io::Error::from_raw_os_error(-code);
                // After the code: the echoed request header (16 bytes, capped), then TLVs.
                let text = body.get(4 + HDR..).and_then(ext_ack_message);
                let err = match text {
                    Some(t) => io::Error::new(errno.kind(), format!("{errno} ({t})")),
                    None => errno,
                };
                out.push((seq, Err(err)));
            }
        }
        off += align4(len);
    }
    out
}

fn ext_ack_message(mut tlvs: &[u8]) -> Option<String> {
    while tlvs.len() >= 4 {
        let len = u16_at(tlvs, 0) as usize;
        let kind = u16_at(tlvs, 2) & 0x3fff;
        if len < 4 {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let v = tlvs.get(4..len)?;
            let v = v.split(|b| *b == 0).next().unwrap_or(v);
            return Some(String::from_utf8_lossy(v).into_owned());
        }
        tlvs = tlvs.get(align4(len)..)?;
    }
    None
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_ne_bytes)
        .unwrap_or(0)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_ne_bytes)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlmsg(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let len = 16 + body.len();
        let mut v = Vec::new();
        v.extend_from_slice(&(len as u32).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(body);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn parses_ack_and_nack_with_ext_ack_text() {
        let mut ack_body = 0i32.to_ne_bytes().to_vec();
        ack_body.extend_from_slice(&[0u8; 16]);
        let mut nack_body = (-2i32).to_ne_bytes().to_vec();
        nack_body.extend_from_slice(&[0u8; 16]);
        let text = b"Specified qdisc kind is unknown\0";
        let tlv_len = 4 + text.len();
        nack_body.extend_from_slice(&(tlv_len as u16).to_ne_bytes());
        nack_body.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        nack_body.extend_from_slice(text);
        let mut buf = nlmsg(2, 7, &ack_body);
        buf.extend(nlmsg(2, 8, &nack_body));
        let acks = parse_acks(&buf);
        assert_eq!(acks.len(), 2);
        assert!(matches!(acks.first(), Some((7, Ok(())))));
        match acks.get(1) {
            Some((8, Err(e))) => {
                assert_eq!(e.kind(), io::ErrorKind::NotFound);
                assert!(e.to_string().contains("qdisc kind is unknown"), "{e}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn truncated_datagram_yields_nothing_instead_of_panicking() {
        assert!(parse_acks(&[1, 2, 3]).is_empty());
        let mut buf = nlmsg(2, 1, &[0, 0, 0, 0]);
        buf.truncate(10);
        assert!(parse_acks(&buf).is_empty());
    }
}
