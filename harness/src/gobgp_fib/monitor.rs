//! Parsing `gobgp monitor global rib -j [--current]` (GoBGP 3.10).
//!
//! Each output line is one `WatchEvent` table event: a JSON array of paths, possibly for several
//! prefixes (the `--current` dump is one line holding the whole RIB). What a line says about a
//! prefix, checked against gobgpd 3.10 (`testdata/`):
//!
//! - without `use-multiple-paths`: the new best path, or the old best with `"withdrawal":true`
//!   when the prefix has no path left;
//! - with `use-multiple-paths`: the whole new multipath set (every path equal to the best in
//!   GoBGP's `Path.Compare`), or the old best with `"withdrawal":true` when nothing is left.
//!
//! So a line *replaces* the state of each prefix it mentions: the paths not marked withdrawn are
//! the new set, and no such path means the prefix is gone. Paths GoBGP originated itself (added
//! through its API) have next hop `0.0.0.0` and no `neighbor-ip`. A CLI that cannot reach the API
//! prints `{"error":"..."}` instead.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use serde::Deserialize;

/// A line that is not what `gobgp monitor -j` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse a `gobgp monitor` line: {reason}: {line}")]
pub struct ParseError {
    /// What was wrong.
    pub reason: String,
    /// The line (shortened).
    pub line: String,
}

/// One path of a monitor line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorPath {
    /// The NLRI.
    pub prefix: Ipv4Net,
    /// The NEXT_HOP (RFC 4271 §5.1.3) or MP_REACH next hop; `0.0.0.0` for GoBGP's own routes.
    pub next_hop: Option<IpAddr>,
    /// The peer the path was learned from; `None` for GoBGP's own routes.
    pub neighbor: Option<IpAddr>,
    /// The AS_PATH, every segment's ASNs in order (the lab has no AS_SETs).
    pub as_path: Vec<u32>,
    /// Learned over iBGP: the path carries LOCAL_PREF, which RFC 4271 §5.1.5 allows only on
    /// internal sessions (GoBGP shows the attribute as received and adds none on eBGP).
    pub ibgp: bool,
    /// The path left the RIB (and nothing replaces it).
    pub withdrawal: bool,
}

impl MonitorPath {
    /// Originated by this GoBGP (through its API): next hop `0.0.0.0` (or none).
    pub fn is_local(&self) -> bool {
        self.next_hop.is_none_or(|nh| nh.is_unspecified())
    }

    /// The neighbouring AS: the first AS of the AS_PATH.
    pub fn neighbor_as(&self) -> Option<u32> {
        self.as_path.first().copied()
    }
}

/// What one line says about one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixState {
    /// The prefix has these paths now, best first (one, or GoBGP's multipath set).
    Paths(Vec<MonitorPath>),
    /// The prefix has no path any more.
    Withdrawn,
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorLine {
    /// The new state of every prefix the line mentions.
    Update(BTreeMap<Ipv4Net, PrefixState>),
    /// `{"error": ...}`: the CLI failed (usually: the API is not reachable).
    Error(String),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawLine {
    Paths(Vec<RawPath>),
    Error { error: String },
}

#[derive(Debug, Deserialize)]
struct RawPath {
    nlri: RawNlri,
    #[serde(default)]
    attrs: Vec<RawAttr>,
    #[serde(default)]
    withdrawal: bool,
    #[serde(default, rename = "neighbor-ip")]
    neighbor_ip: Option<IpAddr>,
}

#[derive(Debug, Deserialize)]
struct RawNlri {
    prefix: String,
}

#[derive(Debug, Deserialize)]
struct RawAttr {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    nexthop: Option<IpAddr>,
    #[serde(default)]
    as_paths: Vec<RawSegment>,
}

#[derive(Debug, Deserialize)]
struct RawSegment {
    #[serde(default)]
    asns: Vec<u32>,
}

/// Path attribute type codes (RFC 4271 §4.3, RFC 4760 §3).
const ATTR_AS_PATH: u8 = 2;
const ATTR_NEXT_HOP: u8 = 3;
const ATTR_LOCAL_PREF: u8 = 5;
const ATTR_MP_REACH: u8 = 14;

fn error(reason: impl Into<String>, line: &str) -> ParseError {
    let mut shown: String = line.chars().take(200).collect();
    if shown.len() < line.len() {
        shown.push_str("...");
    }
    ParseError {
        reason: reason.into(),
        line: shown,
    }
}

/// Parses one line of `gobgp monitor global rib -j`.
pub fn parse_line(line: &str) -> Result<MonitorLine, ParseError> {
    let raw: RawLine = serde_json::from_str(line.trim()).map_err(|e| error(e.to_string(), line))?;
    let paths = match raw {
        RawLine::Error { error } => return Ok(MonitorLine::Error(error)),
        RawLine::Paths(p) => p,
    };
    let mut grouped: BTreeMap<Ipv4Net, Vec<MonitorPath>> = BTreeMap::new();
    for p in paths {
        let prefix: Ipv4Net = p
            .nlri
            .prefix
            .parse()
            .map_err(|_| error(format!("not an IPv4 prefix: {}", p.nlri.prefix), line))?;
        let next_hop = p
            .attrs
            .iter()
            .find(|a| a.kind == ATTR_NEXT_HOP || a.kind == ATTR_MP_REACH)
            .and_then(|a| a.nexthop);
        let as_path = p
            .attrs
            .iter()
            .filter(|a| a.kind == ATTR_AS_PATH)
            .flat_map(|a| a.as_paths.iter().flat_map(|s| s.asns.iter().copied()))
            .collect();
        let ibgp = p.neighbor_ip.is_some() && p.attrs.iter().any(|a| a.kind == ATTR_LOCAL_PREF);
        grouped.entry(prefix).or_default().push(MonitorPath {
            prefix,
            next_hop,
            neighbor: p.neighbor_ip,
            as_path,
            ibgp,
            withdrawal: p.withdrawal,
        });
    }
    Ok(MonitorLine::Update(
        grouped
            .into_iter()
            .map(|(prefix, paths)| {
                let live: Vec<MonitorPath> = paths.into_iter().filter(|p| !p.withdrawal).collect();
                let state = if live.is_empty() {
                    PrefixState::Withdrawn
                } else {
                    PrefixState::Paths(live)
                };
                (prefix, state)
            })
            .collect(),
    ))
}

/// The IPv4 next hops of `paths` in order (the gateways to resolve).
pub fn gateways(paths: &[MonitorPath]) -> impl Iterator<Item = Ipv4Addr> + '_ {
    paths.iter().filter_map(|p| match p.next_hop {
        Some(IpAddr::V4(a)) if !a.is_unspecified() => Some(a),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    //! Lines captured from gobgpd 3.10 in three namespaces: `a` (AS 65001) peering with `b`
    //! (AS 65002, 10.99.0.1) and `c` (10.99.0.3; AS 65003 for the multipath captures, AS 65001
    //! (iBGP) for the best-path ones); `a` originated 10.64.0.0/26 and 0/0 (LOCAL_PREF 50)
    //! through its API.
    use super::*;

    fn lines(text: &str) -> Vec<MonitorLine> {
        text.lines()
            .map(|l| parse_line(l).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    fn update(line: &MonitorLine) -> &BTreeMap<Ipv4Net, PrefixState> {
        match line {
            MonitorLine::Update(u) => u,
            MonitorLine::Error(e) => panic!("error line: {e}"),
        }
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn next_hops(state: Option<&PrefixState>) -> Vec<IpAddr> {
        match state {
            Some(PrefixState::Paths(p)) => p.iter().filter_map(|p| p.next_hop).collect(),
            other => panic!("expected paths, got {other:?}"),
        }
    }

    #[test]
    fn current_dump_with_multipath_holds_every_prefix_and_both_paths() {
        let l = lines(include_str!("testdata/current_dump_multipath.jsonl"));
        assert_eq!(l.len(), 1);
        let u = update(&l[0]);
        assert_eq!(u.len(), 3);
        assert_eq!(
            next_hops(u.get(&net("10.77.0.0/24"))),
            [ip("10.99.0.1"), ip("10.99.0.3")]
        );
        assert_eq!(next_hops(u.get(&net("0.0.0.0/0"))), [ip("10.99.0.1")]);
        match u.get(&net("10.64.0.0/26")) {
            Some(PrefixState::Paths(p)) => {
                assert_eq!(p.len(), 1);
                assert!(p[0].is_local());
                assert_eq!(p[0].neighbor, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn multipath_set_shrinks_grows_and_is_withdrawn() {
        let l = lines(include_str!("testdata/multipath_changes.jsonl"));
        let p = net("10.77.0.0/24");
        let sets: Vec<Option<Vec<IpAddr>>> = l
            .iter()
            .map(|line| match update(line).get(&p) {
                Some(PrefixState::Paths(paths)) => {
                    Some(paths.iter().filter_map(|x| x.next_hop).collect())
                }
                Some(PrefixState::Withdrawn) => None,
                None => panic!("{p} missing"),
            })
            .collect();
        let (b, c) = (ip("10.99.0.1"), ip("10.99.0.3"));
        assert_eq!(
            sets,
            [Some(vec![b]), Some(vec![b, c]), Some(vec![b]), None],
            "c withdraws, c announces, c's session drops, b withdraws"
        );
        match update(&l[1]).get(&p) {
            Some(PrefixState::Paths(paths)) => {
                assert_eq!(paths[1].neighbor, Some(c));
                assert!(!paths[1].is_local());
                // eBGP paths from two neighbouring ASes.
                assert_eq!(paths[0].as_path, [65002]);
                assert_eq!(paths[1].neighbor_as(), Some(65003));
                assert!(!paths[0].ibgp && !paths[1].ibgp);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn local_default_and_local_block_withdrawals() {
        let l = lines(include_str!("testdata/local_withdrawals.jsonl"));
        // b withdrew its default: the best is our own LOCAL_PREF 50 default again.
        match update(&l[0]).get(&net("0.0.0.0/0")) {
            Some(PrefixState::Paths(p)) => {
                // Our own default carries LOCAL_PREF 50 but is not an iBGP path.
                assert!(p.iter().all(|x| x.is_local() && !x.ibgp));
            }
            other => panic!("{other:?}"),
        }
        // Our block deleted through the API.
        assert_eq!(
            update(&l[1]).get(&net("10.64.0.0/26")),
            Some(&PrefixState::Withdrawn)
        );
    }

    #[test]
    fn best_path_mode_lines() {
        let dump = lines(include_str!("testdata/current_dump_best.jsonl"));
        let u = update(&dump[0]);
        assert_eq!(u.len(), 2);
        assert!(u.values().all(|s| matches!(s,
            PrefixState::Paths(p) if p.len() == 1 && p[0].is_local())));
        let l = lines(include_str!("testdata/best_changes.jsonl"));
        // An iBGP path (empty AS_PATH, LOCAL_PREF) from c.
        assert_eq!(
            next_hops(update(&l[0]).get(&net("10.88.0.0/24"))),
            [ip("10.99.0.3")]
        );
        match update(&l[0]).get(&net("10.88.0.0/24")) {
            Some(PrefixState::Paths(p)) => {
                assert!(p[0].ibgp);
                assert!(p[0].as_path.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            next_hops(update(&l[1]).get(&net("10.77.0.0/24"))),
            [ip("10.99.0.1")]
        );
        assert_eq!(
            update(&l[2]).get(&net("10.77.0.0/24")),
            Some(&PrefixState::Withdrawn)
        );
    }

    #[test]
    fn learned_default_replaces_then_falls_back_to_the_local_one() {
        let l = lines(include_str!("testdata/default_fallback.jsonl"));
        let d = net("0.0.0.0/0");
        assert_eq!(next_hops(update(&l[0]).get(&d)), [ip("10.99.0.1")]);
        match update(&l[1]).get(&d) {
            Some(PrefixState::Paths(p)) => assert!(p[0].is_local()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_lines_and_garbage() {
        let l = lines(include_str!("testdata/api_unreachable.jsonl"));
        assert_eq!(
            l,
            [MonitorLine::Error("context deadline exceeded".to_string())]
        );
        assert!(parse_line("not json").is_err());
        assert!(parse_line(r#"[{"nlri":{"prefix":"2001:db8::/32"},"attrs":[]}]"#).is_err());
        let long = format!("[{}", "x".repeat(500));
        let e = parse_line(&long).err().unwrap_or_else(|| panic!("parsed"));
        assert!(e.line.len() < 300, "{}", e.line.len());
    }

    #[test]
    fn mixed_withdrawal_and_path_for_one_prefix_keeps_the_path() {
        let line = r#"[{"nlri":{"prefix":"10.1.0.0/24"},"attrs":[{"type":3,"nexthop":"10.0.0.1"}],"withdrawal":true,"neighbor-ip":"10.0.0.1"},{"nlri":{"prefix":"10.1.0.0/24"},"attrs":[{"type":3,"nexthop":"10.0.0.3"}],"neighbor-ip":"10.0.0.3"}]"#;
        let l = parse_line(line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            next_hops(update(&l).get(&net("10.1.0.0/24"))),
            [ip("10.0.0.3")]
        );
    }

    #[test]
    fn gateways_skip_local_next_hops() {
        let l = lines(include_str!("testdata/current_dump_multipath.jsonl"));
        let all: Vec<MonitorPath> = update(&l[0])
            .values()
            .filter_map(|s| match s {
                PrefixState::Paths(p) => Some(p.clone()),
                PrefixState::Withdrawn => None,
            })
            .flatten()
            .collect();
        let gws: Vec<Ipv4Addr> = gateways(&all).collect();
        assert_eq!(gws.len(), 3);
        assert!(gws.iter().all(|g| !g.is_unspecified()));
    }
}
