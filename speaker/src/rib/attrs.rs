//! The RIB's own path attributes (RFC 4271 §5, RFC 1997, RFC 4360, RFC 8092, RFC 4456 §8), and
//! the interner that lets a million prefixes share a handful of attribute sets.
//!
//! Every path in every table holds an `Arc<PathAttrs>` obtained from [`AttrStore::intern`]. Two
//! equal attribute sets are then the same allocation, so "same attributes" is a pointer
//! comparison (used to group UPDATEs) and memory per route is one pointer, as in BIRD's `rta`
//! cache. Conversions to and from the wire crate's types live in `convert.rs` (once they exist).

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use fabric_bgp_wire::{Asn, RouterId};
use serde::{Deserialize, Serialize};

/// ORIGIN (RFC 4271 §5.1.1). The derived order is the preference order: IGP < EGP < INCOMPLETE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Learned from an interior protocol or originated by configuration.
    Igp,
    /// Learned via EGP.
    Egp,
    /// Learned by some other means (redistribution).
    Incomplete,
}

/// The type of one AS_PATH segment (RFC 4271 §4.3, RFC 5065 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// AS_SET: unordered, counts as one AS for path length (RFC 4271 §9.1.2.2 a).
    Set,
    /// AS_SEQUENCE: ordered, each AS counts.
    Sequence,
    /// AS_CONFED_SEQUENCE: not counted in path length (RFC 5065 §5.3).
    ConfedSequence,
    /// AS_CONFED_SET: not counted in path length (RFC 5065 §5.3).
    ConfedSet,
}

/// One AS_PATH segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AsSegment {
    /// Segment type.
    pub kind: SegmentKind,
    /// The AS numbers, in wire order.
    pub asns: Vec<Asn>,
}

/// An AS_PATH as a list of segments, in wire order (leftmost = most recently prepended).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AsPath {
    /// The segments, leftmost first.
    pub segments: Vec<AsSegment>,
}

/// Largest number of ASes one segment can carry (one length octet, RFC 4271 §4.3).
const MAX_SEGMENT_LEN: usize = 255;

impl AsPath {
    /// An empty AS_PATH (locally originated or learned from an iBGP originator).
    pub fn empty() -> Self {
        Self::default()
    }

    /// A path made of one AS_SEQUENCE.
    pub fn sequence(asns: impl IntoIterator<Item = Asn>) -> Self {
        let asns: Vec<Asn> = asns.into_iter().collect();
        if asns.is_empty() {
            return Self::empty();
        }
        let mut path = Self::empty();
        // Build from the right so long sequences are split into 255-AS segments correctly.
        for asn in asns.into_iter().rev() {
            path.prepend(asn, 1);
        }
        path
    }

    /// Whether there are no segments.
    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.asns.is_empty())
    }

    /// Path length for the decision process: each AS in an AS_SEQUENCE counts 1, an AS_SET counts
    /// 1 in total, confederation segments count 0 (RFC 4271 §9.1.2.2 a; RFC 5065 §5.3).
    pub fn length(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentKind::Sequence => s.asns.len(),
                SegmentKind::Set => usize::from(!s.asns.is_empty()),
                SegmentKind::ConfedSequence | SegmentKind::ConfedSet => 0,
            })
            .sum()
    }

    /// How many times `asn` occurs anywhere in the path (loop detection, RFC 4271 §9.1.2).
    pub fn count(&self, asn: Asn) -> usize {
        self.segments
            .iter()
            .flat_map(|s| s.asns.iter())
            .filter(|a| **a == asn)
            .count()
    }

    /// The first AS of the path if the path begins with an AS_SEQUENCE (after skipping
    /// confederation segments): the AS of the neighbour the route came from. `None` for an empty
    /// path or one beginning with an AS_SET (RFC 4271 §9.1.2.2 c, "neighborAS").
    pub fn neighbor_as(&self) -> Option<Asn> {
        let seg = self
            .segments
            .iter()
            .find(|s| !matches!(s.kind, SegmentKind::ConfedSequence | SegmentKind::ConfedSet))?;
        match seg.kind {
            SegmentKind::Sequence => seg.asns.first().copied(),
            _ => None,
        }
    }

    /// The leftmost AS on the wire, whatever its segment type (RFC 7606 §7.2 first-AS check).
    pub fn first_asn(&self) -> Option<Asn> {
        self.segments.first().and_then(|s| s.asns.first()).copied()
    }

    /// Prepend `asn` `times` times, as done when advertising to an eBGP peer (RFC 4271 §5.1.2).
    pub fn prepend(&mut self, asn: Asn, times: usize) {
        for _ in 0..times {
            match self.segments.first_mut() {
                Some(seg)
                    if seg.kind == SegmentKind::Sequence && seg.asns.len() < MAX_SEGMENT_LEN =>
                {
                    seg.asns.insert(0, asn);
                }
                _ => self.segments.insert(
                    0,
                    AsSegment {
                        kind: SegmentKind::Sequence,
                        asns: vec![asn],
                    },
                ),
            }
        }
    }
}

impl fmt::Display for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let list = seg
                .asns
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            match seg.kind {
                SegmentKind::Sequence => f.write_str(&list)?,
                SegmentKind::Set => write!(f, "{{{list}}}")?,
                SegmentKind::ConfedSequence => write!(f, "({list})")?,
                SegmentKind::ConfedSet => write!(f, "[{list}]")?,
            }
        }
        Ok(())
    }
}

/// A standard community (RFC 1997), written `asn:value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT: not advertised to eBGP peers (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE: not advertised to any peer (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED: treated as NO_EXPORT without confederations (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// LLGR_STALE: kept by a long-lived graceful restart helper (RFC 9494 §4.3).
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    /// NO_LLGR: must not be kept as long-lived stale (RFC 9494 §4.3).
    pub const NO_LLGR: Community = Community(0xFFFF_0007);

    /// Build from the two 16-bit halves.
    pub fn new(high: u16, low: u16) -> Self {
        Community((u32::from(high) << 16) | u32::from(low))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xFFFF)
    }
}

/// Error parsing a community from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to parse community {0:?}: expected a:b (or a:b:c for large communities)")]
pub struct CommunityParseError(pub String);

impl FromStr for Community {
    type Err = CommunityParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CommunityParseError(s.to_string());
        match s {
            "no-export" => return Ok(Community::NO_EXPORT),
            "no-advertise" => return Ok(Community::NO_ADVERTISE),
            _ => {}
        }
        let (a, b) = s.split_once(':').ok_or_else(err)?;
        let a: u16 = a.parse().map_err(|_| err())?;
        let b: u16 = b.parse().map_err(|_| err())?;
        Ok(Community::new(a, b))
    }
}

impl Serialize for Community {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Community {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A large community (RFC 8092), written `global:local1:local2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LargeCommunity {
    /// Global administrator (an ASN).
    pub global: u32,
    /// First local data part.
    pub local1: u32,
    /// Second local data part.
    pub local2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

impl FromStr for LargeCommunity {
    type Err = CommunityParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CommunityParseError(s.to_string());
        let mut it = s.split(':').map(|p| p.parse::<u32>().map_err(|_| err()));
        let global = it.next().ok_or_else(err)??;
        let local1 = it.next().ok_or_else(err)??;
        let local2 = it.next().ok_or_else(err)??;
        if it.next().is_some() {
            return Err(err());
        }
        Ok(LargeCommunity {
            global,
            local1,
            local2,
        })
    }
}

impl Serialize for LargeCommunity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LargeCommunity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An extended community (RFC 4360), kept as its 8 raw octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExtendedCommunity(pub [u8; 8]);

/// AGGREGATOR (RFC 4271 §5.1.7), always with a 4-octet AS in the RIB (RFC 6793).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Aggregator {
    /// AS of the aggregating speaker.
    pub asn: Asn,
    /// BGP Identifier of the aggregating speaker.
    pub address: Ipv4Addr,
}

/// A CLUSTER_ID (RFC 4456 §7), a 4-octet value written as a dotted quad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClusterId(pub Ipv4Addr);

impl From<RouterId> for ClusterId {
    fn from(id: RouterId) -> Self {
        ClusterId(id.0)
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An attribute the RIB does not interpret. Only optional transitive ones are kept and passed on
/// with the Partial bit set (RFC 4271 §5, §9.1.4 does not apply; §4.3 "Partial bit").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnknownAttr {
    /// Attribute flags octet as received.
    pub flags: u8,
    /// Attribute type code.
    pub code: u8,
    /// Attribute value.
    pub value: Vec<u8>,
}

/// The path attributes of one route, as the RIB sees them.
///
/// `next_hop == None` means "this speaker": used for locally originated routes, whose next hop is
/// filled in per peer on export (RFC 4271 §5.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PathAttrs {
    /// ORIGIN.
    pub origin: Origin,
    /// AS_PATH (4-octet, reconstructed from AS4_PATH by the codec when needed).
    pub as_path: AsPath,
    /// NEXT_HOP, or the global next hop of MP_REACH_NLRI for IPv6.
    pub next_hop: Option<IpAddr>,
    /// The link-local next hop of an IPv6 MP_REACH_NLRI, if one was given (RFC 2545 §3).
    pub next_hop_link_local: Option<Ipv6Addr>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF (iBGP only on the wire).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE present.
    pub atomic_aggregate: bool,
    /// AGGREGATOR.
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES.
    pub communities: Vec<Community>,
    /// LARGE_COMMUNITY.
    pub large_communities: Vec<LargeCommunity>,
    /// EXTENDED COMMUNITIES.
    pub extended_communities: Vec<ExtendedCommunity>,
    /// ORIGINATOR_ID (RFC 4456 §8).
    pub originator_id: Option<RouterId>,
    /// CLUSTER_LIST, leftmost = most recent reflector (RFC 4456 §8).
    pub cluster_list: Vec<ClusterId>,
    /// Optional transitive attributes passed through unchanged.
    pub unknown: Vec<UnknownAttr>,
}

impl PathAttrs {
    /// Attributes of a route originated by this speaker: ORIGIN IGP, empty AS_PATH, next hop self.
    pub fn local() -> Self {
        PathAttrs {
            origin: Origin::Igp,
            as_path: AsPath::empty(),
            next_hop: None,
            next_hop_link_local: None,
            med: None,
            local_pref: None,
            atomic_aggregate: false,
            aggregator: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
            extended_communities: Vec::new(),
            originator_id: None,
            cluster_list: Vec::new(),
            unknown: Vec::new(),
        }
    }

    /// Attributes of a learned route with the given AS path and next hop (a test and conversion
    /// helper; other attributes take their absent value).
    pub fn learned(as_path: AsPath, next_hop: IpAddr) -> Self {
        PathAttrs {
            as_path,
            next_hop: Some(next_hop),
            ..Self::local()
        }
    }

    /// Whether a standard community is attached.
    pub fn has_community(&self, c: Community) -> bool {
        self.communities.contains(&c)
    }
}

/// `serialize_with` helper for shared attributes (serde's `rc` feature is not enabled).
pub(crate) fn serialize_shared<S: serde::Serializer>(
    a: &Arc<PathAttrs>,
    s: S,
) -> Result<S::Ok, S::Error> {
    PathAttrs::serialize(a, s)
}

/// Interner for [`PathAttrs`]: equal attribute sets share one allocation.
///
/// Entries whose only owner is the store are dropped by [`AttrStore::collect_garbage`], which
/// the RIB calls when the store has doubled since the last collection (amortised O(1)).
#[derive(Debug, Default)]
pub struct AttrStore {
    set: HashSet<Arc<PathAttrs>>,
    size_after_gc: usize,
}

impl AttrStore {
    /// Empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared copy of `attrs`, allocating it on first sight.
    pub fn intern(&mut self, attrs: PathAttrs) -> Arc<PathAttrs> {
        if let Some(a) = self.set.get(&attrs) {
            return Arc::clone(a);
        }
        let a = Arc::new(attrs);
        self.set.insert(Arc::clone(&a));
        a
    }

    /// Number of distinct attribute sets held.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Drop attribute sets no route uses any more.
    pub fn collect_garbage(&mut self) {
        self.set.retain(|a| Arc::strong_count(a) > 1);
        self.size_after_gc = self.set.len();
    }

    /// Collect garbage if the store has grown enough since the last collection for it to pay.
    pub fn maybe_collect_garbage(&mut self) {
        if self.set.len() > 2 * self.size_after_gc + 64 {
            self.collect_garbage();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(asns: &[u32]) -> AsSegment {
        AsSegment {
            kind: SegmentKind::Sequence,
            asns: asns.iter().copied().map(Asn).collect(),
        }
    }

    #[test]
    fn as_set_counts_one_and_confed_counts_zero() {
        let path = AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentKind::ConfedSequence,
                    asns: vec![Asn(1), Asn(2)],
                },
                seq(&[10, 20]),
                AsSegment {
                    kind: SegmentKind::Set,
                    asns: vec![Asn(30), Asn(40), Asn(50)],
                },
            ],
        };
        assert_eq!(path.length(), 3);
        assert_eq!(path.neighbor_as(), Some(Asn(10)));
        assert_eq!(path.first_asn(), Some(Asn(1)));
        assert_eq!(path.to_string(), "(1 2) 10 20 {30 40 50}");
    }

    #[test]
    fn neighbor_as_of_set_first_path_is_none() {
        let path = AsPath {
            segments: vec![AsSegment {
                kind: SegmentKind::Set,
                asns: vec![Asn(1)],
            }],
        };
        assert_eq!(path.neighbor_as(), None);
        assert_eq!(AsPath::empty().neighbor_as(), None);
    }

    #[test]
    fn prepend_extends_leading_sequence_and_splits_at_255() {
        let mut p = AsPath::sequence([Asn(2)]);
        p.prepend(Asn(1), 1);
        assert_eq!(p.segments, vec![seq(&[1, 2])]);

        let mut long = AsPath::sequence((1000..1255).map(Asn));
        assert_eq!(long.segments.len(), 1);
        long.prepend(Asn(7), 2);
        assert_eq!(long.segments.len(), 2);
        assert_eq!(long.length(), 257);
        assert_eq!(long.first_asn(), Some(Asn(7)));
        assert_eq!(long.count(Asn(7)), 2);
    }

    #[test]
    fn interner_shares_equal_sets_and_collects_unused() {
        let mut store = AttrStore::new();
        let a = store.intern(PathAttrs::learned(
            AsPath::sequence([Asn(1)]),
            "10.0.0.1".parse().unwrap(),
        ));
        let b = store.intern(PathAttrs::learned(
            AsPath::sequence([Asn(1)]),
            "10.0.0.1".parse().unwrap(),
        ));
        let c = store.intern(PathAttrs::learned(
            AsPath::sequence([Asn(2)]),
            "10.0.0.1".parse().unwrap(),
        ));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(store.len(), 2);
        drop(c);
        store.collect_garbage();
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn community_text_round_trip() {
        let c: Community = "65000:100".parse().unwrap();
        assert_eq!(c, Community::new(65000, 100));
        assert_eq!(c.to_string(), "65000:100");
        assert!("65536:1".parse::<Community>().is_err());
        let l: LargeCommunity = "4200000000:1:2".parse().unwrap();
        assert_eq!(l.to_string(), "4200000000:1:2");
        assert!("1:2".parse::<LargeCommunity>().is_err());
    }
}
