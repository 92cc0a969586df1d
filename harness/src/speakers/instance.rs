//! One speaker running on one node: an adapter, its rendered config and a supervisor.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::api::{
    NeighborState, NodeContext, RenderedConfig, Speaker, SpeakerError, SpeakerOptions,
};
use super::{adapter_for, check_installed};
use crate::process::{RunDir, StopReport, Supervisor};
use crate::topology::{NodeId, Plan};

/// A node's speaker: configured at [`prepare`](SpeakerInstance::prepare), running between
/// [`start`](SpeakerInstance::start) and [`stop`](SpeakerInstance::stop). Dropping it kills the
/// daemon's process groups.
pub struct SpeakerInstance {
    adapter: Box<dyn Speaker>,
    plan: Arc<Plan>,
    node: NodeId,
    netns: PathBuf,
    dir: RunDir,
    options: SpeakerOptions,
    rendered: RenderedConfig,
    supervisor: Supervisor,
}

impl std::fmt::Debug for SpeakerInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeakerInstance")
            .field("kind", &self.adapter.kind())
            .field("node", &self.node)
            .field("netns", &self.netns)
            .field("dir", &self.dir)
            .finish()
    }
}

impl SpeakerInstance {
    /// Checks the daemon is installed, renders the node's config (kind from the plan) and
    /// writes it to `<lab_run_dir>/<node>/<daemon>/`. Nothing runs yet.
    pub fn prepare(
        plan: Arc<Plan>,
        node: &NodeId,
        netns: impl Into<PathBuf>,
        lab_run_dir: &Path,
        options: SpeakerOptions,
    ) -> Result<Self, SpeakerError> {
        let kind = plan
            .node(node)
            .ok_or_else(|| SpeakerError::UnknownNode(node.clone()))?
            .speaker;
        check_installed(kind)?;
        let adapter = adapter_for(kind);
        let netns = netns.into();
        let dir = RunDir::new(lab_run_dir, node, adapter.daemon_name());
        let ctx = NodeContext::new(&plan, node, &netns, &dir, &options)?;
        let rendered = adapter.render(&ctx)?;
        rendered.write(&dir)?;
        let programs = adapter.programs(&ctx)?;
        let supervisor = Supervisor::new(netns.clone(), dir.clone(), programs);
        Ok(SpeakerInstance {
            adapter,
            plan,
            node: node.clone(),
            netns,
            dir,
            options,
            rendered,
            supervisor,
        })
    }

    fn ctx(&self) -> Result<NodeContext<'_>, SpeakerError> {
        NodeContext::new(
            &self.plan,
            &self.node,
            &self.netns,
            &self.dir,
            &self.options,
        )
    }

    /// Starts the daemon, waits (once, up to `options.ready_timeout`) for its control socket or
    /// API to answer, then runs the adapter's one-off start actions.
    pub fn start(&mut self) -> Result<(), SpeakerError> {
        let timeout = self.options.ready_timeout;
        self.supervisor.start(timeout)?;
        let ctx = NodeContext::new(
            &self.plan,
            &self.node,
            &self.netns,
            &self.dir,
            &self.options,
        )?;
        let adapter = &self.adapter;
        let started = self
            .supervisor
            .wait_ready(timeout, || adapter.ready(&ctx))
            .map_err(SpeakerError::from)
            .and_then(|()| adapter.after_start(&ctx));
        if started.is_err() {
            // Leave nothing half-started behind; the error carries the reason.
            let _ = self.supervisor.kill();
        }
        started
    }

    /// SIGTERM, up to `grace`, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) -> Result<StopReport, SpeakerError> {
        Ok(self.supervisor.stop(grace)?)
    }

    /// SIGKILL without any cleanup (graceful-restart tests: RFC 4724 §4.1 restarting speaker).
    pub fn kill(&mut self) -> Result<(), SpeakerError> {
        Ok(self.supervisor.kill()?)
    }

    /// Stops (gracefully within `grace`) and starts again with the same config.
    pub fn restart(&mut self, grace: Duration) -> Result<StopReport, SpeakerError> {
        let report = self.stop(grace)?;
        self.start()?;
        Ok(report)
    }

    /// Whether every process of the daemon is alive.
    pub fn is_running(&mut self) -> bool {
        self.supervisor.is_running()
    }

    /// Whether any process the daemon started is still around (after stop: must be false).
    pub fn any_process_left(&self) -> bool {
        self.supervisor.any_process_left()
    }

    /// Session states from the daemon's own CLI/API.
    pub fn neighbors(&self) -> Result<Vec<NeighborState>, SpeakerError> {
        let ctx = self.ctx()?;
        self.adapter.neighbors(&ctx)
    }

    /// The files written at prepare.
    pub fn rendered(&self) -> &RenderedConfig {
        &self.rendered
    }

    /// The daemon's run directory.
    pub fn dir(&self) -> &RunDir {
        &self.dir
    }

    /// The node this speaker runs on.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The adapter.
    pub fn adapter(&self) -> &dyn Speaker {
        self.adapter.as_ref()
    }

    /// Pids of the daemon's processes, by program name.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.supervisor.pids()
    }
}
