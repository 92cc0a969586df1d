//! BIRD 2 (as calico-node runs it): one `bird -f -R` per node, queried with `birdc`.

mod render;
mod status;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::api::{NeighborState, NodeContext, RenderedConfig, Requirement, Speaker, SpeakerError};
use super::cli;
use super::intent::check_socket_path;
use crate::process::ProgramSpec;
use crate::topology::SpeakerKind;
use crate::wait::Probe;

/// The BIRD 2 adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bird;

const SOCKET: &str = "bird.ctl";

fn socket(ctx: &NodeContext<'_>) -> PathBuf {
    ctx.dir.file(SOCKET)
}

impl Speaker for Bird {
    fn kind(&self) -> SpeakerKind {
        SpeakerKind::Bird
    }

    fn daemon_name(&self) -> &'static str {
        "bird"
    }

    fn requirements(&self) -> &'static [Requirement] {
        &[
            Requirement {
                binary: "bird",
                package: "bird2",
            },
            Requirement {
                binary: "birdc",
                package: "bird2",
            },
        ]
    }

    fn render(&self, ctx: &NodeContext<'_>) -> Result<RenderedConfig, SpeakerError> {
        check_socket_path(SpeakerKind::Bird, ctx.node, &socket(ctx))?;
        render::render(ctx)
    }

    fn programs(&self, ctx: &NodeContext<'_>) -> Result<Vec<ProgramSpec>, SpeakerError> {
        // -f: stay in the foreground under the supervisor. -R: every start is a graceful
        // restart (recovery mode), as calico-node starts BIRD (calico-designs.md §1.4).
        let mut p = ProgramSpec::new("bird", "bird")
            .arg("-f")
            .arg("-c")
            .arg(ctx.dir.file(render::CONF))
            .arg("-s")
            .arg(socket(ctx))
            .arg("-P")
            .arg(ctx.dir.pid_file("bird"));
        if ctx.options.graceful_restart.enabled {
            p = p.arg("-R");
        }
        Ok(vec![p])
    }

    fn ready(&self, ctx: &NodeContext<'_>) -> Probe<()> {
        // Connecting to the control socket and reading BIRD's greeting ("0001 BIRD 2.0.12
        // ready.") proves the daemon parsed its config and serves its CLI, without running birdc.
        let path = socket(ctx);
        let greet = || -> std::io::Result<String> {
            let s = UnixStream::connect(&path)?;
            s.set_read_timeout(Some(Duration::from_millis(500)))?;
            let mut line = String::new();
            BufReader::new(s).read_line(&mut line)?;
            Ok(line)
        };
        match greet() {
            Ok(line) if line.starts_with("0001") => Probe::Done(()),
            Ok(line) => Probe::pending(format!("{}: unexpected greeting {line:?}", path.display())),
            Err(e) => Probe::pending(format!("{}: {e}", path.display())),
        }
    }

    fn neighbors(&self, ctx: &NodeContext<'_>) -> Result<Vec<NeighborState>, SpeakerError> {
        let mut cmd = Command::new("birdc");
        cmd.arg("-s")
            .arg(socket(ctx))
            .args(["show", "protocols", "all"]);
        let out = cli::run_ok(cmd, None, ctx.options.query_timeout)?;
        Ok(status::parse_protocols(&out.stdout))
    }

    fn check_config(&self, ctx: &NodeContext<'_>) -> Result<bool, SpeakerError> {
        let file = ctx.dir.file(render::CONF);
        let mut cmd = Command::new("bird");
        cmd.arg("-p").arg("-c").arg(&file);
        let out = cli::run(cmd, None, ctx.options.query_timeout)?;
        if out.status.success() {
            Ok(true)
        } else {
            Err(SpeakerError::ConfigRejected {
                checker: "bird -p".to_string(),
                file,
                message: format!("{}{}", out.stderr, out.stdout),
            })
        }
    }
}
