//! A [`Fib`] wrapper that remembers what it installed, for the control socket's `fib` request:
//! the FIB worker applies changes in its own task, the owner loop reads the shared table.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::IpNet;

use crate::fib::api::{ApplyReport, Fib, FibError};
use crate::rib::{FibChange, FibRoute};

/// One route as last applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledRoute {
    /// The route.
    pub route: FibRoute,
    /// `None` if the kernel accepted it, else its error.
    pub error: Option<String>,
}

/// The table shared between the FIB worker (writer) and the owner loop (reader).
#[derive(Debug, Clone, Default)]
pub struct FibState {
    inner: Arc<Mutex<BTreeMap<IpNet, InstalledRoute>>>,
}

impl FibState {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<IpNet, InstalledRoute>> {
        // A poisoned lock only means a panic elsewhere mid-update; the map is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A copy of the routes (optionally one prefix).
    pub fn snapshot(&self, prefix: Option<IpNet>) -> Vec<(IpNet, InstalledRoute)> {
        let map = self.lock();
        match prefix {
            Some(p) => map
                .get(&p.trunc())
                .map(|r| vec![(p.trunc(), r.clone())])
                .unwrap_or_default(),
            None => map.iter().map(|(p, r)| (*p, r.clone())).collect(),
        }
    }

    /// How many routes are installed (accepted by the kernel).
    pub fn installed(&self) -> usize {
        self.lock().values().filter(|r| r.error.is_none()).count()
    }

    fn record(&self, changes: &[FibChange], report: &ApplyReport) {
        let failed: BTreeMap<IpNet, &str> = report
            .failed
            .iter()
            .map(|f| (*f.change.prefix(), f.error.as_str()))
            .collect();
        let mut map = self.lock();
        for c in changes {
            match c {
                FibChange::Replace { prefix, route } => {
                    map.insert(
                        *prefix,
                        InstalledRoute {
                            route: route.clone(),
                            error: failed.get(prefix).map(|e| (*e).to_owned()),
                        },
                    );
                }
                FibChange::Delete { prefix } => {
                    if !failed.contains_key(prefix) {
                        map.remove(prefix);
                    }
                }
            }
        }
    }
}

/// A FIB that records every applied change in a [`FibState`].
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
        let copy = changes.clone();
        let fut = self.inner.apply(changes);
        async move {
            let report = fut.await;
            state.record(&copy, &report);
            report
        }
    }

    fn purge_stale(&mut self) -> impl Future<Output = Result<Vec<IpNet>, FibError>> + Send {
        let state = self.state.clone();
        let fut = self.inner.purge_stale();
        async move {
            let removed = fut.await?;
            let gone: BTreeSet<IpNet> = removed.iter().copied().collect();
            state.lock().retain(|p, _| !gone.contains(p));
            Ok(removed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::{MemoryFib, RouteFailure};

    #[test]
    fn records_applied_and_failed_routes() {
        let state = FibState::new();
        let p: IpNet = "10.0.0.0/24".parse().unwrap();
        let q: IpNet = "10.0.1.0/24".parse().unwrap();
        let changes = vec![
            FibChange::Replace {
                prefix: p,
                route: FibRoute::Blackhole,
            },
            FibChange::Replace {
                prefix: q,
                route: FibRoute::Blackhole,
            },
        ];
        let report = ApplyReport {
            applied: 1,
            failed: vec![RouteFailure {
                change: changes[1].clone(),
                error: "Network is unreachable".into(),
            }],
        };
        state.record(&changes, &report);
        assert_eq!(state.installed(), 1);
        let snap = state.snapshot(Some(q));
        assert_eq!(snap[0].1.error.as_deref(), Some("Network is unreachable"));
        state.record(&[FibChange::Delete { prefix: p }], &ApplyReport::default());
        assert_eq!(state.snapshot(None).len(), 1);
    }

    #[test]
    fn wrapper_passes_through() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut fib, state) = TrackingFib::new(MemoryFib::new());
            let p: IpNet = "10.0.0.0/24".parse().unwrap();
            fib.apply(vec![FibChange::Replace {
                prefix: p,
                route: FibRoute::Blackhole,
            }])
            .await;
            assert_eq!(state.installed(), 1);
            assert_eq!(fib.purge_stale().await.unwrap(), vec![p]);
            assert_eq!(state.installed(), 0);
        });
    }
}
