//! Wire-level facts per BGP session, independent of the speaker under test: what each side
//! advertised in its OPENs, when it sent End-of-RIB per family, how many UPDATEs it sent, which
//! NOTIFICATIONs, and every message the wire crate could not accept.
//!
//! A session is the pair of addresses talking on port 179 over a link, across reconnects (each
//! TCP connection has its own number, so a graceful restart shows up as OPENs on two connections).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use fabric_bgp_wire::{AfiSafi, Asn, Capability, Message, Open, RouterId};
use serde::{Deserialize, Serialize};

use super::bgp_stream::{WireBody, WireEvent};
use crate::topology::plan::LinkId;

/// One session's wire report: both speakers, lower address first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionWireReport {
    pub link: LinkId,
    pub a: SpeakerWire,
    pub b: SpeakerWire,
    /// TCP connections seen (1 for a session that never reset).
    pub connections: u32,
    /// Capture problems on this session (gaps, resyncs, cut-off messages), as event summaries.
    pub stream_problems: Vec<String>,
    pub first_ts: Duration,
    pub last_ts: Duration,
}

/// What one speaker sent on a session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeakerWire {
    pub addr: Option<IpAddr>,
    /// Every OPEN sent, in order (one per connection normally).
    pub opens: Vec<OpenSeen>,
    pub keepalives: u64,
    /// UPDATEs other than End-of-RIB markers.
    pub updates: u64,
    /// Prefixes announced (NLRI field plus MP_REACH_NLRI).
    pub announced: u64,
    /// Prefixes withdrawn (Withdrawn Routes field plus MP_UNREACH_NLRI).
    pub withdrawn: u64,
    /// End-of-RIB markers (RFC 4724 §2), in order.
    pub end_of_rib: Vec<EorSeen>,
    pub notifications: Vec<NotificationSeen>,
    pub route_refreshes: u64,
    /// Messages from this speaker that a receiver must reject, or whose UPDATE errors
    /// RFC 7606 handles inside the session.
    pub errors: Vec<ErrorSeen>,
}

/// An OPEN, reduced to what the checks look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSeen {
    pub conn: u32,
    pub ts: Duration,
    /// The AS (from the 4-octet AS capability when present, RFC 6793).
    pub asn: Asn,
    /// The 2-octet My Autonomous System field (AS_TRANS when the AS needs 4 octets).
    pub my_as: u16,
    pub hold_time: u16,
    pub router_id: RouterId,
    /// The 4-octet AS capability (code 65), if advertised.
    pub four_octet_as: Option<Asn>,
    /// Multiprotocol capabilities (RFC 4760); empty means only IPv4 unicast is implied.
    pub families: Vec<AfiSafi>,
    pub graceful_restart: Option<GrSeen>,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    pub extended_message: bool,
    /// ADD-PATH families with their mode (`receive`, `send`, `both`).
    pub add_path: Vec<(AfiSafi, String)>,
    pub long_lived_gr: bool,
    /// Every capability code, in order (duplicates kept).
    pub capability_codes: Vec<u8>,
}

/// The Graceful Restart capability (RFC 4724 §3, RFC 8538 N bit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrSeen {
    /// R bit: the sender has restarted.
    pub restart_state: bool,
    /// N bit: GR also applies to NOTIFICATIONs (RFC 8538).
    pub notification: bool,
    pub restart_time: u16,
    /// Families with their F bit (forwarding state preserved).
    pub families: Vec<(AfiSafi, bool)>,
}

/// An End-of-RIB marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EorSeen {
    pub conn: u32,
    pub ts: Duration,
    pub afi_safi: AfiSafi,
    /// UPDATEs this speaker sent on this connection before the marker (the initial table).
    pub updates_before: u64,
}

/// A NOTIFICATION.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSeen {
    pub conn: u32,
    pub ts: Duration,
    pub code: u8,
    pub subcode: u8,
    pub name: String,
    /// Shutdown communication (RFC 9003), if any.
    pub text: Option<String>,
}

/// A message the wire crate rejected or repaired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSeen {
    pub conn: u32,
    pub ts: Duration,
    /// Whether a receiver must reset the session (otherwise RFC 7606 handles it inside).
    pub fatal: bool,
    pub what: String,
}

impl SessionWireReport {
    /// The side with address `addr`.
    pub fn speaker(&self, addr: IpAddr) -> Option<&SpeakerWire> {
        [&self.a, &self.b]
            .into_iter()
            .find(|s| s.addr == Some(addr))
    }
}

impl SpeakerWire {
    /// The OPEN sent on the latest connection.
    pub fn last_open(&self) -> Option<&OpenSeen> {
        self.opens.last()
    }

    /// Whether End-of-RIB for `af` was sent on connection `conn`.
    pub fn sent_eor(&self, conn: u32, af: AfiSafi) -> bool {
        self.end_of_rib
            .iter()
            .any(|e| e.conn == conn && e.afi_safi == af)
    }
}

impl OpenSeen {
    fn from_open(conn: u32, ts: Duration, o: &Open) -> Self {
        let mut add_path = Vec::new();
        let mut families = Vec::new();
        let mut codes = Vec::new();
        for c in &o.capabilities {
            codes.push(c.code().code());
            match c {
                Capability::Multiprotocol(af) => families.push(*af),
                Capability::AddPath(list) => {
                    for f in list {
                        add_path.push((f.afi_safi, add_path_mode(f.mode)));
                    }
                }
                _ => {}
            }
        }
        let has = |f: fn(&Capability) -> bool| o.capabilities.iter().any(f);
        OpenSeen {
            conn,
            ts,
            asn: o.effective_asn(),
            my_as: o.my_as,
            hold_time: o.hold_time,
            router_id: o.router_id,
            four_octet_as: o.four_octet_asn(),
            families,
            graceful_restart: o.graceful_restart().map(|gr| GrSeen {
                restart_state: gr.restart_state,
                notification: gr.notification,
                restart_time: gr.restart_time,
                families: gr
                    .families
                    .iter()
                    .map(|f| (f.afi_safi, f.forwarding_state))
                    .collect(),
            }),
            route_refresh: has(|c| matches!(c, Capability::RouteRefresh)),
            enhanced_route_refresh: has(|c| matches!(c, Capability::EnhancedRouteRefresh)),
            extended_message: has(|c| matches!(c, Capability::ExtendedMessage)),
            add_path,
            long_lived_gr: o.long_lived_graceful_restart().is_some(),
            capability_codes: codes,
        }
    }
}

fn add_path_mode(m: fabric_bgp_wire::AddPathMode) -> String {
    match (m.receives(), m.sends()) {
        (true, true) => "both".into(),
        (true, false) => "receive".into(),
        (false, true) => "send".into(),
        (false, false) => format!("unknown({})", m.code()),
    }
}

/// Builds one report per session from the events of one or more links, ordered by link and
/// addresses.
pub fn session_reports(events: &[WireEvent]) -> Vec<SessionWireReport> {
    // Per session: the report, and per (speaker, connection) the UPDATEs sent so far.
    let mut sessions: BTreeMap<(LinkId, IpAddr, IpAddr), SessionWireReport> = BTreeMap::new();
    let mut updates_on_conn: BTreeMap<(LinkId, IpAddr, u32), u64> = BTreeMap::new();
    let mut conns: BTreeMap<(LinkId, IpAddr, IpAddr), std::collections::BTreeSet<u32>> =
        BTreeMap::new();
    for ev in events {
        let (src, dst) = (ev.src.ip(), ev.dst.ip());
        let key = if src <= dst {
            (ev.link, src, dst)
        } else {
            (ev.link, dst, src)
        };
        let report = sessions.entry(key).or_insert_with(|| SessionWireReport {
            link: ev.link,
            a: SpeakerWire {
                addr: Some(key.1),
                ..SpeakerWire::default()
            },
            b: SpeakerWire {
                addr: Some(key.2),
                ..SpeakerWire::default()
            },
            connections: 0,
            stream_problems: Vec::new(),
            first_ts: ev.ts,
            last_ts: ev.ts,
        });
        conns.entry(key).or_default().insert(ev.conn);
        report.first_ts = report.first_ts.min(ev.ts);
        report.last_ts = report.last_ts.max(ev.ts);
        let sender = if Some(src) == report.a.addr {
            &mut report.a
        } else {
            &mut report.b
        };
        match &ev.body {
            WireBody::Message { message, non_fatal } => {
                for e in non_fatal {
                    sender.errors.push(ErrorSeen {
                        conn: ev.conn,
                        ts: ev.ts,
                        fatal: false,
                        what: e.to_string(),
                    });
                }
                let sent_updates = updates_on_conn.entry((ev.link, src, ev.conn)).or_default();
                record_message(sender, ev, message, sent_updates);
            }
            WireBody::DecodeError(e) => sender.errors.push(ErrorSeen {
                conn: ev.conn,
                ts: ev.ts,
                fatal: true,
                what: e.to_string(),
            }),
            WireBody::Gap { .. } | WireBody::Desync { .. } | WireBody::Incomplete { .. } => {
                report
                    .stream_problems
                    .push(format!("{} -> {}: {}", ev.src, ev.dst, ev.summary()));
            }
        }
    }
    for (key, set) in conns {
        if let Some(r) = sessions.get_mut(&key) {
            r.connections = u32::try_from(set.len()).unwrap_or(u32::MAX);
        }
    }
    sessions.into_values().collect()
}

fn record_message(sender: &mut SpeakerWire, ev: &WireEvent, m: &Message, sent_updates: &mut u64) {
    match m {
        Message::Open(o) => sender.opens.push(OpenSeen::from_open(ev.conn, ev.ts, o)),
        Message::Keepalive => sender.keepalives += 1,
        Message::Update(u) => {
            if let Some(af) = u.is_end_of_rib() {
                sender.end_of_rib.push(EorSeen {
                    conn: ev.conn,
                    ts: ev.ts,
                    afi_safi: af,
                    updates_before: *sent_updates,
                });
                return;
            }
            *sent_updates += 1;
            sender.updates += 1;
            let a = &u.attributes;
            sender.announced +=
                (u.nlri.len() + a.mp_reach.as_ref().map_or(0, |r| r.nlri.len())) as u64;
            sender.withdrawn +=
                (u.withdrawn.len() + a.mp_unreach.as_ref().map_or(0, |r| r.withdrawn.len())) as u64;
        }
        Message::Notification(n) => sender.notifications.push(NotificationSeen {
            conn: ev.conn,
            ts: ev.ts,
            code: n.code.code(),
            subcode: n.code.subcode(),
            name: n.code.to_string(),
            text: n.shutdown_communication().map(str::to_string),
        }),
        Message::RouteRefresh(_) => sender.route_refreshes += 1,
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use fabric_bgp_wire::{AfiSafi, Message};

    use super::super::bgp_stream::BgpStreamDecoder;
    use super::super::testutil::*;
    use super::*;

    fn events(frames: &[(Duration, Vec<u8>)]) -> Vec<WireEvent> {
        let mut d = BgpStreamDecoder::new(LinkId(1));
        let mut out = Vec::new();
        for (ts, f) in frames {
            d.push_frame(*ts, f, &mut out);
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn reports_capabilities_eor_churn_and_notifications_per_side() {
        let a: SocketAddr = "10.99.0.0:40001".parse().expect("addr");
        let b: SocketAddr = "10.99.0.1:179".parse().expect("addr");
        let mut c = Conversation::new(a, b, 1, 1000);
        let mut frames = c.handshake();
        let from_a = [
            (true, open(4_200_000_001, [10, 0, 0, 1], false)),
            (false, open(65002, [10, 0, 0, 2], false)),
            (true, Message::Keepalive),
            (false, Message::Keepalive),
            (true, announce(&["10.1.0.0/26"], &[4_200_000_001])),
            (
                true,
                announce(&["10.1.0.64/26", "10.1.0.128/26"], &[4_200_000_001]),
            ),
            (true, eor(AfiSafi::IPV4_UNICAST)),
            (false, eor(AfiSafi::IPV4_UNICAST)),
            (true, withdraw(&["10.1.0.0/26"])),
            (false, cease("maintenance")),
        ];
        for (sender_a, m) in &from_a {
            frames.push(c.segment(*sender_a, &encode(m)));
        }
        // b restarts: a new connection whose OPEN has the R bit set.
        let mut c2 = Conversation::new(a, b, 50_000, 60_000);
        c2.ms = c.ms;
        frames.extend(c2.handshake());
        frames.push(c2.segment(false, &encode(&open(65002, [10, 0, 0, 2], true))));

        let reports = session_reports(&events(&frames));
        assert_eq!(reports.len(), 1);
        let r = reports.first().expect("report");
        assert_eq!(r.connections, 2);
        assert!(r.stream_problems.is_empty(), "{:?}", r.stream_problems);

        let sa = r.speaker(a.ip()).expect("a");
        let oa = sa.last_open().expect("a's open");
        assert_eq!(oa.asn, Asn(4_200_000_001));
        assert_eq!(oa.my_as, 23456, "AS_TRANS in My AS (RFC 6793 §4.1)");
        assert_eq!(oa.four_octet_as, Some(Asn(4_200_000_001)));
        assert_eq!(
            oa.families,
            vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]
        );
        let gr = oa.graceful_restart.as_ref().expect("gr");
        assert!(!gr.restart_state && gr.notification);
        assert_eq!(gr.restart_time, 120);
        assert_eq!(
            gr.families,
            vec![
                (AfiSafi::IPV4_UNICAST, true),
                (AfiSafi::IPV6_UNICAST, false)
            ]
        );
        assert_eq!((sa.updates, sa.announced, sa.withdrawn), (3, 3, 1));
        assert_eq!(sa.keepalives, 1);
        let eor_a = sa.end_of_rib.first().expect("a's EoR");
        assert_eq!(
            (eor_a.conn, eor_a.afi_safi, eor_a.updates_before),
            (0, AfiSafi::IPV4_UNICAST, 2)
        );
        assert!(sa.sent_eor(0, AfiSafi::IPV4_UNICAST));
        assert!(!sa.sent_eor(0, AfiSafi::IPV6_UNICAST));

        let sb = r.speaker(b.ip()).expect("b");
        assert_eq!(sb.opens.len(), 2);
        assert_eq!(sb.opens.first().map(|o| o.conn), Some(0));
        let restarted = sb.last_open().expect("b's second open");
        assert_eq!(restarted.conn, 1);
        assert!(restarted
            .graceful_restart
            .as_ref()
            .is_some_and(|g| g.restart_state));
        assert_eq!(sb.end_of_rib.first().map(|e| e.updates_before), Some(0));
        let n = sb.notifications.first().expect("notification");
        assert_eq!((n.code, n.subcode), (6, 2));
        assert_eq!(n.text.as_deref(), Some("maintenance"));
        assert!(sa.errors.is_empty() && sb.errors.is_empty());
    }

    #[test]
    fn decode_errors_are_attributed_to_the_sender() {
        let a: SocketAddr = "[fd00::1]:179".parse().expect("addr");
        let b: SocketAddr = "[fd00::2]:33000".parse().expect("addr");
        let mut c = Conversation::new(a, b, 1, 1);
        let mut frames = c.handshake();
        let mut bad = encode(&Message::Keepalive);
        bad.push(0); // KEEPALIVE of length 20: 1/2 (RFC 4271 §6.1)
        if let Some(l) = bad.get_mut(17) {
            *l = 20;
        }
        frames.push(c.segment(false, &bad));
        let reports = session_reports(&events(&frames));
        let r = reports.first().expect("report");
        let sb = r.speaker(b.ip()).expect("b");
        assert_eq!(sb.errors.len(), 1);
        assert!(sb
            .errors
            .first()
            .is_some_and(|e| e.fatal && e.what.starts_with("1/2")));
        assert!(r.speaker(a.ip()).is_some_and(|s| s.errors.is_empty()));
    }
}
