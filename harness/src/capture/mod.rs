//! Packet capture of every lab link, and what the captures say about BGP.
//!
//! - [`Capture`] records each link from one end into `<dir>/<link-id>-<a>-<if>__<b>-<if>.pcapng`
//!   ([`socket`], [`writer`], [`engine`]). Start it after the links exist and before any daemon,
//!   so the first SYN and OPEN of every session are recorded.
//!
//! Root only: opening packet sockets needs `CAP_NET_RAW` inside each namespace.

pub mod bgp_stream;
pub mod engine;
pub mod error;
pub mod packet;
pub mod read;
pub mod reassembly;
pub mod socket;
mod sys;
pub mod writer;

pub use engine::{Capture, CaptureConfig, CaptureSummary, CaptureTarget, LinkCaptureSummary};
pub use error::CaptureError;
pub use writer::{capture_file_name, WriterStats};

#[cfg(test)]
mod root_tests;
#[cfg(test)]
mod scratch;
#[cfg(test)]
mod testutil;
