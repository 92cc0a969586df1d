//! Per-peer state held by the owner loop: the FSM(s), their connections, counters.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use fabric_bgp_wire::{Capability, CodecContext, EncodeError, Message, MessageType, Open, Update};

use super::engine::split_update;
use crate::config::Neighbor;
use crate::control::{
    hex, ConnectionInfo, MessageCounts, MessageStats, NegotiatedCapabilities, NeighborStatus,
    NotificationInfo, PrefixCounts,
};
use crate::fsm::{Direction, Notification, Session, State};
use crate::gr::helper::{Helper, LocalGr};
use crate::session::connection::ConnectionHandle;
use crate::session::dial::DialAttempt;

/// Which of a peer's (at most two) FSMs: the main one, or a second connection tracked for
/// collision detection (RFC 4271 §6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The peer's main FSM.
    Main,
    /// The collision candidate.
    Secondary,
}

impl Slot {
    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::Main => Slot::Secondary,
            Slot::Secondary => Slot::Main,
        }
    }
}

/// A TCP connection bound to an FSM.
#[derive(Debug)]
pub struct Conn {
    /// Reader/writer tasks.
    pub handle: ConnectionHandle,
    /// Who opened it.
    pub direction: Direction,
    /// Our end.
    pub local: SocketAddr,
    /// The peer's end.
    pub remote: SocketAddr,
    /// Codec: the default before the OPEN exchange, the negotiated one after.
    pub codec: CodecContext,
    /// Capabilities in the OPEN we sent.
    pub local_caps: Vec<Capability>,
    /// The OPEN the peer sent.
    pub remote_open: Option<Open>,
}

/// An FSM and its connection.
#[derive(Debug)]
pub struct Link {
    /// The FSM.
    pub fsm: Session,
    /// Its connection, if any.
    pub conn: Option<Conn>,
}

/// Everything the owner loop knows about one configured neighbor.
#[derive(Debug)]
pub struct Peer {
    /// Configuration.
    pub neighbor: Neighbor,
    /// Main FSM.
    pub main: Link,
    /// Second connection during a collision.
    pub secondary: Option<Link>,
    /// Outbound connection attempt in progress.
    pub dial: Option<DialAttempt>,
    /// Message counters (cumulative over connections).
    pub stats: MessageStats,
    /// Last NOTIFICATION received and when.
    pub last_rx_notification: Option<(Notification, Instant)>,
    /// Last NOTIFICATION sent and when.
    pub last_tx_notification: Option<(Notification, Instant)>,
    /// Why the session last went down.
    pub last_error: Option<String>,
    /// Capabilities negotiated on the last OPEN exchange.
    pub negotiated: Option<NegotiatedCapabilities>,
    /// Host name from the peer's FQDN capability.
    pub peer_hostname: Option<String>,
    /// Established transitions of FSMs already discarded (collision losers, promoted away).
    pub past_established: u32,
    /// The listen range that created this peer (a dynamic neighbor), if any.
    pub listen_range: Option<ipnet::IpNet>,
    /// Graceful restart helper (RFC 4724 §4.2): what we keep of its routes when it restarts.
    pub gr: Helper,
    /// The NOTIFICATION (code, subcode) being received while its event is fed to the FSM, so
    /// that a resulting session loss knows its cause (RFC 4724 §4, RFC 8538 §3).
    pub rx_notification: Option<(u8, u8)>,
}

impl Peer {
    /// How many times a session with this peer reached Established in this process.
    pub fn established_transitions(&self) -> u32 {
        self.past_established
            + self.main.fsm.established_count()
            + self
                .secondary
                .as_ref()
                .map_or(0, |s| s.fsm.established_count())
    }

    /// A peer with its main FSM in Idle.
    pub fn new(neighbor: Neighbor, fsm: Session) -> Self {
        Peer {
            neighbor,
            main: Link { fsm, conn: None },
            secondary: None,
            dial: None,
            stats: MessageStats::default(),
            last_rx_notification: None,
            last_tx_notification: None,
            last_error: None,
            negotiated: None,
            peer_hostname: None,
            past_established: 0,
            listen_range: None,
            gr: Helper::new(LocalGr::disabled()),
            rx_notification: None,
        }
    }

    /// The link in `slot`.
    pub fn link(&self, slot: Slot) -> Option<&Link> {
        match slot {
            Slot::Main => Some(&self.main),
            Slot::Secondary => self.secondary.as_ref(),
        }
    }

    /// The link in `slot`, mutably.
    pub fn link_mut(&mut self, slot: Slot) -> Option<&mut Link> {
        match slot {
            Slot::Main => Some(&mut self.main),
            Slot::Secondary => self.secondary.as_mut(),
        }
    }

    /// The slot whose FSM is Established, if any.
    pub fn established_slot(&self) -> Option<Slot> {
        [Slot::Main, Slot::Secondary].into_iter().find(|s| {
            self.link(*s)
                .is_some_and(|l| l.fsm.state() == State::Established)
        })
    }

    /// The link to show: the one furthest along.
    pub fn shown_link(&self) -> &Link {
        match &self.secondary {
            Some(s) if s.fsm.state() > self.main.fsm.state() => s,
            _ => &self.main,
        }
    }

    /// Encodes and queues a message on the connection of `slot`, counting it. Returns whether
    /// it was queued.
    pub fn send(&mut self, slot: Slot, msg: &Message) -> Result<bool, EncodeError> {
        let Peer {
            main,
            secondary,
            stats,
            ..
        } = self;
        let link = match slot {
            Slot::Main => Some(main),
            Slot::Secondary => secondary.as_mut(),
        };
        let Some(conn) = link.and_then(|l| l.conn.as_ref()) else {
            return Ok(false);
        };
        let bytes = msg.encode(&conn.codec)?;
        let queued = conn.handle.send(bytes);
        if queued {
            count(&mut stats.sent, msg.msg_type());
        }
        Ok(queued)
    }

    /// Sends an UPDATE, split into several when it exceeds the session's maximum message size.
    /// Returns how many UPDATE messages were queued.
    pub fn send_update(&mut self, slot: Slot, update: Update) -> usize {
        let mut sent = 0;
        let mut pending = vec![update];
        while let Some(u) = pending.pop() {
            let msg = Message::Update(u);
            match self.send(slot, &msg) {
                Ok(true) => sent += 1,
                Ok(false) => return sent,
                Err(EncodeError::MessageTooLong { .. }) => {
                    let Message::Update(u) = msg else { continue };
                    match split_update(&u) {
                        Some((first, second)) => {
                            pending.push(second);
                            pending.push(first);
                        }
                        None => {
                            tracing::error!(peer = %self.neighbor.address, "UPDATE too long and cannot be split; dropped")
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(peer = %self.neighbor.address, error = %e, "failed to encode UPDATE")
                }
            }
        }
        sent
    }

    /// The control socket view.
    pub fn status(&self, now: Instant, prefixes: PrefixCounts) -> NeighborStatus {
        let link = self.shown_link();
        let fsm = &link.fsm;
        let state = fsm.state();
        let secs = |t: Instant| now.saturating_duration_since(t).as_secs_f64();
        let negotiated = fsm.negotiated().filter(|_| state >= State::OpenConfirm);
        let remote_open = link.conn.as_ref().and_then(|c| c.remote_open.as_ref());
        let note = |n: &Option<(Notification, Instant)>| {
            n.as_ref().map(|(n, at)| NotificationInfo {
                code: n.code,
                subcode: n.subcode,
                description: n.describe().to_owned(),
                communication: n.shutdown_communication().map(str::to_owned),
                data: hex(&n.data),
                age_secs: secs(*at),
            })
        };
        NeighborStatus {
            address: self.neighbor.address,
            description: self.neighbor.description.clone(),
            remote_as: self.neighbor.remote_as,
            peer_as: negotiated
                .map(|n| n.peer_as)
                .or_else(|| remote_open.map(Open::effective_asn)),
            peer_id: negotiated
                .map(|n| n.peer_id)
                .or_else(|| remote_open.map(|o| o.router_id)),
            peer_hostname: self.peer_hostname.clone(),
            state,
            state_secs: fsm.state_since().map_or(0.0, secs),
            established_secs: fsm.established_since().map(secs),
            established_transitions: self.established_transitions(),
            connect_retry_counter: fsm.connect_retry_counter(),
            connection: link.conn.as_ref().map(|c| ConnectionInfo {
                local: c.local,
                remote: c.remote,
                direction: c.direction,
            }),
            hold_time: negotiated.map(|n| n.hold_time),
            keepalive_secs: negotiated.map(|n| n.keepalive.as_secs()),
            capabilities: self.negotiated.clone(),
            messages: self.stats,
            prefixes,
            last_notification_received: note(&self.last_rx_notification),
            last_notification_sent: note(&self.last_tx_notification),
            last_error: self.last_error.clone(),
            listen_range: self.listen_range,
            graceful_restart_helper: Some(self.gr.status(now)).filter(|h| !h.families.is_empty()),
        }
    }

    /// The address outbound connections use as source: configured, else the listen address if
    /// it is a specific address of the peer's family.
    pub fn source_address(&self, listen: IpAddr) -> Option<IpAddr> {
        self.neighbor.local_address.or_else(|| {
            let same_family = listen.is_ipv4() == self.neighbor.address.is_ipv4();
            (same_family && !listen.is_unspecified()).then_some(listen)
        })
    }
}

/// Counts one message of type `t`.
pub fn count(c: &mut MessageCounts, t: MessageType) {
    match t {
        MessageType::Open => c.open += 1,
        MessageType::Update => c.update += 1,
        MessageType::Notification => c.notification += 1,
        MessageType::Keepalive => c.keepalive += 1,
        MessageType::RouteRefresh => c.route_refresh += 1,
        MessageType::Unknown(_) => {}
    }
    c.total += 1;
}
