//! The evidence side of the command line: `fabriclab run` (with scenarios, bundles, JUnit and
//! HTML reports), `fabriclab repro` and `fabriclab timeline`. Argument types live in
//! [`crate::cli`].

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::artifacts::{open_bundle, repro_options, write_bundle, BundleInput, ReproOutcome};
use crate::cli::{ReproArgs, RunArgs, TimelineArgs, EXIT_BAD_INPUT, EXIT_CHECK_FAILED};
use crate::report::{html_report, junit_xml};
use crate::scenario::Scenario;
use crate::timeline::{read_jsonl, render, Filter};
use crate::topology::NodeId;

use super::{run_and_keep, run_with, RunError, RunOptions, RunReport, Verdict};

fn run_error_code(e: &RunError) -> ExitCode {
    eprintln!("fabriclab: error: {e}");
    ExitCode::from(if e.is_bad_input() {
        EXIT_BAD_INPUT
    } else {
        EXIT_CHECK_FAILED
    })
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("failed to write {}", path.display()))
}

/// `fabriclab run`.
pub fn cmd_run(a: RunArgs) -> anyhow::Result<ExitCode> {
    let mut opts = RunOptions::new(&a.topology);
    opts.load.design = a.design;
    opts.load.speakers = a.speaker;
    opts.name = a.name;
    opts.deadline = std::time::Duration::from_secs(a.deadline);
    opts.capture = !a.no_capture;
    opts.tshark = a.tshark;
    opts.artifacts = a.artifacts;
    opts.misconfig = a.misconfig;
    let scenario = a
        .scenario
        .as_deref()
        .map(Scenario::load)
        .transpose()
        .context("invalid scenario")?;
    if let Some(sc) = &scenario {
        sc.apply_defaults(&mut opts);
    }
    let (mut report, evidence) = match run_with(&opts, scenario.as_ref()) {
        Ok(r) => r,
        Err(e) => return Ok(run_error_code(&e)),
    };
    let failed = report.verdict == Verdict::Fail;
    let mut bundle = None;
    if failed || a.bundle {
        match write_bundle(
            &a.bundle_dir,
            &BundleInput {
                opts: &opts,
                scenario: scenario.as_ref(),
                report: &report,
                evidence: &evidence,
            },
        ) {
            Ok(b) => bundle = Some(b),
            Err(e) => eprintln!("fabriclab: failed to write the bundle: {e}"),
        }
    }
    // A temporary artifacts directory is gone once bundled (or not needed); an explicit one
    // stays.
    if opts.artifacts.is_none() && (bundle.is_some() || !failed) {
        let _ = std::fs::remove_dir_all(&evidence.artifacts);
        report.artifacts = bundle.as_ref().map(|b| b.dir.clone());
    }
    print!("{}", report.render());
    if let Some(b) = &bundle {
        println!(
            "bundle: {} ({})\n  replay: fabriclab repro {}\n  timeline: fabriclab timeline {}",
            b.dir.display(),
            b.tarball.display(),
            b.tarball.display(),
            b.dir.display()
        );
    }
    if let Some(path) = &a.report {
        write_file(path, &serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(path) = &a.junit {
        write_file(path, &junit_xml(&report))?;
    }
    if let Some(path) = &a.html {
        write_file(path, &html_report(&report, &evidence))?;
    }
    if let Some(sc) = &scenario {
        // A scenario claims its outcome: showing it is success, even when that is a failure.
        return Ok(match sc.outcome_matches(&report.checks) {
            Ok(()) => {
                println!("scenario {}: shows the outcome it claims", sc.name);
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("{e}");
                ExitCode::from(EXIT_CHECK_FAILED)
            }
        });
    }
    Ok(verdict_code(&report))
}

fn verdict_code(report: &RunReport) -> ExitCode {
    match report.verdict {
        Verdict::Pass => ExitCode::SUCCESS,
        Verdict::Fail => ExitCode::from(EXIT_CHECK_FAILED),
    }
}

/// `fabriclab repro`: exit 0 when the replay fails exactly the bundle's checks.
pub fn cmd_repro(a: ReproArgs) -> anyhow::Result<ExitCode> {
    let bundle = open_bundle(&a.bundle)?;
    let (mut opts, scenario) = repro_options(&bundle)?;
    opts.name = a.name;
    let m = &bundle.manifest;
    println!(
        "replaying {} (lab {}, fabriclab {}): speakers {}, misconfiguration {}, scenario {}",
        m.plan,
        m.lab,
        m.fabriclab_version,
        m.options.speakers.as_deref().unwrap_or("from the topology"),
        m.options.misconfig.as_deref().unwrap_or("none"),
        scenario.as_ref().map(|s| s.name.as_str()).unwrap_or("none"),
    );
    if a.keep {
        let (checks, lab) = match run_and_keep(&opts, scenario.as_ref()) {
            Ok(r) => r,
            Err(e) => return Ok(run_error_code(&e)),
        };
        for c in &checks {
            println!(
                "  {:<8} {:<22} {}",
                format!("{:?}", c.status),
                c.name,
                c.summary
            );
        }
        let outcome = ReproOutcome::compare(&m.failing_checks, &checks);
        println!("{}", outcome.render());
        let node = bundle_first_node(&bundle);
        println!("lab {lab} is kept with its daemons running:");
        println!("  fabriclab exec {lab} {node} -- ip route");
        println!("  fabriclab down {lab}");
        return Ok(if outcome.reproduced() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_CHECK_FAILED)
        });
    }
    let (mut report, evidence) = match run_with(&opts, scenario.as_ref()) {
        Ok(r) => r,
        Err(e) => return Ok(run_error_code(&e)),
    };
    let _ = std::fs::remove_dir_all(&evidence.artifacts);
    report.artifacts = None;
    print!("{}", report.render());
    if let Some(path) = &a.report {
        write_file(path, &serde_json::to_string_pretty(&report)?)?;
    }
    let outcome = ReproOutcome::compare(&m.failing_checks, &report.checks);
    println!("{}", outcome.render());
    Ok(if outcome.reproduced() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHECK_FAILED)
    })
}

fn bundle_first_node(b: &crate::artifacts::OpenBundle) -> String {
    b.report()
        .ok()
        .and_then(|r| r.nodes.first().map(|n| n.node.to_string()))
        .unwrap_or_else(|| "NODE".into())
}

/// `fabriclab timeline`.
pub fn cmd_timeline(a: TimelineArgs) -> anyhow::Result<ExitCode> {
    let is_jsonl = a.bundle.extension().is_some_and(|e| e == "jsonl");
    let events = if is_jsonl {
        read_jsonl(&a.bundle)?
    } else {
        let b = open_bundle(&a.bundle)?;
        read_jsonl(&b.timeline_path())?
    };
    let filter = Filter {
        node: a.node.map(NodeId),
        prefix: a.prefix,
        keepalives: a.keepalives,
    };
    print!("{}", render(&events, &filter));
    Ok(ExitCode::SUCCESS)
}
