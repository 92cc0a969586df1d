//! Property tests: no decode entry point panics on arbitrary or mutated input, and typed values
//! survive `decode(encode(x)) == x`. Case counts are bounded so this runs in seconds.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use fabric_bgp_wire::attribute::flags;
use fabric_bgp_wire::nlri::decode_prefixes;
use fabric_bgp_wire::{
    frame_len, AddPathFamily, AddPathMode, Afi, AfiSafi, Aggregator, AsPath, Asn, Capability,
    CodecContext, Community, ExtendedCommunity, GrFamily, GracefulRestart, Ipv4Nlri, Ipv6Nlri,
    LargeCommunity, LlgrFamily, Message, MpNextHop, MpNlri, MpReach, MpUnreach, Nlri, Notification,
    Open, Origin, PathAttributes, RawAttribute, RawUpdate, RouteRefresh, RouterId, Safi, Segment,
    SegmentType, UnknownAttribute, Update,
};
use ipnet::{Ipv4Net, Ipv6Net};
use proptest::prelude::*;

fn contexts() -> Vec<CodecContext> {
    let all = vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];
    vec![
        CodecContext::default(),
        CodecContext {
            ibgp: true,
            ..CodecContext::four_octet()
        },
        CodecContext {
            four_octet_as: true,
            add_path_rx: all.clone(),
            add_path_tx: all,
            extended_message: true,
            ..CodecContext::default()
        },
    ]
}

/// Runs every decoder on `bytes`; only panics count as failures.
fn decode_everything(bytes: &[u8]) {
    let _ = frame_len(bytes);
    let _ = fabric_bgp_wire::frame_len_max(bytes, 65535);
    let _ = Open::decode(bytes);
    let _ = Notification::decode(bytes);
    let _ = RouteRefresh::decode(bytes);
    let _ = Capability::decode_list(bytes);
    let _ = RawUpdate::parse(bytes);
    let _ = RawAttribute::parse_list(bytes);
    let _ = fabric_bgp_wire::RawMessage::parse(bytes);
    let _ = AsPath::decode(bytes, true);
    let _ = AsPath::decode(bytes, false);
    let mut v4: Vec<Ipv4Nlri> = Vec::new();
    let _ = decode_prefixes(bytes, false, &mut v4);
    let _ = decode_prefixes(bytes, true, &mut v4);
    let mut v6: Vec<Ipv6Nlri> = Vec::new();
    let _ = decode_prefixes(bytes, false, &mut v6);
    for ctx in contexts() {
        if let Ok(d) = Update::decode(bytes, &ctx) {
            let _ = d.into_effective();
        }
        decode_message_and_reencode(bytes, &ctx);
    }
}

/// Decodes a whole message; when it decodes, re-encoding must not panic and, once normalised,
/// must be stable.
fn decode_message_and_reencode(bytes: &[u8], ctx: &CodecContext) {
    let Ok(m) = Message::decode(bytes, ctx) else {
        return;
    };
    let Ok(once) = m.encode(ctx) else { return };
    let m2 = Message::decode(&once, ctx).expect("re-encoded message must decode");
    if let Ok(twice) = m2.encode(ctx) {
        let m3 = Message::decode(&twice, ctx).expect("decodes");
        assert_eq!(m3, m2, "decode/encode not stable");
    }
}

/// A message framed with a valid header around an arbitrary body of a chosen type.
fn framed(msg_type: u8, body: &[u8]) -> Vec<u8> {
    fabric_bgp_wire::RawMessage::new(msg_type, body.to_vec()).encode()
}

fn seed_messages() -> Vec<Vec<u8>> {
    let ctx = CodecContext::four_octet();
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence([Asn(65001), Asn(4_200_000_000)])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        communities: vec![Community(1)],
        ..PathAttributes::default()
    };
    let v4 = Update::announce_ipv4(
        attrs.clone(),
        vec![
            Nlri::new("10.0.0.0/24".parse().unwrap()),
            Nlri::new("10.1.0.0/16".parse().unwrap()),
        ],
    );
    let v6 = Update::announce_ipv6(
        PathAttributes {
            next_hop: None,
            ..attrs
        },
        MpNextHop::Ipv6 {
            global: Ipv6Addr::LOCALHOST,
            link_local: Some(Ipv6Addr::LOCALHOST),
        },
        vec![Nlri::new("2001:db8::/32".parse().unwrap())],
    );
    let open = Open::new(
        Asn(4_200_000_000),
        90,
        RouterId(Ipv4Addr::new(1, 2, 3, 4)),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::GracefulRestart(GracefulRestart {
                restart_state: true,
                notification: false,
                restart_time: 120,
                families: vec![GrFamily {
                    afi_safi: AfiSafi::IPV4_UNICAST,
                    forwarding_state: true,
                }],
            }),
            Capability::Fqdn {
                hostname: "h".into(),
                domain: "d".into(),
            },
        ],
    );
    [
        Message::Open(open),
        Message::Update(v4),
        Message::Update(v6),
        Message::Update(Update::end_of_rib(AfiSafi::IPV6_UNICAST)),
        Message::Keepalive,
        Message::Notification(Notification::cease(
            fabric_bgp_wire::CeaseSubcode::AdministrativeShutdown,
            "bye",
        )),
        Message::RouteRefresh(RouteRefresh::request(AfiSafi::IPV4_UNICAST)),
    ]
    .iter()
    .map(|m| m.encode(&ctx).unwrap())
    .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
}

fn mutate(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if b.is_empty() {
            break;
        }
        match *m {
            Mutation::Flip(i, x) => {
                let i = i % b.len();
                b[i] ^= x;
            }
            Mutation::Truncate(n) => b.truncate(n % (b.len() + 1)),
            Mutation::Insert(i, x) => {
                let i = i % (b.len() + 1);
                b.insert(i, x);
            }
            Mutation::Remove(i) => {
                let i = i % b.len();
                b.remove(i);
            }
        }
    }
    // Keep the length field consistent half of the time so the body parsers get exercised.
    b
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Insert(i, x)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        decode_everything(&bytes);
    }

    #[test]
    fn arbitrary_bodies_in_valid_headers_never_panic(
        ty in 1..=5u8,
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let m = framed(ty, &body);
        for ctx in contexts() {
            decode_message_and_reencode(&m, &ctx);
        }
        decode_everything(&body);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        seed in 0..7usize,
        muts in proptest::collection::vec(mutation(), 1..6),
        fix_length in any::<bool>(),
    ) {
        let seeds = seed_messages();
        let mut b = mutate(seeds[seed % seeds.len()].clone(), &muts);
        if fix_length && b.len() >= 19 {
            let len = u16::try_from(b.len()).unwrap_or(u16::MAX).to_be_bytes();
            b[16] = len[0];
            b[17] = len[1];
            b[..16].fill(0xff);
        }
        decode_everything(&b);
        if b.len() >= 19 {
            decode_everything(&b[19..]);
        }
    }
}

// ===== typed round trips =====

fn asn() -> impl Strategy<Value = Asn> {
    // AS 0 is malformed on the wire (RFC 7607), so it is not a round-trip value.
    prop_oneof![(1..65535u32).prop_map(Asn), (1..=u32::MAX).prop_map(Asn)]
}

fn as_path(confed: bool) -> impl Strategy<Value = AsPath> {
    let kind = if confed {
        prop_oneof![
            Just(SegmentType::Sequence),
            Just(SegmentType::Set),
            Just(SegmentType::ConfedSequence),
            Just(SegmentType::ConfedSet)
        ]
        .boxed()
    } else {
        prop_oneof![Just(SegmentType::Sequence), Just(SegmentType::Set)].boxed()
    };
    proptest::collection::vec(
        (kind, proptest::collection::vec(asn(), 1..6))
            .prop_map(|(kind, asns)| Segment { kind, asns }),
        0..4,
    )
    .prop_map(|segments| AsPath { segments })
}

fn v4net() -> impl Strategy<Value = Ipv4Net> {
    (any::<u32>(), 0..=32u8).prop_map(|(a, l)| Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc())
}

fn v6net() -> impl Strategy<Value = Ipv6Net> {
    (any::<u128>(), 0..=128u8)
        .prop_map(|(a, l)| Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc())
}

fn nlri<P: std::fmt::Debug + Clone>(
    p: impl Strategy<Value = P>,
    add_path: bool,
) -> impl Strategy<Value = Nlri<P>> {
    (p, any::<u32>()).prop_map(move |(prefix, id)| Nlri {
        path_id: add_path.then_some(id),
        prefix,
    })
}

prop_compose! {
    fn attributes(four_octet: bool, add_path: bool)(
        origin in prop_oneof![Just(Origin::Igp), Just(Origin::Egp), Just(Origin::Incomplete)],
        path in as_path(four_octet),
        next_hop in any::<u32>(),
        med in proptest::option::of(any::<u32>()),
        local_pref in proptest::option::of(any::<u32>()),
        atomic_aggregate in any::<bool>(),
        aggregator in proptest::option::of((asn(), any::<u32>())),
        communities in proptest::collection::vec(any::<u32>().prop_map(Community), 0..8),
        originator_id in proptest::option::of(any::<u32>()),
        cluster_list in proptest::collection::vec(any::<u32>(), 0..4),
        ext in proptest::collection::vec(any::<[u8; 8]>().prop_map(ExtendedCommunity), 0..4),
        large in proptest::collection::vec(any::<(u32, u32, u32)>(), 0..4),
        unknown in proptest::collection::btree_map(
            prop_oneof![100..=127u8, 200..=255u8],
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)),
            0..3,
        ),
        reach in proptest::option::of((proptest::collection::vec(nlri(v6net(), add_path), 0..20), any::<u128>(), proptest::option::of(any::<u128>()))),
        unreach in proptest::option::of(proptest::collection::vec(nlri(v6net(), add_path), 0..20)),
    ) -> PathAttributes {
        let unknown: BTreeMap<u8, (bool, Vec<u8>)> = unknown;
        PathAttributes {
            origin: Some(origin),
            as_path: Some(path),
            next_hop: Some(Ipv4Addr::from(next_hop)),
            med,
            local_pref,
            atomic_aggregate,
            aggregator: aggregator.map(|(asn, a)| Aggregator { asn, address: Ipv4Addr::from(a) }),
            communities,
            originator_id: originator_id.map(|a| RouterId(Ipv4Addr::from(a))),
            cluster_list: cluster_list.into_iter().map(|a| RouterId(Ipv4Addr::from(a))).collect(),
            mp_reach: reach.map(|(list, g, ll)| MpReach {
                afi_safi: AfiSafi::IPV6_UNICAST,
                next_hop: MpNextHop::Ipv6 { global: Ipv6Addr::from(g), link_local: ll.map(Ipv6Addr::from) },
                nlri: MpNlri::Ipv6(list),
            }),
            mp_unreach: unreach.map(|list| MpUnreach { afi_safi: AfiSafi::IPV6_UNICAST, withdrawn: MpNlri::Ipv6(list) }),
            extended_communities: ext,
            large_communities: large
                .into_iter()
                .map(|(g, a, b)| LargeCommunity { global_admin: g, local_data1: a, local_data2: b })
                .collect(),
            unknown: unknown
                .into_iter()
                .map(|(code, (transitive, value))| UnknownAttribute {
                    // Transitive ones carry Partial already, as they would after propagation.
                    flags: if transitive { flags::OPTIONAL_TRANSITIVE | flags::PARTIAL } else { flags::OPTIONAL },
                    code,
                    value,
                })
                .collect(),
        }
    }
}

fn update(four_octet: bool, add_path: bool) -> impl Strategy<Value = Update> {
    (
        proptest::collection::vec(nlri(v4net(), add_path), 0..30),
        attributes(four_octet, add_path),
        proptest::collection::vec(nlri(v4net(), add_path), 0..30),
    )
        .prop_map(|(withdrawn, attributes, nlri)| Update {
            withdrawn,
            attributes,
            nlri,
        })
}

fn capability() -> impl Strategy<Value = Capability> {
    let af = (
        prop_oneof![
            Just(Afi::Ipv4),
            Just(Afi::Ipv6),
            (3..100u16).prop_map(Afi::Unknown)
        ],
        prop_oneof![
            Just(Safi::Unicast),
            Just(Safi::Multicast),
            (3..255u8).prop_map(Safi::Unknown)
        ],
    )
        .prop_map(|(afi, safi)| AfiSafi { afi, safi });
    prop_oneof![
        af.clone().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        any::<u32>().prop_map(|a| Capability::FourOctetAs(Asn(a))),
        (
            any::<bool>(),
            any::<bool>(),
            0..4096u16,
            proptest::collection::vec((af.clone(), any::<bool>()), 0..3)
        )
            .prop_map(|(r, n, t, f)| Capability::GracefulRestart(GracefulRestart {
                restart_state: r,
                notification: n,
                restart_time: t,
                families: f
                    .into_iter()
                    .map(|(afi_safi, forwarding_state)| GrFamily {
                        afi_safi,
                        forwarding_state
                    })
                    .collect(),
            })),
        proptest::collection::vec((af.clone(), any::<bool>(), 0..0x0100_0000u32), 0..3).prop_map(
            |v| {
                Capability::LongLivedGracefulRestart(
                    v.into_iter()
                        .map(|(afi_safi, forwarding_state, stale_time)| LlgrFamily {
                            afi_safi,
                            forwarding_state,
                            stale_time,
                        })
                        .collect(),
                )
            }
        ),
        proptest::collection::vec((af.clone(), 1..=3u8), 0..3).prop_map(|v| Capability::AddPath(
            v.into_iter()
                .map(|(afi_safi, m)| AddPathFamily {
                    afi_safi,
                    mode: AddPathMode::from_code(m)
                })
                .collect()
        )),
        proptest::collection::vec((af, prop_oneof![Just(Afi::Ipv4), Just(Afi::Ipv6)]), 0..3)
            .prop_map(|v| Capability::ExtendedNextHop(
                v.into_iter()
                    .map(
                        |(afi_safi, next_hop_afi)| fabric_bgp_wire::ExtendedNextHop {
                            afi_safi,
                            next_hop_afi
                        }
                    )
                    .collect()
            )),
        ("[a-z0-9.-]{0,20}", "[a-z.]{0,20}")
            .prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        (
            prop_oneof![Just(7u8), 74..=127u8, 129..=255u8],
            proptest::collection::vec(any::<u8>(), 0..8)
        )
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn update_round_trips_four_octet_ibgp(u in update(true, false)) {
        let ctx = CodecContext { ibgp: true, ..CodecContext::four_octet() };
        let bytes = Message::Update(u.clone()).encode(&ctx).unwrap();
        let (m, errors) = Message::decode_with_errors(&bytes, &ctx).unwrap();
        prop_assert_eq!(errors, vec![]);
        prop_assert_eq!(&m, &Message::Update(u));
        prop_assert_eq!(m.encode(&ctx).unwrap(), bytes);
    }

    #[test]
    fn update_round_trips_with_add_path(u in update(true, true)) {
        let all = vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];
        let ctx = CodecContext {
            ibgp: true,
            four_octet_as: true,
            add_path_rx: all.clone(),
            add_path_tx: all,
            ..CodecContext::default()
        };
        let bytes = Message::Update(u.clone()).encode(&ctx).unwrap();
        prop_assert_eq!(Message::decode(&bytes, &ctx).unwrap(), Message::Update(u));
    }

    #[test]
    fn update_round_trips_two_octet_with_as4(u in update(false, false)) {
        let ctx = CodecContext { ibgp: true, ..CodecContext::default() };
        let bytes = Message::Update(u.clone()).encode(&ctx).unwrap();
        let (m, errors) = Message::decode_with_errors(&bytes, &ctx).unwrap();
        prop_assert_eq!(errors, vec![]);
        let Message::Update(back) = m else { panic!() };
        // AGGREGATOR with a real 2-octet AS makes the receiver ignore AS4_PATH (RFC 6793
        // §4.2.3); that is the one case where 4-octet ASNs in the path cannot survive.
        let lossy = u.attributes.aggregator.is_some_and(|a| a.asn != Asn::TRANS && a.asn.is_two_octet())
            && u.attributes.as_path.as_ref().is_some_and(|p| !p.is_two_octet());
        if !lossy {
            prop_assert_eq!(back, u);
        }
    }

    #[test]
    fn open_round_trips(caps in proptest::collection::vec(capability(), 0..6), asn in asn(), hold in any::<u16>(), id in any::<u32>()) {
        let o = Open::new(asn, hold, RouterId(Ipv4Addr::from(id)), caps);
        let ctx = CodecContext::default();
        match Message::Open(o.clone()).encode(&ctx) {
            Ok(bytes) => prop_assert_eq!(Message::decode(&bytes, &ctx).unwrap(), Message::Open(o)),
            // Only when the capabilities exceed one optional parameter.
            Err(e) => {
                let too_long = matches!(e, fabric_bgp_wire::EncodeError::FieldTooLong { .. });
                prop_assert!(too_long, "unexpected encode error {}", e);
            }
        }
    }
}
