//! The per-session codec context (what was negotiated in the OPEN exchange) and the top-level
//! [`Message`] decode/encode.

use serde::{Deserialize, Serialize};

use crate::capability::{Capability, ExtendedNextHop};
use crate::codes::MessageType;
use crate::error::{DecodeError, EncodeError};
use crate::header::{self, Header, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};
use crate::notification::Notification;
use crate::open::Open;
use crate::route_refresh::RouteRefresh;
use crate::types::{Afi, AfiSafi};
use crate::update::Update;

/// What an UPDATE's encoding depends on, fixed for the life of a session.
///
/// `CodecContext::default()` is plain RFC 4271 (2-octet AS, no ADD-PATH, eBGP), which is also what
/// applies to OPEN, KEEPALIVE and NOTIFICATION before negotiation. Build the real one with
/// [`negotiate`] or [`CodecContext::from_opens`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CodecContext {
    /// Both sides advertised capability 65: AS numbers are 4 octets in AS_PATH/AGGREGATOR
    /// (RFC 6793 §4.1). When false, AS4_PATH/AS4_AGGREGATOR are used (§4.2).
    pub four_octet_as: bool,
    /// The peer is in the same AS (iBGP). Some RFC 7606 rules depend on it (§7.5, §7.9, §7.10).
    pub ibgp: bool,
    /// Both sides advertised the Extended Message capability (RFC 8654): 65535-octet messages.
    pub extended_message: bool,
    /// Families for which we receive path identifiers (we advertised receive, the peer send).
    pub add_path_rx: Vec<AfiSafi>,
    /// Families for which we send path identifiers (we advertised send, the peer receive).
    pub add_path_tx: Vec<AfiSafi>,
    /// NLRI families that may use a next hop of another AFI (both sides advertised it,
    /// RFC 8950), e.g. IPv4 unicast with an IPv6 next hop.
    pub extended_nexthop: Vec<ExtendedNextHop>,
    /// Families both sides support (RFC 4760 §8; IPv4 unicast implied without the capability).
    pub families: Vec<AfiSafi>,
    /// Both sides support route refresh (RFC 2918).
    pub route_refresh: bool,
    /// Both sides support enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
}

impl CodecContext {
    /// The default context with 4-octet AS numbers, for tools decoding traffic between modern
    /// speakers.
    pub fn four_octet() -> Self {
        CodecContext {
            four_octet_as: true,
            ..CodecContext::default()
        }
    }

    /// The context for a session between the senders of `local` and `remote`; iBGP when their
    /// effective AS numbers are equal.
    pub fn from_opens(local: &Open, remote: &Open) -> Self {
        negotiate(
            &local.capabilities,
            &remote.capabilities,
            local.effective_asn() == remote.effective_asn(),
        )
    }

    /// Whether received NLRI of `af` carry path identifiers.
    pub fn receives_path_id(&self, af: AfiSafi) -> bool {
        self.add_path_rx.contains(&af)
    }

    /// Whether sent NLRI of `af` carry path identifiers.
    pub fn sends_path_id(&self, af: AfiSafi) -> bool {
        self.add_path_tx.contains(&af)
    }

    /// Whether NLRI of `af` may use a next hop of `next_hop_afi` (RFC 8950).
    pub fn extended_nexthop_allowed(&self, af: AfiSafi, next_hop_afi: Afi) -> bool {
        self.extended_nexthop
            .iter()
            .any(|e| e.afi_safi == af && e.next_hop_afi == next_hop_afi)
    }

    /// Maximum message size for this session (RFC 8654 §4).
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// The same context seen from the peer's side (rx and tx swapped), handy for tests that
    /// encode as one speaker and decode as the other.
    pub fn mirrored(&self) -> Self {
        CodecContext {
            add_path_rx: self.add_path_tx.clone(),
            add_path_tx: self.add_path_rx.clone(),
            ..self.clone()
        }
    }
}

/// Computes the session codec context from the capabilities each side advertised (RFC 5492:
/// a capability is in effect only when both sides advertised it).
///
/// `ibgp`: whether the peer is in our AS.
pub fn negotiate(local: &[Capability], remote: &[Capability], ibgp: bool) -> CodecContext {
    let has = |caps: &[Capability], f: fn(&Capability) -> bool| caps.iter().any(f);
    let four_octet_as = has(local, |c| matches!(c, Capability::FourOctetAs(_)))
        && has(remote, |c| matches!(c, Capability::FourOctetAs(_)));
    let extended_message = has(local, |c| matches!(c, Capability::ExtendedMessage))
        && has(remote, |c| matches!(c, Capability::ExtendedMessage));
    let route_refresh = has(local, |c| matches!(c, Capability::RouteRefresh))
        && has(remote, |c| matches!(c, Capability::RouteRefresh));
    let enhanced_route_refresh = has(local, |c| matches!(c, Capability::EnhancedRouteRefresh))
        && has(remote, |c| matches!(c, Capability::EnhancedRouteRefresh));

    let mp = |caps: &[Capability]| -> Vec<AfiSafi> {
        let v: Vec<AfiSafi> = caps
            .iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol(af) => Some(*af),
                _ => None,
            })
            .collect();
        if v.is_empty() {
            vec![AfiSafi::IPV4_UNICAST]
        } else {
            v
        }
    };
    let remote_mp = mp(remote);
    let mut families: Vec<AfiSafi> = mp(local)
        .into_iter()
        .filter(|af| remote_mp.contains(af))
        .collect();
    families.dedup();

    // ADD-PATH: the last capability instance of each side counts; per family, we send when we
    // can send and the peer can receive (RFC 7911 §4).
    let add_path = |caps: &[Capability]| -> Vec<crate::capability::AddPathFamily> {
        caps.iter()
            .rev()
            .find_map(|c| match c {
                Capability::AddPath(f) => Some(f.clone()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let (la, ra) = (add_path(local), add_path(remote));
    let mode = |list: &[crate::capability::AddPathFamily], af: AfiSafi| {
        list.iter().find(|f| f.afi_safi == af).map(|f| f.mode)
    };
    let mut add_path_rx = Vec::new();
    let mut add_path_tx = Vec::new();
    for f in &la {
        let Some(peer) = mode(&ra, f.afi_safi) else {
            continue;
        };
        if f.mode.receives() && peer.sends() && !add_path_rx.contains(&f.afi_safi) {
            add_path_rx.push(f.afi_safi);
        }
        if f.mode.sends() && peer.receives() && !add_path_tx.contains(&f.afi_safi) {
            add_path_tx.push(f.afi_safi);
        }
    }

    let enh = |caps: &[Capability]| -> Vec<ExtendedNextHop> {
        caps.iter()
            .filter_map(|c| match c {
                Capability::ExtendedNextHop(v) => Some(v.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    let remote_enh = enh(remote);
    let extended_nexthop = enh(local)
        .into_iter()
        .filter(|e| remote_enh.contains(e))
        .collect();

    CodecContext {
        four_octet_as,
        ibgp,
        extended_message,
        add_path_rx,
        add_path_tx,
        extended_nexthop,
        families,
        route_refresh,
        enhanced_route_refresh,
    }
}

/// A BGP message.
#[expect(
    clippy::large_enum_variant,
    reason = "messages are decoded one at a time and moved, boxing UPDATE would cost an allocation each"
)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The message type.
    pub fn msg_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Decodes one complete message (`frame` as delimited by [`crate::frame_len`]).
    ///
    /// UPDATE errors that RFC 7606 handles inside the session are already applied: an UPDATE
    /// needing treat-as-withdraw comes back as the equivalent withdraw-only UPDATE, discarded
    /// attributes are gone. `Err` means the session must be reset with `err.to_notification()`.
    /// Use [`Message::decode_with_errors`] to also see the non-fatal errors, or
    /// [`Update::decode`] for the untouched UPDATE.
    pub fn decode(frame: &[u8], ctx: &CodecContext) -> Result<Message, DecodeError> {
        Self::decode_with_errors(frame, ctx).map(|(m, _)| m)
    }

    /// Like [`Message::decode`], also returning the non-fatal UPDATE errors (already applied).
    pub fn decode_with_errors(
        frame: &[u8],
        ctx: &CodecContext,
    ) -> Result<(Message, Vec<DecodeError>), DecodeError> {
        let h = Header::decode(frame, ctx.max_message_len())?;
        let body = frame.get(HEADER_LEN..).unwrap_or_default();
        Ok(match h.msg_type {
            MessageType::Open => (Message::Open(Open::decode(body)?), Vec::new()),
            MessageType::Update => {
                let d = Update::decode(body, ctx)?;
                let errors = d.errors.clone();
                (Message::Update(d.into_effective()?), errors)
            }
            MessageType::Notification => (
                Message::Notification(Notification::decode(body)?),
                Vec::new(),
            ),
            MessageType::Keepalive => (Message::Keepalive, Vec::new()),
            MessageType::RouteRefresh => (
                Message::RouteRefresh(RouteRefresh::decode(body)?),
                Vec::new(),
            ),
            // Header::decode rejects unknown types with 1/3.
            MessageType::Unknown(t) => {
                return Err(DecodeError::header(
                    crate::codes::HeaderSubcode::BadMessageType,
                    "unknown message type",
                )
                .with_data([t]))
            }
        })
    }

    /// Appends the encoded message (header included) to `out`.
    ///
    /// On error (message longer than [`CodecContext::max_message_len`]) nothing is appended.
    pub fn encode_into(&self, ctx: &CodecContext, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = Header::start(out, self.msg_type());
        let r = match self {
            Message::Open(o) => o.encode_body(out),
            Message::Update(u) => {
                u.encode_body(ctx, out);
                Ok(())
            }
            Message::Notification(n) => {
                n.encode_body(out);
                Ok(())
            }
            Message::Keepalive => Ok(()),
            Message::RouteRefresh(r) => {
                r.encode_body(out);
                Ok(())
            }
        };
        if let Err(e) = r {
            out.truncate(start);
            return Err(e);
        }
        header::patch_length(out, start, ctx.max_message_len())
    }

    /// Encodes the message into a new buffer.
    pub fn encode(&self, ctx: &CodecContext) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(ctx, &mut out)?;
        Ok(out)
    }
}

impl From<Open> for Message {
    fn from(o: Open) -> Self {
        Message::Open(o)
    }
}

impl From<Update> for Message {
    fn from(u: Update) -> Self {
        Message::Update(u)
    }
}

impl From<Notification> for Message {
    fn from(n: Notification) -> Self {
        Message::Notification(n)
    }
}

impl From<RouteRefresh> for Message {
    fn from(r: RouteRefresh) -> Self {
        Message::RouteRefresh(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{AddPathFamily, AddPathMode};
    use crate::types::Asn;

    #[test]
    fn negotiation_needs_both_sides() {
        let local = vec![
            Capability::FourOctetAs(Asn(1)),
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::AddPath(vec![
                AddPathFamily {
                    afi_safi: AfiSafi::IPV4_UNICAST,
                    mode: AddPathMode::Both,
                },
                AddPathFamily {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    mode: AddPathMode::Receive,
                },
            ]),
        ];
        let remote = vec![
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::AddPath(vec![
                AddPathFamily {
                    afi_safi: AfiSafi::IPV4_UNICAST,
                    mode: AddPathMode::Receive,
                },
                AddPathFamily {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    mode: AddPathMode::Receive,
                },
            ]),
        ];
        let ctx = negotiate(&local, &remote, false);
        assert!(!ctx.four_octet_as);
        assert!(ctx.route_refresh);
        assert!(!ctx.enhanced_route_refresh);
        assert_eq!(ctx.families, vec![AfiSafi::IPV6_UNICAST]);
        assert_eq!(ctx.add_path_tx, vec![AfiSafi::IPV4_UNICAST]);
        assert!(ctx.add_path_rx.is_empty());
        assert!(ctx.sends_path_id(AfiSafi::IPV4_UNICAST));
        assert!(!ctx.receives_path_id(AfiSafi::IPV4_UNICAST));
    }

    #[test]
    fn no_mp_capability_means_ipv4_unicast() {
        let ctx = negotiate(&[], &[], true);
        assert_eq!(ctx.families, vec![AfiSafi::IPV4_UNICAST]);
        assert!(ctx.ibgp);
        assert_eq!(ctx.max_message_len(), 4096);
    }
}
