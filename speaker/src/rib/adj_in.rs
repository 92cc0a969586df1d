//! Import side (Adj-RIB-In → candidate paths): attribute sanitising, loop detection and import
//! policy, applied to each received route before it joins the decision process.
//!
//! The post-policy Adj-RIB-In itself is stored inside the Loc-RIB destinations (see `loc.rs`);
//! paths excluded here are kept with their [`Rejection`] so the control socket can show them and
//! so they need no re-send if the reason goes away (RFC 4271 §9.1.2 "unresolvable" is re-checked
//! at every decision, the others at the next update of the route).

use std::collections::HashMap;
use std::sync::Arc;

use ipnet::IpNet;

use crate::policy::{apply_actions, Policy, PolicySource, RouteContext, Verdict};
use crate::rib::attrs::{AttrStore, ClusterId, PathAttrs};
use crate::rib::decision::Rejection;
use crate::rib::peer::{PeerConfig, PeerInfo, PeerKind};

/// Drop attributes that must not come from this kind of session: LOCAL_PREF, ORIGINATOR_ID and
/// CLUSTER_LIST are iBGP-scoped (RFC 7606 §7.5, §7.9, §7.10: attribute discard from eBGP).
/// The codec may already have done this; doing it here keeps the RIB safe on its own.
pub(crate) fn sanitize(attrs: &mut PathAttrs, info: &PeerInfo) {
    if info.kind == PeerKind::Ebgp {
        attrs.local_pref = None;
        attrs.originator_id = None;
        attrs.cluster_list.clear();
    }
}

/// Exclusions that depend only on the attributes, hence hold for every prefix of an UPDATE.
pub(crate) fn check_attrs(
    attrs: &PathAttrs,
    info: &PeerInfo,
    config: &PeerConfig,
    global_as: fabric_bgp_wire::Asn,
    cluster_id: ClusterId,
) -> Option<Rejection> {
    if attrs.next_hop.is_none() {
        return Some(Rejection::MissingNextHop);
    }
    // RFC 4271 §9.1.2: our AS in the path means a loop, unless allowas-in tolerates N copies
    // (racks reusing an AS, calico-designs.md §1.6 "loop-detection traps").
    let allowed = usize::from(config.allowas_in);
    let own = attrs
        .as_path
        .count(info.local_as)
        .max(attrs.as_path.count(global_as));
    if own > allowed {
        return Some(Rejection::AsLoop);
    }
    // RFC 4456 §8.
    if attrs.originator_id == Some(info.local_router_id) {
        return Some(Rejection::OriginatorIsSelf);
    }
    if attrs.cluster_list.contains(&cluster_id) {
        return Some(Rejection::ClusterLoop);
    }
    // RFC 7606 §7.2: an eBGP peer must have put its own AS first.
    if info.kind == PeerKind::Ebgp
        && config.enforce_first_as
        && attrs.as_path.first_asn() != Some(info.remote_as)
    {
        return Some(Rejection::FirstAsMismatch);
    }
    None
}

/// The import decision for one prefix: `Ok(statement)` to accept (with that statement's
/// changes), `Err(rejection)` otherwise. An unconfigured policy accepts, except on eBGP when
/// `ebgp_requires_policy` (RFC 8212 §3).
pub(crate) fn import_verdict(
    policy: Option<&Policy>,
    ebgp_requires_policy: bool,
    info: &PeerInfo,
    prefix: &IpNet,
    attrs: &PathAttrs,
) -> Result<Option<usize>, Rejection> {
    match policy {
        None if ebgp_requires_policy && info.kind == PeerKind::Ebgp => {
            Err(Rejection::NoImportPolicy)
        }
        None => Ok(None),
        Some(p) => match p.evaluate(&RouteContext {
            prefix,
            attrs,
            source: PolicySource::Peer {
                kind: info.kind,
                address: info.address,
            },
        }) {
            Verdict::Accept(st) => Ok(st),
            Verdict::Reject => Err(Rejection::ImportPolicy),
        },
    }
}

/// Interns the per-statement variants of one UPDATE's attributes, so that N prefixes accepted
/// by the same statement share one attribute set without re-hashing it N times.
pub(crate) struct ImportInterner<'a> {
    base: &'a PathAttrs,
    policy: Option<&'a Policy>,
    accepted: HashMap<Option<usize>, Arc<PathAttrs>>,
    raw: Option<Arc<PathAttrs>>,
}

impl<'a> ImportInterner<'a> {
    /// For one UPDATE's (sanitised) attributes and the peer's import policy.
    pub fn new(base: &'a PathAttrs, policy: Option<&'a Policy>) -> Self {
        ImportInterner {
            base,
            policy,
            accepted: HashMap::new(),
            raw: None,
        }
    }

    /// Attributes after the changes of `statement`.
    pub fn accepted(&mut self, store: &mut AttrStore, statement: Option<usize>) -> Arc<PathAttrs> {
        if let Some(a) = self.accepted.get(&statement) {
            return Arc::clone(a);
        }
        let mut attrs = self.base.clone();
        if let Some(p) = self.policy {
            apply_actions(&mut attrs, p.actions(statement));
        }
        let a = store.intern(attrs);
        self.accepted.insert(statement, Arc::clone(&a));
        a
    }

    /// Attributes as received (for rejected paths, kept for display).
    pub fn raw(&mut self, store: &mut AttrStore) -> Arc<PathAttrs> {
        if let Some(a) = &self.raw {
            return Arc::clone(a);
        }
        let a = store.intern(self.base.clone());
        self.raw = Some(Arc::clone(&a));
        a
    }
}
