//! `bird.conf` for BIRD 2, shaped like calico-node's: kernel protocol with `persist`, graceful
//! restart and `merge paths`, blackhole statics for the node's blocks, one `protocol bgp` per
//! session with explicit import/export filters.
//!
//! ECMP model (BIRD 2 `bgp_rte_mergable`, nest `rt_export_merged`): the kernel protocol's
//! `merge paths on limit N` installs the best route plus every route for the same prefix that
//! BIRD deems mergeable with it: same local preference, same AS_PATH *length*, same ORIGIN,
//! same MED only when both come from the same neighbour AS, both internal or both external, same
//! IGP metric. The neighbour AS itself is never compared, so BIRD always behaves like FRR's
//! `bgp bestpath as-path multipath-relax`; `multipath_relax = false` cannot be expressed and is
//! noted in the file. `max_paths = 1` turns merging off.

use std::collections::BTreeSet;

use super::super::api::{ConfigFile, NodeContext, RenderedConfig, SpeakerError};
use super::super::intent::{header, NodeIntent, Peer};
use super::super::writer::ConfigWriter;
use crate::topology::{ExportPolicy, ImportPolicy, SpeakerKind};

/// The config file name in the run directory.
pub(crate) const CONF: &str = "bird.conf";
/// The static protocol holding the node's blackholed blocks.
const ORIGINATED_PROTO: &str = "fl_originated";
/// The static protocol holding the default route given to default-originate peers.
const DEFAULT_PROTO: &str = "fl_default";

/// One export filter variant: the plan's policy, plus the default route when originating it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ExportFilter {
    policy: ExportKey,
    with_default: bool,
}

/// `ExportPolicy` with an order, for a sorted set of filters to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ExportKey {
    All,
    Originated,
    DefaultOnly,
}

impl From<ExportPolicy> for ExportKey {
    fn from(p: ExportPolicy) -> Self {
        match p {
            ExportPolicy::All => ExportKey::All,
            ExportPolicy::Originated => ExportKey::Originated,
            ExportPolicy::DefaultOnly => ExportKey::DefaultOnly,
        }
    }
}

impl ExportFilter {
    fn of(peer: &Peer<'_>) -> Self {
        ExportFilter {
            policy: peer.local.export.into(),
            with_default: peer.local.default_originate,
        }
    }

    fn name(self) -> String {
        let base = match self.policy {
            ExportKey::All => "fl_export_all",
            ExportKey::Originated => "fl_export_originated",
            ExportKey::DefaultOnly => "fl_export_default_only",
        };
        if self.with_default {
            format!("{base}_and_default")
        } else {
            base.to_string()
        }
    }
}

/// Renders `bird.conf` for `ctx.node`.
pub(crate) fn render(ctx: &NodeContext<'_>) -> Result<RenderedConfig, SpeakerError> {
    let intent = NodeIntent::of(ctx, SpeakerKind::Bird)?;
    let mut w = ConfigWriter::new("  ", "#");
    header(&mut w, ctx, SpeakerKind::Bird, CONF);
    w.blank();
    w.line("log stderr all;");
    w.line(format_args!("router id {};", intent.node.router_id));
    w.blank();
    originated_set(&mut w, &intent);
    w.line("protocol device { scan time 10; }");
    w.blank();
    w.comment(
        "Connected routes only resolve next hops of iBGP/multihop routes (gateway recursive);",
    );
    w.comment("no export filter below accepts them, so links are never advertised.");
    w.line("protocol direct fl_direct { ipv4; interface -\"cali*\", \"*\"; }");
    w.blank();
    // BIRD resolves names in file order: filters before the protocols using them.
    filters(&mut w, &intent);
    kernel(&mut w, ctx, &intent);
    statics(&mut w, &intent);
    for peer in &intent.peers {
        bgp(&mut w, ctx, &intent, peer);
    }
    Ok(RenderedConfig {
        files: vec![ConfigFile {
            name: CONF.to_string(),
            contents: w.finish(),
        }],
    })
}

fn originated_set(w: &mut ConfigWriter, intent: &NodeIntent<'_>) {
    if intent.originated.is_empty() {
        return;
    }
    let list: Vec<String> = intent.originated.iter().map(|p| p.to_string()).collect();
    w.line(format_args!(
        "define FL_ORIGINATED = [ {} ];",
        list.join(", ")
    ));
    w.blank();
}

fn kernel(w: &mut ConfigWriter, ctx: &NodeContext<'_>, intent: &NodeIntent<'_>) {
    let routing = intent.node.routing;
    w.open("protocol kernel fl_kernel {");
    w.comment("Learn the lab's static and pod routes so recursive next hops resolve (calico-node: learn).");
    w.line("learn;");
    w.comment("Keep routes in the kernel when BIRD stops or dies (calico-node: persist).");
    w.line("persist;");
    w.line("scan time 10;");
    if ctx.options.graceful_restart.enabled {
        w.comment("Defer kernel sync until BGP graceful-restart recovery ends (RFC 4724 §4.1).");
        w.line("graceful restart on;");
    }
    if routing.max_paths > 1 {
        if !routing.multipath_relax {
            w.comment("multipath_relax=false is not expressible: BIRD merges paths from different");
            w.comment("neighbour ASes whenever AS_PATH lengths are equal (bgp_rte_mergable).");
        }
        w.line(format_args!("merge paths on limit {};", routing.max_paths));
    } else {
        w.line("merge paths off;");
    }
    w.line("ipv4 { import all; export filter fl_to_kernel; };");
    w.close("}");
    w.blank();
}

fn statics(w: &mut ConfigWriter, intent: &NodeIntent<'_>) {
    if !intent.originated.is_empty() {
        w.comment(
            "Calico: a local blackhole per affine block, exported to BGP once as the aggregate.",
        );
        w.open(format_args!("protocol static {ORIGINATED_PROTO} {{"));
        w.line("ipv4;");
        for p in &intent.originated {
            w.line(format_args!("route {p} blackhole;"));
        }
        w.close("}");
        w.blank();
    }
    if intent.default_originate {
        w.comment(
            "BIRD has no default-originate: a static default, advertised only to the peers that",
        );
        w.comment(
            "get one, never installed in the kernel, and less preferred than a learned default",
        );
        w.comment("(preference 10 < BGP's 100) so an upstream default still wins locally.");
        w.open(format_args!("protocol static {DEFAULT_PROTO} {{"));
        w.line("ipv4 { preference 10; };");
        w.line("route 0.0.0.0/0 blackhole;");
        w.close("}");
        w.blank();
    }
}

fn filters(w: &mut ConfigWriter, intent: &NodeIntent<'_>) {
    w.open("filter fl_to_kernel {");
    if intent.default_originate {
        w.line(format_args!("if proto = \"{DEFAULT_PROTO}\" then reject;"));
    }
    w.line("if source = RTS_BGP then accept;");
    if !intent.originated.is_empty() {
        w.line(format_args!(
            "if proto = \"{ORIGINATED_PROTO}\" then accept;"
        ));
    }
    w.line("reject;");
    w.close("}");
    w.blank();
    let used: BTreeSet<ExportFilter> = intent.peers.iter().map(ExportFilter::of).collect();
    for f in used {
        export_filter(w, intent, f);
    }
}

fn export_filter(w: &mut ConfigWriter, intent: &NodeIntent<'_>, f: ExportFilter) {
    w.open(format_args!("filter {} {{", f.name()));
    if f.with_default {
        w.comment("default-originate: ours, or the learned one when it is better.");
        w.line(format_args!(
            "if net = 0.0.0.0/0 && (proto = \"{DEFAULT_PROTO}\" || source = RTS_BGP) then accept;"
        ));
    }
    let originated = !intent.originated.is_empty();
    match f.policy {
        ExportKey::All => {
            if intent.default_originate {
                w.line(format_args!("if proto = \"{DEFAULT_PROTO}\" then reject;"));
            }
            w.line("if source = RTS_BGP then accept;");
            if originated {
                w.line(format_args!(
                    "if proto = \"{ORIGINATED_PROTO}\" then accept;"
                ));
            }
        }
        ExportKey::Originated => {
            w.comment("A Calico node: its own blocks, never a learned route (no transit).");
            if originated {
                w.line(format_args!(
                    "if proto = \"{ORIGINATED_PROTO}\" && net ~ FL_ORIGINATED then accept;"
                ));
            }
        }
        ExportKey::DefaultOnly => {
            if !f.with_default {
                w.line("if net = 0.0.0.0/0 && source = RTS_BGP then accept;");
            }
        }
    }
    w.line("reject;");
    w.close("}");
    w.blank();
}

fn bgp(w: &mut ConfigWriter, ctx: &NodeContext<'_>, intent: &NodeIntent<'_>, peer: &Peer<'_>) {
    let (l, r) = (peer.local, peer.remote);
    let t = ctx.options.timers;
    let gr = ctx.options.graceful_restart;
    w.open(format_args!("protocol bgp {} {{", peer.ident));
    w.line(format_args!(
        "description \"{} via {} ({})\";",
        r.node,
        l.ifname,
        if peer.ibgp { "iBGP" } else { "eBGP" }
    ));
    w.line(format_args!("local {} as {};", l.local_addr, l.local_as));
    w.line(format_args!("neighbor {} as {};", l.peer_addr, l.peer_as));
    if peer.multihop {
        w.line("multihop;");
    } else {
        w.line("direct;");
    }
    w.comment("Fast lab timers (daemons.md): BIRD's defaults delay start 5 s and retries 60 s.");
    w.line(format_args!(
        "connect delay time 0; connect retry time {}; error wait time 1,5;",
        t.connect_retry.max(1)
    ));
    w.line(format_args!(
        "hold time {}; keepalive time {};",
        t.hold, t.keepalive
    ));
    if gr.enabled {
        w.line(format_args!(
            "graceful restart on; graceful restart time {};",
            gr.restart_time.min(4095)
        ));
    } else {
        w.line("graceful restart off;");
    }
    if ctx.options.dial.passive(l.passive) {
        w.line("passive on;");
    }
    if l.allowas_in > 0 {
        w.line(format_args!("allow local as {};", l.allowas_in));
    }
    if l.rr_client {
        w.line("rr client;");
        if let Some(id) = intent.node.routing.cluster_id {
            w.line(format_args!("rr cluster id {id};"));
        }
    }
    w.open("ipv4 {");
    match l.import {
        ImportPolicy::All => w.line("import all;"),
        ImportPolicy::DefaultOnly => w.line("import where net = 0.0.0.0/0;"),
    };
    w.line(format_args!(
        "export filter {};",
        ExportFilter::of(peer).name()
    ));
    if l.next_hop_self {
        w.line("next hop self on;");
    }
    if peer.ibgp && !peer.multihop {
        w.comment(
            "Reflected next hops are other nodes' addresses: resolve them through the table.",
        );
        w.line("gateway recursive;");
    }
    w.close("};");
    w.close("}");
    w.blank();
}
