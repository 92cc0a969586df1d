//! The placeholder route engine: keeps each Established peer's Adj-RIB-In and announces only the
//! prefixes this speaker originates. No best-path selection, no transit; the RIB module replaces
//! it behind [`RouteEngine`].
//!
//! Export rules for originated routes (RFC 4271 §5.1): ORIGIN IGP; AS_PATH empty to internal
//! peers and our AS to external ones (§5.1.2); NEXT_HOP our address on the session (§5.1.3);
//! LOCAL_PREF 100 to internal peers only (§5.1.5). IPv6 routes over an IPv4 session carry the
//! IPv4-mapped IPv6 address as next hop; IPv4 routes over an IPv6 session need the extended next
//! hop capability (RFC 8950) and are not announced without it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use fabric_bgp_wire::{
    Afi, AfiSafi, AsPath, MpNextHop, MpNlri, MpReach, MpUnreach, Nlri, Origin, PathAttributes,
    SegmentType, Update,
};
use ipnet::IpNet;

use super::engine::{Outgoing, PeerInfo, RouteEngine};
use crate::control::{PrefixCounts, RouteDir, RouteEntry};

/// Prefixes per generated UPDATE; the owner splits further if a message would not fit.
const PREFIXES_PER_UPDATE: usize = 500;

/// LOCAL_PREF sent to internal peers (RFC 4271 §5.1.5; 100 is the customary default).
const DEFAULT_LOCAL_PREF: u32 = 100;

/// A route as stored in Adj-RIB-In/Out: next hop plus the other attributes (MP attributes and
/// NEXT_HOP removed), shared by every prefix of the UPDATE it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredRoute {
    next_hop: Option<IpAddr>,
    attrs: PathAttributes,
}

#[derive(Debug)]
struct PeerRoutes {
    info: PeerInfo,
    adj_in: BTreeMap<IpNet, Arc<StoredRoute>>,
    adj_out: BTreeMap<IpNet, Arc<StoredRoute>>,
}

/// Adj-RIB-In per peer plus the originated prefixes; see the module docs.
#[derive(Debug, Default)]
pub struct OriginEngine {
    originated: BTreeSet<IpNet>,
    peers: BTreeMap<IpAddr, PeerRoutes>,
}

impl OriginEngine {
    /// An engine originating `prefixes`.
    pub fn new(prefixes: impl IntoIterator<Item = IpNet>) -> Self {
        OriginEngine {
            originated: prefixes.into_iter().collect(),
            peers: BTreeMap::new(),
        }
    }
}

/// The attributes of an originated route towards `info` (NEXT_HOP set separately).
fn origin_attrs(info: &PeerInfo) -> PathAttributes {
    let internal = info.is_internal();
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(if internal {
            AsPath::default()
        } else {
            AsPath::from_sequence([info.local_as])
        }),
        local_pref: internal.then_some(DEFAULT_LOCAL_PREF),
        ..PathAttributes::default()
    }
}

/// UPDATEs announcing `prefixes` to `info`, and what to record in its Adj-RIB-Out.
fn announce(info: &PeerInfo, prefixes: &[IpNet]) -> (Vec<Update>, Vec<(IpNet, Arc<StoredRoute>)>) {
    let mut updates = Vec::new();
    let mut recorded = Vec::new();
    let families = &info.codec.families;
    let v4: Vec<_> = prefixes
        .iter()
        .filter_map(|p| match p {
            IpNet::V4(n) => Some(*n),
            _ => None,
        })
        .collect();
    let v6: Vec<_> = prefixes
        .iter()
        .filter_map(|p| match p {
            IpNet::V6(n) => Some(*n),
            _ => None,
        })
        .collect();
    let attrs = origin_attrs(info);

    if !v4.is_empty() && families.contains(&AfiSafi::IPV4_UNICAST) {
        let next_hop = match info.local_address {
            IpAddr::V4(a) => Some(IpAddr::V4(a)),
            IpAddr::V6(a)
                if info
                    .codec
                    .extended_nexthop_allowed(AfiSafi::IPV4_UNICAST, Afi::Ipv6) =>
            {
                Some(IpAddr::V6(a))
            }
            IpAddr::V6(_) => None,
        };
        if let Some(nh) = next_hop {
            let stored = Arc::new(StoredRoute {
                next_hop: Some(nh),
                attrs: attrs.clone(),
            });
            for chunk in v4.chunks(PREFIXES_PER_UPDATE) {
                let nlri: Vec<_> = chunk.iter().map(|p| Nlri::new(*p)).collect();
                let update = match nh {
                    IpAddr::V4(a) => Update::announce_ipv4(
                        PathAttributes {
                            next_hop: Some(a),
                            ..attrs.clone()
                        },
                        nlri,
                    ),
                    IpAddr::V6(a) => {
                        let mut with_mp = attrs.clone();
                        with_mp.mp_reach = Some(MpReach {
                            afi_safi: AfiSafi::IPV4_UNICAST,
                            next_hop: MpNextHop::Ipv6 {
                                global: a,
                                link_local: None,
                            },
                            nlri: MpNlri::Ipv4(nlri),
                        });
                        Update {
                            attributes: with_mp,
                            ..Update::default()
                        }
                    }
                };
                updates.push(update);
                recorded.extend(chunk.iter().map(|p| (IpNet::V4(*p), stored.clone())));
            }
        }
    }
    if !v6.is_empty() && families.contains(&AfiSafi::IPV6_UNICAST) {
        let global = match info.local_address {
            IpAddr::V6(a) => a,
            IpAddr::V4(a) => a.to_ipv6_mapped(),
        };
        let stored = Arc::new(StoredRoute {
            next_hop: Some(IpAddr::V6(global)),
            attrs: attrs.clone(),
        });
        for chunk in v6.chunks(PREFIXES_PER_UPDATE) {
            let nlri: Vec<_> = chunk.iter().map(|p| Nlri::new(*p)).collect();
            let nh = MpNextHop::Ipv6 {
                global,
                link_local: None,
            };
            updates.push(Update::announce_ipv6(attrs.clone(), nh, nlri));
            recorded.extend(chunk.iter().map(|p| (IpNet::V6(*p), stored.clone())));
        }
    }
    (updates, recorded)
}

/// UPDATEs withdrawing `prefixes` from `info` (IPv4 through MP_UNREACH when it was announced
/// through MP_REACH, i.e. over an IPv6 session).
fn withdraw(info: &PeerInfo, prefixes: &[IpNet]) -> Vec<Update> {
    let mut updates = Vec::new();
    let v4: Vec<_> = prefixes
        .iter()
        .filter_map(|p| match p {
            IpNet::V4(n) => Some(Nlri::new(*n)),
            _ => None,
        })
        .collect();
    let v6: Vec<_> = prefixes
        .iter()
        .filter_map(|p| match p {
            IpNet::V6(n) => Some(Nlri::new(*n)),
            _ => None,
        })
        .collect();
    for chunk in v4.chunks(PREFIXES_PER_UPDATE) {
        if info.local_address.is_ipv4() {
            updates.push(Update::withdraw_ipv4(chunk.to_vec()));
        } else {
            let mut u = Update::default();
            u.attributes.mp_unreach = Some(MpUnreach {
                afi_safi: AfiSafi::IPV4_UNICAST,
                withdrawn: MpNlri::Ipv4(chunk.to_vec()),
            });
            updates.push(u);
        }
    }
    for chunk in v6.chunks(PREFIXES_PER_UPDATE) {
        updates.push(Update::withdraw_ipv6(chunk.to_vec()));
    }
    updates
}

fn family_of(prefix: &IpNet) -> AfiSafi {
    match prefix {
        IpNet::V4(_) => AfiSafi::IPV4_UNICAST,
        IpNet::V6(_) => AfiSafi::IPV6_UNICAST,
    }
}

impl RouteEngine for OriginEngine {
    fn peer_up(&mut self, peer: &PeerInfo) -> Vec<Outgoing> {
        let prefixes: Vec<IpNet> = self.originated.iter().copied().collect();
        let (mut updates, recorded) = announce(peer, &prefixes);
        // RFC 4724 §2: End-of-RIB for every negotiated family after the initial update, also
        // when there was nothing to send.
        updates.extend(peer.codec.families.iter().map(|af| Update::end_of_rib(*af)));
        self.peers.insert(
            peer.address,
            PeerRoutes {
                info: peer.clone(),
                adj_in: BTreeMap::new(),
                adj_out: recorded.into_iter().collect(),
            },
        );
        vec![Outgoing {
            peer: peer.address,
            updates,
        }]
    }

    fn peer_down(&mut self, peer: IpAddr) -> Vec<Outgoing> {
        // Nothing was propagated from this peer, so nobody else needs a withdrawal.
        self.peers.remove(&peer);
        Vec::new()
    }

    fn update_received(&mut self, peer: IpAddr, update: Update) -> Vec<Outgoing> {
        let Some(p) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        for w in &update.withdrawn {
            p.adj_in.remove(&IpNet::V4(w.prefix));
        }
        let Update {
            nlri,
            mut attributes,
            ..
        } = update;
        if let Some(unreach) = attributes.mp_unreach.take() {
            for prefix in mp_prefixes(&unreach.withdrawn) {
                p.adj_in.remove(&prefix);
            }
        }
        let reach = attributes.mp_reach.take();
        let next_hop = attributes.next_hop.take();
        if !nlri.is_empty() {
            let stored = Arc::new(StoredRoute {
                next_hop: next_hop.map(IpAddr::V4),
                attrs: attributes.clone(),
            });
            for n in nlri {
                p.adj_in.insert(IpNet::V4(n.prefix), stored.clone());
            }
        }
        if let Some(reach) = reach {
            let nh = match reach.next_hop {
                MpNextHop::Ipv4(a) => Some(IpAddr::V4(a)),
                MpNextHop::Ipv6 { global, .. } => Some(IpAddr::V6(global)),
                MpNextHop::Other(_) => None,
            };
            let stored = Arc::new(StoredRoute {
                next_hop: nh,
                attrs: attributes,
            });
            for prefix in mp_prefixes(&reach.nlri) {
                p.adj_in.insert(prefix, stored.clone());
            }
        }
        Vec::new()
    }

    fn route_refresh(&mut self, peer: IpAddr, family: AfiSafi) -> Vec<Outgoing> {
        let Some(p) = self.peers.get(&peer) else {
            return Vec::new();
        };
        let prefixes: Vec<IpNet> = p
            .adj_out
            .keys()
            .filter(|k| family_of(k) == family)
            .copied()
            .collect();
        let (updates, _) = announce(&p.info, &prefixes);
        vec![Outgoing { peer, updates }]
    }

    fn originate(&mut self, prefix: IpNet) -> Vec<Outgoing> {
        let prefix = prefix.trunc();
        if !self.originated.insert(prefix) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (addr, p) in &mut self.peers {
            let (updates, recorded) = announce(&p.info, &[prefix]);
            p.adj_out.extend(recorded);
            if !updates.is_empty() {
                out.push(Outgoing {
                    peer: *addr,
                    updates,
                });
            }
        }
        out
    }

    fn withdraw_originated(&mut self, prefix: IpNet) -> Vec<Outgoing> {
        let prefix = prefix.trunc();
        if !self.originated.remove(&prefix) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (addr, p) in &mut self.peers {
            if p.adj_out.remove(&prefix).is_some() {
                out.push(Outgoing {
                    peer: *addr,
                    updates: withdraw(&p.info, &[prefix]),
                });
            }
        }
        out
    }

    fn originated(&self) -> Vec<IpNet> {
        self.originated.iter().copied().collect()
    }

    fn routes(&self, dir: RouteDir, peer: Option<IpAddr>) -> Vec<RouteEntry> {
        let mut out = Vec::new();
        for (addr, p) in &self.peers {
            if peer.is_some_and(|want| want != *addr) {
                continue;
            }
            let table = match dir {
                RouteDir::Received => &p.adj_in,
                RouteDir::Advertised => &p.adj_out,
            };
            out.extend(
                table
                    .iter()
                    .map(|(prefix, r)| route_entry(*addr, *prefix, r)),
            );
        }
        out
    }

    fn prefix_counts(&self, peer: IpAddr) -> PrefixCounts {
        self.peers
            .get(&peer)
            .map_or_else(PrefixCounts::default, |p| PrefixCounts {
                received: p.adj_in.len(),
                advertised: p.adj_out.len(),
            })
    }
}

fn mp_prefixes(n: &MpNlri) -> Vec<IpNet> {
    match n {
        MpNlri::Ipv4(v) => v.iter().map(|x| IpNet::V4(x.prefix)).collect(),
        MpNlri::Ipv6(v) => v.iter().map(|x| IpNet::V6(x.prefix)).collect(),
        MpNlri::Unknown(_) => Vec::new(),
    }
}

fn route_entry(peer: IpAddr, prefix: IpNet, r: &StoredRoute) -> RouteEntry {
    let a = &r.attrs;
    RouteEntry {
        peer,
        prefix,
        next_hop: r.next_hop,
        as_path: a.as_path.as_ref().map(as_path_text).unwrap_or_default(),
        origin: a.origin.map(|o| {
            match o {
                Origin::Igp => "igp",
                Origin::Egp => "egp",
                Origin::Incomplete => "incomplete",
            }
            .to_owned()
        }),
        med: a.med,
        local_pref: a.local_pref,
        communities: a.communities.iter().map(|c| c.to_string()).collect(),
    }
}

/// AS path as text: sequences plain, sets in braces, confederation segments in parentheses /
/// brackets (the usual show-command notation).
pub fn as_path_text(path: &AsPath) -> String {
    let parts: Vec<String> = path
        .segments
        .iter()
        .map(|s| {
            let asns: Vec<String> = s.asns.iter().map(|a| a.to_string()).collect();
            let joined = asns.join(" ");
            match s.kind {
                SegmentType::Sequence => joined,
                SegmentType::Set => format!("{{{joined}}}"),
                SegmentType::ConfedSequence => format!("({joined})"),
                SegmentType::ConfedSet => format!("[{joined}]"),
            }
        })
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use fabric_bgp_wire::{Asn, CodecContext, RouterId};

    use super::*;
    use crate::config::{Neighbor, RemoteAs};

    fn info(local: IpAddr, peer_as: u32, families: Vec<AfiSafi>) -> PeerInfo {
        PeerInfo {
            address: "192.0.2.2".parse().unwrap(),
            local_address: local,
            local_as: Asn(65001),
            local_id: RouterId(Ipv4Addr::new(10, 0, 0, 1)),
            peer_as: Asn(peer_as),
            peer_id: RouterId(Ipv4Addr::new(10, 0, 0, 2)),
            codec: CodecContext {
                four_octet_as: true,
                families,
                ..CodecContext::default()
            },
            neighbor: Neighbor::new("192.0.2.2".parse().unwrap(), RemoteAs::Asn(Asn(peer_as))),
            peer_graceful_restart: None,
        }
    }

    fn p(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn peer_up_sends_grouped_routes_then_end_of_rib_per_family() {
        let mut e = OriginEngine::new([p("10.1.0.0/24"), p("10.2.0.0/24"), p("2001:db8:1::/64")]);
        let both = vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];
        let out = e.peer_up(&info(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 65002, both));
        let updates = &out[0].updates;
        assert_eq!(updates.len(), 4, "{updates:#?}");
        // Both IPv4 prefixes in one UPDATE, eBGP: AS_PATH = [65001], NEXT_HOP = our address.
        let u4 = &updates[0];
        assert_eq!(u4.nlri.len(), 2);
        assert_eq!(u4.attributes.next_hop, Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(
            u4.attributes.as_path,
            Some(AsPath::from_sequence([Asn(65001)]))
        );
        assert_eq!(u4.attributes.local_pref, None);
        // IPv6 over IPv4: mapped next hop.
        let reach = updates[1].attributes.mp_reach.as_ref().unwrap();
        assert_eq!(
            reach.next_hop,
            MpNextHop::Ipv6 {
                global: Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(),
                link_local: None
            }
        );
        assert_eq!(updates[2].is_end_of_rib(), Some(AfiSafi::IPV4_UNICAST));
        assert_eq!(updates[3].is_end_of_rib(), Some(AfiSafi::IPV6_UNICAST));
        assert_eq!(e.prefix_counts("192.0.2.2".parse().unwrap()).advertised, 3);
    }

    #[test]
    fn only_negotiated_families_are_sent_and_ibgp_gets_local_pref() {
        let mut e = OriginEngine::new([p("10.1.0.0/24"), p("2001:db8:1::/64")]);
        let out = e.peer_up(&info(
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            65001,
            vec![AfiSafi::IPV4_UNICAST],
        ));
        let updates = &out[0].updates;
        assert_eq!(updates.len(), 2);
        assert_eq!(updates[0].attributes.local_pref, Some(100));
        assert_eq!(updates[0].attributes.as_path, Some(AsPath::default()));
        assert_eq!(updates[1].is_end_of_rib(), Some(AfiSafi::IPV4_UNICAST));
    }

    #[test]
    fn ipv4_over_ipv6_needs_extended_next_hop() {
        let local = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let mut e = OriginEngine::new([p("10.1.0.0/24")]);
        let out = e.peer_up(&info(local, 65002, vec![AfiSafi::IPV4_UNICAST]));
        assert_eq!(out[0].updates.len(), 1, "only End-of-RIB without RFC 8950");

        let mut i = info(local, 65002, vec![AfiSafi::IPV4_UNICAST]);
        i.codec.extended_nexthop = vec![fabric_bgp_wire::ExtendedNextHop {
            afi_safi: AfiSafi::IPV4_UNICAST,
            next_hop_afi: Afi::Ipv6,
        }];
        let mut e = OriginEngine::new([p("10.1.0.0/24")]);
        let out = e.peer_up(&i);
        let reach = out[0].updates[0].attributes.mp_reach.as_ref().unwrap();
        assert_eq!(reach.afi_safi, AfiSafi::IPV4_UNICAST);
        assert!(matches!(reach.nlri, MpNlri::Ipv4(ref v) if v.len() == 1));
    }

    #[test]
    fn received_routes_are_stored_and_withdrawn() {
        let mut e = OriginEngine::new([]);
        let peer: IpAddr = "192.0.2.2".parse().unwrap();
        e.peer_up(&info(
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            65002,
            vec![AfiSafi::IPV4_UNICAST],
        ));
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence([Asn(65002), Asn(65010)])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 2)),
            ..PathAttributes::default()
        };
        let nlri = vec![
            Nlri::new("10.5.0.0/24".parse().unwrap()),
            Nlri::new("10.6.0.0/24".parse().unwrap()),
        ];
        e.update_received(peer, Update::announce_ipv4(attrs, nlri));
        let routes = e.routes(RouteDir::Received, Some(peer));
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].as_path, "65002 65010");
        assert_eq!(routes[0].next_hop, Some("192.0.2.2".parse().unwrap()));
        assert_eq!(routes[0].origin.as_deref(), Some("igp"));
        e.update_received(
            peer,
            Update::withdraw_ipv4(vec![Nlri::new("10.5.0.0/24".parse().unwrap())]),
        );
        let routes = e.routes(RouteDir::Received, None);
        assert_eq!(
            routes.iter().map(|r| r.prefix).collect::<Vec<_>>(),
            vec![p("10.6.0.0/24")]
        );
        e.peer_down(peer);
        assert!(e.routes(RouteDir::Received, None).is_empty());
    }

    #[test]
    fn runtime_originate_and_withdraw_reach_up_peers() {
        let mut e = OriginEngine::new([]);
        e.peer_up(&info(
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            65002,
            vec![AfiSafi::IPV4_UNICAST],
        ));
        let out = e.originate(p("10.7.0.0/24"));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].updates[0].nlri.len(), 1);
        assert!(e.originate(p("10.7.0.0/24")).is_empty(), "idempotent");
        let out = e.withdraw_originated(p("10.7.0.0/24"));
        assert_eq!(out[0].updates[0].withdrawn.len(), 1);
        assert!(e.routes(RouteDir::Advertised, None).is_empty());
    }

    #[test]
    fn as_path_text_notation() {
        use fabric_bgp_wire::{Asn, Segment};
        let path = AsPath {
            segments: vec![
                Segment {
                    kind: SegmentType::ConfedSequence,
                    asns: vec![Asn(1)],
                },
                Segment {
                    kind: SegmentType::Sequence,
                    asns: vec![Asn(2), Asn(3)],
                },
                Segment {
                    kind: SegmentType::Set,
                    asns: vec![Asn(4), Asn(5)],
                },
            ],
        };
        assert_eq!(as_path_text(&path), "(1) 2 3 {4 5}");
    }
}
