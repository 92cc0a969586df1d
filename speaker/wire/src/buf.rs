//! Checked big-endian reading and writing: the only place that slices input bytes.
//!
//! Every read returns `None` instead of panicking when the input is short, so decoders turn a
//! truncated field into the NOTIFICATION the RFC names for it.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A cursor over untrusted input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The unread bytes, without consuming them.
    pub(crate) fn peek_rest(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.buf.split_at_checked(n)?;
        self.buf = tail;
        Some(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.buf.split_first_chunk::<N>()?;
        self.buf = tail;
        Some(*head)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (first, tail) = self.buf.split_first()?;
        self.buf = tail;
        Some(*first)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn u24(&mut self) -> Option<u32> {
        self.array::<3>()
            .map(|[a, b, c]| u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub(crate) fn ipv4(&mut self) -> Option<Ipv4Addr> {
        self.array::<4>().map(Ipv4Addr::from)
    }

    pub(crate) fn ipv6(&mut self) -> Option<Ipv6Addr> {
        self.array::<16>().map(Ipv6Addr::from)
    }
}

/// Appends big-endian values to an output buffer.
pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u24(&mut self, v: u32);
    fn put_u32(&mut self, v: u32);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u24(&mut self, v: u32) {
        let [_, a, b, c] = v.to_be_bytes();
        self.extend_from_slice(&[a, b, c]);
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
}

/// Writes a placeholder 2-octet length at the current end of `out`; returns its position.
pub(crate) fn reserve_u16(out: &mut Vec<u8>) -> usize {
    let pos = out.len();
    out.extend_from_slice(&[0, 0]);
    pos
}

/// Fills a length reserved with [`reserve_u16`] with the number of bytes written after it.
///
/// Returns `false` when that number does not fit in 16 bits.
pub(crate) fn patch_u16_len(out: &mut [u8], pos: usize) -> bool {
    let len = out.len().saturating_sub(pos + 2);
    let Ok(len) = u16::try_from(len) else {
        return false;
    };
    match out.get_mut(pos..pos + 2) {
        Some(slot) => {
            slot.copy_from_slice(&len.to_be_bytes());
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_never_reads_past_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Some(0x0102));
        assert_eq!(r.u16(), None);
        assert_eq!(r.u8(), Some(3));
        assert_eq!(r.u8(), None);
        assert_eq!(r.take(1), None);
        assert_eq!(r.take(0), Some(&[][..]));
    }

    #[test]
    fn u24_round_trips() {
        let mut v = Vec::new();
        v.put_u24(0x00ab_cdef);
        assert_eq!(v, [0xab, 0xcd, 0xef]);
        assert_eq!(Reader::new(&v).u24(), Some(0x00ab_cdef));
    }

    #[test]
    fn patch_len_counts_bytes_after_slot() {
        let mut v = vec![9];
        let pos = reserve_u16(&mut v);
        v.extend_from_slice(&[1, 2, 3]);
        assert!(patch_u16_len(&mut v, pos));
        assert_eq!(v, [9, 0, 3, 1, 2, 3]);
    }
}
