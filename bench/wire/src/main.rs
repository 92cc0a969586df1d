//! Decode and encode throughput of `fabric-bgp-wire`, side by side with `netgauze-bgp-pkt` as a
//! reference, printed as a Markdown table. Speed targets live here, never in timed tests.
//!
//! Usage: `fabric-bgp-wire-bench [--min-ms N] [--rounds N] [--quick] [--case SUBSTRING]`
//! (see README.md).

mod check;
mod fixtures;
mod table;
mod timing;

use std::hint::black_box;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fabric_bgp_wire::{CodecContext, Message};
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_parse_utils::WritablePdu;

use crate::table::{Codec, Op, Row};
use crate::timing::{body, Body, Plan};

/// Command line: how to measure, and which cases.
struct Args {
    plan: Plan,
    /// Only cases whose name contains this (case-insensitive), e.g. for profiling one case.
    case_filter: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut plan = Plan {
        min_time: Duration::from_millis(500),
        rounds: 5,
    };
    let mut case_filter = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> Result<u64> {
            args.next()
                .with_context(|| format!("{what} needs a value"))?
                .parse()
                .with_context(|| format!("{what} needs a number"))
        };
        match a.as_str() {
            "--min-ms" => plan.min_time = Duration::from_millis(num("--min-ms")?),
            "--rounds" => plan.rounds = usize::try_from(num("--rounds")?)?.max(1),
            // Smoke run (CI, after code changes): numbers are too noisy to quote.
            "--quick" => {
                plan.min_time = Duration::from_millis(30);
                plan.rounds = 3;
            }
            "--case" => {
                case_filter = Some(args.next().context("--case needs a value")?.to_lowercase());
            }
            "-h" | "--help" => {
                println!(
                    "usage: fabric-bgp-wire-bench [--min-ms N (500)] [--rounds N (5)] [--quick] \
                     [--case SUBSTRING]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(Args { plan, case_filter })
}

fn main() -> Result<()> {
    let Args { plan, case_filter } = parse_args()?;
    // Equivalent session on both sides: 4-octet AS, eBGP, no ADD-PATH, 4096-octet messages.
    let ctx = CodecContext::four_octet();
    let ng_ctx = BgpParsingContext::default();
    let mut cases = fixtures::cases(&ctx)?;
    if let Some(f) = &case_filter {
        cases.retain(|c| c.name.to_lowercase().contains(f.as_str()));
        if cases.is_empty() {
            bail!("no case matches {f:?}");
        }
    }

    // Content check first: a decoder that skips work would look fast.
    let mut checked = Vec::with_capacity(cases.len());
    for case in &cases {
        let mut c = ng_ctx.clone();
        checked.push(check::check_case(case, &ctx, &mut c)?);
    }

    let mut rows: Vec<Row> = Vec::new();
    let mut bodies: Vec<Body<'_>> = Vec::new();
    for (case, chk) in cases.iter().zip(&checked) {
        let bytes: &[u8] = &case.bytes;
        let meta = |op, codec| Row {
            case: case.name,
            op,
            codec,
            prefixes: chk.prefixes,
            octets: bytes.len(),
            m: None,
        };

        rows.push(meta(Op::Decode, Codec::Fabric));
        let c = ctx.clone();
        bodies.push(body(move || {
            let _ = black_box(Message::decode(black_box(bytes), &c));
        }));

        rows.push(meta(Op::Decode, Codec::Netgauze));
        let mut nc = ng_ctx.clone();
        bodies.push(body(move || {
            let _ = black_box(check::netgauze_decode(black_box(bytes), &mut nc));
        }));

        rows.push(meta(Op::Encode, Codec::Fabric));
        let (c, msg) = (ctx.clone(), &case.message);
        let mut buf = Vec::with_capacity(bytes.len());
        bodies.push(body(move || {
            buf.clear();
            black_box(black_box(msg).encode_into(&c, &mut buf)).ok();
            black_box(&buf);
        }));

        rows.push(meta(Op::Encode, Codec::Netgauze));
        let msg = &chk.netgauze_message;
        let mut buf = Vec::with_capacity(bytes.len());
        bodies.push(body(move || {
            buf.clear();
            black_box(black_box(msg).write(&mut buf)).ok();
            black_box(&buf);
        }));
    }

    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "machine: {cpus} CPUs (nproc), shared with other developers: ratio differences under ~20% are noise"
    );
    println!(
        "plan: >= {} ms per cell per round, {} rounds interleaved, median reported; single-threaded",
        plan.min_time.as_millis(),
        plan.rounds
    );
    println!(
        "checked: both decoders read identical routes/attributes/capabilities, both encoders \
         write the input bytes back"
    );
    let results = timing::measure_all(&mut bodies, plan);
    for (row, m) in rows.iter_mut().zip(results) {
        row.m = Some(m);
    }
    println!();
    print!("{}", table::render(&rows));
    Ok(())
}
