//! Rendered configs must be accepted by each daemon's own checker, for a spine, a ToR, a node,
//! a route-reflector node and an external peer of every sample topology. A kind whose daemon is
//! not installed is reported as ignored (printed) and the test returns.

use std::path::Path;

use super::fixtures::{load, representatives, SAMPLES};
use super::*;
use crate::process::RunDir;

fn check_all(kind: crate::topology::SpeakerKind) {
    if let Err(missing) = check_installed(kind) {
        eprintln!("ignored: {missing}");
        return;
    }
    let adapter = adapter_for(kind);
    let options = SpeakerOptions::default();
    let mut checked = 0;
    for file in SAMPLES {
        let plan = load(file);
        for node in representatives(&plan) {
            let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
            let dir = RunDir::at(tmp.path());
            let ctx =
                NodeContext::new(&plan, &node, Path::new("/proc/self/ns/net"), &dir, &options)
                    .unwrap_or_else(|e| panic!("{e}"));
            let rendered = adapter
                .render(&ctx)
                .unwrap_or_else(|e| panic!("{file} {node}: {e}"));
            rendered.write(&dir).unwrap_or_else(|e| panic!("{e}"));
            match adapter.check_config(&ctx) {
                Ok(true) => checked += 1,
                Ok(false) => {}
                Err(e) => {
                    let text: Vec<String> = rendered
                        .files
                        .iter()
                        .map(|f| format!("==== {}\n{}", f.name, f.contents))
                        .collect();
                    panic!("{file} {node}: {e}\n{}", text.join("\n"));
                }
            }
        }
    }
    eprintln!("{kind}: {checked} configs accepted by the daemon's checker");
}

#[test]
fn bird_configs_pass_bird_p() {
    check_all(crate::topology::SpeakerKind::Bird);
}

#[test]
fn frr_configs_pass_dryrun() {
    check_all(crate::topology::SpeakerKind::Frr);
}

#[test]
fn gobgp_configs_pass_dry_run() {
    check_all(crate::topology::SpeakerKind::Gobgp);
}

#[test]
fn bundled_configs_load_in_the_speaker() {
    // The checker is the speaker library's own loader, so the binary need not be built.
    let adapter = adapter_for(crate::topology::SpeakerKind::Bundled);
    let options = SpeakerOptions::default();
    for file in SAMPLES {
        let plan = load(file);
        for node in representatives(&plan) {
            let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
            let dir = RunDir::at(tmp.path());
            let ctx =
                NodeContext::new(&plan, &node, Path::new("/proc/self/ns/net"), &dir, &options)
                    .unwrap_or_else(|e| panic!("{e}"));
            let rendered = adapter
                .render(&ctx)
                .unwrap_or_else(|e| panic!("{file} {node}: {e}"));
            rendered.write(&dir).unwrap_or_else(|e| panic!("{e}"));
            if let Err(e) = adapter.check_config(&ctx) {
                panic!("{file} {node}: {e}\n{:?}", rendered.file("speaker.yaml"));
            }
        }
    }
}

#[test]
#[ignore = "dumps rendered configs to /tmp/fl-render for review"]
fn dump_rendered() {
    let options = SpeakerOptions::default();
    for kind in [
        crate::topology::SpeakerKind::Bird,
        crate::topology::SpeakerKind::Frr,
        crate::topology::SpeakerKind::Gobgp,
        crate::topology::SpeakerKind::Bundled,
    ] {
        let adapter = adapter_for(kind);
        for file in SAMPLES {
            let plan = load(file);
            for node in representatives(&plan) {
                let dir = RunDir::at(format!("/tmp/fl-render/{kind}/{file}/{node}"));
                let ctx =
                    NodeContext::new(&plan, &node, Path::new("/proc/self/ns/net"), &dir, &options)
                        .unwrap_or_else(|e| panic!("{e}"));
                adapter
                    .render(&ctx)
                    .and_then(|r| r.write(&dir))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}
