//! The lab builder on real namespaces: every topology builds and forwards packets, runtime link
//! operations act on the data plane, and no exit path (normal, failed build, panic, SIGTERM,
//! SIGKILL + `clean`) leaves a namespace, process or record behind.
//!
//! Root-only cases are ignored (with the reason) when not run as root.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use fabriclab::lab::netns::{create_netns, netns_path, rtnetlink_in_netns, spawn_in_netns};
use fabriclab::lab::reaper::leftover_namespaces;
use fabriclab::lab::registry::{self, LabStatus};
use fabriclab::lab::{
    clean, BuildOptions, BuildPhase, CleanScope, Impairment, Lab, LabError, LinkEnd, LinkState,
};
use fabriclab::topology::{self, LinkId, NodeId, Plan};
use fabriclab::wait::{wait_until, Probe};
use fabriclab_suites::{ensure, root_case, run, topology_files, unique_lab_name, Trial};

/// Env var that turns this test binary into a helper process (see [`helper_main`]).
const HELPER_ENV: &str = "FABRICLAB_SUITES_LAB_HELPER";

/// How long pings may take to be answered in a freshly built lab.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

fn main() {
    if let Ok(spec) = std::env::var(HELPER_ENV) {
        std::process::exit(match helper_main(&spec) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("helper: {e:#}");
                3
            }
        });
    }
    let mut trials: Vec<Trial> = topology_files()
        .into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            root_case(format!("build::{stem}"), move || build_and_reach(&path))
        })
        .collect();
    trials.extend([
        root_case(
            "lifecycle::failed_build_leaves_nothing",
            failed_build_leaves_nothing,
        ),
        root_case(
            "lifecycle::panic_mid_build_leaves_nothing",
            panic_mid_build_leaves_nothing,
        ),
        root_case(
            "lifecycle::sigkill_then_clean_leaves_nothing",
            sigkill_then_clean,
        ),
        root_case("lifecycle::sigterm_tears_down", || {
            signal_tears_down("TERM", 143)
        }),
        root_case("lifecycle::sigint_tears_down", || {
            signal_tears_down("INT", 130)
        }),
        root_case("lifecycle::two_labs_side_by_side", two_labs_side_by_side),
        root_case("lifecycle::keep_open_teardown", keep_open_teardown),
        root_case(
            "lifecycle::name_collision_is_refused",
            name_collision_is_refused,
        ),
        root_case("ops::link_down_and_up", link_down_and_up),
        root_case("ops::blackhole_and_clear", blackhole_and_clear),
        root_case(
            "ops::netem_delay_or_unsupported",
            netem_delay_or_unsupported,
        ),
        root_case(
            "ops::exec_and_ip_netns_see_the_namespace",
            exec_and_ip_netns,
        ),
        root_case("ops::pod_wiring_is_calico_like", pod_wiring_is_calico_like),
        root_case(
            "ops::rtnetlink_handle_lives_in_the_namespace",
            rtnetlink_in_namespace,
        ),
        root_case(
            "lifecycle::clean_removes_stray_namespaces",
            clean_removes_strays,
        ),
    ]);
    trials.push(match fabriclab_bin() {
        Some(bin) => root_case("cli::up_ls_exec_down", move || cli_up_ls_exec_down(&bin)),
        // `cargo nextest -p fabriclab-suites` does not build the binary; ci/test does.
        None => Trial::test("cli::up_ls_exec_down", || Ok(())).with_ignored_flag(true),
    });
    run(trials)
}

// ===== helpers =====

fn topo(name: &str) -> PathBuf {
    fabriclab_suites::repo_root().join("topologies").join(name)
}

/// The smallest topology with pods (fast lifecycle cases).
fn small_plan() -> Result<Plan> {
    let path = topo("as-per-rack.yaml");
    topology::load(&path).with_context(|| format!("loading {}", path.display()))
}

fn build(plan: &Plan, tag: &str) -> Result<Lab> {
    Ok(Lab::build(
        plan,
        BuildOptions {
            name: Some(unique_lab_name(tag)),
            ..BuildOptions::default()
        },
    )?)
}

/// Asserts nothing of run `run_id` / lab `name` is left: namespaces, record, processes.
fn assert_gone(name: &str, run_id: &str, pids: &[i32]) -> Result<()> {
    let ns = leftover_namespaces(run_id);
    ensure!(ns.is_empty(), "namespaces of run {run_id} left: {ns:?}");
    let dir = registry::state_dir(name);
    ensure!(!dir.exists(), "state dir {} left", dir.display());
    for pid in pids {
        let alive = std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok();
        ensure!(!alive, "process {pid} started in the lab still runs");
    }
    Ok(())
}

/// Every (source, targets) pair the data plane must connect right after a build: both ends of
/// every link (v4 and v6), every pod to its node's loopbacks and the node to the pod.
fn reachability_jobs(plan: &Plan) -> Vec<(NodeId, Vec<IpAddr>)> {
    let mut jobs: BTreeMap<NodeId, Vec<IpAddr>> = BTreeMap::new();
    for l in &plan.links {
        for (me, far) in [(&l.a, &l.b), (&l.b, &l.a)] {
            let t = jobs.entry(me.node.clone()).or_default();
            t.push(IpAddr::V4(far.v4.addr()));
            t.push(IpAddr::V6(far.v6.addr()));
        }
    }
    for p in &plan.pods {
        if let Some(host) = plan.node(&p.host) {
            let t = jobs.entry(p.id.clone()).or_default();
            t.push(IpAddr::V4(host.loopback_v4));
            t.push(IpAddr::V6(host.loopback_v6));
        }
        let t = jobs.entry(p.host.clone()).or_default();
        t.push(IpAddr::V4(p.v4));
        t.push(IpAddr::V6(p.v6));
    }
    jobs.into_iter().collect()
}

/// Pings all jobs; fails listing every unanswered (source, target).
fn assert_reachable(lab: &Lab, jobs: &[(NodeId, Vec<IpAddr>)]) -> Result<()> {
    let results = lab.ping_all(jobs, PING_TIMEOUT)?;
    let total: usize = results.iter().map(|(_, r)| r.len()).sum();
    ensure!(
        total == jobs.iter().map(|(_, t)| t.len()).sum::<usize>(),
        "some pingers did not report"
    );
    let lost: Vec<String> = results
        .iter()
        .flat_map(|(n, r)| {
            r.iter()
                .filter(|o| o.rtt.is_none())
                .map(move |o| format!("{n} -> {}", o.target))
        })
        .collect();
    ensure!(
        lost.is_empty(),
        "{} of {total} pings unanswered: {}",
        lost.len(),
        lost.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

fn ping_once(lab: &Lab, from: &NodeId, to: IpAddr, timeout: Duration) -> Result<Option<Duration>> {
    let r = lab.ping(from, vec![to], timeout)?;
    Ok(r.first().and_then(|o| o.rtt))
}

/// The first link of the plan, with its ends.
fn first_link(plan: &Plan) -> Result<(LinkId, NodeId, IpAddr)> {
    let l = plan
        .links
        .first()
        .ok_or_else(|| anyhow!("plan has no links"))?;
    Ok((l.id, l.a.node.clone(), IpAddr::V4(l.b.v4.addr())))
}

// ===== build =====

/// Every topology builds; every link end and every pod/node pair exchanges echo packets (v4 and
/// v6); teardown removes all of it.
fn build_and_reach(path: &Path) -> Result<()> {
    let plan = topology::load(path).with_context(|| format!("loading {}", path.display()))?;
    let start = Instant::now();
    let lab = build(&plan, &plan.name)?;
    let built = start.elapsed();
    let (name, run_id) = (lab.name().to_string(), lab.run_id().to_string());
    let expected = plan.nodes.len() + plan.pods.len();
    let present = leftover_namespaces(&run_id).len();
    ensure!(
        present == expected,
        "{present} namespaces exist, plan has {expected} nodes+pods"
    );
    let start = Instant::now();
    assert_reachable(&lab, &reachability_jobs(&plan))?;
    let pinged = start.elapsed();
    let start = Instant::now();
    let report = lab.teardown()?;
    ensure!(
        report.namespaces == expected,
        "teardown removed {} of {expected} namespaces",
        report.namespaces
    );
    eprintln!(
        "{}: {} nodes, {} links, {} pods: build {built:.2?}, ping {pinged:.2?}, teardown {:.2?}",
        plan.name,
        plan.nodes.len(),
        plan.links.len(),
        plan.pods.len(),
        start.elapsed()
    );
    assert_gone(&name, &run_id, &[])
}

// ===== lifecycle =====

/// A build that fails in the links phase (an interface name the kernel refuses) returns a
/// `Build` error naming the link, and removes the namespaces it had created.
fn failed_build_leaves_nothing() -> Result<()> {
    let mut plan = small_plan()?;
    let bad = plan.links.last_mut().ok_or_else(|| anyhow!("no links"))?;
    bad.a.ifname = "this-name-is-too-long-for-linux".into(); // IFNAMSIZ is 16
    let culprit = bad.id;
    let name = unique_lab_name("failbuild");
    let seen_run_id = Arc::new(std::sync::Mutex::new(None));
    let seen = seen_run_id.clone();
    let n2 = name.clone();
    let r = Lab::build(
        &plan,
        BuildOptions {
            name: Some(name.clone()),
            progress: Some(Arc::new(move |p| {
                if p == BuildPhase::Namespaces {
                    if let Ok(s) = registry::read_state(&n2) {
                        *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(s.run_id);
                    }
                }
            })),
            ..BuildOptions::default()
        },
    );
    match r {
        Err(LabError::Build {
            phase, failures, ..
        }) => {
            ensure!(phase == "links", "failed in phase {phase}, expected links");
            ensure!(
                failures.iter().any(|f| f.contains(&culprit.to_string())),
                "failures do not name link {culprit}: {failures:?}"
            );
        }
        Err(e) => bail!("unexpected error {e}"),
        Ok(_) => bail!("build with a 31-character interface name succeeded"),
    }
    let run_id = seen_run_id
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| anyhow!("namespaces phase never completed"))?;
    assert_gone(&name, &run_id, &[])
}

/// A panic inside the build (here: in the progress hook after the links phase) unwinds through
/// the partially built lab's guard, which removes everything; `clean` then finds nothing of it.
fn panic_mid_build_leaves_nothing() -> Result<()> {
    let plan = small_plan()?;
    let name = unique_lab_name("panic");
    let n2 = name.clone();
    let seen_run_id = Arc::new(std::sync::Mutex::new(None));
    let seen = seen_run_id.clone();
    let r = std::panic::catch_unwind(move || {
        Lab::build(
            &plan,
            BuildOptions {
                name: Some(n2.clone()),
                progress: Some(Arc::new(move |p| {
                    if p == BuildPhase::Links {
                        let s = registry::read_state(&n2).ok();
                        let ns = s.as_ref().map(|s| leftover_namespaces(&s.run_id).len());
                        *seen.lock().unwrap_or_else(|e| e.into_inner()) =
                            s.map(|s| (s.run_id, ns.unwrap_or(0)));
                        panic!("injected panic after the links phase");
                    }
                })),
                ..BuildOptions::default()
            },
        )
    });
    ensure!(r.is_err(), "build did not panic");
    let (run_id, existed) = seen_run_id
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| anyhow!("links phase never completed"))?;
    ensure!(
        existed > 0,
        "no namespaces existed at the time of the panic"
    );
    assert_gone(&name, &run_id, &[])?;
    let report = clean(&CleanScope::Lab(name.clone()))?;
    ensure!(
        report.labs.is_empty(),
        "clean still found {:?}",
        report.labs
    );
    assert_gone(&name, &run_id, &[])
}

/// The helper process: builds a lab of `topology` named `name`, starts `sleep` in its first
/// node, prints `ready <run id> <sleep pid>`, then waits for stdin to close (and tears down).
fn helper_main(spec: &str) -> Result<()> {
    let (topology, name) = spec
        .split_once('|')
        .ok_or_else(|| anyhow!("bad helper spec {spec}"))?;
    let plan = topology::load(Path::new(topology))?;
    let lab = Lab::build(
        &plan,
        BuildOptions {
            name: Some(name.to_string()),
            ..BuildOptions::default()
        },
    )?;
    let node = plan
        .nodes
        .first()
        .map(|n| n.id.clone())
        .ok_or_else(|| anyhow!("no nodes"))?;
    let mut sleep = Command::new("sleep");
    sleep.arg("600").stdin(Stdio::null()).stdout(Stdio::null());
    let child = lab.spawn(&node, sleep)?;
    println!("ready {} {}", lab.run_id(), child.id());
    let mut line = String::new();
    // Blocks until the test closes our stdin (or kills us).
    while std::io::stdin().read_line(&mut line)? > 0 {
        line.clear();
    }
    Ok(())
}

/// Starts the helper and waits for its `ready` line: (child, run id, pid of its `sleep`).
fn start_helper(name: &str) -> Result<(std::process::Child, String, i32)> {
    let me = std::env::current_exe()?;
    let spec = format!("{}|{name}", topo("as-per-rack.yaml").display());
    let mut child = Command::new(me)
        .env(HELPER_ENV, spec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    match (
        parts.next(),
        parts.next(),
        parts.next().and_then(|p| p.parse::<i32>().ok()),
    ) {
        (Some("ready"), Some(id), Some(pid)) => Ok((child, id.to_string(), pid)),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("helper did not get ready: {line:?}")
        }
    }
}

/// SIGKILL of the owning process leaves an *orphaned* lab (namespaces, a process inside, the
/// record); `clean` removes all of it.
fn sigkill_then_clean() -> Result<()> {
    let name = unique_lab_name("sigkill");
    let (mut child, run_id, sleep_pid) = start_helper(&name)?;
    ensure!(
        !leftover_namespaces(&run_id).is_empty(),
        "helper built no namespaces"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    child.wait()?;
    let st = registry::read_state(&name)?;
    ensure!(
        st.status() == LabStatus::Orphaned,
        "status after SIGKILL is {}",
        st.status()
    );
    ensure!(
        std::fs::read_link(format!("/proc/{sleep_pid}/ns/net")).is_ok(),
        "sleep died with its parent"
    );
    let report = clean(&CleanScope::Orphaned)?;
    ensure!(
        report
            .labs
            .iter()
            .any(|(n, s)| *n == name && s == "orphaned"),
        "clean did not remove {name}: {report:?}"
    );
    ensure!(report.processes_killed >= 1, "clean killed no process");
    assert_gone(&name, &run_id, &[sleep_pid])
}

/// SIGTERM/SIGINT of the owner tear its labs down (and kill what runs in them), then it exits
/// with 128 + signo.
fn signal_tears_down(sig: &str, code: i32) -> Result<()> {
    let signal = match sig {
        "TERM" => nix::sys::signal::Signal::SIGTERM,
        _ => nix::sys::signal::Signal::SIGINT,
    };
    let name = unique_lab_name(&format!("sig{sig}"));
    let (mut child, run_id, sleep_pid) = start_helper(&name)?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal)?;
    let status = wait_until(
        Duration::from_secs(20),
        Duration::from_millis(10),
        || match child.try_wait() {
            Ok(Some(s)) => Probe::Done(s),
            Ok(None) => Probe::pending("helper still running"),
            Err(e) => Probe::pending(e),
        },
    )?;
    ensure!(
        status.code() == Some(code),
        "helper exited with {status}, expected code {code}"
    );
    assert_gone(&name, &run_id, &[sleep_pid])
}

/// Two labs of the same topology at once: different run ids, no collision, both forward.
fn two_labs_side_by_side() -> Result<()> {
    let plan = small_plan()?;
    let a = build(&plan, "twin-a")?;
    let b = build(&plan, "twin-b")?;
    ensure!(a.run_id() != b.run_id(), "same run id");
    let jobs = reachability_jobs(&plan);
    assert_reachable(&a, &jobs)?;
    assert_reachable(&b, &jobs)?;
    let (na, ia) = (a.name().to_string(), a.run_id().to_string());
    a.teardown()?;
    // Tearing one down leaves the other intact.
    assert_reachable(&b, &jobs)?;
    let (nb, ib) = (b.name().to_string(), b.run_id().to_string());
    drop(b);
    assert_gone(&na, &ia, &[])?;
    assert_gone(&nb, &ib, &[])
}

/// `keep` survives the guard; `open` re-attaches by name (what `fabriclab exec/down` do);
/// `teardown` removes it.
fn keep_open_teardown() -> Result<()> {
    let plan = small_plan()?;
    let mut lab = build(&plan, "keep")?;
    let (name, run_id) = (lab.name().to_string(), lab.run_id().to_string());
    lab.keep()?;
    drop(lab);
    ensure!(
        !leftover_namespaces(&run_id).is_empty(),
        "kept lab vanished on drop"
    );
    let st = registry::read_state(&name)?;
    ensure!(st.status() == LabStatus::Kept, "status {}", st.status());
    // An orphan clean must not touch a kept lab.
    let report = clean(&CleanScope::Orphaned)?;
    ensure!(
        !report.labs.iter().any(|(n, _)| *n == name),
        "clean removed the kept lab"
    );
    let opened = Lab::open(&name)?;
    ensure!(opened.plan() == &plan, "re-opened plan differs");
    let (_, from, to) = first_link(&plan)?;
    ensure!(
        ping_once(&opened, &from, to, PING_TIMEOUT)?.is_some(),
        "re-opened lab does not forward"
    );
    drop(opened);
    ensure!(
        !leftover_namespaces(&run_id).is_empty(),
        "opened lab was torn down on drop"
    );
    Lab::open(&name)?.teardown()?;
    assert_gone(&name, &run_id, &[])
}

/// A second lab with a taken name is refused, and the first one is left intact.
fn name_collision_is_refused() -> Result<()> {
    let plan = small_plan()?;
    let lab = build(&plan, "dup")?;
    match Lab::build(
        &plan,
        BuildOptions {
            name: Some(lab.name().to_string()),
            ..BuildOptions::default()
        },
    ) {
        Err(LabError::Exists { status, .. }) => ensure!(status == "alive", "status {status}"),
        Err(e) => bail!("unexpected error {e}"),
        Ok(_) => bail!("second lab with the same name was built"),
    }
    ensure!(
        registry::read_state(lab.name()).is_ok(),
        "first lab's record was damaged"
    );
    let (from, to) = (
        plan.links[0].a.node.clone(),
        IpAddr::V4(plan.links[0].b.v4.addr()),
    );
    ensure!(
        ping_once(&lab, &from, to, PING_TIMEOUT)?.is_some(),
        "first lab broken"
    );
    Ok(())
}

// ===== runtime operations =====

/// Setting one end down stops traffic over the link; up restores it (v4 and v6 addresses
/// survive the flap).
fn link_down_and_up() -> Result<()> {
    let plan = small_plan()?;
    let lab = build(&plan, "flap")?;
    let l = plan.links.first().ok_or_else(|| anyhow!("no links"))?;
    let (from, v4, v6) = (
        l.a.node.clone(),
        IpAddr::V4(l.b.v4.addr()),
        IpAddr::V6(l.b.v6.addr()),
    );
    ensure!(
        ping_once(&lab, &from, v4, PING_TIMEOUT)?.is_some(),
        "no reply before the flap"
    );
    lab.set_link_state(l.id, LinkEnd::B, LinkState::Down)?;
    ensure!(
        ping_once(&lab, &from, v4, Duration::from_millis(600))?.is_none(),
        "reply over a downed link"
    );
    lab.set_link_state(l.id, LinkEnd::B, LinkState::Up)?;
    ensure!(
        ping_once(&lab, &from, v4, PING_TIMEOUT)?.is_some(),
        "no v4 reply after up"
    );
    ensure!(
        ping_once(&lab, &from, v6, PING_TIMEOUT)?.is_some(),
        "no v6 reply after up (address lost?)"
    );
    Ok(())
}

/// A blackhole impairment drops traffic silently (link stays up); clearing restores it.
fn blackhole_and_clear() -> Result<()> {
    let plan = small_plan()?;
    let lab = build(&plan, "blackhole")?;
    let (link, from, to) = first_link(&plan)?;
    lab.impair(link, LinkEnd::Both, Impairment::blackhole())?;
    ensure!(
        ping_once(&lab, &from, to, Duration::from_millis(600))?.is_none(),
        "reply through a blackhole"
    );
    let ip = lab.exec(
        &from,
        &["ip", "-o", "link", "show", &plan.links[0].a.ifname],
    )?;
    let text = String::from_utf8_lossy(&ip.stdout);
    ensure!(
        text.contains("LOWER_UP"),
        "blackholed link lost its carrier: {text}"
    );
    lab.clear_impairment(link, LinkEnd::Both)?;
    lab.clear_impairment(link, LinkEnd::Both)?; // idempotent
    ensure!(
        ping_once(&lab, &from, to, PING_TIMEOUT)?.is_some(),
        "no reply after clearing"
    );
    Ok(())
}

/// netem delay shows in the RTT where the kernel has netem; elsewhere the error says so.
fn netem_delay_or_unsupported() -> Result<()> {
    let plan = small_plan()?;
    let lab = build(&plan, "netem")?;
    let (link, from, to) = first_link(&plan)?;
    let imp = Impairment {
        delay: Duration::from_millis(50),
        ..Impairment::default()
    };
    match lab.impair(link, LinkEnd::A, imp) {
        Ok(()) => {
            let rtt = ping_once(&lab, &from, to, PING_TIMEOUT)?
                .ok_or_else(|| anyhow!("no reply with delay"))?;
            ensure!(
                rtt >= Duration::from_millis(50),
                "rtt {rtt:?} below the 50 ms delay"
            );
            lab.clear_impairment(link, LinkEnd::A)?;
            let rtt = ping_once(&lab, &from, to, PING_TIMEOUT)?
                .ok_or_else(|| anyhow!("no reply after clear"))?;
            ensure!(
                rtt < Duration::from_millis(50),
                "rtt {rtt:?} still delayed after clear"
            );
        }
        Err(LabError::Unsupported { hint, .. }) => {
            ensure!(
                hint.contains("NETEM"),
                "unsupported without saying why: {hint}"
            );
            eprintln!("netem unavailable here (checked the error instead): {hint}");
        }
        Err(e) => bail!("unexpected error {e}"),
    }
    Ok(())
}

/// `exec` runs in the node's namespace (sees its loopback), and `ip netns exec` sees the same
/// namespace under its fabriclab name (shared /run/netns).
fn exec_and_ip_netns() -> Result<()> {
    let plan = small_plan()?;
    let lab = build(&plan, "exec")?;
    let node = plan.nodes.first().ok_or_else(|| anyhow!("no nodes"))?;
    let out = lab.exec(&node.id, &["ip", "-o", "addr", "show", "dev", "lo"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "ip failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        text.contains(&node.loopback_v4.to_string()),
        "lo lacks {}: {text}",
        node.loopback_v4
    );
    let status = lab.exec(&node.id, &["sh", "-c", "exit 7"])?.status;
    ensure!(
        status.code() == Some(7),
        "exit code not passed through: {status}"
    );
    let ns = registry::netns_name(lab.run_id(), node.id.as_str());
    let out = Command::new("ip")
        .args([
            "netns", "exec", &ns, "ip", "-o", "addr", "show", "dev", "lo",
        ])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        text.contains(&node.loopback_v4.to_string()),
        "ip netns exec {ns} sees: {text}"
    );
    ensure!(
        matches!(
            lab.exec(&NodeId::from("nope"), &["true"]),
            Err(LabError::UnknownNode { .. })
        ),
        "unknown node accepted"
    );
    Ok(())
}

/// The pod and its host look like Calico's: host route pod/32 dev caliX proto static scope
/// link, proxy_arp on caliX, pod default via 169.254.1.1 and via the cali link-local.
fn pod_wiring_is_calico_like() -> Result<()> {
    let plan = small_plan()?;
    let pod = plan
        .pods
        .first()
        .ok_or_else(|| anyhow!("topology has no pods"))?
        .clone();
    let lab = build(&plan, "calico")?;
    let host_routes = lab.exec(&pod.host, &["ip", "-4", "route", "show", "proto", "static"])?;
    let text = String::from_utf8_lossy(&host_routes.stdout);
    let want = format!("{} dev {} scope link", pod.v4, pod.host_ifname);
    ensure!(
        text.lines().any(|l| l.trim() == want),
        "node routes lack {want:?}: {text}"
    );
    let v6 = lab.exec(&pod.host, &["ip", "-6", "route", "show", "proto", "static"])?;
    let text = String::from_utf8_lossy(&v6.stdout);
    ensure!(
        text.contains(&format!("{} dev {}", pod.v6, pod.host_ifname)),
        "node v6 routes: {text}"
    );
    let parp = lab.exec(
        &pod.host,
        &[
            "cat",
            &format!("/proc/sys/net/ipv4/conf/{}/proxy_arp", pod.host_ifname),
        ],
    )?;
    ensure!(
        String::from_utf8_lossy(&parp.stdout).trim() == "1",
        "proxy_arp not set"
    );
    let addr = lab.exec(
        &pod.host,
        &["ip", "-o", "-4", "addr", "show", "dev", &pod.host_ifname],
    )?;
    ensure!(
        addr.stdout.is_empty(),
        "host side has an IPv4 address: {}",
        String::from_utf8_lossy(&addr.stdout)
    );
    let routes = lab.exec(&pod.id, &["ip", "route"])?;
    let text = String::from_utf8_lossy(&routes.stdout);
    ensure!(
        text.contains("default via 169.254.1.1 dev eth0"),
        "pod routes: {text}"
    );
    ensure!(text.contains("169.254.1.1 dev eth0"), "pod routes: {text}");
    let r6 = lab.exec(&pod.id, &["ip", "-6", "route", "show", "default"])?;
    let text = String::from_utf8_lossy(&r6.stdout);
    ensure!(
        text.contains("via fe80::ecee:eeff:feee:eeee dev eth0"),
        "pod v6 default: {text}"
    );
    Ok(())
}

/// `rtnetlink_in_netns` gives a handle whose requests act inside the namespace: an address added
/// through it shows up on the node's `lo`, and not on the host's.
fn rtnetlink_in_namespace() -> Result<()> {
    let plan = small_plan()?;
    let lab = build(&plan, "rtnl")?;
    let node = plan
        .nodes
        .first()
        .ok_or_else(|| anyhow!("no nodes"))?
        .id
        .clone();
    let ns = lab.netns_path(&node)?.to_path_buf();
    let probe: IpAddr = "192.0.2.77".parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let handle = rtnetlink_in_netns(&ns).await?;
        handle.address().add(1, probe, 32).execute().await?;
        anyhow::Ok(())
    })?;
    let inside = lab.exec(&node, &["ip", "-o", "addr", "show", "dev", "lo"])?;
    ensure!(
        String::from_utf8_lossy(&inside.stdout).contains("192.0.2.77/32"),
        "address not in the node's namespace"
    );
    let host = Command::new("ip")
        .args(["-o", "addr", "show", "dev", "lo"])
        .output()?;
    ensure!(
        !String::from_utf8_lossy(&host.stdout).contains("192.0.2.77"),
        "address leaked to the host"
    );
    Ok(())
}

/// A namespace named like a lab's (`fl<run id>-...`) that no record claims is a stray: `clean`
/// kills what runs in it and deletes it.
fn clean_removes_strays() -> Result<()> {
    let run_id = registry::new_run_id()?;
    let name = registry::netns_name(&run_id, "stray");
    let path = create_netns(&name)?;
    let mut sleep = Command::new("sleep");
    sleep.arg("600");
    let child = spawn_in_netns(&path, sleep)?;
    let pid = child.id() as i32;
    let report = clean(&CleanScope::Orphaned)?;
    ensure!(
        report.stray_namespaces.contains(&name),
        "stray {name} not reported: {report:?}"
    );
    ensure!(!netns_path(&name).exists(), "stray {name} still exists");
    let mut child = child;
    let status = child.wait()?;
    ensure!(status.code().is_none(), "sleep was not killed: {status}");
    ensure!(
        std::fs::read_link(format!("/proc/{pid}/ns/net")).is_err(),
        "sleep still runs"
    );
    Ok(())
}

/// The `fabriclab` binary next to this test binary (`target/<profile>/fabriclab`), or
/// `$FABRICLAB_BIN`.
fn fabriclab_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FABRICLAB_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("fabriclab");
    bin.is_file().then_some(bin)
}

/// The CLI end to end: `up` keeps a lab, `ls` shows it kept, `exec` passes exit codes through,
/// bad input exits 2, `down` removes everything.
fn cli_up_ls_exec_down(bin: &Path) -> Result<()> {
    let name = unique_lab_name("cli");
    let topo = topo("as-per-rack.yaml");
    let run = |args: &[&str]| Command::new(bin).args(args).output();
    let up = run(&["up", &topo.to_string_lossy(), "--name", &name])?;
    ensure!(
        up.status.success(),
        "up failed: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let run_id = registry::read_state(&name)?.run_id;
    let ls = run(&["ls"])?;
    let listed = String::from_utf8_lossy(&ls.stdout);
    ensure!(
        listed
            .lines()
            .any(|l| l.starts_with(&name) && l.contains("kept")),
        "ls does not show {name} as kept: {listed}"
    );
    let ex = run(&[
        "exec",
        &name,
        "r1t1",
        "--",
        "sh",
        "-c",
        "ip -o addr show dev lo; exit 7",
    ])?;
    ensure!(
        ex.status.code() == Some(7),
        "exec exit code {:?}",
        ex.status.code()
    );
    ensure!(
        String::from_utf8_lossy(&ex.stdout).contains("lo"),
        "exec printed nothing"
    );
    let bad = run(&["exec", &name, "no-such-node", "--", "true"])?;
    ensure!(
        bad.status.code() == Some(2),
        "unknown node exit code {:?}",
        bad.status.code()
    );
    let bad_topo = topo_bad_file();
    let v = run(&["validate", &bad_topo.to_string_lossy()])?;
    ensure!(
        v.status.code() == Some(2),
        "invalid topology exit code {:?}",
        v.status.code()
    );
    let down = run(&["down", &name])?;
    ensure!(
        down.status.success(),
        "down failed: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    let again = run(&["down", &name])?;
    ensure!(
        again.status.code() == Some(2),
        "second down exit code {:?}",
        again.status.code()
    );
    assert_gone(&name, &run_id, &[])
}

fn topo_bad_file() -> PathBuf {
    topo("bad").join("duplicate-node.yaml")
}
