//! The one way to wait in fabriclab: poll a probe until it says done or a deadline passes.
//!
//! A bare `sleep` hides *why* a test was slow or failed. Here every wait has a deadline, and a
//! timeout carries the probe's last observation (what it saw the last time it looked), so a
//! failure reads "timed out after 5s; last observation: r1t1 has 3 of 4 sessions Established"
//! instead of "assertion failed". This follows the FRR topotest rule "never sleep, poll with a
//! timeout" and munet's `wait_step`.
//!
//! The probe is always run at least once, and once more at (or just after) the deadline, so a
//! condition that became true during the last interval is never reported as a timeout.
//!
//! ```
//! use std::time::Duration;
//! use fabriclab::wait::{wait_until, Probe};
//!
//! let mut n = 0;
//! let got = wait_until(Duration::from_secs(1), Duration::from_millis(1), || {
//!     n += 1;
//!     if n >= 3 { Probe::Done(n) } else { Probe::Pending(format!("n = {n}")) }
//! });
//! assert_eq!(got.ok(), Some(3));
//! ```

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// What a probe saw when it looked once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe<T> {
    /// The condition holds; the wait ends with this value.
    Done(T),
    /// Not yet; the string describes what the probe saw (it becomes [`Timeout::last`]).
    Pending(String),
}

impl<T> Probe<T> {
    /// Shorthand for [`Probe::Pending`] from anything displayable.
    pub fn pending(observation: impl fmt::Display) -> Self {
        Probe::Pending(observation.to_string())
    }

    /// `Ok(v)` is done, `Err(e)` is pending with `e` as the observation.
    pub fn from_result<E: fmt::Display>(r: Result<T, E>) -> Self {
        match r {
            Ok(v) => Probe::Done(v),
            Err(e) => Probe::Pending(e.to_string()),
        }
    }
}

/// When to give up: an absolute instant. Built from a [`Duration`] (from now) or an [`Instant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(pub Instant);

impl Deadline {
    /// A deadline `d` from now.
    pub fn after(d: Duration) -> Self {
        Deadline(Instant::now() + d)
    }

    /// Time left before the deadline (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.0
    }
}

impl From<Duration> for Deadline {
    fn from(d: Duration) -> Self {
        Deadline::after(d)
    }
}

impl From<Instant> for Deadline {
    fn from(i: Instant) -> Self {
        Deadline(i)
    }
}

/// A wait that ran out of time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {waited:.2?} ({probes} probes); last observation: {last}")]
pub struct Timeout {
    /// How long the wait lasted.
    pub waited: Duration,
    /// How many times the probe ran.
    pub probes: u32,
    /// The probe's last observation.
    pub last: String,
}

/// Polls `probe` every `interval` until it returns [`Probe::Done`] or `deadline` passes.
///
/// Blocks the calling thread; from async code use [`wait_until_async`].
pub fn wait_until<T>(
    deadline: impl Into<Deadline>,
    interval: Duration,
    mut probe: impl FnMut() -> Probe<T>,
) -> Result<T, Timeout> {
    let start = Instant::now();
    let deadline = deadline.into();
    let mut probes = 0u32;
    loop {
        probes = probes.saturating_add(1);
        let last = match probe() {
            Probe::Done(v) => return Ok(v),
            Probe::Pending(last) => last,
        };
        if deadline.passed() {
            return Err(Timeout {
                waited: start.elapsed(),
                probes,
                last,
            });
        }
        // The only sleep in the project: bounded by the deadline so the final probe runs on time.
        std::thread::sleep(interval.min(deadline.remaining()));
    }
}

/// Async [`wait_until`]: `probe` returns a future; sleeps with `tokio::time::sleep`.
pub async fn wait_until_async<T, F, Fut>(
    deadline: impl Into<Deadline>,
    interval: Duration,
    mut probe: F,
) -> Result<T, Timeout>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe<T>>,
{
    let start = Instant::now();
    let deadline = deadline.into();
    let mut probes = 0u32;
    loop {
        probes = probes.saturating_add(1);
        let last = match probe().await {
            Probe::Done(v) => return Ok(v),
            Probe::Pending(last) => last,
        };
        if deadline.passed() {
            return Err(Timeout {
                waited: start.elapsed(),
                probes,
                last,
            });
        }
        tokio::time::sleep(interval.min(deadline.remaining())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_on_first_probe_returns_value_without_waiting() {
        let start = Instant::now();
        let r = wait_until(Duration::from_secs(5), Duration::from_secs(1), || {
            Probe::Done(7)
        });
        assert_eq!(r, Ok(7));
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn timeout_reports_last_observation_and_probe_count() {
        let mut n = 0;
        let r: Result<(), _> =
            wait_until(Duration::from_millis(30), Duration::from_millis(5), || {
                n += 1;
                Probe::pending(format!("seen {n}"))
            });
        let t = r.err().unwrap_or_else(|| panic!("expected a timeout"));
        assert_eq!(t.last, format!("seen {n}"));
        assert_eq!(t.probes, n);
        assert!(
            n >= 2,
            "probed at least at start and at the deadline, got {n}"
        );
        assert!(t.waited >= Duration::from_millis(30));
        assert!(t.to_string().contains("last observation: seen"));
    }

    #[test]
    fn zero_timeout_still_probes_once() {
        let mut n = 0;
        let r = wait_until(Duration::ZERO, Duration::from_millis(5), || {
            n += 1;
            Probe::<()>::pending("never")
        });
        assert!(r.is_err());
        assert_eq!(n, 1);
    }

    #[test]
    fn from_result_maps_err_to_observation() {
        assert_eq!(Probe::from_result(Ok::<_, String>(1)), Probe::Done(1));
        assert_eq!(
            Probe::<u8>::from_result(Err::<u8, _>("boom")),
            Probe::Pending("boom".to_string())
        );
    }

    #[test]
    fn async_variant_polls_until_done() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let mut n = 0;
        let r = rt.block_on(wait_until_async(
            Duration::from_secs(2),
            Duration::from_millis(1),
            || {
                n += 1;
                let v = n;
                async move {
                    if v >= 3 {
                        Probe::Done(v)
                    } else {
                        Probe::pending(v)
                    }
                }
            },
        ));
        assert_eq!(r, Ok(3));
    }
}
