//! One pcapng file per link: a section header, one interface description (Ethernet, nanosecond
//! timestamps, the interface's name), then an enhanced packet block per frame with its direction.
//!
//! pcapng rather than classic pcap because it names the interface (`s1:e1`) and carries the
//! direction of each frame, and pcap-file's pcapng writer can be flushed while capturing, so a
//! file is readable (e.g. copied into a failure bundle) while the lab still runs.
//!
//! The file is bounded: once writing a frame would pass the size cap, frames are counted as
//! dropped instead of written, and a closing interface statistics block records the drops.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::interface_statistics::{
    InterfaceStatisticsBlock, InterfaceStatisticsOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, PcapError};
use serde::{Deserialize, Serialize};

use super::error::CaptureError;
use crate::topology::plan::LinkPlan;

/// `if_tsresol` = 9: timestamps count nanoseconds (pcapng §4.2), which is what pcap-file 2
/// writes into enhanced packet blocks.
const TSRESOL_NANOS: u8 = 9;

/// Enhanced packet block flags, direction bits (pcapng §4.3.1).
const EPB_FLAG_INBOUND: u32 = 0b01;
const EPB_FLAG_OUTBOUND: u32 = 0b10;

/// Room kept free under the cap for the closing statistics block.
const CLOSING_RESERVE: u64 = 256;

/// The file name of a link's capture:
/// `<link-id>-<a-node>-<a-if>__<b-node>-<b-if>.pcapng`, e.g. `l3-s1-e2__r1t1-e1.pcapng`.
pub fn capture_file_name(link: &LinkPlan) -> String {
    format!(
        "{}-{}-{}__{}-{}.pcapng",
        link.id, link.a.node, link.a.ifname, link.b.node, link.b.ifname
    )
}

/// What a link writer did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterStats {
    /// Frames written to the file.
    pub packets: u64,
    /// Sum of the wire lengths of the written frames.
    pub wire_bytes: u64,
    /// Size of the file.
    pub file_bytes: u64,
    /// Frames not written because the file reached its size cap.
    pub dropped_cap: u64,
    /// Written frames cut to the snap length.
    pub truncated: u64,
}

/// A frame to write.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Time since the Unix epoch.
    pub ts: Duration,
    /// The captured bytes (at most the snap length).
    pub data: &'a [u8],
    /// Length on the wire.
    pub orig_len: usize,
    /// Sent by the captured interface (rather than received).
    pub outgoing: bool,
}

/// Writes one link's frames into a size-capped pcapng file.
pub struct LinkWriter {
    path: PathBuf,
    inner: PcapNgWriter<BufWriter<File>>,
    snaplen: u32,
    max_bytes: u64,
    stats: WriterStats,
}

impl std::fmt::Debug for LinkWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkWriter")
            .field("path", &self.path)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl LinkWriter {
    /// Creates (truncates) `path` and writes the section header and the interface description.
    ///
    /// `if_name` names the interface in the file (e.g. `s1:e1`); `description` is free text.
    pub fn create(
        path: &Path,
        if_name: &str,
        description: &str,
        snaplen: u32,
        max_bytes: u64,
    ) -> Result<Self, CaptureError> {
        let file = File::create(path).map_err(|source| CaptureError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        let write_err = |source| CaptureError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut inner = PcapNgWriter::new(BufWriter::new(file)).map_err(write_err)?;
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(if_name.to_string())),
                InterfaceDescriptionOption::IfDescription(Cow::Owned(description.to_string())),
                InterfaceDescriptionOption::IfTsResol(TSRESOL_NANOS),
            ],
        };
        inner.write_pcapng_block(idb).map_err(write_err)?;
        // The section header's size is not returned by the constructor; take it from the file.
        inner
            .get_mut()
            .flush()
            .map_err(|e| write_err(PcapError::IoError(e)))?;
        let file_bytes = inner
            .get_ref()
            .get_ref()
            .metadata()
            .map(|m| m.len())
            .unwrap_or(0);
        Ok(LinkWriter {
            path: path.to_path_buf(),
            inner,
            snaplen,
            max_bytes,
            stats: WriterStats {
                file_bytes,
                ..WriterStats::default()
            },
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Counters so far.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Writes one frame, or counts it as dropped when the file would pass its cap. Data longer
    /// than the snap length is cut to it.
    pub fn write(&mut self, frame: Frame<'_>) -> Result<(), CaptureError> {
        let snap = usize::try_from(self.snaplen).unwrap_or(usize::MAX);
        let data = frame.data.get(..snap).unwrap_or(frame.data);
        // EPB: 12 bytes framing + 20 fixed + padded data + flags option (8) + end of options (4).
        let padded = (data.len() as u64).div_ceil(4) * 4;
        let block_len = 32 + padded + 12;
        if self.stats.file_bytes + block_len + CLOSING_RESERVE > self.max_bytes {
            self.stats.dropped_cap += 1;
            return Ok(());
        }
        let orig_len = u32::try_from(frame.orig_len.max(data.len())).unwrap_or(u32::MAX);
        let flags = if frame.outgoing {
            EPB_FLAG_OUTBOUND
        } else {
            EPB_FLAG_INBOUND
        };
        let epb = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: frame.ts,
            original_len: orig_len,
            data: Cow::Borrowed(data),
            options: vec![EnhancedPacketOption::Flags(flags)],
        };
        let written = self
            .inner
            .write_pcapng_block(epb)
            .map_err(|source| CaptureError::Write {
                path: self.path.clone(),
                source,
            })?;
        self.stats.file_bytes += written as u64;
        self.stats.packets += 1;
        self.stats.wire_bytes += u64::from(orig_len);
        if data.len() < frame.orig_len {
            self.stats.truncated += 1;
        }
        Ok(())
    }

    /// Pushes buffered blocks to the file, so that readers see every frame written so far.
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        self.inner
            .get_mut()
            .flush()
            .map_err(|e| CaptureError::Write {
                path: self.path.clone(),
                source: PcapError::IoError(e),
            })
    }

    /// Writes the closing statistics block (frames received, dropped by the kernel and by the
    /// cap), flushes, and returns the counters.
    pub fn finish(
        mut self,
        end_ts: Duration,
        kernel_packets: u64,
        kernel_drops: u64,
    ) -> Result<WriterStats, CaptureError> {
        let nanos = u64::try_from(end_ts.as_nanos()).unwrap_or(u64::MAX);
        let mut options = vec![
            InterfaceStatisticsOption::IsbEndTime(nanos),
            InterfaceStatisticsOption::IsbIfRecv(kernel_packets),
            InterfaceStatisticsOption::IsbIfDrop(kernel_drops),
        ];
        if self.stats.dropped_cap > 0 {
            options.push(InterfaceStatisticsOption::Comment(Cow::Owned(format!(
                "{} frames not written: file size cap of {} bytes reached",
                self.stats.dropped_cap, self.max_bytes
            ))));
        }
        let isb = InterfaceStatisticsBlock {
            interface_id: 0,
            timestamp: nanos,
            options,
        };
        let written = self
            .inner
            .write_pcapng_block(isb)
            .map_err(|source| CaptureError::Write {
                path: self.path.clone(),
                source,
            })?;
        self.stats.file_bytes += written as u64;
        self.flush()?;
        Ok(self.stats)
    }
}
