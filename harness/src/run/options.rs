//! What a run is asked to do.

use std::path::PathBuf;
use std::time::Duration;

use super::Misconfig;
use crate::speakers::SpeakerOptions;
use crate::topology::LoadOptions;

/// Everything `fabriclab run` takes from the command line.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub topology: PathBuf,
    /// Design and speaker overrides.
    pub load: LoadOptions,
    /// Lab name (defaults to the run id).
    pub name: Option<String>,
    /// How long the fabric may take to converge before the run fails.
    pub deadline: Duration,
    /// Capture every link (on by default).
    pub capture: bool,
    /// Cross-check every captured BGP message with tshark (Wireshark's dissector, an
    /// independent decoder); costs a tshark start per link, so it is asked for (`--tshark`).
    pub tshark: bool,
    /// Where run artefacts go (captures, daemon run dirs); a temporary directory when unset.
    pub artifacts: Option<PathBuf>,
    /// Speaker timers, GR settings, readiness timeouts.
    pub speaker: SpeakerOptions,
    /// Per-probe timeout of the reachability check.
    pub ping_timeout: Duration,
    /// Deploy with this misconfiguration (negative cases): expectations stay the design's.
    pub misconfig: Option<Misconfig>,
    /// Keep every netlink route event (timelines, churn counts); off for very large fabrics.
    pub record_events: bool,
}

impl RunOptions {
    /// Defaults for a topology file.
    pub fn new(topology: impl Into<PathBuf>) -> Self {
        RunOptions {
            topology: topology.into(),
            load: LoadOptions::default(),
            name: None,
            deadline: Duration::from_secs(60),
            capture: true,
            tshark: false,
            artifacts: None,
            speaker: SpeakerOptions::default(),
            ping_timeout: Duration::from_secs(2),
            misconfig: None,
            record_events: true,
        }
    }
}
