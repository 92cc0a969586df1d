//! Tests that run the real daemons (root): start/ready/stop in a scratch namespace, and small
//! mixed fabrics built by the lab where sessions must come up and routes flow as the design
//! says. Without root, or with a daemon missing, each test prints why and returns.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::lab::{netns, BuildOptions, Lab};
use crate::topology::{self, NodeId, Plan, Role, SpeakerKind};
use crate::wait::{wait_until, Probe};

fn skip_reason(kinds: &[SpeakerKind]) -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("needs root (namespaces)".to_string());
    }
    kinds
        .iter()
        .find_map(|k| check_installed(*k).err().map(|e| e.to_string()))
}

/// A namespace `fl-dm<random>` removed on drop.
struct ScratchNs(PathBuf);

impl ScratchNs {
    fn new() -> Self {
        let mut b = [0u8; 4];
        let _ = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
        let name = format!("fl-dm{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3]);
        netns::ensure_netns_dir().unwrap_or_else(|e| panic!("/run/netns: {e}"));
        let path = netns::create_netns(&name).unwrap_or_else(|e| panic!("netns {name}: {e}"));
        // GoBGP's API listens on 127.0.0.1, which exists only once lo is up.
        let up = std::process::Command::new("ip")
            .args(["-n", &name, "link", "set", "lo", "up"])
            .status();
        assert!(
            matches!(up, Ok(s) if s.success()),
            "lo up in {name}: {up:?}"
        );
        ScratchNs(path)
    }
}

impl Drop for ScratchNs {
    fn drop(&mut self) {
        let _ = netns::delete_netns(&self.0);
    }
}

fn pid_alive(pid: u32) -> bool {
    let raw = i32::try_from(pid).unwrap_or(i32::MAX);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None).is_ok()
}

fn with_speaker(plan: &Plan, kind: SpeakerKind) -> Plan {
    let mut plan = plan.clone();
    for n in &mut plan.nodes {
        n.speaker = kind;
    }
    plan
}

#[test]
fn daemons_start_answer_and_stop_cleanly_in_a_scratch_namespace() {
    let kinds = [SpeakerKind::Bird, SpeakerKind::Frr, SpeakerKind::Gobgp];
    if let Some(why) = skip_reason(&kinds) {
        eprintln!("ignored: {why}");
        return;
    }
    let base = super::fixtures::load("as-per-rack.yaml");
    let tor = base
        .nodes
        .iter()
        .find(|n| n.role == Role::Tor)
        .map(|n| n.id.clone())
        .unwrap_or_else(|| panic!("no ToR"));
    for kind in kinds {
        let ns = ScratchNs::new();
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let plan = Arc::new(with_speaker(&base, kind));
        let mut sp = SpeakerInstance::prepare(
            plan,
            &tor,
            ns.0.clone(),
            tmp.path(),
            SpeakerOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
        sp.start().unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(sp.is_running(), "{kind} not running after start");
        let pids: Vec<u32> = sp.pids().into_iter().map(|(_, p)| p).collect();
        // Sessions exist (not established: the namespace has no links).
        let n = sp.neighbors().unwrap_or_else(|e| panic!("{kind}: {e}"));
        let sessions = base.sessions_of(&tor).count();
        assert_eq!(n.len(), sessions, "{kind}: {n:?}");
        assert!(n.iter().all(|s| !s.established));
        let report = sp
            .stop(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(
            report.killed.is_empty(),
            "{kind} needed SIGKILL: {report:?}"
        );
        assert!(!sp.any_process_left(), "{kind} left processes");
        assert!(
            pids.iter().all(|p| !pid_alive(*p)),
            "{kind}: {pids:?} alive"
        );
    }
}

/// Builds `yaml` as a lab, starts every node's speaker, and waits until every session on every
/// node is Established; returns the lab and the running speakers.
fn fabric(yaml: &str, name: &str) -> Option<(Lab, Vec<SpeakerInstance>, tempfile::TempDir)> {
    let plan = topology::parse(yaml, name).unwrap_or_else(|e| panic!("{e}"));
    let lab = match Lab::build(
        &plan,
        BuildOptions {
            handle_signals: false,
            ..BuildOptions::default()
        },
    ) {
        Ok(lab) => lab,
        // The host cannot build labs (not this module's behaviour): report, do not fail.
        Err(e) if e.is_environment() => {
            eprintln!("ignored: the lab cannot be built here: {e}");
            return None;
        }
        Err(e) => panic!("lab: {e}"),
    };
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let plan = Arc::new(plan);
    let mut speakers = Vec::new();
    for node in &plan.nodes {
        let ns = lab
            .netns_path(&node.id)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_path_buf();
        let mut sp = SpeakerInstance::prepare(
            plan.clone(),
            &node.id,
            ns,
            tmp.path(),
            SpeakerOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", node.id));
        sp.start().unwrap_or_else(|e| panic!("{}: {e}", node.id));
        speakers.push(sp);
    }
    let up = wait_until(Duration::from_secs(40), Duration::from_millis(500), || {
        let mut pending = Vec::new();
        for sp in &speakers {
            match sp.neighbors() {
                Ok(n) => pending.extend(
                    n.iter()
                        .filter(|s| !s.established)
                        .map(|s| format!("{} {} {}", sp.node(), s.name, s.state)),
                ),
                Err(e) => pending.push(format!("{}: {e}", sp.node())),
            }
        }
        if pending.is_empty() {
            Probe::Done(())
        } else {
            Probe::pending(pending.join("; "))
        }
    });
    if let Err(t) = up {
        let logs: Vec<String> = speakers
            .iter()
            .map(|s| format!("{}: {}", s.node(), s.dir().path().display()))
            .collect();
        panic!("sessions not established: {t}\nrun dirs: {logs:?}");
    }
    Some((lab, speakers, tmp))
}

fn speaker<'a>(speakers: &'a [SpeakerInstance], id: &str) -> &'a SpeakerInstance {
    speakers
        .iter()
        .find(|s| s.node().as_str() == id)
        .unwrap_or_else(|| panic!("no speaker {id}"))
}

/// Waits until `node` has received `want` prefixes over all its sessions.
fn wait_prefixes(speakers: &[SpeakerInstance], node: &str, want: u64) {
    let sp = speaker(speakers, node);
    let r = wait_until(
        Duration::from_secs(20),
        Duration::from_millis(500),
        || match sp.neighbors() {
            Ok(n) => {
                let got: u64 = n.iter().filter_map(|s| s.prefixes_received).sum();
                if got == want {
                    Probe::Done(())
                } else {
                    Probe::pending(format!(
                        "{node} received {got} prefixes, want {want}: {n:?}"
                    ))
                }
            }
            Err(e) => Probe::pending(e),
        },
    );
    r.unwrap_or_else(|t| panic!("{t}"));
}

fn kernel_routes(lab: &Lab, node: &str) -> String {
    let out = lab
        .exec(&NodeId::from(node), &["ip", "-4", "route", "show"])
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `ip route` output has a `prefix` route via a gateway (FRR adds `nhid N` before `via`).
fn has_via_route(routes: &str, prefix: &str) -> bool {
    routes
        .lines()
        .any(|l| l.starts_with(&format!("{prefix} ")) && l.contains(" via "))
}

fn stop_all(speakers: &mut [SpeakerInstance]) {
    for sp in speakers.iter_mut() {
        let r = sp
            .stop(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(r.killed.is_empty(), "{} needed SIGKILL: {r:?}", sp.node());
        assert!(!sp.any_process_left(), "{} left processes", sp.node());
    }
}

#[test]
fn as_per_server_frr_spine_bird_tor_gobgp_node() {
    let kinds = [SpeakerKind::Bird, SpeakerKind::Frr, SpeakerKind::Gobgp];
    if let Some(why) = skip_reason(&kinds) {
        eprintln!("ignored: {why}");
        return;
    }
    let yaml = "design: as-per-server\nspines: 1\nracks:\n  - { nodes: 1 }\n\
                pods-per-node: 1\nspeakers: { spine: frr, tor: bird, node: gobgp }\n";
    let Some((lab, mut speakers, _tmp)) = fabric(yaml, "fl-sp-aps") else {
        return;
    };
    // Capabilities as each daemon's CLI shows them, on both ends of both sessions.
    for node in ["s1", "r1t1", "r1n1"] {
        for s in speaker(&speakers, node)
            .neighbors()
            .unwrap_or_else(|e| panic!("{e}"))
        {
            assert_eq!(s.caps.four_octet_as, Some(true), "{node} {s:?}");
            assert_eq!(s.caps.route_refresh, Some(true), "{node} {s:?}");
            assert_eq!(s.caps.graceful_restart, Some(true), "{node} {s:?}");
            assert!(s
                .caps
                .address_families
                .contains(&fabric_bgp_wire::AfiSafi::IPV4_UNICAST));
        }
    }
    // The node's one block reaches the spine through the ToR; the node exports nothing else.
    wait_prefixes(&speakers, "s1", 1);
    wait_prefixes(&speakers, "r1t1", 1);
    // The BIRD ToR installs the node's block (BIRD programs the kernel; GoBGP does not).
    let block = lab
        .plan()
        .node(&NodeId::from("r1n1"))
        .and_then(|n| n.blocks.first().copied())
        .unwrap_or_else(|| panic!("r1n1 has no block"));
    let routes = kernel_routes(&lab, "r1t1");
    assert!(
        has_via_route(&routes, &block.to_string()),
        "r1t1 routes:\n{routes}"
    );
    stop_all(&mut speakers);
    drop(lab);
}

#[test]
fn downward_default_gobgp_spine_frr_tor_bird_node() {
    let kinds = [SpeakerKind::Bird, SpeakerKind::Frr, SpeakerKind::Gobgp];
    if let Some(why) = skip_reason(&kinds) {
        eprintln!("ignored: {why}");
        return;
    }
    let yaml = "design: downward-default\nspines: 1\nracks:\n  - { nodes: 2 }\n\
                pods-per-node: 1\nspeakers: { spine: gobgp, tor: frr, node: bird }\n";
    let Some((lab, mut speakers, _tmp)) = fabric(yaml, "fl-sp-dd") else {
        return;
    };
    // Each BIRD node gets only the ToR's default; the ToR gets both blocks (+ the spine's
    // default); the spine gets both blocks.
    wait_prefixes(&speakers, "r1n1", 1);
    wait_prefixes(&speakers, "r1n2", 1);
    wait_prefixes(&speakers, "r1t1", 3);
    wait_prefixes(&speakers, "s1", 2);
    let routes = kernel_routes(&lab, "r1n1");
    assert!(routes.contains("default via"), "r1n1 routes:\n{routes}");
    let block = lab
        .plan()
        .node(&NodeId::from("r1n1"))
        .and_then(|n| n.blocks.first().copied())
        .unwrap_or_else(|| panic!("r1n1 has no block"));
    assert!(
        routes.contains(&format!("blackhole {block}")),
        "r1n1 has no blackhole for {block}:\n{routes}"
    );
    graceful_restart_of_a_killed_bird_node(&lab, &mut speakers, &block.to_string());
    stop_all(&mut speakers);
    drop(lab);
}

/// kill -9 of the BIRD node: its FRR ToR, a graceful-restart helper (RFC 4724 §4.2), keeps the
/// node's block; BIRD's kernel routes persist; after a restart (BIRD -R) the session is back.
fn graceful_restart_of_a_killed_bird_node(
    lab: &Lab,
    speakers: &mut [SpeakerInstance],
    block: &str,
) {
    let idx = speakers
        .iter()
        .position(|s| s.node().as_str() == "r1n1")
        .unwrap_or_else(|| panic!("no r1n1"));
    let pids: Vec<u32> = speakers[idx].pids().into_iter().map(|(_, p)| p).collect();
    speakers[idx].kill().unwrap_or_else(|e| panic!("{e}"));
    assert!(pids.iter().all(|p| !pid_alive(*p)));
    assert!(!speakers[idx].is_running());
    // The ToR sees the session drop but retains the stale route for the restart time.
    let tor = speaker(speakers, "r1t1");
    let r = wait_until(
        Duration::from_secs(15),
        Duration::from_millis(300),
        || match tor.neighbors() {
            Ok(n) => {
                let down = n.iter().find(|s| !s.established);
                let total: u64 = n.iter().filter_map(|s| s.prefixes_received).sum();
                match down {
                    Some(d) => Probe::Done((d.state.clone(), total)),
                    None => Probe::pending("all sessions still established"),
                }
            }
            Err(e) => Probe::pending(e),
        },
    );
    let (state, _) = r.unwrap_or_else(|t| panic!("ToR never saw r1n1 go down: {t}"));
    let tor_routes = kernel_routes(lab, "r1t1");
    assert!(
        has_via_route(&tor_routes, block),
        "ToR dropped {block} while r1n1 restarts (session {state}):\n{tor_routes}"
    );
    let node_routes = kernel_routes(lab, "r1n1");
    assert!(
        node_routes.contains(&format!("blackhole {block}")),
        "persist: r1n1 lost its blackhole after kill -9:\n{node_routes}"
    );
    speakers[idx].start().unwrap_or_else(|e| panic!("{e}"));
    let node = &speakers[idx];
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(500),
        || match node.neighbors() {
            Ok(n) if !n.is_empty() && n.iter().all(|s| s.established) => Probe::Done(()),
            Ok(n) => Probe::pending(format!("{n:?}")),
            Err(e) => Probe::pending(e),
        },
    )
    .unwrap_or_else(|t| panic!("r1n1 did not come back: {t}"));
}

#[test]
fn bundled_node_with_bird_spine_and_frr_tor() {
    let kinds = [SpeakerKind::Bird, SpeakerKind::Frr, SpeakerKind::Bundled];
    if let Some(why) = skip_reason(&kinds) {
        eprintln!("ignored: {why}");
        return;
    }
    let yaml = "design: as-per-server\nspines: 1\nracks:\n  - { nodes: 1 }\n\
                pods-per-node: 1\nspeakers: { spine: bird, tor: frr, node: bundled }\n";
    let Some((_lab, mut speakers, _tmp)) = fabric(yaml, "fl-sp-bun") else {
        return;
    };
    for s in speaker(&speakers, "r1n1")
        .neighbors()
        .unwrap_or_else(|e| panic!("{e}"))
    {
        assert!(s.established, "{s:?}");
        assert_eq!(s.caps.four_octet_as, Some(true), "{s:?}");
    }
    // The node's block reaches the spine through the FRR ToR.
    wait_prefixes(&speakers, "s1", 1);
    stop_all(&mut speakers);
}
