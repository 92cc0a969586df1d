//! The `designs` suite: every Calico design on its sample topology, with every speaker set
//! (all bundled, all BIRD, all FRR, all GoBGP, and the Calico mix: nodes on BIRD like
//! calico-node, ToRs on FRR, spines bundled), run end to end by `fabriclab::run::run`: lab
//! built, speakers started, FIBs converged to the design's expected FIBs, pods reachable, design
//! invariants held. Negative cases deploy a misconfiguration the design forbids and must fail
//! with the FIB diff that explains it.
//!
//! A case whose daemon is not installed is reported ignored with the reason (CI installs them
//! all, so nothing is skipped there).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use fabriclab::check::CheckStatus;
use fabriclab::run::{run, Misconfig, RunOptions, RunReport, Verdict};
use fabriclab::speakers::check_installed;
use fabriclab::topology::{load_with, Design, LoadOptions, SpeakerSelection};
use fabriclab_suites::{is_root, repo_root, unique_lab_name, Completion, Trial, NEEDS_ROOT};

/// Speaker sets, by name, as `--speaker` takes them.
const SPEAKER_SETS: &[(&str, &str)] = &[
    ("bundled", "bundled"),
    ("bird", "bird"),
    ("frr", "frr"),
    ("gobgp", "gobgp"),
    ("calico-mix", "node=bird,tor=frr,spine=bundled"),
];

const DESIGNS: &[(Design, &str)] = &[
    (Design::AsPerRack, "as-per-rack.yaml"),
    (Design::AsPerServer, "as-per-server.yaml"),
    (Design::DownwardDefault, "downward-default.yaml"),
];

fn topology(file: &str) -> PathBuf {
    repo_root().join("topologies").join(file)
}

/// Why a case cannot run here, if it cannot.
fn skip_reason(topo: &std::path::Path, speakers: &SpeakerSelection) -> Option<String> {
    if !is_root() {
        return Some(NEEDS_ROOT.to_string());
    }
    let opts = LoadOptions {
        design: None,
        speakers: Some(speakers.clone()),
    };
    let plan = match load_with(topo, &opts) {
        Ok(p) => p,
        Err(_) => return None, // the case itself reports the error
    };
    let kinds: BTreeSet<_> = plan.nodes.iter().map(|n| n.speaker).collect();
    kinds
        .into_iter()
        .find_map(|k| check_installed(k).err())
        .map(|e| e.to_string())
}

fn options(topo: PathBuf, speakers: SpeakerSelection, tag: &str) -> RunOptions {
    let mut opts = RunOptions::new(topo);
    opts.load.speakers = Some(speakers);
    opts.name = Some(unique_lab_name(tag));
    opts.deadline = Duration::from_secs(45);
    // Every captured BGP message must also decode in tshark (an independent dissector).
    opts.tshark = true;
    opts
}

fn failing_checks(report: &RunReport) -> String {
    report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .map(|c| {
            let details: Vec<&str> = c.details.iter().take(12).map(String::as_str).collect();
            format!("{}: {}\n    {}", c.name, c.summary, details.join("\n    "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn trial(
    name: String,
    topo: PathBuf,
    speakers: SpeakerSelection,
    body: impl FnOnce(RunReport) -> anyhow::Result<()> + Send + 'static,
    misconfig: Option<Misconfig>,
) -> Trial {
    let tag = name.clone();
    Trial::ignorable_test(name, move || {
        if let Some(reason) = skip_reason(&topo, &speakers) {
            return Ok(Completion::ignored_with(reason));
        }
        let mut opts = options(topo, speakers, &tag);
        if misconfig.is_some() {
            // A misconfigured fabric never converges to the design: bound the wait.
            opts.deadline = Duration::from_secs(12);
        }
        opts.misconfig = misconfig;
        let report = run(&opts).map_err(|e| format!("run failed: {e}"))?;
        body(report).map_err(|e| format!("{e:#}"))?;
        Ok(Completion::Completed)
    })
    .with_kind("root")
}

/// The design holds: every check passes (none ignored for lack of evidence).
fn must_pass(report: RunReport) -> anyhow::Result<()> {
    if report.verdict != Verdict::Pass {
        bail!(
            "the fabric does not produce what the {} design requires:\n{}",
            report.design,
            failing_checks(&report)
        );
    }
    let names: BTreeSet<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    for want in [
        "convergence",
        "fib",
        "blackholes",
        "reachability",
        "node-exports",
    ] {
        let c = report
            .checks
            .iter()
            .find(|c| c.name == want)
            .with_context(|| format!("check {want} missing (have {names:?})"))?;
        if c.status != CheckStatus::Pass {
            bail!("check {want} did not pass: {:?} {}", c.status, c.summary);
        }
    }
    if report.timings_ms.convergence.is_none() {
        bail!("no convergence time measured");
    }
    Ok(())
}

/// The negative case fails, and for the reason it was built to show: `check` fails, and for
/// every group of `needles` some diff line mentions the group's first needle and one of the
/// others (e.g. a node's remote block, and "missing" or "unreachable": FRR and the bundled
/// speaker leave an unresolvable route out, BIRD installs it as unreachable).
fn must_fail_with(
    check: &'static str,
    needles: &'static [&'static [&'static str]],
) -> impl FnOnce(RunReport) -> anyhow::Result<()> {
    move |report: RunReport| {
        if report.verdict != Verdict::Fail {
            bail!("the misconfigured fabric passed every check: the negative case cannot fail");
        }
        let c = report
            .checks
            .iter()
            .find(|c| c.name == check)
            .with_context(|| format!("check {check} missing"))?;
        if c.status != CheckStatus::Fail {
            bail!("check {check} passed; failing: {}", failing_checks(&report));
        }
        for group in needles {
            let Some((subject, reasons)) = group.split_first() else {
                continue;
            };
            let explained = c
                .details
                .iter()
                .any(|d| d.contains(subject) && reasons.iter().any(|r| d.contains(r)));
            if !explained {
                bail!(
                    "the {check} diff does not explain the failure (no line with `{subject}` and one of {reasons:?}):\n{}",
                    c.details.join("\n")
                );
            }
        }
        Ok(())
    }
}

fn main() {
    let mut trials = Vec::new();
    for (design, file) in DESIGNS {
        for (set, sel) in SPEAKER_SETS {
            let speakers: SpeakerSelection = match sel.parse() {
                Ok(s) => s,
                Err(e) => panic!("bad speaker set {sel}: {e}"),
            };
            trials.push(trial(
                format!("{design}::{set}"),
                topology(file),
                speakers,
                must_pass,
                None,
            ));
        }
    }
    // Route-reflector nodes instead of the ToR (AS per rack).
    for set in ["bundled", "bird"] {
        let speakers: SpeakerSelection = set.parse().unwrap_or_default();
        trials.push(trial(
            format!("as-per-rack-rr-nodes::{set}"),
            topology("as-per-rack-rr-nodes.yaml"),
            speakers,
            must_pass,
            None,
        ));
    }
    // Negative cases: the diff must name the missing remote blocks.
    for set in ["bundled", "bird", "frr"] {
        let speakers: SpeakerSelection = set.parse().unwrap_or_default();
        trials.push(trial(
            format!("negative::as-per-rack-without-next-hop-self::{set}"),
            topology("as-per-rack.yaml"),
            speakers.clone(),
            must_fail_with("fib", &[&["r1n1 10.64.", "missing", "unreachable"]]),
            Some(Misconfig::NoNextHopSelf),
        ));
        trials.push(trial(
            format!("negative::racks-share-one-as-without-allowas-in::{set}"),
            topology("as-per-rack.yaml"),
            speakers,
            must_fail_with("fib", &[&["r1t1 10.64.16.", "missing", "unreachable"]]),
            Some(Misconfig::SharedRackAsWithoutAllowasIn),
        ));
    }
    fabriclab_suites::run(trials);
}
