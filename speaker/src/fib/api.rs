//! The interface between the daemon and a kernel forwarding table.

use std::future::Future;

use ipnet::IpNet;

use crate::rib::FibChange;

/// Why the FIB could not be used at all (individual route failures are in [`ApplyReport`]).
#[derive(Debug, thiserror::Error)]
pub enum FibError {
    /// Opening the netlink socket failed.
    #[error("failed to open rtnetlink socket: {0}")]
    Socket(#[source] std::io::Error),
    /// A dump request failed.
    #[error("failed to dump {what}: {source}")]
    Dump {
        /// What was dumped.
        what: &'static str,
        /// The netlink error.
        #[source]
        source: rtnetlink::Error,
    },
}

/// One route the kernel refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteFailure {
    /// The change that failed.
    pub change: FibChange,
    /// The kernel's answer (e.g. "Network is unreachable" for a gateway not on a link).
    pub error: String,
}

/// Outcome of [`Fib::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Changes the kernel accepted (deletes of absent routes count as accepted).
    pub applied: usize,
    /// Changes it refused.
    pub failed: Vec<RouteFailure>,
}

/// A kernel forwarding table the RIB's changes are applied to.
///
/// Changes in one call concern distinct prefixes (the RIB emits at most one per prefix per
/// drain), so an implementation may apply them concurrently; successive calls are ordered.
pub trait Fib {
    /// Apply changes. A refused route does not stop the others.
    fn apply(&mut self, changes: Vec<FibChange>) -> impl Future<Output = ApplyReport> + Send;

    /// Remove every route this speaker installed earlier (left over from a previous run).
    /// Returns the prefixes removed.
    fn purge_stale(&mut self) -> impl Future<Output = Result<Vec<IpNet>, FibError>> + Send;
}
