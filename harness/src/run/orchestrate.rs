//! The run itself: one function that owns the lab, the capture, the watchers and the speakers,
//! and releases them in reverse order on every path (the lab guard removes whatever is left).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::capture::{decode_capture, Capture, CaptureConfig, CaptureTarget, WireEvent};
use crate::check::{
    blackholes_check, fib_check, node_exports_check, reachability_check, reachability_jobs,
    tor_fib_size_check, CheckResult,
};
use crate::expect::{expected_fibs, ExpectedFibs};
use crate::fib::reader::read_fib;
use crate::fib::{FamilyFilter, NodeFib};
use crate::lab::netns::rtnetlink_in_netns;
use crate::lab::{preflight, BuildOptions, Lab, LabError};
use crate::speakers::{check_installed, MissingDaemon, SpeakerError, SpeakerInstance};
use crate::topology::{load_with, NodeId, Plan, TopologyError};

use super::convergence::{ConvergenceWatch, WatchError};
use super::options::RunOptions;
use super::report::{NodeReport, RunReport, Timings, Verdict};

/// Why a run could not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Missing(#[from] MissingDaemon),
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("failed to start the speaker of {node}: {source}")]
    Speaker {
        node: NodeId,
        #[source]
        source: SpeakerError,
    },
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error("{0}")]
    Misconfig(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl RunError {
    /// Bad input or environment (exit code 2), as opposed to a fabric that failed to run.
    pub fn is_bad_input(&self) -> bool {
        match self {
            RunError::Topology(_) | RunError::Missing(_) | RunError::Misconfig(_) => true,
            RunError::Lab(e) => e.is_environment(),
            _ => false,
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("[fabriclab] {}", msg.as_ref());
}

/// Runs a fabric end to end and returns its report (the lab is gone when this returns).
pub fn run(opts: &RunOptions) -> Result<RunReport, RunError> {
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

    let artifacts = match &opts.artifacts {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| RunError::Io {
                what: format!("failed to create {}", dir.display()),
                source,
            })?;
            dir.clone()
        }
        None => tempfile::Builder::new()
            .prefix("fabriclab-run-")
            .tempdir()
            .map_err(|source| RunError::Io {
                what: "failed to create a run directory".into(),
                source,
            })?
            .keep(),
    };

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
    progress(format!(
        "lab {} built: {} nodes, {} links, {} pods in {} ms",
        lab.name(),
        plan.nodes.len(),
        plan.links.len(),
        plan.pods.len(),
        ms(build)
    ));

    let outcome = run_in_lab(opts, &plan, &lab, &expected, &artifacts);
    // Speakers are stopped inside run_in_lab; the lab goes now, whatever happened.
    let teardown = lab.teardown();
    let (mut report, passed) = outcome?;
    teardown?;
    report.timings_ms.build = ms(build);
    report.timings_ms.total = ms(started.elapsed());
    if passed && opts.artifacts.is_none() {
        let _ = std::fs::remove_dir_all(&artifacts);
        report.artifacts = None;
    }
    Ok(report)
}

struct Started {
    instances: Vec<SpeakerInstance>,
    t0: Instant,
    duration: Duration,
}

fn start_speakers(
    plan: &Arc<Plan>,
    lab: &Lab,
    opts: &RunOptions,
    dir: &Path,
) -> Result<Started, RunError> {
    let begin = Instant::now();
    let jobs: Vec<(NodeId, PathBuf)> = plan
        .nodes
        .iter()
        .map(|n| Ok((n.id.clone(), lab.netns_path(&n.id)?.to_path_buf())))
        .collect::<Result<_, LabError>>()?;
    let queue = Mutex::new(jobs.into_iter());
    let done: Mutex<Vec<Result<SpeakerInstance, RunError>>> = Mutex::new(Vec::new());
    // Starting mostly waits for daemons to become ready: a few more threads than cores.
    let workers = plan.nodes.len().clamp(1, 8);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some((node, ns)) = next else { break };
                let r =
                    SpeakerInstance::prepare(plan.clone(), &node, ns, dir, opts.speaker.clone())
                        .and_then(|mut inst| inst.start().map(|()| inst))
                        .map_err(|source| RunError::Speaker { node, source });
                done.lock().unwrap_or_else(|p| p.into_inner()).push(r);
            });
        }
    });
    let mut instances = Vec::new();
    let mut first_err = None;
    for r in done.into_inner().unwrap_or_else(|p| p.into_inner()) {
        match r {
            Ok(i) => instances.push(i),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        stop_all(&mut instances);
        return Err(e);
    }
    Ok(Started {
        instances,
        t0: Instant::now(),
        duration: begin.elapsed(),
    })
}

fn stop_all(instances: &mut [SpeakerInstance]) {
    for i in instances.iter_mut() {
        let _ = i.stop(Duration::from_secs(2));
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, RunError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| RunError::Io {
            what: "failed to start the async runtime".into(),
            source,
        })
}

fn run_in_lab(
    opts: &RunOptions,
    plan: &Arc<Plan>,
    lab: &Lab,
    expected: &ExpectedFibs,
    artifacts: &Path,
) -> Result<(RunReport, bool), RunError> {
    let rt = runtime()?;
    let netns_of = |n: &NodeId| lab.netns_path(n).map(Path::to_path_buf).unwrap_or_default();
    let capture = if opts.capture {
        let targets = CaptureTarget::for_links(&plan.links, netns_of);
        match Capture::start(CaptureConfig::new(artifacts.join("pcap")), targets) {
            Ok(c) => Some(c),
            Err(e) => {
                progress(format!("capture disabled: {e}"));
                None
            }
        }
    } else {
        None
    };

    let targets: Vec<(NodeId, PathBuf, NodeFib)> = plan
        .nodes
        .iter()
        .map(|n| {
            (
                n.id.clone(),
                netns_of(&n.id),
                expected.get(&n.id).cloned().unwrap_or_default(),
            )
        })
        .collect();
    let mut watch = rt.block_on(ConvergenceWatch::start(targets))?;

    let mut started = start_speakers(plan, lab, opts, &artifacts.join("nodes"))?;
    progress(format!(
        "{} speakers started in {} ms; waiting up to {} s for convergence",
        started.instances.len(),
        ms(started.duration),
        opts.deadline.as_secs()
    ));
    let converged = rt.block_on(watch.wait_all(opts.deadline));
    let outcome = watch.outcome();
    let convergence = if converged {
        outcome
            .values()
            .filter_map(|n| n.converged_at)
            .max()
            .map(|at| ms(at.saturating_duration_since(started.t0)))
    } else {
        None
    };
    progress(if converged {
        format!("converged: {}", watch.observation())
    } else {
        format!(
            "not converged after {} s: {}",
            opts.deadline.as_secs(),
            watch.observation()
        )
    });
    drop(watch);

    let t_checks = Instant::now();
    let mut checks = Vec::new();
    checks.push(CheckResult::from_details(
        "convergence",
        match convergence {
            Some(c) => format!("every FIB matched the design {c} ms after all speakers started"),
            None => format!("not every FIB matched within {} s", opts.deadline.as_secs()),
        },
        if converged {
            Vec::new()
        } else {
            vec![format!("deadline passed")]
        },
    ));

    let actual = read_all_fibs(&rt, plan, &netns_of)?;
    checks.push(fib_check(expected, &actual));
    checks.push(blackholes_check(plan, &actual));
    checks.push(tor_fib_size_check(plan, expected, &actual));

    let jobs = reachability_jobs(plan);
    match lab.ping_all(&jobs.jobs, opts.ping_timeout) {
        Ok(results) => {
            let outcomes: Vec<(NodeId, std::net::IpAddr, bool)> = results
                .into_iter()
                .flat_map(|(src, outs)| {
                    outs.into_iter()
                        .map(move |o| (src.clone(), o.target, o.rtt.is_some()))
                })
                .collect();
            checks.push(reachability_check(&outcomes));
        }
        Err(e) => checks.push(CheckResult::from_details(
            "reachability",
            "probes could not be sent".into(),
            vec![e.to_string()],
        )),
    }

    stop_all(&mut started.instances);

    match capture {
        Some(c) => match c.stop() {
            Ok(summary) => {
                let mut events: Vec<WireEvent> = Vec::new();
                let mut errors = Vec::new();
                for l in &summary.links {
                    match decode_capture(&l.path, l.link) {
                        Ok((mut ev, _)) => events.append(&mut ev),
                        Err(e) => errors.push(format!("{}: {e}", l.path.display())),
                    }
                }
                events.sort_by_key(|e| e.ts);
                if errors.is_empty() {
                    checks.push(node_exports_check(plan, &events));
                } else {
                    checks.push(CheckResult::from_details(
                        "node-exports",
                        "captures could not be decoded".into(),
                        errors,
                    ));
                }
            }
            Err(e) => checks.push(CheckResult::ignored(
                "node-exports",
                format!("capture failed: {e}"),
            )),
        },
        None => checks.push(CheckResult::ignored(
            "node-exports",
            "capture is off (--no-capture)",
        )),
    }
    let checks_ms = ms(t_checks.elapsed());

    let nodes = plan
        .nodes
        .iter()
        .map(|n| {
            let o = outcome.get(&n.id);
            NodeReport {
                node: n.id.clone(),
                role: n.role,
                speaker: n.speaker,
                expected_routes: expected.get(&n.id).map(NodeFib::len).unwrap_or(0),
                actual_routes: actual.get(&n.id).map(NodeFib::len).unwrap_or(0),
                converged_ms: o
                    .and_then(|o| o.converged_at)
                    .map(|at| ms(at.saturating_duration_since(started.t0))),
                route_events: o.map(|o| o.events).unwrap_or(0),
            }
        })
        .collect();
    let mut speakers = BTreeMap::new();
    for n in &plan.nodes {
        speakers.entry(n.role).or_insert(n.speaker);
    }
    let verdict = RunReport::verdict_of(&checks);
    let report = RunReport {
        version: env!("CARGO_PKG_VERSION").to_string(),
        topology: opts.topology.clone(),
        plan: plan.name.clone(),
        design: plan.design,
        lab: lab.name().to_string(),
        run_id: lab.run_id().to_string(),
        speakers,
        timings_ms: Timings {
            build: 0,
            speakers_start: ms(started.duration),
            convergence,
            checks: checks_ms,
            total: 0,
        },
        nodes,
        checks,
        verdict,
        artifacts: Some(artifacts.to_path_buf()),
    };
    Ok((report, verdict == Verdict::Pass))
}

fn read_all_fibs(
    rt: &tokio::runtime::Runtime,
    plan: &Plan,
    netns_of: &dyn Fn(&NodeId) -> PathBuf,
) -> Result<BTreeMap<NodeId, NodeFib>, RunError> {
    rt.block_on(async {
        let mut out = BTreeMap::new();
        for n in &plan.nodes {
            let ns = netns_of(&n.id);
            let handle = rtnetlink_in_netns(&ns)
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
