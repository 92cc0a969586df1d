//! A [`Fib`] wrapper that remembers which changes the kernel refused, for the control socket's
//! `fib` request. What is installed is what the RIB wants (`Rib::fib_route`) minus these
//! failures (and minus what the worker has not applied yet, `FibSender::pending`): keeping a
//! copy of a million installed routes here would double the speaker's memory for a view.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::IpNet;

use crate::fib::api::{ApplyReport, Fib, FibError};
use crate::rib::FibChange;

/// The refused changes, shared between the FIB worker (writer) and the owner loop (reader).
#[derive(Debug, Clone, Default)]
pub struct FibState {
    failed: Arc<Mutex<BTreeMap<IpNet, String>>>,
}

impl FibState {
    /// No failures.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<IpNet, String>> {
        // A poisoned lock only means a panic elsewhere mid-update; the map is still usable.
        self.failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The kernel's error for the last change of `prefix`, if it refused it.
    pub fn error(&self, prefix: &IpNet) -> Option<String> {
        self.lock().get(&prefix.trunc()).cloned()
    }

    /// Every prefix whose last change was refused, with the kernel's error.
    pub fn failures(&self) -> BTreeMap<IpNet, String> {
        self.lock().clone()
    }

    fn record(&self, retried: &[IpNet], report: &ApplyReport) {
        let mut map = self.lock();
        for p in retried {
            map.remove(p);
        }
        for f in &report.failed {
            map.insert(*f.change.prefix(), f.error.clone());
        }
    }
}

/// A FIB that records refused changes in a [`FibState`].
#[derive(Debug)]
pub struct TrackingFib<F> {
    inner: F,
    state: FibState,
}

impl<F: Fib> TrackingFib<F> {
    /// Wrap `inner`; returns the wrapper and the table to read.
    pub fn new(inner: F) -> (Self, FibState) {
        let state = FibState::new();
        (
            TrackingFib {
                inner,
                state: state.clone(),
            },
            state,
        )
    }
}

impl<F: Fib + Send> Fib for TrackingFib<F> {
    fn apply(&mut self, changes: Vec<FibChange>) -> impl Future<Output = ApplyReport> + Send {
        let state = self.state.clone();
        // Prefixes that failed before and are retried now: a success clears them.
        let retried: Vec<IpNet> = {
            let failed = state.lock();
            if failed.is_empty() {
                Vec::new()
            } else {
                changes
                    .iter()
                    .map(FibChange::prefix)
                    .filter(|p| failed.contains_key(p))
                    .copied()
                    .collect()
            }
        };
        let fut = self.inner.apply(changes);
        async move {
            let report = fut.await;
            state.record(&retried, &report);
            report
        }
    }

    fn purge_stale(&mut self) -> impl Future<Output = Result<Vec<IpNet>, FibError>> + Send {
        self.inner.purge_stale()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::{MemoryFib, RouteFailure};
    use crate::rib::FibRoute;

    #[test]
    fn records_failures_and_clears_them_on_success() {
        let state = FibState::new();
        let p: IpNet = "10.0.0.0/24".parse().unwrap();
        let q: IpNet = "10.0.1.0/24".parse().unwrap();
        let refused = FibChange::Replace {
            prefix: q,
            route: FibRoute::Blackhole,
        };
        let report = ApplyReport {
            applied: 1,
            failed: vec![RouteFailure {
                change: refused,
                error: "Network is unreachable".into(),
            }],
        };
        state.record(&[], &report);
        assert_eq!(state.error(&q).as_deref(), Some("Network is unreachable"));
        assert_eq!(state.error(&p), None);
        state.record(&[q], &ApplyReport::default());
        assert!(state.failures().is_empty());
    }

    #[test]
    fn wrapper_passes_through() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut fib, state) = TrackingFib::new(MemoryFib::new());
            let p: IpNet = "10.0.0.0/24".parse().unwrap();
            let report = fib
                .apply(vec![FibChange::Replace {
                    prefix: p,
                    route: FibRoute::Blackhole,
                }])
                .await;
            assert_eq!(report.applied, 1);
            assert!(state.failures().is_empty());
            assert_eq!(fib.purge_stale().await.unwrap(), vec![p]);
        });
    }
}
