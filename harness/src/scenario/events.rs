//! The event model of a scenario run: every disruptive step that acted becomes (part of) an
//! event with its kind, targets and a window on the run's one clock (the timeline's wall clock,
//! microseconds since the Unix epoch), so that probe loss and route churn can be attributed to
//! it ([`crate::run`] does the attribution).
//!
//! ```text
//! steps that acted (StepRecord) --group: same kind within 100 ms (several at once)-->
//!   --pair: kill|stop of nodes X, then (as the next event) start of X --> one `restart`-->
//!   --window: [start, min(next event's start, scenario end, start + settle))--> ScenarioEvent
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::EventExpect;
use crate::topology::NodeId;

/// Steps of the same kind starting within this long of the previous one's end act "at once"
/// (several daemons killed together, both links of a node cut together).
pub const AT_ONCE: Duration = Duration::from_millis(100);

/// The longest an event's window lasts when no later event or the scenario end closes it
/// sooner: loss or churn after that is no longer this event's.
pub const SETTLE: Duration = Duration::from_secs(60);

/// What kind of disruption an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A daemon taken down and started again (`restart`, or `kill`/`stop` then `start`).
    Restart,
    /// SIGKILL of a daemon not (yet) started again.
    Kill,
    /// Graceful stop (SIGTERM) of a daemon not (yet) started again.
    Stop,
    /// A daemon started on its own.
    Start,
    LinkDown,
    LinkUp,
    Impair,
    ClearImpairment,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Restart => "restart",
            EventKind::Kill => "kill",
            EventKind::Stop => "stop",
            EventKind::Start => "start",
            EventKind::LinkDown => "link-down",
            EventKind::LinkUp => "link-up",
            EventKind::Impair => "impair",
            EventKind::ClearImpairment => "clear-impairment",
        })
    }
}

/// How a restarted daemon went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartMethod {
    /// SIGKILL: no NOTIFICATION, the RFC 4724 §4.1 restarting-speaker case.
    Kill,
    /// SIGTERM: the daemon closes its sessions (a Cease NOTIFICATION) before exiting.
    Stop,
}

impl fmt::Display for RestartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestartMethod::Kill => "kill -9",
            RestartMethod::Stop => "SIGTERM",
        })
    }
}

/// What closed an event's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowEnd {
    NextEvent,
    ScenarioEnd,
    SettleBound,
}

/// One disruptive step that acted, timed on the timeline's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// Step number in the file, from 1.
    pub step: usize,
    /// `Restart` for a `restart` step; otherwise the step's own kind.
    pub kind: EventKind,
    /// The daemons' nodes, or a link's two end nodes.
    pub nodes: Vec<NodeId>,
    /// Link references as written (`r1t1-s1`, `l3`); empty for daemon actions.
    pub links: Vec<String>,
    /// When the action began (µs since the Unix epoch).
    pub start_us: u64,
    /// A `restart` step: when the daemon was started again.
    pub up_us: Option<u64>,
    /// When the action returned.
    pub end_us: u64,
    pub expect: Option<EventExpect>,
}

/// One event and its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioEvent {
    pub kind: EventKind,
    /// Restarts only.
    pub method: Option<RestartMethod>,
    pub nodes: Vec<NodeId>,
    pub links: Vec<String>,
    /// The steps it is made of (numbers from 1).
    pub steps: Vec<usize>,
    pub start_us: u64,
    pub end_us: u64,
    pub end: WindowEnd,
    /// Restarts: how long the daemons were down (from the kill or stop to the start).
    pub down: Option<Duration>,
    pub expect: Option<EventExpect>,
}

impl ScenarioEvent {
    /// The window's length.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.end_us.saturating_sub(self.start_us))
    }

    /// Whether `ts_us` falls in `[start, end)`.
    pub fn contains(&self, ts_us: u64) -> bool {
        ts_us >= self.start_us && ts_us < self.end_us
    }

    /// What the event acted on, for one line: nodes for daemon actions, links otherwise.
    pub fn targets(&self) -> String {
        if self.links.is_empty() {
            join(&self.nodes)
        } else {
            self.links.join(",")
        }
    }
}

fn join(nodes: &[NodeId]) -> String {
    nodes
        .iter()
        .map(NodeId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Steps acting together.
struct Group {
    kind: EventKind,
    nodes: Vec<NodeId>,
    links: Vec<String>,
    steps: Vec<usize>,
    start_us: u64,
    up_us: Option<u64>,
    end_us: u64,
    expect: Option<EventExpect>,
}

impl Group {
    fn of(r: &StepRecord) -> Group {
        Group {
            kind: r.kind,
            nodes: r.nodes.clone(),
            links: r.links.clone(),
            steps: vec![r.step],
            start_us: r.start_us,
            up_us: r.up_us,
            end_us: r.end_us,
            expect: r.expect.clone(),
        }
    }

    /// Takes `r` in when it is the same kind of action, begun within [`AT_ONCE`] of the
    /// group's last action returning. A `restart` step waits its delay, so two are never
    /// "at once".
    fn absorb(&mut self, r: &StepRecord) -> bool {
        if r.kind != self.kind
            || r.kind == EventKind::Restart
            || r.start_us > self.end_us.saturating_add(micros(AT_ONCE))
        {
            return false;
        }
        for n in &r.nodes {
            if !self.nodes.contains(n) {
                self.nodes.push(n.clone());
            }
        }
        self.links.extend(r.links.iter().cloned());
        self.steps.push(r.step);
        self.end_us = self.end_us.max(r.end_us);
        if self.expect.is_none() {
            self.expect = r.expect.clone();
        }
        true
    }

    fn same_nodes(&self, o: &Group) -> bool {
        let mut a = self.nodes.clone();
        let mut b = o.nodes.clone();
        a.sort();
        b.sort();
        a == b
    }
}

/// The events of the steps that acted (in execution order); `scenario_end_us` is when the
/// last step returned, `settle` bounds every window (see [`SETTLE`]).
pub fn events_from_records(
    records: &[StepRecord],
    scenario_end_us: u64,
    settle: Duration,
) -> Vec<ScenarioEvent> {
    let mut groups: Vec<Group> = Vec::new();
    for r in records {
        if let Some(g) = groups.last_mut() {
            if g.absorb(r) {
                continue;
            }
        }
        groups.push(Group::of(r));
    }
    // A kill or stop followed directly by the start of the same daemons is one restart: what
    // the fabric went through from the moment they went down until the next disruption.
    let mut merged: Vec<(Group, Option<RestartMethod>, Option<Duration>)> = Vec::new();
    let mut it = groups.into_iter().peekable();
    while let Some(g) = it.next() {
        let method = match g.kind {
            EventKind::Kill => Some(RestartMethod::Kill),
            EventKind::Stop | EventKind::Restart => Some(RestartMethod::Stop),
            _ => None,
        };
        let pairs = matches!(g.kind, EventKind::Kill | EventKind::Stop)
            && it
                .peek()
                .is_some_and(|n| n.kind == EventKind::Start && n.same_nodes(&g));
        if pairs {
            if let Some(start) = it.next() {
                let down = Duration::from_micros(start.start_us.saturating_sub(g.start_us));
                let mut g = g;
                g.kind = EventKind::Restart;
                g.steps.extend(start.steps);
                g.end_us = start.end_us;
                if g.expect.is_none() {
                    g.expect = start.expect;
                }
                merged.push((g, method, Some(down)));
            }
            continue;
        }
        let down = g
            .up_us
            .map(|up| Duration::from_micros(up.saturating_sub(g.start_us)));
        let method = if g.kind == EventKind::Restart {
            method
        } else {
            None
        };
        merged.push((g, method, down));
    }
    let starts: Vec<u64> = merged.iter().map(|(g, _, _)| g.start_us).collect();
    merged
        .into_iter()
        .enumerate()
        .map(|(i, (g, method, down))| {
            let settle_end = g.start_us.saturating_add(micros(settle));
            let mut end = (scenario_end_us.max(g.start_us), WindowEnd::ScenarioEnd);
            if let Some(next) = starts.get(i + 1) {
                if *next <= end.0 {
                    end = (*next, WindowEnd::NextEvent);
                }
            }
            if settle_end < end.0 {
                end = (settle_end, WindowEnd::SettleBound);
            }
            ScenarioEvent {
                kind: g.kind,
                method,
                nodes: g.nodes,
                links: g.links,
                steps: g.steps,
                start_us: g.start_us,
                end_us: end.0,
                end: end.1,
                down,
                expect: g.expect,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(step: usize, kind: EventKind, node: &str, start_ms: u64, took_ms: u64) -> StepRecord {
        StepRecord {
            step,
            kind,
            nodes: vec![NodeId::from(node)],
            links: Vec::new(),
            start_us: start_ms * 1000,
            up_us: None,
            end_us: (start_ms + took_ms) * 1000,
            expect: None,
        }
    }

    #[test]
    fn kill_then_start_of_the_same_node_is_one_restart() {
        let mut kill = rec(1, EventKind::Kill, "r1n1", 0, 5);
        kill.expect = Some(EventExpect {
            max_lost_packets: Some(0),
            ..EventExpect::default()
        });
        let records = vec![
            kill,
            rec(2, EventKind::Start, "r1n1", 300, 40),
            rec(3, EventKind::Kill, "r1n1", 2000, 5),
            rec(4, EventKind::Start, "r1n1", 2300, 40),
        ];
        let ev = events_from_records(&records, 9_000_000, SETTLE);
        assert_eq!(ev.len(), 2);
        let (a, b) = (&ev[0], &ev[1]);
        assert_eq!(a.kind, EventKind::Restart);
        assert_eq!(a.method, Some(RestartMethod::Kill));
        assert_eq!(a.steps, vec![1, 2]);
        assert_eq!(a.down, Some(Duration::from_millis(300)));
        assert_eq!(
            (a.start_us, a.end_us, a.end),
            (0, 2_000_000, WindowEnd::NextEvent)
        );
        assert_eq!(a.expect.as_ref().and_then(|e| e.max_lost_packets), Some(0));
        assert_eq!(b.steps, vec![3, 4]);
        assert_eq!((b.end_us, b.end), (9_000_000, WindowEnd::ScenarioEnd));
        assert!(b.expect.is_none());
        assert!(a.contains(1_999_999) && !a.contains(2_000_000));
    }

    #[test]
    fn a_start_of_another_node_does_not_pair_and_settle_bounds_the_last_window() {
        let records = vec![
            rec(1, EventKind::Kill, "a", 0, 5),
            rec(3, EventKind::Start, "b", 1000, 5),
        ];
        let ev = events_from_records(&records, 500_000_000, Duration::from_secs(10));
        assert_eq!(
            ev.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [EventKind::Kill, EventKind::Start]
        );
        assert_eq!(ev[0].method, None);
        assert_eq!(ev[0].down, None);
        assert_eq!(
            (ev[1].end_us, ev[1].end),
            (11_000_000, WindowEnd::SettleBound)
        );
    }

    #[test]
    fn several_daemons_at_once_are_one_event_and_restart_steps_keep_their_down_time() {
        let mut restart = rec(5, EventKind::Restart, "c", 10_000, 2100);
        restart.up_us = Some(12_050_000);
        let records = vec![
            rec(1, EventKind::Kill, "a", 0, 5),
            rec(2, EventKind::Kill, "b", 50, 5),
            rec(3, EventKind::Start, "b", 2000, 30),
            rec(4, EventKind::Start, "a", 2030, 30),
            restart,
        ];
        let ev = events_from_records(&records, 20_000_000, SETTLE);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert_eq!(ev[0].kind, EventKind::Restart);
        assert_eq!(ev[0].targets(), "a,b");
        assert_eq!(ev[0].steps, vec![1, 2, 3, 4]);
        assert_eq!(ev[0].down, Some(Duration::from_millis(2000)));
        assert_eq!(ev[1].method, Some(RestartMethod::Stop));
        assert_eq!(ev[1].down, Some(Duration::from_millis(2050)));
        assert_eq!(ev[1].duration(), Duration::from_secs(10));
    }

    #[test]
    fn steps_apart_in_time_are_separate_events() {
        let records = vec![
            rec(1, EventKind::Kill, "a", 0, 5),
            rec(2, EventKind::Kill, "b", 500, 5),
        ];
        let ev = events_from_records(&records, 1_000_000, SETTLE);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].end_us, 500_000);
    }
}
