//! Expected against actual FIB, prefix by prefix, with a readable report.
//!
//! Only content is compared: prefix, route kind, and for unicast routes the set of (gateway,
//! interface) next hops. Protocol and metric are not: BIRD installs routes and blackholes with
//! `proto bird`, FRR with `proto bgp` or `zebra`, the lab's pod and static routes are
//! `proto boot`/`static`, and any of them may carry a different metric.
//!
//! The actual FIB is expected to come from [`crate::fib::reader`], which already leaves out what
//! the kernel owns (`proto kernel` connected routes, `redirect`, `ra`, cached clones, the local
//! table and every non-main table). Every other protocol is compared. The model covers IPv4
//! unicast only so far: pass the actual FIB through
//! [`NodeFib::filtered`](crate::fib::NodeFib::filtered)`(FamilyFilter::Ipv4)`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::fib::{FibRoute, NextHop, NodeFib, RouteKind};
use crate::topology::NodeId;

use super::model::ExpectedFibs;

/// One disagreement between an expected and an actual FIB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibDiff {
    pub node: NodeId,
    pub prefix: IpNet,
    #[serde(flatten)]
    pub kind: DiffKind,
}

/// How a prefix differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "diff", rename_all = "kebab-case")]
pub enum DiffKind {
    /// Expected but absent.
    Missing { expected: FibRoute },
    /// Present but not expected.
    Unexpected { actual: FibRoute },
    /// Both unicast, with different next-hop sets.
    NextHopsDiffer {
        expected: BTreeSet<NextHop>,
        actual: BTreeSet<NextHop>,
    },
    /// Different route kinds (e.g. blackhole expected, unicast found).
    KindDiffers {
        expected: RouteKind,
        actual: RouteKind,
    },
}

/// Compares one node's expected FIB with its actual one; empty when they agree. Items come in
/// prefix order.
pub fn diff(node: &NodeId, expected: &NodeFib, actual: &NodeFib) -> Vec<FibDiff> {
    let prefixes: BTreeSet<&IpNet> = expected.prefixes().chain(actual.prefixes()).collect();
    let mut out = Vec::new();
    for prefix in prefixes {
        let kind = match (expected.get(prefix), actual.get(prefix)) {
            (Some(e), None) => DiffKind::Missing {
                expected: e.clone(),
            },
            (None, Some(a)) => DiffKind::Unexpected { actual: a.clone() },
            (Some(e), Some(a)) => match (&e.kind, &a.kind) {
                (k1, k2) if k1 == k2 => continue,
                (RouteKind::Unicast { nexthops: en }, RouteKind::Unicast { nexthops: an }) => {
                    DiffKind::NextHopsDiffer {
                        expected: en.clone(),
                        actual: an.clone(),
                    }
                }
                (k1, k2) => DiffKind::KindDiffers {
                    expected: k1.clone(),
                    actual: k2.clone(),
                },
            },
            (None, None) => continue,
        };
        out.push(FibDiff {
            node: node.clone(),
            prefix: *prefix,
            kind,
        });
    }
    out
}

/// Compares every node of `expected` with its actual FIB. A node absent from `actual` is
/// compared with an empty FIB (every route missing); nodes only in `actual` are ignored. Callers
/// that failed to read a node should report that, not call this with a gap.
pub fn diff_all(expected: &ExpectedFibs, actual: &BTreeMap<NodeId, NodeFib>) -> Vec<FibDiff> {
    let empty = NodeFib::new();
    expected
        .iter()
        .flat_map(|(node, fib)| diff(node, fib, actual.get(node).unwrap_or(&empty)))
        .collect()
}

impl fmt::Display for FibDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: ", self.node, self.prefix)?;
        match &self.kind {
            DiffKind::Missing { expected } => write!(f, "missing (expected {})", expected.kind),
            DiffKind::Unexpected { actual } => {
                write!(f, "unexpected ({}", actual.kind)?;
                if let Some(p) = actual.protocol {
                    write!(f, ", proto {p}")?;
                }
                f.write_str(")")
            }
            DiffKind::NextHopsDiffer { expected, actual } => {
                write!(
                    f,
                    "next hops differ: expected {{{}}} actual {{{}}}",
                    list(expected),
                    list(actual)
                )?;
                let lacking: BTreeSet<_> = expected.difference(actual).cloned().collect();
                let extra: BTreeSet<_> = actual.difference(expected).cloned().collect();
                if !lacking.is_empty() {
                    write!(f, "; lacking {{{}}}", list(&lacking))?;
                }
                if !extra.is_empty() {
                    write!(f, "; extra {{{}}}", list(&extra))?;
                }
                Ok(())
            }
            DiffKind::KindDiffers { expected, actual } => {
                write!(f, "kind differs: expected {expected}, actual {actual}")
            }
        }
    }
}

fn list(hops: &BTreeSet<NextHop>) -> String {
    hops.iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per difference, then a count; "FIBs match" when there is none.
pub fn render_diffs(diffs: &[FibDiff]) -> String {
    if diffs.is_empty() {
        return "FIBs match\n".to_string();
    }
    let mut out = String::new();
    for d in diffs {
        out.push_str(&d.to_string());
        out.push('\n');
    }
    let nodes: BTreeSet<&NodeId> = diffs.iter().map(|d| &d.node).collect();
    out.push_str(&format!(
        "{} difference(s) on {} node(s)\n",
        diffs.len(),
        nodes.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::fib::RouteProto;

    fn net(s: &str) -> IpNet {
        s.parse().expect("prefix")
    }

    fn via(gw: &str, dev: &str) -> NextHop {
        NextHop::via(gw.parse::<IpAddr>().expect("address"), dev)
    }

    fn route(p: &str, kind: RouteKind) -> FibRoute {
        FibRoute::new(net(p), kind)
    }

    fn expected() -> NodeFib {
        [
            route("10.1.0.0/26", RouteKind::Blackhole),
            route("10.1.0.1/32", RouteKind::unicast([NextHop::dev("cali0")])),
            route(
                "10.2.0.0/26",
                RouteKind::unicast([via("10.0.0.16", "e0"), via("10.0.0.18", "e1")]),
            ),
            route("10.3.0.0/26", RouteKind::unicast([via("10.0.0.16", "e0")])),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn identical_content_matches_whatever_the_protocol() {
        let mut actual = expected();
        let mut bh = route("10.1.0.0/26", RouteKind::Blackhole);
        bh.protocol = Some(RouteProto::Bird);
        bh.metric = Some(32);
        actual.insert(bh);
        let d = diff(&"r2n1".into(), &expected(), &actual);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(render_diffs(&d), "FIBs match\n");
    }

    #[test]
    fn every_kind_of_difference_is_reported_in_prefix_order() {
        let mut actual = expected();
        actual.remove(&net("10.3.0.0/26"));
        actual.insert(route(
            "10.2.0.0/26",
            RouteKind::unicast([via("10.0.0.16", "e0")]),
        ));
        actual.insert(route("10.1.0.0/26", RouteKind::Unreachable));
        let mut extra = route("10.9.0.0/24", RouteKind::unicast([via("10.0.0.16", "e0")]));
        extra.protocol = Some(RouteProto::Bgp);
        actual.insert(extra);
        let d = diff(&"r2n1".into(), &expected(), &actual);
        let text = render_diffs(&d);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "r2n1 10.1.0.0/26: kind differs: expected blackhole, actual unreachable",
                "r2n1 10.2.0.0/26: next hops differ: expected {via 10.0.0.16 dev e0, via 10.0.0.18 dev e1} \
                 actual {via 10.0.0.16 dev e0}; lacking {via 10.0.0.18 dev e1}",
                "r2n1 10.3.0.0/26: missing (expected via 10.0.0.16 dev e0)",
                "r2n1 10.9.0.0/24: unexpected (via 10.0.0.16 dev e0, proto bgp)",
                "4 difference(s) on 1 node(s)",
            ]
        );
    }

    #[test]
    fn diff_all_treats_an_absent_node_as_empty() {
        let mut exp = ExpectedFibs::new();
        exp.insert("a".into(), expected());
        exp.insert("b".into(), NodeFib::new());
        let mut act = BTreeMap::new();
        act.insert(NodeId::from("b"), expected());
        let d = diff_all(&exp, &act);
        assert_eq!(d.len(), 8);
        assert!(d
            .iter()
            .filter(|x| x.node.as_str() == "a")
            .all(|x| matches!(x.kind, DiffKind::Missing { .. })));
        assert!(d
            .iter()
            .filter(|x| x.node.as_str() == "b")
            .all(|x| matches!(x.kind, DiffKind::Unexpected { .. })));
    }

    #[test]
    fn diffs_serialise_to_json() {
        let mut actual = expected();
        actual.remove(&net("10.3.0.0/26"));
        let d = diff(&"r2n1".into(), &expected(), &actual);
        let json = serde_json::to_string(&d).expect("json");
        assert!(json.contains(r#""diff":"missing""#), "{json}");
        let back: Vec<FibDiff> = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, d);
    }
}
