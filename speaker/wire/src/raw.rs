//! A raw layer under the typed one, for the conformance suite: build messages byte by byte,
//! including deliberately wrong ones (bad marker, wrong lengths, unknown types, wrong attribute
//! flags, repeated attributes, arbitrary attribute bytes), and split received bytes without
//! validating them.

use serde::{Deserialize, Serialize};

use crate::attribute::{flags, UnknownAttribute};
use crate::buf::{Put, Reader};
use crate::codec::{CodecContext, Message};
use crate::codes::MessageType;
use crate::error::EncodeError;
use crate::header::{HEADER_LEN, MARKER};

/// A message as raw parts. `encode()` writes exactly what the fields say.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RawMessage {
    /// Marker (all ones in a valid message).
    pub marker: [u8; 16],
    /// Length field override; `None` writes the true length.
    pub length: Option<u16>,
    /// Type octet.
    pub msg_type: u8,
    /// Body (everything after the 19-octet header).
    pub body: Vec<u8>,
}

impl RawMessage {
    /// A well-formed header around `body`.
    pub fn new(msg_type: impl Into<u8>, body: impl Into<Vec<u8>>) -> Self {
        RawMessage {
            marker: MARKER,
            length: None,
            msg_type: msg_type.into(),
            body: body.into(),
        }
    }

    /// The raw form of a typed message.
    pub fn from_message(m: &Message, ctx: &CodecContext) -> Result<Self, EncodeError> {
        let bytes = m.encode(ctx)?;
        Ok(Self::new(
            m.msg_type(),
            bytes.get(HEADER_LEN..).unwrap_or_default(),
        ))
    }

    /// A KEEPALIVE.
    pub fn keepalive() -> Self {
        Self::new(MessageType::Keepalive, Vec::new())
    }

    /// Sets the marker.
    pub fn with_marker(mut self, marker: [u8; 16]) -> Self {
        self.marker = marker;
        self
    }

    /// Overrides the length field.
    pub fn with_length(mut self, length: u16) -> Self {
        self.length = Some(length);
        self
    }

    /// Overrides the type octet.
    pub fn with_type(mut self, msg_type: u8) -> Self {
        self.msg_type = msg_type;
        self
    }

    /// Writes marker, length (true or overridden, saturating at 65535), type and body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.body.len());
        out.extend_from_slice(&self.marker);
        let true_len = u16::try_from(HEADER_LEN + self.body.len()).unwrap_or(u16::MAX);
        out.put_u16(self.length.unwrap_or(true_len));
        out.put_u8(self.msg_type);
        out.extend_from_slice(&self.body);
        out
    }

    /// Splits a buffer into header fields and body without any validation (the body is what
    /// follows the first 19 octets, whatever the length field says). `None` below 19 octets.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader::new(bytes);
        let marker = r.array::<16>()?;
        let length = r.u16()?;
        let msg_type = r.u8()?;
        Some(RawMessage {
            marker,
            length: Some(length),
            msg_type,
            body: r.rest().to_vec(),
        })
    }
}

/// One path attribute as raw parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RawAttribute {
    /// Flags octet, written verbatim. The Extended Length bit (0x10) selects a 2-octet length.
    pub flags: u8,
    /// Type code.
    pub code: u8,
    /// Length field override; `None` writes the true value length.
    pub length: Option<u16>,
    /// Value.
    pub value: Vec<u8>,
}

impl RawAttribute {
    /// An attribute with the given flags; the Extended Length bit is added when the value needs
    /// it.
    pub fn new(flag_bits: u8, code: impl Into<u8>, value: impl Into<Vec<u8>>) -> Self {
        let value = value.into();
        let flag_bits = if value.len() > 255 {
            flag_bits | flags::EXTENDED_LENGTH
        } else {
            flag_bits
        };
        RawAttribute {
            flags: flag_bits,
            code: code.into(),
            length: None,
            value,
        }
    }

    /// Overrides the length field.
    pub fn with_length(mut self, length: u16) -> Self {
        self.length = Some(length);
        self
    }

    /// Appends flags, code, length (1 or 2 octets per the Extended Length bit; an overlong true
    /// length is truncated to the field) and value.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.put_u8(self.flags);
        out.put_u8(self.code);
        let true_len = u16::try_from(self.value.len()).unwrap_or(u16::MAX);
        let len = self.length.unwrap_or(true_len);
        if self.flags & flags::EXTENDED_LENGTH != 0 {
            out.put_u16(len);
        } else {
            out.put_u8(u8::try_from(len).unwrap_or(u8::MAX));
        }
        out.extend_from_slice(&self.value);
    }

    /// The encoded attribute.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Splits an attribute list without validating values. Returns the attributes that parsed
    /// and the unparsed tail (non-empty when an attribute overruns the list).
    pub fn parse_list(bytes: &[u8]) -> (Vec<RawAttribute>, &[u8]) {
        let mut r = Reader::new(bytes);
        let mut v = Vec::new();
        loop {
            let before = r;
            let one = (|| {
                let f = r.u8()?;
                let code = r.u8()?;
                let len = if f & flags::EXTENDED_LENGTH != 0 {
                    r.u16()?
                } else {
                    u16::from(r.u8()?)
                };
                let value = r.take(usize::from(len))?;
                Some(RawAttribute {
                    flags: f,
                    code,
                    length: None,
                    value: value.to_vec(),
                })
            })();
            match one {
                Some(a) => v.push(a),
                None => return (v, before.peek_rest()),
            }
            if r.is_empty() {
                return (v, &[]);
            }
        }
    }
}

impl From<UnknownAttribute> for RawAttribute {
    fn from(u: UnknownAttribute) -> Self {
        RawAttribute {
            flags: u.flags,
            code: u.code,
            length: None,
            value: u.value,
        }
    }
}

/// An UPDATE body as raw parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct RawUpdate {
    /// Withdrawn Routes field bytes.
    pub withdrawn: Vec<u8>,
    /// Withdrawn Routes Length override.
    pub withdrawn_len: Option<u16>,
    /// Path attributes, written in order (repeats allowed).
    pub attributes: Vec<RawAttribute>,
    /// Total Path Attribute Length override.
    pub attributes_len: Option<u16>,
    /// NLRI field bytes.
    pub nlri: Vec<u8>,
}

impl RawUpdate {
    /// The raw form of a typed UPDATE as encoded for `ctx`, to start from a valid message and
    /// then break it (change flags, repeat or drop attributes, override lengths).
    pub fn from_update(update: &crate::update::Update, ctx: &CodecContext) -> RawUpdate {
        let mut body = Vec::new();
        update.encode_body(ctx, &mut body);
        // The encoder writes consistent lengths, so parsing its output cannot fail; fall back to
        // an opaque body rather than panic.
        RawUpdate::parse(&body).unwrap_or(RawUpdate {
            nlri: body,
            ..RawUpdate::default()
        })
    }

    /// The UPDATE body.
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let wlen = u16::try_from(self.withdrawn.len()).unwrap_or(u16::MAX);
        out.put_u16(self.withdrawn_len.unwrap_or(wlen));
        out.extend_from_slice(&self.withdrawn);
        let mut attrs = Vec::new();
        for a in &self.attributes {
            a.encode_into(&mut attrs);
        }
        let alen = u16::try_from(attrs.len()).unwrap_or(u16::MAX);
        out.put_u16(self.attributes_len.unwrap_or(alen));
        out.extend_from_slice(&attrs);
        out.extend_from_slice(&self.nlri);
        out
    }

    /// The UPDATE as a raw message (whose header can still be altered).
    pub fn to_message(&self) -> RawMessage {
        RawMessage::new(MessageType::Update, self.body())
    }

    /// The encoded UPDATE message.
    pub fn encode(&self) -> Vec<u8> {
        self.to_message().encode()
    }

    /// Splits an UPDATE body into its fields without validating them; `None` when the length
    /// fields overrun the body.
    pub fn parse(body: &[u8]) -> Option<RawUpdate> {
        let mut r = Reader::new(body);
        let wlen = r.u16()?;
        let withdrawn = r.take(usize::from(wlen))?.to_vec();
        let alen = r.u16()?;
        let (attributes, tail) = RawAttribute::parse_list(r.take(usize::from(alen))?);
        if !tail.is_empty() {
            return None;
        }
        Some(RawUpdate {
            withdrawn,
            withdrawn_len: None,
            attributes,
            attributes_len: None,
            nlri: r.rest().to_vec(),
        })
    }
}

/// Encodes an IPv4 prefix list in NLRI form, for building raw UPDATEs.
pub fn ipv4_prefixes(prefixes: &[ipnet::Ipv4Net]) -> Vec<u8> {
    let list: Vec<crate::nlri::Ipv4Nlri> = prefixes.iter().copied().map(Into::into).collect();
    let mut out = Vec::new();
    crate::nlri::encode_prefixes(&list, false, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_message_writes_overrides() {
        let m = RawMessage::keepalive()
            .with_length(20)
            .with_marker([0; 16])
            .with_type(9);
        let b = m.encode();
        assert_eq!(&b[..16], &[0; 16]);
        assert_eq!(&b[16..], &[0, 20, 9]);
        assert_eq!(RawMessage::parse(&b), Some(m));
    }

    #[test]
    fn raw_update_round_trips_through_parse() {
        let u = RawUpdate {
            attributes: vec![
                RawAttribute::new(flags::WELL_KNOWN, 1u8, [0]),
                RawAttribute::new(flags::WELL_KNOWN, 1u8, [1]),
                RawAttribute::new(
                    flags::OPTIONAL_TRANSITIVE | flags::EXTENDED_LENGTH,
                    99u8,
                    [7],
                ),
            ],
            nlri: ipv4_prefixes(&["10.0.0.0/8".parse().unwrap()]),
            ..RawUpdate::default()
        };
        let body = u.body();
        assert_eq!(&body[..4], &[0, 0, 0, 4 + 4 + 5]);
        assert_eq!(RawUpdate::parse(&body), Some(u));
    }

    #[test]
    fn from_update_then_break_flags() {
        use crate::attribute::{Origin, PathAttributes};
        let u = crate::update::Update::announce_ipv4(
            PathAttributes {
                origin: Some(Origin::Igp),
                ..PathAttributes::default()
            },
            vec!["10.0.0.0/8".parse::<ipnet::Ipv4Net>().unwrap().into()],
        );
        let ctx = CodecContext::four_octet();
        let mut raw = RawUpdate::from_update(&u, &ctx);
        assert_eq!(
            raw.attributes,
            vec![RawAttribute::new(flags::WELL_KNOWN, 1u8, [0])]
        );
        assert_eq!(raw.nlri, [8, 10]);
        raw.attributes[0].flags = flags::OPTIONAL;
        let d = crate::update::Update::decode(&raw.body(), &ctx).unwrap();
        assert_eq!(d.action, Some(crate::error::ErrorAction::TreatAsWithdraw));
    }

    #[test]
    fn parse_list_reports_overrun_tail() {
        let (v, tail) = RawAttribute::parse_list(&[0x40, 1, 1, 0, 0x40, 2, 9]);
        assert_eq!(v.len(), 1);
        assert_eq!(tail, &[0x40, 2, 9]);
    }
}
