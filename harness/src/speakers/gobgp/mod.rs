//! GoBGP 3: `gobgpd` per node, API on the namespace's own loopback, queried with `gobgp`, and a
//! FIB agent next to it.
//!
//! GoBGP does not program the kernel itself. Its zebra integration (GoBGP 3.10 with the FRR 8.4
//! zebra installed here, ZAPI 6) was tried and fails: gobgpd panics decoding zebra's interface
//! messages (`zapi.go: slice bounds out of range` in `interfaceUpdateBody.decodeFromBytes`) for
//! every `software-name` from frr7.5 to frr10. So, as GoBGP is deployed in practice, a separate
//! process programs the kernel: `fabriclab gobgp-fib` ([`crate::gobgp_fib`]) starts after gobgpd
//! in the same namespace, follows `gobgp monitor global rib` (best paths, or the multipath set
//! with `use-multiple-paths`) and installs ECMP routes and blackholes for the node's blocks
//! with protocol 202. It writes a ready file once following; readiness waits for it.
//! [`SpeakerOptions::gobgp_zebra`](super::SpeakerOptions) instead renders the zebra section and
//! starts a zebra (and no agent) for versions where that works.

mod render;
mod status;

use std::path::PathBuf;
use std::process::Command;

use super::api::{NeighborState, NodeContext, RenderedConfig, Requirement, Speaker, SpeakerError};
use super::cli;
use super::intent::{check_socket_path, NodeIntent};
use crate::gobgp_fib;
use crate::process::ProgramSpec;
use crate::topology::SpeakerKind;
use crate::wait::Probe;

const ZEBRA: &str = "/usr/lib/frr/zebra";
const ZSERV: &str = "zserv.api";

/// The GoBGP adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gobgp;

fn zserv(ctx: &NodeContext<'_>) -> PathBuf {
    ctx.dir.file(ZSERV)
}

fn ready_file(ctx: &NodeContext<'_>) -> PathBuf {
    ctx.dir.file(gobgp_fib::READY_FILE)
}

/// Whether the FIB agent runs (zebra, when asked for, programs the kernel instead).
fn with_agent(ctx: &NodeContext<'_>) -> bool {
    !ctx.options.gobgp_zebra
}

/// The FIB agent: `fabriclab gobgp-fib` against this node's gobgpd, ECMP as wide as the plan's
/// `max-paths` and across neighbouring ASes only with `multipath-relax`.
fn agent(ctx: &NodeContext<'_>) -> Result<ProgramSpec, SpeakerError> {
    let bin = gobgp_fib::agent_binary().ok_or_else(|| SpeakerError::Render {
        kind: SpeakerKind::Gobgp,
        node: ctx.node.id.clone(),
        reason: format!(
            "the FIB agent needs the fabriclab binary: build it (cargo build --bins) or set {}",
            gobgp_fib::FABRICLAB_BIN_ENV
        ),
    })?;
    let mut spec = ProgramSpec::new(gobgp_fib::SUBCOMMAND, bin)
        .arg(gobgp_fib::SUBCOMMAND)
        .arg(format!("--api=127.0.0.1:{}", ctx.options.gobgp_api_port))
        .arg(format!("--protocol={}", gobgp_fib::RTPROT_GOBGP_FIB))
        .arg(format!("--max-paths={}", ctx.node.routing.max_paths.max(1)))
        .arg("--ready-file")
        .arg(ready_file(ctx));
    if !ctx.node.routing.multipath_relax {
        // GoBGP 3.10 ignores `allow-multiple-as = false`; the agent applies it.
        spec = spec.arg("--strict-multipath");
    }
    Ok(spec)
}

fn gobgp(ctx: &NodeContext<'_>) -> Command {
    let mut cmd = Command::new("gobgp");
    cmd.args(["-u", "127.0.0.1", "-p"])
        .arg(ctx.options.gobgp_api_port.to_string());
    cmd
}

impl Speaker for Gobgp {
    fn kind(&self) -> SpeakerKind {
        SpeakerKind::Gobgp
    }

    fn daemon_name(&self) -> &'static str {
        "gobgp"
    }

    fn requirements(&self) -> &'static [Requirement] {
        &[
            Requirement {
                binary: "gobgpd",
                package: "gobgpd",
            },
            Requirement {
                binary: "gobgp",
                package: "gobgpd",
            },
        ]
    }

    fn render(&self, ctx: &NodeContext<'_>) -> Result<RenderedConfig, SpeakerError> {
        let z = zserv(ctx);
        if ctx.options.gobgp_zebra {
            check_socket_path(SpeakerKind::Gobgp, ctx.node, &z)?;
        }
        let mut rendered = render::render(ctx, ctx.options.gobgp_zebra.then_some(z.as_path()))?;
        if ctx.options.gobgp_zebra {
            rendered.files.push(super::ConfigFile {
                name: "zebra.conf".to_string(),
                contents: format!("hostname {}\nlog stdout informational\n", ctx.node.id),
            });
        }
        Ok(rendered)
    }

    fn programs(&self, ctx: &NodeContext<'_>) -> Result<Vec<ProgramSpec>, SpeakerError> {
        let mut programs = Vec::new();
        if ctx.options.gobgp_zebra {
            programs.push(
                ProgramSpec::new("zebra", ZEBRA)
                    .arg("-f")
                    .arg(ctx.dir.file("zebra.conf"))
                    .arg("-i")
                    .arg(ctx.dir.pid_file("zebra"))
                    .arg("-z")
                    .arg(zserv(ctx))
                    .arg("--vty_socket")
                    .arg(ctx.dir.path())
                    .args(["-u", "root", "-g", "frrvty"])
                    .wait_for(zserv(ctx)),
            );
        }
        let mut gobgpd = ProgramSpec::new("gobgpd", "gobgpd")
            .arg("-f")
            .arg(ctx.dir.file(render::CONF))
            .arg(format!(
                "--api-hosts=127.0.0.1:{}",
                ctx.options.gobgp_api_port
            ))
            .args(["--log-plain", "--pprof-disable"]);
        if ctx.options.graceful_restart.enabled {
            // The R bit on every start, as BIRD's -R (RFC 4724 §3 Restart State).
            gobgpd = gobgpd.arg("--graceful-restart");
        }
        programs.push(gobgpd);
        if with_agent(ctx) {
            programs.push(agent(ctx)?);
        }
        Ok(programs)
    }

    fn ready(&self, ctx: &NodeContext<'_>) -> Probe<()> {
        if with_agent(ctx) {
            // The agent follows gobgpd's API, so once it is ready gobgpd answers too.
            if let Err(e) = gobgp_fib::agent_ready(&ready_file(ctx)) {
                return Probe::pending(format!("FIB agent not ready: {e}"));
            }
        }
        let mut cmd = gobgp(ctx);
        cmd.arg("global");
        match cli::run_ok(cmd, Some(ctx.netns), ctx.options.query_timeout) {
            Ok(_) => Probe::Done(()),
            Err(e) => Probe::pending(e),
        }
    }

    fn after_start(&self, ctx: &NodeContext<'_>) -> Result<(), SpeakerError> {
        // GoBGP's TOML has no static routes: originate through the API, once.
        let intent = NodeIntent::of(ctx, SpeakerKind::Gobgp)?;
        let mut adds: Vec<Vec<String>> = intent
            .originated
            .iter()
            .map(|p| vec![p.to_string()])
            .collect();
        if intent.default_originate {
            adds.push(vec![
                "0.0.0.0/0".to_string(),
                "local-pref".to_string(),
                render::DEFAULT_LOCAL_PREF.to_string(),
            ]);
        }
        for args in adds {
            let mut cmd = gobgp(ctx);
            cmd.args(["global", "rib", "add", "-a", "ipv4"]).args(args);
            cli::run_ok(cmd, Some(ctx.netns), ctx.options.query_timeout)?;
        }
        Ok(())
    }

    fn neighbors(&self, ctx: &NodeContext<'_>) -> Result<Vec<NeighborState>, SpeakerError> {
        let mut cmd = gobgp(ctx);
        cmd.args(["neighbor", "-j"]);
        let out = cli::run_ok(cmd, Some(ctx.netns), ctx.options.query_timeout)?;
        status::parse_neighbors(&out.stdout)
    }

    fn check_config(&self, ctx: &NodeContext<'_>) -> Result<bool, SpeakerError> {
        let file = ctx.dir.file(render::CONF);
        let mut cmd = Command::new("gobgpd");
        cmd.arg("--dry-run").arg("-f").arg(&file);
        let out = cli::run(cmd, None, ctx.options.query_timeout)?;
        let text = format!("{}{}", out.stdout, out.stderr);
        if out.status.success() && !text.contains("\"level\":\"fatal\"") {
            Ok(true)
        } else {
            Err(SpeakerError::ConfigRejected {
                checker: "gobgpd --dry-run".to_string(),
                file,
                message: text,
            })
        }
    }
}
