//! Parsing `gobgp neighbor -j` (GoBGP 3's API objects as JSON).
//!
//! Capabilities come as protobuf `Any` values (`type_url` + base64 bytes); a capability is
//! negotiated when it is in both `local_cap` and `remote_cap`. Multiprotocol values are decoded
//! (a `Family{afi, safi}` message) to list the negotiated families.

use fabric_bgp_wire::{Afi, AfiSafi, Asn, Safi};
use serde::Deserialize;

use super::super::api::{NegotiatedCaps, NeighborState, SpeakerError};

#[derive(Debug, Deserialize)]
struct Peer {
    #[serde(default)]
    conf: Conf,
    #[serde(default)]
    state: State,
    #[serde(default)]
    afi_safis: Vec<AfiSafiEntry>,
}

#[derive(Debug, Default, Deserialize)]
struct Conf {
    #[serde(default)]
    neighbor_address: String,
    #[serde(default)]
    peer_asn: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
struct State {
    #[serde(default)]
    session_state: serde_json::Value,
    #[serde(default)]
    peer_asn: Option<u32>,
    #[serde(default)]
    remote_cap: Vec<Cap>,
    #[serde(default)]
    local_cap: Vec<Cap>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
struct Cap {
    #[serde(default)]
    type_url: String,
    #[serde(default)]
    value: Option<String>,
}

impl Cap {
    fn kind(&self) -> &str {
        self.type_url.rsplit('.').next().unwrap_or("")
    }
}

#[derive(Debug, Deserialize)]
struct AfiSafiEntry {
    #[serde(default)]
    state: AfiSafiState,
}

#[derive(Debug, Default, Deserialize)]
struct AfiSafiState {
    #[serde(default)]
    accepted: Option<u64>,
}

/// apipb `PeerState.SessionState`: the JSON has the enum number (or its name in some builds).
fn state_name(v: &serde_json::Value) -> String {
    let name = match v {
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(1) => "Idle",
            Some(2) => "Connect",
            Some(3) => "Active",
            Some(4) => "OpenSent",
            Some(5) => "OpenConfirm",
            Some(6) => "Established",
            _ => "Unknown",
        },
        serde_json::Value::String(s) => return s.to_string(),
        _ => "Unknown",
    };
    name.to_string()
}

/// The neighbors in `json`, in GoBGP's order.
pub(crate) fn parse_neighbors(json: &str) -> Result<Vec<NeighborState>, SpeakerError> {
    let peers: Vec<Peer> = serde_json::from_str(json).map_err(|e| SpeakerError::Parse {
        what: "gobgp neighbor -j".to_string(),
        reason: e.to_string(),
    })?;
    Ok(peers.into_iter().map(neighbor).collect())
}

fn neighbor(p: Peer) -> NeighborState {
    let state = state_name(&p.state.session_state);
    let established = state.eq_ignore_ascii_case("established");
    let both = |kind: &str| {
        Some(
            p.state.local_cap.iter().any(|c| c.kind() == kind)
                && p.state.remote_cap.iter().any(|c| c.kind() == kind),
        )
    };
    let caps = if established {
        let mp = |caps: &[Cap]| -> Vec<AfiSafi> {
            caps.iter()
                .filter(|c| c.kind() == "MultiProtocolCapability")
                .filter_map(|c| c.value.as_deref().and_then(decode_family))
                .collect()
        };
        let remote = mp(&p.state.remote_cap);
        NegotiatedCaps {
            four_octet_as: both("FourOctetASNCapability"),
            route_refresh: both("RouteRefreshCapability"),
            graceful_restart: both("GracefulRestartCapability"),
            address_families: mp(&p.state.local_cap)
                .into_iter()
                .filter(|f| remote.contains(f))
                .collect(),
        }
    } else {
        NegotiatedCaps::default()
    };
    let prefixes_received = p
        .afi_safis
        .iter()
        .filter_map(|a| a.state.accepted)
        .reduce(|a, b| a + b)
        .or(established.then_some(0));
    NeighborState {
        peer_addr: p.conf.neighbor_address.parse().ok(),
        name: p.conf.neighbor_address,
        peer_as: p.state.peer_asn.or(p.conf.peer_asn).map(Asn),
        state,
        established,
        prefixes_received,
        caps,
    }
}

/// Decodes `MultiProtocolCapability{ family: Family{ afi = 1; safi = 2 } }` from base64.
fn decode_family(b64: &str) -> Option<AfiSafi> {
    let bytes = base64_decode(b64)?;
    // Field 1 (family), wire type 2 (length-delimited).
    let (&tag, rest) = bytes.split_first()?;
    if tag != 0x0a {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    let inner = rest.get(..usize::from(len))?;
    let (mut afi, mut safi) = (None, None);
    let mut i = inner;
    while let Some((&key, rest)) = i.split_first() {
        let (value, rest) = varint(rest)?;
        match key {
            0x08 => afi = Some(value),
            0x10 => safi = Some(value),
            _ => return None,
        }
        i = rest;
    }
    let afi = match afi? {
        1 => Afi::Ipv4,
        2 => Afi::Ipv6,
        other => Afi::Unknown(u16::try_from(other).ok()?),
    };
    let safi = match safi? {
        1 => Safi::Unicast,
        2 => Safi::Multicast,
        other => Safi::Unknown(u8::try_from(other).ok()?),
    };
    Some(AfiSafi { afi, safi })
}

fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, bytes.get(i + 1..)?));
        }
    }
    None
}

/// Standard base64 with optional padding.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from GoBGP 3.10 (AS 65003) peering with FRR 8.4.4 (AS 65002).
    const UP: &str = include_str!("testdata/neighbor.json");
    /// The same after FRR's bgpd was stopped.
    const DOWN: &str = include_str!("testdata/neighbor_down.json");

    #[test]
    fn established_neighbor_with_capabilities() {
        let n = parse_neighbors(UP).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.len(), 1);
        let s = &n[0];
        assert_eq!(s.peer_addr, "10.0.0.2".parse().ok());
        assert_eq!(s.peer_as, Some(Asn(65002)));
        assert!(s.established);
        assert_eq!(s.state, "Established");
        assert_eq!(s.prefixes_received, Some(1));
        assert_eq!(s.caps.four_octet_as, Some(true));
        assert_eq!(s.caps.route_refresh, Some(true));
        assert_eq!(s.caps.graceful_restart, Some(true));
        assert_eq!(s.caps.address_families, vec![AfiSafi::IPV4_UNICAST]);
    }

    #[test]
    fn idle_neighbor() {
        let n = parse_neighbors(DOWN).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n[0].state, "Idle");
        assert!(!n[0].established);
        assert_eq!(n[0].caps, NegotiatedCaps::default());
    }

    #[test]
    fn decodes_families() {
        assert_eq!(decode_family("CgQIARAB"), Some(AfiSafi::IPV4_UNICAST));
        assert_eq!(decode_family("CgQIAhAB"), Some(AfiSafi::IPV6_UNICAST));
        assert_eq!(decode_family("!!"), None);
    }
}
