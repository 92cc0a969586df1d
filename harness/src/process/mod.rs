//! Process supervision: daemons inside node namespaces, logs, readiness, stop and restart.
//!
//! A [`Supervisor`] owns the processes of one daemon on one node (BIRD is one process, FRR is
//! zebra + staticd + bgpd, GoBGP is zebra + gobgpd). Each process runs inside the node's network
//! namespace, in its own process group, with stdout/stderr appended to files in the daemon's
//! [`RunDir`] (`<lab run dir>/<node>/<daemon>/`). Stopping is SIGTERM to every group, a bounded
//! wait, then SIGKILL; dropping a supervisor kills whatever is left, so a panicking test cannot
//! leak daemons.

mod rundir;
mod supervisor;

pub use rundir::RunDir;
pub use supervisor::{ProgramSpec, StopReport, Supervisor, SupervisorError};
