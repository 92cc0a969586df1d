//! Byte fixtures: whole messages as hex, with what decoding them must give.
//!
//! Each entry of [`VECTORS`] is checked by one test: it must decode (or fail with the given
//! NOTIFICATION code/subcode), pass its `check`, re-encode to the same bytes when `canonical`,
//! and survive a typed round trip. To add a capture from BIRD/FRR/GoBGP, paste Wireshark's
//! "Copy as Hex Stream" of the BGP message (marker included) into a new entry; whitespace in
//! `hex` is ignored.
//!
//! The vectors below were built by hand from the RFC layouts, independently of this crate's
//! encoder, in the shapes the three daemons use (BIRD: all capabilities in one optional
//! parameter; FRR and GoBGP: one parameter per capability). `frr-test-capability-as4real2`
//! uses the optional-parameter bytes of FRR's `tests/bgpd/test_capability.c`.

use std::net::{Ipv4Addr, Ipv6Addr};

use fabric_bgp_wire::{
    AddPathMode, AfiSafi, Asn, Capability, CeaseSubcode, CodecContext, Community, ErrorCode,
    LargeCommunity, Message, MpNextHop, MpNlri, Origin, RouteRefreshSubtype,
};

/// Which negotiated context to decode with.
#[derive(Clone, Copy, Debug)]
enum Ctx {
    /// RFC 4271 defaults: 2-octet AS, eBGP.
    TwoOctet,
    /// 4-octet AS, eBGP.
    FourOctet,
}

impl Ctx {
    fn get(self) -> CodecContext {
        match self {
            Ctx::TwoOctet => CodecContext::default(),
            Ctx::FourOctet => CodecContext::four_octet(),
        }
    }
}

enum Expect {
    /// Decodes; the function checks the result.
    Decodes(fn(&Message)),
    /// Fails with this NOTIFICATION code and subcode.
    Fails(u8, u8),
}

struct Vector {
    name: &'static str,
    ctx: Ctx,
    /// Whether re-encoding must reproduce the bytes exactly.
    canonical: bool,
    hex: &'static str,
    expect: Expect,
}

const VECTORS: &[Vector] = &[
    Vector {
        name: "keepalive",
        ctx: Ctx::TwoOctet,
        canonical: true,
        hex: "ffffffffffffffffffffffffffffffff001304",
        expect: Expect::Decodes(|m| assert_eq!(*m, Message::Keepalive)),
    },
    Vector {
        name: "bird-style-open-one-parameter",
        ctx: Ctx::TwoOctet,
        canonical: true,
        hex: "ffffffffffffffffffffffffffffffff005901045ba000f00a0000013c023a01
              040001000101040002000102004600400a007800010180000201804104fa56ea
              01450400010103470700010100000e104907057370696e6500",
        expect: Expect::Decodes(|m| {
            let Message::Open(o) = m else {
                panic!("not an OPEN")
            };
            assert_eq!(o.my_as, 23456);
            assert_eq!(o.effective_asn(), Asn(4_200_000_001));
            assert_eq!(o.hold_time, 240);
            assert_eq!(o.router_id.0, Ipv4Addr::new(10, 0, 0, 1));
            assert_eq!(
                o.multiprotocol(),
                vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]
            );
            let gr = o.graceful_restart().expect("GR capability");
            assert_eq!(
                (gr.restart_state, gr.restart_time, gr.families.len()),
                (false, 120, 2)
            );
            assert!(gr.families.iter().all(|f| f.forwarding_state));
            let llgr = o.long_lived_graceful_restart().expect("LLGR with GR");
            assert_eq!(llgr[0].stale_time, 3600);
            assert_eq!(o.hostname(), Some("spine"));
            assert!(o.capabilities.contains(&Capability::EnhancedRouteRefresh));
            assert!(o.validate(Some(Asn(4_200_000_001))).is_ok());
        }),
    },
    Vector {
        name: "frr-style-open-parameter-per-capability",
        ctx: Ctx::TwoOctet,
        canonical: false,
        hex: "ffffffffffffffffffffffffffffffff005a0104fdea00b40a0000023d020601
              0400010001020280000202020002024600020641040000fdea02064504000101
              01020d490b056c65616631047261636b02044002407802024700",
        expect: Expect::Decodes(|m| {
            let Message::Open(o) = m else {
                panic!("not an OPEN")
            };
            assert_eq!(o.effective_asn(), Asn(65002));
            assert_eq!(o.capabilities.len(), 9);
            assert!(o.capabilities.contains(&Capability::Unknown {
                code: 128,
                value: vec![]
            }));
            assert_eq!(
                o.capabilities.get(6),
                Some(&Capability::Fqdn {
                    hostname: "leaf1".into(),
                    domain: "rack".into()
                })
            );
            let gr = o.graceful_restart().expect("GR");
            assert!(gr.notification && !gr.restart_state && gr.families.is_empty());
            assert_eq!(gr.restart_time, 120);
            let Some(Capability::AddPath(ap)) = o.capabilities.get(5) else {
                panic!("ADD-PATH")
            };
            assert_eq!(ap[0].mode, AddPathMode::Receive);
        }),
    },
    Vector {
        name: "gobgp-style-open",
        ctx: Ctx::TwoOctet,
        canonical: false,
        hex: "ffffffffffffffffffffffffffffffff003d0104fdeb005a0a00000320020202
              000206010400010001020601040002000102020600020641040000fdeb",
        expect: Expect::Decodes(|m| {
            let Message::Open(o) = m else {
                panic!("not an OPEN")
            };
            assert_eq!(o.hold_time, 90);
            assert!(o.capabilities.contains(&Capability::ExtendedMessage));
            assert_eq!(o.four_octet_asn(), Some(Asn(65003)));
        }),
    },
    Vector {
        name: "frr-test-capability-as4real2",
        ctx: Ctx::TwoOctet,
        canonical: false,
        hex: "ffffffffffffffffffffffffffffffff00570104fc03005ac00002013a020601
              040001000102060104000200010202800002020200020641040000fc03020982
              0700010001018003020903070001000101400302024200",
        expect: Expect::Decodes(|m| {
            let Message::Open(o) = m else {
                panic!("not an OPEN")
            };
            assert_eq!(o.effective_asn(), Asn(64515));
            // ORF (3), old ORF (130) and dynamic capability (66) are unknown here, kept raw.
            let unknown: Vec<u8> = o
                .capabilities
                .iter()
                .filter_map(|c| match c {
                    Capability::Unknown { code, .. } => Some(*code),
                    _ => None,
                })
                .collect();
            assert_eq!(unknown, [128, 130, 3, 66]);
        }),
    },
    Vector {
        name: "update-ipv4-four-octet",
        ctx: Ctx::FourOctet,
        canonical: true,
        hex: "ffffffffffffffffffffffffffffffff005c020002080a00394001010040020a
              02020000fde9fa56ea01400304c000020180040400000000c00808fde90064ff
              ffff01c0200cfa56ea010000000100000002180a0102200a01030400",
        expect: Expect::Decodes(|m| {
            let Message::Update(u) = m else {
                panic!("not an UPDATE")
            };
            assert_eq!(u.withdrawn.len(), 1);
            assert_eq!(u.withdrawn[0].prefix.to_string(), "10.0.0.0/8");
            let nlri: Vec<String> = u.nlri.iter().map(|n| n.prefix.to_string()).collect();
            assert_eq!(nlri, ["10.1.2.0/24", "10.1.3.4/32", "0.0.0.0/0"]);
            let a = &u.attributes;
            assert_eq!(a.origin, Some(Origin::Igp));
            assert_eq!(
                a.as_path.as_ref().map(|p| p.to_string()).as_deref(),
                Some("65001 4200000001")
            );
            assert_eq!(a.next_hop, Some(Ipv4Addr::new(192, 0, 2, 1)));
            assert_eq!(a.med, Some(0));
            assert_eq!(
                a.communities,
                vec![Community::new(65001, 100), Community::NO_EXPORT]
            );
            assert_eq!(
                a.large_communities,
                vec![LargeCommunity {
                    global_admin: 4_200_000_001,
                    local_data1: 1,
                    local_data2: 2
                }]
            );
        }),
    },
    Vector {
        name: "update-ipv4-to-two-octet-peer-with-as4-path",
        ctx: Ctx::TwoOctet,
        canonical: true,
        hex: "ffffffffffffffffffffffffffffffff003c0200000021400101004002060202
              fde95ba0400304c0000201c0110a02020000fde9fa56ea01180a0102",
        expect: Expect::Decodes(|m| {
            let Message::Update(u) = m else {
                panic!("not an UPDATE")
            };
            let p = u.attributes.as_path.as_ref().expect("AS_PATH");
            assert_eq!(
                p.to_string(),
                "65001 4200000001",
                "AS_PATH merged with AS4_PATH"
            );
            assert!(u.attributes.unknown.is_empty());
        }),
    },
    Vector {
        name: "update-ipv6-mp-reach-link-local",
        ctx: Ctx::FourOctet,
        canonical: true,
        hex: "ffffffffffffffffffffffffffffffff005c0200000045800e35000201202001
              0db8000000000000000000000001fe8000000000000000000000000000010040
              20010db8000100023020010db800034001010040020602010000fde9",
        expect: Expect::Decodes(|m| {
            let Message::Update(u) = m else {
                panic!("not an UPDATE")
            };
            let r = u.attributes.mp_reach.as_ref().expect("MP_REACH_NLRI");
            assert_eq!(r.afi_safi, AfiSafi::IPV6_UNICAST);
            assert_eq!(
                r.next_hop,
                MpNextHop::Ipv6 {
                    global: "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
                    link_local: Some("fe80::1".parse().unwrap()),
                }
            );
            let MpNlri::Ipv6(list) = &r.nlri else {
                panic!("IPv6 NLRI")
            };
            let list: Vec<String> = list.iter().map(|n| n.prefix.to_string()).collect();
            assert_eq!(list, ["2001:db8:1:2::/64", "2001:db8:3::/48"]);
        }),
    },
    Vector {
        name: "end-of-rib-ipv4",
        ctx: Ctx::FourOctet,
        canonical: true,
        hex: "ffffffffffffffffffffffffffffffff00170200000000",
        expect: Expect::Decodes(|m| {
            let Message::Update(u) = m else {
                panic!("not an UPDATE")
            };
            assert_eq!(u.is_end_of_rib(), Some(AfiSafi::IPV4_UNICAST));
        }),
    },
    Vector {
        name: "end-of-rib-ipv6",
        ctx: Ctx::FourOctet,
        canonical: true,
        hex: "ffffffffffffffffffffffffffffffff001d0200000006800f03000201",
        expect: Expect::Decodes(|m| {
            let Message::Update(u) = m else {
                panic!("not an UPDATE")
            };
            assert_eq!(u.is_end_of_rib(), Some(AfiSafi::IPV6_UNICAST));
        }),
    },
    Vector {
        name: "notification-cease-shutdown-communication",
        ctx: Ctx::TwoOctet,
        canonical: true,
        hex: "ffffffffffffffffffffffffffffffff0028030602126d61696e74656e616e63
              652077696e646f77",
        expect: Expect::Decodes(|m| {
            let Message::Notification(n) = m else {
                panic!("not a NOTIFICATION")
            };
            assert_eq!(
                n.code,
                ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown)
            );
            assert_eq!(n.shutdown_communication(), Some("maintenance window"));
        }),
    },
    Vector {
        name: "route-refresh-borr",
        ctx: Ctx::TwoOctet,
        canonical: true,
        hex: "ffffffffffffffffffffffffffffffff00170500020101",
        expect: Expect::Decodes(|m| {
            let Message::RouteRefresh(r) = m else {
                panic!("not a ROUTE-REFRESH")
            };
            assert_eq!(r.afi_safi, AfiSafi::IPV6_UNICAST);
            assert_eq!(r.subtype, RouteRefreshSubtype::BeginningOfRefresh);
        }),
    },
    Vector {
        name: "bad-marker",
        ctx: Ctx::TwoOctet,
        canonical: false,
        hex: "fffffffffffffffffffffffffffffffe001304",
        expect: Expect::Fails(1, 1),
    },
    Vector {
        name: "keepalive-length-20",
        ctx: Ctx::TwoOctet,
        canonical: false,
        hex: "ffffffffffffffffffffffffffffffff00140400",
        expect: Expect::Fails(1, 2),
    },
    Vector {
        name: "unknown-type-9",
        ctx: Ctx::TwoOctet,
        canonical: false,
        hex: "ffffffffffffffffffffffffffffffff001309",
        expect: Expect::Fails(1, 3),
    },
    Vector {
        name: "open-version-3",
        ctx: Ctx::TwoOctet,
        canonical: false,
        hex: "ffffffffffffffffffffffffffffffff001d0103fde900b40a00000100",
        expect: Expect::Fails(2, 1),
    },
    Vector {
        name: "update-withdrawn-length-overrun",
        ctx: Ctx::TwoOctet,
        canonical: false,
        hex: "ffffffffffffffffffffffffffffffff00170200ff0000",
        expect: Expect::Fails(3, 1),
    },
];

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).expect("hex digit"))
        .collect()
}

#[test]
fn all_vectors() {
    let mut names = std::collections::HashSet::new();
    for v in VECTORS {
        assert!(names.insert(v.name), "duplicate vector name {}", v.name);
        let bytes = unhex(v.hex);
        let ctx = v.ctx.get();
        // Framing agrees with the message boundary unless the header itself is bad.
        let framed = fabric_bgp_wire::frame_len(&bytes);
        let result = Message::decode(&bytes, &ctx);
        match (&v.expect, result) {
            (Expect::Decodes(check), Ok(m)) => {
                assert_eq!(framed, Ok(Some(bytes.len())), "{}: frame_len", v.name);
                check(&m);
                let again = m
                    .encode(&ctx)
                    .unwrap_or_else(|e| panic!("{}: encode: {e}", v.name));
                if v.canonical {
                    assert_eq!(again, bytes, "{}: re-encoding differs", v.name);
                }
                let back = Message::decode(&again, &ctx).unwrap();
                assert_eq!(back, m, "{}: typed round trip", v.name);
            }
            (Expect::Fails(code, sub), Err(e)) => {
                assert_eq!(
                    (e.code_byte(), e.subcode_byte()),
                    (*code, *sub),
                    "{}: {e}",
                    v.name
                );
            }
            (Expect::Decodes(_), Err(e)) => panic!("{}: expected to decode, got {e}", v.name),
            (Expect::Fails(..), Ok(m)) => panic!("{}: expected an error, decoded {m:?}", v.name),
        }
    }
}

/// Capability value vectors from FRR's `tests/bgpd/test_capability.c` (facts about the format;
/// the expectations are ours: malformed known capabilities are kept as `Malformed`, never fatal).
#[test]
fn frr_capability_vectors() {
    use fabric_bgp_wire::capability::GrFamily;
    // GR: R bit + reserved bits, restart time 0x112, three families with assorted flags.
    let gr = unhex("400ef112000101 0f 000201 00 000202 01");
    let caps = Capability::decode_list(&gr).expect("parses");
    let Capability::GracefulRestart(g) = &caps[0] else {
        panic!("{caps:?}")
    };
    assert!(g.restart_state);
    assert_eq!(g.restart_time, 0x112);
    assert_eq!(
        g.families,
        vec![
            GrFamily {
                afi_safi: AfiSafi::IPV4_UNICAST,
                forwarding_state: false
            },
            GrFamily {
                afi_safi: AfiSafi::IPV6_UNICAST,
                forwarding_state: false
            },
            GrFamily {
                afi_safi: AfiSafi {
                    afi: fabric_bgp_wire::Afi::Ipv6,
                    safi: fabric_bgp_wire::Safi::Multicast
                },
                forwarding_state: false
            },
        ]
    );
    // AS4 with value 2882400018.
    assert_eq!(
        Capability::decode_list(&unhex("4104abcdef12")),
        Some(vec![Capability::FourOctetAs(Asn(2_882_400_018))])
    );
    // Length mismatches: overrun is a parameter error, wrong fixed size is Malformed.
    assert_eq!(Capability::decode_list(&unhex("4104abcdef")), None);
    assert_eq!(
        Capability::decode_list(&unhex("4000")),
        Some(vec![Capability::Malformed {
            code: 64,
            value: vec![]
        }])
    );
    assert_eq!(
        Capability::decode_list(&unhex("0100")),
        Some(vec![Capability::Malformed {
            code: 1,
            value: vec![]
        }])
    );
    assert_eq!(Capability::decode_list(&unhex("010a")), None);
}
