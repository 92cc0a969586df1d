//! FRR 8.4 configs: `zebra.conf`, `staticd.conf` (blackholes for the node's blocks) and
//! `bgpd.conf`.
//!
//! FRR has applied `bgp ebgp-requires-policy` (RFC 8212) since 7.4: an eBGP session without
//! policies exchanges nothing. Rather than switching that off, every session gets explicit
//! route-maps in and out, built from three prefix-list based maps: permit-all, originated-only
//! (the node's blocks) and default-only. Origination is Calico's: `ip route <block> blackhole`
//! in staticd (a separate daemon in FRR 8; zebra no longer takes static routes) plus
//! `network <block>` in bgpd, which import-check advertises once the blackhole is in the RIB.

use super::super::api::{ConfigFile, NodeContext, RenderedConfig, SpeakerError};
use super::super::intent::{header, NodeIntent, Peer};
use super::super::writer::ConfigWriter;
use crate::topology::{ExportPolicy, ImportPolicy, SpeakerKind};

pub(crate) const ZEBRA_CONF: &str = "zebra.conf";
pub(crate) const STATICD_CONF: &str = "staticd.conf";
pub(crate) const BGPD_CONF: &str = "bgpd.conf";

const PL_DEFAULT: &str = "FL-DEFAULT";
const PL_ORIGINATED: &str = "FL-ORIGINATED";
const RM_ALL: &str = "FL-ALL";
const RM_DEFAULT_ONLY: &str = "FL-DEFAULT-ONLY";
const RM_ORIGINATED: &str = "FL-ORIGINATED-ONLY";

/// Renders the FRR files for `ctx.node`; `staticd.conf` only when it originates prefixes.
pub(crate) fn render(ctx: &NodeContext<'_>) -> Result<RenderedConfig, SpeakerError> {
    let intent = NodeIntent::of(ctx, SpeakerKind::Frr)?;
    let mut files = vec![ConfigFile {
        name: ZEBRA_CONF.to_string(),
        contents: zebra(ctx),
    }];
    if !intent.originated.is_empty() {
        files.push(ConfigFile {
            name: STATICD_CONF.to_string(),
            contents: staticd(ctx, &intent),
        });
    }
    files.push(ConfigFile {
        name: BGPD_CONF.to_string(),
        contents: bgpd(ctx, &intent),
    });
    Ok(RenderedConfig { files })
}

fn preamble(ctx: &NodeContext<'_>, file: &str) -> ConfigWriter {
    let mut w = ConfigWriter::new(" ", "!");
    header(&mut w, ctx, SpeakerKind::Frr, file);
    w.line("frr defaults datacenter");
    w.line(format_args!("hostname {}", ctx.node.id));
    w.line("log stdout informational");
    w.line("!");
    w
}

fn zebra(ctx: &NodeContext<'_>) -> String {
    preamble(ctx, ZEBRA_CONF).finish()
}

fn staticd(ctx: &NodeContext<'_>, intent: &NodeIntent<'_>) -> String {
    let mut w = preamble(ctx, STATICD_CONF);
    w.comment("Calico: a local blackhole per affine block (calico-designs.md §1.3).");
    for p in &intent.originated {
        w.line(format_args!("ip route {p} blackhole"));
    }
    w.line("!");
    w.finish()
}

fn bgpd(ctx: &NodeContext<'_>, intent: &NodeIntent<'_>) -> String {
    let mut w = preamble(ctx, BGPD_CONF);
    policies(&mut w, intent);
    let node = intent.node;
    let routing = node.routing;
    let t = ctx.options.timers;
    let gr = ctx.options.graceful_restart;
    w.open(format_args!("router bgp {}", node.asn));
    w.line(format_args!("bgp router-id {}", node.router_id));
    w.line("no bgp default ipv4-unicast");
    if let Some(id) = routing.cluster_id {
        w.line(format_args!("bgp cluster-id {id}"));
    }
    if routing.multipath_relax {
        w.comment("ECMP across paths from different neighbour ASes of equal AS_PATH length.");
        w.line("bgp bestpath as-path multipath-relax");
    }
    if gr.enabled {
        w.comment("RFC 4724: restarting speaker and helper, F bit set (zebra keeps routes, -K).");
        w.line("bgp graceful-restart");
        w.line(format_args!(
            "bgp graceful-restart restart-time {}",
            gr.restart_time.min(4095)
        ));
        w.line("bgp graceful-restart preserve-fw-state");
    } else {
        w.line("bgp graceful-restart-disable");
    }
    w.line(format_args!("timers bgp {} {}", t.keepalive, t.hold));
    for p in &intent.peers {
        neighbor(&mut w, ctx, p);
    }
    w.open("address-family ipv4 unicast");
    for p in &intent.originated {
        w.line(format_args!("network {p}"));
    }
    let paths = routing.max_paths.max(1);
    w.line(format_args!("maximum-paths {paths}"));
    w.line(format_args!("maximum-paths ibgp {paths}"));
    for p in &intent.peers {
        neighbor_af(&mut w, p);
    }
    w.close("exit-address-family");
    w.close("exit");
    w.line("!");
    w.finish()
}

fn policies(w: &mut ConfigWriter, intent: &NodeIntent<'_>) {
    w.line(format_args!(
        "ip prefix-list {PL_DEFAULT} seq 5 permit 0.0.0.0/0"
    ));
    for (i, p) in intent.originated.iter().enumerate() {
        w.line(format_args!(
            "ip prefix-list {PL_ORIGINATED} seq {} permit {p}",
            (i + 1) * 5
        ));
    }
    w.line("!");
    w.line(format_args!("route-map {RM_ALL} permit 10"));
    w.line("!");
    w.open(format_args!("route-map {RM_DEFAULT_ONLY} permit 10"));
    w.line(format_args!("match ip address prefix-list {PL_DEFAULT}"));
    w.close("!");
    if intent.originated.is_empty() {
        w.comment("Nothing originated: the originated-only map denies everything.");
        w.line(format_args!("route-map {RM_ORIGINATED} deny 10"));
    } else {
        w.open(format_args!("route-map {RM_ORIGINATED} permit 10"));
        w.line(format_args!("match ip address prefix-list {PL_ORIGINATED}"));
        w.close("");
    }
    w.line("!");
}

fn neighbor(w: &mut ConfigWriter, ctx: &NodeContext<'_>, p: &Peer<'_>) {
    let (l, r) = (p.local, p.remote);
    let a = l.peer_addr;
    w.line(format_args!("neighbor {a} remote-as {}", l.peer_as));
    if l.local_as != ctx.node.asn {
        w.line(format_args!(
            "neighbor {a} local-as {} no-prepend replace-as",
            l.local_as
        ));
    }
    w.line(format_args!(
        "neighbor {a} description {} via {} ({})",
        r.node,
        l.ifname,
        if p.ibgp { "iBGP" } else { "eBGP" }
    ));
    w.line(format_args!("neighbor {a} update-source {}", l.local_addr));
    if p.multihop && !p.ibgp {
        w.line(format_args!("neighbor {a} ebgp-multihop 255"));
    }
    w.line(format_args!(
        "neighbor {a} timers connect {}",
        ctx.options.timers.connect_retry.max(1)
    ));
    if ctx.options.dial.passive(l.passive) {
        w.line(format_args!("neighbor {a} passive"));
    }
}

fn neighbor_af(w: &mut ConfigWriter, p: &Peer<'_>) {
    let l = p.local;
    let a = l.peer_addr;
    w.line(format_args!("neighbor {a} activate"));
    if l.rr_client {
        w.line(format_args!("neighbor {a} route-reflector-client"));
    }
    if l.next_hop_self {
        // `force` also rewrites reflected iBGP routes (RFC 4456 §10 leaves them unchanged).
        w.line(format_args!("neighbor {a} next-hop-self force"));
    }
    if l.allowas_in > 0 {
        w.line(format_args!(
            "neighbor {a} allowas-in {}",
            l.allowas_in.min(10)
        ));
    }
    if l.default_originate {
        w.line(format_args!("neighbor {a} default-originate"));
    }
    let import = match l.import {
        ImportPolicy::All => RM_ALL,
        ImportPolicy::DefaultOnly => RM_DEFAULT_ONLY,
    };
    let export = match l.export {
        ExportPolicy::All => RM_ALL,
        ExportPolicy::Originated => RM_ORIGINATED,
        ExportPolicy::DefaultOnly => RM_DEFAULT_ONLY,
    };
    w.line(format_args!("neighbor {a} route-map {import} in"));
    w.line(format_args!("neighbor {a} route-map {export} out"));
}
