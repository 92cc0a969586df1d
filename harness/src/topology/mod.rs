//! Topology files and what they resolve to. Pure: no root, no I/O besides reading the file.
//!
//! A file (compact `spines` + `racks`, or explicit `nodes` + `links`; schema in
//! `topologies/README.md`) plus a Calico design resolve into one [`Plan`]: names, ASNs,
//! addresses, pools, blocks, pods, sessions and policies, deterministically.
//!
//! ```text
//! text --model (serde)--> TopologyFile --compact|explicit--> Draft
//!      --asn, addressing, design--> Plan --render--> text for `fabriclab validate`
//! ```

mod addressing;
mod asn;
mod compact;
mod design;
mod draft;
mod error;
mod explicit;
mod model;
pub mod plan;
mod render;
mod resolve;
mod speaker_selection;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::{ErrorKind, InvalidTopology, TopologyError};
pub use plan::*;
pub use render::render_plan;
pub use speaker_selection::{SpeakerSelection, SpeakerSelectionError};

/// Command-line choices that override what the file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `fabriclab run --design D`: replaces the file's `design`.
    pub design: Option<Design>,
    /// `fabriclab run --speakers S`: wins over every speaker choice in the file.
    pub speakers: Option<SpeakerSelection>,
}

/// Read and resolve a topology file.
pub fn load(path: &Path) -> Result<Plan, TopologyError> {
    load_with(path, &LoadOptions::default())
}

/// Read and resolve a topology file with command-line overrides.
pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Plan, TopologyError> {
    let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_with(&text, &path.display().to_string(), opts)
}

/// Resolve topology text; `source_name` names it in errors (and gives the plan its name when
/// the file has no `name:`).
pub fn parse(text: &str, source_name: &str) -> Result<Plan, TopologyError> {
    parse_with(text, source_name, &LoadOptions::default())
}

/// [`parse`] with command-line overrides.
pub fn parse_with(
    text: &str,
    source_name: &str,
    opts: &LoadOptions,
) -> Result<Plan, TopologyError> {
    resolve::resolve(text, source_name, opts).map_err(|p| p.in_file(source_name))
}
