//! Interoperability of the bundled `fabric-speaker` with other BGP implementations: one session
//! between two namespaces, the bundled speaker on one end and BIRD 2, FRR 8, GoBGP 3 or ExaBGP 4
//! on the other, each daemon started by the suite with a configuration written here.
//!
//! ```text
//!   node "dut" (bundled, AS 4200000001)  e0 ──────── e0  node "peer" (BIRD/FRR/GoBGP/ExaBGP)
//!            10.0.0.0/31  fd00:0:0:1::/127       10.0.0.1/31  fd00:0:0:1::1/127
//!                         (the link is captured into a pcapng file from the start)
//! ```
//!
//! The peer configurations are written here rather than through the fabric adapters
//! (`fabriclab::speakers`) because the cases need what a fabric does not: sessions over the
//! link's IPv6 /127 addresses, both families on one session, and prefixes that can be withdrawn
//! one at a time. What a peer negotiated and learned is read back from the peer's own CLI, never
//! from the bundled speaker, so the bundled speaker cannot vouch for itself.
//!
//! Modules: [`cli`] (a CLI call with a deadline), [`pair`] (the two-node lab and its capture),
//! [`bundled`] (the speaker under test, driven over its control socket), [`peer`] (what every peer
//! driver answers), [`bird`], [`frr`], [`gobgp`], [`exabgp`] (one driver each: configuration,
//! programs, CLI parsing), [`wire`] (what the capture says about the bundled speaker's
//! messages), [`case`] (the scenario every case runs, with its findings).
//!
//! Errors are `anyhow`: this is test support whose errors only ever become failure messages.

pub mod bird;
pub mod bundled;
pub mod case;
pub mod cli;
pub mod exabgp;
pub mod frr;
pub mod gobgp;
pub mod pair;
pub mod peer;
pub mod wire;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use fabric_bgp_wire::Asn;
use ipnet::IpNet;

/// The bundled speaker's AS: 4-octet (RFC 6793), private use (RFC 6996).
pub const BUNDLED_AS: Asn = Asn(4_200_000_001);
/// The peer's AS: 4-octet too, so AS_PATHs in both directions need the 4-octet encoding.
pub const PEER_AS: Asn = Asn(4_200_000_002);
/// The bundled speaker's BGP Identifier.
pub const BUNDLED_ID: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);
/// The peer's BGP Identifier.
pub const PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 2);

/// Hold time on both sides, seconds (short, so a broken session shows quickly).
pub const HOLD_TIME: u16 = 9;
/// Keepalive interval on both sides, seconds.
pub const KEEPALIVE: u16 = 3;
/// ConnectRetry on both sides, seconds.
pub const CONNECT_RETRY: u16 = 1;

/// Which addresses of the link carry the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// The link's IPv4 /31.
    V4,
    /// The link's IPv6 /127.
    V6,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::V4 => "ipv4",
            Transport::V6 => "ipv6",
        })
    }
}

/// Who opens the TCP connection; the other side is passive (never dials).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opener {
    /// The bundled speaker dials, the peer is passive.
    Bundled,
    /// The peer dials, the bundled speaker is passive.
    Peer,
}

impl fmt::Display for Opener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Opener::Bundled => "bundled-active",
            Opener::Peer => "bundled-passive",
        })
    }
}

/// The implementation on the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// BIRD 2 (`bird`, `birdc`).
    Bird,
    /// FRR 8 (`zebra` + `bgpd`, `vtysh`).
    Frr,
    /// GoBGP 3 (`gobgpd`, `gobgp`).
    Gobgp,
    /// ExaBGP 4 (`exabgp`, with an API process logging what it receives).
    Exabgp,
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerKind::Bird => "bird",
            PeerKind::Frr => "frr",
            PeerKind::Gobgp => "gobgp",
            PeerKind::Exabgp => "exabgp",
        })
    }
}

/// Prefixes one side originates: `kept` stay announced all along, `withdrawn` are withdrawn in
/// the middle of the case. Each list has an IPv4 and an IPv6 prefix, so both families are
/// exercised in both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origination {
    /// Announced for the whole case.
    pub kept: Vec<IpNet>,
    /// Announced at start, withdrawn by the withdrawal step.
    pub withdrawn: Vec<IpNet>,
}

impl Origination {
    /// Everything announced at start.
    pub fn all(&self) -> Vec<IpNet> {
        self.kept.iter().chain(&self.withdrawn).copied().collect()
    }
}

fn net(s: &str) -> IpNet {
    // The literals below are valid prefixes; a typo would fail every case at once, loudly.
    s.parse()
        .unwrap_or_else(|e| panic!("bad prefix literal {s}: {e}"))
}

/// What the bundled speaker originates (documentation ranges, RFC 5737 / RFC 3849).
pub fn bundled_origination() -> Origination {
    Origination {
        kept: vec![net("198.51.100.0/24"), net("2001:db8:100::/48")],
        withdrawn: vec![net("198.51.101.0/24"), net("2001:db8:101::/48")],
    }
}

/// What the peer originates.
pub fn peer_origination() -> Origination {
    Origination {
        kept: vec![net("203.0.113.0/24"), net("2001:db8:200::/48")],
        withdrawn: vec![net("192.0.2.0/24"), net("2001:db8:201::/48")],
    }
}

/// One end of the session as a peer driver needs it to write its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSetup {
    /// The peer's session address.
    pub local: IpAddr,
    /// The bundled speaker's session address.
    pub remote: IpAddr,
    /// The peer's other-family address on the link (the IPv4 next hop it can use for IPv4 routes
    /// over an IPv6 session, or the IPv6 one over an IPv4 session).
    pub local_other: IpAddr,
    pub local_as: Asn,
    pub remote_as: Asn,
    pub router_id: Ipv4Addr,
    /// Never dial.
    pub passive: bool,
    /// Prefixes the peer announces at start.
    pub originate: Vec<IpNet>,
    pub transport: Transport,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn originations_cover_both_families_and_do_not_overlap() {
        let b = bundled_origination();
        let p = peer_origination();
        for o in [&b, &p] {
            for list in [&o.kept, &o.withdrawn] {
                assert!(list.iter().any(|n| matches!(n, IpNet::V4(_))), "{list:?}");
                assert!(list.iter().any(|n| matches!(n, IpNet::V6(_))), "{list:?}");
            }
        }
        for x in b.all() {
            for y in p.all() {
                assert!(!x.contains(&y) && !y.contains(&x), "{x} overlaps {y}");
            }
        }
    }
}
