//! [`Fib`] over rtnetlink: routes installed with our protocol number, replaced in place
//! (NLM_F_REPLACE), written in batches of many messages per system call ([`super::batch`]),
//! ESRCH on delete ignored, stale routes of a previous run purged at start.
//!
//! The netlink socket belongs to the network namespace of the thread that opens it
//! ([`NetlinkFib::connect`]); the daemon opens it at start in its own namespace.

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use futures::stream::{self, StreamExt, TryStreamExt};
use ipnet::IpNet;
use netlink_packet_route::route::RouteMessage;
use rtnetlink::{Handle, RouteMessageBuilder};

use crate::fib::api::{ApplyReport, Fib, FibError, RouteFailure};
use crate::fib::batch::BatchSocket;
use crate::fib::messages::{change_message, is_ours, route_prefix, RouteTarget};
use crate::rib::FibChange;

/// Requests in flight by default: enough to keep the kernel busy (about 100k routes/s with one
/// request per route on this kind of machine), few enough to keep the socket buffer small.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// The kernel FIB of the current network namespace.
#[derive(Debug, Clone)]
pub struct NetlinkFib {
    handle: Handle,
    target: RouteTarget,
    max_in_flight: usize,
    /// The batched writer ([`BatchSocket`]); without it, one request per route over `handle`.
    batch: Option<Arc<Mutex<BatchSocket>>>,
}

impl NetlinkFib {
    /// Open an rtnetlink socket in the calling thread's namespace. The returned future drives
    /// the socket and must be spawned (e.g. `tokio::spawn`).
    pub fn connect(
        target: RouteTarget,
    ) -> Result<(Self, impl Future<Output = ()> + Send), FibError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(FibError::Socket)?;
        let batch = BatchSocket::open().map_err(FibError::Socket)?;
        let mut fib = Self::from_handle(handle, target);
        fib.batch = Some(Arc::new(Mutex::new(batch)));
        Ok((fib, conn))
    }

    /// Use an existing rtnetlink handle (one request per route; [`NetlinkFib::connect`] also
    /// opens the batched writer).
    pub fn from_handle(handle: Handle, target: RouteTarget) -> Self {
        NetlinkFib {
            handle,
            target,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            batch: None,
        }
    }

    /// Change how many requests may be in flight at once (at least 1).
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Where routes go (protocol, table, metric).
    pub fn target(&self) -> &RouteTarget {
        &self.target
    }

    /// Our routes currently in the kernel (IPv4 and IPv6), as dumped.
    pub async fn dump_ours(&self) -> Result<Vec<RouteMessage>, FibError> {
        let mut out = Vec::new();
        let v4 = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let v6 = RouteMessageBuilder::<Ipv6Addr>::new().build();
        for (what, req) in [("ipv4 routes", v4), ("ipv6 routes", v6)] {
            let routes: Vec<RouteMessage> = self
                .handle
                .route()
                .get(req)
                .execute()
                .try_collect()
                .await
                .map_err(|source| FibError::Dump { what, source })?;
            out.extend(routes.into_iter().filter(|m| is_ours(m, &self.target)));
        }
        Ok(out)
    }
}

/// Whether a netlink error is "no such route" (ESRCH), which a delete may ignore.
fn is_no_such_route(e: &rtnetlink::Error) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -(nix::errno::Errno::ESRCH as i32))
}

async fn send(handle: Handle, change: FibChange, target: RouteTarget) -> Result<(), RouteFailure> {
    let (msg, is_delete) = change_message(&change, &target);
    let result = if is_delete {
        match handle.route().del(msg).execute().await {
            Err(e) if is_no_such_route(&e) => Ok(()),
            r => r,
        }
    } else {
        handle.route().add(msg).replace().execute().await
    };
    result.map_err(|e| RouteFailure {
        change,
        error: e.to_string(),
    })
}

impl Fib for NetlinkFib {
    fn apply(&mut self, changes: Vec<FibChange>) -> impl Future<Output = ApplyReport> + Send {
        let handle = self.handle.clone();
        let target = self.target;
        let n = self.max_in_flight;
        let batch = self.batch.clone();
        async move {
            if let Some(sock) = batch {
                // Blocking system calls, off the async workers.
                let joined = tokio::task::spawn_blocking(move || {
                    let mut s = sock
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    s.apply(changes, &target)
                })
                .await;
                return joined.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "FIB writer thread failed");
                    ApplyReport::default()
                });
            }
            stream::iter(changes)
                .map(|c| send(handle.clone(), c, target))
                .buffer_unordered(n)
                .fold(ApplyReport::default(), |mut report, r| async move {
                    match r {
                        Ok(()) => report.applied += 1,
                        Err(f) => report.failed.push(f),
                    }
                    report
                })
                .await
        }
    }

    fn purge_stale(&mut self) -> impl Future<Output = Result<Vec<IpNet>, FibError>> + Send {
        let this = self.clone();
        async move {
            let stale = this.dump_ours().await?;
            if let Some(sock) = this.batch.clone() {
                // Sending the dumped messages back deletes exactly those routes (what
                // `ip route flush proto N` does), in batches.
                let prefixes: Vec<Option<IpNet>> = stale.iter().map(route_prefix).collect();
                let answers = tokio::task::spawn_blocking(move || {
                    let msgs = stale
                        .into_iter()
                        .map(|m| (netlink_packet_route::RouteNetlinkMessage::DelRoute(m), 0))
                        .collect();
                    sock.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .exchange(msgs)
                })
                .await
                .unwrap_or_default();
                let esrch = nix::errno::Errno::ESRCH as i32;
                return Ok(prefixes
                    .into_iter()
                    .zip(answers)
                    .filter(|(_, a)| a.is_ok() || *a == Err(Some(esrch)))
                    .filter_map(|(p, _)| p)
                    .collect());
            }
            let removed = stream::iter(stale)
                .map(|m| {
                    let handle = this.handle.clone();
                    async move {
                        let prefix = route_prefix(&m);
                        // Sending the dumped message back deletes exactly that route (what
                        // `ip route flush proto N` does).
                        match handle.route().del(m).execute().await {
                            Ok(()) => prefix,
                            Err(e) if is_no_such_route(&e) => prefix,
                            Err(_) => None,
                        }
                    }
                })
                .buffer_unordered(this.max_in_flight)
                .filter_map(|p| async move { p })
                .collect::<Vec<IpNet>>()
                .await;
            Ok(removed)
        }
    }
}
