//! Running a scenario's steps on a converged fabric.
//!
//! Waiting for a scheduled moment (`at:`, `restart` delay, `sleep`) is the schedule itself, not
//! a wait for a condition; every wait for a condition goes through the FIB watchers
//! ([`Fabric::wait_converged`]) or a probe.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::check::{reachability_check, reachability_jobs, CheckResult};
use crate::expect::expected_fibs;
use crate::lab::{Impairment, LinkEnd, LinkState};
use crate::run::Fabric;
use crate::timeline::epoch_us;
use crate::topology::{LinkId, NodeId, Plan};

use super::events::{EventKind, StepRecord};
use super::{resolve_link, without_links, Action, Scenario, Step, When};

/// What the steps changed so far (for recomputing expectations), and when they acted.
#[derive(Debug, Clone, Default)]
pub struct ScenarioState {
    /// Links currently down (administratively, both ends).
    pub down: BTreeSet<LinkId>,
    /// Every disruptive step that acted, timed on the timeline's clock (the events' input).
    pub records: Vec<StepRecord>,
    /// Every check a step made, with when it was made (µs since the Unix epoch).
    pub check_times: Vec<(String, u64)>,
    /// When the first step began and the last one returned (µs since the Unix epoch).
    pub start_us: u64,
    pub end_us: u64,
}

/// Runs every step of `scenario` in order; `converged_at` is the end of the initial
/// convergence (what `at:` counts from), `deadline` bounds `after: converged`. Returns the
/// steps' checks. At the end the fabric's expectation reflects the links left down.
pub fn run_steps(
    fabric: &mut Fabric,
    scenario: &Scenario,
    converged_at: Instant,
    deadline: Duration,
) -> (Vec<CheckResult>, ScenarioState) {
    let mut state = ScenarioState {
        start_us: epoch_us(SystemTime::now()),
        ..ScenarioState::default()
    };
    let mut checks = Vec::new();
    fabric.recorder().note(
        "scenario",
        None,
        format!(
            "scenario {} starts ({} steps)",
            scenario.name,
            scenario.steps.len()
        ),
    );
    for (i, step) in scenario.steps.iter().enumerate() {
        let name = format!("step{}-{}", i + 1, step.action.name());
        match step.when {
            When::Next => {}
            When::At(at) => {
                let target = converged_at + at;
                let now = Instant::now();
                if target > now {
                    std::thread::sleep(target - now);
                }
            }
            When::AfterConverged => {
                let since = Instant::now();
                let c = fabric.wait_converged(since, deadline);
                if !c.converged {
                    state.check_times.push((
                        format!("step{}-after-converged", i + 1),
                        epoch_us(SystemTime::now()),
                    ));
                    checks.push(CheckResult::from_details(
                        &format!("step{}-after-converged", i + 1),
                        format!("not converged within {} s", deadline.as_secs()),
                        vec![c.observation],
                    ));
                }
            }
        }
        fabric
            .recorder()
            .note("step", None, format!("{name}: {}", describe(step)));
        let start_us = epoch_us(SystemTime::now());
        let check = act(fabric, &mut state, step, &name);
        let end_us = epoch_us(SystemTime::now());
        // A step that could not act (failed or unsupported) disturbed nothing: no event.
        let acted = check.as_ref().is_none_or(|c| c.passed());
        if step.action.is_disruptive() && acted {
            let up_us = restarted_at(fabric, step, start_us);
            if let Some(r) = record(fabric.plan(), step, i + 1, start_us, up_us, end_us) {
                state.records.push(r);
            }
        }
        if let Some(c) = check {
            fabric.recorder().note_check(&c);
            state.check_times.push((c.name.clone(), end_us));
            checks.push(c);
        }
    }
    state.end_us = epoch_us(SystemTime::now());
    let plan = without_links(fabric.expected_plan(), &state.down);
    fabric.set_expected(expected_fibs(&plan));
    (checks, state)
}

/// A `restart` step: when its `daemon-started` note was recorded.
fn restarted_at(fabric: &Fabric, step: &Step, since_us: u64) -> Option<u64> {
    let Action::Restart(n) = &step.action else {
        return None;
    };
    fabric
        .recorder()
        .events()
        .iter()
        .find(|e| {
            e.kind == "daemon-started" && e.node.as_ref() == Some(&n.node) && e.ts_us >= since_us
        })
        .map(|e| e.ts_us)
}

/// The record of a disruptive step that acted (None for other steps).
fn record(
    plan: &Plan,
    step: &Step,
    number: usize,
    start_us: u64,
    up_us: Option<u64>,
    end_us: u64,
) -> Option<StepRecord> {
    let link_ends = |link: &str| -> Vec<NodeId> {
        let mut nodes = Vec::new();
        for id in resolve_link(plan, link).unwrap_or_default() {
            for l in plan.links.iter().filter(|l| l.id == id) {
                for n in [&l.a.node, &l.b.node] {
                    if !nodes.contains(n) {
                        nodes.push(n.clone());
                    }
                }
            }
        }
        nodes
    };
    let (kind, nodes, links) = match &step.action {
        Action::Kill(n) => (EventKind::Kill, vec![n.node.clone()], Vec::new()),
        Action::Stop(n) => (EventKind::Stop, vec![n.node.clone()], Vec::new()),
        Action::Start(n) => (EventKind::Start, vec![n.node.clone()], Vec::new()),
        Action::Restart(n) => (EventKind::Restart, vec![n.node.clone()], Vec::new()),
        Action::LinkDown(l) => (
            EventKind::LinkDown,
            link_ends(&l.link),
            vec![l.link.clone()],
        ),
        Action::LinkUp(l) => (EventKind::LinkUp, link_ends(&l.link), vec![l.link.clone()]),
        Action::Impair(a) => (EventKind::Impair, link_ends(&a.link), vec![a.link.clone()]),
        Action::ClearImpairment(l) => (
            EventKind::ClearImpairment,
            link_ends(&l.link),
            vec![l.link.clone()],
        ),
        _ => return None,
    };
    Some(StepRecord {
        step: number,
        kind,
        nodes,
        links,
        start_us,
        up_us,
        end_us,
        expect: step.expect_event.clone(),
    })
}

fn describe(step: &Step) -> String {
    match &step.action {
        Action::LinkDown(l) | Action::LinkUp(l) | Action::ClearImpairment(l) => {
            format!("{} {}", step.action.name(), l.link)
        }
        Action::Impair(a) => format!(
            "impair {} loss {}% delay {} ms",
            a.link, a.loss_percent, a.delay_ms
        ),
        Action::Kill(n) | Action::Stop(n) | Action::Start(n) | Action::Restart(n) => {
            format!("{} {}", step.action.name(), n.node)
        }
        Action::WaitConverged(w) => format!("wait-converged up to {} s", w.timeout),
        Action::ExpectFib(f) => format!(
            "expect {} {} on {}",
            f.prefix,
            if f.present { "present" } else { "absent" },
            f.node
        ),
        Action::ExpectReachability => "expect every pod to reach every other".into(),
        Action::ExpectLoss(l) => format!("expect at most {}% pod pings lost", l.max),
        Action::Sleep(s) => format!("sleep {} ms", s.ms),
    }
}

fn fail(name: &str, summary: String) -> Option<CheckResult> {
    Some(CheckResult::from_details(
        name,
        summary.clone(),
        vec![summary],
    ))
}

/// Performs one action; returns its check, if it makes one (expectations, waits, failures).
fn act(
    fabric: &mut Fabric,
    state: &mut ScenarioState,
    step: &Step,
    name: &str,
) -> Option<CheckResult> {
    let rec = fabric.recorder().clone();
    match &step.action {
        Action::LinkDown(l) | Action::LinkUp(l) => {
            let down = matches!(step.action, Action::LinkDown(_));
            let ids = match resolve_link(fabric.plan(), &l.link) {
                Ok(ids) => ids,
                Err(e) => return fail(name, e),
            };
            for id in ids {
                let st = if down { LinkState::Down } else { LinkState::Up };
                if let Err(e) = fabric.lab().set_link_state(id, LinkEnd::Both, st) {
                    return fail(name, format!("{} {id}: {e}", step.action.name()));
                }
                let mut ev = crate::timeline::TimelineEvent::harness(
                    step.action.name(),
                    None,
                    format!("{} {id} ({})", step.action.name(), l.link),
                );
                ev.link = Some(id);
                rec.push(ev);
                if down {
                    state.down.insert(id);
                } else {
                    state.down.remove(&id);
                }
            }
            None
        }
        Action::Impair(a) => {
            let ids = match resolve_link(fabric.plan(), &a.link) {
                Ok(ids) => ids,
                Err(e) => return fail(name, e),
            };
            let imp = Impairment {
                delay: Duration::from_millis(a.delay_ms),
                jitter: Duration::ZERO,
                loss_percent: a.loss_percent,
            };
            for id in ids {
                if let Err(e) = fabric.lab().impair(id, LinkEnd::Both, imp) {
                    // Without sch_netem only a 100 % loss blackhole works: the step cannot
                    // run here, which is not a fabric failure.
                    return Some(CheckResult::ignored(
                        name,
                        format!("impairment not supported here: {e}"),
                    ));
                }
                let mut ev = crate::timeline::TimelineEvent::harness(
                    "impair",
                    None,
                    format!("impair {id}: {imp:?}"),
                );
                ev.link = Some(id);
                rec.push(ev);
                // A blackholed link carries no session once hold timers expire: expect the
                // fabric without it (RFC 4271 §6.5).
                if a.loss_percent >= 100.0 {
                    state.down.insert(id);
                }
            }
            None
        }
        Action::ClearImpairment(l) => {
            let ids = match resolve_link(fabric.plan(), &l.link) {
                Ok(ids) => ids,
                Err(e) => return fail(name, e),
            };
            for id in ids {
                if let Err(e) = fabric.lab().clear_impairment(id, LinkEnd::Both) {
                    return fail(name, format!("clear impairment of {id}: {e}"));
                }
                let mut ev = crate::timeline::TimelineEvent::harness(
                    "clear-impairment",
                    None,
                    format!("clear impairment {id}"),
                );
                ev.link = Some(id);
                rec.push(ev);
                state.down.remove(&id);
            }
            None
        }
        Action::Kill(n) | Action::Stop(n) | Action::Start(n) | Action::Restart(n) => {
            speaker_action(fabric, &step.action, &n.node, n, name)
        }
        Action::WaitConverged(w) => {
            let plan = without_links(fabric.expected_plan(), &state.down);
            fabric.set_expected(expected_fibs(&plan));
            let since = Instant::now();
            let c = fabric.wait_converged(since, Duration::from_secs(w.timeout));
            Some(if c.converged {
                CheckResult::from_details(
                    name,
                    format!(
                        "FIBs matched {} ms after the wait began",
                        c.elapsed.map(|d| d.as_millis()).unwrap_or(0)
                    ),
                    Vec::new(),
                )
            } else {
                CheckResult::from_details(
                    name,
                    format!("FIBs did not match within {} s", w.timeout),
                    vec![c.observation],
                )
            })
        }
        Action::ExpectFib(f) => Some(match fabric.read_fibs() {
            Ok(fibs) => {
                let has = fibs.get(&f.node).is_some_and(|fib| fib.contains(&f.prefix));
                let route = fibs
                    .get(&f.node)
                    .and_then(|fib| fib.get(&f.prefix))
                    .map(|r| r.kind.to_string())
                    .unwrap_or_else(|| "no route".into());
                let summary = format!(
                    "{} on {}: {route} (want {})",
                    f.prefix,
                    f.node,
                    if f.present { "present" } else { "absent" }
                );
                if has == f.present {
                    CheckResult::from_details(name, summary, Vec::new())
                } else {
                    CheckResult::from_details(name, summary.clone(), vec![summary])
                }
            }
            Err(e) => CheckResult::from_details(
                name,
                "FIBs could not be read".into(),
                vec![e.to_string()],
            ),
        }),
        Action::ExpectReachability => Some(match pings(fabric) {
            Ok(outcomes) => {
                let mut c = reachability_check(&outcomes);
                c.name = name.to_string();
                c
            }
            Err(e) => CheckResult::from_details(name, "probes could not be sent".into(), vec![e]),
        }),
        Action::ExpectLoss(l) => Some(match pings(fabric) {
            Ok(outcomes) => {
                let total = outcomes.len();
                let lost = outcomes.iter().filter(|(_, _, ok)| !ok).count();
                if total == 0 {
                    CheckResult::ignored(name, "the topology has no pods to probe")
                } else {
                    #[allow(clippy::cast_precision_loss)]
                    let pct = 100.0 * lost as f64 / total as f64;
                    let summary =
                        format!("{lost}/{total} pod pings lost ({pct:.1}%, max {}%)", l.max);
                    if pct <= l.max {
                        CheckResult::from_details(name, summary, Vec::new())
                    } else {
                        CheckResult::from_details(
                            name,
                            summary,
                            outcomes
                                .iter()
                                .filter(|(_, _, ok)| !ok)
                                .map(|(s, d, _)| format!("{s} -> {d}: no answer"))
                                .collect(),
                        )
                    }
                }
            }
            Err(e) => CheckResult::from_details(name, "probes could not be sent".into(), vec![e]),
        }),
        Action::Sleep(s) => {
            std::thread::sleep(Duration::from_millis(s.ms));
            None
        }
    }
}

fn pings(fabric: &Fabric) -> Result<Vec<(NodeId, IpAddr, bool)>, String> {
    let jobs = reachability_jobs(fabric.plan());
    fabric
        .lab()
        .ping_all(&jobs.jobs, fabric.options().ping_timeout)
        .map(|results| {
            results
                .into_iter()
                .flat_map(|(src, outs)| {
                    outs.into_iter()
                        .map(move |o| (src.clone(), o.target, o.rtt.is_some()))
                })
                .collect()
        })
        .map_err(|e| e.to_string())
}

fn speaker_action(
    fabric: &mut Fabric,
    action: &Action,
    node: &NodeId,
    arg: &super::NodeArg,
    name: &str,
) -> Option<CheckResult> {
    let rec = fabric.recorder().clone();
    let Some(sp) = fabric.speaker_mut(node) else {
        return fail(name, format!("{node} has no speaker"));
    };
    let grace = Duration::from_millis(arg.grace_ms.unwrap_or(2000));
    let r: Result<(), String> = match action {
        Action::Kill(_) => sp
            .kill()
            .map(|()| rec.note("daemon-killed", Some(node), "SIGKILL"))
            .map_err(|e| e.to_string()),
        Action::Stop(_) => sp
            .stop(grace)
            .map(|_| rec.note("daemon-stopped", Some(node), "SIGTERM"))
            .map_err(|e| e.to_string()),
        Action::Start(_) => sp
            .start()
            .map(|()| rec.note("daemon-started", Some(node), "started"))
            .map_err(|e| e.to_string()),
        Action::Restart(_) => {
            let stopped = sp.stop(grace).map_err(|e| e.to_string());
            match stopped {
                Ok(_) => {
                    rec.note("daemon-stopped", Some(node), "SIGTERM (restart)");
                    std::thread::sleep(Duration::from_millis(arg.delay_ms.unwrap_or(0)));
                    sp.start()
                        .map(|()| rec.note("daemon-started", Some(node), "started (restart)"))
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e),
            }
        }
        _ => Ok(()),
    };
    match r {
        Ok(()) => None,
        Err(e) => fail(name, format!("{} {node}: {e}", action.name())),
    }
}
