//! Propagation rules: what a peer gets for a prefix, given the Loc-RIB best path (RFC 4271 §9.2,
//! §5.1; RFC 4456 §6, §8; RFC 1997; RFC 8212).
//!
//! In order:
//!
//! 1. Never back to the peer the path came from (split horizon; BIRD does the same, and it is
//!    what keeps a dual-homed node from echoing a ToR's route back to it).
//! 2. NO_ADVERTISE: to nobody; NO_EXPORT / NO_EXPORT_SUBCONFED: not to eBGP (RFC 1997).
//! 3. iBGP-learned to iBGP only by reflection: from a client to everyone, from a non-client to
//!    clients only (RFC 4271 §9.2, RFC 4456 §6). eBGP-learned and local paths go everywhere.
//! 4. Export policy; no policy on an eBGP session exports nothing under RFC 8212.
//! 5. Attribute rewrite: towards eBGP prepend our AS, next hop self, drop LOCAL_PREF, drop a
//!    learned MED (§5.1.4), drop ORIGINATOR_ID/CLUSTER_LIST (RFC 4456 §8); towards iBGP set
//!    LOCAL_PREF, next hop self for local paths and per [`NextHopSelf`], and on reflection set
//!    ORIGINATOR_ID (if absent) and prepend our CLUSTER_ID (RFC 4456 §8).
//! 6. Never with the peer's own address as next hop (RFC 4271 §5.1.3).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::policy::{apply_actions, PolicySource, RouteContext, Verdict};
use crate::rib::attrs::{AttrStore, ClusterId, Community, PathAttrs};
use crate::rib::decision::DEFAULT_LOCAL_PREF;
use crate::rib::peer::{NextHopSelf, PeerConfig, PeerInfo, PeerKind, PeerSession};

/// The peer being exported to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExportTarget<'a> {
    /// Peer index.
    pub id: u32,
    /// Its configuration.
    pub config: &'a PeerConfig,
    /// Its session facts.
    pub session: &'a PeerSession,
    /// Its decision-relevant view.
    pub info: PeerInfo,
}

/// Where the exported path came from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ExportSource {
    /// Originated here.
    Local,
    /// Learned from a peer.
    Peer {
        /// Peer index.
        id: u32,
        /// Its view.
        info: PeerInfo,
    },
}

impl ExportSource {
    fn id(&self) -> u32 {
        match self {
            ExportSource::Local => crate::rib::loc::LOCAL_SRC,
            ExportSource::Peer { id, .. } => *id,
        }
    }
}

/// RIB-wide export settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExportEnv {
    /// Our CLUSTER_ID (RFC 4456 §7).
    pub cluster_id: ClusterId,
    /// RFC 8212 mode.
    pub ebgp_requires_policy: bool,
}

type CacheKey = (usize, u32, u32, Option<usize>, bool);

/// Memo of attribute rewrites: the same input attributes from the same source to the same peer
/// with the same policy statement always give the same output, so a million prefixes sharing an
/// attribute set cost one rewrite. Holds the input `Arc` so its address cannot be reused while
/// cached. Cleared by the RIB after every drain and on any peer change.
#[derive(Debug, Default)]
pub(crate) struct ExportCache {
    map: HashMap<CacheKey, (Arc<PathAttrs>, Option<Arc<PathAttrs>>)>,
}

impl ExportCache {
    /// Forget everything.
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

/// Attributes to advertise to `target` for `prefix` whose best path is (`source`, `attrs`), or
/// `None` if the peer must not have the route.
pub(crate) fn export(
    env: &ExportEnv,
    target: &ExportTarget<'_>,
    prefix: &IpNet,
    source: ExportSource,
    attrs: &Arc<PathAttrs>,
    store: &mut AttrStore,
    cache: &mut ExportCache,
) -> Option<Arc<PathAttrs>> {
    // 1. Split horizon.
    if source.id() == target.id {
        return None;
    }
    // 2. Well-known communities.
    if attrs.has_community(Community::NO_ADVERTISE) {
        return None;
    }
    if target.info.kind == PeerKind::Ebgp
        && (attrs.has_community(Community::NO_EXPORT)
            || attrs.has_community(Community::NO_EXPORT_SUBCONFED))
    {
        return None;
    }
    // 3. iBGP split horizon and reflection.
    if let ExportSource::Peer { info: src, .. } = source {
        if src.kind == PeerKind::Ibgp
            && target.info.kind == PeerKind::Ibgp
            && !src.rr_client
            && !target.info.rr_client
        {
            return None;
        }
    }
    // 4. Export policy.
    let policy_source = match source {
        ExportSource::Local => PolicySource::Local,
        ExportSource::Peer { info, .. } => PolicySource::Peer {
            kind: info.kind,
            address: info.address,
        },
    };
    let statement = match target.config.export_policy.as_deref() {
        None if env.ebgp_requires_policy && target.info.kind == PeerKind::Ebgp => return None,
        None => None,
        Some(p) => match p.evaluate(&RouteContext {
            prefix,
            attrs,
            source: policy_source,
        }) {
            Verdict::Accept(st) => st,
            Verdict::Reject => return None,
        },
    };
    // 5. Rewrite (memoised).
    let ipv6 = matches!(prefix, IpNet::V6(_));
    let key: CacheKey = (
        Arc::as_ptr(attrs) as usize,
        source.id(),
        target.id,
        statement,
        ipv6,
    );
    let out = match cache.map.get(&key) {
        Some((_, out)) => out.clone(),
        None => {
            let out = rewrite(env, target, source, attrs, statement, ipv6).map(|a| store.intern(a));
            cache.map.insert(key, (Arc::clone(attrs), out.clone()));
            out
        }
    }?;
    // 6. Never point the peer at itself.
    if out.next_hop == Some(target.config.address) {
        return None;
    }
    Some(out)
}

/// Attributes of the default route sent by `default_originate`: ours, next hop self, whatever
/// the RIB holds and bypassing export policy (FRR/BIRD behaviour; Downward Default relies on
/// "default-originate + deny everything else").
pub(crate) fn default_route(
    env: &ExportEnv,
    target: &ExportTarget<'_>,
    ipv6: bool,
    store: &mut AttrStore,
) -> Option<Arc<PathAttrs>> {
    let base = PathAttrs::local();
    rewrite(env, target, ExportSource::Local, &base, None, ipv6).map(|a| store.intern(a))
}

fn rewrite(
    env: &ExportEnv,
    target: &ExportTarget<'_>,
    source: ExportSource,
    attrs: &PathAttrs,
    statement: Option<usize>,
    ipv6: bool,
) -> Option<PathAttrs> {
    let mut a = attrs.clone();
    let own_nh: Option<IpAddr> = target.session.next_hop_self(ipv6);
    match target.info.kind {
        PeerKind::Ebgp => {
            // RFC 4271 §5.1.2; the 2-/4-octet encoding is the codec's job (RFC 6793).
            a.as_path.prepend(target.info.local_as, 1);
            // §5.1.3: our address on the session (no third-party next hop).
            a.next_hop = Some(own_nh?);
            a.next_hop_link_local = None;
            // §5.1.5: LOCAL_PREF is never sent to an external peer.
            a.local_pref = None;
            // §5.1.4: a MED received from a neighbour AS is not passed to another AS.
            if matches!(source, ExportSource::Peer { .. }) {
                a.med = None;
            }
            // RFC 4456 §8: iBGP-scoped.
            a.originator_id = None;
            a.cluster_list.clear();
        }
        PeerKind::Ibgp => {
            a.local_pref = Some(a.local_pref.unwrap_or(DEFAULT_LOCAL_PREF));
            let reflected =
                matches!(source, ExportSource::Peer { info, .. } if info.kind == PeerKind::Ibgp);
            let nh_self = match source {
                ExportSource::Local => true,
                ExportSource::Peer { .. } => match target.config.next_hop_self {
                    NextHopSelf::Off => false,
                    NextHopSelf::NonReflected => !reflected,
                    NextHopSelf::All => true,
                },
            };
            if nh_self || a.next_hop.is_none() {
                a.next_hop = Some(own_nh?);
            }
            a.next_hop_link_local = None;
            if let ExportSource::Peer { info: src, .. } = source {
                if reflected {
                    // RFC 4456 §8: ORIGINATOR_ID only if not already present; our CLUSTER_ID
                    // prepended.
                    if a.originator_id.is_none() {
                        a.originator_id = Some(src.router_id);
                    }
                    a.cluster_list.insert(0, env.cluster_id);
                }
            }
        }
    }
    if let Some(p) = target.config.export_policy.as_deref() {
        apply_actions(&mut a, p.actions(statement));
    }
    Some(a)
}
