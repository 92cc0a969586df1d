//! `fabriclab bench-designs`: time to convergence and daemons' memory of sample fabrics per
//! speaker set, in one run, as a table with ratios to BIRD (a benchmark: nothing asserts on
//! these numbers).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::topology::SpeakerSelection;

use super::{run, RunOptions, Verdict};

/// One measured run.
#[derive(Debug, Clone)]
pub struct BenchRow {
    pub topology: String,
    pub design: String,
    pub speakers: String,
    pub nodes: usize,
    pub verdict: Option<Verdict>,
    pub convergence_ms: Option<u64>,
    pub rss_kib: u64,
    pub error: Option<String>,
}

/// Runs every topology with every speaker set, `rounds` times each, keeping the median
/// convergence time and the largest memory figure.
pub fn bench_designs(
    topologies: &[PathBuf],
    sets: &[(String, SpeakerSelection)],
    rounds: usize,
) -> Vec<BenchRow> {
    let mut rows = Vec::new();
    for topo in topologies {
        for (name, sel) in sets {
            let mut conv = Vec::new();
            let mut row = BenchRow {
                topology: topo.display().to_string(),
                design: String::new(),
                speakers: name.clone(),
                nodes: 0,
                verdict: None,
                convergence_ms: None,
                rss_kib: 0,
                error: None,
            };
            for _ in 0..rounds.max(1) {
                let mut opts = RunOptions::new(topo);
                opts.load.speakers = Some(sel.clone());
                opts.capture = false;
                opts.deadline = Duration::from_secs(60);
                match run(&opts) {
                    Ok(r) => {
                        row.design = r.design.to_string();
                        row.nodes = r.nodes.len();
                        row.rss_kib = row.rss_kib.max(r.speakers_rss_kib);
                        if r.verdict == Verdict::Fail || row.verdict.is_none() {
                            row.verdict = Some(r.verdict);
                        }
                        if let Some(c) = r.timings_ms.convergence {
                            conv.push(c);
                        }
                    }
                    Err(e) => {
                        row.error = Some(e.to_string());
                        break;
                    }
                }
            }
            conv.sort_unstable();
            row.convergence_ms = conv.get(conv.len() / 2).copied();
            rows.push(row);
        }
    }
    rows
}

/// The table, with each row's ratio to the BIRD row of the same topology.
pub fn render_bench(rows: &[BenchRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| topology | design | speakers | nodes | verdict | convergence ms | vs bird | daemons' RSS MiB | vs bird |"
    );
    let _ = writeln!(s, "|---|---|---|---:|---|---:|---:|---:|---:|");
    for r in rows {
        let bird = rows
            .iter()
            .find(|b| b.topology == r.topology && b.speakers == "bird");
        let ratio = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if b > 0 => format!("{:.2}x", a as f64 / b as f64),
            _ => "-".into(),
        };
        let verdict = match (&r.error, r.verdict) {
            (Some(e), _) => format!("error: {e}"),
            (None, Some(Verdict::Pass)) => "pass".into(),
            (None, Some(Verdict::Fail)) => "FAIL".into(),
            (None, None) => "-".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} | {} |",
            r.topology,
            r.design,
            r.speakers,
            r.nodes,
            verdict,
            r.convergence_ms
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            ratio(r.convergence_ms, bird.and_then(|b| b.convergence_ms)),
            r.rss_kib as f64 / 1024.0,
            ratio(Some(r.rss_kib), bird.map(|b| b.rss_kib)),
        );
    }
    s
}
