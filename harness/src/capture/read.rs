//! Reading captured frames back from a pcapng (what [`super::Capture`] writes) or classic pcap
//! file, with timestamps in their file's resolution converted to time since the Unix epoch.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, PcapError, TsResolution};

use super::error::CaptureError;

/// One frame of a capture file.
#[derive(Debug, Clone, Copy)]
pub struct CapturedFrame<'a> {
    /// Time since the Unix epoch.
    pub ts: Duration,
    /// The bytes stored (maybe cut by the snap length).
    pub data: &'a [u8],
    /// Length on the wire.
    pub orig_len: u32,
}

/// pcapng section header block type, read as the first four bytes in either byte order.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Calls `f` for every Ethernet frame of the file, in file order, and returns how many there
/// were. Frames of non-Ethernet interfaces are skipped.
pub fn for_each_frame(
    path: &Path,
    mut f: impl FnMut(CapturedFrame<'_>),
) -> Result<u64, CaptureError> {
    let read_err = |source| CaptureError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(|e| read_err(PcapError::IoError(e)))?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)
        .map_err(|e| read_err(PcapError::IoError(e)))?;
    let file = File::open(path).map_err(|e| read_err(PcapError::IoError(e)))?;
    if magic == PCAPNG_MAGIC {
        read_pcapng(BufReader::new(file), &mut f).map_err(read_err)
    } else {
        read_pcap(BufReader::new(file), &mut f).map_err(read_err)
    }
}

fn read_pcapng(reader: impl Read, f: &mut impl FnMut(CapturedFrame<'_>)) -> Result<u64, PcapError> {
    let mut r = PcapNgReader::new(reader)?;
    // Per interface: Ethernet?, and timestamp units per second (pcapng §4.2 if_tsresol).
    let mut ifaces: Vec<(bool, u128)> = Vec::new();
    let mut n = 0;
    while let Some(block) = r.next_block() {
        match block? {
            Block::SectionHeader(_) => ifaces.clear(),
            Block::InterfaceDescription(idb) => {
                let mut units = 1_000_000u128;
                for opt in &idb.options {
                    if let InterfaceDescriptionOption::IfTsResol(res) = opt {
                        units = tsresol_units(*res);
                    }
                }
                ifaces.push((idb.linktype == DataLink::ETHERNET, units));
            }
            Block::EnhancedPacket(epb) => {
                let idx = usize::try_from(epb.interface_id).unwrap_or(usize::MAX);
                let Some(&(ethernet, units)) = ifaces.get(idx) else {
                    continue;
                };
                if !ethernet {
                    continue;
                }
                // pcap-file hands the raw timestamp count over as nanoseconds; rescale it.
                let raw = epb.timestamp.as_nanos();
                let ts = units_to_duration(raw, units);
                f(CapturedFrame {
                    ts,
                    data: &epb.data,
                    orig_len: epb.original_len,
                });
                n += 1;
            }
            _ => {}
        }
    }
    Ok(n)
}

fn read_pcap(reader: impl Read, f: &mut impl FnMut(CapturedFrame<'_>)) -> Result<u64, PcapError> {
    let mut r = PcapReader::new(reader)?;
    let header = r.header();
    if header.datalink != DataLink::ETHERNET {
        return Ok(0);
    }
    let units = match header.ts_resolution {
        TsResolution::MicroSecond => 1_000_000,
        TsResolution::NanoSecond => 1_000_000_000,
    };
    let mut n = 0;
    // Raw packets: pcap-file 2's checked packets reject frames cut by the snap length.
    while let Some(pkt) = r.next_raw_packet() {
        let pkt = pkt?;
        let ts = Duration::from_secs(u64::from(pkt.ts_sec))
            + units_to_duration(u128::from(pkt.ts_frac), units);
        f(CapturedFrame {
            ts,
            data: &pkt.data,
            orig_len: pkt.orig_len,
        });
        n += 1;
    }
    Ok(n)
}

/// Timestamp units per second for an `if_tsresol` value: 10^n, or 2^n with the high bit set.
fn tsresol_units(res: u8) -> u128 {
    let exp = u32::from(res & 0x7f);
    let base: u128 = if res & 0x80 == 0 { 10 } else { 2 };
    base.checked_pow(exp).unwrap_or(1_000_000).max(1)
}

fn units_to_duration(count: u128, units_per_sec: u128) -> Duration {
    let units = units_per_sec.max(1);
    let secs = u64::try_from(count / units).unwrap_or(u64::MAX);
    let nanos = (count % units) * 1_000_000_000 / units;
    Duration::new(secs, u32::try_from(nanos).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_resolutions() {
        assert_eq!(tsresol_units(6), 1_000_000);
        assert_eq!(tsresol_units(9), 1_000_000_000);
        assert_eq!(tsresol_units(0x80 | 10), 1024);
        assert_eq!(
            units_to_duration(1_500_000, 1_000_000),
            Duration::from_millis(1500)
        );
        assert_eq!(
            units_to_duration(3_000_000_007, 1_000_000_000),
            Duration::new(3, 7)
        );
        assert_eq!(units_to_duration(1536, 1024), Duration::from_millis(1500));
    }
}
