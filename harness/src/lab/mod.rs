//! The lab: network namespaces, veth links, addresses, pods; the only module that touches
//! namespaces.
//!
//! - [`Lab`] (`lab.rs`): build a [`Plan`](crate::topology::Plan) into namespaces, use it, tear
//!   it down (a guard: dropping it removes everything).
//! - [`netns`]: create/enter/delete namespaces without forking; `in_netns`, `spawn_in_netns`.
//! - [`link`], [`pod`]: veth links, addresses, impairment; Calico-style pod wiring.
//! - [`registry`]: on-disk lab records (`/run/fabriclab`), run ids, lab status.
//! - [`reaper`]: teardown, `fabriclab clean`, the SIGINT/SIGTERM handler.
//! - [`ping`]: in-process ICMP echo from inside a namespace.
//! - [`bench`]: build/teardown timing (`fabriclab bench-lab`).

pub mod bench;
pub mod error;
#[expect(
    clippy::module_inception,
    reason = "the layout (lab/lab.rs for the Lab guard) is the project's architecture"
)]
mod lab;
pub mod link;
pub(crate) mod netlink;
pub mod netns;
pub mod ping;
pub mod pod;
pub mod reaper;
pub mod registry;
mod route;
mod sysctl;

pub use error::LabError;
pub use lab::{preflight, BuildOptions, BuildPhase, Lab, ProgressFn};
pub use link::{Impairment, LinkEnd, LinkState};
pub use ping::PingOutcome;
pub use reaper::{clean, CleanReport, CleanScope, TeardownReport};
pub use registry::{LabState, LabStatus};
