//! The two-node lab of every interop case: node `dut` (the bundled speaker) and node `peer`, one
//! veth link between them with an IPv4 /31 and an IPv6 /127, captured from before any daemon
//! starts so the first SYN and OPEN are in the file.
//!
//! Configurations, daemon logs and the capture go into one artifacts directory per case. It is
//! removed when the case passes and kept (its path in the failure message) when it fails.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use fabriclab::capture::{Capture, CaptureConfig, CaptureTarget};
use fabriclab::lab::{BuildOptions, Lab};
use fabriclab::topology::{self, LinkPlan, NodeId};

use super::Transport;
use crate::unique_lab_name;

/// The topology: two nodes, one link; `dut` is side `a` (the lower addresses).
pub const TOPOLOGY: &str = "\
name: interop-pair
pods-per-node: 0
nodes:
  - { name: dut, role: spine, asn: 4200000001 }
  - { name: peer, role: external, asn: 4200000002 }
links:
  - { a: dut, b: peer }
";

/// Node of the bundled speaker.
pub const DUT: &str = "dut";
/// Node of the peer.
pub const PEER: &str = "peer";

/// A built two-node lab with its running capture. Dropping it stops the capture and tears the
/// namespaces down (killing whatever still runs in them).
#[derive(Debug)]
pub struct Pair {
    // Field order is drop order: the capture stops before the lab goes.
    capture: Option<Capture>,
    lab: Lab,
    link: LinkPlan,
    artifacts: Option<tempfile::TempDir>,
    dir: PathBuf,
}

impl Pair {
    /// Builds the lab (named after `tag`), creates the artifacts directory and starts capturing
    /// the link.
    pub fn build(tag: &str) -> Result<Pair> {
        let plan = topology::parse(TOPOLOGY, "interop-pair.yaml")?;
        let link = plan
            .links
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("the interop topology has no link"))?;
        let artifacts = tempfile::Builder::new()
            .prefix("fl-interop-")
            .tempdir()
            .context("failed to create the artifacts directory")?;
        let dir = artifacts.path().to_path_buf();
        let lab = Lab::build(
            &plan,
            BuildOptions {
                name: Some(unique_lab_name(tag)),
                ..BuildOptions::default()
            },
        )?;
        let netns = lab.netns_path(&link.a.node)?.to_path_buf();
        let capture = Capture::start(
            CaptureConfig::new(dir.join("capture")),
            [CaptureTarget::a_end(&link, netns)],
        )?;
        Ok(Pair {
            capture: Some(capture),
            lab,
            link,
            artifacts: Some(artifacts),
            dir,
        })
    }

    /// The lab.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The link.
    pub fn link(&self) -> &LinkPlan {
        &self.link
    }

    /// The artifacts directory (configurations, logs, capture).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The namespace of `dut`.
    pub fn dut_netns(&self) -> Result<PathBuf> {
        Ok(self.lab.netns_path(&NodeId::from(DUT))?.to_path_buf())
    }

    /// The namespace of `peer`.
    pub fn peer_netns(&self) -> Result<PathBuf> {
        Ok(self.lab.netns_path(&NodeId::from(PEER))?.to_path_buf())
    }

    /// The session addresses `(bundled, peer)` over `transport`.
    pub fn addresses(&self, transport: Transport) -> (IpAddr, IpAddr) {
        let (a, b) = (&self.link.a, &self.link.b);
        match transport {
            Transport::V4 => (IpAddr::V4(a.v4.addr()), IpAddr::V4(b.v4.addr())),
            Transport::V6 => (IpAddr::V6(a.v6.addr()), IpAddr::V6(b.v6.addr())),
        }
    }

    /// Stops the capture and returns the pcapng file of the link.
    pub fn stop_capture(&mut self) -> Result<PathBuf> {
        let capture = self
            .capture
            .take()
            .ok_or_else(|| anyhow!("the capture was already stopped"))?;
        let summary = capture.stop()?;
        let link = summary
            .links
            .into_iter()
            .find(|l| l.link == self.link.id)
            .ok_or_else(|| anyhow!("the capture has no file for link {}", self.link.id))?;
        if let Some(e) = link.error {
            return Err(anyhow!("capturing {} failed: {e}", link.label));
        }
        if link.dropped() > 0 {
            return Err(anyhow!(
                "the capture of {} dropped {} frames: the wire checks would be incomplete",
                link.label,
                link.dropped()
            ));
        }
        Ok(link.path)
    }

    /// Keeps the artifacts directory after the pair is dropped (for a failing case); returns it.
    pub fn keep_artifacts(&mut self) -> PathBuf {
        if let Some(t) = self.artifacts.take() {
            let _ = t.keep();
        }
        self.dir.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topology_resolves_to_two_nodes_and_one_dual_stack_link() {
        let plan = topology::parse(TOPOLOGY, "interop-pair.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.nodes.len(), 2);
        assert_eq!(plan.links.len(), 1);
        assert!(plan.pods.is_empty());
        let l = &plan.links[0];
        assert_eq!((l.a.node.as_str(), l.b.node.as_str()), (DUT, PEER));
        assert_eq!((l.a.v4.prefix_len(), l.a.v6.prefix_len()), (31, 127));
        assert_ne!(l.a.v4.addr(), l.b.v4.addr());
    }
}
