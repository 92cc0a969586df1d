//! What the capture says about the messages the bundled speaker sent: decoded with the project's
//! codec (`fabriclab::capture::decode_capture`) and dissected by Wireshark (`tshark`), only the
//! bundled speaker's direction judged (a peer's quirks are not the speaker's bugs).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use anyhow::Result;
use fabric_bgp_wire::{Asn, Message};
use fabriclab::capture::{tshark_bgp_findings, WireEvent};

use super::cli::{self, QUERY_TIMEOUT};

/// One OPEN the bundled speaker sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSent {
    /// The 2-octet "My Autonomous System" field.
    pub my_as: u16,
    /// The 4-octet AS capability's value.
    pub four_octet_as: Option<Asn>,
}

/// The bundled speaker's messages in a capture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentFacts {
    /// Decoded messages.
    pub messages: u64,
    pub opens: Vec<OpenSent>,
    pub updates: u64,
    pub keepalives: u64,
    /// (code, subcode) of each NOTIFICATION.
    pub notifications: Vec<(u8, u8)>,
    /// Everything our decoder objected to in this direction, one line each.
    pub problems: Vec<String>,
}

/// Collects what `sender` sent, from decoded capture events.
pub fn sent_by(events: &[WireEvent], sender: IpAddr) -> SentFacts {
    let mut f = SentFacts::default();
    for e in events.iter().filter(|e| e.src.ip() == sender) {
        if e.is_problem() {
            f.problems.push(format!(
                "conn {} {} -> {}: {}",
                e.conn,
                e.src,
                e.dst,
                e.summary()
            ));
        }
        let Some(m) = e.message() else { continue };
        f.messages += 1;
        match m {
            Message::Open(o) => f.opens.push(OpenSent {
                my_as: o.my_as,
                four_octet_as: o.four_octet_asn(),
            }),
            Message::Update(_) => f.updates += 1,
            Message::Keepalive => f.keepalives += 1,
            Message::Notification(n) => f.notifications.push((n.code.code(), n.code.subcode())),
            Message::RouteRefresh(_) => {}
        }
    }
    f
}

/// Source address of every frame carrying BGP, by frame number (tshark's numbering).
pub fn frame_sources(pcap: &Path) -> Result<BTreeMap<u64, IpAddr>> {
    let mut cmd = Command::new(cli::exe("tshark"));
    cmd.arg("-n")
        .arg("-r")
        .arg(pcap)
        .args(["-Y", "bgp", "-T", "fields"])
        .args(["-e", "frame.number", "-e", "ip.src", "-e", "ipv6.src"]);
    Ok(parse_frame_sources(&cli::run(cmd, None, QUERY_TIMEOUT)?))
}

/// Parses `frame.number \t ip.src \t ipv6.src` lines.
pub fn parse_frame_sources(text: &str) -> BTreeMap<u64, IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let frame = f.next()?.trim().parse().ok()?;
            let src = f.find_map(|a| a.trim().parse::<IpAddr>().ok())?;
            Some((frame, src))
        })
        .collect()
}

/// tshark's objections (malformed, expert warnings and errors) to frames `sender` sent, one line
/// each; frames whose source cannot be told are counted against the sender (never hidden).
pub fn tshark_objections(pcap: &Path, sender: IpAddr) -> Result<Vec<String>> {
    let findings = tshark_bgp_findings(pcap)?;
    if findings.is_empty() {
        return Ok(Vec::new());
    }
    let sources = frame_sources(pcap)?;
    Ok(findings
        .into_iter()
        .filter(|f| sources.get(&f.frame).is_none_or(|s| *s == sender))
        .map(|f| {
            let items: Vec<String> = f
                .items
                .iter()
                .map(|i| format!("{} {}: {}", i.severity, i.group, i.message))
                .collect();
            format!("frame {} ({}): {}", f.frame, f.info, items.join("; "))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sources_of_both_families() {
        let s = parse_frame_sources("1\t10.0.0.0\t\n2\t\tfd00:0:0:1::1\nbad line\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(&1), "10.0.0.0".parse::<IpAddr>().ok().as_ref());
        assert_eq!(s.get(&2), "fd00:0:0:1::1".parse::<IpAddr>().ok().as_ref());
    }
}
