//! The scenario of every interop case, step by step, each step a finding:
//!
//! 1. `session`: Established, and the peer's CLI shows 4-octet AS, IPv4 and IPv6 unicast,
//!    graceful restart and route refresh negotiated (the bundled speaker's view must agree);
//! 2. `routes`: each side's IPv4 and IPv6 prefixes in the other's RIB, with the originator's
//!    4-octet AS as the whole AS_PATH, and at the peer with a usable next hop (the bundled
//!    speaker's link address of the route's family; IPv6 over RFC 8950 for IPv4 routes on an
//!    IPv6 session);
//! 3. `withdraw-bundled` / `withdraw-peer`: prefixes withdrawn on one side leave the other's
//!    RIB, the rest stays;
//! 4. `shutdown`: SIGTERM to the bundled speaker; it exits within the grace period and the
//!    peer shows Cease / Administrative Shutdown received;
//! 5. `wire`: every message the bundled speaker sent decodes with our codec and with tshark
//!    without objection; its OPEN carries AS_TRANS and the 4-octet AS capability, its last
//!    message is the Cease.
//!
//! A failed step does not stop the case: later steps run when they still make sense (the wire
//! check always does), so one run reports every problem. Steps that cannot run say why.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use fabric_bgp_wire::Asn;
use fabric_speaker::control::{NeighborStatus, RouteDir};
use fabric_speaker::fsm::State;
use fabriclab::capture::decode_capture;
use fabriclab::process::RunDir;
use fabriclab::speakers::find_executable;
use fabriclab::wait::{wait_until, Probe};
use ipnet::IpNet;

use super::bundled::{self, BundledSpeaker};
use super::pair::Pair;
use super::peer::{self, PeerDaemon, PeerRib};
use super::{
    bundled_origination, peer_origination, wire, Opener, PeerKind, PeerSetup, Transport,
    BUNDLED_AS, PEER_AS, PEER_ID,
};
use crate::{is_root, NEEDS_ROOT};

/// Session establishment, including BIRD's ~1 s to its first SYN and connect retries.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(20);
/// Routes reaching the other side (BIRD may hold its last UPDATE back ~3 s, daemons.md).
const ROUTES_TIMEOUT: Duration = Duration::from_secs(10);
/// A withdrawal reaching the other side.
const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(10);
/// SIGTERM to exit: the speaker flushes its NOTIFICATIONs within 3 s (`SHUTDOWN_GRACE`).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The peer showing the Cease once the speaker is gone.
const CEASE_TIMEOUT: Duration = Duration::from_secs(5);
/// Poll interval of the waits (vtysh costs ~40 ms a call).
const POLL: Duration = Duration::from_millis(100);

/// One interop case: a peer implementation, the session's address family, who dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub peer: PeerKind,
    pub transport: Transport,
    pub opener: Opener,
}

/// How the bundled speaker ends the session in the shutdown step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownVia {
    /// SIGTERM to the daemon: Cease/Administrative Shutdown with the RFC 9003 communication
    /// "fabric-speaker shutting down", then exit.
    Sigterm,
    /// The control socket's `disable` without a communication (Cease/Administrative Shutdown
    /// with no data), then SIGTERM once the peer saw it.
    Disable,
}

impl Case {
    /// How this case shuts the session down. ExaBGP 4.2.21 cannot decode a Cease carrying a
    /// shutdown communication under Python 3 (`notification.py` formats `bytes % str`, a
    /// TypeError): it answers NOTIFICATION 1/0 "can not decode update message of type 3" and
    /// never reports the Cease. Its case uses `disable`, which sends the Cease without data.
    pub fn shutdown_via(&self) -> ShutdownVia {
        match self.peer {
            PeerKind::Exabgp => ShutdownVia::Disable,
            _ => ShutdownVia::Sigterm,
        }
    }

    /// `bird::ipv4::bundled-active`.
    pub fn name(&self) -> String {
        format!("{}::{}::{}", self.peer, self.transport, self.opener)
    }

    /// Why the case cannot run here (not root, a daemon, the speaker or tshark missing).
    pub fn skip_reason(&self) -> Option<String> {
        if !is_root() {
            return Some(NEEDS_ROOT.to_string());
        }
        if let Some(m) = peer::missing(self.peer) {
            return Some(m);
        }
        if let Some(m) = bundled::missing() {
            return Some(m);
        }
        find_executable("tshark")
            .is_none()
            .then(|| "the wire check needs `tshark` (apt-get install tshark)".to_string())
    }

    /// Runs the case in a fresh lab. Fails with every failed step (and where the artifacts were
    /// kept) if any step failed.
    pub fn run(&self) -> Result<Report> {
        let mut pair = Pair::build(&format!("{}{}", self.peer, self.transport))?;
        let mut report = Report {
            case: self.name(),
            steps: Vec::new(),
            logs: Vec::new(),
        };
        let outcome = scenario(&mut pair, self, &mut report);
        if outcome.is_err() || report.failed() {
            let dir = pair.keep_artifacts();
            let error = outcome
                .err()
                .map(|e| format!("\nthe case could not go on: {e:#}"))
                .unwrap_or_default();
            bail!(
                "{report}{error}\nartifacts (configurations, logs, capture): {}",
                dir.display()
            );
        }
        Ok(report)
    }
}

/// How one step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass(String),
    Fail(String),
    /// The step could not run (why).
    NotRun(String),
}

/// One step's finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: &'static str,
    pub outcome: Outcome,
    pub elapsed: Duration,
}

/// Every step of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub case: String,
    pub steps: Vec<Step>,
    /// The daemons' logs (shown when a step failed).
    pub logs: Vec<PathBuf>,
}

impl Report {
    /// Whether a step failed or could not run.
    pub fn failed(&self) -> bool {
        self.steps
            .iter()
            .any(|s| !matches!(s.outcome, Outcome::Pass(_)))
    }

    fn push(&mut self, name: &'static str, started: Instant, outcome: Outcome) {
        self.steps.push(Step {
            name,
            outcome,
            elapsed: started.elapsed(),
        });
    }

    /// Whether step `name` passed.
    pub fn passed(&self, name: &str) -> bool {
        self.steps
            .iter()
            .any(|s| s.name == name && matches!(s.outcome, Outcome::Pass(_)))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:", self.case)?;
        for s in &self.steps {
            let (tag, text) = match &s.outcome {
                Outcome::Pass(t) => ("pass", t),
                Outcome::Fail(t) => ("FAIL", t),
                Outcome::NotRun(t) => ("not run", t),
            };
            writeln!(
                f,
                "  [{tag}] {} ({:.2} s): {text}",
                s.name,
                s.elapsed.as_secs_f64()
            )?;
        }
        if self.failed() && !self.logs.is_empty() {
            let logs: Vec<String> = self.logs.iter().map(|p| p.display().to_string()).collect();
            writeln!(f, "  logs: {}", logs.join(", "))?;
        }
        Ok(())
    }
}

fn show<T: fmt::Display>(r: &Result<T>) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(e) => format!("error: {e:#}"),
    }
}

fn show_neighbor(n: &Result<NeighborStatus>) -> String {
    match n {
        Ok(n) => format!(
            "{} (last error: {})",
            n.state.name(),
            n.last_error.as_deref().unwrap_or("none")
        ),
        Err(e) => format!("error: {e:#}"),
    }
}

fn list(prefixes: &[IpNet]) -> String {
    let v: Vec<String> = prefixes.iter().map(ToString::to_string).collect();
    format!("[{}]", v.join(", "))
}

/// What the bundled speaker's own view lacks of what every case requires.
fn bundled_missing(n: &NeighborStatus) -> Vec<String> {
    let mut m = Vec::new();
    if n.peer_as != Some(PEER_AS) {
        m.push(format!("peer AS {PEER_AS} (it shows {:?})", n.peer_as));
    }
    let Some(c) = &n.capabilities else {
        m.push("capabilities".into());
        return m;
    };
    if !c.four_octet_as {
        m.push("4-octet AS".into());
    }
    for af in ["ipv4-unicast", "ipv6-unicast"] {
        if !c.families.iter().any(|f| f == af) {
            m.push(format!("multiprotocol {af}"));
        }
    }
    if !c.route_refresh {
        m.push("route refresh".into());
    }
    if !(c.graceful_restart_local && c.graceful_restart_peer.is_some()) {
        m.push("graceful restart".into());
    }
    m
}

/// The next hops the bundled speaker may announce on the link: its own addresses there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHops {
    /// The bundled speaker's IPv4 address on the link.
    pub v4: IpAddr,
    /// The bundled speaker's IPv6 address on the link.
    pub v6: IpAddr,
    /// The session's transport.
    pub transport: Transport,
}

impl NextHops {
    /// Acceptable next hops for `prefix`: for IPv4 the IPv4 address (RFC 4271 §5.1.3), or over
    /// an IPv6 session the IPv6 one (RFC 8950 extended next hop); for IPv6 the global IPv6
    /// address (RFC 2545 §3) — an IPv4-mapped address is not one.
    pub fn allowed(&self, prefix: &IpNet) -> Vec<IpAddr> {
        match (prefix, self.transport) {
            (IpNet::V4(_), Transport::V4) => vec![self.v4],
            (IpNet::V4(_), Transport::V6) => vec![self.v4, self.v6],
            (IpNet::V6(_), _) => vec![self.v6],
        }
    }

    /// Whether the next hop text a daemon shows (one or more addresses, e.g. a global and a
    /// link-local) names an acceptable next hop for `prefix`.
    pub fn accepts(&self, prefix: &IpNet, shown: &str) -> bool {
        let allowed = self.allowed(prefix);
        shown
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter_map(|t| t.parse::<IpAddr>().ok())
            .any(|a| allowed.contains(&a))
    }
}

/// Whether `rib` holds every one of `want` with `origin` as its whole AS_PATH (and, when
/// `next_hops` is given, an acceptable next hop); the observation names what is missing or
/// wrong.
fn rib_has(
    rib: &PeerRib,
    want: &[IpNet],
    origin: Asn,
    next_hops: Option<&NextHops>,
) -> std::result::Result<(), String> {
    let missing: Vec<IpNet> = want
        .iter()
        .filter(|p| !rib.contains_key(p))
        .copied()
        .collect();
    let present = || want.iter().filter_map(|p| rib.get(p).map(|r| (p, r)));
    let wrong_path: Vec<String> = present()
        .filter(|(_, r)| r.as_path != [origin.0])
        .map(|(p, r)| format!("{p} {r}"))
        .collect();
    let wrong_nh: Vec<String> = next_hops
        .map(|nh| {
            present()
                .filter(|(p, r)| !nh.accepts(p, &r.next_hop))
                .map(|(p, r)| {
                    let allowed: Vec<String> =
                        nh.allowed(p).iter().map(ToString::to_string).collect();
                    format!("{p} via {} (want {})", r.next_hop, allowed.join(" or "))
                })
                .collect()
        })
        .unwrap_or_default();
    if missing.is_empty() && wrong_path.is_empty() && wrong_nh.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", list(&missing)));
    }
    if !wrong_path.is_empty() {
        parts.push(format!(
            "AS_PATH is not [{origin}]: {}",
            wrong_path.join(", ")
        ));
    }
    if !wrong_nh.is_empty() {
        parts.push(format!("unusable next hop: {}", wrong_nh.join(", ")));
    }
    Err(parts.join("; "))
}

/// The bundled speaker's Adj-RIB-In as a [`PeerRib`] (AS_PATH parsed from its text).
fn bundled_rib(dut: &BundledSpeaker) -> Result<PeerRib> {
    Ok(dut
        .routes(RouteDir::Received)?
        .into_iter()
        .map(|r| {
            let as_path = r
                .as_path
                .split(|c: char| c.is_whitespace() || c == '{' || c == '}' || c == ',')
                .filter_map(|a| a.parse().ok())
                .collect();
            let next_hop = r.next_hop.map(|n| n.to_string()).unwrap_or_default();
            (r.prefix, peer::PeerRoute { as_path, next_hop })
        })
        .collect())
}

fn scenario(pair: &mut Pair, case: &Case, report: &mut Report) -> Result<()> {
    let (b_addr, p_addr) = pair.addresses(case.transport);
    let other = match case.transport {
        Transport::V4 => Transport::V6,
        Transport::V6 => Transport::V4,
    };
    let (_, p_other) = pair.addresses(other);
    let b_orig = bundled_origination();
    let p_orig = peer_origination();
    let setup = PeerSetup {
        local: p_addr,
        remote: b_addr,
        local_other: p_other,
        local_as: PEER_AS,
        remote_as: BUNDLED_AS,
        router_id: PEER_ID,
        passive: case.opener == Opener::Bundled,
        originate: p_orig.all(),
        transport: case.transport,
    };
    let dut_dir = RunDir::at(pair.dir().join("dut"));
    let config = bundled::config(
        b_addr,
        p_addr,
        case.opener == Opener::Peer,
        &b_orig.all(),
        &dut_dir.file(bundled::SOCKET),
    );
    let peer_dir = RunDir::at(pair.dir().join(format!("peer-{}", case.peer)));
    // Until both run, the directories; then the daemons' own log files.
    report.logs = vec![dut_dir.path().to_path_buf(), peer_dir.path().to_path_buf()];
    let (dut_ns, peer_ns) = (pair.dut_netns()?, pair.peer_netns()?);

    // The passive side first, so the active side's first connection finds a listener.
    let t = Instant::now();
    let (mut peer, mut dut) = match case.opener {
        Opener::Bundled => {
            let p = peer::start(case.peer, &peer_ns, peer_dir, &setup)?;
            let d = BundledSpeaker::start(&dut_ns, dut_dir, &config)?;
            (p, d)
        }
        Opener::Peer => {
            let d = BundledSpeaker::start(&dut_ns, dut_dir, &config)?;
            let p = peer::start(case.peer, &peer_ns, peer_dir, &setup)?;
            (p, d)
        }
    };
    report.logs = peer.logs().into_iter().chain([dut.log_path()]).collect();
    report.push(
        "start",
        t,
        Outcome::Pass(format!("{} at {p_addr}, bundled at {b_addr}", case.peer)),
    );

    let up = step_session(peer.as_ref(), &dut, report);
    let next_hops = NextHops {
        v4: pair.addresses(Transport::V4).0,
        v6: pair.addresses(Transport::V6).0,
        transport: case.transport,
    };
    let (seen_at_peer, seen_at_bundled) = step_routes(peer.as_ref(), &dut, &next_hops, up, report);
    step_withdraw_bundled(
        peer.as_ref(),
        &dut,
        &b_orig.withdrawn,
        &seen_at_peer,
        report,
    );
    step_withdraw_peer(
        peer.as_mut(),
        &dut,
        &p_orig.withdrawn,
        &seen_at_bundled,
        report,
    );
    step_shutdown(peer.as_ref(), &mut dut, case.shutdown_via(), up, report);
    // Stop the peer before the capture so its side of the close is recorded too.
    let t = Instant::now();
    if let Err(e) = peer.stop() {
        report.push("stop-peer", t, Outcome::Fail(format!("{e:#}")));
    }
    let pcap = pair.stop_capture()?;
    step_wire(&pcap, pair.link().id, b_addr, up, report);
    Ok(())
}

/// Returns whether the session came up (later steps need it, whatever was negotiated).
fn step_session(peer: &dyn PeerDaemon, dut: &BundledSpeaker, report: &mut Report) -> bool {
    let t = Instant::now();
    let got = wait_until(ESTABLISH_TIMEOUT, POLL, || {
        let p = peer.session();
        let b = dut.neighbor();
        match (p, b) {
            (Ok(p), Ok(b)) if p.established && b.state == State::Established => Probe::Done((p, b)),
            (p, b) => Probe::pending(format!(
                "peer: {}; bundled: {}",
                show(&p),
                show_neighbor(&b)
            )),
        }
    });
    let up = got.is_ok();
    let outcome = match got {
        Err(timeout) => Outcome::Fail(format!("no session: {timeout}")),
        Ok((p, b)) => {
            let mut problems: Vec<String> = p
                .missing(BUNDLED_AS)
                .into_iter()
                .map(|m| format!("the peer's CLI does not show {m}"))
                .collect();
            problems.extend(
                bundled_missing(&b)
                    .into_iter()
                    .map(|m| format!("the bundled speaker does not show {m}")),
            );
            if problems.is_empty() {
                Outcome::Pass(format!("peer: {p}"))
            } else {
                Outcome::Fail(format!(
                    "Established, but {} (peer: {p})",
                    problems.join("; ")
                ))
            }
        }
    };
    report.push("session", t, outcome);
    up
}

/// Returns the prefixes each side saw (what the withdrawal steps can check).
fn step_routes(
    peer: &dyn PeerDaemon,
    dut: &BundledSpeaker,
    next_hops: &NextHops,
    up: bool,
    report: &mut Report,
) -> (BTreeSet<IpNet>, BTreeSet<IpNet>) {
    let b_all = bundled_origination().all();
    let p_all = peer_origination().all();
    if !up {
        report.push(
            "routes",
            Instant::now(),
            Outcome::NotRun("no session".into()),
        );
        return (BTreeSet::new(), BTreeSet::new());
    }
    let t = Instant::now();
    // Both directions in one wait: each side is looked at until it is complete, and a timeout
    // reports each side's last observation.
    let (mut last_peer, mut last_bundled) = (PeerRib::new(), PeerRib::new());
    let mut at_peer: std::result::Result<(), String> = Err("not looked at yet".into());
    let mut at_bundled: std::result::Result<(), String> = Err("not looked at yet".into());
    let _ = wait_until(ROUTES_TIMEOUT, POLL, || {
        if at_peer.is_err() {
            at_peer = match peer.routes_from_bundled() {
                Ok(rib) => {
                    let r = rib_has(&rib, &b_all, BUNDLED_AS, Some(next_hops));
                    last_peer = rib;
                    r
                }
                Err(e) => Err(format!("{e:#}")),
            };
        }
        if at_bundled.is_err() {
            at_bundled = match bundled_rib(dut) {
                Ok(rib) => {
                    let r = rib_has(&rib, &p_all, PEER_AS, None);
                    last_bundled = rib;
                    r
                }
                Err(e) => Err(format!("{e:#}")),
            };
        }
        if at_peer.is_ok() && at_bundled.is_ok() {
            Probe::Done(())
        } else {
            Probe::pending("")
        }
    });
    let waited = t.elapsed();
    let mut problems = Vec::new();
    if let Err(e) = at_peer {
        problems.push(format!(
            "the peer's RIB lacks the bundled speaker's routes after {waited:.1?}: {e}"
        ));
    }
    if let Err(e) = at_bundled {
        problems.push(format!(
            "the bundled speaker's Adj-RIB-In lacks the peer's routes after {waited:.1?}: {e}"
        ));
    }
    let outcome = if problems.is_empty() {
        Outcome::Pass(format!(
            "peer has {}, bundled has {}",
            list(&b_all),
            list(&p_all)
        ))
    } else {
        Outcome::Fail(problems.join("; "))
    };
    report.push("routes", t, outcome);
    let seen = |rib: &PeerRib, want: &[IpNet]| -> BTreeSet<IpNet> {
        want.iter()
            .filter(|p| rib.contains_key(p))
            .copied()
            .collect()
    };
    (seen(&last_peer, &b_all), seen(&last_bundled, &p_all))
}

/// Waits until `rib()` holds none of `gone` and all of `stay`.
fn wait_withdrawn(
    mut rib: impl FnMut() -> Result<PeerRib>,
    gone: &[IpNet],
    stay: &[IpNet],
) -> std::result::Result<(), String> {
    wait_until(WITHDRAW_TIMEOUT, POLL, || match rib() {
        Ok(r) => {
            let still: Vec<IpNet> = gone.iter().filter(|p| r.contains_key(p)).copied().collect();
            let lost: Vec<IpNet> = stay
                .iter()
                .filter(|p| !r.contains_key(p))
                .copied()
                .collect();
            if still.is_empty() && lost.is_empty() {
                Probe::Done(())
            } else {
                Probe::pending(format!(
                    "still present {}; wrongly gone {}",
                    list(&still),
                    list(&lost)
                ))
            }
        }
        Err(e) => Probe::pending(format!("{e:#}")),
    })
    .map_err(|t| t.to_string())
}

/// Splits `withdrawn` into what was seen (checkable) and what never arrived.
fn checkable(withdrawn: &[IpNet], seen: &BTreeSet<IpNet>) -> (Vec<IpNet>, Vec<IpNet>) {
    withdrawn.iter().partition(|p| seen.contains(p))
}

fn withdraw_outcome(
    result: std::result::Result<(), String>,
    checked: &[IpNet],
    unchecked: &[IpNet],
) -> Outcome {
    let note = if unchecked.is_empty() {
        String::new()
    } else {
        format!(" (not checked, never received: {})", list(unchecked))
    };
    match result {
        Ok(()) => Outcome::Pass(format!("{} gone, the rest kept{note}", list(checked))),
        Err(e) => Outcome::Fail(format!("{e}{note}")),
    }
}

fn step_withdraw_bundled(
    peer: &dyn PeerDaemon,
    dut: &BundledSpeaker,
    withdrawn: &[IpNet],
    seen: &BTreeSet<IpNet>,
    report: &mut Report,
) {
    let t = Instant::now();
    let (checked, unchecked) = checkable(withdrawn, seen);
    if checked.is_empty() {
        report.push(
            "withdraw-bundled",
            t,
            Outcome::NotRun(format!("the peer never had {}", list(withdrawn))),
        );
        return;
    }
    for p in withdrawn {
        if let Err(e) = dut.withdraw(*p) {
            report.push("withdraw-bundled", t, Outcome::Fail(format!("{e:#}")));
            return;
        }
    }
    let stay: Vec<IpNet> = seen
        .iter()
        .filter(|p| !withdrawn.contains(p))
        .copied()
        .collect();
    let r = wait_withdrawn(|| peer.routes_from_bundled(), &checked, &stay);
    report.push(
        "withdraw-bundled",
        t,
        withdraw_outcome(
            r.map_err(|e| format!("the peer's RIB: {e}")),
            &checked,
            &unchecked,
        ),
    );
}

fn step_withdraw_peer(
    peer: &mut dyn PeerDaemon,
    dut: &BundledSpeaker,
    withdrawn: &[IpNet],
    seen: &BTreeSet<IpNet>,
    report: &mut Report,
) {
    let t = Instant::now();
    let (checked, unchecked) = checkable(withdrawn, seen);
    if checked.is_empty() {
        report.push(
            "withdraw-peer",
            t,
            Outcome::NotRun(format!("the bundled speaker never had {}", list(withdrawn))),
        );
        return;
    }
    if let Err(e) = peer.stop_originating(withdrawn) {
        report.push("withdraw-peer", t, Outcome::Fail(format!("{e:#}")));
        return;
    }
    let stay: Vec<IpNet> = seen
        .iter()
        .filter(|p| !withdrawn.contains(p))
        .copied()
        .collect();
    let r = wait_withdrawn(|| bundled_rib(dut), &checked, &stay);
    report.push(
        "withdraw-peer",
        t,
        withdraw_outcome(
            r.map_err(|e| format!("the bundled speaker's Adj-RIB-In: {e}")),
            &checked,
            &unchecked,
        ),
    );
}

fn step_shutdown(
    peer: &dyn PeerDaemon,
    dut: &mut BundledSpeaker,
    via: ShutdownVia,
    up: bool,
    report: &mut Report,
) {
    let t = Instant::now();
    let mut problems = Vec::new();
    let terminate = |dut: &mut BundledSpeaker, problems: &mut Vec<String>| match dut
        .terminate(SHUTDOWN_GRACE)
    {
        Ok(r) if r.killed.is_empty() => {}
        Ok(r) => problems.push(format!(
            "the speaker did not exit within {SHUTDOWN_GRACE:?} of SIGTERM (killed: {:?})",
            r.killed
        )),
        Err(e) => problems.push(format!("stopping the speaker failed: {e:#}")),
    };
    match via {
        ShutdownVia::Sigterm => terminate(dut, &mut problems),
        ShutdownVia::Disable => {
            if let Err(e) = dut.disable() {
                problems.push(format!("{e:#}"));
            }
        }
    }
    let evidence = if up {
        let seen = wait_until(CEASE_TIMEOUT, Duration::from_millis(50), || {
            match peer.last_notification_received() {
                Ok(Some(n)) if n.is_admin_shutdown() => Probe::Done(n),
                Ok(Some(n)) => Probe::pending(format!("last NOTIFICATION received: {n}")),
                Ok(None) => Probe::pending("no NOTIFICATION received"),
                Err(e) => Probe::pending(format!("{e:#}")),
            }
        });
        match seen {
            Ok(n) => Some(n),
            Err(e) => {
                problems.push(format!(
                    "the peer does not show Cease/Administrative Shutdown received: {e}"
                ));
                None
            }
        }
    } else {
        None
    };
    if via == ShutdownVia::Disable {
        terminate(dut, &mut problems);
    }
    let outcome = match (problems.is_empty(), evidence) {
        (true, Some(n)) => Outcome::Pass(format!("{via:?}: the peer shows {n}")),
        (true, None) => Outcome::NotRun("no session to see the Cease on".into()),
        (false, _) => Outcome::Fail(problems.join("; ")),
    };
    report.push("shutdown", t, outcome);
}

fn step_wire(
    pcap: &std::path::Path,
    link: fabriclab::topology::LinkId,
    bundled: IpAddr,
    up: bool,
    report: &mut Report,
) {
    let t = Instant::now();
    let mut problems = Vec::new();
    let facts = match decode_capture(pcap, link) {
        Ok((events, _)) => wire::sent_by(&events, bundled),
        Err(e) => {
            report.push(
                "wire",
                t,
                Outcome::Fail(format!("cannot decode {}: {e}", pcap.display())),
            );
            return;
        }
    };
    problems.extend(facts.problems.iter().map(|p| format!("our decoder: {p}")));
    if facts.opens.is_empty() {
        problems.push("no OPEN from the bundled speaker in the capture".into());
    }
    for o in &facts.opens {
        // RFC 6793 §4.2.1: a 4-octet AS goes in the capability, AS_TRANS in "My AS".
        if u32::from(o.my_as) != Asn::TRANS.0 || o.four_octet_as != Some(BUNDLED_AS) {
            problems.push(format!(
                "OPEN with My AS {} and 4-octet AS capability {:?} (want {} and {BUNDLED_AS})",
                o.my_as,
                o.four_octet_as.map(|a| a.0),
                Asn::TRANS
            ));
        }
    }
    if up {
        if facts.updates == 0 {
            problems.push("no UPDATE from the bundled speaker in the capture".into());
        }
        if facts.notifications.last() != Some(&(6, 2)) {
            problems.push(format!(
                "the last NOTIFICATION sent is not Cease/Administrative Shutdown: {:?}",
                facts.notifications
            ));
        }
    }
    match wire::tshark_objections(pcap, bundled) {
        Ok(o) => problems.extend(o.into_iter().map(|o| format!("tshark: {o}"))),
        Err(e) => problems.push(format!("tshark: {e:#}")),
    }
    let outcome = if problems.is_empty() {
        Outcome::Pass(format!(
            "{} messages ({} OPEN, {} UPDATE, {} KEEPALIVE, NOTIFICATIONs {:?}) clean in our decoder and tshark",
            facts.messages,
            facts.opens.len(),
            facts.updates,
            facts.keepalives,
            facts.notifications
        ))
    } else {
        Outcome::Fail(problems.join("; "))
    };
    report.push("wire", t, outcome);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::peer::PeerRoute;

    fn n(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn rib_check_names_missing_and_wrong_paths() {
        let mut rib = PeerRib::new();
        rib.insert(
            n("198.51.100.0/24"),
            PeerRoute {
                as_path: vec![4_200_000_001],
                next_hop: "10.0.0.0".into(),
            },
        );
        rib.insert(
            n("2001:db8:100::/48"),
            PeerRoute {
                as_path: vec![23456],
                next_hop: "::".into(),
            },
        );
        let want = [
            n("198.51.100.0/24"),
            n("2001:db8:100::/48"),
            n("198.51.101.0/24"),
        ];
        let e = rib_has(&rib, &want, BUNDLED_AS, None)
            .err()
            .unwrap_or_default();
        assert!(e.contains("missing [198.51.101.0/24]"), "{e}");
        assert!(e.contains("2001:db8:100::/48 as-path [23456]"), "{e}");
        assert!(rib_has(&rib, &want[..1], BUNDLED_AS, None).is_ok());
        let nh = NextHops {
            v4: a("10.0.0.0"),
            v6: a("fd00:0:0:1::"),
            transport: Transport::V4,
        };
        assert!(rib_has(&rib, &want[..1], BUNDLED_AS, Some(&nh)).is_ok());
        rib.insert(
            n("198.51.101.0/24"),
            PeerRoute {
                as_path: vec![4_200_000_001],
                next_hop: "10.0.0.9".into(),
            },
        );
        let e = rib_has(&rib, &want[2..], BUNDLED_AS, Some(&nh))
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("unusable next hop: 198.51.101.0/24 via 10.0.0.9 (want 10.0.0.0)"),
            "{e}"
        );
    }

    #[test]
    fn next_hops_follow_the_family_and_transport() {
        let mut nh = NextHops {
            v4: a("10.0.0.0"),
            v6: a("fd00:0:0:1::"),
            transport: Transport::V4,
        };
        let (v4, v6) = (n("198.51.100.0/24"), n("2001:db8:100::/48"));
        assert!(nh.accepts(&v4, "10.0.0.0"));
        assert!(!nh.accepts(&v4, "fd00:0:0:1::"));
        assert!(nh.accepts(&v6, "fd00:0:0:1:: fe80::1"));
        // An IPv4-mapped next hop for an IPv6 route is not a global IPv6 address.
        assert!(!nh.accepts(&v6, "::ffff:10.0.0.0"));
        assert!(!nh.accepts(&v6, ""));
        nh.transport = Transport::V6;
        assert!(nh.accepts(&v4, "fd00:0:0:1::"));
    }

    #[test]
    fn report_fails_on_any_non_pass_step() {
        let mut r = Report {
            case: "x".into(),
            steps: Vec::new(),
            logs: vec![PathBuf::from("/x/bird.log")],
        };
        r.push("a", Instant::now(), Outcome::Pass("ok".into()));
        assert!(!r.failed());
        r.push("b", Instant::now(), Outcome::NotRun("why".into()));
        assert!(r.failed());
        assert!(r.to_string().contains("[not run] b"));
        assert!(r.to_string().contains("logs: /x/bird.log"));
        assert!(r.passed("a") && !r.passed("b"));
    }

    #[test]
    fn names_are_distinct() {
        let mut names = BTreeSet::new();
        for peer in [
            PeerKind::Bird,
            PeerKind::Frr,
            PeerKind::Gobgp,
            PeerKind::Exabgp,
        ] {
            for transport in [Transport::V4, Transport::V6] {
                for opener in [Opener::Bundled, Opener::Peer] {
                    assert!(names.insert(
                        Case {
                            peer,
                            transport,
                            opener
                        }
                        .name()
                    ));
                }
            }
        }
    }
}
