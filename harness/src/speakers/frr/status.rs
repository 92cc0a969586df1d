//! Parsing `vtysh -c 'show bgp neighbors json'`: an object keyed by neighbor address.

use std::collections::BTreeMap;

use fabric_bgp_wire::{Afi, AfiSafi, Asn, Safi};
use serde::Deserialize;

use super::super::api::{NegotiatedCaps, NeighborState, SpeakerError};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Neighbor {
    #[serde(default)]
    remote_as: Option<u32>,
    #[serde(default)]
    bgp_state: String,
    #[serde(default)]
    neighbor_capabilities: Option<Capabilities>,
    #[serde(default)]
    address_family_info: BTreeMap<String, AfInfo>,
}

#[derive(Debug, Deserialize)]
struct Capabilities {
    #[serde(rename = "4byteAs", default)]
    four_byte_as: Option<String>,
    #[serde(rename = "routeRefresh", default)]
    route_refresh: Option<String>,
    #[serde(rename = "gracefulRestart", default)]
    graceful_restart: Option<String>,
    #[serde(rename = "multiprotocolExtensions", default)]
    multiprotocol: BTreeMap<String, MpState>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MpState {
    #[serde(default)]
    advertised_and_received: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AfInfo {
    #[serde(default)]
    accepted_prefix_counter: Option<u64>,
}

/// FRR's words for a capability both sides sent: `advertisedAndReceived`, and for route refresh
/// `advertisedAndReceivedNew`/`...Old`/`...OldNew`.
fn negotiated(v: &Option<String>) -> Option<bool> {
    v.as_ref().map(|s| s.starts_with("advertisedAndReceived"))
}

fn af_of(name: &str) -> Option<AfiSafi> {
    let (afi, safi) = match name {
        "ipv4Unicast" => (Afi::Ipv4, Safi::Unicast),
        "ipv6Unicast" => (Afi::Ipv6, Safi::Unicast),
        "ipv4Multicast" => (Afi::Ipv4, Safi::Multicast),
        "ipv6Multicast" => (Afi::Ipv6, Safi::Multicast),
        _ => return None,
    };
    Some(AfiSafi { afi, safi })
}

/// The neighbors in `json`, ordered by address.
pub(crate) fn parse_neighbors(json: &str) -> Result<Vec<NeighborState>, SpeakerError> {
    let map: BTreeMap<String, Neighbor> =
        serde_json::from_str(json).map_err(|e| SpeakerError::Parse {
            what: "vtysh show bgp neighbors json".to_string(),
            reason: e.to_string(),
        })?;
    Ok(map
        .into_iter()
        .map(|(addr, n)| {
            let established = n.bgp_state == "Established";
            let caps = match (&n.neighbor_capabilities, established) {
                (Some(c), true) => NegotiatedCaps {
                    four_octet_as: Some(negotiated(&c.four_byte_as).unwrap_or(false)),
                    route_refresh: Some(negotiated(&c.route_refresh).unwrap_or(false)),
                    graceful_restart: Some(negotiated(&c.graceful_restart).unwrap_or(false)),
                    address_families: c
                        .multiprotocol
                        .iter()
                        .filter(|(_, s)| s.advertised_and_received)
                        .filter_map(|(name, _)| af_of(name))
                        .collect(),
                },
                _ => NegotiatedCaps::default(),
            };
            let prefixes_received = n
                .address_family_info
                .values()
                .filter_map(|a| a.accepted_prefix_counter)
                .reduce(|a, b| a + b);
            NeighborState {
                peer_addr: addr.parse().ok(),
                name: addr,
                peer_as: n.remote_as.map(Asn),
                state: n.bgp_state,
                established,
                prefixes_received,
                caps,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from FRR 8.4.4 (AS 65002) with a BIRD 2.0.12 peer (AS 4200000001, 10.0.0.0) and
    /// a GoBGP 3.10 peer (AS 65003, 10.0.0.3).
    const JSON: &str = include_str!("testdata/show_bgp_neighbors.json");

    #[test]
    fn established_neighbors_and_capabilities() {
        let n = parse_neighbors(JSON).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.len(), 2);
        let bird = &n[0];
        assert_eq!(bird.name, "10.0.0.0");
        assert_eq!(bird.peer_as, Some(Asn(4_200_000_001)));
        assert!(bird.established);
        assert_eq!(bird.prefixes_received, Some(1));
        assert_eq!(bird.caps.four_octet_as, Some(true));
        assert_eq!(bird.caps.route_refresh, Some(true));
        assert_eq!(bird.caps.graceful_restart, Some(true));
        assert_eq!(bird.caps.address_families, vec![AfiSafi::IPV4_UNICAST]);
        assert_eq!(n[1].peer_as, Some(Asn(65003)));
    }

    #[test]
    fn idle_neighbor_has_no_capabilities() {
        let json = r#"{"10.0.0.9":{"remoteAs":65009,"bgpState":"Active"}}"#;
        let n = parse_neighbors(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n[0].state, "Active");
        assert!(!n[0].established);
        assert_eq!(n[0].caps, NegotiatedCaps::default());
        assert_eq!(n[0].prefixes_received, None);
    }

    #[test]
    fn one_sided_capability_is_not_negotiated() {
        let json = JSON.replacen(
            "\"4byteAs\":\"advertisedAndReceived\"",
            "\"4byteAs\":\"advertised\"",
            1,
        );
        let n = parse_neighbors(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n[0].caps.four_octet_as, Some(false));
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert!(matches!(
            parse_neighbors("% Unknown command"),
            Err(SpeakerError::Parse { .. })
        ));
    }
}
