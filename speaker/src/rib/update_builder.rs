//! Turn a peer's queued Adj-RIB-Out changes into grouped updates (BIRD's "buckets"): one
//! [`OutUpdate::Announce`] per distinct attribute set carrying all its prefixes, one
//! [`OutUpdate::Withdraw`] per family with every withdrawn prefix, End-of-RIB after the initial
//! table (RFC 4724 §2), paced by the MinRouteAdvertisementInterval (RFC 4271 §9.2.1.1).
//!
//! These are not yet BGP messages: an `Announce` may hold more prefixes than fit in 4096 bytes.
//! The daemon's encoder splits each item into as many UPDATEs as needed (same attributes in
//! each), which is the only place that knows the negotiated encoding (4-octet AS, ADD-PATH,
//! extended message).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fabric_bgp_wire::AfiSafi;
use ipnet::IpNet;

use crate::rib::adj_out::AdjRibOut;
use crate::rib::attrs::PathAttrs;

/// One unit of output towards a peer, to be encoded as one or more UPDATE messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutUpdate {
    /// Withdraw these prefixes (withdrawn routes field for IPv4 unicast, MP_UNREACH_NLRI
    /// otherwise).
    Withdraw {
        /// Address family.
        family: AfiSafi,
        /// Prefixes, in order.
        prefixes: Vec<IpNet>,
    },
    /// Announce these prefixes, all with these attributes (NLRI field for IPv4 unicast,
    /// MP_REACH_NLRI otherwise; the next hop is `attrs.next_hop`).
    Announce {
        /// Address family.
        family: AfiSafi,
        /// Attributes, already transformed for this peer.
        attrs: Arc<PathAttrs>,
        /// Prefixes, in order.
        prefixes: Vec<IpNet>,
    },
    /// End-of-RIB marker for the family (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an
    /// MP_UNREACH_NLRI with no NLRI otherwise.
    EndOfRib {
        /// Address family.
        family: AfiSafi,
    },
}

impl OutUpdate {
    /// Number of prefixes carried.
    pub fn prefix_count(&self) -> usize {
        match self {
            OutUpdate::Withdraw { prefixes, .. } | OutUpdate::Announce { prefixes, .. } => {
                prefixes.len()
            }
            OutUpdate::EndOfRib { .. } => 0,
        }
    }
}

/// When the peer's queue may next be flushed, if it has anything queued: `now` if it is ready,
/// else when the MRAI expires.
pub(crate) fn deadline(out: &AdjRibOut, mrai: Duration, now: Instant) -> Option<Instant> {
    if !out.has_pending() {
        return None;
    }
    match out.last_flush {
        Some(t) if !ready(out, now, mrai) => Some(t + mrai),
        _ => Some(now),
    }
}

/// Whether the queue may be flushed at `now`.
fn ready(out: &AdjRibOut, now: Instant, mrai: Duration) -> bool {
    match out.last_flush {
        Some(t) if !mrai.is_zero() => now >= t + mrai,
        _ => true,
    }
}

/// Flush the queue if MRAI allows: returns the updates to send (and records them as sent), or
/// `None` if there is nothing to send or the interval has not elapsed.
pub(crate) fn flush(out: &mut AdjRibOut, now: Instant, mrai: Duration) -> Option<Vec<OutUpdate>> {
    if !out.has_pending() || !ready(out, now, mrai) {
        return None;
    }
    let mut updates = Vec::new();
    for (family, f) in out.families.iter_mut() {
        let mut withdrawn = Vec::new();
        let mut groups: Vec<(Arc<PathAttrs>, Vec<IpNet>)> = Vec::new();
        let mut group_of: HashMap<*const PathAttrs, usize> = HashMap::new();
        for (prefix, desired) in std::mem::take(&mut f.pending).into_entries() {
            match desired {
                None => {
                    if f.sent.remove(&prefix).is_some() {
                        withdrawn.push(prefix);
                    }
                }
                Some(attrs) => {
                    let key = Arc::as_ptr(&attrs);
                    let idx = *group_of.entry(key).or_insert_with(|| {
                        groups.push((Arc::clone(&attrs), Vec::new()));
                        groups.len() - 1
                    });
                    if let Some((_, prefixes)) = groups.get_mut(idx) {
                        prefixes.push(prefix);
                    }
                    f.sent.insert(prefix, attrs);
                }
            }
        }
        if !withdrawn.is_empty() {
            updates.push(OutUpdate::Withdraw {
                family: *family,
                prefixes: withdrawn,
            });
        }
        updates.extend(
            groups
                .into_iter()
                .map(|(attrs, prefixes)| OutUpdate::Announce {
                    family: *family,
                    attrs,
                    prefixes,
                }),
        );
        // The initial table was queued in full when the session came up, so it is in this batch.
        if std::mem::take(&mut f.eor_pending) {
            updates.push(OutUpdate::EndOfRib { family: *family });
        }
    }
    out.last_flush = Some(now);
    (!updates.is_empty()).then_some(updates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::attrs::{AsPath, PathAttrs};
    use fabric_bgp_wire::Asn;

    fn attrs(asn: u32) -> Arc<PathAttrs> {
        Arc::new(PathAttrs::learned(
            AsPath::sequence([Asn(asn)]),
            "10.0.0.1".parse().unwrap(),
        ))
    }

    #[test]
    fn groups_by_attribute_set_and_ends_with_eor() {
        let fam = AfiSafi::IPV4_UNICAST;
        let mut out = AdjRibOut::for_session(&[fam]);
        let (a, b) = (attrs(1), attrs(2));
        for i in 0..100u8 {
            let p: IpNet = format!("10.{i}.0.0/16").parse().unwrap();
            let which = if i % 2 == 0 { &a } else { &b };
            out.enqueue(fam, p, Some(Arc::clone(which)));
        }
        let now = Instant::now();
        let ups = flush(&mut out, now, Duration::ZERO).unwrap();
        assert_eq!(ups.len(), 3, "{ups:?}");
        let counts: Vec<usize> = ups.iter().map(OutUpdate::prefix_count).collect();
        assert_eq!(counts, vec![50, 50, 0]);
        assert!(matches!(&ups[0], OutUpdate::Announce { attrs, .. } if Arc::ptr_eq(attrs, &a)));
        assert!(matches!(&ups[1], OutUpdate::Announce { attrs, .. } if Arc::ptr_eq(attrs, &b)));
        assert_eq!(ups[2], OutUpdate::EndOfRib { family: fam });
        assert!(flush(&mut out, now, Duration::ZERO).is_none());

        // Withdraw a few: one Withdraw carrying all of them, no second EoR.
        for i in 0..10u8 {
            out.enqueue(fam, format!("10.{i}.0.0/16").parse().unwrap(), None);
        }
        let ups = flush(&mut out, now, Duration::ZERO).unwrap();
        assert_eq!(ups.len(), 1);
        assert_eq!(ups[0].prefix_count(), 10);
        assert!(matches!(ups[0], OutUpdate::Withdraw { .. }));
        assert_eq!(out.sent(fam).count(), 90);
    }

    #[test]
    fn empty_initial_table_still_gets_eor() {
        let mut out = AdjRibOut::for_session(&[AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]);
        let ups = flush(&mut out, Instant::now(), Duration::ZERO).unwrap();
        assert_eq!(
            ups,
            vec![
                OutUpdate::EndOfRib {
                    family: AfiSafi::IPV4_UNICAST
                },
                OutUpdate::EndOfRib {
                    family: AfiSafi::IPV6_UNICAST
                }
            ]
        );
    }

    #[test]
    fn mrai_holds_back_changes_until_interval_elapsed() {
        let fam = AfiSafi::IPV4_UNICAST;
        let mrai = Duration::from_secs(5);
        let mut out = AdjRibOut::for_session(&[fam]);
        let t0 = Instant::now();
        assert!(
            flush(&mut out, t0, mrai).is_some(),
            "initial flush is immediate"
        );
        let a = attrs(1);
        out.enqueue(fam, "10.0.0.0/8".parse().unwrap(), Some(Arc::clone(&a)));
        assert_eq!(deadline(&out, mrai, t0), Some(t0 + mrai));
        assert!(flush(&mut out, t0 + Duration::from_secs(1), mrai).is_none());
        // A second change in the window joins the same batch.
        out.enqueue(fam, "11.0.0.0/8".parse().unwrap(), Some(a));
        let ups = flush(&mut out, t0 + mrai, mrai).unwrap();
        assert_eq!(ups.len(), 1);
        assert_eq!(ups[0].prefix_count(), 2);
        assert_eq!(deadline(&out, mrai, t0 + mrai), None);
    }
}
