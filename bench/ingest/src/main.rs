//! `bench-ingest`: one eBGP session feeds N IPv4 /24 prefixes (default 1,000,000) into the
//! bundled speaker, BIRD, FRR and GoBGP in turn, each in a fresh two-node lab, and prints how
//! long each took to hold them all in its Loc-RIB and in the kernel FIB, and its peak RSS, with
//! ratios to BIRD.
//!
//! ```text
//!   inj (injector, AS 65001, passive) ──── one eBGP session ──── dut (daemon under test, dials)
//!   t0: first UPDATE written (pre-encoded: 1000 prefixes per UPDATE, 100 AS_PATHs, then EoR)
//!   FIB: route notifications in dut's namespace counted on their own thread (no polling)
//!   Loc-RIB: the daemon's own prefix count (birdc / vtysh / gobgp / control socket) every 0.5 s
//!   RSS: VmHWM of every process of the daemon (FRR: bgpd + zebra; GoBGP: gobgpd + FIB agent)
//! ```
//!
//! Usage (root): `bench-ingest [--prefixes N] [--daemons bundled,bird,frr,gobgp] [--timeout S]`.
//! Run through `ci/bench-ingest`, which builds the release binaries it needs.

mod fibwatch;
mod inject;

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use fabric_bgp_wire::{Asn, RouterId};
use fabriclab::lab::{BuildOptions, Lab};
use fabriclab::speakers::{check_installed, SpeakerInstance, SpeakerOptions};
use fabriclab::topology::{self, NodeId, Plan, SpeakerKind};

use crate::fibwatch::FibWatch;
use crate::inject::{Identity, Table};

/// How often the daemon's own prefix count is asked for (more often distorts: `birdc` and
/// `gobgp` queries compete with the ingest).
const RIB_POLL: Duration = Duration::from_millis(500);

struct Args {
    prefixes: u32,
    daemons: Vec<SpeakerKind>,
    timeout: Duration,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        prefixes: 1_000_000,
        daemons: vec![
            SpeakerKind::Bundled,
            SpeakerKind::Bird,
            SpeakerKind::Frr,
            SpeakerKind::Gobgp,
        ],
        timeout: Duration::from_secs(600),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{arg} needs a value"));
        match arg.as_str() {
            "--prefixes" => a.prefixes = value()?.parse()?,
            "--timeout" => a.timeout = Duration::from_secs(value()?.parse()?),
            "--daemons" => {
                a.daemons = value()?
                    .split(',')
                    .map(|s| s.parse().map_err(|e| anyhow!("{e}")))
                    .collect::<Result<_>>()?
            }
            "-h" | "--help" => {
                println!("usage: bench-ingest [--prefixes N] [--daemons bundled,bird,frr,gobgp] [--timeout SECS]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if a.prefixes == 0 || a.prefixes > 1 << 20 {
        bail!("--prefixes must be 1..=1048576 (/24s inside 32.0.0.0/4)");
    }
    Ok(a)
}

/// One daemon's result.
struct Row {
    kind: SpeakerKind,
    rib: Option<Duration>,
    fib: Option<Duration>,
    sent: Duration,
    rss_kib: u64,
    processes: String,
    note: String,
}

fn main() {
    match real_main() {
        Ok(()) => {}
        Err(e) => {
            eprintln!("bench-ingest: {e:#}");
            std::process::exit(1);
        }
    }
}

fn real_main() -> Result<()> {
    let args = parse_args()?;
    if !nix::unistd::geteuid().is_root() {
        bail!("needs root (network namespaces)");
    }
    let table = Table {
        prefixes: args.prefixes,
        base: Ipv4Addr::new(32, 0, 0, 0),
    };
    println!(
        "ingest benchmark: {} IPv4 /24 prefixes over one eBGP session; load average before: {}",
        args.prefixes,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut rows = Vec::new();
    for kind in &args.daemons {
        if let Err(e) = check_installed(*kind) {
            println!("{kind}: skipped ({e})");
            continue;
        }
        println!("{kind}: running...");
        match one(*kind, table, args.timeout) {
            Ok(r) => {
                println!(
                    "{kind}: Loc-RIB {} FIB {} peak RSS {} ({}){}",
                    secs(r.rib),
                    secs(r.fib),
                    mib(r.rss_kib),
                    r.processes,
                    if r.note.is_empty() {
                        String::new()
                    } else {
                        format!(" — {}", r.note)
                    }
                );
                rows.push(r);
            }
            Err(e) => println!("{kind}: failed: {e:#}"),
        }
    }
    print_table(&rows);
    Ok(())
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ratio(x: Option<f64>, bird: Option<f64>) -> String {
    match (x, bird) {
        (Some(x), Some(b)) if b > 0.0 => format!("{:.2}x", x / b),
        _ => "-".to_owned(),
    }
}

fn print_table(rows: &[Row]) {
    let bird = rows.iter().find(|r| r.kind == SpeakerKind::Bird);
    let b_rib = bird.and_then(|r| r.rib).map(|d| d.as_secs_f64());
    let b_fib = bird.and_then(|r| r.fib).map(|d| d.as_secs_f64());
    let b_rss = bird.map(|r| r.rss_kib as f64);
    println!();
    println!(
        "{:<8}  {:>9}  {:>9}  {:>11}  {:>8}  {:>8}  {:>8}  {:>9}  notes",
        "daemon", "Loc-RIB", "FIB", "peak RSS", "RIB/BIRD", "FIB/BIRD", "RSS/BIRD", "sent in"
    );
    for r in rows {
        println!(
            "{:<8}  {:>9}  {:>9}  {:>11}  {:>8}  {:>8}  {:>8}  {:>9}  {}",
            r.kind.to_string(),
            secs(r.rib),
            secs(r.fib),
            mib(r.rss_kib),
            ratio(r.rib.map(|d| d.as_secs_f64()), b_rib),
            ratio(r.fib.map(|d| d.as_secs_f64()), b_fib),
            ratio(Some(r.rss_kib as f64), b_rss),
            secs(Some(r.sent)),
            r.note
        );
    }
    println!(
        "times from the first UPDATE written; Loc-RIB polled every {:.1} s (±{:.1} s); FIB from route notifications",
        RIB_POLL.as_secs_f64(),
        RIB_POLL.as_secs_f64()
    );
}

fn plan_for(kind: SpeakerKind) -> Result<Plan> {
    let text = format!(
        "name: ingest\ndesign: as-per-server\npods-per-node: 0\nnodes:\n  - {{ name: dut, role: spine, speaker: {kind} }}\n  - {{ name: inj, role: external, asn: 65001 }}\nlinks:\n  - {{ a: dut, b: inj }}\n"
    );
    topology::parse(&text, "bench-ingest").map_err(|e| anyhow!("{e}"))
}

/// Peak RSS (VmHWM) of a process, KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn one(kind: SpeakerKind, table: Table, timeout: Duration) -> Result<Row> {
    let plan = plan_for(kind)?;
    let (dut, inj) = (NodeId::from("dut"), NodeId::from("inj"));
    let lab = Lab::build(
        &plan,
        BuildOptions {
            name: Some(format!("ingest-{}-{kind}", std::process::id())),
            ..BuildOptions::default()
        },
    )?;
    let link = plan.links.first().ok_or_else(|| anyhow!("no link"))?;
    let (inj_end, _) = link
        .ends_from(&inj)
        .ok_or_else(|| anyhow!("inj not on the link"))?;
    let inj_addr = inj_end.v4.addr();
    let inj_node = plan.node(&inj).ok_or_else(|| anyhow!("no inj"))?;
    let me = Identity {
        asn: Asn(inj_node.asn.0),
        router_id: RouterId(inj_node.router_id.0),
        address: inj_addr,
        hold: 90,
    };
    // The listening socket is created inside inj's namespace and used from here.
    let listener = lab
        .in_node(&inj, move || TcpListener::bind((IpAddr::V4(inj_addr), 179)))?
        .context("listening in inj")?;
    let watch = FibWatch::start(&lab, &dut, table)?;
    let run_dir = tempfile_dir(kind)?;
    let mut options = SpeakerOptions::default();
    // Long timers: a busy daemon must not lose the session to its own hold timer.
    options.timers.hold = 90;
    options.timers.keepalive = 30;
    // As a plain table transfer: no graceful-restart recovery deferring the kernel sync.
    options.graceful_restart.enabled = false;
    options.query_timeout = Duration::from_secs(30);
    let mut inst = SpeakerInstance::prepare(
        Arc::new(plan.clone()),
        &dut,
        lab.netns_path(&dut)?,
        run_dir.path(),
        options,
    )?;
    inst.start()?;
    let session = inject::serve(listener, me, table, Duration::from_secs(60))?;
    let t0 = session.started;
    let sent = session.sent.saturating_duration_since(t0);
    println!(
        "{kind}: session up, {:.1} MiB of UPDATEs taken by the socket in {:.2} s",
        session.bytes as f64 / (1024.0 * 1024.0),
        sent.as_secs_f64()
    );
    let deadline = t0 + timeout;
    let mut rib: Option<Duration> = None;
    let mut fib_seen: Option<Instant> = None;
    let mut last = String::new();
    loop {
        if fib_seen.is_none() && watch.count() == table.prefixes {
            fib_seen = Some(Instant::now());
        }
        if rib.is_none() {
            if let Ok(n) = inst.neighbors() {
                let got: u64 = n.iter().filter_map(|s| s.prefixes_received).sum();
                last = format!("Loc-RIB {got}");
                if got >= u64::from(table.prefixes) {
                    rib = Some(t0.elapsed());
                }
            }
        }
        if rib.is_some() && fib_seen.is_some() {
            break;
        }
        if Instant::now() > deadline {
            last.push_str(&format!(", FIB {}", watch.count()));
            break;
        }
        // Pacing the Loc-RIB queries (see RIB_POLL); the FIB count is event-driven.
        std::thread::sleep(RIB_POLL);
    }
    let overruns = watch.overruns();
    let fib_count = watch.count();
    let fib_at = watch.finish().or(fib_seen);
    let mut rss = 0;
    let mut procs = Vec::new();
    for (name, pid) in inst.pids() {
        let kib = peak_rss_kib(pid).unwrap_or(0);
        rss += kib;
        procs.push(format!("{name} {}", mib(kib)));
    }
    let mut note = String::new();
    if overruns > 0 {
        note.push_str(&format!("{overruns} notification losses; "));
    }
    if rib.is_none() || fib_at.is_none() {
        note.push_str(&format!("timed out: {last}, FIB {fib_count}"));
    }
    let _ = inst.stop(Duration::from_secs(10));
    drop(session);
    let _ = lab.teardown();
    Ok(Row {
        kind,
        rib,
        fib: fib_at.map(|t| t.saturating_duration_since(t0)),
        sent,
        rss_kib: rss,
        processes: procs.join(", "),
        note: note.trim_end_matches("; ").to_owned(),
    })
}

/// A scratch directory for the daemon's run directory, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir(kind: SpeakerKind) -> Result<Scratch> {
    let dir = std::env::temp_dir().join(format!("fl-ingest-{}-{kind}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(Scratch(dir))
}
