//! The injector: one eBGP session that sends a pre-encoded table as fast as the receiver takes
//! it, then End-of-RIB, then keeps the session alive.
//!
//! It listens (the daemon under test dials, as every lower tier of the fabric does), answers the
//! OPEN, and once both KEEPALIVEs are exchanged writes every UPDATE back to back. The UPDATEs are
//! encoded before the session exists, so the injector costs nothing while the clock runs: what
//! is measured is the receiver.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use fabric_bgp_wire::{
    frame_len, negotiate, AfiSafi, AsPath, Asn, Capability, CodecContext, Message, Nlri, Open,
    Origin, PathAttributes, RouterId, Update,
};
use ipnet::Ipv4Net;

/// Prefixes per UPDATE: 1000 /24s fill a 4096-byte message with room for the attributes.
const PER_UPDATE: usize = 1000;
/// Distinct AS_PATHs (attribute sets), cycled over the UPDATEs, like a real table's variety.
const PATHS: u32 = 100;

/// What the injector announces.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Number of /24 prefixes, counted up from `base`.
    pub prefixes: u32,
    /// First prefix.
    pub base: Ipv4Addr,
}

impl Table {
    /// The `i`-th prefix.
    pub fn prefix(&self, i: u32) -> Option<Ipv4Net> {
        let a = u32::from(self.base).checked_add(i.checked_mul(256)?)?;
        Ipv4Net::new(Ipv4Addr::from(a), 24).ok()
    }

    /// The index of `dst/len` in the table, if it is one of its prefixes.
    pub fn index(&self, dst: Ipv4Addr, len: u8) -> Option<u32> {
        if len != 24 {
            return None;
        }
        let off = u32::from(dst).checked_sub(u32::from(self.base))?;
        let i = off / 256;
        (off % 256 == 0 && i < self.prefixes).then_some(i)
    }
}

/// The injector's side of the session.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    /// Our AS.
    pub asn: Asn,
    /// Our BGP Identifier.
    pub router_id: RouterId,
    /// Our address (the NEXT_HOP of every route).
    pub address: Ipv4Addr,
    /// Hold time we offer.
    pub hold: u16,
}

fn capabilities(me: &Identity) -> Vec<Capability> {
    vec![
        Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
        Capability::RouteRefresh,
        Capability::FourOctetAs(me.asn),
    ]
}

/// Encodes the whole table for the negotiated `codec`, End-of-RIB last.
pub fn encode_table(table: &Table, me: &Identity, codec: &CodecContext) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(table.prefixes as usize / PER_UPDATE * 4096 + 4096);
    let mut i = 0u32;
    let mut n = 0u32;
    while i < table.prefixes {
        let end = table.prefixes.min(i.saturating_add(PER_UPDATE as u32));
        let nlri: Vec<Nlri<Ipv4Net>> = (i..end)
            .filter_map(|k| table.prefix(k))
            .map(Nlri::new)
            .collect();
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence([me.asn, Asn(64_512 + n % PATHS)])),
            next_hop: Some(me.address),
            ..PathAttributes::default()
        };
        let bytes = Message::Update(Update::announce_ipv4(attrs, nlri))
            .encode(codec)
            .map_err(|e| anyhow!("failed to encode an UPDATE: {e}"))?;
        out.extend_from_slice(&bytes);
        i = end;
        n += 1;
    }
    // RFC 4724 §2: an UPDATE with nothing in it is the IPv4 End-of-RIB.
    let eor = Message::Update(Update::default())
        .encode(codec)
        .map_err(|e| anyhow!("failed to encode End-of-RIB: {e}"))?;
    out.extend_from_slice(&eor);
    Ok(out)
}

/// Reads one whole BGP message (blocking).
fn read_message(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Vec<u8>> {
    loop {
        if let Some(len) = frame_len(buf).map_err(|e| anyhow!("bad framing: {e}"))? {
            if buf.len() >= len {
                let rest = buf.split_off(len);
                return Ok(std::mem::replace(buf, rest));
            }
        }
        let mut chunk = [0u8; 65536];
        let n = s.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed by the peer");
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// A session whose table has been sent; keep it to keep the session up.
pub struct Session {
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    keeper: Option<JoinHandle<()>>,
    /// When the first UPDATE was written (the benchmark's time zero).
    pub started: Instant,
    /// When the last byte (End-of-RIB) was taken by the kernel's socket.
    pub sent: Instant,
    /// Bytes sent.
    pub bytes: usize,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in [self.reader.take(), self.keeper.take()]
            .into_iter()
            .flatten()
        {
            let _ = t.join();
        }
    }
}

/// Accepts the daemon's connection on `listener`, exchanges OPENs and sends `table`.
/// `accept_timeout` bounds the wait for the daemon to dial.
pub fn serve(
    listener: TcpListener,
    me: Identity,
    table: Table,
    accept_timeout: Duration,
) -> Result<Session> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + accept_timeout;
    let mut s = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    bail!("the daemon did not connect within {accept_timeout:?}");
                }
                // Pacing a non-blocking accept while waiting for the daemon's first SYN.
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    };
    s.set_nonblocking(false)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut buf = Vec::new();
    let caps = capabilities(&me);
    let open = Message::Open(Open::new(me.asn, me.hold, me.router_id, caps.clone()));
    let plain = CodecContext::default();
    s.write_all(&open.encode(&plain).map_err(|e| anyhow!("{e}"))?)?;
    let theirs = match Message::decode(&read_message(&mut s, &mut buf)?, &plain)
        .map_err(|e| anyhow!("{e}"))?
    {
        Message::Open(o) => o,
        other => bail!("expected OPEN, got {other:?}"),
    };
    s.write_all(
        &Message::Keepalive
            .encode(&plain)
            .map_err(|e| anyhow!("{e}"))?,
    )?;
    let codec = negotiate(&caps, &theirs.capabilities, false);
    // Wait for the peer's KEEPALIVE: the session is Established on both sides.
    loop {
        match Message::decode(&read_message(&mut s, &mut buf)?, &codec)
            .map_err(|e| anyhow!("{e}"))?
        {
            Message::Keepalive => break,
            Message::Notification(n) => bail!("NOTIFICATION from the daemon: {n:?}"),
            _ => {}
        }
    }
    let table_bytes = encode_table(&table, &me, &codec)?;
    let stop = Arc::new(AtomicBool::new(false));
    // Drain whatever the daemon sends (KEEPALIVEs, maybe the table back) so it never blocks.
    let mut rd = s.try_clone()?;
    rd.set_read_timeout(Some(Duration::from_millis(200)))?;
    let stop_r = Arc::clone(&stop);
    let reader = std::thread::spawn(move || {
        let mut chunk = vec![0u8; 1 << 20];
        while !stop_r.load(Ordering::Relaxed) {
            match rd.read(&mut chunk) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    });
    let started = Instant::now();
    s.write_all(&table_bytes).context("sending the table")?;
    let sent = Instant::now();
    // KEEPALIVEs at a third of the hold time until dropped.
    let mut wr = s.try_clone()?;
    let stop_k = Arc::clone(&stop);
    let every = Duration::from_secs(u64::from(me.hold / 3).max(1));
    let keeper = std::thread::spawn(move || {
        let ka = Message::Keepalive
            .encode(&CodecContext::default())
            .unwrap_or_default();
        let mut last = Instant::now();
        while !stop_k.load(Ordering::Relaxed) {
            if last.elapsed() >= every {
                if wr.write_all(&ka).is_err() {
                    return;
                }
                last = Instant::now();
            }
            // Pacing the keepalive loop; it only checks the stop flag and a timer.
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    Ok(Session {
        stop,
        reader: Some(reader),
        keeper: Some(keeper),
        started,
        sent,
        bytes: table_bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_indexes_round_trip_and_encode_under_4096() {
        let t = Table {
            prefixes: 2500,
            base: Ipv4Addr::new(32, 0, 0, 0),
        };
        let p = t.prefix(1234).unwrap();
        assert_eq!(t.index(p.addr(), 24), Some(1234));
        assert_eq!(t.index(p.addr(), 25), None);
        assert_eq!(t.index(Ipv4Addr::new(32, 0, 0, 1), 24), None);
        assert_eq!(t.index(t.prefix(2500).unwrap().addr(), 24), None);
        let me = Identity {
            asn: Asn(65001),
            router_id: RouterId(Ipv4Addr::new(10, 255, 0, 2)),
            address: Ipv4Addr::new(10, 0, 0, 1),
            hold: 90,
        };
        let codec = CodecContext::four_octet();
        let bytes = encode_table(&t, &me, &codec).unwrap();
        let mut rest = bytes.as_slice();
        let (mut updates, mut prefixes, mut eor) = (0, 0, false);
        while let Some(len) = frame_len(rest).unwrap() {
            assert!(len <= 4096);
            let (msg, tail) = rest.split_at(len);
            match Message::decode(msg, &codec).unwrap() {
                Message::Update(u) if u.is_end_of_rib().is_some() => eor = true,
                Message::Update(u) => {
                    updates += 1;
                    prefixes += u.nlri.len();
                }
                other => panic!("{other:?}"),
            }
            rest = tail;
        }
        assert_eq!((updates, prefixes, eor), (3, 2500, true));
    }
}
