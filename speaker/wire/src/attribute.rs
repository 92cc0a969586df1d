//! Path attributes as typed values (RFC 4271 §5, RFC 1997, RFC 4360, RFC 4456, RFC 4760,
//! RFC 6793, RFC 8092) and their encoding.
//!
//! Decoding, with the RFC 7606 error table, lives in [`crate::update`] so every error decision
//! is in one place; this module only knows how each value is laid out.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::aspath::AsPath;
use crate::buf::Put;
use crate::codec::CodecContext;
use crate::codes::AttrCode;
use crate::nlri::{encode_prefixes, Ipv4Nlri, Ipv6Nlri};
use crate::types::{Afi, AfiSafi, Asn, RouterId, Safi};

/// Attribute flag bits (RFC 4271 §4.3).
pub mod flags {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive (1) or non-transitive (0).
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: an optional transitive attribute was not understood by some speaker on the path.
    pub const PARTIAL: u8 = 0x20;
    /// Extended Length: the length field is 2 octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
    /// Well-known attributes: transitive, not optional.
    pub const WELL_KNOWN: u8 = TRANSITIVE;
    /// Optional transitive.
    pub const OPTIONAL_TRANSITIVE: u8 = OPTIONAL | TRANSITIVE;
    /// Optional non-transitive.
    pub const OPTIONAL_NON_TRANSITIVE: u8 = OPTIONAL;
}

/// ORIGIN (RFC 4271 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Origin {
    /// 0: IGP.
    Igp,
    /// 1: EGP.
    Egp,
    /// 2: INCOMPLETE.
    Incomplete,
}

impl Origin {
    /// Wire value.
    pub fn code(self) -> u8 {
        match self {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }
    }

    /// From the wire value; values above 2 are malformed (RFC 7606 §7.1).
    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Origin::Igp,
            1 => Origin::Egp,
            2 => Origin::Incomplete,
            _ => return None,
        })
    }
}

/// AGGREGATOR / AS4_AGGREGATOR value (RFC 4271 §5.1.7, RFC 6793).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Aggregator {
    /// AS of the aggregating speaker.
    pub asn: Asn,
    /// BGP identifier / address of the aggregating speaker.
    pub address: Ipv4Addr,
}

/// A standard community (RFC 1997), `high:low` as two 16-bit halves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// LLGR_STALE (RFC 9494).
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    /// NO_LLGR (RFC 9494).
    pub const NO_LLGR: Community = Community(0xFFFF_0007);
    /// BLACKHOLE (RFC 7999).
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);

    /// A community from its two halves.
    pub const fn new(high: u16, low: u16) -> Self {
        Community(((high as u32) << 16) | low as u32)
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

/// An extended community (RFC 4360), kept as its 8 octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExtendedCommunity(pub [u8; 8]);

impl ExtendedCommunity {
    /// Type and sub-type octets.
    pub fn kind(&self) -> (u8, u8) {
        let [t, s, ..] = self.0;
        (t, s)
    }

    /// A 2-octet-AS specific route target (type 0x00, sub-type 0x02).
    pub fn route_target(asn: u16, value: u32) -> Self {
        let [a, b] = asn.to_be_bytes();
        let [c, d, e, f] = value.to_be_bytes();
        ExtendedCommunity([0x00, 0x02, a, b, c, d, e, f])
    }
}

/// A large community (RFC 8092).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LargeCommunity {
    /// Global administrator (an AS).
    pub global_admin: u32,
    /// Local data part 1.
    pub local_data1: u32,
    /// Local data part 2.
    pub local_data2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.global_admin, self.local_data1, self.local_data2
        )
    }
}

/// The next hop of MP_REACH_NLRI (RFC 4760 §3, RFC 2545 §3, RFC 8950 §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MpNextHop {
    /// A 4-octet IPv4 next hop.
    Ipv4(Ipv4Addr),
    /// An IPv6 global next hop, optionally followed by a link-local one (32-octet form).
    Ipv6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address.
        link_local: Option<Ipv6Addr>,
    },
    /// The raw next hop of a family this crate does not parse.
    Other(Vec<u8>),
}

impl MpNextHop {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MpNextHop::Ipv4(a) => {
                out.push(4);
                out.extend_from_slice(&a.octets());
            }
            MpNextHop::Ipv6 {
                global,
                link_local: None,
            } => {
                out.push(16);
                out.extend_from_slice(&global.octets());
            }
            MpNextHop::Ipv6 {
                global,
                link_local: Some(ll),
            } => {
                out.push(32);
                out.extend_from_slice(&global.octets());
                out.extend_from_slice(&ll.octets());
            }
            MpNextHop::Other(b) => {
                let b = b.get(..255.min(b.len())).unwrap_or_default();
                out.push(u8::try_from(b.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(b);
            }
        }
    }
}

/// Prefixes carried in MP_REACH_NLRI / MP_UNREACH_NLRI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MpNlri {
    /// IPv4 (AFI 1) unicast or multicast prefixes.
    Ipv4(Vec<Ipv4Nlri>),
    /// IPv6 (AFI 2) unicast or multicast prefixes.
    Ipv6(Vec<Ipv6Nlri>),
    /// Raw NLRI of a family this crate does not parse.
    Unknown(Vec<u8>),
}

impl MpNlri {
    /// Number of prefixes (0 for raw NLRI).
    pub fn len(&self) -> usize {
        match self {
            MpNlri::Ipv4(v) => v.len(),
            MpNlri::Ipv6(v) => v.len(),
            MpNlri::Unknown(_) => 0,
        }
    }

    /// Whether no prefix (and no raw byte) is carried.
    pub fn is_empty(&self) -> bool {
        match self {
            MpNlri::Ipv4(v) => v.is_empty(),
            MpNlri::Ipv6(v) => v.is_empty(),
            MpNlri::Unknown(b) => b.is_empty(),
        }
    }

    /// An empty list of the kind that `afi_safi` carries.
    pub fn empty_for(afi_safi: AfiSafi) -> Self {
        match (afi_safi.afi, is_prefix_safi(afi_safi.safi)) {
            (Afi::Ipv4, true) => MpNlri::Ipv4(Vec::new()),
            (Afi::Ipv6, true) => MpNlri::Ipv6(Vec::new()),
            _ => MpNlri::Unknown(Vec::new()),
        }
    }

    pub(crate) fn encode(&self, add_path: bool, out: &mut Vec<u8>) {
        match self {
            MpNlri::Ipv4(v) => encode_prefixes(v, add_path, out),
            MpNlri::Ipv6(v) => encode_prefixes(v, add_path, out),
            MpNlri::Unknown(b) => out.extend_from_slice(b),
        }
    }
}

/// Whether prefixes of this SAFI use the plain RFC 4271 prefix encoding.
pub(crate) fn is_prefix_safi(safi: Safi) -> bool {
    matches!(safi, Safi::Unicast | Safi::Multicast)
}

/// MP_REACH_NLRI (RFC 4760 §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MpReach {
    /// Address family of the NLRI.
    pub afi_safi: AfiSafi,
    /// Next hop.
    pub next_hop: MpNextHop,
    /// Reachable prefixes.
    pub nlri: MpNlri,
}

/// MP_UNREACH_NLRI (RFC 4760 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MpUnreach {
    /// Address family of the withdrawn routes.
    pub afi_safi: AfiSafi,
    /// Withdrawn prefixes.
    pub withdrawn: MpNlri,
}

/// An attribute this crate does not interpret, kept raw for propagation (RFC 4271 §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnknownAttribute {
    /// Flags as received, without the Extended Length bit (recomputed on encode).
    pub flags: u8,
    /// Type code.
    pub code: u8,
    /// Value.
    pub value: Vec<u8>,
}

/// The path attributes of one UPDATE, typed.
///
/// List-valued attributes are absent when empty (an empty COMMUNITIES/CLUSTER_LIST is malformed
/// anyway, RFC 7606 §7.8, §7.10). Received AS4_PATH/AS4_AGGREGATOR are merged into `as_path` and
/// `aggregator` during decoding (RFC 6793 §4.2.3) and generated again on encode for 2-octet
/// peers (§4.2.2), so they have no field of their own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct PathAttributes {
    /// ORIGIN.
    pub origin: Option<Origin>,
    /// AS_PATH (4-octet view).
    pub as_path: Option<AsPath>,
    /// NEXT_HOP (IPv4 NLRI field only).
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE.
    pub atomic_aggregate: bool,
    /// AGGREGATOR (4-octet view).
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES.
    pub communities: Vec<Community>,
    /// ORIGINATOR_ID.
    pub originator_id: Option<RouterId>,
    /// CLUSTER_LIST.
    pub cluster_list: Vec<RouterId>,
    /// MP_REACH_NLRI.
    pub mp_reach: Option<MpReach>,
    /// MP_UNREACH_NLRI.
    pub mp_unreach: Option<MpUnreach>,
    /// EXTENDED COMMUNITIES.
    pub extended_communities: Vec<ExtendedCommunity>,
    /// LARGE_COMMUNITY.
    pub large_communities: Vec<LargeCommunity>,
    /// Attributes not interpreted here, in the order received.
    pub unknown: Vec<UnknownAttribute>,
}

/// Appends one attribute whose value is produced by `value`, choosing the Extended Length form
/// only when the value exceeds 255 octets.
pub(crate) fn put_attribute(
    out: &mut Vec<u8>,
    flag_bits: u8,
    code: u8,
    value: impl FnOnce(&mut Vec<u8>),
) {
    let start = out.len();
    out.extend_from_slice(&[flag_bits | flags::EXTENDED_LENGTH, code, 0, 0]);
    value(out);
    let len = out.len() - start - 4;
    if len <= 255 {
        // Drop the second length octet: shift the value down by one.
        out.remove(start + 2);
        if let Some(f) = out.get_mut(start) {
            *f &= !flags::EXTENDED_LENGTH;
        }
        if let Some(l) = out.get_mut(start + 2) {
            *l = u8::try_from(len).unwrap_or(u8::MAX);
        }
    } else {
        // Values longer than 65535 cannot occur below the 65535-octet message limit; the
        // message length check reports them.
        let len16 = u16::try_from(len).unwrap_or(u16::MAX);
        if let Some(l) = out.get_mut(start + 2..start + 4) {
            l.copy_from_slice(&len16.to_be_bytes());
        }
    }
}

impl PathAttributes {
    /// Whether no attribute is present.
    pub fn is_empty(&self) -> bool {
        *self == PathAttributes::default()
    }

    /// Appends the attributes for a peer with the given negotiated context.
    ///
    /// Order: MP_REACH_NLRI and MP_UNREACH_NLRI first (RFC 7606 §5.1), then ascending type code
    /// with unknown attributes in place. Towards a 2-octet peer (RFC 6793 §4.2.2) AS_PATH and
    /// AGGREGATOR use AS_TRANS and AS4_PATH/AS4_AGGREGATOR are added when needed. Unknown
    /// optional transitive attributes get the Partial bit (RFC 4271 §5).
    pub fn encode(&self, ctx: &CodecContext, out: &mut Vec<u8>) {
        let four = ctx.four_octet_as;
        if let Some(r) = &self.mp_reach {
            put_attribute(out, flags::OPTIONAL, AttrCode::MpReachNlri.code(), |out| {
                out.put_u16(r.afi_safi.afi.code());
                out.put_u8(r.afi_safi.safi.code());
                r.next_hop.encode(out);
                out.put_u8(0); // Reserved (RFC 4760 §3).
                r.nlri.encode(ctx.sends_path_id(r.afi_safi), out);
            });
        }
        if let Some(u) = &self.mp_unreach {
            put_attribute(
                out,
                flags::OPTIONAL,
                AttrCode::MpUnreachNlri.code(),
                |out| {
                    out.put_u16(u.afi_safi.afi.code());
                    out.put_u8(u.afi_safi.safi.code());
                    u.withdrawn.encode(ctx.sends_path_id(u.afi_safi), out);
                },
            );
        }
        let mut unknown = self.unknown.iter().peekable();
        // Unknown attributes are written just before the first known one with a higher code.
        let mut flush_unknown_below = |code: u16, out: &mut Vec<u8>| {
            while let Some(u) = unknown.next_if(|u| u16::from(u.code) < code) {
                let mut f = u.flags & !flags::EXTENDED_LENGTH;
                if f & flags::OPTIONAL_TRANSITIVE == flags::OPTIONAL_TRANSITIVE {
                    f |= flags::PARTIAL;
                }
                put_attribute(out, f, u.code, |out| out.extend_from_slice(&u.value));
            }
        };
        if let Some(o) = self.origin {
            flush_unknown_below(u16::from(AttrCode::Origin.code()), out);
            put_attribute(out, flags::WELL_KNOWN, AttrCode::Origin.code(), |out| {
                out.push(o.code())
            });
        }
        if let Some(p) = &self.as_path {
            flush_unknown_below(u16::from(AttrCode::AsPath.code()), out);
            put_attribute(out, flags::WELL_KNOWN, AttrCode::AsPath.code(), |out| {
                p.encode(four, out)
            });
        }
        if let Some(nh) = self.next_hop {
            flush_unknown_below(u16::from(AttrCode::NextHop.code()), out);
            put_attribute(out, flags::WELL_KNOWN, AttrCode::NextHop.code(), |out| {
                out.extend_from_slice(&nh.octets())
            });
        }
        if let Some(med) = self.med {
            flush_unknown_below(u16::from(AttrCode::MultiExitDisc.code()), out);
            put_attribute(
                out,
                flags::OPTIONAL,
                AttrCode::MultiExitDisc.code(),
                |out| out.put_u32(med),
            );
        }
        if let Some(lp) = self.local_pref {
            flush_unknown_below(u16::from(AttrCode::LocalPref.code()), out);
            put_attribute(out, flags::WELL_KNOWN, AttrCode::LocalPref.code(), |out| {
                out.put_u32(lp)
            });
        }
        if self.atomic_aggregate {
            flush_unknown_below(u16::from(AttrCode::AtomicAggregate.code()), out);
            put_attribute(
                out,
                flags::WELL_KNOWN,
                AttrCode::AtomicAggregate.code(),
                |_| {},
            );
        }
        if let Some(a) = self.aggregator {
            flush_unknown_below(u16::from(AttrCode::Aggregator.code()), out);
            put_attribute(
                out,
                flags::OPTIONAL_TRANSITIVE,
                AttrCode::Aggregator.code(),
                |out| {
                    if four {
                        out.put_u32(a.asn.0);
                    } else {
                        out.put_u16(u16::try_from(a.asn.0).unwrap_or(Asn::TRANS.0 as u16));
                    }
                    out.extend_from_slice(&a.address.octets());
                },
            );
        }
        if !self.communities.is_empty() {
            flush_unknown_below(u16::from(AttrCode::Communities.code()), out);
            put_attribute(
                out,
                flags::OPTIONAL_TRANSITIVE,
                AttrCode::Communities.code(),
                |out| {
                    for c in &self.communities {
                        out.put_u32(c.0);
                    }
                },
            );
        }
        if let Some(id) = self.originator_id {
            flush_unknown_below(u16::from(AttrCode::OriginatorId.code()), out);
            put_attribute(out, flags::OPTIONAL, AttrCode::OriginatorId.code(), |out| {
                out.extend_from_slice(&id.0.octets())
            });
        }
        if !self.cluster_list.is_empty() {
            flush_unknown_below(u16::from(AttrCode::ClusterList.code()), out);
            put_attribute(out, flags::OPTIONAL, AttrCode::ClusterList.code(), |out| {
                for id in &self.cluster_list {
                    out.extend_from_slice(&id.0.octets());
                }
            });
        }
        if !self.extended_communities.is_empty() {
            flush_unknown_below(u16::from(AttrCode::ExtendedCommunities.code()), out);
            put_attribute(
                out,
                flags::OPTIONAL_TRANSITIVE,
                AttrCode::ExtendedCommunities.code(),
                |out| {
                    for c in &self.extended_communities {
                        out.extend_from_slice(&c.0);
                    }
                },
            );
        }
        if !four {
            // RFC 6793 §4.2.2: AS4_PATH only when some AS does not fit in 2 octets.
            if let Some(p) = self.as_path.as_ref().filter(|p| !p.is_two_octet()) {
                flush_unknown_below(u16::from(AttrCode::As4Path.code()), out);
                put_attribute(
                    out,
                    flags::OPTIONAL_TRANSITIVE,
                    AttrCode::As4Path.code(),
                    |out| p.encode_filtered(true, true, out),
                );
            }
            if let Some(a) = self.aggregator.filter(|a| !a.asn.is_two_octet()) {
                flush_unknown_below(u16::from(AttrCode::As4Aggregator.code()), out);
                put_attribute(
                    out,
                    flags::OPTIONAL_TRANSITIVE,
                    AttrCode::As4Aggregator.code(),
                    |out| {
                        out.put_u32(a.asn.0);
                        out.extend_from_slice(&a.address.octets());
                    },
                );
            }
        }
        if !self.large_communities.is_empty() {
            flush_unknown_below(u16::from(AttrCode::LargeCommunities.code()), out);
            put_attribute(
                out,
                flags::OPTIONAL_TRANSITIVE,
                AttrCode::LargeCommunities.code(),
                |out| {
                    for c in &self.large_communities {
                        out.put_u32(c.global_admin);
                        out.put_u32(c.local_data1);
                        out.put_u32(c.local_data2);
                    }
                },
            );
        }
        flush_unknown_below(256, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_length_only_when_needed() {
        let mut out = Vec::new();
        put_attribute(&mut out, flags::OPTIONAL_TRANSITIVE, 8, |o| {
            o.extend_from_slice(&[1; 8])
        });
        assert_eq!(&out[..3], &[0xc0, 8, 8]);
        assert_eq!(out.len(), 11);
        let mut out = Vec::new();
        put_attribute(&mut out, flags::OPTIONAL_TRANSITIVE, 8, |o| {
            o.extend_from_slice(&[1; 256])
        });
        assert_eq!(&out[..4], &[0xd0, 8, 1, 0]);
        assert_eq!(out.len(), 260);
    }

    #[test]
    fn community_display() {
        assert_eq!(Community::new(65000, 100).to_string(), "65000:100");
        assert_eq!(Community::NO_EXPORT.to_string(), "65535:65281");
    }
}
