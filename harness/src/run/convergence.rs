//! Convergence watching: every node's FIB followed passively through netlink route events and
//! compared with the expected FIB after every change.
//!
//! Each node gets one multicast rtnetlink socket, created on a thread inside its namespace and
//! driven by the run's tokio runtime. A watcher dumps the FIB once after subscribing, then applies
//! each `RTM_NEWROUTE`/`RTM_DELROUTE` to its copy (events queued before the dump are idempotent
//! on it), and reports every change of "matches the expected FIB" with the event's timestamp. No
//! daemon CLI is polled while the fabric converges (polling distorts timings, daemons.md).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::expect::diff;
use crate::fib::reader::{read_fib, subscribe_route_events, RouteChange, RouteEvent};
use crate::fib::{FamilyFilter, NodeFib};
use crate::lab::netns::in_netns;
use crate::topology::NodeId;

/// What a watcher reports when its node's FIB starts or stops matching.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    pub node: NodeId,
    pub matched: bool,
    /// When the change that produced this status was taken from the socket.
    pub at: Instant,
    /// Routes in the node's FIB (compared families only).
    pub routes: usize,
    /// Differences from the expected FIB (0 when matched).
    pub differences: usize,
    /// Route events seen so far (churn).
    pub events: u64,
}

/// Per-node convergence outcome.
#[derive(Debug, Clone)]
pub struct NodeConvergence {
    /// When the FIB last became equal to the expected one (None: never, or not at the end).
    pub converged_at: Option<Instant>,
    pub routes: usize,
    pub differences: usize,
    pub events: u64,
}

/// Every route event seen, per node, in arrival order (for timelines and churn counts).
pub type RouteLog = Arc<Mutex<Vec<(NodeId, RouteEvent)>>>;

/// Watches every node of a lab; dropping it stops the watchers.
pub struct ConvergenceWatch {
    rx: mpsc::UnboundedReceiver<NodeStatus>,
    latest: BTreeMap<NodeId, NodeStatus>,
    nodes: usize,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    expected: BTreeMap<NodeId, watch::Sender<NodeFib>>,
    log: Option<RouteLog>,
}

impl Drop for ConvergenceWatch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Why a watcher could not start.
#[derive(Debug, thiserror::Error)]
#[error("failed to watch the FIB of {node}: {reason}")]
pub struct WatchError {
    pub node: NodeId,
    pub reason: String,
}

impl ConvergenceWatch {
    /// Starts one watcher per `(node, namespace, expected FIB)`. Returns once every watcher has
    /// subscribed and sent its first status (so no change after this call is missed).
    ///
    /// With `record`, every route event is also appended to [`ConvergenceWatch::log`].
    pub async fn start(
        targets: Vec<(NodeId, PathBuf, NodeFib)>,
        record: bool,
    ) -> Result<ConvergenceWatch, WatchError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let log: Option<RouteLog> = record.then(|| Arc::new(Mutex::new(Vec::new())));
        let mut senders = BTreeMap::new();
        let rt = tokio::runtime::Handle::current();
        let nodes = targets.len();
        let mut tasks = Vec::with_capacity(nodes);
        let mut ready = Vec::with_capacity(nodes);
        for (node, ns, expected) in targets {
            let (exp_tx, mut exp_rx) = watch::channel(expected);
            senders.insert(node.clone(), exp_tx);
            let log = log.clone();
            let rt2 = rt.clone();
            let node2 = node.clone();
            let sub = tokio::task::spawn_blocking(move || {
                in_netns(&ns, move || {
                    let _entered = rt2.enter();
                    subscribe_route_events(&[FamilyFilter::Ipv4])
                })
            })
            .await
            .map_err(|e| WatchError {
                node: node.clone(),
                reason: e.to_string(),
            })?
            .and_then(|r| r)
            .map_err(|e| WatchError {
                node: node.clone(),
                reason: e.to_string(),
            })?;
            let (conn, handle, mut events) = sub;
            tasks.push(rt.spawn(conn));
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
            ready.push((node.clone(), ready_rx));
            let tx = tx.clone();
            tasks.push(rt.spawn(async move {
                let node = node2;
                if let Err(e) = events.load_links(&handle).await {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
                let mut fib = match read_fib(&handle).await {
                    Ok(r) => r.fib.filtered(FamilyFilter::Ipv4),
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let mut count = 0u64;
                let mut expected = exp_rx.borrow_and_update().clone();
                let mut last = status(&node, &expected, &fib, Instant::now(), count);
                let _ = tx.send(last.clone());
                let _ = ready_tx.send(Ok(()));
                loop {
                    let at = tokio::select! {
                        ev = events.next() => {
                            let Some(ev) = ev else { return };
                            count += 1;
                            let at = ev.at;
                            match ev.change {
                                RouteChange::Added => {
                                    fib.insert(ev.route.clone());
                                }
                                RouteChange::Removed => {
                                    // Keyed by prefix: the labs install one route per prefix
                                    // (daemons use a single metric), so a delete removes it.
                                    fib.remove(&ev.route.prefix);
                                }
                            }
                            if let Some(log) = &log {
                                log.lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push((node.clone(), ev));
                            }
                            at
                        }
                        changed = exp_rx.changed() => {
                            if changed.is_err() {
                                return;
                            }
                            expected = exp_rx.borrow_and_update().clone();
                            // Re-read the FIB: IPv4 routes the kernel flushes when their
                            // interface goes down come without RTM_DELROUTE, so the copy may be
                            // stale after a link event (new expectations follow link events).
                            if let Ok(r) = read_fib(&handle).await {
                                fib = r.fib.filtered(FamilyFilter::Ipv4);
                            }
                            // Force a report: the verdict may flip without any route event.
                            last.routes = usize::MAX;
                            Instant::now()
                        }
                    };
                    let s = status(&node, &expected, &fib, at, count);
                    if s.matched != last.matched || s.routes != last.routes {
                        last = s.clone();
                        if tx.send(s).is_err() {
                            return;
                        }
                    } else {
                        last.events = count;
                    }
                }
            }));
        }
        drop(tx);
        for (node, r) in ready {
            match r.await {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => return Err(WatchError { node, reason }),
                Err(_) => {
                    return Err(WatchError {
                        node,
                        reason: "watcher ended before its first dump".into(),
                    })
                }
            }
        }
        let mut watch = ConvergenceWatch {
            rx,
            latest: BTreeMap::new(),
            nodes,
            tasks,
            expected: senders,
            log,
        };
        watch.drain();
        Ok(watch)
    }

    /// Replaces the expected FIBs (after a scenario event changes what the design implies);
    /// every node re-evaluates at once and [`ConvergenceWatch::wait_all`] waits for the new ones.
    pub fn set_expected(&mut self, expected: &BTreeMap<NodeId, NodeFib>) {
        // Statuses computed against the old expectation no longer count: discard them before
        // publishing the new one. Every watcher then sends a forced status computed against the
        // new expectation, after anything it queued meanwhile (the channel keeps its order), so
        // the last status per node is always a current one. (Clearing after publishing lost
        // the statuses of watchers that answered before the clear.)
        while self.rx.try_recv().is_ok() {}
        self.latest.clear();
        for (node, tx) in &self.expected {
            let want = expected.get(node).cloned().unwrap_or_default();
            tx.send_replace(want);
        }
    }

    /// The route events recorded so far (when started with `record`).
    pub fn log(&self) -> Option<RouteLog> {
        self.log.clone()
    }

    fn drain(&mut self) {
        while let Ok(s) = self.rx.try_recv() {
            self.record(s);
        }
    }

    fn record(&mut self, s: NodeStatus) {
        let prev_matched_at = self
            .latest
            .get(&s.node)
            .filter(|p| p.matched && s.matched)
            .map(|p| p.at);
        let mut s = s;
        // A route-count change while still matching cannot happen (a match pins the content);
        // keep the instant it first matched in this run of matching.
        if let Some(at) = prev_matched_at {
            s.at = at;
        }
        self.latest.insert(s.node.clone(), s);
    }

    /// Nodes not matching right now, with their difference counts.
    pub fn unmatched(&self) -> Vec<(NodeId, usize)> {
        self.latest
            .values()
            .filter(|s| !s.matched)
            .map(|s| (s.node.clone(), s.differences))
            .collect()
    }

    fn all_matched(&self) -> bool {
        self.latest.len() == self.nodes && self.latest.values().all(|s| s.matched)
    }

    /// Waits until every node matches, or `timeout`; event-driven (wakes on each status).
    /// Returns whether all matched; [`ConvergenceWatch::observation`] says what was last seen.
    pub async fn wait_all(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut shown = None;
        loop {
            self.drain();
            let matched = self.latest.values().filter(|s| s.matched).count();
            if shown != Some(matched) {
                shown = Some(matched);
                crate::progress::counter("FIBs matching the design", matched, self.nodes);
            }
            if self.all_matched() {
                return true;
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(s)) => self.record(s),
                Ok(None) | Err(_) => {
                    self.drain();
                    return self.all_matched();
                }
            }
        }
    }

    /// A one-line description of the current state (for timeouts).
    pub fn observation(&self) -> String {
        let un = self.unmatched();
        let matched = self.latest.values().filter(|s| s.matched).count();
        let mut s = format!("{matched}/{} nodes match their expected FIB", self.nodes);
        if !un.is_empty() {
            let list: Vec<String> = un
                .iter()
                .take(8)
                .map(|(n, d)| format!("{n} ({d} differences)"))
                .collect();
            s.push_str(&format!("; not yet: {}", list.join(", ")));
            if un.len() > 8 {
                s.push_str(&format!(" and {} more", un.len() - 8));
            }
        }
        s
    }

    /// Per-node outcome as of now.
    pub fn outcome(&mut self) -> BTreeMap<NodeId, NodeConvergence> {
        self.drain();
        self.latest
            .iter()
            .map(|(n, s)| {
                (
                    n.clone(),
                    NodeConvergence {
                        converged_at: s.matched.then_some(s.at),
                        routes: s.routes,
                        differences: s.differences,
                        events: s.events,
                    },
                )
            })
            .collect()
    }
}

fn status(
    node: &NodeId,
    expected: &NodeFib,
    fib: &NodeFib,
    at: Instant,
    events: u64,
) -> NodeStatus {
    let differences = diff(node, expected, fib).len();
    NodeStatus {
        node: node.clone(),
        matched: differences == 0,
        at,
        routes: fib.len(),
        differences,
        events,
    }
}
