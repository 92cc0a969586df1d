//! Receiving and choosing: Adj-RIB-In eligibility (RFC 4271 §9.1.2, RFC 4456 §8), best-path
//! ranking (RFC 4271 §9.1.2.2, RFC 4456 §9) and the multipath set.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use fabric_bgp_wire::Asn;
use ipnet::IpNet;

use super::context::{Context, NodeCtx, SideCtx};
use super::model::{PathAttrs, RejectReason};
use crate::topology::ImportPolicy;

/// A received path that passed every check, with what ranks it. Borrows its attributes from
/// the Adj-RIB-In (the simulation is allocation-bound on large fabrics).
#[derive(Debug, Clone)]
pub(crate) struct Candidate<'a> {
    /// The session end it was received on (index into [`Context::sides`]).
    pub side: usize,
    pub attrs: &'a PathAttrs,
    pub ibgp: bool,
    /// RFC 4456 §9: ORIGINATOR_ID when present, else the sender's BGP Identifier.
    pub tiebreak_id: Ipv4Addr,
    /// The sender's address on the session (RFC 4271 §9.1.2.2 (g)).
    pub peer_addr: IpAddr,
}

impl Candidate<'_> {
    /// The neighbouring AS (first AS of the path), for multipath without relax.
    fn neighbor_as(&self) -> Option<Asn> {
        self.attrs.as_path.first().copied()
    }
}

/// What the Loc-RIB holds for one prefix.
#[derive(Debug, Clone)]
pub(crate) enum Selected<'a> {
    /// Originated here: always preferred (BIRD's static preference 200 > BGP 100; FRR's weight
    /// 32768 for local routes), never replaced by a learned path.
    Local,
    /// The multipath set, best path first; never empty.
    Learned(Vec<Candidate<'a>>),
}

/// One node's Loc-RIB.
pub(crate) type LocRib<'a> = BTreeMap<IpNet, Selected<'a>>;

/// Checks one received path (RFC 4271 §9.1.2 phase 1 plus the import policy). Resolution into
/// kernel next hops is left to [`NodeCtx::resolve`], once, for the final FIB.
pub(crate) fn check(
    ctx: &Context<'_>,
    node: &NodeCtx<'_>,
    side: &SideCtx<'_>,
    prefix: &IpNet,
    attrs: &PathAttrs,
) -> Result<(), RejectReason> {
    if side.mine.import == ImportPolicy::DefaultOnly && *prefix != ctx.default_route {
        return Err(RejectReason::ImportPolicy);
    }
    // RFC 4271 §9.1.2: a path containing the local AS is a loop; allowas-in tolerates up to N
    // occurrences (BIRD `allow local as N`, FRR `allowas-in N`).
    let local_as = side.mine.local_as;
    let count = attrs.as_path.iter().filter(|a| **a == local_as).count();
    if count > usize::from(side.mine.allowas_in) {
        return Err(RejectReason::AsLoop {
            asn: local_as,
            count,
            allowed: side.mine.allowas_in,
        });
    }
    if side.ibgp {
        // RFC 4456 §8.
        if attrs.originator_id == Some(node.plan.router_id.0) {
            return Err(RejectReason::OriginatorIsSelf);
        }
        if attrs.cluster_list.contains(&node.cluster_id) {
            return Err(RejectReason::ClusterLoop {
                cluster_id: node.cluster_id,
            });
        }
    }
    // RFC 4271 §6.3 / §5.1.3: a next hop that is our own address is ignored.
    if node.own_addrs.contains(&attrs.next_hop) {
        return Err(RejectReason::NextHopIsSelf {
            next_hop: attrs.next_hop,
        });
    }
    if !node.resolvable(attrs.next_hop) {
        return Err(RejectReason::NextHopUnresolvable {
            next_hop: attrs.next_hop,
        });
    }
    Ok(())
}

/// Builds a [`Candidate`] for an eligible path.
pub(crate) fn candidate<'a>(
    ctx: &Context<'_>,
    side_idx: usize,
    side: &SideCtx<'_>,
    attrs: &'a PathAttrs,
) -> Candidate<'a> {
    let sender_id = ctx
        .node(side.peer)
        .map(|n| n.plan.router_id.0)
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    Candidate {
        side: side_idx,
        attrs,
        ibgp: side.ibgp,
        tiebreak_id: attrs.originator_id.unwrap_or(sender_id),
        peer_addr: side.mine.peer_addr,
    }
}

/// The steps every multipath member must tie the best path on: RFC 4271 §9.1.2.2 up to and
/// including the IGP cost step, as BIRD (`bgp_rte_mergable`) and FRR (`bgp_path_info_cmp` with
/// `paths_eq`) do. ORIGIN is always IGP and MED absent in the model; the IGP cost to every
/// resolvable next hop is the same (connected or one static hop), so it never separates paths.
fn cmp_through_igp(a: &Candidate, b: &Candidate) -> Ordering {
    // Higher LOCAL_PREF first (§9.1.1), then shorter AS_PATH (§9.1.2.2 (a)), then eBGP over
    // iBGP (§9.1.2.2 (d)).
    b.attrs
        .local_pref
        .cmp(&a.attrs.local_pref)
        .then(a.attrs.as_path.len().cmp(&b.attrs.as_path.len()))
        .then(a.ibgp.cmp(&b.ibgp))
}

/// Full ranking: the steps above, then the deterministic tie-breaks that pick one best path:
/// lowest BGP Identifier / ORIGINATOR_ID (§9.1.2.2 (f), RFC 4456 §9), shorter CLUSTER_LIST
/// (RFC 4456 §9), lowest peer address (§9.1.2.2 (g)).
pub(crate) fn cmp_paths(a: &Candidate, b: &Candidate) -> Ordering {
    cmp_through_igp(a, b)
        .then(a.tiebreak_id.cmp(&b.tiebreak_id))
        .then(a.attrs.cluster_list.len().cmp(&b.attrs.cluster_list.len()))
        .then(a.peer_addr.cmp(&b.peer_addr))
        .then(a.side.cmp(&b.side))
}

/// Whether `other` may join `best` in the multipath set, given that it ties through the IGP
/// step. Without multipath-relax: two iBGP paths need identical AS_PATHs, two eBGP paths the
/// same neighbouring AS (FRR's rule; the same AS_PATH in every fabric the plans describe).
/// With relax, equal length (already tied) is enough.
fn multipath_compatible(best: &Candidate, other: &Candidate, relax: bool) -> bool {
    if relax {
        return true;
    }
    if best.ibgp {
        best.attrs.as_path == other.attrs.as_path
    } else {
        best.neighbor_as() == other.neighbor_as()
    }
}

/// Chooses the best path and the multipath set (at most `max_paths`, at least one) among
/// eligible candidates. Members beyond the best are taken in ranking order.
pub(crate) fn select<'a>(
    mut candidates: Vec<Candidate<'a>>,
    max_paths: u8,
    relax: bool,
) -> Option<Selected<'a>> {
    candidates.sort_by(cmp_paths);
    let mut iter = candidates.into_iter();
    let best = iter.next()?;
    let limit = usize::from(max_paths.max(1));
    let mut set = Vec::with_capacity(limit);
    let others: Vec<Candidate> = iter
        .filter(|c| {
            cmp_through_igp(&best, c) == Ordering::Equal && multipath_compatible(&best, c, relax)
        })
        .take(limit.saturating_sub(1))
        .collect();
    set.push(best);
    set.extend(others);
    Some(Selected::Learned(set))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand_lp(side: usize, as_path: &[u32], ibgp: bool, id: u8, lp: u32) -> Candidate<'static> {
        // Leaked: test candidates borrow their attributes like real ones borrow the Adj-RIB-In.
        let attrs: &'static PathAttrs = Box::leak(Box::new(PathAttrs {
            as_path: as_path.iter().map(|a| Asn(*a)).collect(),
            next_hop: IpAddr::from([10, 0, 0, id]),
            local_pref: lp,
            originator_id: None,
            cluster_list: Vec::new(),
        }));
        Candidate {
            side,
            attrs,
            ibgp,
            tiebreak_id: Ipv4Addr::new(10, 255, 0, id),
            peer_addr: IpAddr::from([10, 0, 0, id]),
        }
    }

    fn cand(side: usize, as_path: &[u32], ibgp: bool, id: u8) -> Candidate<'static> {
        cand_lp(side, as_path, ibgp, id, 100)
    }

    fn sides(sel: Option<Selected<'_>>) -> Vec<usize> {
        match sel {
            Some(Selected::Learned(v)) => v.iter().map(|c| c.side).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn shorter_as_path_wins_and_longer_is_not_multipath() {
        let s = select(
            vec![cand(0, &[1, 2, 3], false, 1), cand(1, &[4, 3], false, 2)],
            8,
            true,
        );
        assert_eq!(sides(s), vec![1]);
    }

    #[test]
    fn higher_local_pref_beats_shorter_path() {
        let long = cand_lp(0, &[1, 2, 3], true, 1, 200);
        let s = select(vec![long, cand(1, &[4], false, 2)], 8, true);
        assert_eq!(sides(s), vec![0]);
    }

    #[test]
    fn ebgp_beats_ibgp_and_they_never_mix() {
        let s = select(
            vec![cand(0, &[1, 3], true, 1), cand(1, &[2, 3], false, 2)],
            8,
            true,
        );
        assert_eq!(sides(s), vec![1]);
    }

    #[test]
    fn lowest_router_id_breaks_ties() {
        let s = select(
            vec![cand(0, &[2, 3], false, 9), cand(1, &[1, 3], false, 4)],
            1,
            true,
        );
        assert_eq!(sides(s), vec![1]);
    }

    #[test]
    fn originator_id_replaces_router_id_in_tie_breaks() {
        let mut a = cand(0, &[], true, 1);
        let mut b = cand(1, &[], true, 2);
        // RFC 4456 §9: compare ORIGINATOR_ID, not the reflector's identifier.
        a.tiebreak_id = Ipv4Addr::new(10, 255, 9, 9);
        b.tiebreak_id = Ipv4Addr::new(10, 255, 1, 1);
        assert_eq!(sides(select(vec![a, b], 1, false)), vec![1]);
    }

    #[test]
    fn ebgp_multipath_needs_same_neighbor_as_unless_relaxed() {
        let paths = || {
            vec![
                cand(0, &[65201, 65211], false, 1),
                cand(1, &[65202, 65211], false, 2),
            ]
        };
        assert_eq!(sides(select(paths(), 8, false)), vec![0]);
        assert_eq!(sides(select(paths(), 8, true)), vec![0, 1]);
        let same_as = vec![
            cand(0, &[65000, 65002], false, 1),
            cand(1, &[65000, 65002], false, 2),
        ];
        assert_eq!(sides(select(same_as, 8, false)), vec![0, 1]);
    }

    #[test]
    fn ibgp_multipath_needs_identical_as_path_unless_relaxed() {
        let paths = || {
            vec![
                cand(0, &[65000, 65002], true, 1),
                cand(1, &[65010, 65002], true, 2),
            ]
        };
        assert_eq!(sides(select(paths(), 8, false)), vec![0]);
        assert_eq!(sides(select(paths(), 8, true)), vec![0, 1]);
    }

    #[test]
    fn max_paths_caps_the_set_in_ranking_order() {
        let paths = vec![
            cand(0, &[7], false, 3),
            cand(1, &[7], false, 1),
            cand(2, &[7], false, 2),
        ];
        assert_eq!(sides(select(paths.clone(), 2, false)), vec![1, 2]);
        assert_eq!(sides(select(paths.clone(), 0, false)), vec![1]);
        assert_eq!(sides(select(paths, 8, false)), vec![1, 2, 0]);
    }

    #[test]
    fn no_candidates_no_selection() {
        assert!(select(Vec::new(), 8, true).is_none());
    }
}
