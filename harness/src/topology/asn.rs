//! The AS plan of each design (RFC 7938 §5.2; Calico "L3 interconnect fabric").
//!
//! | design           | spines                      | ToRs                      | RR nodes | nodes                      | defaults |
//! |------------------|-----------------------------|---------------------------|----------|----------------------------|----------|
//! | as-per-rack      | per-spine (or shared)       | rack AS                   | rack AS  | rack AS                    | spine 64512.., rack r: 64601+r-1 |
//! | as-per-server    | per-spine (or shared)       | one each                  | –        | one each                   | spine 4200000001.., ToR 4200001001.., node 4200100001.. |
//! | downward-default | shared (or per-spine)       | one AS `A` for all        | –        | one AS `B` for all         | spine 64512, A 64600, B 64700 |
//!
//! External peers get `as-plan.external-asn` (65501) + their index unless they name one.
//! A node's own `asn` (explicit form, override) always wins. ASNs that the design keeps apart
//! (two racks, a rack and a spine, two servers in as-per-server) must differ, else routes would
//! be dropped by AS_PATH loop detection (RFC 4271 §9.1.2): that is an error, not a silent lab
//! failure.

use std::collections::{BTreeMap, HashMap};

use fabric_bgp_wire::Asn;

use super::draft::{At, Draft};
use super::error::{ErrorKind, Pos, Problem};
use super::model::{AsPlanSpec, SpineAs};
use super::plan::{Design, Role};

/// Check that `v` is a usable 4-octet ASN.
pub(crate) fn check_asn(v: u64, pos: &Pos) -> Result<Asn, Problem> {
    let reason = match v {
        0 => Some("AS 0 is reserved (RFC 7607)"),
        23456 => Some("23456 is AS_TRANS (RFC 6793)"),
        65535 => Some("65535 is reserved (RFC 7300)"),
        65552..=131071 => Some("65552-131071 are reserved by IANA"),
        4_294_967_295 => Some("4294967295 is reserved (RFC 7300)"),
        v if v > u64::from(u32::MAX) => Some("ASNs are 32-bit (RFC 6793), at most 4294967294"),
        _ => None,
    };
    match (reason, u32::try_from(v)) {
        (None, Ok(asn)) => Ok(Asn(asn)),
        (Some(reason), _) => Err(pos.err(ErrorKind::AsnOutOfRange { asn: v, reason })),
        (None, Err(_)) => Err(pos.err(ErrorKind::AsnOutOfRange {
            asn: v,
            reason: "ASNs are 32-bit (RFC 6793), at most 4294967294",
        })),
    }
}

/// The as-plan keys with the design's defaults filled in.
struct Bases {
    spine: SpineAs,
    spine_asn: At<u64>,
    rack_asn: At<u64>,
    tor_asn: At<u64>,
    node_asn: At<u64>,
    external_asn: At<u64>,
}

fn bases(design: Design, spec: Option<&AsPlanSpec>) -> Bases {
    let (spine_mode, spine, rack, tor, node) = match design {
        Design::AsPerRack => (SpineAs::PerSpine, 64512, 64601, 64600, 64700),
        Design::AsPerServer => (
            SpineAs::PerSpine,
            4_200_000_001,
            64601,
            4_200_001_001,
            4_200_100_001,
        ),
        Design::DownwardDefault => (SpineAs::Shared, 64512, 64601, 64600, 64700),
    };
    let pick = |given: Option<&serde_saphyr::Spanned<u64>>, key: &str, default: u64| match given {
        Some(s) => At::new(s.value, Pos::of(s, format!("as-plan.{key}"))),
        None => At::new(default, Pos::root(format!("as-plan.{key} (default)"))),
    };
    Bases {
        spine: spec.and_then(|s| s.spine).unwrap_or(spine_mode),
        spine_asn: pick(spec.and_then(|s| s.spine_asn.as_ref()), "spine-asn", spine),
        rack_asn: pick(spec.and_then(|s| s.rack_asn.as_ref()), "rack-asn", rack),
        tor_asn: pick(spec.and_then(|s| s.tor_asn.as_ref()), "tor-asn", tor),
        node_asn: pick(spec.and_then(|s| s.node_asn.as_ref()), "node-asn", node),
        external_asn: pick(
            spec.and_then(|s| s.external_asn.as_ref()),
            "external-asn",
            65501,
        ),
    }
}

/// `base + offset`, positioned at the base.
fn offset(base: &At<u64>, off: usize) -> At<u64> {
    At::new(base.v.saturating_add(off as u64), base.pos.clone())
}

/// Assign every draft node its ASN (same order as `draft.nodes`).
pub(crate) fn assign(draft: &Draft, spec: Option<&AsPlanSpec>) -> Result<Vec<Asn>, Problem> {
    let b = bases(draft.design, spec);
    let mut counters: HashMap<Role, usize> = HashMap::new();
    // asn -> the group that owns it, for the collision check.
    let mut owners: BTreeMap<u32, String> = BTreeMap::new();
    let mut out = Vec::with_capacity(draft.nodes.len());
    for n in &draft.nodes {
        let idx = {
            let c = counters.entry(n.role).or_insert(0);
            *c += 1;
            *c - 1
        };
        let rack = n.rack.unwrap_or(0);
        let rack_group = || format!("rack {rack}");
        let (default, group) = match (draft.design, n.role) {
            (_, Role::Spine) => match b.spine {
                SpineAs::PerSpine => (offset(&b.spine_asn, idx), format!("spine {}", n.name)),
                SpineAs::Shared => (b.spine_asn.clone(), "the spines".to_string()),
            },
            (_, Role::External) => (
                offset(&b.external_asn, idx),
                format!("external peer {}", n.name),
            ),
            (Design::AsPerRack, _) => match draft.rack_asn.get(&rack) {
                Some(a) => (a.clone(), rack_group()),
                None => (
                    offset(&b.rack_asn, rack.saturating_sub(1) as usize),
                    rack_group(),
                ),
            },
            (Design::AsPerServer, Role::Tor) => {
                (offset(&b.tor_asn, idx), format!("ToR {}", n.name))
            }
            (Design::AsPerServer, _) => (offset(&b.node_asn, idx), format!("node {}", n.name)),
            (Design::DownwardDefault, Role::Tor) => (b.tor_asn.clone(), "the ToRs".to_string()),
            (Design::DownwardDefault, _) => (b.node_asn.clone(), "the nodes".to_string()),
        };
        let (chosen, group) = match &n.asn {
            // A node's own ASN that differs from the design's puts it in a group of its own.
            Some(own) if own.v != default.v => (own.clone(), format!("{} {}", n.role, n.name)),
            Some(own) => (own.clone(), group),
            None => (default, group),
        };
        let asn = check_asn(chosen.v, &chosen.pos)?;
        match owners.get(&asn.0) {
            Some(other) if *other != group => {
                return Err(chosen.pos.err(ErrorKind::AsnCollision {
                    asn: asn.0,
                    this: group,
                    other: other.clone(),
                }))
            }
            Some(_) => {}
            None => {
                owners.insert(asn.0, group);
            }
        }
        out.push(asn);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_oversized_asns_are_rejected() {
        let pos = Pos::root("x");
        for bad in [
            0,
            23456,
            65535,
            65552,
            131071,
            4_294_967_295,
            4_294_967_296,
            u64::MAX,
        ] {
            let err = check_asn(bad, &pos).unwrap_err();
            assert!(
                matches!(err.kind, ErrorKind::AsnOutOfRange { asn, .. } if asn == bad),
                "{bad}: {err:?}"
            );
        }
        for good in [1, 64512, 65534, 65551, 131072, 4_200_000_000, 4_294_967_294] {
            assert_eq!(check_asn(good, &pos).unwrap(), Asn(good as u32));
        }
    }
}
