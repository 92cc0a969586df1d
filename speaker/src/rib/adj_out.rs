//! Adj-RIB-Out of one peer (RFC 4271 §3.2): what we last advertised per prefix, plus the
//! changes not yet sent.
//!
//! Changes are queued as "desired state per prefix" (last write wins), so a prefix that flaps
//! several times before the next flush costs one message, and a change that returns to what was
//! already sent costs none. [`crate::rib::update_builder`] turns the queue into grouped UPDATEs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use fabric_bgp_wire::AfiSafi;
use ipnet::IpNet;

use crate::rib::attrs::PathAttrs;
use crate::rib::prefix_map::PrefixMap;

/// One family's advertised and pending state.
#[derive(Debug, Default)]
pub(crate) struct FamilyOut {
    /// Advertised: prefix -> attributes sent (interned).
    pub sent: PrefixMap<Arc<PathAttrs>>,
    /// Not yet sent: prefix -> desired attributes (`None` = withdraw).
    pub pending: PrefixMap<Option<Arc<PathAttrs>>>,
    /// End-of-RIB is owed after the initial table (RFC 4724 §2).
    pub eor_pending: bool,
}

/// Adj-RIB-Out of one peer, per family.
#[derive(Debug, Default)]
pub(crate) struct AdjRibOut {
    /// Per family state; only families negotiated with the peer are present.
    pub families: BTreeMap<AfiSafi, FamilyOut>,
    /// When the last batch was sent (MRAI reference point).
    pub last_flush: Option<Instant>,
}

impl AdjRibOut {
    /// A fresh Adj-RIB-Out for a session that just reached Established: nothing sent, End-of-RIB
    /// owed for every family.
    pub fn for_session(families: &[AfiSafi]) -> Self {
        AdjRibOut {
            families: families
                .iter()
                .map(|f| {
                    (
                        *f,
                        FamilyOut {
                            eor_pending: true,
                            ..FamilyOut::default()
                        },
                    )
                })
                .collect(),
            last_flush: None,
        }
    }

    /// Queue the desired state of `prefix`. Ignored for families the peer did not negotiate.
    pub fn enqueue(&mut self, family: AfiSafi, prefix: IpNet, desired: Option<Arc<PathAttrs>>) {
        let Some(f) = self.families.get_mut(&family) else {
            return;
        };
        let same_as_sent = match (&desired, f.sent.get(&prefix)) {
            (None, None) => true,
            (Some(d), Some(s)) => Arc::ptr_eq(d, s),
            _ => false,
        };
        if same_as_sent {
            f.pending.remove(&prefix);
        } else {
            f.pending.insert(prefix, desired);
        }
    }

    /// Whether anything (routes or an End-of-RIB) waits to be sent.
    pub fn has_pending(&self) -> bool {
        self.families
            .values()
            .any(|f| !f.pending.is_empty() || f.eor_pending)
    }

    /// What was advertised for `family`.
    pub fn sent(&self, family: AfiSafi) -> impl Iterator<Item = (IpNet, &Arc<PathAttrs>)> {
        self.families
            .get(&family)
            .into_iter()
            .flat_map(|f| f.sent.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::attrs::PathAttrs;

    #[test]
    fn enqueue_cancels_changes_back_to_sent_state() {
        let fam = AfiSafi::IPV4_UNICAST;
        let mut out = AdjRibOut::for_session(&[fam]);
        let p: IpNet = "10.0.0.0/24".parse().unwrap();
        let a = Arc::new(PathAttrs::local());
        out.enqueue(fam, p, Some(Arc::clone(&a)));
        assert_eq!(out.families[&fam].pending.len(), 1);
        // Withdraw before sending: nothing was sent, so nothing to do.
        out.enqueue(fam, p, None);
        assert!(out.families[&fam].pending.is_empty());
        // Families not negotiated are ignored.
        out.enqueue(AfiSafi::IPV6_UNICAST, "::/0".parse().unwrap(), Some(a));
        assert!(!out.families.contains_key(&AfiSafi::IPV6_UNICAST));
    }
}
