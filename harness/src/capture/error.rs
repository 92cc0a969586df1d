//! Errors of the capture module.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::topology::plan::LinkId;

/// Why starting, running, stopping or reading a capture failed.
#[derive(Debug, Error)]
pub enum CaptureError {
    /// Could not run code inside a namespace.
    #[error("failed to enter network namespace {netns}: {source}")]
    Netns {
        netns: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Could not open or bind the packet socket of a link.
    #[error("failed to open a packet socket on {ifname} in {netns}: {source}")]
    Socket {
        netns: PathBuf,
        ifname: String,
        #[source]
        source: io::Error,
    },
    /// Could not create the capture directory or a pcap file.
    #[error("failed to create {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Could not write a pcap file.
    #[error("failed to write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: pcap_file::PcapError,
    },
    /// Could not read a pcap file.
    #[error("failed to read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: pcap_file::PcapError,
    },
    /// The same link was given twice.
    #[error("link {link} is already being captured")]
    Duplicate { link: LinkId },
    /// The capture thread could not be started, or stopped abnormally.
    #[error("failed to run the capture thread: {0}")]
    Thread(String),
}
