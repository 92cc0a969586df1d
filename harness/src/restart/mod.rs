//! Graceful-restart testing (RFC 4724) on a running [`Fabric`](crate::run::Fabric): restart
//! actions with timestamps, a data-plane continuity probe, and route churn on the helpers.
//!
//! ```text
//! Fabric::up --> Probe::start (UDP flows pod->pod, ~1000 pkt/s each)
//!   --> actions: kill -9 / stop / start / several at once / link flap  (ActionLog, timestamps)
//!   --> wait for the session to come back --> Probe::stop
//!   --> ProbeReport::window(from, to): sent, received, lost, longest gap
//!   --> churn::prefix_churn(route_log, nodes, prefixes, window): Added/Removed per helper
//! ```
//!
//! A successful graceful restart shows no lost packets on flows towards the restarting node and
//! no `Removed` (nor re-`Added`) of its prefixes on its helpers (RFC 4724 §4.2, stmt 55/57/67).

pub mod actions;
pub mod churn;
pub mod probe;
pub mod wire;

pub use actions::{ActionKind, ActionLog, ActionRecord};
pub use churn::{prefix_churn, ChurnReport, NodeChurn};
pub use probe::{FlowReport, FlowSpec, Probe, ProbeConfig, ProbeReport, WindowStats};
pub use wire::{gr_sessions, GrSessionView};

use crate::lab::LabError;
use crate::speakers::SpeakerError;
use crate::topology::NodeId;

/// Why a restart action or probe failed.
#[derive(Debug, thiserror::Error)]
pub enum RestartError {
    #[error("node {0} has no speaker in this fabric")]
    NoSpeaker(NodeId),
    #[error("speaker of {node}: {source}")]
    Speaker {
        node: NodeId,
        #[source]
        source: SpeakerError,
    },
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("probe: {0}")]
    Probe(String),
}
