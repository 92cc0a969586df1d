//! Deterministic timer jitter (RFC 4271 §10).
//!
//! RFC 4271 §10 asks that ConnectRetryTimer, KeepaliveTimer, MinASOriginationIntervalTimer and
//! MinRouteAdvertisementIntervalTimer be jittered by a random factor between 0.75 and 1.0 so that
//! many speakers do not synchronise. The generator lives inside the session state and is seeded
//! by whoever creates the session, so a test with a fixed seed sees the same durations every run.

use std::time::Duration;

/// A small SplitMix64 generator: not cryptographic, only spreads timer expiries.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator with the given seed.
    pub fn new(seed: u64) -> Self {
        Jitter { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `base` scaled by a factor drawn uniformly from 750/1000 ..= 1000/1000 (RFC 4271 §10).
    pub fn apply(&mut self, base: Duration) -> Duration {
        let permille = 750 + self.next_u64() % 251;
        // Millisecond resolution is plenty for BGP timers; u128 avoids any overflow.
        let ms = base.as_millis().saturating_mul(u128::from(permille)) / 1000;
        Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_three_quarters_and_one() {
        let mut j = Jitter::new(7);
        let base = Duration::from_secs(30);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..1000 {
            let d = j.apply(base);
            assert!(d >= Duration::from_millis(22_500) && d <= base, "{d:?}");
            seen_low |= d < Duration::from_millis(24_000);
            seen_high |= d > Duration::from_millis(29_000);
        }
        assert!(
            seen_low && seen_high,
            "jitter does not spread over its range"
        );
    }

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Jitter::new(42);
        let mut b = Jitter::new(42);
        let mut c = Jitter::new(43);
        let base = Duration::from_secs(10);
        let sa: Vec<_> = (0..8).map(|_| a.apply(base)).collect();
        let sb: Vec<_> = (0..8).map(|_| b.apply(base)).collect();
        let sc: Vec<_> = (0..8).map(|_| c.apply(base)).collect();
        assert_eq!(sa, sb);
        assert_ne!(sa, sc);
    }
}
