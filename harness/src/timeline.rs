//! One timeline per run: harness actions, BGP messages seen on the wire and netlink route events,
//! merged on one clock (wall clock, microseconds since the Unix epoch: capture timestamps are
//! epoch-based and route events carry a `SystemTime`).
//!
//! File format (`timeline.jsonl`): one JSON object per line, sorted by `ts_us`:
//! - `ts_us`: microseconds since the Unix epoch;
//! - `source`: `harness` | `bgp` | `route`;
//! - `kind`: harness actions (`lab-built`, `daemon-started`, `daemon-stopped`, `daemon-killed`,
//!   `link-down`, `link-up`, `impair`, `converged`, `not-converged`, `check`, `step`), BGP
//!   message types (`OPEN`, `UPDATE`, `NOTIFICATION`, `KEEPALIVE`, `ROUTE-REFRESH`, `STREAM`)
//!   or route changes (`route-add`, `route-del`);
//! - `node` (optional): the node acting (harness), sending (bgp) or whose FIB changed (route);
//! - `peer` (optional): the receiving node of a BGP message;
//! - `link` (optional): link id (`l3`);
//! - `prefixes` (optional): prefixes the event is about (route events, UPDATE NLRI/withdrawn);
//! - `text`: one readable line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fabric_bgp_wire::{Message, MessageType};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::capture::WireEvent;
use crate::fib::reader::{RouteChange, RouteEvent};
use crate::topology::{LinkId, NodeId, Plan};

/// Where a timeline event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Something the harness did or decided.
    Harness,
    /// A BGP message (or stream problem) decoded from a capture.
    Bgp,
    /// A netlink route event in a node's FIB.
    Route,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Harness => "harness",
            Source::Bgp => "bgp",
            Source::Route => "route",
        })
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Microseconds since the Unix epoch.
    pub ts_us: u64,
    pub source: Source,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<NodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<IpNet>,
    pub text: String,
}

/// Microseconds since the Unix epoch of a wall-clock time (0 before the epoch).
pub fn epoch_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl TimelineEvent {
    /// A harness action happening now.
    pub fn harness(kind: &str, node: Option<&NodeId>, text: impl Into<String>) -> Self {
        TimelineEvent {
            ts_us: epoch_us(SystemTime::now()),
            source: Source::Harness,
            kind: kind.to_string(),
            node: node.cloned(),
            peer: None,
            link: None,
            prefixes: Vec::new(),
            text: text.into(),
        }
    }

    /// A route event of `node`'s FIB.
    pub fn route(node: &NodeId, ev: &RouteEvent) -> Self {
        let (kind, verb) = match ev.change {
            RouteChange::Added => ("route-add", "add"),
            RouteChange::Removed => ("route-del", "del"),
        };
        TimelineEvent {
            ts_us: epoch_us(ev.wall),
            source: Source::Route,
            kind: kind.into(),
            node: Some(node.clone()),
            peer: None,
            link: None,
            prefixes: vec![ev.route.prefix],
            text: format!("{verb} {} {}", ev.route.prefix, ev.route.kind),
        }
    }

    /// A BGP message from a capture; `owners` maps link addresses to their nodes.
    pub fn wire(ev: &WireEvent, owners: &BTreeMap<IpAddr, NodeId>) -> Self {
        let kind = match ev.msg_type {
            Some(MessageType::Open) => "OPEN",
            Some(MessageType::Update) => "UPDATE",
            Some(MessageType::Notification) => "NOTIFICATION",
            Some(MessageType::Keepalive) => "KEEPALIVE",
            Some(MessageType::RouteRefresh) => "ROUTE-REFRESH",
            _ => "STREAM",
        };
        let mut prefixes = Vec::new();
        if let Some(Message::Update(u)) = ev.message() {
            prefixes.extend(u.nlri.iter().map(|n| IpNet::V4(n.prefix)));
            prefixes.extend(u.withdrawn.iter().map(|n| IpNet::V4(n.prefix)));
        }
        let node = owners.get(&ev.src.ip()).cloned();
        let peer = owners.get(&ev.dst.ip()).cloned();
        let who = |n: &Option<NodeId>, a: std::net::SocketAddr| {
            n.as_ref()
                .map(|n| n.to_string())
                .unwrap_or_else(|| a.ip().to_string())
        };
        TimelineEvent {
            ts_us: duration_us(ev.ts),
            source: Source::Bgp,
            kind: kind.into(),
            text: format!(
                "{} -> {} {}",
                who(&node, ev.src),
                who(&peer, ev.dst),
                ev.summary()
            ),
            node,
            peer,
            link: Some(ev.link),
            prefixes,
        }
    }

    /// Whether the event concerns `node` (as actor, FIB owner, sender or receiver).
    pub fn involves(&self, node: &NodeId) -> bool {
        self.node.as_ref() == Some(node) || self.peer.as_ref() == Some(node)
    }

    /// Whether the event is about `prefix` (or a prefix containing or contained in it).
    pub fn about(&self, prefix: &IpNet) -> bool {
        self.prefixes
            .iter()
            .any(|p| p.contains(prefix) || prefix.contains(p))
    }
}

/// Link address -> node, for naming the ends of captured BGP connections (loopbacks too, for
/// multihop sessions).
pub fn address_owners(plan: &Plan) -> BTreeMap<IpAddr, NodeId> {
    let mut m = BTreeMap::new();
    for l in &plan.links {
        for e in [&l.a, &l.b] {
            m.insert(IpAddr::V4(e.v4.addr()), e.node.clone());
            m.insert(IpAddr::V6(e.v6.addr()), e.node.clone());
        }
    }
    for n in &plan.nodes {
        m.insert(IpAddr::V4(n.loopback_v4), n.id.clone());
        m.insert(IpAddr::V6(n.loopback_v6), n.id.clone());
    }
    m
}

/// A shared, append-only list of harness actions (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<TimelineEvent>>>);

impl Recorder {
    pub fn new() -> Self {
        Recorder::default()
    }

    /// Records a harness action happening now.
    pub fn note(&self, kind: &str, node: Option<&NodeId>, text: impl Into<String>) {
        self.push(TimelineEvent::harness(kind, node, text));
    }

    /// Records a check's outcome now.
    pub fn note_check(&self, c: &crate::check::CheckResult) {
        self.note(
            "check",
            None,
            format!("{} {:?}: {}", c.name, c.status, c.summary),
        );
    }

    /// Records any event.
    pub fn push(&self, ev: TimelineEvent) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(ev);
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<TimelineEvent> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Sorts events by time; ties keep their order (harness actions before what they caused).
pub fn merge(mut events: Vec<TimelineEvent>) -> Vec<TimelineEvent> {
    events.sort_by_key(|e| e.ts_us);
    events
}

/// Writes the timeline as JSONL.
pub fn write_jsonl(path: &Path, events: &[TimelineEvent]) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for e in events {
        serde_json::to_writer(&mut w, e)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// Why a timeline file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error("failed to read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {source}")]
    Parse {
        path: String,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// Reads a JSONL timeline.
pub fn read_jsonl(path: &Path) -> Result<Vec<TimelineEvent>, TimelineError> {
    let p = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|source| TimelineError::Io {
        path: p.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|source| TimelineError::Io {
            path: p.clone(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line).map_err(|source| TimelineError::Parse {
                path: p.clone(),
                line: i + 1,
                source,
            })?,
        );
    }
    Ok(out)
}

/// Which events to print.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub node: Option<NodeId>,
    pub prefix: Option<IpNet>,
    /// Leave KEEPALIVEs out (they drown everything else).
    pub keepalives: bool,
}

impl Filter {
    /// Whether `e` passes the filter. Harness actions without a node always pass a node filter
    /// (they frame what happened); a prefix filter keeps only events about the prefix plus
    /// harness actions.
    pub fn keeps(&self, e: &TimelineEvent) -> bool {
        if !self.keepalives && e.kind == "KEEPALIVE" {
            return false;
        }
        let harness_frame = e.source == Source::Harness && e.node.is_none();
        if let Some(n) = &self.node {
            if !e.involves(n) && !harness_frame {
                return false;
            }
        }
        if let Some(p) = &self.prefix {
            if e.source != Source::Harness && !e.about(p) {
                return false;
            }
        }
        true
    }
}

/// Readable lines: time relative to the first event, source, node, text.
pub fn render(events: &[TimelineEvent], filter: &Filter) -> String {
    let mut s = String::new();
    let Some(first) = events.first().map(|e| e.ts_us) else {
        return "empty timeline\n".into();
    };
    for e in events.iter().filter(|e| filter.keeps(e)) {
        let rel = e.ts_us.saturating_sub(first);
        let _ = writeln!(
            s,
            "{:>6}.{:03}s  {:<7} {:<12} {}",
            rel / 1_000_000,
            (rel / 1000) % 1000,
            e.source.to_string(),
            e.node.as_ref().map(|n| n.to_string()).unwrap_or_default(),
            if e.source == Source::Harness {
                format!("[{}] {}", e.kind, e.text)
            } else {
                e.text.clone()
            }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: u64, source: Source, node: &str, kind: &str, prefix: Option<&str>) -> TimelineEvent {
        TimelineEvent {
            ts_us: ts,
            source,
            kind: kind.into(),
            node: (!node.is_empty()).then(|| NodeId::from(node)),
            peer: None,
            link: None,
            prefixes: prefix.and_then(|p| p.parse().ok()).into_iter().collect(),
            text: format!("{kind} at {ts}"),
        }
    }

    #[test]
    fn jsonl_round_trip_and_merge_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.jsonl");
        let events = merge(vec![
            ev(30, Source::Route, "r1n1", "route-add", Some("10.0.0.0/26")),
            ev(10, Source::Harness, "", "lab-built", None),
            ev(20, Source::Bgp, "r1t1", "OPEN", None),
        ]);
        assert_eq!(
            events.iter().map(|e| e.ts_us).collect::<Vec<_>>(),
            [10, 20, 30]
        );
        write_jsonl(&path, &events).expect("write");
        let back = read_jsonl(&path).expect("read");
        assert_eq!(back, events);
    }

    #[test]
    fn filters_by_node_and_prefix() {
        let events = vec![
            ev(0, Source::Harness, "", "lab-built", None),
            ev(1, Source::Route, "r1n1", "route-add", Some("10.0.0.0/26")),
            ev(2, Source::Route, "r1n2", "route-add", Some("10.0.0.64/26")),
            ev(3, Source::Bgp, "r1t1", "KEEPALIVE", None),
        ];
        let f = Filter {
            node: Some(NodeId::from("r1n1")),
            ..Filter::default()
        };
        let out = render(&events, &f);
        assert!(out.contains("lab-built"), "{out}");
        assert!(out.contains("route-add at 1"), "{out}");
        assert!(!out.contains("at 2"), "{out}");
        let f = Filter {
            prefix: "10.0.0.64/26".parse().ok(),
            ..Filter::default()
        };
        let out = render(&events, &f);
        assert!(out.contains("at 2") && !out.contains("at 1\n"), "{out}");
        assert!(!out.contains("KEEPALIVE"), "{out}");
    }
}
