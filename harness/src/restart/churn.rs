//! Route churn on helpers: from the watchers' route log, the `Added`/`Removed` events of a set of
//! prefixes (the restarting node's blocks) per node within a window.
//!
//! A successful graceful restart leaves the helpers' FIBs alone: stale routes keep forwarding
//! (RFC 4724 §4.2) and refreshed routes replace them without a withdraw/re-add (§4.2, stmt 57,
//! 67; F24). A failed or absent one shows a `Removed`, usually followed by a re-`Added`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::fib::reader::{RouteChange, RouteEvent};
use crate::topology::NodeId;

/// One node's events for the watched prefixes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeChurn {
    /// Every event, in arrival order: when, what, which prefix.
    pub events: Vec<(Instant, RouteChange, IpNet)>,
}

impl NodeChurn {
    pub fn added(&self) -> usize {
        self.count(RouteChange::Added)
    }

    pub fn removed(&self) -> usize {
        self.count(RouteChange::Removed)
    }

    fn count(&self, c: RouteChange) -> usize {
        self.events.iter().filter(|(_, e, _)| *e == c).count()
    }

    /// The first `Removed` event.
    pub fn first_removed(&self) -> Option<Instant> {
        self.events
            .iter()
            .find(|(_, c, _)| *c == RouteChange::Removed)
            .map(|(at, _, _)| *at)
    }

    /// The first `Removed` of `prefix`.
    pub fn first_removed_of(&self, prefix: &IpNet) -> Option<Instant> {
        self.events
            .iter()
            .find(|(_, c, p)| *c == RouteChange::Removed && p == prefix)
            .map(|(at, _, _)| *at)
    }

    /// Whether `prefix` was removed and later added again (a flap).
    pub fn flapped(&self, prefix: &IpNet) -> bool {
        let mut removed = false;
        for (_, c, p) in &self.events {
            if p != prefix {
                continue;
            }
            match c {
                RouteChange::Removed => removed = true,
                RouteChange::Added if removed => return true,
                RouteChange::Added => {}
            }
        }
        false
    }
}

/// Churn per node within a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChurnReport {
    pub from: Option<Instant>,
    pub to: Option<Instant>,
    pub nodes: BTreeMap<NodeId, NodeChurn>,
}

impl ChurnReport {
    pub fn removed(&self) -> usize {
        self.nodes.values().map(NodeChurn::removed).sum()
    }

    pub fn added(&self) -> usize {
        self.nodes.values().map(NodeChurn::added).sum()
    }

    /// Nodes that saw at least one `Removed`.
    pub fn nodes_with_removals(&self) -> Vec<&NodeId> {
        self.nodes
            .iter()
            .filter(|(_, c)| c.removed() > 0)
            .map(|(n, _)| n)
            .collect()
    }

    /// The earliest `Removed` on any node.
    pub fn first_removed(&self) -> Option<Instant> {
        self.nodes
            .values()
            .filter_map(NodeChurn::first_removed)
            .min()
    }
}

impl fmt::Display for ChurnReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = self.from;
        for (n, c) in &self.nodes {
            write!(f, "{n}: +{} -{}", c.added(), c.removed())?;
            for (at, ch, p) in c.events.iter().take(8) {
                let rel = origin
                    .map(|o| at.saturating_duration_since(o))
                    .unwrap_or(Duration::ZERO);
                let sign = match ch {
                    RouteChange::Added => '+',
                    RouteChange::Removed => '-',
                };
                write!(f, " [{sign}{p} @{} ms]", rel.as_millis())?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// The events of `prefixes` on `nodes` with `from <= at < to` (`to` = None: until the end of
/// the log). Every node listed appears in the report, with no events if nothing happened.
pub fn prefix_churn(
    log: &[(NodeId, RouteEvent)],
    nodes: &[NodeId],
    prefixes: &[IpNet],
    from: Instant,
    to: Option<Instant>,
) -> ChurnReport {
    let mut out: BTreeMap<NodeId, NodeChurn> = nodes
        .iter()
        .map(|n| (n.clone(), NodeChurn::default()))
        .collect();
    for (node, ev) in log {
        if ev.at < from || to.is_some_and(|t| ev.at >= t) {
            continue;
        }
        let Some(c) = out.get_mut(node) else { continue };
        if prefixes.contains(&ev.route.prefix) {
            c.events.push((ev.at, ev.change, ev.route.prefix));
        }
    }
    ChurnReport {
        from: Some(from),
        to,
        nodes: out,
    }
}

/// Distinct prefixes of one node's FIB by what happened to them within a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixCounts {
    /// Prefixes removed at least once.
    pub removed: u64,
    /// Of those, prefixes added again after a removal (a withdraw/re-add flap).
    pub readded: u64,
    /// Prefixes added (or replaced: netlink reports a replace as an add) without a removal
    /// before it in the window: a next-hop change or a new route.
    pub changed: u64,
}

impl PrefixCounts {
    /// Every prefix that changed in any way.
    pub fn total(&self) -> u64 {
        // A re-added prefix is also counted as removed: count it once.
        self.removed + self.changed
    }

    fn of(events: &BTreeMap<IpNet, Vec<RouteChange>>) -> PrefixCounts {
        let mut c = PrefixCounts::default();
        for changes in events.values() {
            let mut removed = false;
            let (mut readded, mut changed) = (false, false);
            for ch in changes {
                match ch {
                    RouteChange::Removed => removed = true,
                    RouteChange::Added if removed => readded = true,
                    RouteChange::Added => changed = true,
                }
            }
            c.removed += u64::from(removed);
            c.readded += u64::from(readded);
            c.changed += u64::from(changed);
        }
        c
    }
}

/// One node's churn within an event window, split by whose prefixes changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowChurn {
    /// The event's own prefixes (the restarted nodes' blocks and originated routes).
    pub own: PrefixCounts,
    /// Every other prefix.
    pub other: PrefixCounts,
}

/// Churn per node for route events with `from_us <= wall < to_us` (timeline clock, µs since
/// the Unix epoch), split into `own` prefixes and the rest. Nodes without events are absent.
///
/// A successful graceful restart shows `own.removed == 0 && own.readded == 0` on every helper
/// (RFC 4724 §4.2: stale routes stay and are refreshed in place).
pub fn window_churn(
    log: &[(NodeId, RouteEvent)],
    own: &BTreeSet<IpNet>,
    from_us: u64,
    to_us: u64,
) -> BTreeMap<NodeId, WindowChurn> {
    type PerPrefix = BTreeMap<IpNet, Vec<RouteChange>>;
    let mut per: BTreeMap<NodeId, (PerPrefix, PerPrefix)> = BTreeMap::new();
    for (node, ev) in log {
        let ts = crate::timeline::epoch_us(ev.wall);
        if ts < from_us || ts >= to_us {
            continue;
        }
        let (o, x) = per.entry(node.clone()).or_default();
        let side = if own.contains(&ev.route.prefix) { o } else { x };
        side.entry(ev.route.prefix).or_default().push(ev.change);
    }
    per.into_iter()
        .map(|(n, (o, x))| {
            (
                n,
                WindowChurn {
                    own: PrefixCounts::of(&o),
                    other: PrefixCounts::of(&x),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::fib::{FibRoute, RouteKind};

    fn ev(at: Instant, change: RouteChange, prefix: &str) -> RouteEvent {
        let prefix: IpNet = prefix.parse().unwrap_or_else(|e| panic!("{e}"));
        RouteEvent {
            at,
            wall: SystemTime::now(),
            change,
            route: FibRoute::new(prefix, RouteKind::Blackhole),
        }
    }

    #[test]
    fn only_watched_prefixes_nodes_and_window_count() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let (a, b, c) = (NodeId::from("a"), NodeId::from("b"), NodeId::from("c"));
        let log = vec![
            (a.clone(), ev(at(5), RouteChange::Removed, "10.0.0.0/26")), // before the window
            (a.clone(), ev(at(20), RouteChange::Removed, "10.0.0.0/26")),
            (a.clone(), ev(at(30), RouteChange::Added, "10.0.0.0/26")),
            (a.clone(), ev(at(40), RouteChange::Removed, "10.9.0.0/26")), // other prefix
            (b.clone(), ev(at(25), RouteChange::Added, "10.0.0.0/26")),
            (c.clone(), ev(at(25), RouteChange::Removed, "10.0.0.0/26")), // not watched
            (b.clone(), ev(at(200), RouteChange::Removed, "10.0.0.0/26")), // after
        ];
        let p: IpNet = "10.0.0.0/26".parse().unwrap_or_else(|e| panic!("{e}"));
        let r = prefix_churn(&log, &[a.clone(), b.clone()], &[p], at(10), Some(at(100)));
        assert_eq!(r.removed(), 1);
        assert_eq!(r.added(), 2);
        assert_eq!(r.nodes_with_removals(), vec![&a]);
        assert_eq!(r.first_removed(), Some(at(20)));
        let na = r.nodes.get(&a).cloned().unwrap_or_default();
        assert!(na.flapped(&p));
        assert_eq!(na.first_removed_of(&p), Some(at(20)));
        let nb = r.nodes.get(&b).cloned().unwrap_or_default();
        assert!(!nb.flapped(&p), "an Added without a Removed is no flap");
        assert!(!r.nodes.contains_key(&c));
        let text = r.to_string();
        assert!(text.contains("a: +1 -1"), "{text}");
    }

    fn at_wall(us: u64, change: RouteChange, prefix: &str) -> RouteEvent {
        let mut e = ev(Instant::now(), change, prefix);
        e.wall = SystemTime::UNIX_EPOCH + Duration::from_micros(us);
        e
    }

    #[test]
    fn window_churn_splits_own_prefixes_and_classifies_flaps_and_changes() {
        let (h, o) = (NodeId::from("helper"), NodeId::from("other"));
        let own: BTreeSet<IpNet> = ["10.0.0.0/26".parse().unwrap_or_else(|e| panic!("{e}"))]
            .into_iter()
            .collect();
        let log = vec![
            (h.clone(), at_wall(5, RouteChange::Removed, "10.0.0.0/26")), // before
            (h.clone(), at_wall(10, RouteChange::Removed, "10.0.0.0/26")),
            (h.clone(), at_wall(20, RouteChange::Added, "10.0.0.0/26")),
            (h.clone(), at_wall(30, RouteChange::Added, "10.0.1.0/26")), // replace
            (o.clone(), at_wall(40, RouteChange::Removed, "10.0.2.0/26")),
            (o.clone(), at_wall(41, RouteChange::Removed, "10.0.2.0/26")),
            (o.clone(), at_wall(100, RouteChange::Added, "10.0.0.0/26")), // after
        ];
        let c = window_churn(&log, &own, 10, 100);
        let hc = c.get(&h).copied().unwrap_or_default();
        assert_eq!(
            hc.own,
            PrefixCounts {
                removed: 1,
                readded: 1,
                changed: 0
            }
        );
        assert_eq!(hc.other.changed, 1);
        assert_eq!(hc.other.total(), 1);
        let oc = c.get(&o).copied().unwrap_or_default();
        assert_eq!(
            oc.own,
            PrefixCounts::default(),
            "the add after the window is not counted"
        );
        assert_eq!((oc.other.removed, oc.other.readded), (1, 0));
        // An empty window has no nodes at all.
        assert!(window_churn(&log, &own, 50, 60).is_empty());
    }

    #[test]
    fn quiet_nodes_are_listed_with_nothing() {
        let n = NodeId::from("quiet");
        let r = prefix_churn(&[], std::slice::from_ref(&n), &[], Instant::now(), None);
        assert_eq!(r.nodes.get(&n), Some(&NodeChurn::default()));
        assert_eq!(r.removed(), 0);
        assert!(r.first_removed().is_none());
    }
}
