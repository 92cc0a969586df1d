//! FRR 8.4: zebra (+ staticd when the node originates prefixes) + bgpd per node, queried with
//! `vtysh`.
//!
//! Every daemon runs as root in group `frrvty` (`-u root -g frrvty`: FRR refuses a user outside
//! its vty group, and root is not in `frrvty`), so no file needs chown. All sockets live in the
//! run directory (`--vty_socket DIR`, `-z DIR/zserv.api`) instead of `/var/run/frr/<name>`:
//! nothing outside the lab's run directory is created, and concurrent labs cannot collide.

mod render;
mod status;

use std::path::PathBuf;
use std::process::Command;

use super::api::{NeighborState, NodeContext, RenderedConfig, Requirement, Speaker, SpeakerError};
use super::cli;
use super::intent::{check_socket_path, NodeIntent};
use crate::process::ProgramSpec;
use crate::topology::SpeakerKind;
use crate::wait::Probe;

const ZEBRA: &str = "/usr/lib/frr/zebra";
const STATICD: &str = "/usr/lib/frr/staticd";
const BGPD: &str = "/usr/lib/frr/bgpd";
const ZSERV: &str = "zserv.api";
/// zebra's netlink receive buffer: large enough for 100k+ route bursts (daemons.md).
const NETLINK_BUFFER: &str = "90000000";

/// The FRR adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Frr;

fn zserv(ctx: &NodeContext<'_>) -> PathBuf {
    ctx.dir.file(ZSERV)
}

/// Options every FRR daemon gets: config, pid file, sockets in the run dir, user.
fn daemon(ctx: &NodeContext<'_>, name: &str, program: &str, conf: &str) -> ProgramSpec {
    ProgramSpec::new(name, program)
        .arg("-f")
        .arg(ctx.dir.file(conf))
        .arg("-i")
        .arg(ctx.dir.pid_file(name))
        .arg("-z")
        .arg(zserv(ctx))
        .arg("--vty_socket")
        .arg(ctx.dir.path())
        .args(["-u", "root", "-g", "frrvty"])
}

fn vtysh(ctx: &NodeContext<'_>, command: &str) -> Command {
    let mut cmd = Command::new("vtysh");
    cmd.arg("--vty_socket")
        .arg(ctx.dir.path())
        .args(["-d", "bgpd", "-c", command]);
    cmd
}

impl Speaker for Frr {
    fn kind(&self) -> SpeakerKind {
        SpeakerKind::Frr
    }

    fn daemon_name(&self) -> &'static str {
        "frr"
    }

    fn requirements(&self) -> &'static [Requirement] {
        &[
            Requirement {
                binary: ZEBRA,
                package: "frr",
            },
            Requirement {
                binary: STATICD,
                package: "frr",
            },
            Requirement {
                binary: BGPD,
                package: "frr",
            },
            Requirement {
                binary: "vtysh",
                package: "frr",
            },
        ]
    }

    fn render(&self, ctx: &NodeContext<'_>) -> Result<RenderedConfig, SpeakerError> {
        check_socket_path(SpeakerKind::Frr, ctx.node, &zserv(ctx))?;
        check_socket_path(SpeakerKind::Frr, ctx.node, &ctx.dir.file("staticd.vty"))?;
        render::render(ctx)
    }

    fn programs(&self, ctx: &NodeContext<'_>) -> Result<Vec<ProgramSpec>, SpeakerError> {
        let mut zebra = daemon(ctx, "zebra", ZEBRA, render::ZEBRA_CONF)
            .args(["-s", NETLINK_BUFFER])
            .wait_for(zserv(ctx));
        if ctx.options.graceful_restart.enabled {
            // Keep the previous run's routes in the kernel for the restart time instead of
            // sweeping them at start (the FRR counterpart of BIRD's persist + kernel GR).
            zebra = zebra
                .arg("-K")
                .arg(ctx.options.graceful_restart.restart_time.to_string());
        }
        let mut programs = vec![zebra];
        if !NodeIntent::of(ctx, SpeakerKind::Frr)?.originated.is_empty() {
            programs.push(daemon(ctx, "staticd", STATICD, render::STATICD_CONF));
        }
        programs.push(daemon(ctx, "bgpd", BGPD, render::BGPD_CONF));
        Ok(programs)
    }

    fn ready(&self, ctx: &NodeContext<'_>) -> Probe<()> {
        let vty = ctx.dir.file("bgpd.vty");
        if !vty.exists() {
            return Probe::pending(format!("{} does not exist yet", vty.display()));
        }
        match cli::run_ok(
            vtysh(ctx, "show bgp summary json"),
            None,
            ctx.options.query_timeout,
        ) {
            Ok(_) => Probe::Done(()),
            Err(e) => Probe::pending(e),
        }
    }

    fn neighbors(&self, ctx: &NodeContext<'_>) -> Result<Vec<NeighborState>, SpeakerError> {
        let out = cli::run_ok(
            vtysh(ctx, "show bgp neighbors json"),
            None,
            ctx.options.query_timeout,
        )?;
        status::parse_neighbors(&out.stdout)
    }

    fn check_config(&self, ctx: &NodeContext<'_>) -> Result<bool, SpeakerError> {
        for (program, conf) in [
            (ZEBRA, render::ZEBRA_CONF),
            (STATICD, render::STATICD_CONF),
            (BGPD, render::BGPD_CONF),
        ] {
            let file = ctx.dir.file(conf);
            if !file.exists() {
                continue;
            }
            let mut cmd = Command::new(program);
            cmd.arg("-C")
                .arg("-f")
                .arg(&file)
                .args(["-u", "root", "-g", "frrvty"]);
            let out = cli::run(cmd, None, ctx.options.query_timeout)?;
            // `-C` exits 0 even for unknown commands; errors are only printed, as
            // "... on config line N: ..." (and "% ..." for the CLI's own complaint).
            let text = format!("{}{}", out.stderr, out.stdout);
            let errors: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("on config line") || l.starts_with('%'))
                .collect();
            if !out.status.success() || !errors.is_empty() {
                return Err(SpeakerError::ConfigRejected {
                    checker: format!("{program} -C"),
                    file,
                    message: if errors.is_empty() {
                        text
                    } else {
                        errors.join("\n")
                    },
                });
            }
        }
        Ok(true)
    }
}
