//! Evidence for every run: failure bundles that `repro` replays to the same failure, timelines
//! in time order, every scenario file showing the outcome it claims, JUnit XML, and the HTML
//! report rendered in headless Chromium.
//!
//! Speakers are BIRD (works today); root-only cases are ignored (with the reason) otherwise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use fabriclab::artifacts::{open_bundle, repro_options, write_bundle, BundleInput};
use fabriclab::report::{distinct_colours, html_report, junit_xml};
use fabriclab::run::{run_with, Evidence, Misconfig, RunOptions, RunReport};
use fabriclab::scenario::events::{EventKind, RestartMethod};
use fabriclab::scenario::Scenario;
use fabriclab::timeline::Source;
use fabriclab::topology::{SpeakerKind, SpeakerSelection};
use fabriclab_suites::{
    ensure, repo_root, root_case, run, unique_lab_name, Completion, Failed, Trial,
};

fn main() {
    let mut trials = vec![
        root_case(
            "bundle::failing_run_bundle_reproduces",
            failing_run_bundle_reproduces,
        ),
        root_case("timeline::lab_open_routes_in_order", timeline_in_order),
        root_case("report::junit_is_valid_xml", junit_is_valid_xml),
        html_case(),
        root_case(
            "events::gr_restart_attributes_loss_and_churn",
            gr_restart_events,
        ),
        root_case(
            "events::restart_without_gr_shows_helper_churn",
            restart_without_gr_events,
        ),
    ];
    for path in scenario_files() {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        trials.push(root_case(format!("scenario::{stem}"), move || {
            scenario_outcome(&path)
        }));
    }
    run(trials)
}

/// Every `scenarios/*.yaml`, sorted.
fn scenario_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo_root().join("scenarios"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn bird_opts(tag: &str) -> RunOptions {
    let mut o = RunOptions::new(repo_root().join("topologies/as-per-rack.yaml"));
    o.load.speakers = Some(SpeakerSelection::all(SpeakerKind::Bird));
    o.name = Some(unique_lab_name(tag));
    o
}

/// Runs and removes the temporary artifacts directory afterwards (after `keep` used it).
fn run_then<T>(
    opts: &RunOptions,
    scenario: Option<&Scenario>,
    keep: impl FnOnce(&RunReport, &Evidence) -> Result<T>,
) -> Result<T> {
    let (report, evidence) = run_with(opts, scenario).context("run")?;
    let out = keep(&report, &evidence);
    let _ = std::fs::remove_dir_all(&evidence.artifacts);
    out
}

fn failed_names(report: &RunReport) -> BTreeSet<String> {
    report
        .checks
        .iter()
        .filter(|c| c.failed())
        .map(|c| c.name.clone())
        .collect()
}

/// A deliberately failing run (F9: no next-hop-self on the ToRs) leaves a bundle with every
/// piece of evidence, and replaying the tarball fails the same checks.
fn failing_run_bundle_reproduces() -> Result<()> {
    let mut opts = bird_opts("bundle");
    opts.misconfig = Some(Misconfig::NoNextHopSelf);
    opts.deadline = Duration::from_secs(6);
    let root = tempfile::tempdir()?;
    let (bundle, failing) = run_then(&opts, None, |report, ev| {
        let b = write_bundle(
            root.path(),
            &BundleInput {
                opts: &opts,
                scenario: None,
                report,
                evidence: ev,
            },
        )?;
        Ok((b, failed_names(report)))
    })?;
    ensure!(
        failing.contains("fib") && failing.contains("reachability"),
        "the misconfigured run did not fail fib and reachability: {failing:?}"
    );
    for f in [
        "manifest.json",
        "topology.yaml",
        "plan.json",
        "expected-plan.json",
        "expected-fibs.json",
        "actual-fibs.json",
        "report.json",
        "timeline.jsonl",
        "nodes/r1t1/bird/bird.conf",
    ] {
        ensure!(bundle.dir.join(f).is_file(), "bundle lacks {f}");
    }
    let pcaps = std::fs::read_dir(bundle.dir.join("pcap"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "pcapng"))
        .count();
    ensure!(pcaps > 0, "bundle has no pcaps");
    ensure!(bundle.tarball.is_file(), "no tarball");

    let opened = open_bundle(&bundle.tarball)?;
    ensure!(
        opened
            .manifest
            .failing_checks
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            == failing,
        "manifest lists {:?}, run failed {failing:?}",
        opened.manifest.failing_checks
    );
    ensure!(
        opened.manifest.options.misconfig.as_deref() == Some("no-next-hop-self"),
        "manifest lost the misconfiguration"
    );
    let (mut again, scenario) = repro_options(&opened)?;
    again.name = Some(unique_lab_name("repro"));
    let replayed = run_then(&again, scenario.as_ref(), |r, _| Ok(failed_names(r)))?;
    ensure!(
        replayed == failing,
        "replay failed {replayed:?}, the bundle {failing:?}"
    );
    Ok(())
}

/// The timeline holds lab-built, BGP OPENs and route events, in time order.
fn timeline_in_order() -> Result<()> {
    let opts = bird_opts("timeline");
    run_then(&opts, None, |_, ev| {
        let t = &ev.timeline;
        ensure!(
            t.windows(2).all(|w| w[0].ts_us <= w[1].ts_us),
            "timeline not sorted"
        );
        let first =
            |pred: &dyn Fn(&fabriclab::timeline::TimelineEvent) -> bool| t.iter().position(pred);
        let built = first(&|e| e.source == Source::Harness && e.kind == "lab-built")
            .context("no lab-built event")?;
        let open = first(&|e| e.source == Source::Bgp && e.kind == "OPEN")
            .context("no OPEN in the timeline")?;
        let route = first(&|e| e.source == Source::Route && e.kind == "route-add")
            .context("no route event")?;
        ensure!(built < open, "OPEN before the lab was built");
        ensure!(built < route, "route event before the lab was built");
        ensure!(
            t.iter()
                .any(|e| e.source == Source::Bgp && e.node.is_some() && e.peer.is_some()),
            "BGP events are not attributed to nodes"
        );
        // The file on disk is the same timeline.
        let disk = fabriclab::timeline::read_jsonl(&ev.artifacts.join("timeline.jsonl"))?;
        ensure!(disk.len() == t.len(), "timeline.jsonl differs");
        Ok(())
    })
}

/// JUnit XML parses and has one testcase per check, with failures where checks failed.
fn junit_is_valid_xml() -> Result<()> {
    let mut opts = bird_opts("junit");
    opts.misconfig = Some(Misconfig::NoNextHopSelf);
    opts.deadline = Duration::from_secs(4);
    let (xml, report) = run_then(&opts, None, |r, _| Ok((junit_xml(r), r.clone())))?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("junit.xml");
    std::fs::write(&path, &xml)?;
    // Parse with Python's XML parser (a real, independent parser).
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, xml.etree.ElementTree as ET\n\
             r = ET.parse(sys.argv[1]).getroot()\n\
             for tc in r.iter('testcase'):\n\
             \x20   print(tc.get('name'), 'failure' if tc.find('failure') is not None else ('skipped' if tc.find('skipped') is not None else 'pass'))",
        )
        .arg(&path)
        .output()
        .context("python3 is needed to parse the XML")?;
    ensure!(
        out.status.success(),
        "JUnit XML does not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    ensure!(
        parsed.len() == report.checks.len(),
        "{} testcases for {} checks",
        parsed.len(),
        report.checks.len()
    );
    for (c, (name, status)) in report.checks.iter().zip(&parsed) {
        ensure!(&c.name == name, "testcase {name} for check {}", c.name);
        let want = if c.failed() {
            "failure"
        } else if c.passed() {
            "pass"
        } else {
            "skipped"
        };
        ensure!(status == want, "{name}: {status}, want {want}");
    }
    ensure!(
        parsed.iter().any(|(_, s)| s == "failure"),
        "the failing run has no failure testcase"
    );
    Ok(())
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|b| {
            std::env::var_os("PATH").and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(b))
                    .find(|c| c.is_file())
            })
        })
}

fn html_case() -> Trial {
    let missing = chromium().is_none();
    Trial::ignorable_test("report::html_renders_in_chromium", move || {
        if let Err(skip) = fabriclab_suites::require_root() {
            return Ok(skip);
        }
        let Some(chrome) = chromium() else {
            return Ok(Completion::ignored_with(
                "chromium is not installed (ci/install-deps installs it)",
            ));
        };
        html_renders(&chrome)
            .map(|()| Completion::Completed)
            .map_err(|e| Failed::from(format!("{e:#}")))
    })
    .with_ignored_flag(missing || !fabriclab_suites::is_root())
}

fn chrome_cmd(chrome: &Path, profile: &Path) -> Command {
    let mut c = Command::new(chrome);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The HTML report renders to a non-blank screenshot and its DOM names every node and check.
fn html_renders(chrome: &Path) -> Result<()> {
    let mut opts = bird_opts("html");
    opts.misconfig = Some(Misconfig::NoNextHopSelf);
    opts.deadline = Duration::from_secs(4);
    let (html, report) = run_then(&opts, None, |r, ev| Ok((html_report(r, ev), r.clone())))?;
    let dir = tempfile::tempdir()?;
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html)?;
    let url = format!("file://{}", page.display());
    let png = dir.path().join("out.png");
    let shot = chrome_cmd(chrome, &dir.path().join("p1"))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,900")
        .arg(&url)
        .output()?;
    ensure!(
        png.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png)?;
    ensure!(
        bytes.len() > 20_000,
        "screenshot is only {} bytes: blank?",
        bytes.len()
    );
    let colours = distinct_colours(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(colours >= 4, "screenshot has {colours} distinct colours");
    let dom = chrome_cmd(chrome, &dir.path().join("p2"))
        .arg("--dump-dom")
        .arg(&url)
        .output()?;
    let dom = String::from_utf8_lossy(&dom.stdout);
    for n in &report.nodes {
        ensure!(dom.contains(n.node.as_str()), "DOM lacks node {}", n.node);
    }
    for c in &report.checks {
        ensure!(dom.contains(&c.name), "DOM lacks check {}", c.name);
    }
    if let Ok(keep) = std::env::var("FABRICLAB_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep)?;
    }
    Ok(())
}

/// A scenario file shows the outcome it claims.
fn scenario_outcome(path: &Path) -> Result<()> {
    let sc = Scenario::load(path)?;
    let mut opts = sc.run_options()?;
    opts.name = Some(unique_lab_name(&sc.name));
    run_then(&opts, Some(&sc), |report, _| {
        sc.outcome_matches(&report.checks)
            .map_err(|e| anyhow::anyhow!("{e}\n{}", report.render()))
    })
}

/// The shipped GR scenario (kill -9 of r2n1's BIRD, back after 2 s) on a BIRD-only fabric.
fn gr_scenario(tag: &str) -> Result<(Scenario, RunOptions)> {
    let sc = Scenario::load(&repo_root().join("scenarios/gr-node-restart.yaml"))?;
    let mut opts = sc.run_options()?;
    opts.load.speakers = Some(SpeakerSelection::all(SpeakerKind::Bird));
    opts.name = Some(unique_lab_name(tag));
    Ok((sc, opts))
}

/// Per-event numbers agree with the run: one event per disruption covering every disruptive
/// step, per-event sends and losses within the flows' totals (per flow), and the JSON report
/// and the summary carry them.
fn check_event_consistency(sc: &Scenario, report: &RunReport) -> Result<()> {
    let disruptive = sc.steps.iter().filter(|s| s.action.is_disruptive()).count();
    let covered: usize = report.events.iter().map(|e| e.steps.len()).sum();
    ensure!(
        covered == disruptive,
        "events cover {covered} steps, the scenario has {disruptive} disruptive ones: {:?}",
        report.events
    );
    ensure!(!report.flows.is_empty(), "no probe flows ran");
    for f in &report.flows {
        let (mut sent, mut lost) = (0, 0);
        for e in &report.events {
            let ef = e
                .flows
                .iter()
                .find(|x| x.src == f.src && x.dst == f.dst)
                .with_context(|| format!("event lacks flow {} -> {}", f.src, f.dst))?;
            ensure!(
                ef.received + ef.lost == ef.sent,
                "event flow numbers do not add up: {ef:?}"
            );
            sent += ef.sent;
            lost += ef.lost;
        }
        ensure!(
            sent <= f.sent && lost <= f.lost,
            "events of {} -> {} sum to sent {sent} lost {lost}, the flow saw sent {} lost {}",
            f.src,
            f.dst,
            f.sent,
            f.lost
        );
        ensure!(
            sent > 0,
            "no packet of {} -> {} fell in an event",
            f.src,
            f.dst
        );
    }
    for e in &report.events {
        ensure!(
            e.lost == e.flows.iter().map(|f| f.lost).sum::<u64>(),
            "event total differs from its flows: {e:?}"
        );
    }
    let json = serde_json::to_value(report)?;
    let events = json
        .get("events")
        .and_then(|e| e.as_array())
        .context("the JSON report has no events[]")?;
    ensure!(events.len() == report.events.len(), "JSON events differ");
    for k in [
        "kind",
        "steps",
        "start_us",
        "end_us",
        "lost",
        "longest_gap_ms",
        "churn",
        "flows",
    ] {
        ensure!(
            events.iter().all(|e| e.get(k).is_some()),
            "a JSON event lacks `{k}`"
        );
    }
    let text = report.render();
    for e in &report.events {
        ensure!(text.contains(&e.line()), "the summary lacks {:?}", e.line());
    }
    Ok(())
}

/// kill -9 of r2n1's BIRD with GR: one restart event (kill -9, ~2 s down), 0 packets lost,
/// both helper ToRs listed with no withdraw and no re-add of r2n1's blocks (RFC 4724 §4.2),
/// and the scenario's claimed outcome (its `step1-expect-event` check) holds.
fn gr_restart_events() -> Result<()> {
    let (sc, opts) = gr_scenario("evgr")?;
    run_then(&opts, Some(&sc), |report, _| {
        let summary = report.render();
        check_event_consistency(&sc, report).map_err(|e| anyhow::anyhow!("{e}\n{summary}"))?;
        let [e] = report.events.as_slice() else {
            anyhow::bail!("{} events, want 1:\n{summary}", report.events.len());
        };
        ensure!(
            e.kind == EventKind::Restart && e.method == Some(RestartMethod::Kill),
            "not a kill -9 restart: {e:?}"
        );
        ensure!(
            e.down_ms.is_some_and(|d| (1900..4000).contains(&d)),
            "down {:?} ms, the scenario keeps it down 2 s",
            e.down_ms
        );
        ensure!(e.own_prefixes > 0, "r2n1 has no own prefixes in the event");
        let helpers: BTreeSet<&str> = e
            .churn
            .iter()
            .filter(|c| c.helper)
            .map(|c| c.node.as_str())
            .collect();
        ensure!(
            helpers.contains("r2t1") && helpers.contains("r2t2"),
            "helpers {helpers:?}, want r2t1 and r2t2"
        );
        for c in e.churn.iter().filter(|c| c.helper) {
            ensure!(
                c.own_removed == 0 && c.own_readded == 0,
                "helper {} withdrew/re-added r2n1's routes during a graceful restart: {c:?}\n{summary}",
                c.node
            );
        }
        ensure!(
            e.lost == 0,
            "{} packets lost during a graceful restart:\n{summary}",
            e.lost
        );
        ensure!(
            e.expect_held == Some(true),
            "expectation not held:\n{summary}"
        );
        ensure!(
            e.line().contains("restart r2n1 (kill -9, down")
                && e.line().contains("r2t1 -0/+0")
                && e.line().contains("of r2n1's routes"),
            "summary line: {}",
            e.line()
        );
        sc.outcome_matches(&report.checks)
            .map_err(|err| anyhow::anyhow!("{err}\n{summary}"))
    })
}

/// The same scenario with graceful restart off: the helpers withdraw r2n1's blocks when its
/// sessions drop and re-add them when it is back, and the attribution puts that churn (and
/// the scenario's failed expectation) on the restart event.
fn restart_without_gr_events() -> Result<()> {
    let (sc, mut opts) = gr_scenario("evnogr")?;
    opts.speaker.graceful_restart.enabled = false;
    run_then(&opts, Some(&sc), |report, _| {
        let summary = report.render();
        check_event_consistency(&sc, report).map_err(|e| anyhow::anyhow!("{e}\n{summary}"))?;
        let [e] = report.events.as_slice() else {
            anyhow::bail!("{} events, want 1:\n{summary}", report.events.len());
        };
        let flapped: Vec<&str> = e
            .churn
            .iter()
            .filter(|c| c.helper && c.own_removed > 0 && c.own_readded > 0)
            .map(|c| c.node.as_str())
            .collect();
        ensure!(
            !flapped.is_empty(),
            "no helper withdrew and re-added r2n1's routes without GR:\n{summary}"
        );
        ensure!(
            e.expect_held == Some(false),
            "the GR expectation held without GR:\n{summary}"
        );
        ensure!(
            failed_names(report).contains("step1-expect-event"),
            "step1-expect-event did not fail:\n{summary}"
        );
        Ok(())
    })
}
