//! A task that owns a [`Fib`] and applies batches of changes sent by the owner loop, so the loop
//! never waits for the kernel. Batches queued while one is being applied are merged (last change
//! per prefix wins), which keeps a burst of a million routes to one pass over the kernel.

use std::collections::BTreeMap;

use ipnet::IpNet;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use crate::fib::api::Fib;
use crate::rib::FibChange;

/// Sends batches of changes to a FIB worker.
pub type FibSender = UnboundedSender<Vec<FibChange>>;

/// Merge everything queued behind `first` into one batch, in prefix order.
fn coalesce(first: Vec<FibChange>, rx: &mut UnboundedReceiver<Vec<FibChange>>) -> Vec<FibChange> {
    let mut merged: BTreeMap<IpNet, FibChange> = BTreeMap::new();
    let mut add = |batch: Vec<FibChange>| {
        for c in batch {
            merged.insert(*c.prefix(), c);
        }
    };
    add(first);
    while let Ok(more) = rx.try_recv() {
        add(more);
    }
    merged.into_values().collect()
}

/// Spawn a worker applying batches to `fib` until every sender is dropped; the task then returns
/// the FIB. Refused routes are logged (the RIB keeps its view; the next change of the prefix
/// retries).
pub fn spawn_worker<F: Fib + Send + 'static>(mut fib: F) -> (FibSender, JoinHandle<F>) {
    let (tx, mut rx) = unbounded_channel::<Vec<FibChange>>();
    let task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let batch = coalesce(first, &mut rx);
            let n = batch.len();
            let report = fib.apply(batch).await;
            for f in &report.failed {
                tracing::warn!(prefix = %f.change.prefix(), error = %f.error, "kernel refused route");
            }
            tracing::debug!(changes = n, applied = report.applied, "FIB batch applied");
        }
        fib
    });
    (tx, task)
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
        let merged = coalesce(vec![FibChange::Delete { prefix: p }], &mut rx);
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
            drop(tx);
            let fib = task.await.unwrap();
            assert_eq!(fib.routes.len(), 2);
            assert!(fib.routes.values().all(|r| *r == FibRoute::Blackhole));
        });
    }
}
