//! Packet capture of every lab link, and what the captures say about BGP.
//!
//! - [`Capture`] records each link from one end into `<dir>/<link-id>-<a>-<if>__<b>-<if>.pcapng`
//!   ([`socket`], [`writer`], [`engine`]). Start it after the links exist and before any daemon,
//!   so the first SYN and OPEN of every session are recorded. Root only (`CAP_NET_RAW` in each
//!   namespace).
//! - [`decode_capture`] reads a file back ([`read`]), reassembles TCP port 179 ([`packet`],
//!   [`reassembly`]) and decodes every BGP message with `fabric-bgp-wire` ([`bgp_stream`]).
//! - [`session_reports`] condenses the messages into per-session wire facts ([`checks`]);
//!   [`tshark_bgp_findings`] asks Wireshark's dissector for a second opinion ([`tshark`]).
//!   Both are pure file readers: no root needed.

pub mod bgp_stream;
pub mod checks;
pub mod engine;
pub mod error;
pub mod packet;
pub mod read;
pub mod reassembly;
pub mod socket;
mod sys;
pub mod tshark;
pub mod writer;

pub use bgp_stream::{
    decode_capture, BgpStreamDecoder, StreamStats, WireBody, WireError, WireEvent,
};
pub use checks::{session_reports, GrSeen, SessionWireReport, SpeakerWire};
pub use engine::{Capture, CaptureConfig, CaptureSummary, CaptureTarget, LinkCaptureSummary};
pub use error::CaptureError;
pub use tshark::{tshark_bgp_findings, TsharkError, TsharkFinding};
pub use writer::{capture_file_name, WriterStats};

#[cfg(test)]
mod root_tests;
#[cfg(test)]
mod scratch;
#[cfg(test)]
mod testutil;
