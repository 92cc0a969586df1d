//! `fabric-bgp-wire`: the BGP-4 wire format as pure data, with no I/O and no async runtime.
//!
//! Used by the bundled speaker (sessions), and by the harness (decoding captures, crafting
//! deliberately malformed messages for the conformance suite).

pub mod types;

pub use types::{Afi, AfiSafi, Asn, RouterId, Safi};
