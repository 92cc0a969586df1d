//! Attribution of probe loss and route churn to a scenario's events (pure: the inputs are the
//! finished probe, the watchers' route log and the plan, all placed on the timeline's clock).
//!
//! ```text
//! ScenarioEvent windows [start_us, end_us)
//!   + ProbeReport (sends by time)         --> per flow and total: sent, lost, longest gap
//!   + route log (wall clock per event)    --> per node: own / other prefixes removed,
//!                                             re-added, changed
//!   + the step checks made in the window  --> expect_checks
//!   + the step's `expect-event`           --> expect_failures, expect_held, a check
//! ```
//!
//! Windows never overlap, so per-event losses add up to at most the flows' totals (packets sent
//! before the first event, or after a settle bound, belong to no event).

use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::check::{CheckResult, CheckStatus};
use crate::fib::reader::RouteEvent;
use crate::restart::churn::window_churn;
use crate::restart::probe::{FlowSpec, ProbeReport, WindowStats};
use crate::scenario::events::ScenarioEvent;
use crate::topology::{NodeId, Plan};

use super::report::{EventCheck, EventChurn, EventFlowLoss, EventReport};

/// What the attribution reads.
pub struct EventInputs<'a> {
    pub plan: &'a Plan,
    /// The finished probe and its flows (None when no flow could run).
    pub probe: Option<(&'a ProbeReport, &'a [FlowSpec])>,
    pub route_log: &'a [(NodeId, RouteEvent)],
    /// The scenario steps' checks with when each was made (µs since the Unix epoch).
    pub checks: &'a [CheckResult],
    pub check_times: &'a [(String, u64)],
    /// When the scenario's first step began (µs since the Unix epoch).
    pub scenario_start_us: u64,
}

fn ms(us: u64) -> u64 {
    us / 1000
}

fn dur_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The prefixes `nodes` originate: their blocks (both families) and other originated routes.
pub fn own_prefixes(plan: &Plan, nodes: &[NodeId]) -> BTreeSet<IpNet> {
    plan.nodes
        .iter()
        .filter(|n| nodes.contains(&n.id))
        .flat_map(|n| {
            n.blocks
                .iter()
                .map(|b| IpNet::V4(*b))
                .chain(n.blocks_v6.iter().map(|b| IpNet::V6(*b)))
                .chain(n.originates.iter().map(|b| IpNet::V4(*b)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The BGP peers of `nodes` (not themselves): the graceful-restart helpers of a restart.
pub fn helpers(plan: &Plan, nodes: &[NodeId]) -> BTreeSet<NodeId> {
    let mut out = BTreeSet::new();
    for s in &plan.sessions {
        if nodes.contains(&s.a.node) {
            out.insert(s.b.node.clone());
        }
        if nodes.contains(&s.b.node) {
            out.insert(s.a.node.clone());
        }
    }
    out.retain(|n| !nodes.contains(n));
    out
}

/// Loss, churn and expectations of every event.
pub fn event_reports(events: &[ScenarioEvent], inp: &EventInputs<'_>) -> Vec<EventReport> {
    events.iter().map(|e| event_report(e, inp)).collect()
}

fn event_report(e: &ScenarioEvent, inp: &EventInputs<'_>) -> EventReport {
    let mut flows = Vec::new();
    let mut total = WindowStats::default();
    if let Some((probe, specs)) = inp.probe {
        let window_start = probe.offset_us(e.start_us);
        for (id, w) in probe.per_flow_us(e.start_us, e.end_us) {
            let Some(spec) = specs.iter().find(|s| s.id == id) else {
                continue;
            };
            total = total.merge(w);
            flows.push(EventFlowLoss {
                src: spec.src.clone(),
                dst: spec.dst.clone(),
                sent: w.sent,
                received: w.received,
                lost: w.lost,
                longest_gap_ms: dur_ms(w.longest_gap),
                longest_gap_start_ms: dur_ms(w.longest_gap_start.saturating_sub(window_start)),
            });
        }
        total.longest_gap_start = total.longest_gap_start.saturating_sub(window_start);
    }
    let own = own_prefixes(inp.plan, &e.nodes);
    // Helpers are a daemon's BGP peers; a link event has none (its ends are the event).
    let helpers = if e.links.is_empty() {
        helpers(inp.plan, &e.nodes)
    } else {
        BTreeSet::new()
    };
    let mut per = window_churn(inp.route_log, &own, e.start_us, e.end_us);
    // Helpers are listed even when quiet: "no churn" is the finding for a graceful restart.
    for h in &helpers {
        per.entry(h.clone()).or_default();
    }
    let churn: Vec<EventChurn> = per
        .into_iter()
        .map(|(node, c)| EventChurn {
            helper: helpers.contains(&node),
            node,
            own_removed: c.own.removed,
            own_readded: c.own.readded,
            own_changed: c.own.changed,
            other_removed: c.other.removed,
            other_readded: c.other.readded,
            other_changed: c.other.changed,
        })
        .collect();
    let expect_checks: Vec<EventCheck> = inp
        .check_times
        .iter()
        .filter(|(name, at)| e.contains(*at) && name.contains("-expect-"))
        .filter_map(|(name, _)| {
            let c = inp.checks.iter().find(|c| &c.name == name)?;
            Some(EventCheck {
                name: name.clone(),
                status: c.status,
            })
        })
        .collect();
    let mut r = EventReport {
        kind: e.kind,
        method: e.method,
        nodes: e.nodes.clone(),
        links: e.links.clone(),
        steps: e.steps.clone(),
        start_us: e.start_us,
        end_us: e.end_us,
        start_ms: ms(e.start_us.saturating_sub(inp.scenario_start_us)),
        duration_ms: dur_ms(e.duration()),
        window_end: e.end,
        down_ms: e.down.map(dur_ms),
        sent: total.sent,
        received: total.received,
        lost: total.lost,
        longest_gap_ms: dur_ms(total.longest_gap),
        longest_gap_start_ms: dur_ms(total.longest_gap_start),
        flows,
        own_prefixes: own.len(),
        churn,
        expect: e.expect.clone(),
        expect_failures: Vec::new(),
        expect_checks,
        expect_held: None,
    };
    r.expect_failures = expectation_failures(&r);
    let checks_held = r
        .expect_checks
        .iter()
        .all(|c| c.status != CheckStatus::Fail);
    if r.expect.is_some() || !r.expect_checks.is_empty() {
        r.expect_held = Some(r.expect_failures.is_empty() && checks_held);
    }
    r
}

/// How the event broke its `expect-event` (empty when it held or nothing was expected).
fn expectation_failures(r: &EventReport) -> Vec<String> {
    let Some(x) = &r.expect else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let measured = !r.flows.is_empty();
    if let Some(max) = x.max_lost_packets {
        if !measured {
            out.push("no probe flows ran: loss not measured".to_string());
        } else if r.lost > max {
            out.push(format!("{} packets lost (max {max})", r.lost));
        }
    }
    if let Some(max) = x.max_gap_ms {
        if !measured && x.max_lost_packets.is_none() {
            out.push("no probe flows ran: gap not measured".to_string());
        } else if measured && r.longest_gap_ms > max {
            out.push(format!(
                "{} ms without packets from +{} ms (max {max} ms)",
                r.longest_gap_ms, r.longest_gap_start_ms
            ));
        }
    }
    if let Some(kept) = x.routes_kept {
        let flapped: Vec<String> = r
            .churn
            .iter()
            .filter(|c| c.helper && (c.own_removed > 0 || c.own_readded > 0))
            .map(|c| format!("{} -{}/+{}", c.node, c.own_removed, c.own_readded))
            .collect();
        if kept && !flapped.is_empty() {
            // RFC 4724 §4.2: the helper retains the restarting speaker's routes.
            out.push(format!(
                "helpers withdrew or re-added the event's routes: {}",
                flapped.join(", ")
            ));
        } else if !kept && flapped.is_empty() {
            out.push("no helper withdrew the event's routes".to_string());
        }
    }
    out
}

/// One check per event with an `expect-event`, named `step<N>-expect-event` after the event's
/// first step; ignored (with the reason) when only the missing probe stood in the way.
pub fn expectation_checks(reports: &[EventReport]) -> Vec<CheckResult> {
    reports
        .iter()
        .filter(|r| r.expect.is_some())
        .map(|r| {
            let name = format!(
                "step{}-expect-event",
                r.steps.first().copied().unwrap_or_default()
            );
            let summary = r.line();
            if !r.expect_failures.is_empty()
                && r.flows.is_empty()
                && r.expect_failures
                    .iter()
                    .all(|f| f.starts_with("no probe flows"))
            {
                CheckResult::ignored(
                    &name,
                    "no probe flows ran (fewer than two racks with pods?)",
                )
            } else {
                CheckResult::from_details(&name, summary, r.expect_failures.clone())
            }
        })
        .collect()
}

/// Per node, the events of the route log: for callers holding the log's lock.
pub fn route_log_snapshot(log: &super::RouteLog) -> Vec<(NodeId, RouteEvent)> {
    log.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::{Duration, Instant, SystemTime};

    use super::*;
    use crate::fib::reader::RouteChange;
    use crate::fib::{FibRoute, RouteKind};
    use crate::restart::probe::{FlowReport, ProbeConfig};
    use crate::scenario::events::{events_from_records, EventKind, StepRecord, WindowEnd, SETTLE};
    use crate::scenario::EventExpect;
    use crate::topology::parse;

    const TOPO: &str = "design: as-per-rack\nspines: 2\nracks:\n  - { nodes: 2 }\n  - { nodes: 2 }\npods-per-node: 1\n";
    const S: u64 = 1_000_000;

    fn wall(us: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_micros(us)
    }

    fn route(node: &str, us: u64, change: RouteChange, prefix: IpNet) -> (NodeId, RouteEvent) {
        (
            NodeId::from(node),
            RouteEvent {
                at: Instant::now(),
                wall: wall(us),
                change,
                route: FibRoute::new(prefix, RouteKind::Blackhole),
            },
        )
    }

    fn spec(id: u32, src: &str, dst: &str) -> FlowSpec {
        FlowSpec {
            id,
            src: NodeId::from(src),
            dst: NodeId::from(dst),
            dst_addr: Ipv4Addr::LOCALHOST,
            port: 40000,
        }
    }

    /// A flow sending every 100 ms from offset 0 to 5.9 s, losing the packets sent at `lost`
    /// (ms offsets); arrivals 1 ms after sending.
    fn flow(id: u32, lost: &[u64]) -> FlowReport {
        let sent: Vec<Duration> = (0..60).map(|i| Duration::from_millis(i * 100)).collect();
        let received = (0..60u64)
            .filter(|i| !lost.contains(&(i * 100)))
            .map(|i| (i, Duration::from_millis(i * 100 + 1)))
            .collect();
        FlowReport {
            spec: spec(id, "a", "b"),
            sent,
            received,
        }
    }

    fn record(step: usize, kind: EventKind, node: &str, start_us: u64) -> StepRecord {
        StepRecord {
            step,
            kind,
            nodes: vec![NodeId::from(node)],
            links: Vec::new(),
            start_us,
            up_us: None,
            end_us: start_us + 5000,
            expect: None,
        }
    }

    #[test]
    fn loss_and_churn_land_in_their_event_windows() {
        let plan = parse(TOPO, "t.yaml").expect("plan");
        let r1n1 = NodeId::from("r1n1");
        let block = own_prefixes(&plan, std::slice::from_ref(&r1n1))
            .into_iter()
            .next()
            .expect("r1n1 has a block");
        let helper = helpers(&plan, std::slice::from_ref(&r1n1))
            .into_iter()
            .next()
            .expect("r1n1 has a BGP peer");
        assert!(
            !helper.as_str().contains("n"),
            "a node's peer is a router: {helper}"
        );
        // Probe epoch at 0.5 s on the timeline: offsets 0..500 ms precede every event.
        let probe = ProbeReport {
            epoch: Instant::now(),
            epoch_wall: wall(S / 2),
            config: ProbeConfig::default(),
            // Flow 0: one loss before any event (200), four in the restart (1000..=1300 ->
            // timeline 1.5-1.8 s), one in the second restart (3500 -> 4.0 s).
            // Flow 1: nothing lost.
            flows: vec![flow(0, &[200, 1000, 1100, 1200, 1300, 3500]), flow(1, &[])],
        };
        let specs = [spec(0, "r1n1-p1", "r2n1-p1"), spec(1, "r2n1-p1", "r1n1-p1")];
        let mut kill = record(1, EventKind::Kill, "r1n1", S);
        kill.expect = Some(EventExpect {
            max_lost_packets: Some(10),
            routes_kept: Some(true),
            ..EventExpect::default()
        });
        let mut kill2 = record(3, EventKind::Kill, "r1n1", 3 * S);
        kill2.expect = Some(EventExpect {
            max_lost_packets: Some(0),
            routes_kept: Some(true),
            ..EventExpect::default()
        });
        let records = vec![
            kill,
            record(2, EventKind::Start, "r1n1", 3 * S),
            kill2,
            record(4, EventKind::Start, "r1n1", 4 * S),
        ];
        let windows = events_from_records(&records, 6 * S, SETTLE);
        let log = vec![
            route(helper.as_str(), S / 2, RouteChange::Removed, block), // before
            route(helper.as_str(), 1_200_000, RouteChange::Removed, block),
            route(helper.as_str(), 2_800_000, RouteChange::Added, block),
            route(
                "r2n1",
                1_300_000,
                RouteChange::Added,
                "10.9.0.0/26".parse().expect("net"),
            ),
        ];
        let step_checks = [CheckResult::from_details(
            "step5-expect-loss",
            "1/4 lost".into(),
            vec!["x".into()],
        )];
        let inputs = EventInputs {
            plan: &plan,
            probe: Some((&probe, &specs)),
            route_log: &log,
            checks: &step_checks,
            check_times: &[("step5-expect-loss".into(), 5 * S)],
            scenario_start_us: S,
        };
        let reports = event_reports(&windows, &inputs);
        assert_eq!(reports.len(), 2);
        let (a, b) = (&reports[0], &reports[1]);
        // The first restart: two flows, 20 packets each in [1 s, 3 s); 4 lost on flow 0.
        assert_eq!((a.kind, a.down_ms), (EventKind::Restart, Some(2000)));
        assert_eq!((a.sent, a.lost, a.flows.len()), (40, 4, 2));
        assert_eq!(a.longest_gap_ms, 500, "{a:?}");
        assert_eq!(
            a.longest_gap_start_ms, 401,
            "the last arrival before the gap: {a:?}"
        );
        assert_eq!(a.window_end, WindowEnd::NextEvent);
        let h = a
            .churn
            .iter()
            .find(|c| c.node == helper)
            .expect("helper listed");
        assert!(h.helper);
        assert_eq!((h.own_removed, h.own_readded), (1, 1));
        let other = a
            .churn
            .iter()
            .find(|c| c.node.as_str() == "r2n1")
            .expect("r2n1");
        assert_eq!((other.helper, other.other_changed), (false, 1));
        assert_eq!(a.expect_held, Some(false));
        assert_eq!(a.expect_failures.len(), 1, "{:?}", a.expect_failures);
        assert!(a.expect_failures[0].contains("withdrew"));
        let line = a.line();
        assert!(
            line.starts_with("restart r1n1 (kill -9, down 2.0 s) at +0 ms for 2.0 s: lost 4 pkts (500 ms max gap at +401 ms) over 2 flows"),
            "{line}"
        );
        assert!(
            line.contains(&format!("{helper} -1/+1 of r1n1's routes")),
            "{line}"
        );
        assert!(line.contains("EXPECT-EVENT FAILED"), "{line}");
        // The second: one packet lost, the helper quiet (listed with nothing), and the
        // scenario's failed expect-loss inside its window.
        assert_eq!(b.lost, 1);
        assert_eq!(b.window_end, WindowEnd::ScenarioEnd);
        let hb = b
            .churn
            .iter()
            .find(|c| c.node == helper)
            .expect("quiet helper listed");
        assert_eq!((hb.own_removed, hb.own_readded), (0, 0));
        assert_eq!(b.expect_checks.len(), 1);
        assert_eq!(
            b.expect_failures,
            vec!["1 packets lost (max 0)".to_string()]
        );
        // Per-event losses never exceed the flows' totals (the loss before the first event
        // belongs to none).
        let total: u64 = probe.total().lost;
        assert_eq!(total, 6);
        assert!(reports.iter().map(|r| r.lost).sum::<u64>() < total);
        let checks = expectation_checks(&reports);
        assert_eq!(
            checks
                .iter()
                .map(|c| (c.name.as_str(), c.failed()))
                .collect::<Vec<_>>(),
            [("step1-expect-event", true), ("step3-expect-event", true)]
        );
    }

    #[test]
    fn a_quiet_graceful_restart_holds_and_no_probe_means_ignored() {
        let plan = parse(TOPO, "t.yaml").expect("plan");
        let mut kill = record(1, EventKind::Kill, "r2n1", S);
        kill.expect = Some(EventExpect {
            max_lost_packets: Some(0),
            routes_kept: Some(true),
            ..EventExpect::default()
        });
        let windows = events_from_records(
            &[kill, record(2, EventKind::Start, "r2n1", 3 * S)],
            4 * S,
            SETTLE,
        );
        let probe = ProbeReport {
            epoch: Instant::now(),
            epoch_wall: wall(S),
            config: ProbeConfig::default(),
            flows: vec![flow(0, &[])],
        };
        let specs = [spec(0, "a", "b")];
        let mut inputs = EventInputs {
            plan: &plan,
            probe: Some((&probe, &specs)),
            route_log: &[],
            checks: &[],
            check_times: &[],
            scenario_start_us: S,
        };
        let r = event_reports(&windows, &inputs);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].lost, r[0].expect_held), (0, Some(true)));
        assert!(r[0].churn.iter().all(|c| c.helper), "{:?}", r[0].churn);
        assert!(!r[0].churn.is_empty());
        let checks = expectation_checks(&r);
        assert!(checks.iter().all(CheckResult::passed), "{checks:?}");
        assert!(
            r[0].line().ends_with("0 other; expect-event held"),
            "{}",
            r[0].line()
        );
        inputs.probe = None;
        let r = event_reports(&windows, &inputs);
        assert_eq!(r[0].expect_held, Some(false));
        let checks = expectation_checks(&r);
        assert_eq!(checks.first().map(|c| c.status), Some(CheckStatus::Ignored));
    }

    #[test]
    fn link_events_have_no_helpers_and_name_the_nodes_that_changed() {
        let plan = parse(TOPO, "t.yaml").expect("plan");
        let mut down = record(1, EventKind::LinkDown, "r1t1", S);
        down.nodes.push(NodeId::from("s1"));
        down.links = vec!["r1t1-s1".into()];
        let windows = events_from_records(&[down], 3 * S, SETTLE);
        let p = |s: &str| -> IpNet { s.parse().expect("net") };
        let log = vec![
            route("s1", 1_100_000, RouteChange::Removed, p("10.0.0.0/26")),
            route("s1", 1_100_000, RouteChange::Removed, p("10.0.0.64/26")),
            route("r2t1", 1_200_000, RouteChange::Added, p("10.0.0.0/26")),
        ];
        let r = event_reports(
            &windows,
            &EventInputs {
                plan: &plan,
                probe: None,
                route_log: &log,
                checks: &[],
                check_times: &[],
                scenario_start_us: S,
            },
        );
        let e = r.first().expect("one event");
        assert!(e.churn.iter().all(|c| !c.helper), "{:?}", e.churn);
        assert_eq!(e.expect_held, None);
        let line = e.line();
        assert!(
            line.ends_with("no probe flows; churn: 3 prefixes changed on 2 nodes (s1 2, r2t1 1)"),
            "{line}"
        );
        assert!(
            line.starts_with("link-down r1t1-s1 at +0 ms for 2.0 s"),
            "{line}"
        );
    }
}
