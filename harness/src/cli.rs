//! The `fabriclab` command line.
//!
//! Exit codes: 0 success; 1 a check failed; 2 bad input or environment (bad arguments or
//! topology, not root, missing kernel feature or daemon; the message says which and how to fix
//! it). A command run by `exec` passes its own exit code through (128 + signal if killed).
//!
//! Adding a subcommand: one variant in [`Command`] (holding a clap `Args` struct) and one
//! `fn cmd_<name>(args) -> anyhow::Result<ExitCode>`, plus its line in [`run`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::lab::bench::{bench_plan, peak_rss_kib};
use crate::lab::{clean, BuildOptions, CleanScope, Lab, LabError};
use crate::topology::{self, NodeId};

/// Exit code: a check failed.
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code: bad input or environment.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Build BGP spine-leaf fabrics of network namespaces, run speakers in them, check FIBs,
/// reachability and convergence.
#[derive(Debug, Parser)]
#[command(name = "fabriclab", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Resolve a topology file and print the plan (no root needed).
    Validate(ValidateArgs),
    /// Build a lab and keep it running (until `fabriclab down`).
    Up(UpArgs),
    /// Run a command inside a node's or pod's namespace of a lab.
    Exec(ExecArgs),
    /// List labs: alive (owned by a running process), kept (`up`), or orphaned.
    Ls(LsArgs),
    /// Tear down a lab: kill its processes, delete its namespaces and record.
    Down(DownArgs),
    /// Remove orphaned labs and stray namespaces (every lab with --all).
    Clean(CleanArgs),
    /// Build and tear down topologies repeatedly and print timings.
    BenchLab(BenchLabArgs),
    /// Convergence time and daemons' memory per speaker set, as a table with ratios to BIRD.
    BenchDesigns(BenchDesignsArgs),
    /// Build a fabric, run a speaker on every node, wait for convergence, check and tear down.
    Run(RunArgs),
    /// Print the FIB every node must hold under the design (no root needed).
    Expect(ExpectArgs),
    /// Replay a failure bundle: same topology, speakers, misconfiguration and scenario.
    Repro(ReproArgs),
    /// Print the timeline of a bundle (or of a timeline.jsonl file) readably.
    Timeline(TimelineArgs),
    /// Follow GoBGP's RIB and program this namespace's kernel FIB (the GoBGP adapter's FIB
    /// agent; runs inside a node's namespace).
    #[command(hide = true)]
    GobgpFib(crate::gobgp_fib::AgentArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Topology file.
    pub topology: PathBuf,
    /// Design (overrides the file's `design:`): as-per-rack, as-per-server, downward-default.
    #[arg(long)]
    pub design: Option<topology::Design>,
    /// Speakers: `bird`, or per role `node=bird,tor=frr,spine=bundled`.
    #[arg(long, alias = "speakers")]
    pub speaker: Option<topology::SpeakerSelection>,
    /// Write the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Lab name (default: the random run id).
    #[arg(long)]
    pub name: Option<String>,
    /// Seconds the fabric may take to converge.
    #[arg(long, default_value_t = 60)]
    pub deadline: u64,
    /// Do not capture the links.
    #[arg(long)]
    pub no_capture: bool,
    /// Also decode every captured BGP message with tshark and fail on malformed ones.
    #[arg(long)]
    pub tshark: bool,
    /// Keep captures, configs and daemon logs here (default: a temporary directory, kept only
    /// when a check fails).
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Run this scenario file (YAML event schedule) after the initial convergence.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Deploy with a deliberate misconfiguration: no-next-hop-self, shared-rack-as.
    #[arg(long)]
    pub misconfig: Option<crate::run::Misconfig>,
    /// Write a failure bundle even when every check passes.
    #[arg(long)]
    pub bundle: bool,
    /// Where bundles go (a `<lab>-<timestamp>/` directory and `.tar.gz` inside).
    #[arg(long, default_value = "fabriclab-bundles")]
    pub bundle_dir: PathBuf,
    /// Write a JUnit XML report (one testcase per check).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write a single-file HTML report.
    #[arg(long)]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReproArgs {
    /// Bundle directory or `.tar.gz`.
    pub bundle: PathBuf,
    /// Leave the lab and its daemons up afterwards (`fabriclab exec`, then `fabriclab down`).
    #[arg(long)]
    pub keep: bool,
    /// Lab name (default: the random run id).
    #[arg(long)]
    pub name: Option<String>,
    /// Write the replay's JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// Bundle directory, `.tar.gz`, or a `timeline.jsonl` file.
    pub bundle: PathBuf,
    /// Only events of this node (plus harness actions of the whole fabric).
    #[arg(long)]
    pub node: Option<String>,
    /// Only events about this prefix (plus harness actions).
    #[arg(long)]
    pub prefix: Option<ipnet::IpNet>,
    /// Include KEEPALIVEs.
    #[arg(long)]
    pub keepalives: bool,
}

#[derive(Debug, Args)]
pub struct ExpectArgs {
    /// Topology file.
    pub topology: PathBuf,
    /// Design (overrides the file's `design:`).
    #[arg(long)]
    pub design: Option<topology::Design>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Topology file.
    pub topology: PathBuf,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Topology file.
    pub topology: PathBuf,
    /// Lab name (default: the random run id).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Lab name.
    pub lab: String,
    /// Node or pod name (e.g. `r1t1`, `r1n1p1`).
    pub node: String,
    /// Command and arguments (after `--`).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Lab name.
    pub lab: String,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Also remove alive and kept labs.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct BenchDesignsArgs {
    /// Topology files.
    #[arg(required = true)]
    pub topologies: Vec<PathBuf>,
    /// Speaker sets, `name=selection` or a plain selection (repeatable); default: bundled,
    /// bird, frr, gobgp and the Calico mix.
    #[arg(long = "set")]
    pub sets: Vec<String>,
    /// Runs per cell (median convergence time).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

#[derive(Debug, Args)]
pub struct BenchLabArgs {
    /// Topology files.
    #[arg(required = true)]
    pub topologies: Vec<PathBuf>,
    /// Build/teardown rounds per topology.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Threads for the parallel build phases (default: CPU count, 2..=8).
    #[arg(long)]
    pub workers: Option<usize>,
}

/// Parses the command line, runs it, and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fabriclab: error: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(a) => cmd_validate(a),
        Command::Up(a) => cmd_up(a),
        Command::Exec(a) => cmd_exec(a),
        Command::Ls(a) => cmd_ls(a),
        Command::Down(a) => cmd_down(a),
        Command::Clean(a) => cmd_clean(a),
        Command::BenchLab(a) => cmd_bench_lab(a),
        Command::BenchDesigns(a) => cmd_bench_designs(a),
        Command::Run(a) => cmd_run(a),
        Command::Expect(a) => cmd_expect(a),
        Command::Repro(a) => crate::run::commands::cmd_repro(a),
        Command::Timeline(a) => crate::run::commands::cmd_timeline(a),
        Command::GobgpFib(a) => cmd_gobgp_fib(a),
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<topology::Plan> {
    topology::load(path).with_context(|| format!("invalid topology {}", path.display()))
}

fn cmd_run(a: RunArgs) -> anyhow::Result<ExitCode> {
    crate::run::commands::cmd_run(a)
}

fn cmd_expect(a: ExpectArgs) -> anyhow::Result<ExitCode> {
    let opts = topology::LoadOptions {
        design: a.design,
        speakers: None,
    };
    let plan = topology::load_with(&a.topology, &opts)
        .with_context(|| format!("invalid topology {}", a.topology.display()))?;
    let fibs = crate::expect::expected_fibs(&plan);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&fibs)?);
    } else {
        print!("{}", crate::expect::render_expected(&plan, &fibs));
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_gobgp_fib(a: crate::gobgp_fib::AgentArgs) -> anyhow::Result<ExitCode> {
    crate::gobgp_fib::run(&a.options())?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_validate(a: ValidateArgs) -> anyhow::Result<ExitCode> {
    let plan = load(&a.topology)?;
    print!("{}", topology::render_plan(&plan));
    Ok(ExitCode::SUCCESS)
}

fn cmd_up(a: UpArgs) -> anyhow::Result<ExitCode> {
    let plan = load(&a.topology)?;
    let start = Instant::now();
    let mut lab = Lab::build(
        &plan,
        BuildOptions {
            name: a.name,
            topology: Some(std::fs::canonicalize(&a.topology).unwrap_or(a.topology)),
            ..BuildOptions::default()
        },
    )?;
    let took = start.elapsed();
    lab.keep()?;
    let name = lab.name().to_string();
    let example = plan
        .nodes
        .first()
        .map(|n| n.id.to_string())
        .unwrap_or_else(|| "NODE".into());
    println!(
        "lab {name} is up: {} nodes, {} pods, {} links (run id {}, built in {:.2?})",
        plan.nodes.len(),
        plan.pods.len(),
        plan.links.len(),
        lab.run_id(),
        took
    );
    println!("  run a command:  fabriclab exec {name} {example} -- ip route");
    println!("  open a shell:   fabriclab exec {name} {example} -- bash");
    println!(
        "  with iproute2:  ip netns exec fl{}-{example} ip addr",
        lab.run_id()
    );
    println!("  remove it:      fabriclab down {name}");
    Ok(ExitCode::SUCCESS)
}

fn cmd_exec(a: ExecArgs) -> anyhow::Result<ExitCode> {
    crate::lab::preflight()?;
    let lab = Lab::open(&a.lab)?;
    let status = lab.exec_inherit(&NodeId(a.node), &a.command)?;
    Ok(ExitCode::from(exit_code_of(status)))
}

/// The shell convention: the exit code, or 128 + the signal that killed the process.
fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => u8::try_from(c & 0xff).unwrap_or(u8::MAX),
        (None, Some(s)) => u8::try_from(128 + (s & 0x7f)).unwrap_or(u8::MAX),
        (None, None) => u8::MAX,
    }
}

fn cmd_ls(_a: LsArgs) -> anyhow::Result<ExitCode> {
    let labs = crate::lab::registry::list_labs();
    if labs.is_empty() {
        println!("no labs");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<8} {:<9} {:<9} {:>6} {:>6} {:>6}  TOPOLOGY",
        "NAME", "RUN-ID", "STATUS", "PHASE", "NODES", "PODS", "LINKS"
    );
    for (name, state) in labs {
        match state {
            Ok(s) => println!(
                "{:<20} {:<8} {:<9} {:<9} {:>6} {:>6} {:>6}  {}",
                name,
                s.run_id,
                s.status().to_string(),
                format!("{:?}", s.phase).to_lowercase(),
                s.nodes,
                s.pods,
                s.links,
                s.topology
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or(s.plan_name),
            ),
            Err(e) => println!("{name:<20} {:<8} {:<9} ({e})", "?", "unreadable"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_down(a: DownArgs) -> anyhow::Result<ExitCode> {
    crate::lab::preflight()?;
    crate::lab::registry::validate_lab_name(&a.lab)?;
    if !crate::lab::registry::state_dir(&a.lab).exists() {
        return Err(LabError::NotFound { name: a.lab }.into());
    }
    let report = clean(&CleanScope::Lab(a.lab.clone()))?;
    println!(
        "lab {} removed ({} processes killed)",
        a.lab, report.processes_killed
    );
    Ok(ExitCode::SUCCESS)
}

fn cmd_clean(a: CleanArgs) -> anyhow::Result<ExitCode> {
    crate::lab::preflight()?;
    let scope = if a.all {
        CleanScope::All
    } else {
        CleanScope::Orphaned
    };
    let r = clean(&scope)?;
    for (name, status) in &r.labs {
        println!("removed lab {name} ({status})");
    }
    for ns in &r.stray_namespaces {
        println!("removed stray namespace {ns}");
    }
    println!(
        "clean: {} labs, {} stray namespaces, {} processes killed",
        r.labs.len(),
        r.stray_namespaces.len(),
        r.processes_killed
    );
    Ok(ExitCode::SUCCESS)
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn cmd_bench_designs(a: BenchDesignsArgs) -> anyhow::Result<ExitCode> {
    let raw: Vec<String> = if a.sets.is_empty() {
        [
            "bundled",
            "bird",
            "frr",
            "gobgp",
            "calico-mix=node=bird,tor=frr,spine=bundled",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    } else {
        a.sets
    };
    let mut sets = Vec::new();
    for s in raw {
        // `name=node=bird,...` names a per-role selection; a bare selection names itself.
        let (name, sel) = match s.split_once('=') {
            Some((n, rest)) if rest.contains('=') => (n.to_string(), rest.to_string()),
            _ => (s.clone(), s.clone()),
        };
        let parsed: topology::SpeakerSelection = sel
            .parse()
            .with_context(|| format!("invalid speaker set `{s}`"))?;
        sets.push((name, parsed));
    }
    let rows = crate::run::bench_designs(&a.topologies, &sets, a.rounds);
    print!("{}", crate::run::render_bench(&rows));
    Ok(ExitCode::SUCCESS)
}

fn cmd_bench_lab(a: BenchLabArgs) -> anyhow::Result<ExitCode> {
    crate::lab::preflight()?;
    anyhow::ensure!(a.rounds > 0, "--rounds must be at least 1");
    println!(
        "{:<24} {:>6} {:>6} {:>6} {:>6} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "TOPOLOGY",
        "NODES",
        "LINKS",
        "PODS",
        "ROUNDS",
        "BUILD-MED",
        "BUILD-MAX",
        "DOWN-MED",
        "DOWN-MAX",
        "PEAK-RSS"
    );
    for path in &a.topologies {
        let plan = load(path)?;
        let mut samples = bench_plan(&plan, a.rounds, a.workers)?;
        samples.sort_by_key(|s| s.build);
        let median = samples.get(samples.len() / 2).cloned();
        let mut build: Vec<Duration> = samples.iter().map(|s| s.build).collect();
        let mut down: Vec<Duration> = samples.iter().map(|s| s.teardown).collect();
        build.sort();
        down.sort();
        let med = |v: &[Duration]| v.get(v.len() / 2).copied().unwrap_or_default();
        let max = |v: &[Duration]| v.last().copied().unwrap_or_default();
        println!(
            "{:<24} {:>6} {:>6} {:>6} {:>6} {:>8}ms {:>8}ms {:>8}ms {:>8}ms {:>6}MiB",
            plan.name,
            plan.nodes.len(),
            plan.links.len(),
            plan.pods.len(),
            a.rounds,
            ms(med(&build)),
            ms(max(&build)),
            ms(med(&down)),
            ms(max(&down)),
            peak_rss_kib().unwrap_or(0) / 1024
        );
        if let Some(m) = median {
            let mut prev = Duration::ZERO;
            let phases: Vec<String> = m
                .phases
                .iter()
                .map(|(p, at)| {
                    let d = at.saturating_sub(prev);
                    prev = *at;
                    format!("{} {}ms", p.name(), ms(d))
                })
                .collect();
            println!(
                "{:<24} phases of the median build: {}",
                "",
                phases.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn exec_takes_command_after_double_dash() {
        let cli =
            Cli::try_parse_from(["fabriclab", "exec", "lab1", "r1t1", "--", "ip", "-br", "a"])
                .unwrap_or_else(|e| panic!("{e}"));
        match cli.command {
            Command::Exec(a) => {
                assert_eq!(a.lab, "lab1");
                assert_eq!(a.node, "r1t1");
                assert_eq!(a.command, ["ip", "-br", "a"]);
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from(["fabriclab", "exec", "lab1", "r1t1"]).is_err());
    }

    #[test]
    fn clean_all_flag() {
        let cli =
            Cli::try_parse_from(["fabriclab", "clean", "--all"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            cli.command,
            Command::Clean(CleanArgs { all: true })
        ));
    }

    #[test]
    fn exit_codes_follow_shell_convention() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code_of(std::process::ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code_of(std::process::ExitStatus::from_raw(9)), 137);
    }

    #[test]
    fn validate_of_missing_file_is_an_error() {
        let r = run(Cli {
            command: Command::Validate(ValidateArgs {
                topology: PathBuf::from("/nonexistent/topo.yaml"),
            }),
        });
        assert!(r.is_err());
    }
}
