//! One direction of a TCP stream put back in order, by sequence number.
//!
//! Deliberately simple, for reading captures (not for a TCP stack): data at or before the next
//! expected byte is delivered (its already-delivered part dropped, so retransmissions and
//! overlaps are harmless and the first copy wins); data after it waits until the hole is filled.
//! A hole that never fills (a frame lost to the capture) can be skipped explicitly.
//!
//! Offsets are 64-bit and relative to the first byte of the stream, computed from the signed
//! 32-bit distance to the next expected sequence number, so streams longer than 4 GiB and
//! sequence wrap-around work as long as segments arrive within 2 GiB of where the stream is.

use std::collections::BTreeMap;
use std::time::Duration;

/// Counters of one direction's reassembly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Payload bytes delivered in order.
    pub delivered: u64,
    /// Payload bytes received again after being delivered (retransmissions, overlaps).
    pub duplicate_bytes: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order: u64,
    /// Bytes given up on by [`Reassembler::skip_hole`].
    pub skipped: u64,
}

/// Reassembles one direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of relative offset 0 (ISN + 1, or the first seen segment's).
    base: Option<u32>,
    /// Relative offset of the next byte to deliver.
    next: u64,
    /// Segments beyond a hole, by relative offset, with their capture time.
    pending: BTreeMap<u64, (Duration, Vec<u8>)>,
    stats: ReassemblyStats,
}

impl Reassembler {
    pub fn new() -> Self {
        Reassembler::default()
    }

    /// Whether the stream started with its SYN (or at least some segment was seen).
    pub fn started(&self) -> bool {
        self.base.is_some()
    }

    /// The sequence number the next in-order byte will carry.
    pub fn next_seq(&self) -> Option<u32> {
        // Truncation is intended: sequence numbers are offsets modulo 2^32.
        self.base.map(|b| b.wrapping_add(self.next as u32))
    }

    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// Bytes waiting behind a hole.
    pub fn pending_bytes(&self) -> usize {
        self.pending.values().map(|(_, d)| d.len()).sum()
    }

    /// The hole before the first waiting segment: (stream offset, length).
    pub fn hole(&self) -> Option<(u64, u64)> {
        self.pending
            .keys()
            .next()
            .map(|&off| (self.next, off.saturating_sub(self.next)))
    }

    /// Feeds one segment. `syn` segments set the stream's start (their sequence number is the
    /// ISN, data follows at ISN + 1). In-order bytes are handed to `deliver` with the later of
    /// their own capture time and `ts` (the time the hole before them was filled).
    pub fn push(
        &mut self,
        seq: u32,
        syn: bool,
        ts: Duration,
        payload: &[u8],
        deliver: &mut impl FnMut(Duration, &[u8]),
    ) {
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        let base = match self.base {
            Some(b) => b,
            None => {
                if payload.is_empty() && !syn {
                    // A bare ACK (or FIN) before any data: it fixes no data offset yet.
                    return;
                }
                self.base = Some(data_seq);
                data_seq
            }
        };
        if payload.is_empty() {
            return;
        }
        let expected = base.wrapping_add(self.next as u32);
        // Signed distance from the next expected byte (RFC 9293 §3.4 comparisons are modulo 2^32).
        let dist = i64::from(data_seq.wrapping_sub(expected) as i32);
        let Some(off) = u64::try_from(self.next as i64 + dist).ok() else {
            // Entirely before the stream start: an old duplicate.
            self.stats.duplicate_bytes += payload.len() as u64;
            return;
        };
        let end = off + payload.len() as u64;
        if end <= self.next {
            self.stats.duplicate_bytes += payload.len() as u64;
            return;
        }
        if off > self.next {
            self.stats.out_of_order += 1;
            let slot = self.pending.entry(off).or_insert((ts, Vec::new()));
            if payload.len() > slot.1.len() {
                *slot = (ts, payload.to_vec());
            }
            return;
        }
        // off <= next < end: deliver the new part directly, then whatever it unblocks.
        let skip = usize::try_from(self.next - off).unwrap_or(usize::MAX);
        self.stats.duplicate_bytes += skip as u64;
        if let Some(fresh) = payload.get(skip..) {
            self.deliver_bytes(ts, fresh, deliver);
        }
        self.drain_pending(ts, deliver);
    }

    /// Gives up on the current hole: moves to the first waiting segment and delivers from there.
    /// Returns the number of bytes skipped, or `None` when there is no hole.
    pub fn skip_hole(&mut self, deliver: &mut impl FnMut(Duration, &[u8])) -> Option<u64> {
        let (&first, _) = self.pending.first_key_value()?;
        let skipped = first.saturating_sub(self.next);
        self.stats.skipped += skipped;
        self.next = first;
        self.drain_pending(Duration::ZERO, deliver);
        Some(skipped)
    }

    fn deliver_bytes(
        &mut self,
        ts: Duration,
        bytes: &[u8],
        deliver: &mut impl FnMut(Duration, &[u8]),
    ) {
        if bytes.is_empty() {
            return;
        }
        self.next += bytes.len() as u64;
        self.stats.delivered += bytes.len() as u64;
        deliver(ts, bytes);
    }

    fn drain_pending(&mut self, filled_at: Duration, deliver: &mut impl FnMut(Duration, &[u8])) {
        while let Some(entry) = self.pending.first_entry() {
            let off = *entry.key();
            if off > self.next {
                break;
            }
            let (seg_ts, data) = entry.remove();
            let end = off + data.len() as u64;
            if end <= self.next {
                self.stats.duplicate_bytes += data.len() as u64;
                continue;
            }
            let skip = usize::try_from(self.next - off).unwrap_or(usize::MAX);
            self.stats.duplicate_bytes += skip as u64;
            if let Some(fresh) = data.get(skip..) {
                self.deliver_bytes(seg_ts.max(filled_at), fresh, deliver);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// Feeds (seq, syn, ts, data) segments and returns the delivered stream and per-chunk times.
    fn run(r: &mut Reassembler, segs: &[(u32, bool, u64, &[u8])]) -> (Vec<u8>, Vec<Duration>) {
        let mut out = Vec::new();
        let mut times = Vec::new();
        for &(seq, syn, ms, data) in segs {
            r.push(seq, syn, t(ms), data, &mut |ts, b| {
                out.extend_from_slice(b);
                times.push(ts);
            });
        }
        (out, times)
    }

    #[test]
    fn delivers_in_order_data_after_the_syn() {
        let mut r = Reassembler::new();
        let (out, _) = run(
            &mut r,
            &[
                (100, true, 0, b""),
                (101, false, 1, b"abc"),
                (104, false, 2, b"de"),
            ],
        );
        assert_eq!(out, b"abcde");
        assert_eq!(r.next_seq(), Some(106));
        assert_eq!(r.pending_bytes(), 0);
    }

    #[test]
    fn reorders_out_of_order_segments_and_times_them_at_the_fill() {
        let mut r = Reassembler::new();
        let (out, times) = run(
            &mut r,
            &[
                (0, true, 0, b""),
                (4, false, 1, b"def"),
                (7, false, 2, b"gh"),
                (1, false, 3, b"abc"),
            ],
        );
        assert_eq!(out, b"abcdefgh");
        // The early segments become deliverable only when the hole is filled at t=3.
        assert_eq!(times, vec![t(3), t(3), t(3)]);
        assert_eq!(r.stats().out_of_order, 2);
    }

    #[test]
    fn drops_retransmissions_and_trims_overlaps() {
        let mut r = Reassembler::new();
        let (out, _) = run(
            &mut r,
            &[
                (10, true, 0, b""),
                (11, false, 1, b"abcd"),
                (11, false, 2, b"abcd"),  // full retransmission
                (13, false, 3, b"cdefg"), // overlaps 2 delivered bytes
                (16, false, 4, b"fgh"),   // overlaps again
            ],
        );
        assert_eq!(out, b"abcdefgh");
        assert_eq!(r.stats().duplicate_bytes, 4 + 2 + 2);
    }

    #[test]
    fn overlapping_pending_segments_are_trimmed_on_delivery() {
        let mut r = Reassembler::new();
        let (out, _) = run(
            &mut r,
            &[
                (0, true, 0, b""),
                (5, false, 1, b"efgh"),
                (3, false, 2, b"cdef"),
                (1, false, 3, b"ab"),
            ],
        );
        assert_eq!(out, b"abcdefgh");
    }

    #[test]
    fn handles_sequence_wrap_around() {
        let mut r = Reassembler::new();
        let isn = u32::MAX - 2;
        let (out, _) = run(
            &mut r,
            &[
                (isn, true, 0, b""),
                (u32::MAX - 1, false, 1, b"ab"),
                (0, false, 2, b"cd"),
            ],
        );
        assert_eq!(out, b"abcd");
        assert_eq!(r.next_seq(), Some(2));
    }

    #[test]
    fn starts_mid_stream_without_a_syn() {
        let mut r = Reassembler::new();
        let (out, _) = run(
            &mut r,
            &[
                (5000, false, 0, b""),
                (5000, false, 1, b"xy"),
                (5002, false, 2, b"z"),
            ],
        );
        assert_eq!(out, b"xyz");
    }

    #[test]
    fn a_hole_holds_data_back_until_skipped() {
        let mut r = Reassembler::new();
        let (out, _) = run(
            &mut r,
            &[
                (0, true, 0, b""),
                (1, false, 1, b"ab"),
                (6, false, 2, b"fg"),
            ],
        );
        assert_eq!(out, b"ab");
        assert_eq!(r.hole(), Some((2, 3)));
        let mut rest = Vec::new();
        assert_eq!(r.skip_hole(&mut |_, b| rest.extend_from_slice(b)), Some(3));
        assert_eq!(rest, b"fg");
        assert_eq!(r.hole(), None);
        assert_eq!(r.stats().skipped, 3);
    }

    #[test]
    fn old_duplicates_before_the_start_are_ignored() {
        let mut r = Reassembler::new();
        let (out, _) = run(
            &mut r,
            &[
                (100, true, 0, b""),
                (90, false, 1, b"old"),
                (101, false, 2, b"new"),
            ],
        );
        assert_eq!(out, b"new");
    }
}
