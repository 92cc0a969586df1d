//! AS_PATH and AS4_PATH (RFC 4271 §4.3, §5.1.2; RFC 5065 confederation segments; RFC 6793
//! 2-/4-octet encodings and the AS4_PATH reconstruction of §4.2.3).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::buf::{Put, Reader};
use crate::types::Asn;

/// Path segment type (RFC 4271 §4.3, RFC 5065 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SegmentType {
    /// 1: AS_SET (unordered).
    Set,
    /// 2: AS_SEQUENCE (ordered, nearest AS first).
    Sequence,
    /// 3: AS_CONFED_SEQUENCE.
    ConfedSequence,
    /// 4: AS_CONFED_SET.
    ConfedSet,
}

impl SegmentType {
    /// Wire value.
    pub fn code(self) -> u8 {
        match self {
            SegmentType::Set => 1,
            SegmentType::Sequence => 2,
            SegmentType::ConfedSequence => 3,
            SegmentType::ConfedSet => 4,
        }
    }

    /// From the wire value; `None` for unassigned types (a malformed AS_PATH, RFC 7606 §7.2).
    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => SegmentType::Set,
            2 => SegmentType::Sequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            _ => return None,
        })
    }

    fn is_confed(self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

/// One path segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Segment {
    /// Segment type.
    pub kind: SegmentType,
    /// AS numbers, nearest first for sequences.
    pub asns: Vec<Asn>,
}

/// An AS path: a list of segments. The empty path is valid (locally originated, iBGP).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct AsPath {
    /// Segments, nearest first.
    pub segments: Vec<Segment>,
}

/// Why an AS path did not parse (all map to 3/11 Malformed AS_PATH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsPathError {
    /// Segment type not 1..=4.
    UnknownSegmentType(u8),
    /// A segment with zero ASNs (RFC 7606 §7.2).
    EmptySegment,
    /// A segment runs past the end of the attribute.
    Overrun,
}

impl AsPath {
    /// An AS path made of one AS_SEQUENCE (empty when `asns` is empty).
    pub fn from_sequence(asns: impl IntoIterator<Item = Asn>) -> Self {
        let asns: Vec<Asn> = asns.into_iter().collect();
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![Segment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// Whether there are no segments.
    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.asns.is_empty())
    }

    /// Path length for route selection (RFC 4271 §9.1.2.2 a): an AS_SET counts 1, confederation
    /// segments count 0 (RFC 5065 §5.3).
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
            })
            .sum()
    }

    /// Whether `asn` appears anywhere in the path (loop detection, RFC 4271 §9.1.2).
    pub fn contains(&self, asn: Asn) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// How many times `asn` appears (for allowas-in style policies).
    pub fn count(&self, asn: Asn) -> usize {
        self.segments
            .iter()
            .map(|s| s.asns.iter().filter(|&&a| a == asn).count())
            .sum()
    }

    /// The first AS of a leading AS_SEQUENCE: the neighbouring AS (RFC 4271 §9.1.2.2 c,
    /// RFC 7606 §7.2 "first AS" check).
    pub fn first_asn(&self) -> Option<Asn> {
        let first = self.segments.first()?;
        match first.kind {
            SegmentType::Sequence => first.asns.first().copied(),
            _ => None,
        }
    }

    /// The originating AS: last AS of a trailing AS_SEQUENCE.
    pub fn origin_asn(&self) -> Option<Asn> {
        let last = self.segments.last()?;
        match last.kind {
            SegmentType::Sequence => last.asns.last().copied(),
            _ => None,
        }
    }

    /// Prepends `asn` the way RFC 4271 §5.1.2 requires when advertising to an external peer.
    pub fn prepend(&mut self, asn: Asn) {
        match self.segments.first_mut() {
            Some(s) if s.kind == SegmentType::Sequence && s.asns.len() < 255 => {
                s.asns.insert(0, asn)
            }
            _ => self.segments.insert(
                0,
                Segment {
                    kind: SegmentType::Sequence,
                    asns: vec![asn],
                },
            ),
        }
    }

    /// Whether every AS fits in 2 octets (no AS4_PATH needed towards an old speaker).
    pub fn is_two_octet(&self) -> bool {
        self.segments
            .iter()
            .all(|s| s.asns.iter().all(|a| a.is_two_octet()))
    }

    /// Decodes an AS_PATH/AS4_PATH value with 2- or 4-octet AS numbers.
    pub fn decode(value: &[u8], four_octet: bool) -> Result<AsPath, AsPathError> {
        let mut r = Reader::new(value);
        let mut segments = Vec::with_capacity(1);
        while !r.is_empty() {
            let ty = r.u8().ok_or(AsPathError::Overrun)?;
            let kind = SegmentType::from_code(ty).ok_or(AsPathError::UnknownSegmentType(ty))?;
            let n = r.u8().ok_or(AsPathError::Overrun)?;
            if n == 0 {
                return Err(AsPathError::EmptySegment);
            }
            let width = if four_octet { 4 } else { 2 };
            let raw = r.take(usize::from(n) * width).ok_or(AsPathError::Overrun)?;
            let asns = if four_octet {
                raw.as_chunks::<4>()
                    .0
                    .iter()
                    .map(|c| Asn(u32::from_be_bytes(*c)))
                    .collect()
            } else {
                raw.as_chunks::<2>()
                    .0
                    .iter()
                    .map(|c| Asn(u32::from(u16::from_be_bytes(*c))))
                    .collect()
            };
            segments.push(Segment { kind, asns });
        }
        Ok(AsPath { segments })
    }

    /// Appends the value with 4-octet ASNs, or 2-octet ones with AS_TRANS substituted for ASNs
    /// that do not fit (RFC 6793 §4.2.2). Segments longer than 255 are split; empty ones are
    /// skipped.
    pub fn encode(&self, four_octet: bool, out: &mut Vec<u8>) {
        self.encode_filtered(four_octet, false, out);
    }

    /// Like [`AsPath::encode`], optionally leaving out confederation segments (AS4_PATH never
    /// carries them, RFC 6793 §3).
    pub(crate) fn encode_filtered(&self, four_octet: bool, skip_confed: bool, out: &mut Vec<u8>) {
        for s in &self.segments {
            if skip_confed && s.kind.is_confed() {
                continue;
            }
            for chunk in s.asns.chunks(255) {
                out.push(s.kind.code());
                // `chunks(255)` bounds the length.
                out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
                for a in chunk {
                    if four_octet {
                        out.put_u32(a.0);
                    } else {
                        out.put_u16(u16::try_from(a.0).unwrap_or(Asn::TRANS.0 as u16));
                    }
                }
            }
        }
    }

    /// Rebuilds the true path from a 2-octet AS_PATH and an AS4_PATH (RFC 6793 §4.2.3): when
    /// AS_PATH has fewer ASNs than AS4_PATH the latter is ignored; otherwise the leading
    /// AS_PATH entries beyond AS4_PATH's length are kept and AS4_PATH appended.
    pub fn merge_as4(&self, as4: &AsPath) -> AsPath {
        let n = self.path_len();
        let m = as4.path_len();
        if n < m {
            return self.clone();
        }
        let mut keep = n - m;
        let mut segments: Vec<Segment> = Vec::new();
        for s in &self.segments {
            if s.kind.is_confed() {
                // Confederation segments are not counted and precede the rest; keep them.
                segments.push(s.clone());
                continue;
            }
            if keep == 0 {
                break;
            }
            match s.kind {
                SegmentType::Set => {
                    segments.push(s.clone());
                    keep -= 1;
                }
                _ => {
                    let take = keep.min(s.asns.len());
                    segments.push(Segment {
                        kind: s.kind,
                        asns: s.asns.iter().take(take).copied().collect(),
                    });
                    keep -= take;
                }
            }
        }
        // Only the seam between the kept AS_PATH part and AS4_PATH is joined, so a path that
        // was split into several sequences by its sender stays split.
        let seam = segments.len();
        for s in &as4.segments {
            let at_seam = segments.len() == seam && seam > 0;
            match (segments.last_mut(), s.kind) {
                (Some(last), SegmentType::Sequence)
                    if at_seam
                        && last.kind == SegmentType::Sequence
                        && last.asns.len() + s.asns.len() <= 255 =>
                {
                    last.asns.extend_from_slice(&s.asns)
                }
                _ => segments.push(s.clone()),
            }
        }
        AsPath { segments }
    }

    /// Whether the path has confederation segments (not allowed in AS4_PATH, RFC 6793 §6).
    pub fn has_confed(&self) -> bool {
        self.segments.iter().any(|s| s.kind.is_confed())
    }
}

impl fmt::Display for AsPath {
    /// `65001 65002 {65003 65004} (65010)` like BIRD/FRR print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let (open, close) = match s.kind {
                SegmentType::Sequence => ("", ""),
                SegmentType::Set => ("{", "}"),
                SegmentType::ConfedSequence => ("(", ")"),
                SegmentType::ConfedSet => ("[", "]"),
            };
            f.write_str(open)?;
            for (i, a) in s.asns.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(v: &[u32]) -> Segment {
        Segment {
            kind: SegmentType::Sequence,
            asns: v.iter().map(|&a| Asn(a)).collect(),
        }
    }

    #[test]
    fn four_and_two_octet_round_trip() {
        let p = AsPath {
            segments: vec![
                seq(&[65001, 65002]),
                Segment {
                    kind: SegmentType::Set,
                    asns: vec![Asn(1), Asn(2)],
                },
            ],
        };
        for four in [true, false] {
            let mut b = Vec::new();
            p.encode(four, &mut b);
            assert_eq!(AsPath::decode(&b, four).unwrap(), p);
        }
        let mut b = Vec::new();
        p.encode(false, &mut b);
        assert_eq!(b, [2, 2, 0xfd, 0xe9, 0xfd, 0xea, 1, 2, 0, 1, 0, 2]);
    }

    #[test]
    fn two_octet_encoding_substitutes_as_trans() {
        let p = AsPath::from_sequence([Asn(4_200_000_000), Asn(65001)]);
        let mut b = Vec::new();
        p.encode(false, &mut b);
        assert_eq!(b, [2, 2, 0x5b, 0xa0, 0xfd, 0xe9]);
    }

    #[test]
    fn long_segments_split() {
        let p = AsPath::from_sequence((0..300).map(Asn));
        let mut b = Vec::new();
        p.encode(true, &mut b);
        let back = AsPath::decode(&b, true).unwrap();
        assert_eq!(back.segments.len(), 2);
        assert_eq!(back.path_len(), 300);
    }

    #[test]
    fn malformed_paths_are_rejected() {
        assert_eq!(
            AsPath::decode(&[2, 0], true),
            Err(AsPathError::EmptySegment)
        );
        assert_eq!(
            AsPath::decode(&[5, 1, 0, 1], false),
            Err(AsPathError::UnknownSegmentType(5))
        );
        assert_eq!(
            AsPath::decode(&[2, 2, 0, 1], false),
            Err(AsPathError::Overrun)
        );
        assert_eq!(AsPath::decode(&[2], false), Err(AsPathError::Overrun));
        assert_eq!(AsPath::decode(&[], false), Ok(AsPath::default()));
    }

    #[test]
    fn as4_merge_follows_rfc6793() {
        // AS_PATH: 65001 23456 23456; AS4_PATH: 4200000001 4200000002.
        let two = AsPath::from_sequence([Asn(65001), Asn::TRANS, Asn::TRANS]);
        let four = AsPath::from_sequence([Asn(4_200_000_001), Asn(4_200_000_002)]);
        assert_eq!(
            two.merge_as4(&four),
            AsPath::from_sequence([Asn(65001), Asn(4_200_000_001), Asn(4_200_000_002)])
        );
        // AS4_PATH longer than AS_PATH: ignored.
        let short = AsPath::from_sequence([Asn::TRANS]);
        assert_eq!(short.merge_as4(&four), short);
    }

    #[test]
    fn prepend_and_queries() {
        let mut p = AsPath::default();
        p.prepend(Asn(2));
        p.prepend(Asn(1));
        assert_eq!(p, AsPath::from_sequence([Asn(1), Asn(2)]));
        assert_eq!(p.first_asn(), Some(Asn(1)));
        assert_eq!(p.origin_asn(), Some(Asn(2)));
        assert!(p.contains(Asn(2)));
        assert_eq!(p.to_string(), "1 2");
    }
}
