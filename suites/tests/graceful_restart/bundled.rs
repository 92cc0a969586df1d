//! Cases beyond the BIRD/FRR matrix that need the bundled speaker's settings: the F bit
//! cleared on the restarted OPEN (stmt 58), RFC 8538's N bit (stmt 75) and RFC 9494's
//! long-lived graceful restart (stmt 69-72).

use std::net::IpAddr;

use fabric_speaker::config::{Config as SpeakerConfig, RestartMode};
use fabric_speaker::control::{self, Request, Response, RouteDir};

use super::*;

/// The bundled speaker's configuration file and control socket in a node's run dir.
const CONF: &str = "speaker.yaml";
const SOCKET: &str = "speaker.sock";

/// Rewrites a bundled node's configuration through `edit` (read at its next start).
pub(super) fn edit_bundled_conf(
    fabric: &mut Fabric,
    node: &NodeId,
    edit: impl FnOnce(&mut SpeakerConfig),
) -> Result<()> {
    let s = fabric
        .speaker_mut(node)
        .ok_or_else(|| anyhow!("no speaker on {node}"))?;
    let path: PathBuf = s.dir().file(CONF);
    let mut c = SpeakerConfig::load(&path).with_context(|| format!("{}", path.display()))?;
    edit(&mut c);
    let text = c.to_yaml().with_context(|| format!("{}", path.display()))?;
    std::fs::write(&path, text).with_context(|| format!("{}", path.display()))?;
    Ok(())
}

/// Asks a bundled node's control socket.
fn ask(fabric: &mut Fabric, node: &NodeId, req: &Request) -> Result<Response> {
    let s = fabric
        .speaker_mut(node)
        .ok_or_else(|| anyhow!("no speaker on {node}"))?;
    let path: PathBuf = s.dir().file(SOCKET);
    control::request(&path, req, Duration::from_secs(5))
        .with_context(|| format!("{node}: control socket {}", path.display()))
}

/// The routes `node` received for `prefixes`, with their communities and stale marks.
fn received(
    fabric: &mut Fabric,
    node: &NodeId,
    prefixes: &[IpNet],
) -> Result<Vec<control::RouteEntry>> {
    let req = Request::Routes {
        dir: RouteDir::Received,
        peer: None,
        prefix: None,
    };
    let answer = ask(fabric, node, &req)?;
    match answer.routes {
        Some(routes) if answer.ok => Ok(routes
            .into_iter()
            .filter(|r| prefixes.contains(&r.prefix))
            .collect()),
        _ => bail!("{node}: unexpected answer to routes: {answer:?}"),
    }
}

/// The address of `node`'s end of its link with `other`.
fn peer_address(plan: &Plan, node: &str, other: &str) -> Result<IpAddr> {
    let (n, o) = (NodeId::from(node), NodeId::from(other));
    plan.links
        .iter()
        .find_map(|l| {
            l.ends_from(&n)
                .filter(|(_, far)| far.node == o)
                .map(|(_, far)| IpAddr::V4(far.v4.addr()))
        })
        .ok_or_else(|| anyhow!("no link {node}-{other}"))
}

/// The GR capability of the last OPEN `sender` sent to `receiver` in the capture (the session
/// must have been re-established: at least two OPENs).
pub(super) fn last_open_gr(
    sessions: &[GrSessionView],
    sender: &str,
    receiver: &str,
) -> Result<Option<fabriclab::capture::GrSeen>> {
    let side = sent_by(sessions, sender, receiver)
        .ok_or_else(|| anyhow!("no captured session {sender}-{receiver}"))?;
    if side.opens.len() < 2 {
        bail!(
            "{sender} sent {} OPEN(s) to {receiver}: the session was not re-established",
            side.opens.len()
        );
    }
    Ok(side.opens.last().and_then(|o| o.graceful_restart.clone()))
}

/// Whether the last route event of each of `prefixes` on `node` is not a removal (the route is
/// installed at the end, or was never touched).
pub(super) fn missing_at_end(churn: &ChurnReport, node: &NodeId, prefixes: &[IpNet]) -> Vec<IpNet> {
    let Some(c) = churn.nodes.get(node) else {
        return Vec::new();
    };
    prefixes
        .iter()
        .filter(|b| {
            c.events
                .iter()
                .rev()
                .find(|(_, _, p)| p == *b)
                .is_some_and(|(_, e, _)| *e == RouteChange::Removed)
        })
        .copied()
        .collect()
}

/// stmt 58: r2n1 (bundled) is killed and comes back with graceful-restart recovery off
/// (`restarting: false`: R=0, F=0, its kernel routes purged) and without its second block B.
/// Expected: the helper ToR keeps both blocks while r2n1 is down (no removal before the start);
/// after the start B is removed and A is installed at the end; the post-restart OPEN carries
/// the GR capability with R=0 and F=0 for IPv4 unicast, which is what tells the helper to drop
/// its stale routes at once instead of waiting for End-of-RIB.
pub(super) fn f0_flushes(k: Kinds) -> Result<()> {
    let mut s = Setup::up("gr-f0", k, GracefulRestart::default(), true)?;
    let blocks = s.node_blocks("r2n1");
    let (Some(a), Some(b)) = (blocks.first().copied(), blocks.get(1).copied()) else {
        bail!("r2n1 should own two blocks, has {blocks:?}");
    };
    let probe = s.start_probe(&[])?;
    let mut log = ActionLog::new();
    let v = NodeId::from("r2n1");
    let tor = NodeId::from("r2t1");
    let origin = Instant::now();
    actions::kill(s.fabric()?, &v, &mut log)?;
    s.wait_session_down("r2t1", Duration::from_secs(15))?;
    edit_bundled_conf(s.fabric()?, &v, |c| {
        c.graceful_restart.restarting = RestartMode::Never;
        c.prefixes.retain(|p| *p != b);
    })?;
    actions::pause(DOWN, &mut log);
    actions::start(s.fabric()?, &v, &mut log)?;
    let started = log
        .last(ActionKind::Start, Some(&v))
        .map(|r| r.at)
        .ok_or_else(|| anyhow!("no start recorded"))?;
    s.wait_sessions_up("r2n1", SESSION_BACK)?;
    let removed_b = s.wait_removed("r2t1", &[b], origin, Duration::from_secs(30))?;
    actions::pause(SETTLE, &mut log);
    let report = probe.stop()?;
    let churn = s.churn(std::slice::from_ref(&tor), &blocks, origin)?;
    print_evidence("f0-flush", &log, origin, &report, origin, &churn);
    let sessions = s.finish()?;
    let gr = last_open_gr(&sessions, "r2n1", "r2t1")?
        .ok_or_else(|| anyhow!("r2n1's post-restart OPEN has no GR capability"))?;
    eprintln!("r2n1's post-restart OPEN: {gr:?}");
    let v4 = fabric_bgp_wire::AfiSafi::IPV4_UNICAST;
    if gr.restart_state || gr.families.iter().any(|(af, f)| *af == v4 && *f) {
        bail!("r2n1 restarted with recovery off but sent R/F set: {gr:?} (stmt 61/63)");
    }
    let Some(at) = removed_b else {
        bail!("r2t1 kept the stale block {b} after r2n1 came back with F=0 (stmt 58)");
    };
    if at < started {
        bail!("{b} was removed before r2n1 restarted: not retained (stmt 55)");
    }
    let missing = missing_at_end(&churn, &tor, &[a]);
    if !missing.is_empty() {
        bail!("r2t1 lost {missing:?}, which r2n1 still announces");
    }
    Ok(())
}

/// RFC 8538 with the bundled speaker everywhere and the N bit on: a Cease/Administrative Reset
/// from r2n1 (`fabric-speaker ctl reset`) is a NOTIFICATION other than Hard Reset, so the ToR
/// keeps r2n1's routes (no removal, no loss) while the session comes back (stmt 75, first half).
/// Without the N bit the same reset ends the session the RFC 4271 way: the ToR removes the
/// routes (stmt 54).
pub(super) fn notification_reset(n_bit: bool) -> Result<()> {
    let k = Kinds {
        spine: SpeakerKind::Bundled,
        tor: SpeakerKind::Bundled,
        node: SpeakerKind::Bundled,
    };
    let gr = GracefulRestart {
        notification: n_bit,
        ..GracefulRestart::default()
    };
    let mut s = Setup::up(if n_bit { "gr-n" } else { "gr-non" }, k, gr, false)?;
    let blocks = s.node_blocks("r2n1");
    let probe = s.start_probe(&[])?;
    let mut log = ActionLog::new();
    let v = NodeId::from("r2n1");
    let tor = NodeId::from("r2t1");
    let peer = peer_address(&s.plan, "r2n1", "r2t1")?;
    let origin = Instant::now();
    let answer = ask(
        s.fabric()?,
        &v,
        &Request::Reset {
            peer,
            communication: Some("fabriclab: RFC 8538 case".into()),
        },
    )?;
    eprintln!("reset: {answer:?}");
    let removed = s.wait_removed("r2t1", &blocks, origin, Duration::from_secs(5))?;
    s.wait_sessions_up("r2n1", SESSION_BACK)?;
    actions::pause(SETTLE, &mut log);
    let report = probe.stop()?;
    let churn = s.churn(std::slice::from_ref(&tor), &blocks, origin)?;
    print_evidence("notification", &log, origin, &report, origin, &churn);
    let sessions = s.finish()?;
    let sent = sent_by(&sessions, "r2n1", "r2t1")
        .map(|w| w.notifications.clone())
        .unwrap_or_default();
    eprintln!("NOTIFICATIONs from r2n1: {sent:?}");
    if !sent.iter().any(|n| n.code == 6 && n.subcode == 4) {
        bail!("r2n1 did not send Cease/Administrative Reset: {sent:?}");
    }
    let w = report.window(origin, None);
    match (n_bit, removed) {
        (true, Some(at)) => bail!(
            "with the N bit the ToR removed r2n1's routes {} ms after a Cease/Administrative \
             Reset (stmt 75: only Hard Reset flushes):\n{churn}",
            since_ms(at, origin)
        ),
        (true, None) if w.lost > 0 => {
            bail!("loss while the ToR kept r2n1's routes across the reset: {w}")
        }
        (false, None) => {
            bail!("without the N bit the ToR kept r2n1's routes after a NOTIFICATION (stmt 54)")
        }
        _ => {}
    }
    let missing = missing_at_end(&churn, &tor, &blocks);
    if !missing.is_empty() {
        bail!("r2t1 did not reinstall {missing:?} after the session came back");
    }
    Ok(())
}

/// RFC 8538 §3: with the N bit, a speaker that stops for good (SIGTERM) must send Cease/Hard
/// Reset, so the ToR flushes its routes at once instead of retaining them (stmt 75, second
/// half).
pub(super) fn hard_reset_on_stop() -> Result<()> {
    let k = Kinds {
        spine: SpeakerKind::Bundled,
        tor: SpeakerKind::Bundled,
        node: SpeakerKind::Bundled,
    };
    let gr = GracefulRestart {
        notification: true,
        ..GracefulRestart::default()
    };
    let mut s = Setup::up("gr-hard", k, gr, false)?;
    let blocks = s.node_blocks("r2n1");
    let mut log = ActionLog::new();
    let v = NodeId::from("r2n1");
    let origin = Instant::now();
    actions::stop(s.fabric()?, &v, Duration::from_secs(5), &mut log)?;
    let removed = s.wait_removed("r2t1", &blocks, origin, Duration::from_secs(20))?;
    let sessions = s.finish()?;
    let sent = sent_by(&sessions, "r2n1", "r2t1")
        .map(|w| w.notifications.clone())
        .unwrap_or_default();
    eprintln!("NOTIFICATIONs from r2n1: {sent:?}");
    if !sent.iter().any(|n| n.code == 6 && n.subcode == 9) {
        bail!("r2n1 stopped with the N bit negotiated but sent no Cease/Hard Reset: {sent:?}");
    }
    let Some(at) = removed else {
        bail!("the ToR kept r2n1's routes after a Hard Reset (stmt 75)");
    };
    eprintln!("removed {} ms after the stop", since_ms(at, origin));
    Ok(())
}

/// RFC 9494 with the bundled speaker everywhere: restart time 4 s, long-lived stale time 120 s.
/// kill -9 r2n1 and leave it down for 4x the restart time. Expected: no node removes r2n1's
/// block (stmt 69: kept as long-lived stale), no loss towards it (its kernel routes stay), and
/// the spine has it marked LLGR_STALE (65535:6) once the restart time has passed (stmt 69/72:
/// re-advertised with the community). After r2n1 is back the spine's route is fresh again.
pub(super) fn long_lived_keeps() -> Result<()> {
    let k = Kinds {
        spine: SpeakerKind::Bundled,
        tor: SpeakerKind::Bundled,
        node: SpeakerKind::Bundled,
    };
    let restart_time = 4u16;
    let gr = GracefulRestart {
        restart_time,
        long_lived_stale_time: 120,
        ..GracefulRestart::default()
    };
    let mut s = Setup::up("gr-llgr", k, gr, false)?;
    let blocks = s.node_blocks("r2n1");
    let probe = s.start_probe(&[])?;
    let mut log = ActionLog::new();
    let v = NodeId::from("r2n1");
    let spine = NodeId::from("s1");
    let origin = Instant::now();
    actions::kill(s.fabric()?, &v, &mut log)?;
    let rt = Duration::from_secs(u64::from(restart_time));
    // The spine learns the LLGR_STALE community by a re-advertisement after the restart time.
    let f = s.fabric()?;
    let marked = wait_until(rt * 4, Duration::from_millis(250), || {
        match received(f, &spine, &blocks) {
            Ok(r)
                if !r.is_empty()
                    && r.iter()
                        .all(|e| e.communities.iter().any(|c| c == "65535:6")) =>
            {
                Poll::Done(r)
            }
            Ok(r) => Poll::pending(format!("{r:?}")),
            Err(e) => Poll::pending(e),
        }
    })
    .map_err(|t| anyhow!("the spine never saw r2n1's block as LLGR_STALE (stmt 69): {t}"));
    let llgr_at = Instant::now();
    // Long-lived stale for a while longer, then back.
    actions::pause(rt, &mut log);
    let during = Instant::now();
    actions::start(s.fabric()?, &v, &mut log)?;
    s.wait_sessions_up("r2n1", SESSION_BACK)?;
    let f = s.fabric()?;
    let fresh = wait_until(
        Duration::from_secs(20),
        Duration::from_millis(250),
        || match received(f, &spine, &blocks) {
            Ok(r)
                if !r.is_empty()
                    && r.iter()
                        .all(|e| !e.communities.iter().any(|c| c == "65535:6")) =>
            {
                Poll::Done(())
            }
            Ok(r) => Poll::pending(format!("{r:?}")),
            Err(e) => Poll::pending(e),
        },
    )
    .map_err(|t| anyhow!("the spine kept LLGR_STALE after r2n1 came back: {t}"));
    actions::pause(SETTLE, &mut log);
    let report = probe.stop()?;
    let nodes: Vec<NodeId> = s.plan.nodes.iter().map(|n| n.id.clone()).collect();
    let churn = s.churn(&nodes, &blocks, origin)?;
    print_evidence("llgr", &log, origin, &report, origin, &churn);
    let _ = s.finish()?;
    let marked = marked?;
    eprintln!(
        "spine's routes after the restart time ({} ms after the kill): {marked:?}",
        since_ms(llgr_at, origin)
    );
    let kept = report.window(origin, Some(during));
    eprintln!("while r2n1 was down: {kept}");
    if churn.removed() > 0 {
        bail!(
            "r2n1's block removed on {:?} although it is long-lived stale (stmt 69):\n{churn}",
            churn.nodes_with_removals()
        );
    }
    if kept.lost > 0 {
        bail!("loss while r2n1's routes were long-lived stale: {kept} (expected 0)");
    }
    fresh?;
    Ok(())
}
