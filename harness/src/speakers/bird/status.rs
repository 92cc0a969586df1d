//! Parsing `birdc show protocols all`: one block per protocol, the BGP ones become
//! [`NeighborState`]s. The summary line's columns shift with `timeformat`, so everything but the
//! name and protocol type is read from the indented detail lines.

use std::collections::BTreeSet;

use fabric_bgp_wire::{Afi, AfiSafi, Asn, Safi};

use super::super::api::{NegotiatedCaps, NeighborState};

/// Which capability list a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Local,
    Neighbor,
}

/// Capabilities one side advertised: item names and the families of "AF announced".
#[derive(Debug, Default)]
struct CapList {
    items: BTreeSet<String>,
    afs: BTreeSet<String>,
}

#[derive(Debug)]
struct Block {
    state: NeighborState,
    local: CapList,
    neighbor: CapList,
}

/// The BGP protocols in `text`, in output order.
pub(crate) fn parse_protocols(text: &str) -> Vec<NeighborState> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    let mut section = Section::None;
    let mut last_item = String::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if indent == 0 {
            out.extend(current.take().map(finish));
            section = Section::None;
            let mut tokens = trimmed.split_whitespace();
            let (name, proto) = (tokens.next(), tokens.next());
            if let (Some(name), Some("BGP")) = (name, proto) {
                current = Some(Block {
                    state: NeighborState {
                        name: name.to_string(),
                        peer_addr: None,
                        peer_as: None,
                        state: String::new(),
                        established: false,
                        prefixes_received: None,
                        caps: NegotiatedCaps::default(),
                    },
                    local: CapList::default(),
                    neighbor: CapList::default(),
                });
            }
            continue;
        }
        let Some(b) = current.as_mut() else { continue };
        match (indent, trimmed) {
            (_, t) if t.starts_with("Local capabilities") => section = Section::Local,
            (_, t) if t.starts_with("Neighbor capabilities") => section = Section::Neighbor,
            (6, item) if section != Section::None => {
                last_item = item.to_string();
                caps_of(b, section).items.insert(item.to_string());
            }
            (i, sub) if i > 6 && section != Section::None => {
                if last_item == "Multiprotocol" {
                    if let Some(afs) = sub.strip_prefix("AF announced:") {
                        let list = &mut caps_of(b, section).afs;
                        list.extend(afs.split_whitespace().map(str::to_string));
                    }
                }
            }
            (_, t) => {
                section = Section::None;
                if let Some(v) = t.strip_prefix("BGP state:") {
                    b.state.state = v.trim().to_string();
                } else if let Some(v) = t.strip_prefix("Neighbor address:") {
                    b.state.peer_addr = v.trim().parse().ok();
                } else if let Some(v) = t.strip_prefix("Neighbor AS:") {
                    b.state.peer_as = v.trim().parse::<u32>().ok().map(Asn);
                } else if let Some(v) = t.strip_prefix("Routes:") {
                    // "Routes: 1 imported, 0 exported, 1 preferred"
                    b.state.prefixes_received =
                        v.split_whitespace().next().and_then(|n| n.parse().ok());
                }
            }
        }
    }
    out.extend(current.map(finish));
    out
}

fn caps_of(b: &mut Block, s: Section) -> &mut CapList {
    match s {
        Section::Neighbor => &mut b.neighbor,
        _ => &mut b.local,
    }
}

fn finish(mut b: Block) -> NeighborState {
    b.state.established = b.state.state == "Established";
    if b.state.established {
        let both =
            |name: &str| Some(b.local.items.contains(name) && b.neighbor.items.contains(name));
        b.state.caps = NegotiatedCaps {
            four_octet_as: both("4-octet AS numbers"),
            route_refresh: both("Route refresh"),
            graceful_restart: both("Graceful restart"),
            address_families: b
                .local
                .afs
                .intersection(&b.neighbor.afs)
                .filter_map(|af| af_of(af))
                .collect(),
        };
    }
    b.state
}

/// BIRD's family names (`ipv4`, `ipv6`, `ipv4-mc`...) for the unicast/multicast families.
fn af_of(name: &str) -> Option<AfiSafi> {
    let (afi, safi) = match name {
        "ipv4" => (Afi::Ipv4, Safi::Unicast),
        "ipv6" => (Afi::Ipv6, Safi::Unicast),
        "ipv4-mc" => (Afi::Ipv4, Safi::Multicast),
        "ipv6-mc" => (Afi::Ipv6, Safi::Multicast),
        _ => return None,
    };
    Some(AfiSafi { afi, safi })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from BIRD 2.0.12 (AS 4200000001) peering with FRR 8.4.4 (AS 65002).
    const UP: &str = include_str!("testdata/show_protocols_all.txt");
    /// The same session after FRR's bgpd was stopped (graceful restart keeps the route).
    const DOWN: &str = include_str!("testdata/show_protocols_all_down.txt");

    #[test]
    fn established_session_with_negotiated_capabilities() {
        let n = parse_protocols(UP);
        assert_eq!(n.len(), 1, "only BGP protocols: {n:?}");
        let s = &n[0];
        assert_eq!(s.name, "p_b_e0");
        assert_eq!(s.peer_addr, "10.0.0.1".parse().ok());
        assert_eq!(s.peer_as, Some(Asn(65002)));
        assert!(s.established);
        assert_eq!(s.prefixes_received, Some(1));
        assert_eq!(s.caps.four_octet_as, Some(true));
        assert_eq!(s.caps.route_refresh, Some(true));
        assert_eq!(s.caps.graceful_restart, Some(true));
        assert_eq!(s.caps.address_families, vec![AfiSafi::IPV4_UNICAST]);
    }

    #[test]
    fn down_session_has_state_and_no_capabilities() {
        let n = parse_protocols(DOWN);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].state, "Active");
        assert!(!n[0].established);
        assert_eq!(n[0].caps, NegotiatedCaps::default());
        assert_eq!(n[0].prefixes_received, Some(1));
    }

    #[test]
    fn capability_only_on_one_side_is_not_negotiated() {
        let text = UP.replacen("      4-octet AS numbers\n", "", 1);
        let n = parse_protocols(&text);
        assert_eq!(n[0].caps.four_octet_as, Some(false));
        assert_eq!(n[0].caps.route_refresh, Some(true));
    }
}
