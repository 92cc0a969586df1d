//! One test per RFC 7606 rule (conformance statements 28-41), asserting the exact action, code
//! and subcode. Messages are crafted with the raw layer, as the conformance suite does.

use fabric_bgp_wire::attribute::flags::{OPTIONAL, OPTIONAL_TRANSITIVE, PARTIAL, WELL_KNOWN};
use fabric_bgp_wire::raw::ipv4_prefixes;
use fabric_bgp_wire::{
    AttrCode, CodecContext, DecodeError, DecodedUpdate, ErrorAction, ErrorCode, Message, Origin,
    RawAttribute, RawUpdate, Update, UpdateSubcode,
};

const ORIGIN: u8 = 1;
const AS_PATH: u8 = 2;
const NEXT_HOP: u8 = 3;
const MED: u8 = 4;
const LOCAL_PREF: u8 = 5;
const ATOMIC_AGGREGATE: u8 = 6;
const AGGREGATOR: u8 = 7;
const COMMUNITIES: u8 = 8;
const ORIGINATOR_ID: u8 = 9;
const CLUSTER_LIST: u8 = 10;
const MP_REACH: u8 = 14;
const MP_UNREACH: u8 = 15;

fn ebgp() -> CodecContext {
    CodecContext::four_octet()
}

fn ibgp() -> CodecContext {
    CodecContext {
        ibgp: true,
        ..CodecContext::four_octet()
    }
}

fn origin() -> RawAttribute {
    RawAttribute::new(WELL_KNOWN, ORIGIN, [0])
}
fn as_path() -> RawAttribute {
    RawAttribute::new(WELL_KNOWN, AS_PATH, [2, 1, 0, 0, 0xfd, 0xe9])
}
fn next_hop() -> RawAttribute {
    RawAttribute::new(WELL_KNOWN, NEXT_HOP, [192, 0, 2, 1])
}

/// A valid UPDATE for 10.0.0.0/24 with `extra` attributes appended.
fn update_with(extra: Vec<RawAttribute>) -> RawUpdate {
    let mut attributes = vec![origin(), as_path(), next_hop()];
    attributes.extend(extra);
    RawUpdate {
        attributes,
        nlri: ipv4_prefixes(&["10.0.0.0/24".parse().unwrap()]),
        ..RawUpdate::default()
    }
}

/// A valid UPDATE whose attribute list is exactly `attrs`.
fn update_only(attrs: Vec<RawAttribute>) -> RawUpdate {
    RawUpdate {
        attributes: attrs,
        ..update_with(vec![])
    }
}

fn decode(u: &RawUpdate, ctx: &CodecContext) -> Result<DecodedUpdate, DecodeError> {
    Update::decode(&u.body(), ctx)
}

fn ok(u: &RawUpdate, ctx: &CodecContext) -> DecodedUpdate {
    decode(u, ctx).expect("no session reset expected")
}

fn fatal(u: &RawUpdate, ctx: &CodecContext) -> DecodeError {
    let e = decode(u, ctx).expect_err("session reset expected");
    assert_eq!(e.action, ErrorAction::SessionReset);
    e
}

fn code(sub: UpdateSubcode) -> ErrorCode {
    ErrorCode::Update(sub)
}

/// Asserts a single non-fatal error with the given action and subcode.
fn assert_one(d: &DecodedUpdate, action: ErrorAction, sub: UpdateSubcode) {
    assert_eq!(d.errors.len(), 1, "errors: {:?}", d.errors);
    assert_eq!(d.action, Some(action));
    assert_eq!(d.errors[0].action, action);
    assert_eq!(d.errors[0].code, code(sub));
}

#[test]
fn baseline_is_clean() {
    let d = ok(&update_with(vec![]), &ebgp());
    assert_eq!(d.action, None);
    assert!(d.errors.is_empty());
    assert_eq!(d.update.attributes.origin, Some(Origin::Igp));
}

// Statement 28, RFC 7606 §3(c).
#[test]
fn s28_flags_contradicting_type_is_treat_as_withdraw() {
    let u = update_only(vec![
        RawAttribute::new(OPTIONAL_TRANSITIVE, ORIGIN, [0]),
        as_path(),
        next_hop(),
    ]);
    let d = ok(&u, &ebgp());
    assert_one(
        &d,
        ErrorAction::TreatAsWithdraw,
        UpdateSubcode::AttributeFlagsError,
    );
    // The data is the offending attribute (RFC 4271 §6.3).
    assert_eq!(d.errors[0].data, [0xc0, 1, 1, 0]);
    let e = d.into_effective().unwrap();
    assert_eq!(e.withdrawn.len(), 1);
    assert!(e.nlri.is_empty());

    // MED (optional non-transitive) sent as well-known.
    let d = ok(
        &update_with(vec![RawAttribute::new(WELL_KNOWN, MED, [0, 0, 0, 1])]),
        &ebgp(),
    );
    assert_one(
        &d,
        ErrorAction::TreatAsWithdraw,
        UpdateSubcode::AttributeFlagsError,
    );
}

// Statement 29, RFC 7606 §7.1.
#[test]
fn s29_malformed_origin_is_treat_as_withdraw() {
    let d = ok(
        &update_only(vec![
            RawAttribute::new(WELL_KNOWN, ORIGIN, [0, 0]),
            as_path(),
            next_hop(),
        ]),
        &ebgp(),
    );
    assert_one(
        &d,
        ErrorAction::TreatAsWithdraw,
        UpdateSubcode::AttributeLengthError,
    );
    let d = ok(
        &update_only(vec![
            RawAttribute::new(WELL_KNOWN, ORIGIN, [3]),
            as_path(),
            next_hop(),
        ]),
        &ebgp(),
    );
    assert_one(
        &d,
        ErrorAction::TreatAsWithdraw,
        UpdateSubcode::InvalidOriginAttribute,
    );
}

// Statement 29, RFC 7606 §7.2.
#[test]
fn s29_malformed_as_path_is_treat_as_withdraw() {
    for bad in [
        vec![2, 0],                   // zero-length segment
        vec![2, 2, 0, 0, 0xfd, 0xe9], // overrun
        vec![7, 1, 0, 0, 0xfd, 0xe9], // unknown segment type
    ] {
        let u = update_only(vec![
            origin(),
            RawAttribute::new(WELL_KNOWN, AS_PATH, bad),
            next_hop(),
        ]);
        let d = ok(&u, &ebgp());
        assert_one(
            &d,
            ErrorAction::TreatAsWithdraw,
            UpdateSubcode::MalformedAsPath,
        );
    }
}

// Statement 29, RFC 7606 §7.3, §7.4.
#[test]
fn s29_malformed_next_hop_and_med_are_treat_as_withdraw() {
    let u = update_only(vec![
        origin(),
        as_path(),
        RawAttribute::new(WELL_KNOWN, NEXT_HOP, [1, 2, 3, 4, 5]),
    ]);
    assert_one(
        &ok(&u, &ebgp()),
        ErrorAction::TreatAsWithdraw,
        UpdateSubcode::AttributeLengthError,
    );
    let u = update_with(vec![RawAttribute::new(OPTIONAL, MED, [0, 0, 1])]);
    assert_one(
        &ok(&u, &ebgp()),
        ErrorAction::TreatAsWithdraw,
        UpdateSubcode::AttributeLengthError,
    );
}

// Statement 30, RFC 7606 §3(d).
#[test]
fn s30_missing_well_known_with_nlri_is_treat_as_withdraw() {
    for (attrs, missing) in [
        (vec![as_path(), next_hop()], ORIGIN),
        (vec![origin(), next_hop()], AS_PATH),
        (vec![origin(), as_path()], NEXT_HOP),
    ] {
        let d = ok(&update_only(attrs), &ebgp());
        assert_one(
            &d,
            ErrorAction::TreatAsWithdraw,
            UpdateSubcode::MissingWellKnownAttribute,
        );
        assert_eq!(d.errors[0].data, [missing]);
    }
    // Without NLRI nothing is mandatory: a plain withdraw is clean.
    let w = RawUpdate {
        withdrawn: ipv4_prefixes(&["10.0.0.0/24".parse().unwrap()]),
        ..RawUpdate::default()
    };
    assert_eq!(ok(&w, &ebgp()).action, None);
}

// Statement 31, RFC 7606 §7.6, §7.7.
#[test]
fn s31_atomic_aggregate_and_aggregator_bad_length_are_discarded() {
    let d = ok(
        &update_with(vec![RawAttribute::new(WELL_KNOWN, ATOMIC_AGGREGATE, [1])]),
        &ebgp(),
    );
    assert_one(
        &d,
        ErrorAction::AttributeDiscard,
        UpdateSubcode::AttributeLengthError,
    );
    assert!(!d.update.attributes.atomic_aggregate);
    assert_eq!(d.update.nlri.len(), 1, "routes still installed");

    // 4-octet session expects 8 octets.
    let d = ok(
        &update_with(vec![RawAttribute::new(
            OPTIONAL_TRANSITIVE,
            AGGREGATOR,
            [0, 1, 1, 1, 1, 1],
        )]),
        &ebgp(),
    );
    assert_one(
        &d,
        ErrorAction::AttributeDiscard,
        UpdateSubcode::AttributeLengthError,
    );
    assert_eq!(d.update.attributes.aggregator, None);
    // 2-octet session expects 6 octets.
    let two = CodecContext::default();
    let u = RawUpdate {
        attributes: vec![
            origin(),
            RawAttribute::new(WELL_KNOWN, AS_PATH, [2, 1, 0xfd, 0xe9]),
            next_hop(),
            RawAttribute::new(OPTIONAL_TRANSITIVE, AGGREGATOR, [0, 0, 0, 1, 1, 1, 1, 1]),
        ],
        ..update_with(vec![])
    };
    assert_one(
        &ok(&u, &two),
        ErrorAction::AttributeDiscard,
        UpdateSubcode::AttributeLengthError,
    );
}

// Statement 32, RFC 7606 §7.5.
#[test]
fn s32_local_pref_from_ebgp_is_discarded_and_malformed_on_ibgp_withdraws() {
    let lp = RawAttribute::new(WELL_KNOWN, LOCAL_PREF, [0, 0, 0, 100]);
    let d = ok(&update_with(vec![lp.clone()]), &ebgp());
    assert_eq!(d.action, Some(ErrorAction::AttributeDiscard));
    assert_eq!(d.update.attributes.local_pref, None);
    assert_eq!(d.update.nlri.len(), 1);
    let d = ok(&update_with(vec![lp]), &ibgp());
    assert_eq!(d.action, None);
    assert_eq!(d.update.attributes.local_pref, Some(100));

    let d = ok(
        &update_with(vec![RawAttribute::new(WELL_KNOWN, LOCAL_PREF, [0, 100])]),
        &ibgp(),
    );
    assert_one(
        &d,
        ErrorAction::TreatAsWithdraw,
        UpdateSubcode::AttributeLengthError,
    );
}

// Statement 33, RFC 7606 §7.8.
#[test]
fn s33_community_length_not_multiple_of_4_is_treat_as_withdraw() {
    for bad in [vec![0, 0, 0, 1, 2], vec![]] {
        let d = ok(
            &update_with(vec![RawAttribute::new(
                OPTIONAL_TRANSITIVE,
                COMMUNITIES,
                bad,
            )]),
            &ebgp(),
        );
        assert_one(
            &d,
            ErrorAction::TreatAsWithdraw,
            UpdateSubcode::AttributeLengthError,
        );
    }
}

// Statement 34, RFC 7606 §7.9, §7.10.
#[test]
fn s34_originator_id_and_cluster_list() {
    for a in [
        RawAttribute::new(OPTIONAL, ORIGINATOR_ID, [1, 1, 1, 1]),
        RawAttribute::new(OPTIONAL, CLUSTER_LIST, [1, 1, 1, 1]),
    ] {
        let d = ok(&update_with(vec![a.clone()]), &ebgp());
        assert_eq!(
            d.action,
            Some(ErrorAction::AttributeDiscard),
            "{a:?} from eBGP"
        );
        assert_eq!(d.update.attributes.originator_id, None);
        assert!(d.update.attributes.cluster_list.is_empty());
        assert_eq!(ok(&update_with(vec![a]), &ibgp()).action, None);
    }
    let d = ok(
        &update_with(vec![RawAttribute::new(
            OPTIONAL,
            ORIGINATOR_ID,
            [1, 1, 1, 1, 1],
        )]),
        &ibgp(),
    );
    assert_one(
        &d,
        ErrorAction::TreatAsWithdraw,
        UpdateSubcode::AttributeLengthError,
    );
    let d = ok(
        &update_with(vec![RawAttribute::new(
            OPTIONAL,
            CLUSTER_LIST,
            [1, 1, 1, 1, 1, 1],
        )]),
        &ibgp(),
    );
    assert_one(
        &d,
        ErrorAction::TreatAsWithdraw,
        UpdateSubcode::AttributeLengthError,
    );
}

// Statement 35, RFC 7606 §3(g).
#[test]
fn s35_repeated_mp_attributes_reset_others_keep_first() {
    let reach = RawAttribute::new(
        OPTIONAL,
        MP_REACH,
        [
            0, 2, 1, 16, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 32, 0x20, 1,
            0x0d, 0xb8,
        ],
    );
    let e = fatal(&update_with(vec![reach.clone(), reach]), &ebgp());
    assert_eq!(e.code, code(UpdateSubcode::MalformedAttributeList));

    let unreach = RawAttribute::new(OPTIONAL, MP_UNREACH, [0, 2, 1]);
    let e = fatal(&update_with(vec![unreach.clone(), unreach]), &ebgp());
    assert_eq!(e.code, code(UpdateSubcode::MalformedAttributeList));

    let u = update_only(vec![
        origin(),
        RawAttribute::new(WELL_KNOWN, ORIGIN, [2]),
        as_path(),
        next_hop(),
    ]);
    let d = ok(&u, &ebgp());
    assert_one(
        &d,
        ErrorAction::AttributeDiscard,
        UpdateSubcode::MalformedAttributeList,
    );
    assert_eq!(
        d.update.attributes.origin,
        Some(Origin::Igp),
        "first copy kept"
    );
}

// Statement 36, RFC 7606 §3(j), §5.3.
#[test]
fn s36_unparseable_nlri_resets() {
    for nlri in [vec![33, 10, 0, 0, 0, 0], vec![24, 10, 0]] {
        let u = RawUpdate {
            nlri: nlri.clone(),
            ..update_with(vec![])
        };
        let e = fatal(&u, &ebgp());
        assert_eq!(e.code, code(UpdateSubcode::InvalidNetworkField));
        let w = RawUpdate {
            withdrawn: nlri,
            ..RawUpdate::default()
        };
        assert_eq!(
            fatal(&w, &ebgp()).code,
            code(UpdateSubcode::InvalidNetworkField)
        );
    }
    // Unparseable MP_REACH NLRI: reset too (3/9).
    let reach = RawAttribute::new(
        OPTIONAL,
        MP_REACH,
        [
            0, 2, 1, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 129,
        ],
    );
    assert_eq!(
        fatal(&update_with(vec![reach]), &ebgp()).code,
        code(UpdateSubcode::OptionalAttributeError)
    );
    // MP_REACH next hop length that cannot be parsed (RFC 7606 §7.11).
    let reach = RawAttribute::new(OPTIONAL, MP_REACH, [0, 2, 1, 5, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        fatal(&update_with(vec![reach]), &ebgp()).code,
        code(UpdateSubcode::OptionalAttributeError)
    );
}

// Statement 37, RFC 7606 §4.
#[test]
fn s37_inconsistent_lengths() {
    let mut u = update_with(vec![]);
    u.withdrawn_len = Some(100);
    assert_eq!(
        fatal(&u, &ebgp()).code,
        code(UpdateSubcode::MalformedAttributeList)
    );
    let mut u = update_with(vec![]);
    u.attributes_len = Some(1000);
    assert_eq!(
        fatal(&u, &ebgp()).code,
        code(UpdateSubcode::MalformedAttributeList)
    );
    // An attribute overrunning Total Attribute Length: treat-as-withdraw, NLRI still found.
    let u = update_with(vec![
        RawAttribute::new(OPTIONAL, MED, [0, 0, 0, 1]).with_length(10)
    ]);
    let d = ok(&u, &ebgp());
    assert_one(
        &d,
        ErrorAction::TreatAsWithdraw,
        UpdateSubcode::MalformedAttributeList,
    );
    assert_eq!(
        d.update.nlri,
        vec!["10.0.0.0/24".parse::<ipnet::Ipv4Net>().unwrap().into()]
    );
}

// Statement 38, RFC 7606 §5.2.
#[test]
fn s38_treat_as_withdraw_without_nlri_resets() {
    let mut u = update_only(vec![
        RawAttribute::new(WELL_KNOWN, ORIGIN, [9]),
        as_path(),
        next_hop(),
    ]);
    u.nlri.clear();
    let e = fatal(&u, &ebgp());
    assert_eq!(e.code, code(UpdateSubcode::InvalidOriginAttribute));
    // Attribute discard alone without NLRI is fine.
    let mut u = update_with(vec![RawAttribute::new(WELL_KNOWN, ATOMIC_AGGREGATE, [1])]);
    u.nlri.clear();
    assert_eq!(ok(&u, &ebgp()).action, Some(ErrorAction::AttributeDiscard));
}

// Statement 39, RFC 7606 §3(h).
#[test]
fn s39_strongest_action_wins() {
    let u = update_with(vec![
        RawAttribute::new(WELL_KNOWN, ATOMIC_AGGREGATE, [1]),
        RawAttribute::new(OPTIONAL, MED, [1]),
        RawAttribute::new(WELL_KNOWN, LOCAL_PREF, [0, 0, 0, 1]),
    ]);
    let d = ok(&u, &ebgp());
    assert_eq!(d.errors.len(), 3);
    assert_eq!(d.action, Some(ErrorAction::TreatAsWithdraw));
    // A fatal error anywhere wins over everything.
    let reach = RawAttribute::new(OPTIONAL, MP_UNREACH, [0, 2, 1, 200]);
    let u = update_with(vec![RawAttribute::new(OPTIONAL, MED, [1]), reach]);
    assert_eq!(fatal(&u, &ebgp()).action, ErrorAction::SessionReset);
}

// Statement 41, RFC 7606 §2, §6: decoding is stateless, nothing is poisoned.
#[test]
fn s41_good_update_after_treat_as_withdraw_is_accepted() {
    let ctx = ebgp();
    let bad = update_with(vec![RawAttribute::new(OPTIONAL, MED, [1])]);
    let m = Message::decode(&bad.encode(), &ctx).unwrap();
    let Message::Update(w) = m else {
        panic!("expected UPDATE")
    };
    assert!(w.nlri.is_empty());
    assert_eq!(
        w.withdrawn.len(),
        1,
        "treat-as-withdraw as a withdraw UPDATE"
    );
    let good = update_with(vec![]);
    let Message::Update(u) = Message::decode(&good.encode(), &ctx).unwrap() else {
        panic!()
    };
    assert_eq!(u.nlri.len(), 1);
    assert!(u.withdrawn.is_empty());
}

// RFC 4271 §6.3 (unchanged by RFC 7606).
#[test]
fn unrecognised_well_known_attribute_resets() {
    let e = fatal(
        &update_with(vec![RawAttribute::new(WELL_KNOWN, 99u8, [1])]),
        &ebgp(),
    );
    assert_eq!(e.code, code(UpdateSubcode::UnrecognizedWellKnownAttribute));
    assert_eq!(e.data, [0x40, 99, 1, 1]);
}

// RFC 4271 §5, §9: unknown optional transitive attributes propagate with Partial set.
#[test]
fn unknown_optional_transitive_is_kept_and_reencoded_partial() {
    let ctx = ebgp();
    let d = ok(
        &update_with(vec![RawAttribute::new(OPTIONAL_TRANSITIVE, 99u8, [1, 2])]),
        &ctx,
    );
    assert_eq!(d.action, None);
    let unknown = &d.update.attributes.unknown;
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        (
            unknown[0].flags,
            unknown[0].code,
            unknown[0].value.as_slice()
        ),
        (0xc0, 99, &[1u8, 2][..])
    );
    let bytes = Message::Update(d.update).encode(&ctx).unwrap();
    let raw = RawUpdate::parse(&bytes[19..]).unwrap();
    let a = raw.attributes.iter().find(|a| a.code == 99).unwrap();
    assert_eq!(a.flags, OPTIONAL_TRANSITIVE | PARTIAL);
    assert_eq!(AttrCode::from_code(99), AttrCode::Unknown(99));
}

// RFC 7607 §2: AS 0 in AS_PATH is malformed (treat-as-withdraw), in AGGREGATOR discarded.
#[test]
fn as_zero_is_malformed() {
    let u = update_only(vec![
        origin(),
        RawAttribute::new(WELL_KNOWN, AS_PATH, [2, 1, 0, 0, 0, 0]),
        next_hop(),
    ]);
    assert_one(
        &ok(&u, &ebgp()),
        ErrorAction::TreatAsWithdraw,
        UpdateSubcode::MalformedAsPath,
    );
    let agg = RawAttribute::new(OPTIONAL_TRANSITIVE, AGGREGATOR, [0, 0, 0, 0, 1, 1, 1, 1]);
    let d = ok(&update_with(vec![agg]), &ebgp());
    assert_one(
        &d,
        ErrorAction::AttributeDiscard,
        UpdateSubcode::OptionalAttributeError,
    );
    assert_eq!(d.update.nlri.len(), 1);
}
