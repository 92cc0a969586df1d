//! Conversions between the RIB's types and the wire crate's (`fabric-bgp-wire`).
//!
//! Receive: [`route_updates`] turns one decoded (and, for RFC 7606, already made "effective")
//! UPDATE into one [`RouteUpdate`] per address family it touches; End-of-RIB markers are
//! recognised by `Update::is_end_of_rib` before that.
//!
//! Send: [`to_wire`] turns one [`OutUpdate`] into one `Update`, which may be larger than a BGP
//! message; the daemon then calls `Update::split(&ctx)` to cut it into messages of at most
//! `ctx.max_message_len()` octets (4096, or 65535 with RFC 8654), each carrying the same
//! attributes.
//!
//! Not handled: ADD-PATH path identifiers (received ids are ignored, so two paths of one prefix
//! from one peer overwrite each other; none are sent) and families other than IPv4/IPv6 unicast.

use std::net::IpAddr;

use fabric_bgp_wire as wire;
use fabric_bgp_wire::attribute::flags;
use fabric_bgp_wire::{AfiSafi, MpNextHop, MpNlri, Nlri, Update};
use ipnet::IpNet;

use crate::rib::attrs::{
    Aggregator, AsPath, AsSegment, ClusterId, Community, ExtendedCommunity, LargeCommunity, Origin,
    PathAttrs, SegmentKind, UnknownAttr,
};
use crate::rib::engine::RouteUpdate;
use crate::rib::update_builder::OutUpdate;

fn origin_from(o: wire::Origin) -> Origin {
    match o {
        wire::Origin::Igp => Origin::Igp,
        wire::Origin::Egp => Origin::Egp,
        wire::Origin::Incomplete => Origin::Incomplete,
    }
}

fn origin_to(o: Origin) -> wire::Origin {
    match o {
        Origin::Igp => wire::Origin::Igp,
        Origin::Egp => wire::Origin::Egp,
        Origin::Incomplete => wire::Origin::Incomplete,
    }
}

fn as_path_from(p: &wire::AsPath) -> AsPath {
    AsPath {
        segments: p
            .segments
            .iter()
            .map(|s| AsSegment {
                kind: match s.kind {
                    wire::SegmentType::Set => SegmentKind::Set,
                    wire::SegmentType::Sequence => SegmentKind::Sequence,
                    wire::SegmentType::ConfedSequence => SegmentKind::ConfedSequence,
                    wire::SegmentType::ConfedSet => SegmentKind::ConfedSet,
                },
                asns: s.asns.clone(),
            })
            .collect(),
    }
}

fn as_path_to(p: &AsPath) -> wire::AsPath {
    wire::AsPath {
        segments: p
            .segments
            .iter()
            .map(|s| wire::Segment {
                kind: match s.kind {
                    SegmentKind::Set => wire::SegmentType::Set,
                    SegmentKind::Sequence => wire::SegmentType::Sequence,
                    SegmentKind::ConfedSequence => wire::SegmentType::ConfedSequence,
                    SegmentKind::ConfedSet => wire::SegmentType::ConfedSet,
                },
                asns: s.asns.clone(),
            })
            .collect(),
    }
}

/// The RIB's view of received attributes, without next hop (which depends on the family).
///
/// A missing ORIGIN becomes INCOMPLETE and a missing AS_PATH an empty one: the codec has already
/// turned an UPDATE missing mandatory attributes into a withdrawal (RFC 7606 §3 d), so this only
/// matters for withdraw-only UPDATEs. Unrecognised attributes are kept only when optional
/// transitive, with the Partial bit set, as they will be passed on (RFC 4271 §5, §9.1.4 n/a).
pub fn attrs_from_wire(a: &wire::PathAttributes) -> PathAttrs {
    PathAttrs {
        origin: a.origin.map(origin_from).unwrap_or(Origin::Incomplete),
        as_path: a.as_path.as_ref().map(as_path_from).unwrap_or_default(),
        next_hop: None,
        next_hop_link_local: None,
        med: a.med,
        local_pref: a.local_pref,
        atomic_aggregate: a.atomic_aggregate,
        aggregator: a.aggregator.map(|g| Aggregator {
            asn: g.asn,
            address: g.address,
        }),
        communities: a.communities.iter().map(|c| Community(c.0)).collect(),
        large_communities: a
            .large_communities
            .iter()
            .map(|c| LargeCommunity {
                global: c.global_admin,
                local1: c.local_data1,
                local2: c.local_data2,
            })
            .collect(),
        extended_communities: a
            .extended_communities
            .iter()
            .map(|c| ExtendedCommunity(c.0))
            .collect(),
        originator_id: a.originator_id,
        cluster_list: a.cluster_list.iter().map(|r| ClusterId(r.0)).collect(),
        unknown: a
            .unknown
            .iter()
            .filter(|u| u.flags & flags::OPTIONAL_TRANSITIVE == flags::OPTIONAL_TRANSITIVE)
            .map(|u| UnknownAttr {
                flags: u.flags | flags::PARTIAL,
                code: u.code,
                value: u.value.clone(),
            })
            .collect(),
    }
}

/// Wire attributes for the RIB's, without next hop and MP attributes.
pub fn attrs_to_wire(a: &PathAttrs) -> wire::PathAttributes {
    wire::PathAttributes {
        origin: Some(origin_to(a.origin)),
        as_path: Some(as_path_to(&a.as_path)),
        next_hop: None,
        med: a.med,
        local_pref: a.local_pref,
        atomic_aggregate: a.atomic_aggregate,
        aggregator: a.aggregator.map(|g| wire::Aggregator {
            asn: g.asn,
            address: g.address,
        }),
        communities: a.communities.iter().map(|c| wire::Community(c.0)).collect(),
        originator_id: a.originator_id,
        cluster_list: a.cluster_list.iter().map(|c| wire::RouterId(c.0)).collect(),
        mp_reach: None,
        mp_unreach: None,
        extended_communities: a
            .extended_communities
            .iter()
            .map(|c| wire::ExtendedCommunity(c.0))
            .collect(),
        large_communities: a
            .large_communities
            .iter()
            .map(|c| wire::LargeCommunity {
                global_admin: c.global,
                local_data1: c.local1,
                local_data2: c.local2,
            })
            .collect(),
        unknown: a
            .unknown
            .iter()
            .map(|u| wire::UnknownAttribute {
                flags: u.flags,
                code: u.code,
                value: u.value.clone(),
            })
            .collect(),
    }
}

fn mp_prefixes(nlri: &MpNlri) -> Vec<IpNet> {
    match nlri {
        MpNlri::Ipv4(v) => v.iter().map(|n| IpNet::V4(n.prefix)).collect(),
        MpNlri::Ipv6(v) => v.iter().map(|n| IpNet::V6(n.prefix)).collect(),
        MpNlri::Unknown(_) => Vec::new(),
    }
}

fn mp_next_hop(nh: &MpNextHop) -> (Option<IpAddr>, Option<std::net::Ipv6Addr>) {
    match nh {
        MpNextHop::Ipv4(a) => (Some(IpAddr::V4(*a)), None),
        MpNextHop::Ipv6 { global, link_local } => (Some(IpAddr::V6(*global)), *link_local),
        MpNextHop::Other(_) => (None, None),
    }
}

fn supported(f: AfiSafi) -> bool {
    f == AfiSafi::IPV4_UNICAST || f == AfiSafi::IPV6_UNICAST
}

/// The routes of one received UPDATE, one [`RouteUpdate`] per family (IPv4 unicast from the
/// NLRI/Withdrawn fields and MP attributes, IPv6 unicast from MP attributes). Families other than
/// IPv4/IPv6 unicast are skipped. An End-of-RIB gives an empty list.
pub fn route_updates(u: &Update) -> Vec<RouteUpdate> {
    let a = &u.attributes;
    let base = attrs_from_wire(a);
    let mut v4 = RouteUpdate {
        family: AfiSafi::IPV4_UNICAST,
        withdrawn: u.withdrawn.iter().map(|n| IpNet::V4(n.prefix)).collect(),
        announced: u.nlri.iter().map(|n| IpNet::V4(n.prefix)).collect(),
        attrs: None,
    };
    if !v4.announced.is_empty() {
        v4.attrs = Some(PathAttrs {
            next_hop: a.next_hop.map(IpAddr::V4),
            ..base.clone()
        });
    }
    let mut out: Vec<RouteUpdate> = Vec::new();
    let mut push = |family: AfiSafi,
                    withdrawn: Vec<IpNet>,
                    announced: Vec<IpNet>,
                    attrs: Option<PathAttrs>| {
        if withdrawn.is_empty() && announced.is_empty() {
            return;
        }
        match out.iter_mut().find(|r| r.family == family) {
            Some(r) => {
                r.withdrawn.extend(withdrawn);
                if !announced.is_empty() {
                    r.announced.extend(announced);
                    r.attrs = attrs;
                }
            }
            None => out.push(RouteUpdate {
                family,
                withdrawn,
                announced,
                attrs,
            }),
        }
    };
    push(v4.family, v4.withdrawn, v4.announced, v4.attrs);
    if let Some(un) = &a.mp_unreach {
        if supported(un.afi_safi) {
            push(un.afi_safi, mp_prefixes(&un.withdrawn), Vec::new(), None);
        }
    }
    if let Some(r) = &a.mp_reach {
        if supported(r.afi_safi) {
            let (next_hop, next_hop_link_local) = mp_next_hop(&r.next_hop);
            let attrs = PathAttrs {
                next_hop,
                next_hop_link_local,
                ..base
            };
            push(r.afi_safi, Vec::new(), mp_prefixes(&r.nlri), Some(attrs));
        }
    }
    out
}

fn v4_nlri(prefixes: &[IpNet]) -> Vec<wire::Ipv4Nlri> {
    prefixes
        .iter()
        .filter_map(|p| match p {
            IpNet::V4(n) => Some(Nlri::new(*n)),
            IpNet::V6(_) => None,
        })
        .collect()
}

fn v6_nlri(prefixes: &[IpNet]) -> Vec<wire::Ipv6Nlri> {
    prefixes
        .iter()
        .filter_map(|p| match p {
            IpNet::V6(n) => Some(Nlri::new(*n)),
            IpNet::V4(_) => None,
        })
        .collect()
}

/// Error converting an [`OutUpdate`] to the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToWireError {
    /// An announcement without a next hop of a usable kind.
    #[error("failed to encode announcement for {family}: next hop {next_hop:?} unusable")]
    NextHop {
        /// Family.
        family: AfiSafi,
        /// The attributes' next hop.
        next_hop: Option<IpAddr>,
    },
    /// A family this speaker does not send.
    #[error("failed to encode {0}: unsupported family")]
    Family(AfiSafi),
}

/// One `Update` for an [`OutUpdate`] (possibly oversized: split with `Update::split`).
///
/// IPv4 unicast uses the NEXT_HOP attribute and NLRI field (or, with an IPv6 next hop, RFC 8950
/// MP_REACH_NLRI); IPv6 unicast uses MP_REACH_NLRI / MP_UNREACH_NLRI.
pub fn to_wire(out: &OutUpdate) -> Result<Update, ToWireError> {
    match out {
        OutUpdate::EndOfRib { family } => Ok(Update::end_of_rib(*family)),
        OutUpdate::Withdraw { family, prefixes } => match *family {
            AfiSafi::IPV4_UNICAST => Ok(Update::withdraw_ipv4(v4_nlri(prefixes))),
            AfiSafi::IPV6_UNICAST => Ok(Update::withdraw_ipv6(v6_nlri(prefixes))),
            f => Err(ToWireError::Family(f)),
        },
        OutUpdate::Announce {
            family,
            attrs,
            prefixes,
        } => {
            let mut wa = attrs_to_wire(attrs);
            let bad_nh = || ToWireError::NextHop {
                family: *family,
                next_hop: attrs.next_hop,
            };
            match (*family, attrs.next_hop) {
                (AfiSafi::IPV4_UNICAST, Some(IpAddr::V4(nh))) => {
                    wa.next_hop = Some(nh);
                    Ok(Update::announce_ipv4(wa, v4_nlri(prefixes)))
                }
                (AfiSafi::IPV4_UNICAST, Some(IpAddr::V6(global))) => {
                    wa.mp_reach = Some(wire::MpReach {
                        afi_safi: AfiSafi::IPV4_UNICAST,
                        next_hop: MpNextHop::Ipv6 {
                            global,
                            link_local: attrs.next_hop_link_local,
                        },
                        nlri: MpNlri::Ipv4(v4_nlri(prefixes)),
                    });
                    Ok(Update {
                        attributes: wa,
                        ..Update::default()
                    })
                }
                (AfiSafi::IPV6_UNICAST, Some(IpAddr::V6(global))) => Ok(Update::announce_ipv6(
                    wa,
                    MpNextHop::Ipv6 {
                        global,
                        link_local: attrs.next_hop_link_local,
                    },
                    v6_nlri(prefixes),
                )),
                (AfiSafi::IPV6_UNICAST, Some(IpAddr::V4(v4))) => Ok(Update::announce_ipv6(
                    wa,
                    // RFC 4798 §2: an IPv4 next hop for IPv6 NLRI as an IPv4-mapped address.
                    MpNextHop::Ipv6 {
                        global: v4.to_ipv6_mapped(),
                        link_local: None,
                    },
                    v6_nlri(prefixes),
                )),
                (AfiSafi::IPV4_UNICAST | AfiSafi::IPV6_UNICAST, None) => Err(bad_nh()),
                (f, _) => Err(ToWireError::Family(f)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use fabric_bgp_wire::{negotiate, Asn, Capability, Message, RouterId};

    use super::*;

    fn rich_attrs() -> PathAttrs {
        let mut a = PathAttrs::learned(
            AsPath {
                segments: vec![
                    AsSegment {
                        kind: SegmentKind::Sequence,
                        asns: vec![Asn(65001), Asn(4_200_000_000)],
                    },
                    AsSegment {
                        kind: SegmentKind::Set,
                        asns: vec![Asn(7), Asn(8)],
                    },
                ],
            },
            "10.0.0.1".parse().unwrap(),
        );
        a.med = Some(5);
        a.local_pref = Some(150);
        a.atomic_aggregate = true;
        a.aggregator = Some(Aggregator {
            asn: Asn(65001),
            address: "10.0.0.1".parse().unwrap(),
        });
        a.communities = vec![Community::new(65000, 1), Community::NO_EXPORT];
        a.large_communities = vec![LargeCommunity {
            global: 1,
            local1: 2,
            local2: 3,
        }];
        a.extended_communities = vec![ExtendedCommunity([0, 2, 0, 1, 0, 0, 0, 9])];
        a.originator_id = Some(RouterId("2.2.2.2".parse().unwrap()));
        a.cluster_list = vec![ClusterId("9.9.9.9".parse().unwrap())];
        a.unknown = vec![UnknownAttr {
            flags: flags::OPTIONAL_TRANSITIVE | flags::PARTIAL,
            code: 250,
            value: vec![1, 2, 3],
        }];
        a
    }

    fn ctx(ibgp: bool) -> fabric_bgp_wire::CodecContext {
        let caps = vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::FourOctetAs(Asn(65000)),
        ];
        negotiate(&caps, &caps, ibgp)
    }

    /// Encode, decode, convert back: what the RIB sends is what a peer's RIB receives.
    fn through_the_wire(out: &OutUpdate) -> Vec<RouteUpdate> {
        let c = ctx(true);
        let mut all = Vec::new();
        for u in to_wire(out).unwrap().split(&c).unwrap() {
            let mut buf = Vec::new();
            Message::Update(u).encode_into(&c, &mut buf).unwrap();
            assert!(buf.len() <= 4096);
            let Message::Update(back) = Message::decode(&buf, &c).unwrap() else {
                panic!("not an update")
            };
            all.extend(route_updates(&back));
        }
        all
    }

    #[test]
    fn attributes_round_trip() {
        let a = rich_attrs();
        let w = attrs_to_wire(&a);
        let back = attrs_from_wire(&w);
        assert_eq!(
            back,
            PathAttrs {
                next_hop: None,
                ..a
            }
        );
    }

    #[test]
    fn unknown_non_transitive_attributes_are_dropped_and_transitive_marked_partial() {
        let mut w = attrs_to_wire(&PathAttrs::local());
        w.unknown = vec![
            wire::UnknownAttribute {
                flags: flags::OPTIONAL,
                code: 251,
                value: vec![],
            },
            wire::UnknownAttribute {
                flags: flags::OPTIONAL_TRANSITIVE,
                code: 252,
                value: vec![9],
            },
        ];
        let a = attrs_from_wire(&w);
        assert_eq!(a.unknown.len(), 1);
        assert_eq!(a.unknown[0].code, 252);
        assert_ne!(a.unknown[0].flags & flags::PARTIAL, 0);
    }

    #[test]
    fn ipv4_announcement_split_and_received_back() {
        let attrs = Arc::new(rich_attrs());
        let prefixes: Vec<IpNet> = (0..3000u32)
            .map(|i| IpNet::new(IpAddr::V4((0x0A00_0000 + (i << 8)).into()), 24).unwrap())
            .collect();
        let out = OutUpdate::Announce {
            family: AfiSafi::IPV4_UNICAST,
            attrs: Arc::clone(&attrs),
            prefixes: prefixes.clone(),
        };
        let got = through_the_wire(&out);
        assert!(got.len() > 1, "3000 prefixes need several messages");
        let mut all = Vec::new();
        for r in &got {
            assert_eq!(r.family, AfiSafi::IPV4_UNICAST);
            assert_eq!(r.attrs.as_ref(), Some(&*attrs));
            all.extend(r.announced.iter().copied());
        }
        assert_eq!(all, prefixes);
    }

    #[test]
    fn ipv6_announcement_withdrawal_and_eor() {
        let mut a = rich_attrs();
        a.next_hop = Some("fd00::1".parse().unwrap());
        a.next_hop_link_local = Some("fe80::1".parse().unwrap());
        let prefixes = vec![
            "2001:db8:1::/48".parse().unwrap(),
            "2001:db8:2::/48".parse().unwrap(),
        ];
        let got = through_the_wire(&OutUpdate::Announce {
            family: AfiSafi::IPV6_UNICAST,
            attrs: Arc::new(a.clone()),
            prefixes: prefixes.clone(),
        });
        assert_eq!(
            got,
            vec![RouteUpdate {
                family: AfiSafi::IPV6_UNICAST,
                withdrawn: vec![],
                announced: prefixes.clone(),
                attrs: Some(a),
            }]
        );
        let got = through_the_wire(&OutUpdate::Withdraw {
            family: AfiSafi::IPV6_UNICAST,
            prefixes: prefixes.clone(),
        });
        assert_eq!(got[0].withdrawn, prefixes);
        assert!(got[0].attrs.is_none());

        let eor = to_wire(&OutUpdate::EndOfRib {
            family: AfiSafi::IPV6_UNICAST,
        })
        .unwrap();
        assert_eq!(eor.is_end_of_rib(), Some(AfiSafi::IPV6_UNICAST));
        assert!(route_updates(&eor).is_empty());
    }

    #[test]
    fn announcement_without_next_hop_is_an_error() {
        let out = OutUpdate::Announce {
            family: AfiSafi::IPV4_UNICAST,
            attrs: Arc::new(PathAttrs::local()),
            prefixes: vec!["10.0.0.0/8".parse().unwrap()],
        };
        assert!(matches!(to_wire(&out), Err(ToWireError::NextHop { .. })));
    }
}
