//! Kernel plumbing of the daemon: the FIB at start-up and the link/address/route monitor.
//!
//! ```text
//!   start: NetlinkFib::connect ─► purge_stale (our protocol) ─► TrackingFib ─► spawn_worker
//!          (graceful restart: dump_ours ─► KeptRoutes kept installed ─► Recovery)
//!          RibRouteEngine::from_config(..).with_fib(worker).with_fib_state(state)
//!   loop:  fib::subscribe ─► snapshot ─► engine.kernel_event (before any session starts)
//!          stream ─► Input::Kernel ─► owner loop ─► engine.kernel_event ─► UPDATEs, drops
//! ```
//!
//! Both netlink sockets belong to the namespace the daemon runs in.

use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::config::{Config, RestartMode};
use crate::fib::{
    self, Fib, FibError, KeptRoutes, KernelEvent, KernelEventStream, NetlinkFib, RouteTarget,
    TrackingFib,
};
use crate::gr::restarting::{self, Recovery};
use crate::messages::Input;
use crate::rib::route_engine::RibRouteEngine;

/// The RIB engine for `config`, with the kernel FIB when `kernel.enabled`: routes of our
/// protocol left by a previous run are purged first, so the kernel holds exactly what this run
/// decides (routes are replaced in place from then on, never deleted and re-added).
///
/// Graceful restart (RFC 4724 §4.1): when this start is a restart ([`restarting::is_restart`]:
/// `restarting: true`, or `auto` and routes of our protocol survived), those routes are kept
/// installed instead, and the engine defers selection until the peers' End-of-RIB
/// ([`Recovery`]); it then writes only what changed and sweeps the rest.
pub async fn rib_engine(config: &Config) -> Result<RibRouteEngine, FibError> {
    // The Selection Deferral Timer runs from the process start (RFC 4724 §4.1).
    let started = Instant::now();
    let engine = RibRouteEngine::from_config(config, config.policy_book());
    let gr = &config.graceful_restart;
    let may_restart = gr.enabled && gr.restarting != RestartMode::Never;
    if !config.kernel.enabled {
        tracing::info!("kernel FIB disabled (kernel.enabled: false): routes are not installed");
        if may_restart && restarting::is_restart(gr.restarting, false) {
            tracing::info!("graceful restart: recovering, 0 kernel routes kept");
            let recovery = Recovery::new(config, KeptRoutes::new(), started);
            return Ok(engine.with_recovery(recovery));
        }
        return Ok(engine);
    }
    let target = RouteTarget {
        protocol: config.kernel.protocol,
        table: config.kernel.table,
        metric: config.kernel.metric,
    };
    let (mut nl, conn) = NetlinkFib::connect(target)?;
    tokio::spawn(conn);
    // Whether routes of ours may be left in the kernel (unknown until dumped).
    let mut ours_left = true;
    if may_restart {
        let dumped = nl.dump_ours().await?;
        ours_left = !dumped.is_empty();
        let kept = KeptRoutes::from_messages(&dumped);
        if restarting::is_restart(gr.restarting, !kept.is_empty()) {
            // The kernel keeps forwarding with these routes until the deferral ends.
            tracing::info!(
                protocol = target.protocol,
                "graceful restart: recovering, {} kernel routes kept",
                kept.len()
            );
            let recovery = Recovery::new(config, kept, started);
            let (tracking, state) = TrackingFib::new(nl);
            let (tx, _task) = fib::spawn_worker(tracking);
            return Ok(engine
                .with_fib(tx)
                .with_fib_state(state)
                .with_recovery(recovery));
        }
    }
    // The dump above found nothing of ours: no second dump to purge nothing.
    let stale = if ours_left {
        nl.purge_stale().await?
    } else {
        Vec::new()
    };
    if !stale.is_empty() {
        tracing::info!(
            routes = stale.len(),
            protocol = target.protocol,
            "removed routes left by a previous run"
        );
    }
    let (tracking, state) = TrackingFib::new(nl);
    let (tx, _task) = fib::spawn_worker(tracking);
    Ok(engine.with_fib(tx).with_fib_state(state))
}

/// Subscribes to kernel events (our own routes, protocol `own_protocol`, filtered out) and
/// returns the current state as events plus the stream of later changes. `None` (logged) when
/// netlink is unavailable: the speaker then runs without next-hop resolution from the kernel
/// and without fast failover.
pub async fn subscribe(own_protocol: u8) -> Option<(Vec<KernelEvent>, KernelEventStream)> {
    let (stream, conn) = match fib::subscribe_ignoring(Some(own_protocol)) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no kernel link/address/route events");
            return None;
        }
    };
    tokio::spawn(conn);
    // Subscribed first, then dumped: nothing between the two is lost (events are idempotent).
    match stream.snapshot().await {
        Ok(events) => Some((events, stream)),
        Err(e) => {
            tracing::warn!(error = %e, "failed to read the kernel's links, addresses and routes");
            None
        }
    }
}

/// After lost notifications, wait this long without another loss before reading the state
/// again: while a million routes are being installed the route socket overflows repeatedly,
/// and one snapshot at the end is enough.
const RESYNC_QUIET: Duration = Duration::from_millis(500);

/// Forwards kernel events to the owner loop until either side goes away. When the kernel
/// reports lost notifications, the whole state is read again (once things are quiet) and sent
/// as one resync; link and address events keep flowing meanwhile.
pub async fn forward(mut stream: KernelEventStream, owner: mpsc::Sender<Input>) {
    let mut resync_at: Option<tokio::time::Instant> = None;
    loop {
        let ev = match resync_at {
            None => stream.next().await,
            Some(at) => tokio::select! {
                ev = stream.next() => ev,
                _ = tokio::time::sleep_until(at) => {
                    resync_at = None;
                    match stream.snapshot().await {
                        Ok(events) => {
                            if owner.send(Input::KernelResync(events)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "failed to read the kernel state after lost notifications"),
                    }
                    continue;
                }
            },
        };
        let Some(ev) = ev else { break };
        if ev == KernelEvent::Overrun {
            if resync_at.is_none() {
                tracing::warn!(
                    "kernel notifications lost (receive buffer full): the state will be read again"
                );
            }
            resync_at = Some(tokio::time::Instant::now() + RESYNC_QUIET);
            continue;
        }
        if resync_at.is_some() && ev.route_protocol().is_some() {
            // The coming snapshot supersedes route events.
            continue;
        }
        if owner.send(Input::Kernel(ev)).await.is_err() {
            return;
        }
    }
    tracing::warn!("kernel event stream ended: no more fast failover");
}

/// Short text for a link event in logs.
pub fn describe(ev: &KernelEvent) -> Option<(u32, Option<&str>)> {
    match ev {
        KernelEvent::Link { ifindex, name, .. } => Some((*ifindex, name.as_deref())),
        KernelEvent::LinkRemoved { ifindex } => Some((*ifindex, None)),
        _ => None,
    }
}
