//! The `fabric-speaker` daemon and its `ctl` client.
//!
//! ```text
//! fabric-speaker --config FILE             run the speaker until SIGTERM/SIGINT
//! fabric-speaker --config FILE --check     validate the configuration and exit
//! fabric-speaker ctl --socket PATH neighbors|status [--json]
//! fabric-speaker ctl --socket PATH routes [--dir received|advertised|loc-rib] [--peer ADDR] [--prefix P]
//! fabric-speaker ctl --socket PATH fib [--prefix P]
//! ```
//!
//! The daemon runs the RIB (decision process, ECMP, route reflection, policies) and, unless
//! `kernel.enabled: false`, programs the kernel FIB: routes of protocol 201 replaced in place,
//! ECMP as multipath routes, blackholes for originated blocks, stale routes of a previous run
//! purged at start (on a graceful restart kept, and reconciled with the Loc-RIB once the
//! peers' End-of-RIB arrived, RFC 4724 §4.1: see `fabric_speaker::gr::restarting`), next hops
//! resolved through connected and static routes, link-down events acted on at once (see
//! `fabric_speaker::daemon`).
//!
//! ```text
//! ```

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use fabric_speaker::config::{Config, LogFormat};
use fabric_speaker::control::{self, table, Request, RouteDir};
use ipnet::IpNet;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "fabric-speaker",
    version,
    about = "The bundled BGP-4 speaker of fabriclab"
)]
struct Cli {
    /// Configuration file (YAML).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Only validate the configuration.
    #[arg(long, requires = "config")]
    check: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Query a running speaker through its control socket.
    Ctl {
        /// Control socket path.
        #[arg(long, short)]
        socket: PathBuf,
        /// Print the raw JSON answer.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        query: Query,
    },
}

#[derive(Debug, Subcommand)]
enum Query {
    /// Neighbor table.
    Neighbors {
        /// Only this peer.
        #[arg(long)]
        peer: Option<IpAddr>,
    },
    /// Daemon status.
    Status,
    /// Routes received from or advertised to peers, or the Loc-RIB with the decision explained.
    Routes {
        /// Table.
        #[arg(long, value_enum, default_value_t = Dir::Received)]
        dir: Dir,
        /// Only this peer.
        #[arg(long)]
        peer: Option<IpAddr>,
        /// Only this prefix.
        #[arg(long)]
        prefix: Option<IpNet>,
    },
    /// Kernel routes installed by the speaker.
    Fib {
        /// Only this prefix.
        #[arg(long)]
        prefix: Option<IpNet>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Dir {
    Received,
    Advertised,
    LocRib,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Library errors already include their cause in the message; append only causes
            // that add something.
            let mut text = e.to_string();
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                if !text.contains(&cause) {
                    text = format!("{text}: {cause}");
                }
            }
            eprintln!("fabric-speaker: {text}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Ctl {
        socket,
        json,
        query,
    }) = cli.command
    {
        return ctl(&socket, json, query);
    }
    let Some(path) = cli.config else {
        bail!("--config FILE is required to run the speaker (or use `ctl`)");
    };
    let config = Config::load(&path)?;
    if cli.check {
        println!(
            "{}: ok ({} neighbors)",
            path.display(),
            config.neighbors.len()
        );
        return Ok(());
    }
    init_logging(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(fabric_speaker::daemon::run(config, Some(path)))?;
    Ok(())
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))
        .context("invalid log-level")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("failed to initialise logging: {e}"))
}

fn ctl(socket: &std::path::Path, json: bool, query: Query) -> anyhow::Result<()> {
    let request = match query {
        Query::Neighbors { peer } => Request::Neighbors { peer },
        Query::Status => Request::Status,
        Query::Routes { dir, peer, prefix } => Request::Routes {
            dir: match dir {
                Dir::Received => RouteDir::Received,
                Dir::Advertised => RouteDir::Advertised,
                Dir::LocRib => RouteDir::LocRib,
            },
            peer,
            prefix,
        },
        Query::Fib { prefix } => Request::Fib { prefix },
    };
    let response = control::request(socket, &request, Duration::from_secs(5))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&response)?);
        return Ok(());
    }
    if !response.ok {
        bail!(
            "{}",
            response
                .error
                .unwrap_or_else(|| "request failed".to_owned())
        );
    }
    if let Some(s) = &response.status {
        print!("{}", table::status(s));
    }
    if let Some(n) = &response.neighbors {
        print!("{}", table::neighbors(n));
    }
    if let Some(r) = &response.routes {
        print!("{}", table::routes(r));
    }
    if let Some(r) = &response.rib {
        print!("{}", table::rib(r));
    }
    if let Some(f) = &response.fib {
        print!("{}", table::fib(f));
        if let Some(n) = response.fib_pending.filter(|n| *n > 0) {
            println!("({n} changes not applied by the kernel yet)");
        }
    }
    Ok(())
}
