//! The bundled `fabric-speaker`: its typed [`Config`] built from the plan and serialised to
//! YAML, run as `fabric-speaker --config FILE`.
//!
//! Policies map to the speaker's canned policy names (`speaker/src/policy.rs`): import/export
//! `All` is `accept-all`, `Originated` is `originated-only`, `DefaultOnly` is `default-only`.
//! The node's `RoutingPolicy` becomes `max-paths`, `multipath-relax` and `cluster-id`; the
//! node's blocks and other originated prefixes become `prefixes`, each blackholed locally (the
//! speaker's default, as calico-node's BIRD does). Next-hop-self is rendered as `all` (reflected
//! routes too), which is what the plan's `next_hop_self` means.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use fabric_bgp_wire::AfiSafi;
use fabric_speaker::config::{
    Config, GracefulRestart as SpeakerGr, Neighbor, NextHopSelf, PolicyRef, RemoteAs,
};
use fabric_speaker::control::{NeighborStatus, Request, Response};
use fabric_speaker::fsm::State;
use ipnet::IpNet;

use super::api::{
    ConfigFile, NegotiatedCaps, NeighborState, NodeContext, RenderedConfig, Requirement, Speaker,
    SpeakerError,
};
use super::intent::{check_socket_path, header, render_error, NodeIntent};
use super::writer::ConfigWriter;
use crate::process::ProgramSpec;
use crate::topology::{ExportPolicy, ImportPolicy, SpeakerKind};
use crate::wait::Probe;

const CONF: &str = "speaker.yaml";
const SOCKET: &str = "speaker.sock";
/// Set to the `fabric-speaker` binary to use; otherwise `PATH`, then the cargo target directory
/// next to the running executable.
pub const SPEAKER_BIN_ENV: &str = "FABRICLAB_SPEAKER_BIN";

/// The bundled speaker adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bundled;

fn socket(ctx: &NodeContext<'_>) -> PathBuf {
    ctx.dir.file(SOCKET)
}

/// Where the `fabric-speaker` binary is.
pub fn speaker_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(SPEAKER_BIN_ENV) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = super::find_executable("fabric-speaker") {
        return Some(p);
    }
    // Test binaries live in target/<profile>/deps, the speaker in target/<profile>.
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(3)
        .map(|d| d.join("fabric-speaker"))
        .find(|p| p.is_file())
}

/// The speaker's config for `ctx.node`.
pub(crate) fn config(ctx: &NodeContext<'_>) -> Result<Config, SpeakerError> {
    let intent = NodeIntent::of(ctx, SpeakerKind::Bundled)?;
    let node = intent.node;
    let t = ctx.options.timers;
    let gr = ctx.options.graceful_restart;
    let mut c = Config::new(node.router_id, node.asn);
    c.hostname = Some(node.id.to_string());
    c.graceful_restart = SpeakerGr {
        enabled: gr.enabled,
        restart_time: gr.restart_time.min(4095),
        // A start that finds the speaker's own kernel routes (left by a killed instance) is a
        // graceful restart: R=1, routes kept, selection deferred (RFC 4724 §4.1).
        restarting: fabric_speaker::config::RestartMode::Auto,
        notification: gr.notification,
        long_lived_stale_time: gr.long_lived_stale_time,
        ..SpeakerGr::default()
    };
    c.control_socket = Some(socket(ctx));
    c.prefixes = intent.originated.iter().map(|p| IpNet::V4(*p)).collect();
    c.blackhole_prefixes = true;
    let routing = node.routing;
    c.max_paths = routing.max_paths.max(1);
    c.multipath_relax = routing.multipath_relax;
    c.cluster_id = routing.cluster_id;
    for p in &intent.peers {
        let l = p.local;
        let mut n = Neighbor::new(l.peer_addr, RemoteAs::Asn(l.peer_as));
        n.description = Some(format!("{} via {}", p.remote.node, l.ifname));
        n.hold_time = t.hold;
        n.keepalive = Some(t.keepalive);
        n.connect_retry = t.connect_retry.max(1);
        n.passive = ctx.options.dial.passive(l.passive);
        n.local_address = Some(l.local_addr);
        n.next_hop_self = if l.next_hop_self {
            NextHopSelf::All
        } else {
            NextHopSelf::Off
        };
        n.route_reflector_client = l.rr_client;
        n.default_originate = l.default_originate;
        n.allowas_in = l.allowas_in;
        n.import_policy = Some(match l.import {
            ImportPolicy::All => PolicyRef::AcceptAll,
            ImportPolicy::DefaultOnly => PolicyRef::Named("default-only".to_string()),
        });
        n.export_policy = Some(match l.export {
            ExportPolicy::All => PolicyRef::AcceptAll,
            ExportPolicy::Originated => PolicyRef::Named("originated-only".to_string()),
            ExportPolicy::DefaultOnly => PolicyRef::Named("default-only".to_string()),
        });
        if l.local_as != node.asn {
            return Err(render_error(
                SpeakerKind::Bundled,
                node,
                format!("per-session local AS {} is not supported", l.local_as),
            ));
        }
        c.neighbors.push(n);
    }
    Ok(c)
}

impl Speaker for Bundled {
    fn kind(&self) -> SpeakerKind {
        SpeakerKind::Bundled
    }

    fn daemon_name(&self) -> &'static str {
        "bundled"
    }

    fn requirements(&self) -> &'static [Requirement] {
        // Not a Debian package: built from this workspace (`cargo build -p fabric-speaker`),
        // found through `FABRICLAB_SPEAKER_BIN`, `PATH` or the target directory.
        &[]
    }

    fn render(&self, ctx: &NodeContext<'_>) -> Result<RenderedConfig, SpeakerError> {
        check_socket_path(SpeakerKind::Bundled, ctx.node, &socket(ctx))?;
        let yaml = config(ctx)?
            .to_yaml()
            .map_err(|e| render_error(SpeakerKind::Bundled, ctx.node, e.to_string()))?;
        let mut w = ConfigWriter::new("  ", "#");
        header(&mut w, ctx, SpeakerKind::Bundled, CONF);
        let mut contents = w.finish();
        contents.push_str(&yaml);
        Ok(RenderedConfig {
            files: vec![ConfigFile {
                name: CONF.to_string(),
                contents,
            }],
        })
    }

    fn programs(&self, ctx: &NodeContext<'_>) -> Result<Vec<ProgramSpec>, SpeakerError> {
        let bin = speaker_binary().ok_or_else(|| super::MissingDaemon {
            kind: SpeakerKind::Bundled,
            binary: "fabric-speaker".to_string(),
            package: format!("none: cargo build -p fabric-speaker, or set {SPEAKER_BIN_ENV}"),
        })?;
        Ok(vec![ProgramSpec::new("fabric-speaker", bin)
            .arg("--config")
            .arg(ctx.dir.file(CONF))])
    }

    fn ready(&self, ctx: &NodeContext<'_>) -> Probe<()> {
        // The control socket exists once the daemon listens for BGP; a `status` answer is ready.
        match ask(ctx, &Request::Status) {
            Ok(r) if r.ok && r.status.is_some() => Probe::Done(()),
            Ok(r) => Probe::pending(format!("status answer: {r:?}")),
            Err(e) => Probe::pending(e),
        }
    }

    fn neighbors(&self, ctx: &NodeContext<'_>) -> Result<Vec<NeighborState>, SpeakerError> {
        let r = ask(ctx, &Request::Neighbors { peer: None })?;
        match (r.ok, r.neighbors) {
            (true, Some(n)) => Ok(n.iter().map(neighbor_state).collect()),
            (_, _) => Err(SpeakerError::Parse {
                what: "fabric-speaker neighbors".to_string(),
                reason: r
                    .error
                    .unwrap_or_else(|| "no neighbors in the answer".to_string()),
            }),
        }
    }

    fn check_config(&self, ctx: &NodeContext<'_>) -> Result<bool, SpeakerError> {
        // The speaker's own loader is its checker: parse + validate the written file.
        let file = ctx.dir.file(CONF);
        Config::load(&file).map_err(|e| SpeakerError::ConfigRejected {
            checker: "fabric_speaker::config::Config::load".to_string(),
            file,
            message: e.to_string(),
        })?;
        Ok(true)
    }
}

/// One request/answer exchange on the speaker's control socket (JSON lines,
/// `speaker/src/control.rs`).
fn ask(ctx: &NodeContext<'_>, req: &Request) -> Result<Response, SpeakerError> {
    let path = socket(ctx);
    let what = format!("control socket {}", path.display());
    let io = |source: std::io::Error| SpeakerError::Exec {
        argv: what.clone(),
        source,
    };
    let mut line = serde_json::to_string(req).map_err(|e| SpeakerError::Parse {
        what: what.clone(),
        reason: e.to_string(),
    })?;
    line.push('\n');
    let mut s = UnixStream::connect(&path).map_err(io)?;
    s.set_read_timeout(Some(ctx.options.query_timeout))
        .map_err(io)?;
    s.write_all(line.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).map_err(io)?;
    serde_json::from_str(&answer).map_err(|e| SpeakerError::Parse {
        what,
        reason: format!("{e}: {answer:?}"),
    })
}

/// The speaker's neighbor status in the adapter's terms.
fn neighbor_state(n: &NeighborStatus) -> NeighborState {
    let established = n.state == State::Established;
    let caps = match (&n.capabilities, established) {
        (Some(c), true) => NegotiatedCaps {
            four_octet_as: Some(c.four_octet_as),
            route_refresh: Some(c.route_refresh),
            graceful_restart: Some(c.graceful_restart_local && c.graceful_restart_peer.is_some()),
            address_families: c
                .families
                .iter()
                .filter_map(|f| match f.as_str() {
                    "ipv4-unicast" => Some(AfiSafi::IPV4_UNICAST),
                    "ipv6-unicast" => Some(AfiSafi::IPV6_UNICAST),
                    _ => None,
                })
                .collect(),
        },
        _ => NegotiatedCaps::default(),
    };
    NeighborState {
        name: n.address.to_string(),
        peer_addr: Some(n.address),
        peer_as: n.peer_as,
        state: n.state.name().to_string(),
        established,
        prefixes_received: u64::try_from(n.prefixes.received).ok(),
        caps,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::path::Path;

    use fabric_speaker::config::NextHopSelf;

    use super::super::api::SpeakerOptions;
    use super::super::fixtures::load;
    use super::*;
    use crate::process::RunDir;
    use crate::topology::NodeId;

    fn rendered(plan: &crate::topology::Plan, node: &str) -> Config {
        let dir = RunDir::at("/tmp/fl-render-unused");
        let options = SpeakerOptions::default();
        let id = NodeId::from(node);
        let ctx = NodeContext::new(plan, &id, Path::new("/proc/self/ns/net"), &dir, &options)
            .unwrap_or_else(|e| panic!("{e}"));
        config(&ctx).unwrap_or_else(|e| panic!("{node}: {e}"))
    }

    #[test]
    fn routing_policy_is_rendered() {
        let mut plan = load("as-per-rack.yaml");
        for (max, relax, cluster) in [
            (1u8, false, None),
            (4, true, Some(Ipv4Addr::new(10, 9, 9, 9))),
        ] {
            if let Some(n) = plan.nodes.iter_mut().find(|n| n.id.as_str() == "r1t1") {
                n.routing.max_paths = max;
                n.routing.multipath_relax = relax;
                n.routing.cluster_id = cluster;
            }
            let c = rendered(&plan, "r1t1");
            assert_eq!(
                (c.max_paths, c.multipath_relax, c.cluster_id),
                (max, relax, cluster)
            );
            // The rendered file is what the speaker reads back.
            let yaml = c.to_yaml().unwrap_or_else(|e| panic!("{e}"));
            let back =
                Config::parse(&yaml, Path::new("speaker.yaml")).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, c);
        }
    }

    #[test]
    fn blocks_are_blackholed_and_next_hop_self_covers_reflected_routes() {
        let plan = load("as-per-rack.yaml");
        let node = rendered(&plan, "r1n1");
        assert!(node.blackhole_prefixes && !node.prefixes.is_empty());
        let tor = rendered(&plan, "r1t1");
        let to_nodes: Vec<&Neighbor> = tor
            .neighbors
            .iter()
            .filter(|n| n.route_reflector_client)
            .collect();
        assert!(!to_nodes.is_empty());
        assert!(to_nodes.iter().all(|n| n.next_hop_self == NextHopSelf::All));
    }
}
