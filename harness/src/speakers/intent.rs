//! What every renderer reads from the plan for one node, derived once: its sessions (with names
//! safe for any daemon), the prefixes it originates, and whether it originates a default.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::Ipv4Net;

use super::api::{NodeContext, SpeakerError};
use super::writer::ConfigWriter;
use crate::topology::{NodePlan, SessionSide, SpeakerKind};

/// One session seen from this node.
#[derive(Debug, Clone)]
pub(crate) struct Peer<'a> {
    /// `p_<peer>_<ifname>` with every non-alphanumeric character as `_`: a valid BIRD protocol
    /// name, GoBGP set name and FRR route-map name, unique within the node.
    pub ident: String,
    pub local: &'a SessionSide,
    pub remote: &'a SessionSide,
    pub ibgp: bool,
    /// Loopback to loopback across other nodes (an RR node's iBGP sessions).
    pub multihop: bool,
}

/// One node's BGP intent.
#[derive(Debug, Clone)]
pub(crate) struct NodeIntent<'a> {
    pub node: &'a NodePlan,
    pub peers: Vec<Peer<'a>>,
    /// Blocks and other originated prefixes, sorted, without duplicates. Calico exports each
    /// confirmed block once and installs a local blackhole for it (calico-designs.md §1.3); the
    /// renderers do the same for `originates` (a null route is how a router originates a prefix
    /// it has no more-specific route for).
    pub originated: Vec<Ipv4Net>,
    /// Some session originates a default route towards its peer.
    pub default_originate: bool,
}

impl<'a> NodeIntent<'a> {
    /// Derives the intent of `ctx.node`. IPv6 sessions are refused: every renderer here speaks
    /// IPv4 unicast only (v6 blocks would need v6 or extended-next-hop sessions, RFC 8950).
    pub(crate) fn of(ctx: &NodeContext<'a>, kind: SpeakerKind) -> Result<Self, SpeakerError> {
        let node = ctx.node;
        let mut peers = Vec::new();
        let mut idents = BTreeSet::new();
        let mut addrs = BTreeSet::new();
        for (local, remote, session) in ctx.plan.sessions_of(&node.id) {
            if !matches!(
                (local.local_addr, remote.local_addr),
                (IpAddr::V4(_), IpAddr::V4(_))
            ) || !local.peer_addr.is_ipv4()
            {
                return Err(render_error(
                    kind,
                    node,
                    format!(
                        "session {} -> {} is not IPv4; only IPv4 unicast sessions are rendered",
                        local.local_addr, local.peer_addr
                    ),
                ));
            }
            if !addrs.insert(local.peer_addr) {
                return Err(render_error(
                    kind,
                    node,
                    format!("two sessions to the same peer address {}", local.peer_addr),
                ));
            }
            let base = sanitize(&format!("p_{}_{}", remote.node, local.ifname));
            let mut ident = base.clone();
            let mut n = 2;
            while !idents.insert(ident.clone()) {
                ident = format!("{base}_{n}");
                n += 1;
            }
            peers.push(Peer {
                ident,
                local,
                remote,
                ibgp: session.ibgp,
                multihop: session.multihop,
            });
        }
        let originated: BTreeSet<Ipv4Net> = node
            .blocks
            .iter()
            .chain(node.originates.iter())
            .map(Ipv4Net::trunc)
            .collect();
        let default_originate = peers.iter().any(|p| p.local.default_originate);
        Ok(NodeIntent {
            node,
            peers,
            originated: originated.into_iter().collect(),
            default_originate,
        })
    }
}

/// The header every rendered file starts with: lab, node, role, AS, design, speaker.
pub(crate) fn header(w: &mut ConfigWriter, ctx: &NodeContext<'_>, kind: SpeakerKind, file: &str) {
    let n = ctx.node;
    w.comment(format_args!(
        "fabriclab {file}: lab {}, node {} ({}, AS {}), design {}, speaker {kind}",
        ctx.plan.name, n.id, n.role, n.asn, ctx.plan.design
    ));
    w.comment("Rendered from the resolved plan on every start; edits are lost.");
}

pub(crate) fn render_error(kind: SpeakerKind, node: &NodePlan, reason: String) -> SpeakerError {
    SpeakerError::Render {
        kind,
        node: node.id.clone(),
        reason,
    }
}

/// Keeps ASCII letters and digits, maps everything else to `_`.
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Unix socket paths are limited to 108 bytes including the NUL (sockaddr_un.sun_path).
pub(crate) fn check_socket_path(
    kind: SpeakerKind,
    node: &NodePlan,
    path: &std::path::Path,
) -> Result<(), SpeakerError> {
    let len = path.as_os_str().len();
    if len >= 108 {
        return Err(render_error(
            kind,
            node,
            format!(
                "socket path {} is {len} bytes; sockaddr_un allows 107: use a shorter lab run directory",
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_alnum_only() {
        assert_eq!(sanitize("p_ext-1_e0.1"), "p_ext_1_e0_1");
    }
}
