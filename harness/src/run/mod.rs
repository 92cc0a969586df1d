//! `fabriclab run`: build a lab, start a speaker on every node, wait for the FIBs to converge to
//! what the design must produce, check, report, tear down.
//!
//! ```text
//! topology + design --load--> Plan --expect--> expected FIBs
//!   Plan --Lab::build--> namespaces, links, pods --Capture::start--> pcaps (first SYN on)
//!   --ConvergenceWatch::start--> netlink route events per node
//!   --SpeakerInstance::start (every node)--> t0 --wait_all(deadline)--> converged at
//!   --checks: fib, blackholes, tor-fib-size, reachability, node-exports, sessions-wire--> RunReport
//! ```

mod bench;
pub mod commands;
mod convergence;
pub mod events;
mod fabric;
mod misconfig;
mod options;
mod orchestrate;
mod report;

pub use bench::{bench_designs, render_bench, BenchRow};
pub use convergence::{ConvergenceWatch, NodeConvergence, NodeStatus, RouteLog, WatchError};
pub use fabric::{Convergence, Evidence, Fabric};
pub use misconfig::Misconfig;
pub use options::RunOptions;
pub use orchestrate::{run, run_and_keep, run_with, RunError};
pub use report::{
    EventCheck, EventChurn, EventFlowLoss, EventReport, FlowLoss, NodeChurn, NodeReport, RunReport,
    Verdict,
};
