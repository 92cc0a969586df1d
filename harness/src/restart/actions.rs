//! Restart actions on a running fabric, each recorded with when it began and how long it took,
//! so that loss and route churn can be attributed to event windows.
//!
//! `kill -9` is the RFC 4724 §4.1 restarting speaker's trigger (TCP dies without a
//! NOTIFICATION, so helpers retain, §4.2); a graceful stop sends a Cease NOTIFICATION first, which
//! without RFC 8538 is an ordinary teardown (stmt 54).

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use super::RestartError;
use crate::lab::{LinkEnd, LinkState};
use crate::run::Fabric;
use crate::speakers::SpeakerInstance;
use crate::topology::{LinkId, NodeId};

/// What an action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// SIGKILL of the daemon's process groups (no NOTIFICATION, no cleanup).
    Kill,
    /// SIGTERM, then SIGKILL after the grace period.
    Stop,
    /// Start with the same config; ends when the daemon answers its control socket.
    Start,
    /// A link set down (both ends).
    LinkDown,
    /// A link set up again.
    LinkUp,
    /// A deliberate pause between two actions (the time a daemon stays down).
    Pause,
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActionKind::Kill => "kill -9",
            ActionKind::Stop => "stop",
            ActionKind::Start => "start",
            ActionKind::LinkDown => "link down",
            ActionKind::LinkUp => "link up",
            ActionKind::Pause => "pause",
        })
    }
}

/// One action, timed.
#[derive(Debug, Clone)]
pub struct ActionRecord {
    pub kind: ActionKind,
    /// The node acted on (for links: the `a` end's node).
    pub node: Option<NodeId>,
    pub link: Option<LinkId>,
    /// When the action began (monotonic, comparable with route events and probe times).
    pub at: Instant,
    /// The same moment on the wall clock.
    pub wall: SystemTime,
    /// How long the action took (a start includes waiting for readiness).
    pub took: Duration,
}

impl ActionRecord {
    /// When the action ended.
    pub fn end(&self) -> Instant {
        self.at + self.took
    }
}

impl fmt::Display for ActionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(n) = &self.node {
            write!(f, " {n}")?;
        }
        if let Some(l) = self.link {
            write!(f, " {l}")?;
        }
        write!(f, " ({} ms)", self.took.as_millis())
    }
}

/// Every action of a case, in order.
#[derive(Debug, Clone, Default)]
pub struct ActionLog {
    pub records: Vec<ActionRecord>,
}

impl ActionLog {
    pub fn new() -> Self {
        ActionLog::default()
    }

    /// The first record of `kind` (for `node` when given).
    pub fn first(&self, kind: ActionKind, node: Option<&NodeId>) -> Option<&ActionRecord> {
        self.records
            .iter()
            .find(|r| r.kind == kind && (node.is_none() || r.node.as_ref() == node))
    }

    /// The last record of `kind` (for `node` when given).
    pub fn last(&self, kind: ActionKind, node: Option<&NodeId>) -> Option<&ActionRecord> {
        self.records
            .iter()
            .rev()
            .find(|r| r.kind == kind && (node.is_none() || r.node.as_ref() == node))
    }

    fn timed<T>(
        &mut self,
        kind: ActionKind,
        node: Option<&NodeId>,
        link: Option<LinkId>,
        f: impl FnOnce() -> Result<T, RestartError>,
    ) -> Result<T, RestartError> {
        let (at, wall) = (Instant::now(), SystemTime::now());
        let r = f();
        // Recorded even when it failed: the attempt is part of the timeline.
        self.records.push(ActionRecord {
            kind,
            node: node.cloned(),
            link,
            at,
            wall,
            took: at.elapsed(),
        });
        r
    }

    /// One line per action, times relative to `origin`.
    pub fn timeline(&self, origin: Instant) -> String {
        self.records
            .iter()
            .map(|r| {
                format!(
                    "+{:>6} ms  {r}",
                    r.at.saturating_duration_since(origin).as_millis()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn speaker<'a>(
    fabric: &'a mut Fabric,
    node: &NodeId,
) -> Result<&'a mut SpeakerInstance, RestartError> {
    fabric
        .speaker_mut(node)
        .ok_or_else(|| RestartError::NoSpeaker(node.clone()))
}

fn speaker_err(node: &NodeId) -> impl FnOnce(crate::speakers::SpeakerError) -> RestartError + '_ {
    move |source| RestartError::Speaker {
        node: node.clone(),
        source,
    }
}

/// SIGKILLs `node`'s daemon (every process group), like a crashed calico-node.
pub fn kill(fabric: &mut Fabric, node: &NodeId, log: &mut ActionLog) -> Result<(), RestartError> {
    let s = speaker(fabric, node)?;
    log.timed(ActionKind::Kill, Some(node), None, || {
        s.kill().map_err(speaker_err(node))
    })
}

/// Stops `node`'s daemon gracefully (SIGTERM, SIGKILL after `grace`).
pub fn stop(
    fabric: &mut Fabric,
    node: &NodeId,
    grace: Duration,
    log: &mut ActionLog,
) -> Result<(), RestartError> {
    let s = speaker(fabric, node)?;
    log.timed(ActionKind::Stop, Some(node), None, || {
        s.stop(grace).map(|_| ()).map_err(speaker_err(node))
    })
}

/// Starts `node`'s daemon again with its config; returns once it answers its control socket.
pub fn start(fabric: &mut Fabric, node: &NodeId, log: &mut ActionLog) -> Result<(), RestartError> {
    let s = speaker(fabric, node)?;
    log.timed(ActionKind::Start, Some(node), None, || {
        s.start().map_err(speaker_err(node))
    })
}

/// Keeps things as they are for `d` (a daemon staying down is the action itself, not a wait
/// for a condition).
pub fn pause(d: Duration, log: &mut ActionLog) {
    let _ = log.timed(ActionKind::Pause, None, None, || {
        std::thread::sleep(d);
        Ok(())
    });
}

/// kill -9, stay down for `down`, start again.
pub fn kill_and_restart(
    fabric: &mut Fabric,
    node: &NodeId,
    down: Duration,
    log: &mut ActionLog,
) -> Result<(), RestartError> {
    kill(fabric, node, log)?;
    pause(down, log);
    start(fabric, node, log)
}

/// Graceful stop, stay down for `down`, start again.
pub fn stop_and_restart(
    fabric: &mut Fabric,
    node: &NodeId,
    grace: Duration,
    down: Duration,
    log: &mut ActionLog,
) -> Result<(), RestartError> {
    stop(fabric, node, grace, log)?;
    pause(down, log);
    start(fabric, node, log)
}

/// kill -9 several daemons back to back (within milliseconds), stay down for `down`, then start
/// them all. Starts are sequential (each waits for readiness); the log has each one's time.
pub fn kill_and_restart_many(
    fabric: &mut Fabric,
    nodes: &[NodeId],
    down: Duration,
    log: &mut ActionLog,
) -> Result<(), RestartError> {
    for n in nodes {
        kill(fabric, n, log)?;
    }
    pause(down, log);
    for n in nodes {
        start(fabric, n, log)?;
    }
    Ok(())
}

/// Sets `link` down (both ends) and records it.
pub fn link_down(fabric: &Fabric, link: LinkId, log: &mut ActionLog) -> Result<(), RestartError> {
    let node = link_node(fabric, link);
    log.timed(ActionKind::LinkDown, node.as_ref(), Some(link), || {
        Ok(fabric
            .lab()
            .set_link_state(link, LinkEnd::Both, LinkState::Down)?)
    })
}

/// Sets `link` up (both ends) and records it.
pub fn link_up(fabric: &Fabric, link: LinkId, log: &mut ActionLog) -> Result<(), RestartError> {
    let node = link_node(fabric, link);
    log.timed(ActionKind::LinkUp, node.as_ref(), Some(link), || {
        Ok(fabric
            .lab()
            .set_link_state(link, LinkEnd::Both, LinkState::Up)?)
    })
}

fn link_node(fabric: &Fabric, link: LinkId) -> Option<NodeId> {
    fabric
        .plan()
        .links
        .iter()
        .find(|l| l.id == link)
        .map(|l| l.a.node.clone())
}

/// kill -9 `node`, and while it is down flap `link` (down for `flap`, then up), then start the
/// node after `down` in total: a link event during a restart.
pub fn kill_with_link_flap(
    fabric: &mut Fabric,
    node: &NodeId,
    link: LinkId,
    flap: Duration,
    down: Duration,
    log: &mut ActionLog,
) -> Result<(), RestartError> {
    kill(fabric, node, log)?;
    let began = Instant::now();
    link_down(fabric, link, log)?;
    pause(flap, log);
    // Bring the link back even if something above is odd: leaving it down would break the
    // rest of the case.
    link_up(fabric, link, log)?;
    pause(down.saturating_sub(began.elapsed()), log);
    start(fabric, node, log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_records_failures_and_successes_in_order() {
        let mut log = ActionLog::new();
        let n = NodeId::from("r1n1");
        let ok: Result<(), RestartError> = log.timed(ActionKind::Kill, Some(&n), None, || Ok(()));
        assert!(ok.is_ok());
        let err: Result<(), RestartError> = log.timed(ActionKind::Start, Some(&n), None, || {
            Err(RestartError::NoSpeaker(n.clone()))
        });
        assert!(err.is_err());
        assert_eq!(log.records.len(), 2);
        assert_eq!(
            log.first(ActionKind::Start, Some(&n)).map(|r| r.kind),
            Some(ActionKind::Start)
        );
        assert!(log.first(ActionKind::Stop, None).is_none());
        assert!(log.records[0].at <= log.records[1].at);
        let t = log.timeline(log.records[0].at);
        assert!(t.contains("kill -9 r1n1"), "{t}");
        assert!(t.contains("start r1n1"), "{t}");
    }
}
