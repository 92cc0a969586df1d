//! One adapter per speaker kind: config rendering, start, readiness, queries.
//!
//! ```text
//! Plan + node --render--> RenderedConfig --write--> <lab run dir>/<node>/<daemon>/
//!   --programs--> Supervisor (in the node's netns) --ready--> after_start --> neighbors()
//! ```
//!
//! [`adapter_for`] maps a [`SpeakerKind`] to its [`Speaker`]; [`SpeakerInstance`] ties an
//! adapter to a supervisor for one node. Suites use those two and never match on the kind.

mod api;
mod bird;
mod bundled;
mod cli;
mod frr;
mod gobgp;
mod install;
mod instance;
mod intent;
mod writer;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod render_tests;
#[cfg(test)]
mod root_tests;
#[cfg(test)]
mod tests;

pub use api::{
    ConfigFile, Dial, GracefulRestart, MissingDaemon, NegotiatedCaps, NeighborState, NodeContext,
    RenderedConfig, Requirement, Speaker, SpeakerError, SpeakerOptions, Timers,
};
pub use bird::Bird;
pub use bundled::{speaker_binary, Bundled, SPEAKER_BIN_ENV};
pub use frr::Frr;
pub use gobgp::Gobgp;
pub use install::find_executable;
pub use instance::SpeakerInstance;

use crate::topology::SpeakerKind;

/// The adapter for `kind`.
pub fn adapter_for(kind: SpeakerKind) -> Box<dyn Speaker> {
    match kind {
        SpeakerKind::Bundled => Box::new(Bundled),
        SpeakerKind::Bird => Box::new(Bird),
        SpeakerKind::Frr => Box::new(Frr),
        SpeakerKind::Gobgp => Box::new(Gobgp),
    }
}

/// Whether `kind`'s executables are installed; the error names the binary and the package.
pub fn check_installed(kind: SpeakerKind) -> Result<(), MissingDaemon> {
    let adapter = adapter_for(kind);
    install::check_adapter(adapter.as_ref())?;
    if kind == SpeakerKind::Bundled && speaker_binary().is_none() {
        return Err(MissingDaemon {
            kind,
            binary: "fabric-speaker".to_string(),
            package: format!("none: cargo build -p fabric-speaker, or set {SPEAKER_BIN_ENV}"),
        });
    }
    Ok(())
}
