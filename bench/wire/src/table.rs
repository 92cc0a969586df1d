//! The result table (Markdown, so it can be pasted into README.md as is).

use std::fmt::Write as _;

use crate::timing::Measurement;

/// Decode or encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Bytes to typed message.
    Decode,
    /// Typed message to bytes, into a reused buffer.
    Encode,
}

/// Which implementation a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// `fabric-bgp-wire`, the codec under test.
    Fabric,
    /// `netgauze-bgp-pkt`, the reference.
    Netgauze,
}

impl Codec {
    fn name(self) -> &'static str {
        match self {
            Codec::Fabric => "fabric-bgp-wire",
            Codec::Netgauze => "netgauze-bgp-pkt",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Case name.
    pub case: &'static str,
    /// Decode or encode.
    pub op: Op,
    /// Implementation.
    pub codec: Codec,
    /// Prefixes per message.
    pub prefixes: usize,
    /// Message size in octets.
    pub octets: usize,
    /// The measurement, once taken.
    pub m: Option<Measurement>,
}

/// `1234567.0` → `"1.23 M"`.
fn si(x: f64) -> String {
    match x {
        x if x >= 1e9 => format!("{:.2} G", x / 1e9),
        x if x >= 1e6 => format!("{:.2} M", x / 1e6),
        x if x >= 1e3 => format!("{:.1} k", x / 1e3),
        x => format!("{x:.0}"),
    }
}

/// Renders `rows` with throughput and the speed ratio against netgauze's row of the same case
/// and operation (`netgauze ns / this ns`: above 1 means faster than netgauze).
pub fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| case | op | codec | msgs/s | prefixes/s | ns/msg | vs netgauze | spread |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|");
    for r in rows {
        let Some(m) = r.m else { continue };
        let reference = rows
            .iter()
            .find(|o| o.case == r.case && o.op == r.op && o.codec == Codec::Netgauze)
            .and_then(|o| o.m);
        let per_sec = if m.ns_per_op > 0.0 {
            1e9 / m.ns_per_op
        } else {
            0.0
        };
        let prefixes = if r.prefixes == 0 {
            "-".to_string()
        } else {
            si(per_sec * r.prefixes as f64)
        };
        let ratio = match (r.codec, reference) {
            (Codec::Netgauze, _) => "1.00 (ref)".to_string(),
            (Codec::Fabric, Some(n)) if m.ns_per_op > 0.0 => {
                format!("{:.2}x", n.ns_per_op / m.ns_per_op)
            }
            _ => "n/a".to_string(),
        };
        let op = match r.op {
            Op::Decode => "decode",
            Op::Encode => "encode",
        };
        let _ = writeln!(
            out,
            "| {} ({} B) | {op} | {} | {} | {prefixes} | {:.1} | {ratio} | {:.0}% |",
            r.case,
            r.octets,
            r.codec.name(),
            si(per_sec),
            m.ns_per_op,
            m.spread * 100.0,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(codec: Codec, ns: f64) -> Row {
        Row {
            case: "c",
            op: Op::Decode,
            codec,
            prefixes: 500,
            octets: 100,
            m: Some(Measurement {
                ns_per_op: ns,
                spread: 0.1,
            }),
        }
    }

    #[test]
    fn ratio_is_reference_time_over_own_time() {
        let t = render(&[row(Codec::Fabric, 1000.0), row(Codec::Netgauze, 2500.0)]);
        let fabric = t.lines().find(|l| l.contains("fabric")).unwrap_or_default();
        assert!(fabric.contains("| 2.50x |"), "{fabric}");
        // 1 µs per message: 1 M msgs/s, 500 M prefixes/s.
        assert!(fabric.contains("| 1.00 M | 500.00 M |"), "{fabric}");
        let ng = t
            .lines()
            .find(|l| l.contains("netgauze-bgp-pkt"))
            .unwrap_or_default();
        assert!(ng.contains("1.00 (ref)"), "{ng}");
    }

    #[test]
    fn si_prefixes() {
        assert_eq!(si(999.0), "999");
        assert_eq!(si(12_345.0), "12.3 k");
        assert_eq!(si(2_500_000_000.0), "2.50 G");
    }
}
