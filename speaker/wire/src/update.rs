//! UPDATE message (RFC 4271 §4.3, RFC 4760) and its revised error handling (RFC 7606), all in
//! one place.
//!
//! # Decoding contract
//!
//! [`Update::decode`] returns:
//! - `Err(e)` with `e.action == SessionReset` when RFC 4271/7606 require closing the session
//!   (lengths inconsistent with the message, unparseable NLRI, repeated MP_REACH/MP_UNREACH,
//!   malformed MP attributes, unrecognised well-known attribute, or a treat-as-withdraw error in
//!   an UPDATE without NLRI). Send `e.to_notification()`.
//! - `Ok(DecodedUpdate { update, action, errors })` otherwise. `errors` lists every non-fatal
//!   problem found, in order; `action` is the strongest of them (RFC 7606 §3(h)):
//!   - `None`: clean UPDATE.
//!   - `Some(AttributeDiscard)`: offending attributes are already left out of `update`;
//!     process it normally.
//!   - `Some(TreatAsWithdraw)`: every prefix in `update` (NLRI field and MP_REACH_NLRI) must be
//!     handled as withdrawn; [`DecodedUpdate::into_effective`] does that conversion.
//!
//! # RFC 7606 table as implemented
//!
//! | Attribute | Problem | Action (code) |
//! |---|---|---|
//! | any known | Optional/Transitive flags wrong | the attribute's malformed action (3/4) |
//! | ORIGIN | len ≠ 1 / value > 2 | withdraw (3/5 / 3/6) |
//! | AS_PATH | bad segment type, zero-length segment, overrun, AS 0 (RFC 7607) | withdraw (3/11) |
//! | NEXT_HOP | len ≠ 4 | withdraw (3/5) |
//! | MULTI_EXIT_DISC | len ≠ 4 | withdraw (3/5) |
//! | LOCAL_PREF | from eBGP | discard (3/0) |
//! | LOCAL_PREF | iBGP, len ≠ 4 | withdraw (3/5) |
//! | ATOMIC_AGGREGATE | len ≠ 0 | discard (3/5) |
//! | AGGREGATOR | len ≠ 6 (2-octet) / 8 (4-octet); AS 0 | discard (3/5; 3/9) |
//! | COMMUNITIES | len not a non-zero multiple of 4 | withdraw (3/5) |
//! | ORIGINATOR_ID, CLUSTER_LIST | from eBGP | discard (3/0) |
//! | ORIGINATOR_ID, CLUSTER_LIST | iBGP, len ≠ 4 / not non-zero multiple of 4 | withdraw (3/5) |
//! | MP_REACH/MP_UNREACH | malformed, bad next-hop length | reset (3/9) |
//! | EXTENDED COMMUNITIES / LARGE_COMMUNITY | len not a non-zero multiple of 8 / 12 | withdraw (3/5) |
//! | AS4_PATH / AS4_AGGREGATOR | malformed, confed segments, AS 0, or from a 4-octet peer | discard (3/9, 3/5 / 3/0) |
//! | MP_REACH/MP_UNREACH repeated | | reset (3/1) |
//! | other attribute repeated | | later copies discarded (3/1) |
//! | unknown, well-known flag | | reset (3/2) |
//! | missing ORIGIN/AS_PATH (NEXT_HOP for NLRI field) with NLRI | | withdraw (3/3, data = code) |
//! | attribute overruns Total Attribute Length | | withdraw (3/1), rest unparsed |
//! | withdrawn + attributes lengths exceed message | | reset (3/1) |
//! | withdrawn/NLRI prefix len > 32 or overrun | | reset (3/10) |
#![deny(clippy::indexing_slicing)]

use std::borrow::Cow;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::aspath::{AsPath, AsPathError};
use crate::attribute::{
    flags, is_prefix_safi, Aggregator, Community, ExtendedCommunity, LargeCommunity, MpNextHop,
    MpNlri, MpReach, MpUnreach, Origin, PathAttributes, UnknownAttribute,
};
use crate::buf::{patch_u16_len, reserve_u16, Reader};
use crate::codec::CodecContext;
use crate::codes::{AttrCode, ErrorCode, UpdateSubcode};
use crate::error::{DecodeError, ErrorAction};
use crate::nlri::{decode_prefixes, encode_prefixes, Ipv4Nlri, Ipv6Nlri, NlriError, Prefix};
use crate::types::{Afi, AfiSafi, Asn, RouterId, Safi};

/// An UPDATE message body, typed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Update {
    /// Withdrawn IPv4 unicast routes (the Withdrawn Routes field).
    pub withdrawn: Vec<Ipv4Nlri>,
    /// Path attributes, including MP_REACH_NLRI / MP_UNREACH_NLRI for other families.
    pub attributes: PathAttributes,
    /// Reachable IPv4 unicast routes (the NLRI field).
    pub nlri: Vec<Ipv4Nlri>,
}

/// The result of decoding an UPDATE that did not require a session reset; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedUpdate {
    /// The UPDATE, with discarded attributes left out.
    pub update: Update,
    /// Strongest action required by `errors` (`None` when clean). Never `SessionReset`.
    pub action: Option<ErrorAction>,
    /// Every non-fatal error found, in order.
    pub errors: Vec<DecodeError>,
}

impl DecodedUpdate {
    /// Whether the UPDATE's routes must be treated as withdrawn (RFC 7606 §2).
    pub fn is_treat_as_withdraw(&self) -> bool {
        self.action == Some(ErrorAction::TreatAsWithdraw)
    }

    /// The UPDATE to process: unchanged, or for treat-as-withdraw an UPDATE without attributes
    /// that withdraws every prefix the original advertised or withdrew (path ids preserved).
    ///
    /// Fails (session reset) only in the corner case of an MP_REACH_NLRI and an MP_UNREACH_NLRI
    /// of two different non-IPv4-unicast families, which one UPDATE cannot withdraw together.
    pub fn into_effective(self) -> Result<Update, DecodeError> {
        if !self.is_treat_as_withdraw() {
            return Ok(self.update);
        }
        let Update {
            mut withdrawn,
            attributes,
            nlri,
        } = self.update;
        withdrawn.extend(nlri);
        let mut mp_unreach = attributes.mp_unreach;
        if let Some(reach) = attributes.mp_reach {
            match reach.nlri {
                MpNlri::Ipv4(v) if reach.afi_safi == AfiSafi::IPV4_UNICAST => withdrawn.extend(v),
                list => {
                    // Move an IPv4 unicast MP_UNREACH into the Withdrawn Routes field to make room.
                    if let Some(MpUnreach {
                        afi_safi: AfiSafi::IPV4_UNICAST,
                        withdrawn: MpNlri::Ipv4(v),
                    }) = &mp_unreach
                    {
                        withdrawn.extend_from_slice(v);
                        mp_unreach = None;
                    }
                    mp_unreach = match mp_unreach {
                        None => Some(MpUnreach {
                            afi_safi: reach.afi_safi,
                            withdrawn: list,
                        }),
                        Some(mut u) if u.afi_safi == reach.afi_safi => {
                            match (&mut u.withdrawn, list) {
                                (MpNlri::Ipv4(a), MpNlri::Ipv4(b)) => a.extend(b),
                                (MpNlri::Ipv6(a), MpNlri::Ipv6(b)) => a.extend(b),
                                (MpNlri::Unknown(a), MpNlri::Unknown(b)) => a.extend(b),
                                _ => {}
                            }
                            Some(u)
                        }
                        Some(_) => {
                            let first = self.errors.into_iter().next();
                            let code = first
                                .map(|e| e.code)
                                .unwrap_or(ErrorCode::Update(UpdateSubcode::Unspecific));
                            return Err(DecodeError::new(
                                code,
                                ErrorAction::SessionReset,
                                "treat-as-withdraw cannot cover two MP families",
                            ));
                        }
                    };
                }
            }
        }
        Ok(Update {
            withdrawn,
            attributes: PathAttributes {
                mp_unreach,
                ..PathAttributes::default()
            },
            nlri: Vec::new(),
        })
    }
}

/// Category and malformed-attribute action of a known attribute (RFC 7606 §7).
fn spec(code: AttrCode, ctx: &CodecContext) -> Option<(u8, ErrorAction)> {
    use ErrorAction::{AttributeDiscard as D, SessionReset as R, TreatAsWithdraw as W};
    let ibgp_w = if ctx.ibgp { W } else { D };
    Some(match code {
        AttrCode::Origin | AttrCode::AsPath | AttrCode::NextHop => (flags::WELL_KNOWN, W),
        AttrCode::LocalPref => (flags::WELL_KNOWN, ibgp_w),
        AttrCode::AtomicAggregate => (flags::WELL_KNOWN, D),
        AttrCode::MultiExitDisc => (flags::OPTIONAL_NON_TRANSITIVE, W),
        AttrCode::OriginatorId | AttrCode::ClusterList => (flags::OPTIONAL_NON_TRANSITIVE, ibgp_w),
        AttrCode::MpReachNlri | AttrCode::MpUnreachNlri => (flags::OPTIONAL_NON_TRANSITIVE, R),
        AttrCode::Aggregator | AttrCode::As4Path | AttrCode::As4Aggregator => {
            (flags::OPTIONAL_TRANSITIVE, D)
        }
        AttrCode::Communities | AttrCode::ExtendedCommunities | AttrCode::LargeCommunities => {
            (flags::OPTIONAL_TRANSITIVE, W)
        }
        _ => return None,
    })
}

/// 256-bit set of attribute codes seen so far.
#[derive(Default)]
struct Seen([u64; 4]);

impl Seen {
    /// Marks `code`; returns whether it was already marked.
    fn insert(&mut self, code: u8) -> bool {
        let (word, bit) = (usize::from(code / 64), code % 64);
        match self.0.get_mut(word) {
            Some(w) => {
                let had = *w & (1 << bit) != 0;
                *w |= 1 << bit;
                had
            }
            None => false,
        }
    }

    fn contains(&self, code: u8) -> bool {
        let (word, bit) = (usize::from(code / 64), code % 64);
        self.0.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }
}

/// State while walking the attribute list.
struct AttrParser<'c> {
    ctx: &'c CodecContext,
    attrs: PathAttributes,
    errors: Vec<DecodeError>,
    as4_path: Option<AsPath>,
    as4_aggregator: Option<Aggregator>,
}

fn err(
    sub: UpdateSubcode,
    action: ErrorAction,
    reason: impl Into<Cow<'static, str>>,
    data: &[u8],
) -> DecodeError {
    DecodeError::update(sub, action, reason).with_data(data)
}

impl AttrParser<'_> {
    /// Records a non-fatal error, or returns it when it is fatal.
    fn fail(&mut self, e: DecodeError) -> Result<(), DecodeError> {
        if e.action == ErrorAction::SessionReset {
            return Err(e);
        }
        self.errors.push(e);
        Ok(())
    }

    /// Decodes one attribute. `raw` is the whole attribute (header + value), used as
    /// NOTIFICATION data (RFC 4271 §6.3).
    fn attribute(
        &mut self,
        flag_bits: u8,
        code: u8,
        value: &[u8],
        raw: &[u8],
    ) -> Result<(), DecodeError> {
        let ctx = self.ctx;
        let acode = AttrCode::from_code(code);
        let Some((category, action)) = spec(acode, ctx) else {
            if flag_bits & flags::OPTIONAL == 0 {
                return Err(err(
                    UpdateSubcode::UnrecognizedWellKnownAttribute,
                    ErrorAction::SessionReset,
                    format!("unrecognised well-known attribute {code}"),
                    raw,
                ));
            }
            // The Extended Length bit describes this encoding only; it is recomputed on encode.
            self.attrs.unknown.push(UnknownAttribute {
                flags: flag_bits & !flags::EXTENDED_LENGTH,
                code,
                value: value.to_vec(),
            });
            return Ok(());
        };
        // RFC 7606 §7.5, §7.9, §7.10: these are iBGP-only; from eBGP they are dropped whatever
        // they contain.
        if !ctx.ibgp
            && matches!(
                acode,
                AttrCode::LocalPref | AttrCode::OriginatorId | AttrCode::ClusterList
            )
        {
            return self.fail(err(
                UpdateSubcode::Unspecific,
                ErrorAction::AttributeDiscard,
                format!("{acode:?} received from an external peer"),
                raw,
            ));
        }
        // RFC 7606 §3(c): Optional/Transitive bits contradicting the attribute type.
        if flag_bits & flags::OPTIONAL_TRANSITIVE != category {
            return self.fail(err(
                UpdateSubcode::AttributeFlagsError,
                action,
                format!("{acode:?} has flags {flag_bits:#04x}"),
                raw,
            ));
        }
        let len_err =
            |what: &'static str| err(UpdateSubcode::AttributeLengthError, action, what, raw);
        let mut r = Reader::new(value);
        match acode {
            AttrCode::Origin => {
                let [v] = value else {
                    return self.fail(len_err("ORIGIN length is not 1"));
                };
                match Origin::from_code(*v) {
                    Some(o) => self.attrs.origin = Some(o),
                    None => {
                        return self.fail(err(
                            UpdateSubcode::InvalidOriginAttribute,
                            action,
                            "ORIGIN value above 2",
                            raw,
                        ))
                    }
                }
            }
            AttrCode::AsPath => match AsPath::decode(value, ctx.four_octet_as) {
                // RFC 7607 §2: AS 0 makes the attribute malformed.
                Ok(p) if p.contains(Asn(0)) => {
                    return self.fail(err(
                        UpdateSubcode::MalformedAsPath,
                        action,
                        "AS_PATH contains AS 0",
                        raw,
                    ))
                }
                Ok(p) => self.attrs.as_path = Some(p),
                Err(e) => {
                    return self.fail(err(
                        UpdateSubcode::MalformedAsPath,
                        action,
                        as_path_reason(e),
                        raw,
                    ))
                }
            },
            AttrCode::NextHop => match (r.ipv4(), r.is_empty()) {
                (Some(a), true) => self.attrs.next_hop = Some(a),
                _ => return self.fail(len_err("NEXT_HOP length is not 4")),
            },
            AttrCode::MultiExitDisc => match (r.u32(), r.is_empty()) {
                (Some(v), true) => self.attrs.med = Some(v),
                _ => return self.fail(len_err("MULTI_EXIT_DISC length is not 4")),
            },
            AttrCode::LocalPref => match (r.u32(), r.is_empty()) {
                (Some(v), true) => self.attrs.local_pref = Some(v),
                _ => return self.fail(len_err("LOCAL_PREF length is not 4")),
            },
            AttrCode::AtomicAggregate => {
                if !value.is_empty() {
                    return self.fail(len_err("ATOMIC_AGGREGATE length is not 0"));
                }
                self.attrs.atomic_aggregate = true;
            }
            AttrCode::Aggregator => {
                let asn = if ctx.four_octet_as {
                    r.u32()
                } else {
                    r.u16().map(u32::from)
                };
                match (asn, r.ipv4(), r.is_empty()) {
                    (Some(0), Some(_), true) => {
                        // RFC 7607 §2.
                        return self.fail(err(
                            UpdateSubcode::OptionalAttributeError,
                            action,
                            "AGGREGATOR AS is 0",
                            raw,
                        ));
                    }
                    (Some(asn), Some(address), true) => {
                        self.attrs.aggregator = Some(Aggregator {
                            asn: Asn(asn),
                            address,
                        })
                    }
                    _ => {
                        return self.fail(len_err(
                            "AGGREGATOR length is not 6 (2-octet) or 8 (4-octet)",
                        ))
                    }
                }
            }
            AttrCode::Communities => match fixed_records::<4>(value) {
                Some(v) => {
                    self.attrs.communities = v
                        .iter()
                        .map(|c| Community(u32::from_be_bytes(*c)))
                        .collect()
                }
                None => {
                    return self.fail(len_err(
                        "COMMUNITIES length is not a non-zero multiple of 4",
                    ))
                }
            },
            AttrCode::OriginatorId => match (r.ipv4(), r.is_empty()) {
                (Some(a), true) => self.attrs.originator_id = Some(RouterId(a)),
                _ => return self.fail(len_err("ORIGINATOR_ID length is not 4")),
            },
            AttrCode::ClusterList => match fixed_records::<4>(value) {
                Some(v) => {
                    self.attrs.cluster_list = v
                        .iter()
                        .map(|c| RouterId(std::net::Ipv4Addr::from(*c)))
                        .collect()
                }
                None => {
                    return self.fail(len_err(
                        "CLUSTER_LIST length is not a non-zero multiple of 4",
                    ))
                }
            },
            AttrCode::ExtendedCommunities => match fixed_records::<8>(value) {
                Some(v) => {
                    self.attrs.extended_communities =
                        v.iter().copied().map(ExtendedCommunity).collect()
                }
                None => {
                    return self.fail(len_err(
                        "EXTENDED COMMUNITIES length is not a non-zero multiple of 8",
                    ))
                }
            },
            AttrCode::LargeCommunities => match fixed_records::<12>(value) {
                Some(v) => {
                    self.attrs.large_communities = v
                        .iter()
                        .map(|c| {
                            let mut r = Reader::new(c);
                            LargeCommunity {
                                global_admin: r.u32().unwrap_or_default(),
                                local_data1: r.u32().unwrap_or_default(),
                                local_data2: r.u32().unwrap_or_default(),
                            }
                        })
                        .collect()
                }
                None => {
                    return self.fail(len_err(
                        "LARGE_COMMUNITY length is not a non-zero multiple of 12",
                    ))
                }
            },
            AttrCode::As4Path | AttrCode::As4Aggregator if ctx.four_octet_as => {
                // RFC 6793 §4.1, §6: a NEW speaker never sends these to a NEW speaker; discard.
                return self.fail(err(
                    UpdateSubcode::Unspecific,
                    ErrorAction::AttributeDiscard,
                    format!("{acode:?} received on a 4-octet AS session"),
                    raw,
                ));
            }
            AttrCode::As4Path => match AsPath::decode(value, true) {
                Ok(p) if !p.has_confed() && !p.contains(Asn(0)) => self.as4_path = Some(p),
                Ok(_) => {
                    return self.fail(err(
                        UpdateSubcode::OptionalAttributeError,
                        action,
                        "AS4_PATH has confederation segments or AS 0",
                        raw,
                    ))
                }
                Err(e) => {
                    return self.fail(err(
                        UpdateSubcode::OptionalAttributeError,
                        action,
                        as_path_reason(e),
                        raw,
                    ))
                }
            },
            AttrCode::As4Aggregator => match (r.u32(), r.ipv4(), r.is_empty()) {
                (Some(asn), Some(address), true) if asn != 0 => {
                    self.as4_aggregator = Some(Aggregator {
                        asn: Asn(asn),
                        address,
                    })
                }
                _ => return self.fail(len_err("AS4_AGGREGATOR length is not 8, or AS 0")),
            },
            AttrCode::MpReachNlri => self.attrs.mp_reach = Some(mp_reach(value, raw, ctx)?),
            AttrCode::MpUnreachNlri => self.attrs.mp_unreach = Some(mp_unreach(value, raw, ctx)?),
            _ => {}
        }
        Ok(())
    }
}

fn as_path_reason(e: AsPathError) -> String {
    match e {
        AsPathError::UnknownSegmentType(t) => format!("AS path segment type {t}"),
        AsPathError::EmptySegment => "AS path segment of length 0".into(),
        AsPathError::Overrun => "AS path segment overruns the attribute".into(),
    }
}

/// Splits `value` into `N`-octet records; `None` unless its length is a non-zero multiple of `N`.
fn fixed_records<const N: usize>(value: &[u8]) -> Option<&[[u8; N]]> {
    let (records, rest) = value.as_chunks::<N>();
    (rest.is_empty() && !records.is_empty()).then_some(records)
}

fn mp_error(reason: impl Into<Cow<'static, str>>, raw: &[u8]) -> DecodeError {
    err(
        UpdateSubcode::OptionalAttributeError,
        ErrorAction::SessionReset,
        reason,
        raw,
    )
}

fn read_mp_afi_safi(r: &mut Reader<'_>, raw: &[u8]) -> Result<AfiSafi, DecodeError> {
    let afi = r
        .u16()
        .ok_or_else(|| mp_error("MP attribute truncated", raw))?;
    let safi = r
        .u8()
        .ok_or_else(|| mp_error("MP attribute truncated", raw))?;
    Ok(AfiSafi {
        afi: Afi::from_code(afi),
        safi: Safi::from_code(safi),
    })
}

/// Parses MP NLRI; errors are fatal because treat-as-withdraw needs the NLRI (RFC 7606 §5.3).
fn mp_nlri(
    af: AfiSafi,
    bytes: &[u8],
    raw: &[u8],
    ctx: &CodecContext,
) -> Result<MpNlri, DecodeError> {
    let add_path = ctx.receives_path_id(af);
    fn list<P: Prefix>(
        bytes: &[u8],
        add_path: bool,
        raw: &[u8],
    ) -> Result<Vec<crate::nlri::Nlri<P>>, DecodeError> {
        let mut v = Vec::new();
        decode_prefixes(bytes, add_path, &mut v).map_err(|e| mp_error(nlri_reason(e), raw))?;
        Ok(v)
    }
    Ok(match (af.afi, is_prefix_safi(af.safi)) {
        (Afi::Ipv4, true) => MpNlri::Ipv4(list::<Ipv4Net>(bytes, add_path, raw)?),
        (Afi::Ipv6, true) => MpNlri::Ipv6(list::<Ipv6Net>(bytes, add_path, raw)?),
        _ => MpNlri::Unknown(bytes.to_vec()),
    })
}

fn mp_reach(value: &[u8], raw: &[u8], ctx: &CodecContext) -> Result<MpReach, DecodeError> {
    let mut r = Reader::new(value);
    let afi_safi = read_mp_afi_safi(&mut r, raw)?;
    let nh_len = r
        .u8()
        .ok_or_else(|| mp_error("MP_REACH_NLRI truncated", raw))?;
    let nh = r
        .take(usize::from(nh_len))
        .ok_or_else(|| mp_error("MP_REACH_NLRI next hop overruns", raw))?;
    let _reserved = r
        .u8()
        .ok_or_else(|| mp_error("MP_REACH_NLRI truncated", raw))?;
    let mut n = Reader::new(nh);
    let known = matches!(afi_safi.afi, Afi::Ipv4 | Afi::Ipv6) && is_prefix_safi(afi_safi.safi);
    // RFC 7606 §7.11: a next hop length we cannot parse makes the NLRI unlocatable: reset.
    let next_hop = match (known, nh_len) {
        (false, _) => MpNextHop::Other(nh.to_vec()),
        (true, 4) if afi_safi.afi == Afi::Ipv4 => {
            MpNextHop::Ipv4(n.ipv4().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED))
        }
        (true, 16) => MpNextHop::Ipv6 {
            global: n.ipv6().unwrap_or(std::net::Ipv6Addr::UNSPECIFIED),
            link_local: None,
        },
        (true, 32) => MpNextHop::Ipv6 {
            global: n.ipv6().unwrap_or(std::net::Ipv6Addr::UNSPECIFIED),
            link_local: n.ipv6(),
        },
        (true, l) => {
            return Err(mp_error(
                format!("MP_REACH_NLRI next hop length {l} for {afi_safi}"),
                raw,
            ))
        }
    };
    let nlri = mp_nlri(afi_safi, r.rest(), raw, ctx)?;
    Ok(MpReach {
        afi_safi,
        next_hop,
        nlri,
    })
}

fn mp_unreach(value: &[u8], raw: &[u8], ctx: &CodecContext) -> Result<MpUnreach, DecodeError> {
    let mut r = Reader::new(value);
    let afi_safi = read_mp_afi_safi(&mut r, raw)?;
    let withdrawn = mp_nlri(afi_safi, r.rest(), raw, ctx)?;
    Ok(MpUnreach {
        afi_safi,
        withdrawn,
    })
}

fn nlri_reason(e: NlriError) -> String {
    match e {
        NlriError::PrefixTooLong(l) => format!("prefix length {l} too long"),
        NlriError::Overrun => "prefix overruns its field".into(),
    }
}

/// Parses the Withdrawn Routes or NLRI field: errors reset the session (RFC 7606 §5.3).
fn ipv4_field(
    bytes: &[u8],
    add_path: bool,
    what: &'static str,
) -> Result<Vec<Ipv4Nlri>, DecodeError> {
    let mut v = Vec::new();
    decode_prefixes(bytes, add_path, &mut v).map_err(|e| {
        DecodeError::update(
            UpdateSubcode::InvalidNetworkField,
            ErrorAction::SessionReset,
            format!("{what}: {}", nlri_reason(e)),
        )
    })?;
    Ok(v)
}

impl Update {
    /// Decodes an UPDATE body (the bytes after the header) for a session with context `ctx`.
    /// See the module documentation for the error contract.
    pub fn decode(body: &[u8], ctx: &CodecContext) -> Result<DecodedUpdate, DecodeError> {
        let mut r = Reader::new(body);
        let lengths = || {
            DecodeError::update(
                UpdateSubcode::MalformedAttributeList,
                ErrorAction::SessionReset,
                "Withdrawn Routes Length + Total Attribute Length + 23 exceeds message length",
            )
        };
        let wlen = r.u16().ok_or_else(lengths)?;
        let wbytes = r.take(usize::from(wlen)).ok_or_else(lengths)?;
        let alen = r.u16().ok_or_else(lengths)?;
        let abytes = r.take(usize::from(alen)).ok_or_else(lengths)?;
        let nbytes = r.rest();

        let v4_path_id = ctx.receives_path_id(AfiSafi::IPV4_UNICAST);
        let withdrawn = ipv4_field(wbytes, v4_path_id, "withdrawn routes")?;
        let nlri = ipv4_field(nbytes, v4_path_id, "NLRI")?;

        let mut p = AttrParser {
            ctx,
            attrs: PathAttributes::default(),
            errors: Vec::new(),
            as4_path: None,
            as4_aggregator: None,
        };
        let mut seen = Seen::default();
        let mut a = Reader::new(abytes);
        while !a.is_empty() {
            let start = a.peek_rest();
            let header = (|| {
                let flag_bits = a.u8()?;
                let code = a.u8()?;
                let len = if flag_bits & flags::EXTENDED_LENGTH != 0 {
                    a.u16()?
                } else {
                    u16::from(a.u8()?)
                };
                let value = a.take(usize::from(len))?;
                Some((flag_bits, code, value))
            })();
            let Some((flag_bits, code, value)) = header else {
                // RFC 7606 §4: the NLRI field is still located through Total Attribute Length,
                // so treat-as-withdraw is possible; the remaining attributes are lost.
                p.errors.push(err(
                    UpdateSubcode::MalformedAttributeList,
                    ErrorAction::TreatAsWithdraw,
                    "attribute overruns Total Attribute Length",
                    start,
                ));
                break;
            };
            let raw = start.get(..start.len() - a.remaining()).unwrap_or_default();
            if seen.insert(code) {
                let acode = AttrCode::from_code(code);
                if matches!(acode, AttrCode::MpReachNlri | AttrCode::MpUnreachNlri) {
                    return Err(err(
                        UpdateSubcode::MalformedAttributeList,
                        ErrorAction::SessionReset,
                        format!("{acode:?} appears more than once"),
                        raw,
                    ));
                }
                // RFC 7606 §3(g): keep the first, discard the rest.
                p.errors.push(err(
                    UpdateSubcode::MalformedAttributeList,
                    ErrorAction::AttributeDiscard,
                    format!("attribute {code} appears more than once"),
                    raw,
                ));
                continue;
            }
            p.attribute(flag_bits, code, value, raw)?;
        }

        // RFC 7606 §3(d): well-known mandatory attributes, required only when there is NLRI.
        let has_reach = !nlri.is_empty() || p.attrs.mp_reach.is_some();
        if has_reach {
            // NEXT_HOP only describes the NLRI field; MP_REACH_NLRI carries its own.
            let required = [
                (AttrCode::Origin, true),
                (AttrCode::AsPath, true),
                (AttrCode::NextHop, !nlri.is_empty()),
            ];
            for (code, needed) in required {
                if needed && !seen.contains(code.code()) {
                    p.errors.push(
                        DecodeError::update(
                            UpdateSubcode::MissingWellKnownAttribute,
                            ErrorAction::TreatAsWithdraw,
                            format!("missing well-known attribute {code:?}"),
                        )
                        .with_data([code.code()]),
                    );
                }
            }
        }

        let AttrParser {
            mut attrs,
            errors,
            as4_path,
            as4_aggregator,
            ..
        } = p;
        if !ctx.four_octet_as {
            merge_as4(&mut attrs, as4_path, as4_aggregator);
        }

        let action = errors.iter().map(|e| e.action).max();
        // RFC 7606 §5.2 (conformance statement 38): without reachable NLRI there is nothing to
        // withdraw, so an error stronger than attribute discard resets the session.
        if action == Some(ErrorAction::TreatAsWithdraw) && !has_reach {
            let worst = errors
                .iter()
                .find(|e| e.action == ErrorAction::TreatAsWithdraw);
            let mut e = worst.cloned().unwrap_or_else(|| {
                DecodeError::update(UpdateSubcode::Unspecific, ErrorAction::SessionReset, "")
            });
            e.action = ErrorAction::SessionReset;
            e.reason = format!("{} (in an UPDATE without reachable NLRI)", e.reason).into();
            return Err(e);
        }
        Ok(DecodedUpdate {
            update: Update {
                withdrawn,
                attributes: attrs,
                nlri,
            },
            action,
            errors,
        })
    }

    /// Appends the body for a session with context `ctx`. Path ids are written for families in
    /// `ctx.add_path_tx` (0 when a prefix has none). Size is checked by the caller
    /// ([`crate::Message::encode_into`]).
    pub fn encode_body(&self, ctx: &CodecContext, out: &mut Vec<u8>) {
        let add_path = ctx.sends_path_id(AfiSafi::IPV4_UNICAST);
        let pos = reserve_u16(out);
        encode_prefixes(&self.withdrawn, add_path, out);
        // A field above 65535 octets makes the message too long; the length check reports it.
        let _ = patch_u16_len(out, pos);
        let pos = reserve_u16(out);
        self.attributes.encode(ctx, out);
        let _ = patch_u16_len(out, pos);
        encode_prefixes(&self.nlri, add_path, out);
    }

    /// The End-of-RIB marker for `af` (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an UPDATE
    /// with only an empty MP_UNREACH_NLRI otherwise.
    pub fn end_of_rib(af: AfiSafi) -> Update {
        if af == AfiSafi::IPV4_UNICAST {
            return Update::default();
        }
        Update {
            attributes: PathAttributes {
                mp_unreach: Some(MpUnreach {
                    afi_safi: af,
                    withdrawn: MpNlri::empty_for(af),
                }),
                ..PathAttributes::default()
            },
            ..Update::default()
        }
    }

    /// The family this UPDATE is the End-of-RIB marker of, if it is one (RFC 4724 §2).
    pub fn is_end_of_rib(&self) -> Option<AfiSafi> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        let a = &self.attributes;
        match &a.mp_unreach {
            None if a.is_empty() => Some(AfiSafi::IPV4_UNICAST),
            Some(u) if u.withdrawn.is_empty() => {
                let only = PathAttributes {
                    mp_unreach: a.mp_unreach.clone(),
                    ..PathAttributes::default()
                };
                (*a == only).then_some(u.afi_safi)
            }
            _ => None,
        }
    }

    /// An UPDATE announcing IPv4 unicast `prefixes` in the NLRI field with `attributes`
    /// (which must include NEXT_HOP).
    pub fn announce_ipv4(attributes: PathAttributes, prefixes: Vec<Ipv4Nlri>) -> Update {
        Update {
            withdrawn: Vec::new(),
            attributes,
            nlri: prefixes,
        }
    }

    /// An UPDATE withdrawing IPv4 unicast `prefixes` in the Withdrawn Routes field.
    pub fn withdraw_ipv4(prefixes: Vec<Ipv4Nlri>) -> Update {
        Update {
            withdrawn: prefixes,
            ..Update::default()
        }
    }

    /// An UPDATE announcing IPv6 unicast `prefixes` via MP_REACH_NLRI.
    pub fn announce_ipv6(
        mut attributes: PathAttributes,
        next_hop: MpNextHop,
        prefixes: Vec<Ipv6Nlri>,
    ) -> Update {
        attributes.mp_reach = Some(MpReach {
            afi_safi: AfiSafi::IPV6_UNICAST,
            next_hop,
            nlri: MpNlri::Ipv6(prefixes),
        });
        Update {
            attributes,
            ..Update::default()
        }
    }

    /// An UPDATE withdrawing IPv6 unicast `prefixes` via MP_UNREACH_NLRI.
    pub fn withdraw_ipv6(prefixes: Vec<Ipv6Nlri>) -> Update {
        Update {
            attributes: PathAttributes {
                mp_unreach: Some(MpUnreach {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    withdrawn: MpNlri::Ipv6(prefixes),
                }),
                ..PathAttributes::default()
            },
            ..Update::default()
        }
    }

    /// Total number of prefixes announced and withdrawn, over all families.
    pub fn prefix_count(&self) -> usize {
        let a = &self.attributes;
        self.withdrawn.len()
            + self.nlri.len()
            + a.mp_reach.as_ref().map_or(0, |r| r.nlri.len())
            + a.mp_unreach.as_ref().map_or(0, |u| u.withdrawn.len())
    }
}

/// RFC 6793 §4.2.3: rebuild AS_PATH and AGGREGATOR from their AS4_ counterparts.
fn merge_as4(
    attrs: &mut PathAttributes,
    as4_path: Option<AsPath>,
    as4_aggregator: Option<Aggregator>,
) {
    // An AGGREGATOR with a real (non-AS_TRANS) AS means the AS4_ attributes are stale: ignore both.
    if let Some(agg) = attrs.aggregator {
        if agg.asn != Asn::TRANS {
            return;
        }
        if let Some(a4) = as4_aggregator {
            attrs.aggregator = Some(a4);
        }
    }
    if let (Some(p), Some(p4)) = (attrs.as_path.as_ref(), as4_path.as_ref()) {
        attrs.as_path = Some(p.merge_as4(p4));
    }
}

#[cfg(test)]
#[expect(
    clippy::indexing_slicing,
    reason = "tests index fixed vectors they built"
)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::aspath::{Segment, SegmentType};
    use crate::nlri::Nlri;

    fn v4(s: &str) -> Ipv4Nlri {
        Nlri::new(s.parse().unwrap())
    }

    fn v6(s: &str) -> Ipv6Nlri {
        Nlri::new(s.parse().unwrap())
    }

    fn base_attrs() -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence([Asn(65001), Asn(65002)])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..PathAttributes::default()
        }
    }

    fn full_attrs() -> PathAttributes {
        PathAttributes {
            med: Some(10),
            local_pref: Some(200),
            atomic_aggregate: true,
            aggregator: Some(Aggregator {
                asn: Asn(4_200_000_001),
                address: Ipv4Addr::new(10, 0, 0, 9),
            }),
            communities: vec![Community::new(65000, 1), Community::NO_EXPORT],
            originator_id: Some(RouterId(Ipv4Addr::new(1, 1, 1, 1))),
            cluster_list: vec![
                RouterId(Ipv4Addr::new(2, 2, 2, 2)),
                RouterId(Ipv4Addr::new(3, 3, 3, 3)),
            ],
            extended_communities: vec![ExtendedCommunity::route_target(65000, 7)],
            large_communities: vec![LargeCommunity {
                global_admin: 4_200_000_001,
                local_data1: 1,
                local_data2: 2,
            }],
            unknown: vec![UnknownAttribute {
                flags: flags::OPTIONAL_TRANSITIVE | flags::PARTIAL,
                code: 99,
                value: vec![1, 2, 3],
            }],
            ..base_attrs()
        }
    }

    fn ibgp4() -> CodecContext {
        CodecContext {
            four_octet_as: true,
            ibgp: true,
            ..CodecContext::default()
        }
    }

    fn body(u: &Update, ctx: &CodecContext) -> Vec<u8> {
        let mut b = Vec::new();
        u.encode_body(ctx, &mut b);
        b
    }

    fn round_trip(u: &Update, ctx: &CodecContext) -> Vec<u8> {
        let b = body(u, ctx);
        let d = Update::decode(&b, ctx).unwrap();
        assert_eq!(d.errors, vec![], "unexpected errors for {u:?}");
        assert_eq!(&d.update, u);
        assert_eq!(body(&d.update, ctx), b, "bytes not canonical");
        b
    }

    #[test]
    fn every_attribute_round_trips_ibgp_four_octet() {
        let u = Update {
            withdrawn: vec![v4("10.9.0.0/16")],
            attributes: full_attrs(),
            nlri: vec![v4("10.0.0.0/24"), v4("10.0.1.0/24")],
        };
        round_trip(&u, &ibgp4());
    }

    #[test]
    fn each_attribute_alone_round_trips() {
        let full = full_attrs();
        let ctx = ibgp4();
        let singles = [
            PathAttributes {
                med: full.med,
                ..base_attrs()
            },
            PathAttributes {
                local_pref: full.local_pref,
                ..base_attrs()
            },
            PathAttributes {
                atomic_aggregate: true,
                ..base_attrs()
            },
            PathAttributes {
                aggregator: full.aggregator,
                ..base_attrs()
            },
            PathAttributes {
                communities: full.communities.clone(),
                ..base_attrs()
            },
            PathAttributes {
                originator_id: full.originator_id,
                ..base_attrs()
            },
            PathAttributes {
                cluster_list: full.cluster_list.clone(),
                ..base_attrs()
            },
            PathAttributes {
                extended_communities: full.extended_communities.clone(),
                ..base_attrs()
            },
            PathAttributes {
                large_communities: full.large_communities.clone(),
                ..base_attrs()
            },
            PathAttributes {
                unknown: full.unknown.clone(),
                ..base_attrs()
            },
        ];
        for a in singles {
            round_trip(&Update::announce_ipv4(a, vec![v4("10.0.0.0/8")]), &ctx);
        }
    }

    #[test]
    fn known_update_bytes() {
        // ORIGIN IGP, AS_PATH 65001, NEXT_HOP 192.0.2.1, NLRI 10.0.0.0/24; 4-octet session.
        let u = Update::announce_ipv4(
            PathAttributes {
                as_path: Some(AsPath::from_sequence([Asn(65001)])),
                ..base_attrs()
            },
            vec![v4("10.0.0.0/24")],
        );
        let b = round_trip(&u, &CodecContext::four_octet());
        assert_eq!(
            b,
            [
                0, 0, // withdrawn length
                0, 20, // attribute length
                0x40, 1, 1, 0, // ORIGIN
                0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, // AS_PATH
                0x40, 3, 4, 192, 0, 2, 1, // NEXT_HOP
                24, 10, 0, 0, // NLRI
            ]
        );
    }

    #[test]
    fn ipv6_mp_reach_and_unreach_round_trip() {
        let mut a = base_attrs();
        a.next_hop = None;
        let nh = MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: Some("fe80::1".parse().unwrap()),
        };
        let mut u = Update::announce_ipv6(a, nh, vec![v6("2001:db8:1::/48"), v6("::/0")]);
        u.attributes.mp_unreach = Some(MpUnreach {
            afi_safi: AfiSafi::IPV6_UNICAST,
            withdrawn: MpNlri::Ipv6(vec![v6("2001:db8:2::/64")]),
        });
        let b = round_trip(&u, &CodecContext::four_octet());
        // MP_REACH_NLRI comes first (RFC 7606 §5.1).
        assert_eq!(&b[4..6], &[0x80, 14]);
        let mut a = base_attrs();
        a.next_hop = None;
        let global_only = Update::announce_ipv6(
            a,
            MpNextHop::Ipv6 {
                global: Ipv6Addr::LOCALHOST,
                link_local: None,
            },
            vec![v6("2001:db8::/32")],
        );
        round_trip(&global_only, &CodecContext::four_octet());
    }

    #[test]
    fn ipv4_over_mp_with_ipv6_next_hop_round_trips() {
        // RFC 8950: IPv4 NLRI with an IPv6 next hop.
        let mut a = base_attrs();
        a.next_hop = None;
        a.mp_reach = Some(MpReach {
            afi_safi: AfiSafi::IPV4_UNICAST,
            next_hop: MpNextHop::Ipv6 {
                global: "2001:db8::1".parse().unwrap(),
                link_local: None,
            },
            nlri: MpNlri::Ipv4(vec![v4("10.1.0.0/16")]),
        });
        round_trip(
            &Update {
                attributes: a,
                ..Update::default()
            },
            &CodecContext::four_octet(),
        );
    }

    #[test]
    fn unknown_mp_family_is_kept_raw() {
        let mut a = base_attrs();
        a.next_hop = None;
        a.mp_reach = Some(MpReach {
            afi_safi: AfiSafi {
                afi: Afi::Ipv4,
                safi: Safi::Unknown(128),
            },
            next_hop: MpNextHop::Other(vec![0; 12]),
            nlri: MpNlri::Unknown(vec![1, 2, 3]),
        });
        round_trip(
            &Update {
                attributes: a,
                ..Update::default()
            },
            &CodecContext::four_octet(),
        );
    }

    #[test]
    fn add_path_ids_round_trip() {
        let ctx = CodecContext {
            four_octet_as: true,
            add_path_rx: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
            add_path_tx: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
            ..CodecContext::default()
        };
        let mut u = Update::announce_ipv4(
            base_attrs(),
            vec![
                Nlri::with_path_id("10.0.0.0/24".parse().unwrap(), 1),
                Nlri::with_path_id("10.0.0.0/24".parse().unwrap(), 2),
            ],
        );
        u.withdrawn = vec![Nlri::with_path_id("10.1.0.0/24".parse().unwrap(), 3)];
        u.attributes.mp_unreach = Some(MpUnreach {
            afi_safi: AfiSafi::IPV6_UNICAST,
            withdrawn: MpNlri::Ipv6(vec![Nlri::with_path_id(
                "2001:db8::/32".parse().unwrap(),
                9,
            )]),
        });
        let b = round_trip(&u, &ctx);
        // Withdrawn: length 9 = path id (4) + len (1) + 3 octets.
        assert_eq!(&b[..6], &[0, 8, 0, 0, 0, 3]);
        // Without ADD-PATH negotiated the same bytes do not parse as the same prefixes.
        let plain = Update::decode(&b, &CodecContext::four_octet());
        assert!(plain.map(|d| d.update != u).unwrap_or(true));
    }

    #[test]
    fn two_octet_peer_gets_as_trans_and_as4_path_and_merge_restores() {
        let ctx = CodecContext::default();
        let path = AsPath::from_sequence([Asn(65001), Asn(4_200_000_001), Asn(65003)]);
        let u = Update::announce_ipv4(
            PathAttributes {
                as_path: Some(path.clone()),
                aggregator: Some(Aggregator {
                    asn: Asn(4_200_000_009),
                    address: Ipv4Addr::new(9, 9, 9, 9),
                }),
                ..base_attrs()
            },
            vec![v4("10.0.0.0/8")],
        );
        let b = body(&u, &ctx);
        let raw = crate::raw::RawUpdate::parse(&b).unwrap();
        let codes: Vec<u8> = raw.attributes.iter().map(|a| a.code).collect();
        assert_eq!(codes, [1, 2, 3, 7, 17, 18]);
        // AS_PATH has AS_TRANS in place of the 4-octet AS.
        assert_eq!(
            raw.attributes[1].value,
            [2, 3, 0xfd, 0xe9, 0x5b, 0xa0, 0xfd, 0xeb]
        );
        // AGGREGATOR is AS_TRANS + address.
        assert_eq!(raw.attributes[3].value, [0x5b, 0xa0, 9, 9, 9, 9]);
        let d = Update::decode(&b, &ctx).unwrap();
        assert!(d.errors.is_empty());
        assert_eq!(d.update, u);
    }

    #[test]
    fn two_octet_peer_without_big_asns_gets_no_as4_path() {
        let ctx = CodecContext::default();
        let u = Update::announce_ipv4(base_attrs(), vec![v4("10.0.0.0/8")]);
        let raw = crate::raw::RawUpdate::parse(&body(&u, &ctx)).unwrap();
        assert!(raw.attributes.iter().all(|a| a.code != 17 && a.code != 18));
        round_trip(&u, &ctx);
    }

    #[test]
    fn aggregator_with_real_as_ignores_as4_attributes() {
        // RFC 6793 §4.2.3: AGGREGATOR not AS_TRANS → AS4_PATH and AS4_AGGREGATOR ignored.
        let ctx = CodecContext::default();
        let mut u = Update::announce_ipv4(
            PathAttributes {
                aggregator: Some(Aggregator {
                    asn: Asn(65005),
                    address: Ipv4Addr::new(9, 9, 9, 9),
                }),
                ..base_attrs()
            },
            vec![v4("10.0.0.0/8")],
        );
        u.attributes.unknown.push(UnknownAttribute {
            flags: flags::OPTIONAL_TRANSITIVE,
            code: 17,
            value: vec![2, 1, 0xfa, 0x56, 0xea, 0x01],
        });
        let b = body(&u, &ctx);
        let d = Update::decode(&b, &ctx).unwrap();
        assert_eq!(d.update.attributes.as_path, base_attrs().as_path);
    }

    #[test]
    fn as4_path_from_four_octet_peer_is_discarded() {
        let ctx = CodecContext::four_octet();
        let mut u = Update::announce_ipv4(base_attrs(), vec![v4("10.0.0.0/8")]);
        u.attributes.unknown.push(UnknownAttribute {
            flags: flags::OPTIONAL_TRANSITIVE,
            code: 17,
            value: vec![2, 1, 0, 0, 0, 1],
        });
        let d = Update::decode(&body(&u, &ctx), &ctx).unwrap();
        assert_eq!(d.action, Some(ErrorAction::AttributeDiscard));
        assert_eq!(d.update.attributes, base_attrs());
        assert_eq!(
            d.clone().into_effective().unwrap(),
            Update::announce_ipv4(base_attrs(), vec![v4("10.0.0.0/8")])
        );
    }

    #[test]
    fn end_of_rib_markers() {
        for af in [
            AfiSafi::IPV4_UNICAST,
            AfiSafi::IPV6_UNICAST,
            AfiSafi {
                afi: Afi::Ipv4,
                safi: Safi::Multicast,
            },
        ] {
            let u = Update::end_of_rib(af);
            assert_eq!(u.is_end_of_rib(), Some(af));
            let b = round_trip(&u, &CodecContext::default());
            if af == AfiSafi::IPV4_UNICAST {
                assert_eq!(b, [0, 0, 0, 0]);
            } else {
                assert_eq!(
                    b,
                    [
                        0,
                        0,
                        0,
                        6,
                        0x80,
                        15,
                        3,
                        0,
                        af.afi.code() as u8,
                        af.safi.code()
                    ]
                );
            }
        }
        assert_eq!(
            Update::withdraw_ipv4(vec![v4("10.0.0.0/8")]).is_end_of_rib(),
            None
        );
        assert_eq!(
            Update::withdraw_ipv6(vec![v6("::/0")]).is_end_of_rib(),
            None
        );
        let mut u = Update::end_of_rib(AfiSafi::IPV6_UNICAST);
        u.attributes.origin = Some(Origin::Igp);
        assert_eq!(u.is_end_of_rib(), None);
    }

    #[test]
    fn confederation_segments_round_trip() {
        let mut a = base_attrs();
        a.as_path = Some(AsPath {
            segments: vec![
                Segment {
                    kind: SegmentType::ConfedSequence,
                    asns: vec![Asn(65100)],
                },
                Segment {
                    kind: SegmentType::Sequence,
                    asns: vec![Asn(65001)],
                },
                Segment {
                    kind: SegmentType::ConfedSet,
                    asns: vec![Asn(1), Asn(2)],
                },
            ],
        });
        round_trip(&Update::announce_ipv4(a, vec![v4("10.0.0.0/8")]), &ibgp4());
    }

    #[test]
    fn treat_as_withdraw_becomes_withdraw_update() {
        let mut a = base_attrs();
        a.next_hop = None;
        let mut u = Update::announce_ipv6(
            a,
            MpNextHop::Ipv6 {
                global: Ipv6Addr::LOCALHOST,
                link_local: None,
            },
            vec![v6("2001:db8::/32")],
        );
        u.nlri = vec![v4("10.0.0.0/8")];
        u.attributes.next_hop = Some(Ipv4Addr::new(1, 2, 3, 4));
        let d = DecodedUpdate {
            update: u,
            action: Some(ErrorAction::TreatAsWithdraw),
            errors: vec![],
        };
        let e = d.into_effective().unwrap();
        assert_eq!(e.withdrawn, vec![v4("10.0.0.0/8")]);
        assert!(e.nlri.is_empty());
        assert_eq!(
            e.attributes,
            PathAttributes {
                mp_unreach: Some(MpUnreach {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    withdrawn: MpNlri::Ipv6(vec![v6("2001:db8::/32")])
                }),
                ..PathAttributes::default()
            }
        );
    }
}
