//! Sending: what one session end advertises, built from the sender's Loc-RIB (RFC 4271 §9.2,
//! §5.1.2-§5.1.3; RFC 4456 §6, §8, §10).

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::context::Context;
use super::decision::{LocRib, Selected};
use super::model::PathAttrs;
use crate::topology::ExportPolicy;

/// RFC 4271 §5.1.5: the LOCAL_PREF a path gets when none is carried (received over eBGP or
/// originated); every implementation defaults to 100.
pub(crate) const DEFAULT_LOCAL_PREF: u32 = 100;

/// The Adj-RIB-Out of session end `side_idx` (what its peer receives), given every node's
/// Loc-RIB.
pub(crate) fn advertise(
    ctx: &Context<'_>,
    side_idx: usize,
    locs: &[LocRib],
) -> BTreeMap<IpNet, PathAttrs> {
    let mut out = BTreeMap::new();
    let (Some(side), Some(loc)) = (
        ctx.side(side_idx),
        ctx.side(side_idx).and_then(|s| locs.get(s.me)),
    ) else {
        return out;
    };
    let Some(node) = ctx.node(side.me) else {
        return out;
    };
    let mine = side.mine;

    for (prefix, selected) in loc {
        let allowed = match mine.export {
            ExportPolicy::All => true,
            ExportPolicy::Originated => matches!(selected, Selected::Local),
            ExportPolicy::DefaultOnly => *prefix == ctx.default_route,
        };
        if !allowed {
            continue;
        }
        let attrs = match selected {
            Selected::Local => PathAttrs {
                as_path: Vec::new(),
                next_hop: mine.local_addr,
                local_pref: DEFAULT_LOCAL_PREF,
                originator_id: None,
                cluster_list: Vec::new(),
            },
            Selected::Learned(paths) => {
                let Some(best) = paths.first() else { continue };
                // Only the best path is advertised (no ADD-PATH), and never back over the session
                // it came from (BIRD never exports a route to the protocol it came from; the peer
                // would drop it by AS-path or ORIGINATOR_ID anyway).
                if best.side == side_idx {
                    continue;
                }
                let Some(from) = ctx.side(best.side) else {
                    continue;
                };
                let mut attrs = best.attrs.clone();
                if side.ibgp && from.ibgp {
                    // RFC 4271 §9.2: iBGP-learned routes go to iBGP peers only by reflection.
                    // RFC 4456 §6: from a client → to clients and non-clients; from a
                    // non-client → to clients only.
                    let from_client = from.mine.rr_client;
                    if !from_client && !mine.rr_client {
                        continue;
                    }
                    // RFC 4456 §8: ORIGINATOR_ID set once, CLUSTER_ID prepended.
                    if attrs.originator_id.is_none() {
                        attrs.originator_id = ctx.node(from.peer).map(|n| n.plan.router_id.0);
                    }
                    attrs.cluster_list.insert(0, node.cluster_id);
                }
                attrs
            }
        };
        let originated = matches!(selected, Selected::Local);
        out.insert(*prefix, outbound(side.ibgp, mine, attrs, originated));
    }

    // Default-originate: a default towards this peer whatever the Loc-RIB holds (FRR
    // `default-originate`), replacing a learned default on this session.
    if mine.default_originate {
        let attrs = PathAttrs {
            as_path: Vec::new(),
            next_hop: mine.local_addr,
            local_pref: DEFAULT_LOCAL_PREF,
            originator_id: None,
            cluster_list: Vec::new(),
        };
        out.insert(ctx.default_route, outbound(side.ibgp, mine, attrs, true));
    }
    out
}

/// Attribute changes on the way out of one session end.
fn outbound(
    ibgp: bool,
    mine: &crate::topology::SessionSide,
    mut attrs: PathAttrs,
    originated: bool,
) -> PathAttrs {
    if ibgp {
        // RFC 4271 §5.1.2: AS_PATH unchanged to iBGP peers. §5.1.3: NEXT_HOP unchanged unless
        // locally originated; the plan's next-hop-self is the forcing kind ("also reflected"),
        // which RFC 4456 §10 leaves to configuration.
        if originated || mine.next_hop_self {
            attrs.next_hop = mine.local_addr;
        }
    } else {
        // RFC 4271 §5.1.2: prepend own AS. §5.1.3: NEXT_HOP = our address on the session (no
        // third-party next hop on a point-to-point link). RFC 4456 §8 / RFC 7606 §7.9-7.10:
        // ORIGINATOR_ID and CLUSTER_LIST are iBGP-only; LOCAL_PREF is not sent (§5.1.5), so
        // the receiver uses the default.
        attrs.as_path.insert(0, mine.local_as);
        attrs.next_hop = mine.local_addr;
        attrs.local_pref = DEFAULT_LOCAL_PREF;
        attrs.originator_id = None;
        attrs.cluster_list.clear();
    }
    attrs
}
