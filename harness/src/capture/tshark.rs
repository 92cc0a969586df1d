//! Cross-check with an independent decoder: Wireshark's BGP dissector (via `tshark`) must find
//! no malformed BGP message and no expert warning or error on any frame carrying BGP.
//!
//! Runs `tshark -n -r FILE -Y 'bgp && (_ws.malformed || _ws.expert.severity >= warning)'` and
//! reports the offending frames with their expert items. Name resolution is off (`-n`): the
//! check must not send DNS queries. If `tshark` is not installed the caller gets
//! [`TsharkError::Missing`] and should mark the check ignored with that reason.

use std::io;
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The display filter of the check.
pub const MALFORMED_BGP_FILTER: &str = "bgp && (_ws.malformed || _ws.expert.severity >= warning)";

/// Expert severities (epan/proto.h `PI_*`), as `_ws.expert.severity` prints them.
const SEVERITY_WARN: u32 = 0x0060_0000;

/// Field separator and aggregator for `-T fields`: control characters that no field contains.
const SEP: char = '\u{1f}';
const AGG: char = '\u{1e}';

/// One frame tshark objects to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TsharkFinding {
    /// Frame number in the file (1-based).
    pub frame: u64,
    /// tshark's Info column for the frame.
    pub info: String,
    /// The expert items of warning severity or above on this frame.
    pub items: Vec<ExpertItem>,
}

/// One expert item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpertItem {
    /// `warning` or `error` (or the raw value).
    pub severity: String,
    /// `malformed`, `protocol`, `sequence`, ... (or the raw value).
    pub group: String,
    pub message: String,
}

/// Why the cross-check could not run.
#[derive(Debug, thiserror::Error)]
pub enum TsharkError {
    /// tshark is not installed: the check cannot run here.
    #[error("tshark is not installed (Debian package `tshark`): {0}")]
    Missing(String),
    /// tshark ran but failed (e.g. it could not read the file).
    #[error("failed to run tshark on {path}: exit status {status}: {stderr}")]
    Failed {
        path: String,
        status: String,
        stderr: String,
    },
    /// tshark could not be started.
    #[error("failed to start tshark: {0}")]
    Io(#[source] io::Error),
}

/// Frames of `capture` carrying BGP that tshark finds malformed or flags with an expert warning
/// or error. An empty list means the independent decoder agrees every BGP message is well formed.
pub fn tshark_bgp_findings(capture: &Path) -> Result<Vec<TsharkFinding>, TsharkError> {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(capture)
        .args(["-Y", MALFORMED_BGP_FILTER, "-T", "fields"])
        .args(["-E", &format!("separator={SEP}")])
        .args(["-E", "occurrence=a"])
        .args(["-E", &format!("aggregator={AGG}")])
        .args(["-e", "frame.number"])
        .args(["-e", "_ws.expert.severity"])
        .args(["-e", "_ws.expert.group"])
        .args(["-e", "_ws.expert.message"])
        .args(["-e", "_ws.col.Info"])
        .output()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                TsharkError::Missing(e.to_string())
            } else {
                TsharkError::Io(e)
            }
        })?;
    if !out.status.success() {
        return Err(TsharkError::Failed {
            path: capture.display().to_string(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(parse_fields(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses the `-T fields` output (one frame per line).
fn parse_fields(stdout: &str) -> Vec<TsharkFinding> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let mut f = line.split(SEP);
            let frame = f.next()?.trim().parse().ok()?;
            let severities: Vec<&str> = split_agg(f.next().unwrap_or_default());
            let groups: Vec<&str> = split_agg(f.next().unwrap_or_default());
            let messages: Vec<&str> = split_agg(f.next().unwrap_or_default());
            let info = f.next().unwrap_or_default().to_string();
            let items = severities
                .iter()
                .enumerate()
                .filter(|(_, s)| parse_num(s).is_none_or(|v| v >= SEVERITY_WARN))
                .map(|(i, s)| ExpertItem {
                    severity: severity_name(s),
                    group: group_name(groups.get(i).copied().unwrap_or_default()),
                    message: messages.get(i).copied().unwrap_or_default().to_string(),
                })
                .collect();
            Some(TsharkFinding { frame, info, items })
        })
        .collect()
}

fn split_agg(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(AGG).collect()
    }
}

fn parse_num(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn severity_name(s: &str) -> String {
    match parse_num(s) {
        Some(0x0060_0000) => "warning".into(),
        Some(0x0080_0000) => "error".into(),
        Some(0x0040_0000) => "note".into(),
        Some(0x0020_0000) => "chat".into(),
        Some(0x0010_0000) => "comment".into(),
        _ => s.to_string(),
    }
}

fn group_name(s: &str) -> String {
    let name = match parse_num(s) {
        Some(0x0100_0000) => "checksum",
        Some(0x0200_0000) => "sequence",
        Some(0x0300_0000) => "response-code",
        Some(0x0400_0000) => "request-code",
        Some(0x0500_0000) => "undecoded",
        Some(0x0600_0000) => "reassemble",
        Some(0x0700_0000) => "malformed",
        Some(0x0800_0000) => "debug",
        Some(0x0900_0000) => "protocol",
        Some(0x0a00_0000) => "security",
        Some(0x0b00_0000) => "comments",
        Some(0x0c00_0000) => "decryption",
        Some(0x0d00_0000) => "assumption",
        Some(0x0e00_0000) => "deprecated",
        _ => return s.to_string(),
    };
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_frames_and_keeps_only_warnings_and_errors() {
        let out = format!(
            "12{SEP}2097152{AGG}8388608{SEP}33554432{AGG}117440512{SEP}SYN{AGG}Malformed Packet (Exception occurred){SEP}UPDATE Message\n\n"
        );
        let f = parse_fields(&out);
        assert_eq!(
            f,
            vec![TsharkFinding {
                frame: 12,
                info: "UPDATE Message".into(),
                items: vec![ExpertItem {
                    severity: "error".into(),
                    group: "malformed".into(),
                    message: "Malformed Packet (Exception occurred)".into(),
                }],
            }]
        );
        assert!(parse_fields("").is_empty());
    }
}
