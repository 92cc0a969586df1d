//! fabriclab: build BGP-routed spine-leaf fabrics of network namespaces on one Linux host, run a
//! BGP speaker in every node, and check FIBs, pod reachability and convergence against what the
//! chosen Calico design must produce.
//!
//! Pure modules (no root): [`topology`], [`expect`]. Root-only edges: [`lab`], [`process`],
//! [`speakers`], [`check`].

pub mod artifacts;
pub mod capture;
pub mod check;
pub mod cli;
pub mod expect;
pub mod fib;
pub mod gobgp_fib;
pub mod lab;
pub mod process;
pub mod progress;
pub mod report;
pub mod restart;
pub mod run;
pub mod scenario;
pub mod speakers;
pub mod timeline;
pub mod topology;
pub mod wait;
