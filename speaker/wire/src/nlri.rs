//! Prefix encoding of NLRI and withdrawn routes (RFC 4271 §4.3, RFC 4760 §5) with optional
//! ADD-PATH path identifiers (RFC 7911 §3).
//!
//! This is the hot path of UPDATE decoding: prefixes decode into caller-provided `Vec`s of small
//! `Copy` structs, with no allocation per prefix.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::buf::{Put, Reader};

/// One prefix with its ADD-PATH path identifier (present only when ADD-PATH is negotiated for
/// the family in that direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Nlri<P> {
    /// Path Identifier (RFC 7911 §3).
    pub path_id: Option<u32>,
    /// The prefix, with host bits cleared.
    pub prefix: P,
}

/// An IPv4 NLRI entry.
pub type Ipv4Nlri = Nlri<Ipv4Net>;
/// An IPv6 NLRI entry.
pub type Ipv6Nlri = Nlri<Ipv6Net>;

impl<P> Nlri<P> {
    /// A prefix without path identifier.
    pub const fn new(prefix: P) -> Self {
        Nlri {
            path_id: None,
            prefix,
        }
    }

    /// A prefix with a path identifier.
    pub const fn with_path_id(prefix: P, path_id: u32) -> Self {
        Nlri {
            path_id: Some(path_id),
            prefix,
        }
    }
}

impl From<Ipv4Net> for Nlri<Ipv4Net> {
    fn from(p: Ipv4Net) -> Self {
        Nlri::new(p)
    }
}

impl From<Ipv6Net> for Nlri<Ipv6Net> {
    fn from(p: Ipv6Net) -> Self {
        Nlri::new(p)
    }
}

/// Why a prefix list did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NlriError {
    /// A prefix length exceeds the address size.
    PrefixTooLong(u8),
    /// The last prefix (or its path id) runs past the end of the field.
    Overrun,
}

/// An address family whose prefixes can be carried as NLRI.
pub trait Prefix: Copy {
    /// Maximum prefix length.
    const MAX_LEN: u8;
    /// Builds the prefix from up to `MAX_LEN / 8` address octets, clearing host bits.
    fn from_bytes(bytes: &[u8], len: u8) -> Option<Self>;
    /// Prefix length.
    fn bits(&self) -> u8;
    /// Appends the significant address octets.
    fn put_bytes(&self, out: &mut Vec<u8>);
}

impl Prefix for Ipv4Net {
    const MAX_LEN: u8 = 32;
    #[inline]
    fn from_bytes(bytes: &[u8], len: u8) -> Option<Self> {
        // Matching on the 0..=4 octets avoids a variable-length memcpy per prefix, which
        // dominated the profile of 500-prefix UPDATEs.
        let v = match *bytes {
            [] => 0,
            [a] => u32::from_be_bytes([a, 0, 0, 0]),
            [a, b] => u32::from_be_bytes([a, b, 0, 0]),
            [a, b, c] => u32::from_be_bytes([a, b, c, 0]),
            [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
            _ => return None,
        };
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        Ipv4Net::new(Ipv4Addr::from(v & mask), len).ok()
    }
    #[inline]
    fn bits(&self) -> u8 {
        self.prefix_len()
    }
    #[inline]
    fn put_bytes(&self, out: &mut Vec<u8>) {
        let [a, b, c, d] = self.network().octets();
        match self.prefix_len().div_ceil(8) {
            0 => {}
            1 => out.push(a),
            2 => out.extend_from_slice(&[a, b]),
            3 => out.extend_from_slice(&[a, b, c]),
            _ => out.extend_from_slice(&[a, b, c, d]),
        }
    }
}

impl Prefix for Ipv6Net {
    const MAX_LEN: u8 = 128;
    #[inline]
    fn from_bytes(bytes: &[u8], len: u8) -> Option<Self> {
        if bytes.len() > 16 {
            return None;
        }
        let mut a = [0u8; 16];
        for (d, s) in a.iter_mut().zip(bytes) {
            *d = *s;
        }
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        let addr = Ipv6Addr::from(u128::from_be_bytes(a) & mask);
        Ipv6Net::new(addr, len).ok()
    }
    fn bits(&self) -> u8 {
        self.prefix_len()
    }
    fn put_bytes(&self, out: &mut Vec<u8>) {
        let n = usize::from(self.prefix_len().div_ceil(8));
        out.extend_from_slice(self.network().octets().get(..n).unwrap_or_default());
    }
}

/// Decodes a prefix list (`add_path`: each entry starts with a 4-octet path id), appending to
/// `out`.
pub fn decode_prefixes<P: Prefix>(
    buf: &[u8],
    add_path: bool,
    out: &mut Vec<Nlri<P>>,
) -> Result<(), NlriError> {
    let mut r = Reader::new(buf);
    // Most IPv4 entries are 4 octets (a /24), so this usually reserves once.
    out.reserve(buf.len() / if add_path { 8 } else { 4 });
    while !r.is_empty() {
        let path_id = if add_path {
            Some(r.u32().ok_or(NlriError::Overrun)?)
        } else {
            None
        };
        let len = r.u8().ok_or(NlriError::Overrun)?;
        if len > P::MAX_LEN {
            return Err(NlriError::PrefixTooLong(len));
        }
        let bytes = r
            .take(usize::from(len.div_ceil(8)))
            .ok_or(NlriError::Overrun)?;
        let prefix = P::from_bytes(bytes, len).ok_or(NlriError::PrefixTooLong(len))?;
        out.push(Nlri { path_id, prefix });
    }
    Ok(())
}

/// Appends a prefix list; path ids are written (0 when absent) only if `add_path`.
pub fn encode_prefixes<P: Prefix>(list: &[Nlri<P>], add_path: bool, out: &mut Vec<u8>) {
    // Worst case per entry, so the loop never reallocates.
    let per = 1 + usize::from(P::MAX_LEN / 8) + if add_path { 4 } else { 0 };
    out.reserve(list.len() * per);
    for n in list {
        encode_prefix(n, add_path, out);
    }
}

/// Appends one prefix.
#[inline]
pub fn encode_prefix<P: Prefix>(n: &Nlri<P>, add_path: bool, out: &mut Vec<u8>) {
    if add_path {
        out.put_u32(n.path_id.unwrap_or(0));
    }
    out.push(n.prefix.bits());
    n.prefix.put_bytes(out);
}

/// Encoded size of one prefix.
pub fn encoded_len<P: Prefix>(n: &Nlri<P>, add_path: bool) -> usize {
    usize::from(n.prefix.bits().div_ceil(8)) + 1 + if add_path { 4 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Nlri {
        Nlri::new(s.parse().unwrap())
    }

    #[test]
    fn ipv4_prefixes_round_trip() {
        let list = vec![
            v4("0.0.0.0/0"),
            v4("10.0.0.0/8"),
            v4("192.168.1.0/24"),
            v4("1.2.3.4/32"),
            v4("10.128.0.0/9"),
        ];
        let mut b = Vec::new();
        encode_prefixes(&list, false, &mut b);
        assert_eq!(b, [0, 8, 10, 24, 192, 168, 1, 32, 1, 2, 3, 4, 9, 10, 128]);
        let mut back = Vec::new();
        decode_prefixes::<Ipv4Net>(&b, false, &mut back).unwrap();
        assert_eq!(back, list);
    }

    #[test]
    fn add_path_ids_round_trip() {
        let list = vec![Nlri::with_path_id(
            "2001:db8::/32".parse::<Ipv6Net>().unwrap(),
            7,
        )];
        let mut b = Vec::new();
        encode_prefixes(&list, true, &mut b);
        assert_eq!(b, [0, 0, 0, 7, 32, 0x20, 0x01, 0x0d, 0xb8]);
        let mut back = Vec::new();
        decode_prefixes::<Ipv6Net>(&b, true, &mut back).unwrap();
        assert_eq!(back, list);
    }

    #[test]
    fn host_bits_are_cleared() {
        let mut back = Vec::new();
        decode_prefixes::<Ipv4Net>(&[23, 10, 0, 0xff], false, &mut back).unwrap();
        assert_eq!(back, vec![v4("10.0.254.0/23")]);
    }

    #[test]
    fn errors_are_detected() {
        let mut out: Vec<Ipv4Nlri> = Vec::new();
        assert_eq!(
            decode_prefixes(&[33, 1, 2, 3, 4, 5], false, &mut out),
            Err(NlriError::PrefixTooLong(33))
        );
        assert_eq!(
            decode_prefixes(&[24, 1, 2], false, &mut out),
            Err(NlriError::Overrun)
        );
        assert_eq!(
            decode_prefixes(&[0, 0, 1], true, &mut out),
            Err(NlriError::Overrun)
        );
        let mut out6: Vec<Ipv6Nlri> = Vec::new();
        assert_eq!(
            decode_prefixes(&[129], false, &mut out6),
            Err(NlriError::PrefixTooLong(129))
        );
    }
}
