//! JUnit XML: one `<testsuite>` per run, one `<testcase>` per check; failed checks carry a
//! `<failure>` with the summary as message and the details as text, ignored ones `<skipped>`.

use std::fmt::Write as _;

use crate::check::CheckStatus;
use crate::run::RunReport;

use super::xml::escape;

/// The JUnit XML document of a run.
pub fn junit_xml(report: &RunReport) -> String {
    let failures = report.checks.iter().filter(|c| c.failed()).count();
    let skipped = report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Ignored)
        .count();
    #[allow(clippy::cast_precision_loss)]
    let secs = report.timings_ms.total as f64 / 1000.0;
    let suite = format!("fabriclab.{}", report.plan);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"fabriclab\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{secs:.3}\">",
        report.checks.len()
    );
    let _ = writeln!(
        s,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{secs:.3}\">",
        escape(&suite),
        report.checks.len()
    );
    let _ = writeln!(s, "    <properties>");
    for (k, v) in [
        ("design", report.design.to_string()),
        ("lab", report.lab.clone()),
        ("run_id", report.run_id.clone()),
        ("topology", report.topology.display().to_string()),
        ("version", report.version.clone()),
    ] {
        let _ = writeln!(s, "      <property name=\"{k}\" value=\"{}\"/>", escape(&v));
    }
    let _ = writeln!(s, "    </properties>");
    for c in &report.checks {
        let _ = write!(
            s,
            "    <testcase classname=\"{}\" name=\"{}\"",
            escape(&suite),
            escape(&c.name)
        );
        match c.status {
            CheckStatus::Pass => {
                let _ = writeln!(s, "/>");
            }
            CheckStatus::Ignored => {
                let _ = writeln!(s, ">");
                let _ = writeln!(s, "      <skipped message=\"{}\"/>", escape(&c.summary));
                let _ = writeln!(s, "    </testcase>");
            }
            CheckStatus::Fail => {
                let _ = writeln!(s, ">");
                let _ = writeln!(
                    s,
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                    escape(&c.summary),
                    escape(&c.name),
                    escape(&c.details.join("\n"))
                );
                let _ = writeln!(s, "    </testcase>");
            }
        }
    }
    let _ = writeln!(s, "  </testsuite>");
    let _ = writeln!(s, "</testsuites>");
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::check::CheckResult;
    use crate::run::Verdict;
    use crate::topology::Design;

    pub(crate) fn sample_report() -> RunReport {
        RunReport {
            version: "0.1.0".into(),
            topology: "t.yaml".into(),
            plan: "as-per-rack".into(),
            design: Design::AsPerRack,
            lab: "lab<1>".into(),
            run_id: "abc".into(),
            speakers: BTreeMap::new(),
            timings_ms: Default::default(),
            nodes: Vec::new(),
            checks: vec![
                CheckResult::from_details("convergence", "ok".into(), vec![]),
                CheckResult::from_details(
                    "fib",
                    "2 differences".into(),
                    vec!["r1n1 10.0.0.0/26 missing".into(), "a < b & c".into()],
                ),
                CheckResult::ignored("node-exports", "capture is off"),
            ],
            verdict: Verdict::Fail,
            artifacts: None,
            speakers_rss_kib: 0,
            flows: Vec::new(),
            churn: Vec::new(),
            events: Vec::new(),
        }
    }

    #[test]
    fn one_testcase_per_check_with_failures_and_skips() {
        let x = junit_xml(&sample_report());
        assert_eq!(x.matches("<testcase ").count(), 3);
        assert!(x.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""));
        assert!(x.contains("<failure message=\"2 differences\""));
        assert!(x.contains("a &lt; b &amp; c"));
        assert!(x.contains("<skipped message=\"capture is off\"/>"));
        assert!(x.contains("value=\"lab&lt;1&gt;\""));
    }
}
