//! What the RIB knows about a neighbour: its configuration (known before the session exists) and
//! the facts learned when the session reached Established (router id, negotiated families,
//! local address). These are the per-peer inputs of the decision process (RFC 4271 §9.1) and of
//! the propagation rules (RFC 4271 §9.2, RFC 4456 §6).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use fabric_bgp_wire::{AfiSafi, Asn, RouterId};
use serde::{Deserialize, Serialize};

use crate::policy::Policy;

/// Handle of a neighbour in the RIB, returned by [`crate::rib::Rib::add_peer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(pub u32);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// Where a path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteSource {
    /// Originated by this speaker (configuration or pod block).
    Local,
    /// Learned from a neighbour.
    Peer(PeerId),
}

/// Session type, from comparing the peer's AS with our (per-peer) local AS (RFC 4271 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerKind {
    /// Internal: same AS.
    Ibgp,
    /// External: different AS.
    Ebgp,
}

/// When to replace the next hop with our own address towards an iBGP peer (RFC 4271 §5.1.3).
/// Towards eBGP peers the next hop is always our own address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NextHopSelf {
    /// Keep the next hop of learned routes (RFC 4271 default).
    #[default]
    Off,
    /// Own address for eBGP-learned routes; reflected iBGP routes keep theirs (FRR
    /// `next-hop-self`). Gives Calico nodes "ToR for external, each other inside the rack".
    NonReflected,
    /// Own address for every route, reflected ones included (FRR `next-hop-self force`): the
    /// AS-per-rack ToR that must be the next hop for everything it sends to its nodes.
    All,
}

/// Per-neighbour configuration the RIB needs. Known before the session comes up.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The neighbour's address (the session's remote address).
    pub address: IpAddr,
    /// Local AS used towards this neighbour; `None` means the global local AS.
    pub local_as: Option<Asn>,
    /// The neighbour is a route-reflector client of ours (RFC 4456 §6).
    pub route_reflector_client: bool,
    /// Next-hop-self behaviour towards iBGP.
    pub next_hop_self: NextHopSelf,
    /// Accept paths containing our own AS up to this many times (allowas-in; RFC 4271 §9.1.2
    /// loop detection relaxed for racks reusing one AS).
    pub allowas_in: u8,
    /// Send a default route with ourselves as next hop, whether or not the RIB has one.
    pub default_originate: bool,
    /// Import policy; `None` = not configured (see [`crate::rib::RibConfig::ebgp_requires_policy`]).
    pub import_policy: Option<Arc<Policy>>,
    /// Export policy; `None` = not configured.
    pub export_policy: Option<Arc<Policy>>,
    /// MinRouteAdvertisementInterval (RFC 4271 §9.2.1.1); zero sends at once.
    pub mrai: Duration,
    /// Reject eBGP paths whose first AS is not the peer's AS (RFC 7606 §7.2, FRR default).
    pub enforce_first_as: bool,
}

impl PeerConfig {
    /// Defaults for a neighbour at `address`: no RR client, no next-hop-self, no policies,
    /// MRAI 0, first-AS enforcement on.
    pub fn new(address: IpAddr) -> Self {
        PeerConfig {
            address,
            local_as: None,
            route_reflector_client: false,
            next_hop_self: NextHopSelf::Off,
            allowas_in: 0,
            default_originate: false,
            import_policy: None,
            export_policy: None,
            mrai: Duration::ZERO,
            enforce_first_as: true,
        }
    }
}

/// Facts from the Established session, given to [`crate::rib::Rib::peer_up`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSession {
    /// The peer's AS (from the 4-octet AS capability when present).
    pub remote_as: Asn,
    /// The peer's BGP Identifier from its OPEN.
    pub remote_router_id: RouterId,
    /// Address families negotiated (multiprotocol capability, or IPv4 unicast by default).
    pub families: Vec<AfiSafi>,
    /// Our IPv4 address used as next hop "self" for IPv4 routes.
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Our IPv6 address used as next hop "self" for IPv6 routes.
    pub next_hop_v6: Option<Ipv6Addr>,
    /// The peer advertised long-lived graceful restart (RFC 9494): it may be sent LLGR_STALE
    /// routes (§4.3).
    pub long_lived: bool,
}

impl PeerSession {
    /// A session whose local address (the TCP socket's) provides next hop self for its family.
    pub fn new(
        remote_as: Asn,
        remote_router_id: RouterId,
        local_address: IpAddr,
        families: Vec<AfiSafi>,
    ) -> Self {
        // A dual-stack socket reports an IPv4 session's address as ::ffff:a.b.c.d: that is an
        // IPv4 next hop, not a usable IPv6 one.
        let (next_hop_v4, next_hop_v6) = match local_address {
            IpAddr::V4(a) => (Some(a), None),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => (Some(v4), None),
                None => (None, Some(a)),
            },
        };
        PeerSession {
            remote_as,
            remote_router_id,
            families,
            next_hop_v4,
            next_hop_v6,
            long_lived: false,
        }
    }

    /// Our address as next hop for a prefix of the given family.
    pub fn next_hop_self(&self, ipv6: bool) -> Option<IpAddr> {
        if ipv6 {
            self.next_hop_v6.map(IpAddr::V6)
        } else {
            self.next_hop_v4.map(IpAddr::V4)
        }
    }
}

/// The decision- and propagation-relevant view of one neighbour: peer address, peer AS, peer
/// router id, iBGP/eBGP, RR client, local AS and local router id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// Neighbour address.
    pub address: IpAddr,
    /// Neighbour AS.
    pub remote_as: Asn,
    /// Neighbour BGP Identifier.
    pub router_id: RouterId,
    /// iBGP or eBGP.
    pub kind: PeerKind,
    /// Route-reflector client.
    pub rr_client: bool,
    /// Our AS on this session.
    pub local_as: Asn,
    /// Our BGP Identifier.
    pub local_router_id: RouterId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_hop_self_per_family_from_the_session_address() {
        let rid = RouterId("1.1.1.1".parse().unwrap());
        let fams = vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];
        let v4 = PeerSession::new(Asn(1), rid, "10.0.0.1".parse().unwrap(), fams.clone());
        assert_eq!(v4.next_hop_self(false), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(v4.next_hop_self(true), None);
        let mapped = PeerSession::new(
            Asn(1),
            rid,
            "::ffff:10.0.0.1".parse().unwrap(),
            fams.clone(),
        );
        assert_eq!(
            mapped.next_hop_self(false),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(mapped.next_hop_self(true), None);
        let v6 = PeerSession::new(Asn(1), rid, "fd00::1".parse().unwrap(), fams);
        assert_eq!(v6.next_hop_self(true), Some("fd00::1".parse().unwrap()));
        assert_eq!(v6.next_hop_self(false), None);
    }
}
