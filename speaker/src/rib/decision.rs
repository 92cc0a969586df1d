//! The decision process (RFC 4271 §9.1.2.2, RFC 4456 §9) and multipath selection.
//!
//! [`compare`] ranks two eligible paths and names the step that decided, so the control socket
//! can say why a path lost. [`select`] picks the best path and the ECMP set from a destination's
//! candidates in a way that does not depend on the order in which they arrived.
//!
//! RFC says / we do:
//!
//! 1. Degree of preference (§9.1.1): LOCAL_PREF for every path; eBGP paths get theirs from
//!    import policy, else the default 100 (their received LOCAL_PREF was discarded at import,
//!    RFC 7606 §7.5). Higher wins.
//! 2. Not in the RFC: a locally originated path beats a learned one (FRR's weight 32768, BIRD's
//!    preference of static over BGP). Only matters if a peer announces one of our own blocks.
//! 3. Shortest AS_PATH, an AS_SET counting 1, confederation segments 0 (§9.1.2.2 a).
//! 4. Lowest ORIGIN (§9.1.2.2 b).
//! 5. Lowest MED, compared only between paths from the same neighbour AS; a missing MED is 0
//!    (§9.1.2.2 c). This makes the relation non-transitive, which is why [`select`] first picks a
//!    winner per neighbour AS and then compares the winners (FRR "deterministic-med"): the result
//!    no longer depends on arrival order.
//! 6. eBGP over iBGP (§9.1.2.2 d).
//! 7. Lowest IGP cost to the next hop (§9.1.2.2 e); 0 for connected next hops.
//!    --- multipath boundary: paths equal down to here may share traffic (ECMP) ---
//! 8. Lowest BGP Identifier, with ORIGINATOR_ID standing in for it when present (§9.1.2.2 f;
//!    RFC 4456 §9).
//! 9. Shortest CLUSTER_LIST (RFC 4456 §9, inserted between f and g).
//! 10. Lowest peer address (§9.1.2.2 g).

use std::cmp::Ordering;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use fabric_bgp_wire::{Asn, RouterId};
use serde::{Deserialize, Serialize};

use crate::rib::attrs::{Community, PathAttrs};
use crate::rib::peer::PeerKind;

/// LOCAL_PREF assumed when a path has none (RFC 4271 §9.1.1 leaves it to configuration; 100 is
/// the value every implementation uses).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// The decision step that separated two paths. Ordered as the steps are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Not LLGR_STALE over LLGR_STALE: long-lived stale paths are least preferred
    /// (RFC 9494 §4.3), before any other step.
    LlgrStale,
    /// Higher LOCAL_PREF / degree of preference.
    LocalPref,
    /// Locally originated over learned.
    LocallyOriginated,
    /// Shorter AS_PATH.
    AsPathLength,
    /// Lower ORIGIN.
    Origin,
    /// Lower MED (same neighbour AS).
    Med,
    /// eBGP over iBGP.
    PeerType,
    /// Lower IGP cost to the next hop.
    IgpCost,
    /// Lower BGP Identifier (or ORIGINATOR_ID).
    RouterId,
    /// Shorter CLUSTER_LIST.
    ClusterListLength,
    /// Lower peer address.
    PeerAddress,
    /// Nothing separates the paths.
    Equal,
}

impl Reason {
    /// Whether paths separated only at this step are equal for multipath (ECMP): everything up
    /// to and including the IGP cost was equal.
    pub fn multipath_equal(self) -> bool {
        self > Reason::IgpCost
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Reason::LlgrStale => "not llgr-stale",
            Reason::LocalPref => "higher local-pref",
            Reason::LocallyOriginated => "locally originated",
            Reason::AsPathLength => "shorter as-path",
            Reason::Origin => "lower origin",
            Reason::Med => "lower med",
            Reason::PeerType => "ebgp over ibgp",
            Reason::IgpCost => "lower igp cost",
            Reason::RouterId => "lower router-id",
            Reason::ClusterListLength => "shorter cluster-list",
            Reason::PeerAddress => "lower peer address",
            Reason::Equal => "equal",
        };
        f.write_str(s)
    }
}

/// Why a path is excluded from the decision process altogether.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rejection {
    /// The import policy rejected it.
    ImportPolicy,
    /// eBGP without an import policy under RFC 8212 (§3).
    NoImportPolicy,
    /// Our AS occurs in the AS_PATH more often than allowas-in permits (RFC 4271 §9.1.2).
    AsLoop,
    /// ORIGINATOR_ID is our own router id (RFC 4456 §8).
    OriginatorIsSelf,
    /// CLUSTER_LIST contains our cluster id (RFC 4456 §8).
    ClusterLoop,
    /// eBGP path whose first AS is not the peer's (RFC 7606 §7.2).
    FirstAsMismatch,
    /// No NEXT_HOP at all (the codec should have treated this as withdraw, RFC 7606 §3 d).
    MissingNextHop,
    /// NEXT_HOP is one of our own addresses (RFC 4271 §6.3).
    NextHopIsSelf,
    /// NEXT_HOP not reachable (RFC 4271 §9.1.2).
    NextHopUnresolvable,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Rejection::ImportPolicy => "rejected by import policy",
            Rejection::NoImportPolicy => "no import policy (rfc 8212)",
            Rejection::AsLoop => "as-path loop",
            Rejection::OriginatorIsSelf => "originator-id is self",
            Rejection::ClusterLoop => "cluster-list loop",
            Rejection::FirstAsMismatch => "first as is not the peer's",
            Rejection::MissingNextHop => "missing next hop",
            Rejection::NextHopIsSelf => "next hop is self",
            Rejection::NextHopUnresolvable => "next hop unresolvable",
        };
        f.write_str(s)
    }
}

/// Where a candidate came from, with what the tie-breakers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateSource {
    /// Originated by this speaker (with our router id).
    Local {
        /// Our BGP Identifier.
        router_id: RouterId,
    },
    /// Learned from a neighbour.
    Peer {
        /// iBGP or eBGP.
        kind: PeerKind,
        /// Neighbour address.
        address: IpAddr,
        /// Neighbour BGP Identifier.
        router_id: RouterId,
    },
}

/// An eligible path as the decision process sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Its attributes (after import policy).
    pub attrs: &'a PathAttrs,
    /// Its source.
    pub source: CandidateSource,
    /// IGP cost to its next hop.
    pub igp_cost: u32,
    /// Our AS on the session it came from (neighbour AS of paths with an empty AS_PATH).
    pub local_as: Asn,
}

impl Candidate<'_> {
    fn local_pref(&self) -> u32 {
        self.attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)
    }

    /// Whether the path carries LLGR_STALE (RFC 9494 §4.3).
    fn llgr_stale(&self) -> bool {
        self.attrs.communities.contains(&Community::LLGR_STALE)
    }

    fn is_local(&self) -> bool {
        matches!(self.source, CandidateSource::Local { .. })
    }

    /// RFC 4271 §9.1.2.2 c: the neighbour AS; for a path learned over iBGP and originated in our
    /// AS (empty path, or beginning with an AS_SET) it is the local AS.
    pub fn neighbor_as(&self) -> Asn {
        self.attrs.as_path.neighbor_as().unwrap_or(self.local_as)
    }

    /// eBGP = 0 < iBGP = 1 (local paths are separated at step 2 already).
    fn type_rank(&self) -> u8 {
        match self.source {
            CandidateSource::Peer {
                kind: PeerKind::Ebgp,
                ..
            }
            | CandidateSource::Local { .. } => 0,
            CandidateSource::Peer {
                kind: PeerKind::Ibgp,
                ..
            } => 1,
        }
    }

    /// The identifier for step 8: ORIGINATOR_ID if present (RFC 4456 §9), else the peer's.
    fn effective_router_id(&self) -> Ipv4Addr {
        if let Some(o) = self.attrs.originator_id {
            return o.0;
        }
        match self.source {
            CandidateSource::Local { router_id } | CandidateSource::Peer { router_id, .. } => {
                router_id.0
            }
        }
    }

    fn peer_address(&self) -> Option<IpAddr> {
        match self.source {
            CandidateSource::Local { .. } => None,
            CandidateSource::Peer { address, .. } => Some(address),
        }
    }
}

/// Compare two eligible paths. `Ordering::Less` means `a` is preferred, so sorting with this
/// puts the best first. The [`Reason`] names the step that decided (or `Equal`).
///
/// The relation is a total order on paths from the same neighbour AS. Across neighbour ASes the
/// MED step is skipped, so it is not transitive in general: use [`select`] to pick a best path.
pub fn compare(a: &Candidate<'_>, b: &Candidate<'_>) -> (Ordering, Reason) {
    // Each step: the first non-equal key decides. Keys are arranged so that Less = better.
    let steps: [(Ordering, Reason); 11] = [
        (a.llgr_stale().cmp(&b.llgr_stale()), Reason::LlgrStale),
        (b.local_pref().cmp(&a.local_pref()), Reason::LocalPref),
        (b.is_local().cmp(&a.is_local()), Reason::LocallyOriginated),
        (
            a.attrs.as_path.length().cmp(&b.attrs.as_path.length()),
            Reason::AsPathLength,
        ),
        (a.attrs.origin.cmp(&b.attrs.origin), Reason::Origin),
        (
            if a.neighbor_as() == b.neighbor_as() {
                a.attrs.med.unwrap_or(0).cmp(&b.attrs.med.unwrap_or(0))
            } else {
                Ordering::Equal
            },
            Reason::Med,
        ),
        (a.type_rank().cmp(&b.type_rank()), Reason::PeerType),
        (a.igp_cost.cmp(&b.igp_cost), Reason::IgpCost),
        (
            a.effective_router_id().cmp(&b.effective_router_id()),
            Reason::RouterId,
        ),
        (
            a.attrs.cluster_list.len().cmp(&b.attrs.cluster_list.len()),
            Reason::ClusterListLength,
        ),
        // A local path has no peer address; `None` sorts first.
        (a.peer_address().cmp(&b.peer_address()), Reason::PeerAddress),
    ];
    steps
        .into_iter()
        .find(|(o, _)| o.is_ne())
        .unwrap_or((Ordering::Equal, Reason::Equal))
}

/// Multipath (ECMP) settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultipathConfig {
    /// Maximum paths in the ECMP set (1 = no multipath).
    pub max_paths: usize,
    /// Count paths with equal AS_PATH *length* but different ASes as equal (FRR
    /// `bgp bestpath as-path multipath-relax`): ECMP across spines for AS-per-server. Without it
    /// the AS_PATHs must be identical (FRR/BIRD default).
    pub relax: bool,
}

impl Default for MultipathConfig {
    fn default() -> Self {
        MultipathConfig {
            max_paths: 1,
            relax: false,
        }
    }
}

/// Pick the best path and the multipath set among `candidates` (`None` = ineligible).
///
/// Returns indices into `candidates`: empty if nothing is eligible, else the best path first,
/// then the other ECMP members in tie-break order (at most `max_paths` in total).
///
/// Order independence: the best is the best of the per-neighbour-AS winners (within one
/// neighbour AS [`compare`] is total; between winners the MED step never applies, so it is
/// total there too). A path joins the ECMP set if it equals the best down to the IGP step and is
/// not beaten before the IGP step by the winner of its own neighbour AS (so a path that lost on
/// MED stays out, whatever the arrival order). Each of these is a property of the set, not of
/// the order.
pub fn select(candidates: &[Option<Candidate<'_>>], mp: MultipathConfig) -> Vec<usize> {
    let eligible: Vec<(usize, &Candidate<'_>)> = candidates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
        .collect();
    if eligible.is_empty() {
        return Vec::new();
    }

    // Winner per neighbour AS.
    let mut winners: Vec<(Asn, usize)> = Vec::new();
    for &(i, c) in &eligible {
        let nas = c.neighbor_as();
        match winners.iter_mut().find(|(a, _)| *a == nas) {
            Some((_, w)) => {
                if better(c, candidates, *w) {
                    *w = i;
                }
            }
            None => winners.push((nas, i)),
        }
    }
    let mut best = winners.first().map(|(_, w)| *w).unwrap_or(eligible[0].0);
    for &(_, w) in &winners {
        if let Some(c) = candidates.get(w).and_then(Option::as_ref) {
            if better(c, candidates, best) {
                best = w;
            }
        }
    }

    let mut out = vec![best];
    if mp.max_paths <= 1 {
        return out;
    }
    let Some(best_c) = candidates.get(best).and_then(Option::as_ref) else {
        return out;
    };
    let mut members: Vec<(usize, &Candidate<'_>)> = eligible
        .iter()
        .copied()
        .filter(|&(i, c)| {
            if i == best || !compare(best_c, c).1.multipath_equal() {
                return false;
            }
            if !mp.relax && best_c.attrs.as_path != c.attrs.as_path {
                return false;
            }
            let nas = c.neighbor_as();
            let group_winner = winners
                .iter()
                .find(|(a, _)| *a == nas)
                .and_then(|(_, w)| candidates.get(*w))
                .and_then(Option::as_ref);
            group_winner.is_none_or(|w| compare(w, c).1.multipath_equal())
        })
        .collect();
    // Members tie with the best (and hence with each other, MED included: each equals its own
    // group winner's MED) down to the IGP step, so the remaining keys order them totally.
    members.sort_by(|(_, a), (_, b)| compare(a, b).0);
    out.extend(
        members
            .into_iter()
            .take(mp.max_paths.saturating_sub(1))
            .map(|(i, _)| i),
    );
    out
}

fn better(c: &Candidate<'_>, all: &[Option<Candidate<'_>>], current: usize) -> bool {
    match all.get(current).and_then(Option::as_ref) {
        Some(cur) => compare(c, cur).0 == Ordering::Less,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::attrs::{AsPath, ClusterId, Origin};

    const LOCAL_AS: Asn = Asn(65000);

    fn attrs(path: &[u32]) -> PathAttrs {
        PathAttrs::learned(
            AsPath::sequence(path.iter().copied().map(Asn)),
            "10.0.0.1".parse().unwrap(),
        )
    }

    fn peer(kind: PeerKind, addr: &str, rid: &str) -> CandidateSource {
        CandidateSource::Peer {
            kind,
            address: addr.parse().unwrap(),
            router_id: RouterId(rid.parse().unwrap()),
        }
    }

    fn ebgp(addr: &str) -> CandidateSource {
        peer(PeerKind::Ebgp, addr, "9.9.9.9")
    }

    fn cand<'a>(attrs: &'a PathAttrs, source: CandidateSource) -> Candidate<'a> {
        Candidate {
            attrs,
            source,
            igp_cost: 0,
            local_as: LOCAL_AS,
        }
    }

    /// `a` must beat `b` exactly at `reason`, and the comparison must be antisymmetric.
    fn assert_wins(a: &Candidate<'_>, b: &Candidate<'_>, reason: Reason) {
        assert_eq!(compare(a, b), (Ordering::Less, reason));
        assert_eq!(compare(b, a), (Ordering::Greater, reason));
    }

    #[test]
    fn llgr_stale_loses_to_anything_fresh() {
        // RFC 9494 §4.3 (stmt 70): even a much better path loses once it is LLGR_STALE.
        let mut stale = attrs(&[65001]);
        stale.local_pref = Some(500);
        stale.communities.push(Community::LLGR_STALE);
        let fresh = attrs(&[65002, 65003, 65004]);
        let a = cand(&fresh, ebgp("192.0.2.9"));
        let b = cand(&stale, ebgp("192.0.2.1"));
        assert_wins(&a, &b, Reason::LlgrStale);
        assert!(!Reason::LlgrStale.multipath_equal());
    }

    #[test]
    fn step1_local_pref() {
        let mut hi = attrs(&[1, 2, 3]);
        hi.local_pref = Some(200);
        let lo = attrs(&[1]);
        assert_wins(
            &cand(&hi, ebgp("10.0.0.9")),
            &cand(&lo, ebgp("10.0.0.1")),
            Reason::LocalPref,
        );
        // A missing LOCAL_PREF counts as 100.
        let mut explicit = attrs(&[1, 2]);
        explicit.local_pref = Some(100);
        let (o, r) = compare(
            &cand(&explicit, ebgp("10.0.0.1")),
            &cand(&lo, ebgp("10.0.0.2")),
        );
        assert_eq!((o, r), (Ordering::Greater, Reason::AsPathLength));
    }

    #[test]
    fn step2_locally_originated() {
        let local = PathAttrs::local();
        let learned = PathAttrs::learned(AsPath::empty(), "10.0.0.1".parse().unwrap());
        let me = CandidateSource::Local {
            router_id: RouterId("1.1.1.1".parse().unwrap()),
        };
        assert_wins(
            &cand(&local, me),
            &cand(&learned, ebgp("10.0.0.1")),
            Reason::LocallyOriginated,
        );
    }

    #[test]
    fn step3_as_path_length_with_as_set() {
        use crate::rib::attrs::{AsSegment, SegmentKind};
        let short = attrs(&[1, 2]);
        let mut set = attrs(&[1]);
        set.as_path.segments.push(AsSegment {
            kind: SegmentKind::Set,
            asns: vec![Asn(5), Asn(6), Asn(7)],
        });
        // [1 {5 6 7}] has length 2, like [1 2]: decided later.
        assert_ne!(
            compare(
                &cand(&short, ebgp("10.0.0.1")),
                &cand(&set, ebgp("10.0.0.2"))
            )
            .1,
            Reason::AsPathLength
        );
        let long = attrs(&[1, 2, 3]);
        assert_wins(
            &cand(&set, ebgp("10.0.0.9")),
            &cand(&long, ebgp("10.0.0.1")),
            Reason::AsPathLength,
        );
    }

    #[test]
    fn step4_origin() {
        let igp = attrs(&[1]);
        let mut inc = attrs(&[1]);
        inc.origin = Origin::Incomplete;
        assert_wins(
            &cand(&igp, ebgp("10.0.0.9")),
            &cand(&inc, ebgp("10.0.0.1")),
            Reason::Origin,
        );
    }

    #[test]
    fn step5_med_only_within_same_neighbor_as() {
        let mut lo = attrs(&[1, 9]);
        lo.med = Some(10);
        let mut hi = attrs(&[1, 8]);
        hi.med = Some(20);
        assert_wins(
            &cand(&lo, ebgp("10.0.0.9")),
            &cand(&hi, ebgp("10.0.0.1")),
            Reason::Med,
        );
        // Missing MED is the lowest value, 0.
        let none = attrs(&[1, 7]);
        assert_wins(
            &cand(&none, ebgp("10.0.0.9")),
            &cand(&lo, ebgp("10.0.0.1")),
            Reason::Med,
        );
        // Different neighbour AS: MED ignored, decided by peer address here.
        let other = attrs(&[2, 9]);
        let (o, r) = compare(
            &cand(&hi, ebgp("10.0.0.1")),
            &cand(&other, ebgp("10.0.0.2")),
        );
        assert_eq!((o, r), (Ordering::Less, Reason::PeerAddress));
    }

    #[test]
    fn step6_ebgp_over_ibgp() {
        let a = attrs(&[1]);
        assert_wins(
            &cand(&a, ebgp("10.0.0.9")),
            &cand(&a, peer(PeerKind::Ibgp, "10.0.0.1", "1.1.1.1")),
            Reason::PeerType,
        );
    }

    #[test]
    fn step7_igp_cost() {
        let a = attrs(&[1]);
        let mut near = cand(&a, ebgp("10.0.0.9"));
        near.igp_cost = 0;
        let mut far = cand(&a, ebgp("10.0.0.1"));
        far.igp_cost = 10;
        assert_wins(&near, &far, Reason::IgpCost);
        assert!(!Reason::IgpCost.multipath_equal());
        assert!(Reason::RouterId.multipath_equal());
    }

    #[test]
    fn step8_router_id_with_originator_id() {
        let a = attrs(&[1]);
        let low = cand(&a, peer(PeerKind::Ibgp, "10.0.0.9", "1.1.1.1"));
        let high = cand(&a, peer(PeerKind::Ibgp, "10.0.0.1", "2.2.2.2"));
        assert_wins(&low, &high, Reason::RouterId);
        // ORIGINATOR_ID replaces the router id of the reflecting peer (RFC 4456 §9).
        let mut reflected = attrs(&[1]);
        reflected.originator_id = Some(RouterId("0.0.0.5".parse().unwrap()));
        let refl = cand(&reflected, peer(PeerKind::Ibgp, "10.0.0.5", "3.3.3.3"));
        assert_wins(&refl, &low, Reason::RouterId);
    }

    #[test]
    fn step9_cluster_list_length() {
        let mut one = attrs(&[1]);
        one.originator_id = Some(RouterId("5.5.5.5".parse().unwrap()));
        one.cluster_list = vec![ClusterId("1.1.1.1".parse().unwrap())];
        let mut two = one.clone();
        two.cluster_list.push(ClusterId("2.2.2.2".parse().unwrap()));
        assert_wins(
            &cand(&one, peer(PeerKind::Ibgp, "10.0.0.9", "1.1.1.1")),
            &cand(&two, peer(PeerKind::Ibgp, "10.0.0.1", "2.2.2.2")),
            Reason::ClusterListLength,
        );
    }

    #[test]
    fn step10_peer_address() {
        let a = attrs(&[1]);
        assert_wins(
            &cand(&a, peer(PeerKind::Ibgp, "10.0.0.1", "1.1.1.1")),
            &cand(&a, peer(PeerKind::Ibgp, "10.0.0.2", "1.1.1.1")),
            Reason::PeerAddress,
        );
        assert_eq!(
            compare(&cand(&a, ebgp("10.0.0.1")), &cand(&a, ebgp("10.0.0.1"))),
            (Ordering::Equal, Reason::Equal)
        );
    }

    /// The classic MED cycle: A beats B on MED (same AS 1), B beats C on peer address, C beats A
    /// on peer address (MED not compared across ASes). Grouping by neighbour AS makes the
    /// answer the same in every order.
    #[test]
    fn med_cycle_is_resolved_deterministically() {
        let mut a = attrs(&[1]);
        a.med = Some(10);
        let mut b = attrs(&[1]);
        b.med = Some(20);
        let c = attrs(&[2]);
        let ca = cand(&a, ebgp("10.0.0.3"));
        let cb = cand(&b, ebgp("10.0.0.1"));
        let cc = cand(&c, ebgp("10.0.0.2"));
        assert_eq!(compare(&ca, &cb).0, Ordering::Less);
        assert_eq!(compare(&cb, &cc).0, Ordering::Less);
        assert_eq!(compare(&cc, &ca).0, Ordering::Less);
        let all = [ca, cb, cc];
        let mut results = Vec::new();
        for order in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            let cands: Vec<Option<Candidate<'_>>> = order.iter().map(|&i| Some(all[i])).collect();
            let sel = select(&cands, MultipathConfig::default());
            results.push(order[sel[0]]);
        }
        // AS 1's winner is a (MED); a vs c is decided by peer address: c (10.0.0.2) wins.
        assert!(results.iter().all(|&r| r == 2), "{results:?}");
    }

    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![Vec::new()];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for k in 0..=p.len() {
                let mut q = p.clone();
                q.insert(k, n - 1);
                out.push(q);
            }
        }
        out
    }

    /// `select` on every ordering of the same candidates picks the same paths (identified by
    /// their peer address), in the same order.
    fn assert_order_independent(all: &[Candidate<'_>], mp: MultipathConfig) -> Vec<IpAddr> {
        let id = |c: &Candidate<'_>| c.peer_address();
        let mut reference: Option<Vec<Option<IpAddr>>> = None;
        for order in permutations(all.len()) {
            let cands: Vec<Option<Candidate<'_>>> = order.iter().map(|&i| Some(all[i])).collect();
            let picked: Vec<Option<IpAddr>> = select(&cands, mp)
                .into_iter()
                .map(|i| cands[i].as_ref().and_then(id))
                .collect();
            match &reference {
                None => reference = Some(picked),
                Some(r) => assert_eq!(&picked, r, "order {order:?} {mp:?}"),
            }
        }
        reference
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect()
    }

    /// Six paths with two MED cycles, one recursive (cost 1) and one iBGP path.
    #[test]
    fn six_path_med_cycles_every_order() {
        let mk = |asn: u32, med: Option<u32>| {
            let mut a = attrs(&[asn, 64600]);
            a.med = med;
            a
        };
        let p = [
            mk(65001, Some(0)),
            mk(65003, Some(5)),
            mk(65002, Some(0)),
            mk(65002, None),
            mk(65002, Some(3)),
            mk(65001, Some(10)),
        ];
        let all: Vec<Candidate<'_>> = p
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let kind = if i == 2 {
                    PeerKind::Ibgp
                } else {
                    PeerKind::Ebgp
                };
                let mut c = cand(
                    a,
                    peer(
                        kind,
                        &format!("10.0.0.{}", 10 + i),
                        &format!("2.2.2.{}", 10 - i),
                    ),
                );
                c.igp_cost = u32::from(i == 1);
                c
            })
            .collect();
        let best = assert_order_independent(&all, MultipathConfig::default());
        assert_eq!(best, vec!["10.0.0.13".parse::<IpAddr>().unwrap()]);
        let relaxed = assert_order_independent(
            &all,
            MultipathConfig {
                max_paths: 8,
                relax: true,
            },
        );
        assert_eq!(
            relaxed,
            vec![
                "10.0.0.13".parse::<IpAddr>().unwrap(),
                "10.0.0.10".parse().unwrap()
            ]
        );
        assert_order_independent(
            &all,
            MultipathConfig {
                max_paths: 2,
                relax: false,
            },
        );
    }

    mod random {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

            /// Random sets of six paths: `select` is independent of the candidates' order.
            #[test]
            fn select_is_order_independent(
                specs in prop::collection::vec(
                    (1u32..4, 1usize..3, prop::option::of(0u32..3), any::<bool>(), 0u32..2, 0u8..4, any::<bool>()),
                    6,
                ),
                relax in any::<bool>(),
                max_paths in 1usize..4,
            ) {
                let attrs_list: Vec<PathAttrs> = specs
                    .iter()
                    .map(|(asn, len, med, incomplete, _, _, _)| {
                        let mut path = vec![65000 + asn];
                        path.extend((1..*len).map(|k| 64600 + k as u32));
                        let mut a = attrs(&path);
                        a.med = *med;
                        if *incomplete {
                            a.origin = Origin::Incomplete;
                        }
                        a
                    })
                    .collect();
                let all: Vec<Candidate<'_>> = attrs_list
                    .iter()
                    .zip(&specs)
                    .enumerate()
                    .map(|(i, (a, (_, _, _, _, cost, rid, ibgp)))| {
                        let kind = if *ibgp { PeerKind::Ibgp } else { PeerKind::Ebgp };
                        let mut c = cand(a, peer(kind, &format!("10.0.0.{}", 10 + i), &format!("2.2.2.{rid}")));
                        c.igp_cost = *cost;
                        c
                    })
                    .collect();
                assert_order_independent(&all, MultipathConfig { max_paths, relax });
            }
        }
    }

    #[test]
    fn select_ignores_ineligible_and_handles_empty() {
        let a = attrs(&[1]);
        assert!(select(&[None, None], MultipathConfig::default()).is_empty());
        let sel = select(
            &[None, Some(cand(&a, ebgp("10.0.0.1")))],
            MultipathConfig::default(),
        );
        assert_eq!(sel, vec![1]);
    }

    #[test]
    fn multipath_requires_identical_path_unless_relaxed() {
        let p1 = attrs(&[65001, 100]);
        let p2 = attrs(&[65002, 100]);
        let p3 = attrs(&[65001, 100]);
        let cands = [
            Some(cand(&p1, ebgp("10.0.0.1"))),
            Some(cand(&p2, ebgp("10.0.0.2"))),
            Some(cand(&p3, ebgp("10.0.0.3"))),
        ];
        let strict = select(
            &cands,
            MultipathConfig {
                max_paths: 8,
                relax: false,
            },
        );
        assert_eq!(strict, vec![0, 2]);
        let relaxed = select(
            &cands,
            MultipathConfig {
                max_paths: 8,
                relax: true,
            },
        );
        assert_eq!(relaxed, vec![0, 1, 2]);
        let limited = select(
            &cands,
            MultipathConfig {
                max_paths: 2,
                relax: true,
            },
        );
        assert_eq!(limited, vec![0, 1]);
    }

    #[test]
    fn multipath_excludes_med_losers_and_worse_igp_cost() {
        let mut best = attrs(&[1]);
        best.med = Some(0);
        let mut med_loser = attrs(&[1]);
        med_loser.med = Some(5);
        let other_as = attrs(&[2]);
        let cands = [
            Some(cand(&best, ebgp("10.0.0.1"))),
            Some(cand(&med_loser, ebgp("10.0.0.2"))),
            Some(cand(&other_as, ebgp("10.0.0.3"))),
            Some(Candidate {
                igp_cost: 5,
                ..cand(&other_as, ebgp("10.0.0.4"))
            }),
        ];
        let sel = select(
            &cands,
            MultipathConfig {
                max_paths: 8,
                relax: true,
            },
        );
        assert_eq!(sel, vec![0, 2]);
    }
}
