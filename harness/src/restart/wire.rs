//! What the captures say about graceful restart: per session, each side's OPENs (R/F bits,
//! Restart Time), End-of-RIB markers per connection and NOTIFICATIONs.
//!
//! The capture is stopped by [`Fabric::finish`](crate::run::Fabric::finish); run with
//! `RunOptions::artifacts` set so the pcaps stay, then read them with [`gr_sessions`].

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::RestartError;
use crate::capture::{capture_file_name, decode_capture, session_reports, SessionWireReport};
use crate::capture::{SpeakerWire, WireEvent};
use crate::topology::{LinkPlan, NodeId, Plan};

/// One session's capture with the nodes named.
#[derive(Debug, Clone)]
pub struct GrSessionView {
    pub link: LinkPlan,
    pub report: SessionWireReport,
    /// Both ends' loopbacks: multihop sessions (RR nodes) run between them, not between the
    /// link's addresses.
    pub loopbacks: [(NodeId, Ipv4Addr); 2],
}

impl GrSessionView {
    /// What `node` sent on this session (over the link or between loopbacks).
    pub fn side(&self, node: &NodeId) -> Option<&SpeakerWire> {
        let (me, _) = self.link.ends_from(node)?;
        self.report.speaker(IpAddr::V4(me.v4.addr())).or_else(|| {
            let lo = self.loopbacks.iter().find(|(n, _)| n == node)?.1;
            self.report.speaker(IpAddr::V4(lo))
        })
    }

    /// Whether the session is between `a` and `b` (either order).
    pub fn between(&self, a: &NodeId, b: &NodeId) -> bool {
        (&self.link.a.node == a && &self.link.b.node == b)
            || (&self.link.a.node == b && &self.link.b.node == a)
    }
}

/// Decodes every link's capture found in `pcap_dir` (links without a file are skipped) and
/// returns the sessions, named by link.
pub fn gr_sessions(pcap_dir: &Path, plan: &Plan) -> Result<Vec<GrSessionView>, RestartError> {
    let mut out = Vec::new();
    for link in &plan.links {
        let path = pcap_dir.join(capture_file_name(link));
        if !path.is_file() {
            continue;
        }
        let (events, _): (Vec<WireEvent>, _) =
            decode_capture(&path, link.id).map_err(|e| RestartError::Io {
                what: format!("failed to decode {}", path.display()),
                source: std::io::Error::other(e.to_string()),
            })?;
        let lo = |n: &NodeId| {
            let addr = plan
                .node(n)
                .map_or(Ipv4Addr::UNSPECIFIED, |p| p.loopback_v4);
            (n.clone(), addr)
        };
        let loopbacks = [lo(&link.a.node), lo(&link.b.node)];
        for report in session_reports(&events) {
            out.push(GrSessionView {
                link: link.clone(),
                report,
                loopbacks: loopbacks.clone(),
            });
        }
    }
    Ok(out)
}
