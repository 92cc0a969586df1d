//! Kernel FIB programming over rtnetlink (the I/O edge of the RIB).
//!
//! * [`Fib`] — the trait the daemon drives with the RIB's [`crate::rib::FibChange`]s;
//!   [`MemoryFib`] implements it in memory (tests, dry runs), [`NetlinkFib`] in the kernel.
//! * [`messages`] — pure translation to rtnetlink messages: our protocol number
//!   [`RTPROT_FABRIC`] (201), metric 20, main table; ECMP as one RTA_MULTIPATH route;
//!   blackholes for originated pod blocks.
//! * [`monitor`] — link and address events for fast failover and next-hop resolution.
//! * [`spawn_worker`] — a task owning a `Fib`, fed batches over a channel by the owner loop.
//! * [`TrackingFib`] — remembers refused changes ([`FibState`]) for the control socket.
//! * [`KeptRoutes`] — our routes kept across a graceful restart (RFC 4724 §4.1) and how they
//!   are reconciled with the Loc-RIB when selection deferral ends.
//!
//! Daemon start-up order: `NetlinkFib::connect` and `monitor::subscribe` (spawn both
//! connection futures), `purge_stale` (routes left by a previous run; on a graceful restart
//! `NetlinkFib::dump_ours` and [`KeptRoutes`] instead), feed
//! `KernelEventStream::snapshot` into the RIB's `ConnectedRoutes`, then run the loop.

mod api;
mod batch;
mod kept;
mod memory;
pub mod messages;
pub mod monitor;
mod netlink;
mod tracking;
mod worker;

#[cfg(test)]
mod netns_tests;

pub use api::{ApplyReport, Fib, FibError, RouteFailure};
pub use kept::{fib_route_of, KeptRoutes, Reconciled};
pub use memory::MemoryFib;
pub use messages::{RouteTarget, DEFAULT_METRIC, RTPROT_FABRIC};
pub use monitor::{subscribe, subscribe_ignoring, KernelEvent, KernelEventStream};
pub use netlink::{NetlinkFib, DEFAULT_MAX_IN_FLIGHT};
pub use tracking::{FibState, TrackingFib};
pub use worker::{spawn_worker, FibSender};
