//! What the renderers write, per design and role, checked against the plan (no daemons needed),
//! and that the daemons' checkers do reject broken configs (so the acceptance tests can fail).

use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;

use super::fixtures::{load, representatives, SAMPLES};
use super::*;
use crate::process::RunDir;
use crate::topology::{NodeId, Plan, SpeakerKind};

fn render(plan: &Plan, node: &str, kind: SpeakerKind) -> RenderedConfig {
    render_with(plan, node, kind, &SpeakerOptions::default())
}

fn render_with(
    plan: &Plan,
    node: &str,
    kind: SpeakerKind,
    options: &SpeakerOptions,
) -> RenderedConfig {
    let dir = RunDir::at("/tmp/fl-render-unused");
    let ctx = NodeContext::new(
        plan,
        &NodeId::from(node),
        Path::new("/proc/self/ns/net"),
        &dir,
        options,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    adapter_for(kind)
        .render(&ctx)
        .unwrap_or_else(|e| panic!("{node}: {e}"))
}

fn text(r: &RenderedConfig, file: &str) -> String {
    r.file(file)
        .unwrap_or_else(|| panic!("no {file}"))
        .to_string()
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

fn sessions(plan: &Plan, node: &str) -> Vec<crate::topology::SessionSide> {
    let id = NodeId::from(node);
    plan.sessions_of(&id).map(|(l, _, _)| l.clone()).collect()
}

const KINDS: [SpeakerKind; 4] = [
    SpeakerKind::Bird,
    SpeakerKind::Frr,
    SpeakerKind::Gobgp,
    SpeakerKind::Bundled,
];

#[test]
fn every_file_starts_with_lab_node_and_design() {
    for file in SAMPLES {
        let plan = load(file);
        for node in representatives(&plan) {
            for kind in KINDS {
                for f in render(&plan, node.as_str(), kind).files {
                    let first = f.contents.lines().next().unwrap_or("");
                    assert!(
                        first.contains(&format!("lab {}, node {node} (", plan.name))
                            && first.contains(&format!("design {}", plan.design)),
                        "{kind} {file} {node} {}: {first}",
                        f.name
                    );
                }
            }
        }
    }
}

#[test]
fn bird_node_blackholes_its_blocks_and_exports_only_them() {
    let plan = load("as-per-rack.yaml");
    let node = plan
        .nodes
        .iter()
        .find(|n| n.role == crate::topology::Role::Node)
        .unwrap_or_else(|| panic!("no node"));
    let conf = text(
        &render(&plan, node.id.as_str(), SpeakerKind::Bird),
        "bird.conf",
    );
    assert!(!node.blocks.is_empty());
    for b in &node.blocks {
        assert_eq!(count(&conf, &format!("route {b} blackhole;")), 1, "{conf}");
    }
    let n = sessions(&plan, node.id.as_str()).len();
    assert_eq!(count(&conf, "protocol bgp "), n);
    assert_eq!(count(&conf, "export filter fl_export_originated;"), n);
    assert_eq!(count(&conf, "rr client;"), 0);
    // The blackholes go to the kernel, like calico-node's.
    assert!(conf.contains("if proto = \"fl_originated\" then accept;"));
}

#[test]
fn rr_clients_next_hop_self_passive_and_allowas_follow_the_plan() {
    for file in SAMPLES {
        let plan = load(file);
        for node in representatives(&plan) {
            let s = sessions(&plan, node.as_str());
            let rr = s.iter().filter(|x| x.rr_client).count();
            let nhs = s.iter().filter(|x| x.next_hop_self).count();
            let passive = s.iter().filter(|x| x.passive).count();
            let allowas = s.iter().filter(|x| x.allowas_in > 0).count();
            let dflt = s.iter().filter(|x| x.default_originate).count();
            let bird = text(
                &render(&plan, node.as_str(), SpeakerKind::Bird),
                "bird.conf",
            );
            assert_eq!(count(&bird, "rr client;"), rr, "{file} {node}");
            assert_eq!(count(&bird, "next hop self on;"), nhs, "{file} {node}");
            assert_eq!(count(&bird, "passive on;"), passive, "{file} {node}");
            assert_eq!(count(&bird, "allow local as"), allowas, "{file} {node}");
            let frr = text(&render(&plan, node.as_str(), SpeakerKind::Frr), "bgpd.conf");
            assert_eq!(count(&frr, " route-reflector-client"), rr, "{file} {node}");
            assert_eq!(count(&frr, " next-hop-self force"), nhs, "{file} {node}");
            assert_eq!(count(&frr, " passive\n"), passive, "{file} {node}");
            assert_eq!(count(&frr, " allowas-in "), allowas, "{file} {node}");
            assert_eq!(count(&frr, " default-originate\n"), dflt, "{file} {node}");
            // ebgp-requires-policy: every neighbor has a route-map in and out.
            assert_eq!(
                count(&frr, "\" in\n") + count(&frr, " in\n"),
                s.len(),
                "{file} {node}"
            );
            assert_eq!(count(&frr, " out\n"), s.len(), "{file} {node}");
            let gobgp = text(
                &render(&plan, node.as_str(), SpeakerKind::Gobgp),
                "gobgp.toml",
            );
            assert_eq!(count(&gobgp, "[[neighbors]]"), s.len(), "{file} {node}");
            assert_eq!(
                count(&gobgp, "route-reflector-client = true"),
                rr,
                "{file} {node}"
            );
            assert_eq!(
                count(&gobgp, "passive-mode = true"),
                passive,
                "{file} {node}"
            );
            assert_eq!(count(&gobgp, "allow-own-as"), allowas, "{file} {node}");
        }
    }
}

#[test]
fn upper_tier_dials_when_asked_for_every_kind() {
    let options = SpeakerOptions {
        dial: Dial::UpperTier,
        ..SpeakerOptions::default()
    };
    for file in SAMPLES {
        let plan = load(file);
        for node in representatives(&plan) {
            let s = sessions(&plan, node.as_str());
            // Exactly the sessions the plan makes active become passive, and the other way.
            let passive = s.iter().filter(|x| !x.passive).count();
            let r = |k| render_with(&plan, node.as_str(), k, &options);
            let bird = text(&r(SpeakerKind::Bird), "bird.conf");
            assert_eq!(count(&bird, "passive on;"), passive, "{file} {node}");
            let frr = text(&r(SpeakerKind::Frr), "bgpd.conf");
            assert_eq!(count(&frr, " passive\n"), passive, "{file} {node}");
            let gobgp = text(&r(SpeakerKind::Gobgp), "gobgp.toml");
            assert_eq!(
                count(&gobgp, "passive-mode = true"),
                passive,
                "{file} {node}"
            );
            let c = super::bundled::config(
                &NodeContext::new(
                    &plan,
                    &node,
                    Path::new("/proc/self/ns/net"),
                    &RunDir::at("/tmp/fl-render-unused"),
                    &options,
                )
                .unwrap_or_else(|e| panic!("{e}")),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                c.neighbors.iter().filter(|n| n.passive).count(),
                passive,
                "{file} {node}"
            );
        }
    }
}

#[test]
fn bundled_renders_the_notification_bit_and_long_lived_stale_time() {
    let plan = load("as-per-rack.yaml");
    let node = representatives(&plan)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no node"));
    let options = SpeakerOptions {
        graceful_restart: GracefulRestart {
            notification: true,
            long_lived_stale_time: 3600,
            ..GracefulRestart::default()
        },
        ..SpeakerOptions::default()
    };
    let dir = RunDir::at("/tmp/fl-render-unused");
    let ctx = NodeContext::new(&plan, &node, Path::new("/proc/self/ns/net"), &dir, &options)
        .unwrap_or_else(|e| panic!("{e}"));
    let gr = super::bundled::config(&ctx)
        .unwrap_or_else(|e| panic!("{e}"))
        .graceful_restart;
    assert!(gr.enabled && gr.notification, "{gr:?}");
    assert_eq!(gr.long_lived_stale_time, 3600);
    let d = super::bundled::config(
        &NodeContext::new(
            &plan,
            &node,
            Path::new("/proc/self/ns/net"),
            &RunDir::at("/tmp/fl-render-unused"),
            &SpeakerOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .graceful_restart;
    assert!(!d.notification && d.long_lived_stale_time == 0, "{d:?}");
}

#[test]
fn downward_default_tor_sends_only_a_default_down() {
    let plan = load("downward-default.yaml");
    let down: Vec<_> = sessions(&plan, "r1t1")
        .into_iter()
        .filter(|s| s.default_originate)
        .collect();
    assert!(
        !down.is_empty(),
        "the plan gives r1t1 default-originate sessions"
    );
    let bird = text(&render(&plan, "r1t1", SpeakerKind::Bird), "bird.conf");
    assert!(bird.contains("protocol static fl_default {"));
    assert!(bird.contains("ipv4 { preference 10; };"));
    assert_eq!(
        count(&bird, "export filter fl_export_default_only_and_default;"),
        down.len()
    );
    // Never installed locally: only advertised.
    let kernel_filter = bird
        .split("filter fl_to_kernel {")
        .nth(1)
        .and_then(|s| s.split('}').next())
        .unwrap_or("");
    assert!(kernel_filter.contains("if proto = \"fl_default\" then reject;"));
    let frr = text(&render(&plan, "r1t1", SpeakerKind::Frr), "bgpd.conf");
    for s in &down {
        assert!(frr.contains(&format!(" neighbor {} default-originate\n", s.peer_addr)));
        assert!(frr.contains(&format!(
            " neighbor {} route-map FL-DEFAULT-ONLY out\n",
            s.peer_addr
        )));
    }
    // The node below imports what the plan says (all, or only the default).
    let node = text(&render(&plan, "r1n1", SpeakerKind::Bird), "bird.conf");
    let only_default = sessions(&plan, "r1n1")
        .iter()
        .filter(|s| s.import == crate::topology::ImportPolicy::DefaultOnly)
        .count();
    assert_eq!(count(&node, "import where net = 0.0.0.0/0;"), only_default);
    assert_eq!(
        count(&node, "import all;"),
        sessions(&plan, "r1n1").len() - only_default + 1, // + the kernel protocol
    );
}

#[test]
fn frr_node_originates_with_staticd_blackholes_and_network() {
    let plan = load("as-per-server.yaml");
    let r = render(&plan, "r1n1", SpeakerKind::Frr);
    let staticd = text(&r, "staticd.conf");
    let bgpd = text(&r, "bgpd.conf");
    let node = plan
        .node(&NodeId::from("r1n1"))
        .unwrap_or_else(|| panic!("no r1n1"));
    for b in &node.blocks {
        assert!(staticd.contains(&format!("ip route {b} blackhole\n")));
        assert!(bgpd.contains(&format!("  network {b}\n")));
    }
    let first = node
        .blocks
        .first()
        .map(|b| b.to_string())
        .unwrap_or_default();
    assert!(bgpd.contains(&format!(
        "ip prefix-list FL-ORIGINATED seq 5 permit {first}\n"
    )));
    // Routers originate nothing: no staticd at all.
    assert!(render(&plan, "s1", SpeakerKind::Frr)
        .file("staticd.conf")
        .is_none());
}

#[test]
fn ecmp_settings_follow_max_paths_and_relax() {
    let mut plan = load("as-per-server.yaml");
    let id = NodeId::from("r1t1");
    for (max, relax) in [(1u8, false), (4, true), (4, false)] {
        if let Some(n) = plan.nodes.iter_mut().find(|n| n.id == id) {
            n.routing.max_paths = max;
            n.routing.multipath_relax = relax;
        }
        let bird = text(&render(&plan, "r1t1", SpeakerKind::Bird), "bird.conf");
        let frr = text(&render(&plan, "r1t1", SpeakerKind::Frr), "bgpd.conf");
        let gobgp = text(&render(&plan, "r1t1", SpeakerKind::Gobgp), "gobgp.toml");
        if max == 1 {
            assert!(bird.contains("merge paths off;"));
        } else {
            assert!(bird.contains(&format!("merge paths on limit {max};")));
        }
        assert!(frr.contains(&format!("maximum-paths {max}\n")));
        assert!(frr.contains(&format!("maximum-paths ibgp {max}\n")));
        assert_eq!(frr.contains("bgp bestpath as-path multipath-relax"), relax);
        assert!(gobgp.contains(&format!("enabled = {}", max > 1)));
        assert!(gobgp.contains(&format!("allow-multiple-as = {relax}")));
    }
}

#[test]
fn graceful_restart_settings_are_rendered_and_can_be_turned_off() {
    let plan = load("as-per-rack.yaml");
    let dir = RunDir::at("/tmp/fl-render-unused");
    let id = NodeId::from("r1t1");
    let mut options = SpeakerOptions::default();
    options.graceful_restart.restart_time = 77;
    let ctx = NodeContext::new(&plan, &id, Path::new("/x"), &dir, &options)
        .unwrap_or_else(|e| panic!("{e}"));
    let bird = Bird.render(&ctx).unwrap_or_else(|e| panic!("{e}"));
    assert!(text(&bird, "bird.conf").contains("graceful restart on; graceful restart time 77;"));
    let argv = Bird.programs(&ctx).unwrap_or_else(|e| panic!("{e}"));
    assert!(argv.iter().any(|p| p.args.iter().any(|a| a == "-R")));
    let frr = Frr.render(&ctx).unwrap_or_else(|e| panic!("{e}"));
    assert!(text(&frr, "bgpd.conf").contains("bgp graceful-restart restart-time 77\n"));
    options.graceful_restart.enabled = false;
    let ctx = NodeContext::new(&plan, &id, Path::new("/x"), &dir, &options)
        .unwrap_or_else(|e| panic!("{e}"));
    let bird = Bird.render(&ctx).unwrap_or_else(|e| panic!("{e}"));
    assert!(text(&bird, "bird.conf").contains("graceful restart off;"));
    let argv = Bird.programs(&ctx).unwrap_or_else(|e| panic!("{e}"));
    assert!(!argv.iter().any(|p| p.args.iter().any(|a| a == "-R")));
    let frr = Frr.render(&ctx).unwrap_or_else(|e| panic!("{e}"));
    assert!(text(&frr, "bgpd.conf").contains("bgp graceful-restart-disable"));
}

#[test]
fn ipv6_sessions_are_refused_with_a_reason() {
    let mut plan = load("as-per-server.yaml");
    if let Some(s) = plan.sessions.first_mut() {
        s.a.local_addr = IpAddr::V6(Ipv6Addr::LOCALHOST);
    }
    let node = plan.sessions.first().map(|s| s.a.node.clone());
    let node = node.unwrap_or_else(|| panic!("no sessions"));
    let dir = RunDir::at("/tmp/fl-render-unused");
    let options = SpeakerOptions::default();
    let ctx = NodeContext::new(&plan, &node, Path::new("/x"), &dir, &options)
        .unwrap_or_else(|e| panic!("{e}"));
    for kind in KINDS {
        match adapter_for(kind).render(&ctx) {
            Err(SpeakerError::Render { reason, .. }) => {
                assert!(reason.contains("IPv4"), "{reason}")
            }
            other => panic!("{kind}: expected a render error, got {other:?}"),
        }
    }
}

#[test]
fn unknown_node_is_an_error() {
    let plan = load("as-per-server.yaml");
    let dir = RunDir::at("/tmp/fl-render-unused");
    let options = SpeakerOptions::default();
    let r = NodeContext::new(
        &plan,
        &NodeId::from("nope"),
        Path::new("/x"),
        &dir,
        &options,
    );
    assert!(matches!(r, Err(SpeakerError::UnknownNode(_))));
}

#[test]
fn checkers_reject_broken_configs() {
    let plan = load("as-per-rack.yaml");
    let id = NodeId::from("r1t1");
    let options = SpeakerOptions::default();
    for (kind, file, breakage) in [
        (
            SpeakerKind::Bird,
            "bird.conf",
            "protocol bgp broken { neighbor; }\n",
        ),
        (
            SpeakerKind::Frr,
            "bgpd.conf",
            "router bgp 1\n bogus-command 7\n",
        ),
        (
            SpeakerKind::Gobgp,
            "gobgp.toml",
            "[global.config]\n  bogus-key = 1\n",
        ),
        (SpeakerKind::Bundled, "speaker.yaml", "bogus-key: 1\n"),
    ] {
        if let Err(missing) = check_installed(kind) {
            eprintln!("{kind}: ignored: {missing}");
            continue;
        }
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let dir = RunDir::at(tmp.path());
        let ctx = NodeContext::new(&plan, &id, Path::new("/x"), &dir, &options)
            .unwrap_or_else(|e| panic!("{e}"));
        let adapter = adapter_for(kind);
        let mut rendered = adapter.render(&ctx).unwrap_or_else(|e| panic!("{e}"));
        for f in rendered.files.iter_mut().filter(|f| f.name == file) {
            f.contents.push_str(breakage);
        }
        rendered.write(&dir).unwrap_or_else(|e| panic!("{e}"));
        match adapter.check_config(&ctx) {
            Err(SpeakerError::ConfigRejected { .. }) => {}
            other => panic!("{kind}: broken {file} accepted: {other:?}"),
        }
    }
}
