//! Topology files and what they resolve to. Pure: no root, no I/O besides reading the file.

pub mod plan;

pub use plan::*;
