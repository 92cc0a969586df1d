//! A running fabric: the lab, the capture, the FIB watchers and a speaker on every node, owned
//! together so that every exit path releases them in reverse order (the lab guard removes
//! whatever is left, even on panic).
//!
//! `fabriclab run` is [`Fabric::up`], [`Fabric::wait_converged`], [`Fabric::checks`],
//! [`Fabric::finish`]; scenarios and restart cases act on the fabric in between (links, speakers,
//! new expectations) through the accessors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::capture::{
    decode_capture, session_reports, tshark_bgp_findings, Capture, CaptureConfig, CaptureTarget,
    TsharkError, TsharkFinding, WireEvent,
};
use crate::check::{
    blackholes_check, fib_check, node_exports_check, reachability_check, reachability_jobs,
    sessions_wire_check, tor_fib_size_check, CheckResult,
};
use crate::expect::{expected_fibs, ExpectedFibs};
use crate::fib::reader::read_fib;
use crate::fib::{FamilyFilter, NodeFib};
use crate::lab::netns::rtnetlink_in_netns;
use crate::lab::{preflight, BuildOptions, Lab, LabError};
use crate::speakers::{check_installed, SpeakerInstance};
use crate::timeline::{self, address_owners, Recorder, TimelineEvent};
use crate::topology::{load_with, NodeId, Plan};

use super::convergence::{ConvergenceWatch, NodeConvergence, RouteLog};
use super::options::RunOptions;
use super::report::{NodeReport, RunReport, Timings};
use super::RunError;

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The outcome of one wait for convergence.
#[derive(Debug, Clone)]
pub struct Convergence {
    /// Every node matched its expected FIB before the deadline.
    pub converged: bool,
    /// From `since` to the last node matching.
    pub elapsed: Option<Duration>,
    pub nodes: BTreeMap<NodeId, NodeConvergence>,
    /// What the watchers saw last (for timeouts).
    pub observation: String,
    /// Resident memory of each node's daemon processes when the wait ended, in KiB.
    pub rss_kib: BTreeMap<NodeId, u64>,
}

/// A built fabric with speakers running.
pub struct Fabric {
    opts: RunOptions,
    plan: Arc<Plan>,
    /// The plan the expectation comes from (differs from `plan` under a misconfiguration).
    expected_plan: Arc<Plan>,
    expected: ExpectedFibs,
    artifacts: PathBuf,
    rt: tokio::runtime::Runtime,
    capture: Option<Capture>,
    watch: ConvergenceWatch,
    speakers: BTreeMap<NodeId, SpeakerInstance>,
    started: Instant,
    build: Duration,
    speakers_start: Duration,
    /// When the last speaker was started: convergence is measured from here.
    t0: Instant,
    /// Harness actions for the timeline.
    recorder: Recorder,
    // Declared last: dropped after the speakers, capture and watchers.
    lab: Lab,
}

impl Fabric {
    /// Loads the topology, builds the lab, starts the capture and the FIB watchers, then a
    /// speaker on every node. Returns as soon as every speaker is ready (not converged).
    pub fn up(opts: &RunOptions) -> Result<Fabric, RunError> {
        let started = Instant::now();
        let loaded = load_with(&opts.topology, &opts.load)?;
        let (expected_plan, plan) = match opts.misconfig {
            Some(m) => m.apply(&loaded).map_err(RunError::Misconfig)?,
            None => (loaded.clone(), loaded),
        };
        let plan = Arc::new(plan);
        preflight()?;
        let kinds: BTreeSet<_> = plan.nodes.iter().map(|n| n.speaker).collect();
        for k in &kinds {
            check_installed(*k)?;
        }
        let expected = expected_fibs(&expected_plan);
        let expected_plan = Arc::new(expected_plan);
        let artifacts = artifacts_dir(opts)?;

        let t_build = Instant::now();
        let lab = Lab::build(
            &plan,
            BuildOptions {
                name: opts.name.clone(),
                topology: Some(opts.topology.clone()),
                ..BuildOptions::default()
            },
        )?;
        let build = t_build.elapsed();
        let recorder = Recorder::new();
        recorder.note(
            "lab-built",
            None,
            format!(
                "lab {} built: {} nodes, {} links, {} pods",
                lab.name(),
                plan.nodes.len(),
                plan.links.len(),
                plan.pods.len()
            ),
        );
        crate::progress::line(format!(
            "lab {} built: {} nodes, {} links, {} pods in {} ms",
            lab.name(),
            plan.nodes.len(),
            plan.links.len(),
            plan.pods.len(),
            ms(build)
        ));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|source| RunError::Io {
                what: "failed to start the async runtime".into(),
                source,
            })?;
        let netns: BTreeMap<NodeId, PathBuf> = plan
            .nodes
            .iter()
            .map(|n| Ok((n.id.clone(), lab.netns_path(&n.id)?.to_path_buf())))
            .collect::<Result<_, LabError>>()?;
        let capture = if opts.capture {
            let targets = CaptureTarget::for_links(&plan.links, |n| {
                netns.get(n).cloned().unwrap_or_default()
            });
            match Capture::start(CaptureConfig::new(artifacts.join("pcap")), targets) {
                Ok(c) => Some(c),
                Err(e) => {
                    crate::progress::line(format!("capture disabled: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let targets: Vec<(NodeId, PathBuf, NodeFib)> = netns
            .iter()
            .map(|(n, ns)| {
                (
                    n.clone(),
                    ns.clone(),
                    expected.get(n).cloned().unwrap_or_default(),
                )
            })
            .collect();
        let watch = rt.block_on(ConvergenceWatch::start(targets, opts.record_events))?;
        let (speakers, speakers_start) =
            start_speakers(&plan, &netns, opts, &artifacts.join("nodes"), &recorder)?;
        crate::progress::line(format!(
            "{} speakers started in {} ms",
            speakers.len(),
            ms(speakers_start)
        ));
        Ok(Fabric {
            opts: opts.clone(),
            plan,
            expected_plan,
            expected,
            artifacts,
            rt,
            capture,
            watch,
            speakers,
            started,
            build,
            speakers_start,
            t0: Instant::now(),
            recorder,
            lab,
        })
    }

    /// The run options the fabric was started with.
    pub fn options(&self) -> &RunOptions {
        &self.opts
    }

    /// Where harness actions are recorded for the timeline (scenarios add theirs here).
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Keeps the lab and its daemons running after this process exits (`fabriclab exec`, then
    /// `fabriclab down NAME`). The capture and the watchers stop; returns the lab's name.
    pub fn keep(self) -> Result<String, RunError> {
        let Fabric {
            mut lab,
            speakers,
            capture,
            watch,
            ..
        } = self;
        drop(watch);
        if let Some(c) = capture {
            let _ = c.stop();
        }
        lab.keep()?;
        // The daemons must outlive their supervisors: `fabriclab down` kills every process in
        // the lab's namespaces.
        for s in speakers.into_values() {
            std::mem::forget(s);
        }
        Ok(lab.name().to_string())
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The plan the design prescribes (what expectations are computed from; the daemons run
    /// [`Fabric::plan`], which differs under a misconfiguration).
    pub fn expected_plan(&self) -> &Plan {
        &self.expected_plan
    }

    pub fn expected(&self) -> &ExpectedFibs {
        &self.expected
    }

    /// Directory holding captures (`pcap/`) and daemon run dirs (`nodes/<node>/<daemon>/`).
    pub fn artifacts(&self) -> &Path {
        &self.artifacts
    }

    /// When the last speaker was started.
    pub fn t0(&self) -> Instant {
        self.t0
    }

    /// The speaker of `node` (to kill, stop, restart it, or query its neighbors).
    pub fn speaker_mut(&mut self, node: &NodeId) -> Option<&mut SpeakerInstance> {
        self.speakers.get_mut(node)
    }

    /// Route events recorded by the watchers (when `RunOptions::record_events`).
    pub fn route_log(&self) -> Option<RouteLog> {
        self.watch.log()
    }

    /// Replaces what the FIBs must converge to (a scenario changed the fabric).
    pub fn set_expected(&mut self, expected: ExpectedFibs) {
        self.watch.set_expected(&expected);
        self.expected = expected;
    }

    /// Waits (event-driven) until every FIB matches the expectation or `timeout` passes;
    /// `elapsed` is measured from `since`.
    pub fn wait_converged(&mut self, since: Instant, timeout: Duration) -> Convergence {
        let converged = self.rt.block_on(self.watch.wait_all(timeout));
        self.recorder.note(
            if converged {
                "converged"
            } else {
                "not-converged"
            },
            None,
            self.watch.observation(),
        );
        let nodes = self.watch.outcome();
        let elapsed = if converged {
            nodes
                .values()
                .filter_map(|n| n.converged_at)
                .max()
                .map(|at| at.saturating_duration_since(since))
        } else {
            None
        };
        let rss_kib = self
            .speakers
            .iter()
            .map(|(n, s)| {
                let kib = s.pids().iter().filter_map(|(_, pid)| rss_kib(*pid)).sum();
                (n.clone(), kib)
            })
            .collect();
        Convergence {
            converged,
            elapsed,
            nodes,
            observation: self.watch.observation(),
            rss_kib,
        }
    }

    /// Every node's FIB, read once over netlink (compared families only).
    pub fn read_fibs(&self) -> Result<BTreeMap<NodeId, NodeFib>, RunError> {
        let lab = &self.lab;
        self.rt.block_on(async {
            let mut out = BTreeMap::new();
            for n in &self.plan.nodes {
                let ns = lab.netns_path(&n.id)?;
                let handle = rtnetlink_in_netns(ns)
                    .await
                    .map_err(|source| RunError::Io {
                        what: format!("failed to open netlink in {}", n.id),
                        source,
                    })?;
                let fib = read_fib(&handle).await.map_err(|e| RunError::Io {
                    what: format!("failed to read the FIB of {}", n.id),
                    source: std::io::Error::other(e.to_string()),
                })?;
                out.insert(n.id.clone(), fib.fib.filtered(FamilyFilter::Ipv4));
            }
            Ok(out)
        })
    }

    /// The state checks: FIB equals the expectation, blackholes, ToR FIB size, pod
    /// reachability. Returns the FIBs read, for the report.
    pub fn checks(&self) -> Result<(Vec<CheckResult>, BTreeMap<NodeId, NodeFib>), RunError> {
        let actual = self.read_fibs()?;
        let mut checks = vec![
            fib_check(&self.expected, &actual),
            blackholes_check(&self.plan, &actual),
            tor_fib_size_check(&self.plan, &self.expected, &actual),
        ];
        let jobs = reachability_jobs(&self.plan);
        checks.push(
            match self.lab.ping_all(&jobs.jobs, self.opts.ping_timeout) {
                Ok(results) => {
                    let outcomes: Vec<(NodeId, std::net::IpAddr, bool)> = results
                        .into_iter()
                        .flat_map(|(src, outs)| {
                            outs.into_iter()
                                .map(move |o| (src.clone(), o.target, o.rtt.is_some()))
                        })
                        .collect();
                    reachability_check(&outcomes)
                }
                Err(e) => CheckResult::from_details(
                    "reachability",
                    "probes could not be sent".into(),
                    vec![e.to_string()],
                ),
            },
        );
        for c in &checks {
            self.recorder.note_check(c);
        }
        Ok((checks, actual))
    }

    /// Stops every speaker (gracefully), stops the capture and runs the wire checks on it,
    /// tears the lab down, and assembles the report with `checks` plus the wire checks.
    pub fn finish(
        self,
        checks: Vec<CheckResult>,
        convergence: &Convergence,
        actual: &BTreeMap<NodeId, NodeFib>,
    ) -> Result<RunReport, RunError> {
        let explicit = self.opts.artifacts.is_some();
        let (mut report, evidence) = self.finish_with_evidence(checks, convergence, actual)?;
        let keep = report.verdict == super::Verdict::Fail || explicit;
        if !keep {
            let _ = std::fs::remove_dir_all(&evidence.artifacts);
            report.artifacts = None;
        }
        Ok(report)
    }

    /// [`Fabric::finish`], keeping everything a failure bundle needs: the artifacts directory
    /// is never removed here (the caller bundles it, then removes it when it was temporary),
    /// and the merged timeline is written to `<artifacts>/timeline.jsonl`.
    pub fn finish_with_evidence(
        mut self,
        mut checks: Vec<CheckResult>,
        convergence: &Convergence,
        actual: &BTreeMap<NodeId, NodeFib>,
    ) -> Result<(RunReport, Evidence), RunError> {
        let t_finish = Instant::now();
        stop_all(&mut self.speakers);
        for node in self.speakers.keys() {
            self.recorder
                .note("daemon-stopped", Some(node), "end of run (SIGTERM)");
        }
        let mut wire_events = Vec::new();
        let wire = match self.capture.take() {
            Some(c) => wire_checks(&self.plan, c, self.opts.tshark, &mut wire_events),
            None => ["node-exports", "sessions-wire"]
                .iter()
                .map(|n| CheckResult::ignored(n, "capture is off (--no-capture)"))
                .collect(),
        };
        // The other checks were recorded when they ran.
        for c in &wire {
            self.recorder.note_check(c);
        }
        checks.extend(wire);
        let owners = address_owners(&self.plan);
        let mut events = self.recorder.events();
        events.extend(wire_events.iter().map(|e| TimelineEvent::wire(e, &owners)));
        if let Some(log) = self.watch.log() {
            let log = log.lock().unwrap_or_else(|p| p.into_inner());
            events.extend(log.iter().map(|(n, e)| TimelineEvent::route(n, e)));
        }
        let events = timeline::merge(events);
        let timeline_path = self.artifacts.join("timeline.jsonl");
        timeline::write_jsonl(&timeline_path, &events).map_err(|source| RunError::Io {
            what: format!("failed to write {}", timeline_path.display()),
            source,
        })?;
        let nodes = self
            .plan
            .nodes
            .iter()
            .map(|n| {
                let o = convergence.nodes.get(&n.id);
                NodeReport {
                    node: n.id.clone(),
                    role: n.role,
                    speaker: n.speaker,
                    expected_routes: self.expected.get(&n.id).map(NodeFib::len).unwrap_or(0),
                    actual_routes: actual.get(&n.id).map(NodeFib::len).unwrap_or(0),
                    converged_ms: o
                        .and_then(|o| o.converged_at)
                        .map(|at| ms(at.saturating_duration_since(self.t0))),
                    route_events: o.map(|o| o.events).unwrap_or(0),
                    rss_kib: convergence.rss_kib.get(&n.id).copied(),
                }
            })
            .collect();
        let mut speakers = BTreeMap::new();
        for n in &self.plan.nodes {
            speakers.entry(n.role).or_insert(n.speaker);
        }
        let verdict = RunReport::verdict_of(&checks);
        let lab_name = self.lab.name().to_string();
        let run_id = self.lab.run_id().to_string();
        let Fabric {
            opts,
            plan,
            expected_plan,
            expected,
            artifacts,
            lab,
            speakers: instances,
            watch,
            started,
            build,
            speakers_start,
            ..
        } = self;
        drop(instances);
        drop(watch);
        lab.teardown()?;
        let report = RunReport {
            version: env!("CARGO_PKG_VERSION").to_string(),
            topology: opts.topology.clone(),
            plan: plan.name.clone(),
            design: plan.design,
            lab: lab_name,
            run_id,
            speakers,
            timings_ms: Timings {
                build: ms(build),
                speakers_start: ms(speakers_start),
                convergence: convergence.elapsed.map(ms),
                checks: ms(t_finish.elapsed()),
                total: ms(started.elapsed()),
            },
            nodes,
            checks,
            verdict,
            artifacts: Some(artifacts.clone()),
            speakers_rss_kib: convergence.rss_kib.values().sum(),
            flows: Vec::new(),
            churn: Vec::new(),
            events: Vec::new(),
        };
        let evidence = Evidence {
            plan: Arc::unwrap_or_clone(plan),
            expected_plan: Arc::unwrap_or_clone(expected_plan),
            expected,
            actual: actual.clone(),
            timeline: events,
            artifacts,
        };
        Ok((report, evidence))
    }
}

/// What a finished run leaves for bundles and reports.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The plan the daemons were configured from (with the misconfiguration, if any).
    pub plan: Plan,
    /// The plan the expectation comes from.
    pub expected_plan: Plan,
    /// The FIBs the fabric had to hold at the end.
    pub expected: ExpectedFibs,
    /// The FIBs read at the end.
    pub actual: BTreeMap<NodeId, NodeFib>,
    /// Harness actions, BGP messages and route events, in time order.
    pub timeline: Vec<TimelineEvent>,
    /// Captures (`pcap/`), daemon dirs (`nodes/`) and `timeline.jsonl`.
    pub artifacts: PathBuf,
}

fn artifacts_dir(opts: &RunOptions) -> Result<PathBuf, RunError> {
    match &opts.artifacts {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| RunError::Io {
                what: format!("failed to create {}", dir.display()),
                source,
            })?;
            Ok(dir.clone())
        }
        None => Ok(tempfile::Builder::new()
            .prefix("fabriclab-run-")
            .tempdir()
            .map_err(|source| RunError::Io {
                what: "failed to create a run directory".into(),
                source,
            })?
            .keep()),
    }
}

fn start_speakers(
    plan: &Arc<Plan>,
    netns: &BTreeMap<NodeId, PathBuf>,
    opts: &RunOptions,
    dir: &Path,
    recorder: &Recorder,
) -> Result<(BTreeMap<NodeId, SpeakerInstance>, Duration), RunError> {
    let begin = Instant::now();
    let queue = Mutex::new(netns.iter());
    let done: Mutex<Vec<Result<SpeakerInstance, RunError>>> = Mutex::new(Vec::new());
    // Starting mostly waits for daemons to become ready: a few more threads than cores.
    let workers = plan.nodes.len().clamp(1, 8);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some((node, ns)) = next else { break };
                let r = SpeakerInstance::prepare(
                    plan.clone(),
                    node,
                    ns.clone(),
                    dir,
                    opts.speaker.clone(),
                )
                .and_then(|mut inst| inst.start().map(|()| inst))
                .inspect(|inst| {
                    let pids: Vec<String> = inst
                        .pids()
                        .iter()
                        .map(|(n, p)| format!("{n}={p}"))
                        .collect();
                    recorder.note(
                        "daemon-started",
                        Some(node),
                        format!("{} started ({})", inst.adapter().kind(), pids.join(", ")),
                    );
                })
                .map_err(|source| RunError::Speaker {
                    node: node.clone(),
                    source,
                });
                let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
                done.push(r);
                crate::progress::counter("speakers ready", done.len(), netns.len());
            });
        }
    });
    let mut instances = BTreeMap::new();
    let mut first_err = None;
    for r in done.into_inner().unwrap_or_else(|p| p.into_inner()) {
        match r {
            Ok(i) => {
                instances.insert(i.node().clone(), i);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        for i in instances.values_mut() {
            let _ = i.stop(Duration::from_secs(2));
        }
        return Err(e);
    }
    Ok((instances, begin.elapsed()))
}

/// Stops the capture, decodes every link and checks what the nodes announced.
fn wire_checks(
    plan: &Plan,
    capture: Capture,
    tshark: bool,
    out: &mut Vec<WireEvent>,
) -> Vec<CheckResult> {
    let summary = match capture.stop() {
        Ok(s) => s,
        Err(e) => {
            return ["node-exports", "sessions-wire"]
                .iter()
                .map(|n| CheckResult::ignored(n, format!("capture failed: {e}")))
                .collect()
        }
    };
    let mut events: Vec<WireEvent> = Vec::new();
    let mut errors = Vec::new();
    for l in &summary.links {
        match decode_capture(&l.path, l.link) {
            Ok((mut ev, _)) => events.append(&mut ev),
            Err(e) => errors.push(format!("{}: {e}", l.path.display())),
        }
    }
    events.sort_by_key(|e| e.ts);
    let mut checks = if errors.is_empty() {
        vec![
            node_exports_check(plan, &events),
            sessions_wire_check(plan, &session_reports(&events)),
        ]
    } else {
        ["node-exports", "sessions-wire"]
            .iter()
            .map(|n| {
                CheckResult::from_details(n, "captures could not be decoded".into(), errors.clone())
            })
            .collect()
    };
    if tshark {
        let files: Vec<PathBuf> = summary.links.iter().map(|l| l.path.clone()).collect();
        checks.push(tshark_check(&files));
    }
    *out = events;
    checks
}

/// Every captured BGP message decodes in tshark without a malformed or protocol expert item.
/// TCP-level items (sequence analysis around a link cut) are not BGP errors and are left out.
fn tshark_check(files: &[PathBuf]) -> CheckResult {
    type Outcome = (PathBuf, Result<Vec<TsharkFinding>, TsharkError>);
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let queue = Mutex::new(files.iter());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some(f) = next else { break };
                let r = tshark_bgp_findings(f);
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((f.clone(), r));
            });
        }
    });
    let mut details = Vec::new();
    for (file, r) in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match r {
            Err(TsharkError::Missing(why)) => return CheckResult::ignored("tshark", why),
            Err(e) => details.push(format!("{name}: {e}")),
            Ok(findings) => {
                for f in findings {
                    for item in f.items.iter().filter(|i| i.group != "sequence") {
                        details.push(format!(
                            "{name} frame {}: {} {} {} ({})",
                            f.frame, item.severity, item.group, item.message, f.info
                        ));
                    }
                }
            }
        }
    }
    details.sort();
    CheckResult::from_details(
        "tshark",
        format!(
            "{} captures decoded by tshark: no malformed BGP message",
            files.len()
        ),
        details,
    )
}

/// Resident set size of a process, in KiB (`VmRSS` of `/proc/PID/status`).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Stops every speaker (SIGTERM, 2 s grace, then SIGKILL), several at once: each stop mostly
/// waits for a daemon to exit, and one after the other that adds up on large fabrics.
fn stop_all(speakers: &mut BTreeMap<NodeId, SpeakerInstance>) {
    let mut all: Vec<&mut SpeakerInstance> = speakers.values_mut().collect();
    let per = all.len().div_ceil(16).max(1);
    std::thread::scope(|s| {
        for chunk in all.chunks_mut(per) {
            s.spawn(move || {
                for sp in chunk.iter_mut() {
                    let _ = sp.stop(Duration::from_secs(2));
                }
            });
        }
    });
}
