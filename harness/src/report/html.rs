//! A single-file HTML report: inline CSS and SVG only (it must open from a CI artifact store
//! with no network).
//!
//! Sections: summary, topology (tiers spine / ToR / node, links coloured by their state at the
//! end of the run, nodes by whether their FIB matched), convergence timeline (route events per
//! node over time, harness actions as vertical markers), checks, loss per flow, churn, events
//! (loss and churn per scenario disruption), FIB differences, nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::check::CheckStatus;
use crate::expect::diff_all;
use crate::run::{Evidence, RunReport, Verdict};
use crate::timeline::{Source, TimelineEvent};
use crate::topology::{LinkId, NodeId, Plan, Role};

use super::xml::escape;

const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d5d9e0;padding-bottom:4px}
.meta{color:#555;font-size:13px}
.badge{display:inline-block;padding:3px 10px;border-radius:4px;color:#fff;font-weight:600;margin-left:8px}
.pass{background:#1f9d55}.fail{background:#d64545}.ignored{background:#8a8f98}
table{border-collapse:collapse;background:#fff;font-size:13px}
td,th{border:1px solid #d5d9e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5}
pre{margin:0;white-space:pre-wrap;font-size:12px}
.card{background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:8px;overflow-x:auto}
.legend span{margin-right:14px;font-size:12px}
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px;border-radius:2px}
"#;

const GREEN: &str = "#1f9d55";
const RED: &str = "#d64545";
const ORANGE: &str = "#e8a33d";
const BLUE: &str = "#3b6fd6";
const GREY: &str = "#8a8f98";

/// The whole report as one HTML document.
pub fn html_report(report: &RunReport, ev: &Evidence) -> String {
    let mut s = String::new();
    let verdict = match report.verdict {
        Verdict::Pass => ("PASS", "pass"),
        Verdict::Fail => ("FAIL", "fail"),
    };
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>fabriclab {}</title><style>{CSS}</style></head><body>",
        escape(&report.plan)
    );
    let _ = write!(
        s,
        "<h1>fabriclab: {}<span class=\"badge {}\">{}</span></h1>",
        escape(&report.plan),
        verdict.1,
        verdict.0
    );
    let speakers: Vec<String> = report
        .speakers
        .iter()
        .map(|(r, k)| format!("{r}={k}"))
        .collect();
    let t = &report.timings_ms;
    let _ = write!(
        s,
        "<div class=\"meta\">design {} &middot; speakers {} &middot; lab {} (run {}) &middot; topology {} &middot; fabriclab {}<br>built in {} ms &middot; speakers started in {} ms &middot; converged in {} &middot; total {} ms</div>",
        report.design,
        escape(&speakers.join(", ")),
        escape(&report.lab),
        escape(&report.run_id),
        escape(&report.topology.display().to_string()),
        escape(&report.version),
        t.build,
        t.speakers_start,
        t.convergence
            .map(|c| format!("{c} ms"))
            .unwrap_or_else(|| "NOT CONVERGED".into()),
        t.total
    );

    let diffs = diff_all(&ev.expected, &ev.actual);
    let bad_nodes: BTreeSet<&NodeId> = diffs.iter().map(|d| &d.node).collect();
    let links = link_states(&ev.timeline);

    s.push_str("<h2>Topology</h2><div class=\"card\">");
    s.push_str(&topology_svg(&ev.plan, &bad_nodes, &links));
    let _ = write!(
        s,
        "<div class=\"legend\"><span><i class=\"sw\" style=\"background:{GREEN}\"></i>link up / FIB matches</span><span><i class=\"sw\" style=\"background:{RED}\"></i>link down / FIB differs</span><span><i class=\"sw\" style=\"background:{ORANGE}\"></i>link impaired</span></div></div>"
    );

    s.push_str("<h2>Convergence timeline</h2><div class=\"card\">");
    s.push_str(&timeline_svg(&ev.plan, &ev.timeline));
    let _ = write!(
        s,
        "<div class=\"legend\"><span><i class=\"sw\" style=\"background:{GREEN}\"></i>route added</span><span><i class=\"sw\" style=\"background:{RED}\"></i>route removed</span><span><i class=\"sw\" style=\"background:{BLUE}\"></i>harness action</span></div></div>"
    );

    s.push_str("<h2>Checks</h2><table><tr><th>status</th><th>check</th><th>summary</th><th>details</th></tr>");
    for c in &report.checks {
        let (label, class) = match c.status {
            CheckStatus::Pass => ("PASS", "pass"),
            CheckStatus::Fail => ("FAIL", "fail"),
            CheckStatus::Ignored => ("IGNORED", "ignored"),
        };
        let details: Vec<&String> = c.details.iter().take(50).collect();
        let more = c.details.len().saturating_sub(50);
        let _ = write!(
            s,
            "<tr><td><span class=\"badge {class}\">{label}</span></td><td>{}</td><td>{}</td><td><pre>{}{}</pre></td></tr>",
            escape(&c.name),
            escape(&c.summary),
            escape(
                &details
                    .iter()
                    .map(|d| d.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            if more > 0 {
                format!("\n... and {more} more")
            } else {
                String::new()
            }
        );
    }
    s.push_str("</table>");

    if !report.flows.is_empty() {
        s.push_str("<h2>Loss per flow</h2><table><tr><th>from</th><th>to</th><th>sent</th><th>received</th><th>lost</th><th>longest gap</th></tr>");
        for f in &report.flows {
            let class = if f.lost == 0 { "pass" } else { "fail" };
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"badge {class}\">{}</span></td><td>{} ms</td></tr>",
                escape(f.src.as_str()),
                escape(f.dst.as_str()),
                f.sent,
                f.received,
                f.lost,
                f.longest_gap_ms
            );
        }
        s.push_str("</table>");
    }
    if !report.churn.is_empty() {
        s.push_str("<h2>Route churn during the scenario</h2><table><tr><th>node</th><th>routes added</th><th>routes removed</th></tr>");
        for c in &report.churn {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(c.node.as_str()),
                c.added,
                c.removed
            );
        }
        s.push_str("</table>");
    }

    if !report.events.is_empty() {
        s.push_str("<h2>Events</h2><table><tr><th>steps</th><th>event</th><th>at</th><th>window</th><th>lost</th><th>longest gap</th><th>helpers: own routes removed / re-added</th><th>other churn</th><th>expectation</th></tr>");
        for e in &report.events {
            let mut what = format!("{} {}", e.kind, e.targets());
            if let Some(d) = e.down_ms {
                let _ = write!(what, " (down {d} ms)");
            }
            let helpers: Vec<String> = e
                .churn
                .iter()
                .filter(|c| c.helper)
                .map(|c| format!("{} -{}/+{}", c.node, c.own_removed, c.own_readded))
                .collect();
            let other: u64 = e
                .churn
                .iter()
                .map(crate::run::EventChurn::other_total)
                .sum();
            let (class, held) = match e.expect_held {
                Some(true) => ("pass", "held".to_string()),
                Some(false) => ("fail", format!("FAILED: {}", e.expect_failures.join("; "))),
                None => ("ignored", "none".to_string()),
            };
            let lost_class = if e.lost == 0 { "pass" } else { "fail" };
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>+{} ms</td><td>{} ms</td><td><span class=\"badge {lost_class}\">{}</span></td><td>{} ms</td><td>{}</td><td>{other}</td><td><span class=\"badge {class}\">{}</span></td></tr>",
                e.steps.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(","),
                escape(&what),
                e.start_ms,
                e.duration_ms,
                e.lost,
                e.longest_gap_ms,
                escape(&helpers.join(", ")),
                escape(&held)
            );
        }
        s.push_str("</table>");
    }

    s.push_str("<h2>FIB differences</h2>");
    if diffs.is_empty() {
        s.push_str("<p>Every FIB equals its expected FIB.</p>");
    } else {
        s.push_str("<table><tr><th>node</th><th>prefix</th><th>difference</th></tr>");
        for d in diffs.iter().take(300) {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
                escape(d.node.as_str()),
                escape(&d.prefix.to_string()),
                escape(&d.to_string())
            );
        }
        s.push_str("</table>");
        if diffs.len() > 300 {
            let _ = write!(s, "<p>... and {} more</p>", diffs.len() - 300);
        }
    }

    s.push_str("<h2>Nodes</h2><table><tr><th>node</th><th>role</th><th>speaker</th><th>expected routes</th><th>actual routes</th><th>converged</th><th>route events</th></tr>");
    for n in &report.nodes {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(n.node.as_str()),
            n.role,
            n.speaker,
            n.expected_routes,
            n.actual_routes,
            n.converged_ms
                .map(|c| format!("{c} ms"))
                .unwrap_or_else(|| "-".into()),
            n.route_events
        );
    }
    s.push_str("</table></body></html>\n");
    s
}

/// A link's state at the end of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkLook {
    Up,
    Down,
    Impaired,
}

/// The last link action per link in the timeline.
fn link_states(timeline: &[TimelineEvent]) -> BTreeMap<LinkId, LinkLook> {
    let mut m = BTreeMap::new();
    for e in timeline.iter().filter(|e| e.source == Source::Harness) {
        let Some(l) = e.link else { continue };
        let look = match e.kind.as_str() {
            "link-down" => LinkLook::Down,
            "link-up" => LinkLook::Up,
            "impair" => LinkLook::Impaired,
            "clear-impairment" => LinkLook::Up,
            _ => continue,
        };
        m.insert(l, look);
    }
    m
}

fn tier(role: Role) -> usize {
    match role {
        Role::Spine => 0,
        Role::Tor => 1,
        _ => 2,
    }
}

/// Spines on top, ToRs in the middle, nodes (and RRs, external peers) at the bottom.
fn topology_svg(
    plan: &Plan,
    bad: &BTreeSet<&NodeId>,
    links: &BTreeMap<LinkId, LinkLook>,
) -> String {
    let mut rows: [Vec<&NodeId>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for n in &plan.nodes {
        if let Some(r) = rows.get_mut(tier(n.role)) {
            r.push(&n.id);
        }
    }
    let widest = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let (box_w, box_h, gap) = (64.0_f64, 26.0_f64, 14.0_f64);
    #[allow(clippy::cast_precision_loss)]
    let width = (widest as f64) * (box_w + gap) + gap;
    let height = 3.0 * 110.0;
    let mut pos: BTreeMap<&NodeId, (f64, f64)> = BTreeMap::new();
    for (t, row) in rows.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let step = width / (row.len().max(1) as f64);
        for (i, id) in row.iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            let x = step * (i as f64 + 0.5);
            #[allow(clippy::cast_precision_loss)]
            let y = 40.0 + (t as f64) * 110.0;
            pos.insert(id, (x, y));
        }
    }
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    for l in &plan.links {
        let (Some(a), Some(b)) = (pos.get(&l.a.node), pos.get(&l.b.node)) else {
            continue;
        };
        let look = links.get(&l.id).copied().unwrap_or(LinkLook::Up);
        let (color, dash, w) = match look {
            LinkLook::Up => (GREEN, "", 1.6),
            LinkLook::Down => (RED, " stroke-dasharray=\"6 4\"", 2.6),
            LinkLook::Impaired => (ORANGE, " stroke-dasharray=\"2 3\"", 2.6),
        };
        let _ = write!(
            s,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"{w}\"{dash}><title>{} {} - {}</title></line>",
            a.0,
            a.1,
            b.0,
            b.1,
            l.id,
            escape(l.a.node.as_str()),
            escape(l.b.node.as_str())
        );
    }
    for (id, (x, y)) in &pos {
        let fill = if bad.contains(id) { RED } else { GREEN };
        let _ = write!(
            s,
            "<g><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{box_w}\" height=\"{box_h}\" rx=\"5\" fill=\"{fill}\" stroke=\"#1d2330\" stroke-width=\"0.8\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#fff\" font-weight=\"600\">{}</text></g>",
            x - box_w / 2.0,
            y - box_h / 2.0,
            y + 4.0,
            escape(id.as_str())
        );
    }
    s.push_str("</svg>");
    s
}

/// Route events per node over time, with harness actions as vertical markers.
fn timeline_svg(plan: &Plan, timeline: &[TimelineEvent]) -> String {
    let nodes: Vec<&NodeId> = plan.nodes.iter().map(|n| &n.id).collect();
    let row_of: BTreeMap<&NodeId, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let interesting = |e: &&TimelineEvent| {
        e.source == Source::Route
            || (e.source == Source::Harness
                && !matches!(e.kind.as_str(), "check" | "daemon-stopped" | "step"))
    };
    let shown: Vec<&TimelineEvent> = timeline.iter().filter(interesting).collect();
    let (Some(t0), Some(t1)) = (
        shown.iter().map(|e| e.ts_us).min(),
        shown.iter().map(|e| e.ts_us).max(),
    ) else {
        return "<p>No timeline recorded.</p>".into();
    };
    let span = (t1.saturating_sub(t0)).max(1);
    let (left, right, top, row_h) = (90.0_f64, 20.0_f64, 30.0_f64, 16.0_f64);
    let plot_w = 1000.0_f64;
    let width = left + plot_w + right;
    #[allow(clippy::cast_precision_loss)]
    let height = top + row_h * (nodes.len() as f64) + 40.0;
    #[allow(clippy::cast_precision_loss)]
    let x_of = |ts: u64| left + plot_w * (ts.saturating_sub(t0) as f64) / (span as f64);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"10\">"
    );
    for (i, n) in nodes.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let y = top + row_h * (i as f64);
        let band = if i % 2 == 0 { "#f0f2f6" } else { "#ffffff" };
        let _ = write!(
            s,
            "<rect x=\"{left}\" y=\"{y:.1}\" width=\"{plot_w}\" height=\"{row_h}\" fill=\"{band}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1d2330\">{}</text>",
            left - 6.0,
            y + row_h - 4.0,
            escape(n.as_str())
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let bottom = top + row_h * (nodes.len() as f64);
    // Time axis: 5 ticks.
    for k in 0..=5u64 {
        let ts = t0 + span * k / 5;
        let x = x_of(ts);
        #[allow(clippy::cast_precision_loss)]
        let secs = (ts - t0) as f64 / 1e6;
        let _ = write!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{bottom:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#1d2330\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{secs:.2} s</text>",
            bottom + 4.0,
            bottom + 16.0
        );
    }
    let mut label_slot = 0usize;
    for e in &shown {
        let x = x_of(e.ts_us);
        match e.source {
            Source::Route => {
                let Some(row) = e.node.as_ref().and_then(|n| row_of.get(n)) else {
                    continue;
                };
                #[allow(clippy::cast_precision_loss)]
                let y = top + row_h * (*row as f64);
                let color = if e.kind == "route-del" { RED } else { GREEN };
                let _ = write!(
                    s,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"3\" height=\"{:.1}\" fill=\"{color}\"><title>{}</title></rect>",
                    x - 1.0,
                    y + 2.0,
                    row_h - 4.0,
                    escape(&e.text)
                );
            }
            _ => {
                let color = if matches!(
                    e.kind.as_str(),
                    "not-converged" | "link-down" | "daemon-killed"
                ) {
                    RED
                } else if e.kind == "daemon-started" {
                    GREY
                } else {
                    BLUE
                };
                let _ = write!(
                    s,
                    "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"{color}\" stroke-width=\"1\" stroke-dasharray=\"3 2\" opacity=\"0.7\"><title>{}: {}</title></line>",
                    top - 12.0,
                    escape(&e.kind),
                    escape(&e.text)
                );
                if e.kind != "daemon-started" {
                    #[allow(clippy::cast_precision_loss)]
                    let ly = 10.0 + ((label_slot % 2) as f64) * 10.0;
                    label_slot += 1;
                    let _ = write!(
                        s,
                        "<text x=\"{:.1}\" y=\"{ly:.1}\" fill=\"{color}\">{}</text>",
                        x + 2.0,
                        escape(&e.kind)
                    );
                }
            }
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::expected_fibs;
    use crate::topology::parse;

    #[test]
    fn report_holds_nodes_checks_and_down_links() {
        let plan = parse(
            "design: as-per-rack\nspines: 2\nracks:\n  - { nodes: 2 }\n  - { nodes: 2 }\n",
            "t.yaml",
        )
        .expect("plan");
        let expected = expected_fibs(&plan);
        let mut actual = expected.clone();
        if let Some(f) = actual.get_mut(&NodeId::from("r1n1")) {
            *f = crate::fib::NodeFib::new();
        }
        let link = plan.links.first().map(|l| l.id).expect("a link");
        let mut down = TimelineEvent::harness("link-down", None, "down");
        down.link = Some(link);
        let ev = Evidence {
            plan: plan.clone(),
            expected_plan: plan.clone(),
            expected,
            actual,
            timeline: vec![TimelineEvent::harness("lab-built", None, "built"), down],
            artifacts: "/nonexistent".into(),
        };
        let mut report = super::super::junit::tests::sample_report();
        report.lab = "lab-1".into();
        let html = html_report(&report, &ev);
        for n in &plan.nodes {
            assert!(html.contains(&format!(">{}<", n.id)), "{} missing", n.id);
        }
        assert!(html.contains("convergence") && html.contains("node-exports"));
        // r1n1's FIB differs: its box and its diff rows are there.
        assert!(html.contains("r1n1</td>"));
        assert!(html.contains(&format!("stroke=\"{RED}\" stroke-width=\"2.6\"")));
        assert!(
            !html.contains("http://")
                || html.matches("http://").count()
                    == html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
    }
}
