//! BGP messages out of captured frames: TCP port 179 streams reassembled per direction, cut into
//! messages with the wire crate's framing ([`fabric_bgp_wire::frame_len_max`]) and decoded with
//! [`fabric_bgp_wire::Message::decode_with_errors`], using the context (4-octet AS, ADD-PATH,
//! extended messages) negotiated by the OPENs seen on the same connection (RFC 5492: a capability
//! is in effect only when both OPENs carry it).
//!
//! ```text
//! frame ─ packet::parse_tcp_frame ─▶ connection (4-tuple, renewed by a SYN with a new ISN)
//!        ─▶ direction: Reassembler ─▶ byte buffer ─ frame_len_max ─▶ Message::decode ─▶ WireEvent
//! ```
//!
//! Nothing here trusts the capture: a hole (a frame the capture lost) is reported as a
//! [`WireBody::Gap`] and skipped, a stream seen from its middle or after a hole is re-synchronised
//! on the next 16-octet marker ([`WireBody::Desync`]), and a message the decoder rejects becomes a
//! [`WireBody::DecodeError`] carrying the NOTIFICATION the receiver should have sent.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use fabric_bgp_wire::header::HEADER_LEN;
use fabric_bgp_wire::{
    frame_len_max, Capability, CodecContext, DecodeError, ErrorAction, Message, MessageType, Open,
};
use serde::{Deserialize, Serialize};

use super::error::CaptureError;
use super::packet::{parse_tcp_frame, PacketError};
use super::read::for_each_frame;
use super::reassembly::Reassembler;
use crate::topology::plan::LinkId;

/// The BGP port (RFC 4271 §8.2.1).
pub const BGP_PORT: u16 = 179;

/// Bytes held behind a hole before giving up on it: a capture that lost a frame must not make
/// the decoder buffer the rest of the stream.
const MAX_PENDING: usize = 4 * 1024 * 1024;

/// One BGP message (or stream problem) seen on a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireEvent {
    /// When the last byte of the message was captured (time since the Unix epoch).
    pub ts: Duration,
    pub link: LinkId,
    /// Connection number on this link, in order of first sight (a reconnect gets a new one).
    pub conn: u32,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// The header's type, when there was a header.
    pub msg_type: Option<MessageType>,
    /// The header's length (0 for stream events).
    pub len: usize,
    pub body: WireBody,
}

/// What a [`WireEvent`] is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireBody {
    /// A decoded message, with the RFC 7606 errors handled inside the session (already applied
    /// to `message`, e.g. treat-as-withdraw).
    Message {
        message: Box<Message>,
        non_fatal: Vec<WireError>,
    },
    /// A message the receiver must answer with a NOTIFICATION (or a framing error).
    DecodeError(WireError),
    /// Stream bytes the capture lost (a dropped or truncated frame); messages around them are
    /// lost too.
    Gap { offset: u64, bytes: u64 },
    /// Bytes skipped to find the next marker (capture started mid-stream, or after a gap or a
    /// framing error).
    Desync { skipped: usize },
    /// A message cut short by the end of the capture.
    Incomplete { bytes: usize },
}

/// A decode error as plain data: the NOTIFICATION it implies and the RFC 7606 action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    pub code: u8,
    pub subcode: u8,
    /// `code/subcode (name: subcode name)`.
    pub name: String,
    pub action: ErrorAction,
    pub reason: String,
}

impl From<&DecodeError> for WireError {
    fn from(e: &DecodeError) -> Self {
        WireError {
            code: e.code_byte(),
            subcode: e.subcode_byte(),
            name: e.code.to_string(),
            action: e.action,
            reason: e.reason.to_string(),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: {}", self.name, self.action, self.reason)
    }
}

impl WireEvent {
    /// The decoded message, if this event is one.
    pub fn message(&self) -> Option<&Message> {
        match &self.body {
            WireBody::Message { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Whether this event shows a problem (decode error, gap, desync, non-fatal UPDATE error).
    pub fn is_problem(&self) -> bool {
        match &self.body {
            WireBody::Message { non_fatal, .. } => !non_fatal.is_empty(),
            WireBody::Incomplete { .. } => false,
            WireBody::DecodeError(_) | WireBody::Gap { .. } | WireBody::Desync { .. } => true,
        }
    }

    /// One line for timelines and reports, e.g. `UPDATE +3 -1`.
    pub fn summary(&self) -> String {
        match &self.body {
            WireBody::Message { message, non_fatal } => {
                let mut s = summarize(message);
                for e in non_fatal {
                    s.push_str(&format!(" [non-fatal {e}]"));
                }
                s
            }
            WireBody::DecodeError(e) => format!("decode error: {e}"),
            WireBody::Gap { offset, bytes } => format!("capture gap: {bytes} bytes at {offset}"),
            WireBody::Desync { skipped } => format!("resync: {skipped} bytes skipped"),
            WireBody::Incomplete { bytes } => format!("incomplete message: {bytes} bytes"),
        }
    }
}

fn summarize(m: &Message) -> String {
    match m {
        Message::Open(o) => {
            let caps: Vec<String> = o.capabilities.iter().map(cap_name).collect();
            format!(
                "OPEN as {} hold {} id {} caps [{}]",
                o.effective_asn(),
                o.hold_time,
                o.router_id,
                caps.join(", ")
            )
        }
        Message::Update(u) => match u.is_end_of_rib() {
            Some(af) => format!("UPDATE End-of-RIB {af}"),
            None => {
                let a = &u.attributes;
                let mp_reach = a.mp_reach.as_ref().map_or(0, |r| r.nlri.len());
                let mp_unreach = a.mp_unreach.as_ref().map_or(0, |r| r.withdrawn.len());
                format!(
                    "UPDATE +{} -{}",
                    u.nlri.len() + mp_reach,
                    u.withdrawn.len() + mp_unreach
                )
            }
        },
        Message::Notification(n) => match n.shutdown_communication() {
            Some(text) => format!("NOTIFICATION {} \"{text}\"", n.code),
            None => format!("NOTIFICATION {}", n.code),
        },
        Message::Keepalive => "KEEPALIVE".into(),
        Message::RouteRefresh(r) => format!("ROUTE-REFRESH {} {:?}", r.afi_safi, r.subtype),
    }
}

fn cap_name(c: &Capability) -> String {
    match c {
        Capability::Multiprotocol(af) => format!("mp {af}"),
        Capability::FourOctetAs(asn) => format!("as4 {asn}"),
        Capability::GracefulRestart(gr) => format!(
            "gr R={} N={} time={}",
            u8::from(gr.restart_state),
            u8::from(gr.notification),
            gr.restart_time
        ),
        other => format!("{:?}", other.code()),
    }
}

/// Counters of what the frames were.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStats {
    pub frames: u64,
    /// TCP segments to or from port 179.
    pub bgp_segments: u64,
    /// Frames that are not IP, not TCP or TCP on other ports.
    pub other: u64,
    /// IP fragments (never reassembled).
    pub fragments: u64,
    /// Frames with impossible or truncated headers.
    pub malformed: u64,
    /// Frames whose TCP payload the snap length cut.
    pub truncated: u64,
    /// Connections seen.
    pub connections: u32,
}

/// One direction of a connection.
#[derive(Debug, Default)]
struct Direction {
    reasm: Reassembler,
    isn: Option<u32>,
    /// Reassembled bytes not yet cut into messages.
    buf: Vec<u8>,
    /// Capture time of the chunks in `buf`: (end offset in `buf`, time), ascending.
    marks: Vec<(usize, Duration)>,
    /// Whether `buf` starts at a message boundary.
    synced: bool,
    /// The OPEN this side sent on this connection.
    open: Option<Open>,
}

#[derive(Debug)]
struct Connection {
    id: u32,
    /// Keyed by sender.
    dirs: BTreeMap<SocketAddr, Direction>,
}

/// Turns the frames of one link's capture into [`WireEvent`]s. Pure: feed frames, collect events.
#[derive(Debug)]
pub struct BgpStreamDecoder {
    link: LinkId,
    conns: BTreeMap<(SocketAddr, SocketAddr), Connection>,
    next_conn: u32,
    stats: StreamStats,
}

impl BgpStreamDecoder {
    pub fn new(link: LinkId) -> Self {
        BgpStreamDecoder {
            link,
            conns: BTreeMap::new(),
            next_conn: 0,
            stats: StreamStats::default(),
        }
    }

    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// Feeds one captured Ethernet frame, appending any completed messages to `out`.
    pub fn push_frame(&mut self, ts: Duration, frame: &[u8], out: &mut Vec<WireEvent>) {
        self.stats.frames += 1;
        let seg = match parse_tcp_frame(frame) {
            Ok(seg) => seg,
            Err(PacketError::NotIp(_) | PacketError::NotTcp(_)) => {
                self.stats.other += 1;
                return;
            }
            Err(PacketError::Fragment) => {
                self.stats.fragments += 1;
                return;
            }
            Err(PacketError::Truncated(_) | PacketError::Malformed(_)) => {
                self.stats.malformed += 1;
                return;
            }
        };
        if seg.src.port() != BGP_PORT && seg.dst.port() != BGP_PORT {
            self.stats.other += 1;
            return;
        }
        self.stats.bgp_segments += 1;
        if seg.missing > 0 {
            self.stats.truncated += 1;
        }
        let key = conn_key(seg.src, seg.dst);
        // A SYN with a new initial sequence number starts a new connection on the same 4-tuple.
        let renewed = seg.flags.syn()
            && self
                .conns
                .get(&key)
                .and_then(|c| c.dirs.get(&seg.src))
                .and_then(|d| d.isn)
                .is_some_and(|isn| isn != seg.seq);
        if renewed {
            if let Some(old) = self.conns.remove(&key) {
                self.close(old, out);
            }
        }
        let link = self.link;
        let conn = match self.conns.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let id = self.next_conn;
                self.next_conn += 1;
                self.stats.connections += 1;
                e.insert(Connection {
                    id,
                    dirs: BTreeMap::new(),
                })
            }
        };
        let dir = conn.dirs.entry(seg.src).or_default();
        if seg.flags.syn() {
            dir.isn = Some(seg.seq);
            if !dir.reasm.started() {
                // The stream starts right after the SYN: byte 0 is a message boundary.
                dir.synced = true;
            }
        }
        let Direction {
            reasm, buf, marks, ..
        } = dir;
        reasm.push(
            seg.seq,
            seg.flags.syn(),
            ts,
            seg.payload,
            &mut |t, bytes| {
                buf.extend_from_slice(bytes);
                marks.push((buf.len(), t));
            },
        );
        if reasm.pending_bytes() > MAX_PENDING {
            skip_holes(conn, seg.src, link, out);
        }
        cut_messages(conn, seg.src, seg.dst, link, out);
    }

    /// Ends decoding: reports holes that never filled and messages cut by the end of the capture.
    pub fn finish(mut self, out: &mut Vec<WireEvent>) -> StreamStats {
        let conns = std::mem::take(&mut self.conns);
        let mut conns: Vec<Connection> = conns.into_values().collect();
        conns.sort_by_key(|c| c.id);
        for c in conns {
            self.close(c, out);
        }
        self.stats
    }

    fn close(&mut self, mut conn: Connection, out: &mut Vec<WireEvent>) {
        let senders: Vec<SocketAddr> = conn.dirs.keys().copied().collect();
        for src in senders {
            skip_holes(&mut conn, src, self.link, out);
            let dst = peer_of(&conn, src);
            if let Some(dir) = conn.dirs.get(&src) {
                if !dir.buf.is_empty() {
                    let ts = dir.marks.last().map_or(Duration::ZERO, |m| m.1);
                    out.push(WireEvent {
                        ts,
                        link: self.link,
                        conn: conn.id,
                        src,
                        dst,
                        msg_type: None,
                        len: 0,
                        body: WireBody::Incomplete {
                            bytes: dir.buf.len(),
                        },
                    });
                }
            }
        }
    }
}

/// Decodes a whole capture file of `link`.
pub fn decode_capture(
    path: &Path,
    link: LinkId,
) -> Result<(Vec<WireEvent>, StreamStats), CaptureError> {
    let mut decoder = BgpStreamDecoder::new(link);
    let mut events = Vec::new();
    for_each_frame(path, |f| decoder.push_frame(f.ts, f.data, &mut events))?;
    let stats = decoder.finish(&mut events);
    Ok((events, stats))
}

fn conn_key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

fn peer_of(conn: &Connection, src: SocketAddr) -> SocketAddr {
    conn.dirs.keys().copied().find(|a| *a != src).unwrap_or(src)
}

/// Skips every hole of `src`'s direction, reporting each and resynchronising after it.
fn skip_holes(conn: &mut Connection, src: SocketAddr, link: LinkId, out: &mut Vec<WireEvent>) {
    let dst = peer_of(conn, src);
    loop {
        let Some(dir) = conn.dirs.get_mut(&src) else {
            return;
        };
        let Some((offset, bytes)) = dir.reasm.hole() else {
            return;
        };
        // The partial message before the hole can never complete.
        let ts = dir.marks.last().map_or(Duration::ZERO, |m| m.1);
        dir.buf.clear();
        dir.marks.clear();
        dir.synced = false;
        let Direction {
            reasm, buf, marks, ..
        } = dir;
        reasm.skip_hole(&mut |t, b| {
            buf.extend_from_slice(b);
            marks.push((buf.len(), t));
        });
        out.push(WireEvent {
            ts,
            link,
            conn: conn.id,
            src,
            dst,
            msg_type: None,
            len: 0,
            body: WireBody::Gap { offset, bytes },
        });
        cut_messages(conn, src, dst, link, out);
    }
}

/// The context for decoding what a sender sends: negotiated from both OPENs when both were seen
/// (from the receiver's view: its OPEN is "local"); with only the sender's OPEN, 4-octet AS if it
/// offered it; with none, 4-octet AS (every speaker in a lab supports it).
fn context_for(sent: Option<&Open>, received: Option<&Open>) -> CodecContext {
    match (sent, received) {
        (Some(s), Some(r)) => CodecContext::from_opens(r, s),
        (Some(s), None) => CodecContext {
            four_octet_as: s.four_octet_asn().is_some(),
            ..CodecContext::default()
        },
        _ => CodecContext::four_octet(),
    }
}

/// Cuts every complete message out of `src`'s buffer and decodes it.
fn cut_messages(
    conn: &mut Connection,
    src: SocketAddr,
    dst: SocketAddr,
    link: LinkId,
    out: &mut Vec<WireEvent>,
) {
    let peer_open = conn.dirs.get(&dst).and_then(|d| d.open.clone());
    let conn_id = conn.id;
    let Some(dir) = conn.dirs.get_mut(&src) else {
        return;
    };
    let event = |ts, msg_type, len, body| WireEvent {
        ts,
        link,
        conn: conn_id,
        src,
        dst,
        msg_type,
        len,
        body,
    };
    let mut ctx = context_for(dir.open.as_ref(), peer_open.as_ref());
    let mut consumed = 0usize;
    loop {
        let rest = dir.buf.get(consumed..).unwrap_or_default();
        if rest.is_empty() {
            break;
        }
        if !dir.synced {
            let (skip, found) = match find_marker(rest) {
                Some(at) => (at, true),
                // Keep what may be the start of a marker at the end; drop the rest.
                None => (rest.len() - trailing_ff(rest).min(MARKER_LEN - 1), false),
            };
            if skip > 0 {
                let ts = ts_at(&dir.marks, consumed + skip);
                out.push(event(ts, None, 0, WireBody::Desync { skipped: skip }));
            }
            consumed += skip;
            if !found {
                break;
            }
            dir.synced = true;
            continue;
        }
        match frame_len_max(rest, ctx.max_message_len()) {
            Ok(None) => break,
            Ok(Some(n)) => {
                let frame = rest.get(..n).unwrap_or_default();
                let ts = ts_at(&dir.marks, consumed + n);
                let msg_type = frame
                    .get(HEADER_LEN - 1)
                    .map(|&t| MessageType::from_code(t));
                let body = match Message::decode_with_errors(frame, &ctx) {
                    Ok((message, non_fatal)) => {
                        if let Message::Open(o) = &message {
                            // The OPEN fixes the context of everything after it (RFC 5492).
                            dir.open = Some(o.clone());
                            ctx = context_for(dir.open.as_ref(), peer_open.as_ref());
                        }
                        WireBody::Message {
                            message: Box::new(message),
                            non_fatal: non_fatal.iter().map(WireError::from).collect(),
                        }
                    }
                    Err(e) => WireBody::DecodeError(WireError::from(&e)),
                };
                out.push(event(ts, msg_type, n, body));
                consumed += n;
            }
            Err(e) => {
                // A bad marker or length (RFC 4271 §6.1): report what the receiver would send,
                // then look for the next marker past this one.
                let ts = ts_at(&dir.marks, consumed + rest.len().min(HEADER_LEN));
                let msg_type = rest.get(HEADER_LEN - 1).map(|&t| MessageType::from_code(t));
                out.push(event(
                    ts,
                    msg_type,
                    0,
                    WireBody::DecodeError(WireError::from(&e)),
                ));
                consumed += 1;
                dir.synced = false;
            }
        }
    }
    compact(dir, consumed);
}

const MARKER_LEN: usize = 16;

/// Where the next plausible header starts: 16 × 0xff not followed by another 0xff (so a run of
/// more than 16 picks its last 16), with a length of at least 19.
fn find_marker(buf: &[u8]) -> Option<usize> {
    let mut run = 0usize;
    for (i, &b) in buf.iter().enumerate() {
        if b == 0xff {
            run += 1;
            continue;
        }
        if run >= MARKER_LEN {
            let start = i - MARKER_LEN;
            let len = buf.get(i..i + 2).map(|l| {
                usize::from(u16::from_be_bytes([
                    l.first().copied().unwrap_or(0),
                    l.get(1).copied().unwrap_or(0),
                ]))
            });
            match len {
                Some(l) if l >= HEADER_LEN => return Some(start),
                // Length not captured yet: this may be it.
                None => return Some(start),
                Some(_) => {}
            }
        }
        run = 0;
    }
    // A marker ending the buffer: its length is not here yet.
    (run >= MARKER_LEN).then(|| buf.len() - MARKER_LEN)
}

fn trailing_ff(buf: &[u8]) -> usize {
    buf.iter().rev().take_while(|&&b| b == 0xff).count()
}

/// Capture time of the byte ending at `end` (offset in the buffer): the chunk that brought it.
fn ts_at(marks: &[(usize, Duration)], end: usize) -> Duration {
    marks
        .iter()
        .find(|(e, _)| *e >= end)
        .or(marks.last())
        .map_or(Duration::ZERO, |m| m.1)
}

/// Drops the first `consumed` bytes of the buffer, keeping the chunk times aligned.
fn compact(dir: &mut Direction, consumed: usize) {
    if consumed == 0 {
        return;
    }
    let consumed = consumed.min(dir.buf.len());
    dir.buf.drain(..consumed);
    dir.marks.retain(|(e, _)| *e > consumed);
    for m in &mut dir.marks {
        m.0 -= consumed;
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use fabric_bgp_wire::{AfiSafi, Asn, Message, MessageType};

    use super::super::packet::build::tcp_frame;
    use super::super::packet::TcpFlags;
    use super::super::testutil::*;
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "10.99.0.0:40001".parse().expect("addr"),
            "10.99.0.1:179".parse().expect("addr"),
        )
    }

    fn decode(frames: &[(Duration, Vec<u8>)]) -> (Vec<WireEvent>, StreamStats) {
        let mut d = BgpStreamDecoder::new(LinkId(3));
        let mut out = Vec::new();
        for (ts, f) in frames {
            d.push_frame(*ts, f, &mut out);
        }
        let stats = d.finish(&mut out);
        (out, stats)
    }

    fn types(events: &[WireEvent]) -> Vec<(SocketAddr, MessageType)> {
        events
            .iter()
            .filter_map(|e| e.message().map(|m| (e.src, m.msg_type())))
            .collect()
    }

    fn messages(events: &[WireEvent]) -> Vec<&Message> {
        events.iter().filter_map(WireEvent::message).collect()
    }

    /// A normal session start: OPENs, KEEPALIVEs, an UPDATE with a 4-octet AS path, End-of-RIB.
    fn session(c: &mut Conversation) -> (Vec<(Duration, Vec<u8>)>, Vec<Message>) {
        let sent = vec![
            open(4_200_000_001, [10, 0, 0, 1], false),
            open(65002, [10, 0, 0, 2], false),
            Message::Keepalive,
            Message::Keepalive,
            announce(&["10.1.0.0/26", "10.1.0.64/26"], &[4_200_000_001, 65010]),
            eor(AfiSafi::IPV4_UNICAST),
        ];
        let from_a = [true, false, true, false, true, true];
        let mut frames = c.handshake();
        for (m, a) in sent.iter().zip(from_a) {
            frames.push(c.segment(a, &encode(m)));
        }
        (frames, sent)
    }

    #[test]
    fn decodes_a_session_in_order_with_directions() {
        let (a, b) = addrs();
        let mut c = Conversation::new(a, b, 1000, 5000);
        let (frames, sent) = session(&mut c);
        let (events, stats) = decode(&frames);
        assert!(events.iter().all(|e| !e.is_problem()), "{events:#?}");
        assert_eq!(messages(&events), sent.iter().collect::<Vec<_>>());
        assert_eq!(
            types(&events),
            vec![
                (a, MessageType::Open),
                (b, MessageType::Open),
                (a, MessageType::Keepalive),
                (b, MessageType::Keepalive),
                (a, MessageType::Update),
                (a, MessageType::Update),
            ]
        );
        let first = events.first().expect("events");
        assert_eq!((first.link, first.conn, first.dst), (LinkId(3), 0, b));
        assert_eq!(stats.connections, 1);
        assert_eq!(stats.bgp_segments, frames.len() as u64);
        // The 4-octet AS path survived: the context came from both OPENs.
        let Some(Message::Update(u)) = messages(&events).get(4).copied() else {
            panic!("no update");
        };
        let path = u.attributes.as_path.as_ref().expect("as path");
        assert!(path.contains(Asn(4_200_000_001)));
    }

    #[test]
    fn several_messages_in_one_segment_and_one_message_over_several() {
        let (a, b) = addrs();
        let mut c = Conversation::new(a, b, 1, 2);
        let mut frames = c.handshake();
        let o = encode(&open(65001, [1, 1, 1, 1], false));
        let u = encode(&announce(&["10.2.0.0/24"], &[65001]));
        // OPEN + KEEPALIVE + first 10 bytes of the UPDATE in one segment ...
        let mut first = o.clone();
        first.extend(encode(&Message::Keepalive));
        first.extend_from_slice(u.get(..10).expect("prefix"));
        frames.push(c.segment(true, &first));
        // ... then the UPDATE's rest one byte, then the remainder.
        frames.push(c.segment(true, u.get(10..11).expect("byte")));
        let (t_last, last) = c.segment(true, u.get(11..).expect("rest"));
        frames.push((t_last, last));
        let (events, _) = decode(&frames);
        let got: Vec<MessageType> = types(&events).into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            got,
            vec![
                MessageType::Open,
                MessageType::Keepalive,
                MessageType::Update
            ]
        );
        // The UPDATE is stamped with the segment that completed it.
        assert_eq!(events.last().map(|e| e.ts), Some(t_last));
        assert_eq!(events.last().map(|e| e.len), Some(u.len()));
    }

    #[test]
    fn out_of_order_and_retransmitted_segments() {
        let (a, b) = addrs();
        let mut c = Conversation::new(a, b, u32::MAX - 5, 9);
        let (mut frames, sent) = session(&mut c);
        // a's End-of-RIB is captured before a's UPDATE (out of order) ...
        let n = frames.len();
        frames.swap(n - 1, n - 2);
        // ... and a's OPEN is retransmitted right away and again at the end.
        let open_a = frames.get(2).cloned().expect("open frame");
        frames.insert(3, open_a.clone());
        frames.push(open_a);
        let (events, _) = decode(&frames);
        assert!(events.iter().all(|e| !e.is_problem()), "{events:#?}");
        assert_eq!(messages(&events), sent.iter().collect::<Vec<_>>());
    }

    #[test]
    fn a_lost_segment_is_a_gap_and_decoding_resumes_after_it() {
        let (a, b) = addrs();
        let mut c = Conversation::new(a, b, 100, 200);
        let mut frames = c.handshake();
        frames.push(c.segment(true, &encode(&open(65001, [1, 1, 1, 1], false))));
        frames.push(c.segment(false, &encode(&open(65002, [2, 2, 2, 2], false))));
        let lost = encode(&announce(&["10.3.0.0/24"], &[65001]));
        let _ = c.segment(true, &lost); // never captured
        frames.push(c.segment(true, &encode(&withdraw(&["10.4.0.0/24"]))));
        let (events, _) = decode(&frames);
        let gap = events
            .iter()
            .find(|e| matches!(e.body, WireBody::Gap { .. }))
            .expect("gap event");
        assert_eq!(
            gap.body,
            WireBody::Gap {
                offset: encode(&open(65001, [1, 1, 1, 1], false)).len() as u64,
                bytes: lost.len() as u64
            }
        );
        assert_eq!(gap.src, a);
        assert_eq!(
            messages(&events).last().copied(),
            Some(&withdraw(&["10.4.0.0/24"]))
        );
    }

    #[test]
    fn a_capture_started_mid_stream_resyncs_on_the_marker() {
        let (a, b) = addrs();
        let mut c = Conversation::new(a, b, 7, 8);
        let ka = encode(&Message::Keepalive);
        let u = encode(&announce(&["10.5.0.0/24"], &[65001]));
        // The capture starts 5 bytes into a KEEPALIVE, without the SYN.
        let mut bytes = ka.get(5..).expect("tail").to_vec();
        bytes.extend_from_slice(&u);
        let frames = vec![c.segment(true, &bytes)];
        let (events, _) = decode(&frames);
        assert_eq!(
            events.first().map(|e| &e.body),
            Some(&WireBody::Desync {
                skipped: ka.len() - 5
            })
        );
        assert_eq!(
            messages(&events),
            vec![&announce(&["10.5.0.0/24"], &[65001])]
        );
    }

    #[test]
    fn a_bad_length_is_a_decode_error_with_the_notification_code() {
        let (a, b) = addrs();
        let mut c = Conversation::new(a, b, 1, 1);
        let mut frames = c.handshake();
        let mut bad = encode(&Message::Keepalive);
        // Length 18 is below the minimum of 19: 1/2 Bad Message Length (RFC 4271 §6.1).
        if let Some(l) = bad.get_mut(17) {
            *l = 18;
        }
        frames.push(c.segment(true, &bad));
        frames.push(c.segment(true, &encode(&Message::Keepalive)));
        let (events, _) = decode(&frames);
        let err = events
            .iter()
            .find_map(|e| match &e.body {
                WireBody::DecodeError(err) => Some(err.clone()),
                _ => None,
            })
            .expect("decode error");
        assert_eq!((err.code, err.subcode), (1, 2));
        // The next good KEEPALIVE is still found.
        assert_eq!(types(&events), vec![(a, MessageType::Keepalive)]);
    }

    #[test]
    fn a_new_syn_on_the_same_ports_is_a_new_connection() {
        let (a, b) = addrs();
        let mut c = Conversation::new(a, b, 10, 20);
        let mut frames = c.handshake();
        frames.push(c.segment(true, &encode(&cease("bye"))));
        let mut c2 = Conversation::new(a, b, 9000, 9999);
        c2.ms = c.ms;
        frames.extend(c2.handshake());
        frames.push(c2.segment(true, &encode(&open(65001, [1, 1, 1, 1], false))));
        let (events, stats) = decode(&frames);
        let conns: Vec<(u32, MessageType)> = events
            .iter()
            .filter_map(|e| e.message().map(|m| (e.conn, m.msg_type())))
            .collect();
        assert_eq!(
            conns,
            vec![(0, MessageType::Notification), (1, MessageType::Open)]
        );
        assert_eq!(stats.connections, 2);
        assert!(events.first().is_some_and(|e| e.summary().contains("bye")));
    }

    #[test]
    fn other_traffic_is_counted_not_decoded() {
        let a: SocketAddr = "10.99.0.0:5000".parse().expect("addr");
        let b: SocketAddr = "10.99.0.1:22".parse().expect("addr");
        let f = tcp_frame(a, b, 1, TcpFlags::ACK, &encode(&Message::Keepalive));
        let (events, stats) = decode(&[(Duration::ZERO, f)]);
        assert!(events.is_empty());
        assert_eq!((stats.other, stats.bgp_segments), (1, 0));
    }

    #[test]
    fn an_unfinished_message_at_the_end_is_reported() {
        let (a, b) = addrs();
        let mut c = Conversation::new(a, b, 1, 1);
        let mut frames = c.handshake();
        let o = encode(&open(65001, [1, 1, 1, 1], false));
        frames.push(c.segment(true, o.get(..20).expect("part")));
        let (events, _) = decode(&frames);
        assert_eq!(
            events.last().map(|e| &e.body),
            Some(&WireBody::Incomplete { bytes: 20 })
        );
    }

    #[test]
    fn never_panics_on_garbage_streams() {
        let (a, b) = addrs();
        // A deterministic pseudo-random byte stream with markers sprinkled in.
        let mut x: u32 = 0x1234_5678;
        let mut bytes = Vec::new();
        for i in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 997 == 0 {
                bytes.extend_from_slice(&[0xff; 16]);
            }
            bytes.push(x.to_le_bytes().first().copied().unwrap_or(0));
        }
        let mut c = Conversation::new(a, b, 1, 1);
        let mut frames = c.handshake();
        for chunk in bytes.chunks(333) {
            frames.push(c.segment(true, chunk));
        }
        let (events, _) = decode(&frames);
        assert!(events.iter().any(WireEvent::is_problem));
    }
}
