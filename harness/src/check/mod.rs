//! Checks of a running lab: FIB diff, reachability, convergence, design invariants.
//!
//! Every check turns observations (FIBs read over netlink, ping outcomes, BGP messages decoded
//! from the captures) into a [`CheckResult`]. The functions here are pure: the run orchestrator
//! ([`crate::run`]) gathers the observations, so the checks are unit-tested on plain values.

mod invariants;
mod reachability;
mod result;
mod sessions;

pub use invariants::{blackholes_check, fib_check, node_exports_check, tor_fib_size_check};
pub use reachability::{reachability_check, reachability_jobs, ReachabilityPlan};
pub use result::{CheckResult, CheckStatus};
pub use sessions::sessions_wire_check;
