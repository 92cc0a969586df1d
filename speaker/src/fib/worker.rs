//! A task that owns a [`Fib`] and applies batches of changes sent by the owner loop, so the loop
//! never waits for the kernel. Batches queued while one is being applied are merged (last change
//! per prefix wins) in bounded passes, so a flapping prefix is written once and a burst of a
//! million routes is not copied into one big map.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ipnet::IpNet;
use tokio::sync::mpsc::error::SendError;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use crate::fib::api::Fib;
use crate::rib::FibChange;

/// Sends batches of changes to a FIB worker, counting what is not applied yet.
#[derive(Debug, Clone)]
pub struct FibSender {
    tx: UnboundedSender<Vec<FibChange>>,
    pending: Arc<AtomicUsize>,
}

impl FibSender {
    /// A sender over a plain channel (tests: whoever reads `rx` plays the worker).
    pub fn new(tx: UnboundedSender<Vec<FibChange>>) -> Self {
        FibSender {
            tx,
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Queues a batch.
    pub fn send(&self, batch: Vec<FibChange>) -> Result<(), SendError<Vec<FibChange>>> {
        let n = batch.len();
        self.pending.fetch_add(n, Ordering::Relaxed);
        self.tx.send(batch).inspect_err(|_| {
            self.pending.fetch_sub(n, Ordering::Relaxed);
        })
    }

    /// Changes sent but not yet applied by the worker.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }
}

impl From<UnboundedSender<Vec<FibChange>>> for FibSender {
    fn from(tx: UnboundedSender<Vec<FibChange>>) -> Self {
        FibSender::new(tx)
    }
}

/// Most changes merged into one pass: merging dedupes superseded changes (a flapping prefix is
/// written once), but a million queued changes must not be copied into one map at once.
const MERGE_LIMIT: usize = 16_384;

/// Merge what is queued behind `first`, up to [`MERGE_LIMIT`] changes, into one batch in prefix
/// order; whatever is left stays queued for the next pass (batches are applied in order, so
/// the last change of a prefix always wins). Also returns how many changes were taken.
fn coalesce(
    first: Vec<FibChange>,
    rx: &mut UnboundedReceiver<Vec<FibChange>>,
) -> (Vec<FibChange>, usize) {
    let mut taken = first.len();
    let mut more = Vec::new();
    while taken < MERGE_LIMIT {
        match rx.try_recv() {
            Ok(batch) => {
                taken += batch.len();
                more.push(batch);
            }
            Err(_) => break,
        }
    }
    if more.is_empty() {
        // One batch is already one change per prefix (the RIB emits at most one per prefix
        // per drain): no map needed.
        return (first, taken);
    }
    let mut merged: BTreeMap<IpNet, FibChange> = BTreeMap::new();
    for c in first.into_iter().chain(more.into_iter().flatten()) {
        merged.insert(*c.prefix(), c);
    }
    (merged.into_values().collect(), taken)
}

/// Spawn a worker applying batches to `fib` until every sender is dropped; the task then returns
/// the FIB. Refused routes are logged (the RIB keeps its view; the next change of the prefix
/// retries).
pub fn spawn_worker<F: Fib + Send + 'static>(mut fib: F) -> (FibSender, JoinHandle<F>) {
    let (tx, mut rx) = unbounded_channel::<Vec<FibChange>>();
    let sender = FibSender::new(tx);
    let pending = Arc::clone(&sender.pending);
    let task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let (batch, taken) = coalesce(first, &mut rx);
            let n = batch.len();
            let report = fib.apply(batch).await;
            pending.fetch_sub(taken, Ordering::Relaxed);
            for f in &report.failed {
                tracing::warn!(prefix = %f.change.prefix(), error = %f.error, "kernel refused route");
            }
            tracing::debug!(changes = n, applied = report.applied, "FIB batch applied");
        }
        fib
    });
    (sender, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::MemoryFib;
    use crate::rib::FibRoute;

    #[test]
    fn queued_batches_merge_last_change_wins() {
        let (tx, mut rx) = unbounded_channel();
        let p: IpNet = "10.0.0.0/8".parse().unwrap();
        let q: IpNet = "11.0.0.0/8".parse().unwrap();
        tx.send(vec![FibChange::Delete { prefix: q }]).unwrap();
        tx.send(vec![FibChange::Replace {
            prefix: q,
            route: FibRoute::Blackhole,
        }])
        .unwrap();
        let (merged, taken) = coalesce(vec![FibChange::Delete { prefix: p }], &mut rx);
        assert_eq!(taken, 3);
        assert_eq!(
            merged,
            vec![
                FibChange::Delete { prefix: p },
                FibChange::Replace {
                    prefix: q,
                    route: FibRoute::Blackhole
                }
            ]
        );
    }

    #[test]
    fn worker_applies_and_stops_when_senders_drop() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, task) = spawn_worker(MemoryFib::new());
            tx.send(vec![FibChange::Replace {
                prefix: "10.0.0.0/8".parse().unwrap(),
                route: FibRoute::Blackhole,
            }])
            .unwrap();
            tx.send(vec![FibChange::Replace {
                prefix: "11.0.0.0/8".parse().unwrap(),
                route: FibRoute::Blackhole,
            }])
            .unwrap();
            assert_eq!(tx.pending(), 2);
            let watch = tx.clone();
            drop(tx);
            // The clone keeps the channel open: wait for the worker through the counter.
            while watch.pending() > 0 {
                tokio::task::yield_now().await;
            }
            drop(watch);
            let fib = task.await.unwrap();
            assert_eq!(fib.routes.len(), 2);
            assert!(fib.routes.values().all(|r| *r == FibRoute::Blackhole));
        });
    }

    #[test]
    fn merging_is_bounded_and_the_rest_stays_queued() {
        let (tx, mut rx) = unbounded_channel();
        let batch = |base: u32| -> Vec<FibChange> {
            (0..10_000u32)
                .map(|i| FibChange::Delete {
                    prefix: IpNet::new(std::net::Ipv4Addr::from(base + (i << 8)).into(), 24)
                        .unwrap(),
                })
                .collect()
        };
        for base in [0x0a00_0000, 0x1400_0000, 0x1e00_0000] {
            tx.send(batch(base)).unwrap();
        }
        let first = rx.try_recv().unwrap();
        let (merged, taken) = coalesce(first, &mut rx);
        assert_eq!((merged.len(), taken), (20_000, 20_000));
        assert_eq!(
            rx.try_recv().unwrap().len(),
            10_000,
            "third batch still queued"
        );
    }
}
