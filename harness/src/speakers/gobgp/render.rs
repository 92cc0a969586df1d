//! `gobgp.toml` for GoBGP 3.
//!
//! GoBGP applies policies to its global RIB, not per neighbor (outside route-server mode), so the
//! plan's per-session policies become one global import and one global export policy whose
//! statements each match a neighbor set of one address, evaluated in order, first match wins:
//!
//! - export `All`: reject our injected default (route-type local) unless default-originate, then
//!   accept; `Originated`: accept our own prefixes (route-type local + prefix set), reject the
//!   rest; `DefaultOnly`: accept 0/0, reject the rest. Default-originate adds "accept 0/0" first.
//! - import `DefaultOnly`: accept 0/0, reject the rest; `All` needs no statement.
//! - next-hop-self is the `set-next-hop = "self"` action on that neighbor's accept statements.
//!
//! Multipath: GoBGP 3.10 reads `use-multiple-paths` but uses only `enabled`: its multipath set
//! is every path equal to the best through MED, whatever the neighbouring AS, and unlimited.
//! `allow-multiple-as` and `maximum-paths` are still rendered (they say what is meant); the FIB
//! agent (`fabriclab gobgp-fib --max-paths --strict-multipath`) applies both to what it
//! installs.
//!
//! The prefixes themselves (blocks, and 0/0 for default-originate) have no TOML form: they are
//! added through the API once the daemon is ready (see the adapter's `after_start`). The
//! injected default carries LOCAL_PREF 50 so that a learned default (100) stays best.

use super::super::api::{ConfigFile, NodeContext, RenderedConfig, SpeakerError};
use super::super::intent::{header, NodeIntent, Peer};
use super::super::writer::ConfigWriter;
use crate::topology::{ExportPolicy, ImportPolicy, SpeakerKind};

pub(crate) const CONF: &str = "gobgp.toml";
/// LOCAL_PREF of the injected default route.
pub(crate) const DEFAULT_LOCAL_PREF: u32 = 50;

const PS_DEFAULT: &str = "fl-default";
const PS_ORIGINATED: &str = "fl-originated";
const IMPORT: &str = "fl-import";
const EXPORT: &str = "fl-export";

/// A TOML basic string.
fn q(s: impl std::fmt::Display) -> String {
    let s = s.to_string().replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{s}\"")
}

/// Renders `gobgp.toml` for `ctx.node`; `zserv` is zebra's socket when zebra integration is on.
pub(crate) fn render(
    ctx: &NodeContext<'_>,
    zserv: Option<&std::path::Path>,
) -> Result<RenderedConfig, SpeakerError> {
    let intent = NodeIntent::of(ctx, SpeakerKind::Gobgp)?;
    let mut w = ConfigWriter::new("  ", "#");
    header(&mut w, ctx, SpeakerKind::Gobgp, CONF);
    global(&mut w, &intent);
    defined_sets(&mut w, &intent);
    import_policy(&mut w, &intent);
    export_policy(&mut w, &intent);
    for p in &intent.peers {
        neighbor(&mut w, ctx, &intent, p);
    }
    if let Some(z) = zserv {
        w.blank();
        w.comment("Kernel routes through FRR zebra in the same namespace (ZAPI 6).");
        w.open("[zebra.config]");
        w.line("enabled = true");
        w.line(format_args!(
            "url = {}",
            q(format_args!("unix:{}", z.display()))
        ));
        w.line("redistribute-route-type-list = []");
        w.line("version = 6");
        w.line("software-name = \"frr8.4\"");
        w.close("");
    }
    Ok(RenderedConfig {
        files: vec![ConfigFile {
            name: CONF.to_string(),
            contents: w.finish(),
        }],
    })
}

fn global(w: &mut ConfigWriter, intent: &NodeIntent<'_>) {
    let n = intent.node;
    let r = n.routing;
    w.blank();
    w.open("[global.config]");
    w.line(format_args!("as = {}", n.asn));
    w.line(format_args!("router-id = {}", q(n.router_id)));
    w.line("port = 179");
    w.close("");
    // RFC 4271 §9.1.2.2 (f): equal eBGP paths are decided by the lowest BGP Identifier, as BIRD
    // does and the design model expects; GoBGP's default keeps the oldest path (an arrival
    // race), which would make the best path, and the multipath set built around it, random.
    w.open("[global.route-selection-options.config]");
    w.line("external-compare-router-id = true");
    w.close("");
    w.open("[global.use-multiple-paths.config]");
    w.line(format_args!("enabled = {}", r.max_paths > 1));
    w.close("");
    w.open("[global.use-multiple-paths.ebgp.config]");
    w.line(format_args!("allow-multiple-as = {}", r.multipath_relax));
    w.line(format_args!("maximum-paths = {}", r.max_paths.max(1)));
    w.close("");
    w.open("[global.use-multiple-paths.ibgp.config]");
    w.line(format_args!("maximum-paths = {}", r.max_paths.max(1)));
    w.close("");
    w.open("[global.apply-policy.config]");
    w.line(format_args!("import-policy-list = [{}]", q(IMPORT)));
    w.line(format_args!("export-policy-list = [{}]", q(EXPORT)));
    w.line("default-import-policy = \"accept-route\"");
    w.line("default-export-policy = \"accept-route\"");
    w.close("");
}

fn defined_sets(w: &mut ConfigWriter, intent: &NodeIntent<'_>) {
    w.blank();
    w.open("[[defined-sets.prefix-sets]]");
    w.line(format_args!("prefix-set-name = {}", q(PS_DEFAULT)));
    w.open("[[defined-sets.prefix-sets.prefix-list]]");
    w.line("ip-prefix = \"0.0.0.0/0\"");
    w.close("");
    w.close("");
    if !intent.originated.is_empty() {
        w.open("[[defined-sets.prefix-sets]]");
        w.line(format_args!("prefix-set-name = {}", q(PS_ORIGINATED)));
        for p in &intent.originated {
            w.open("[[defined-sets.prefix-sets.prefix-list]]");
            w.line(format_args!("ip-prefix = {}", q(p)));
            w.close("");
        }
        w.close("");
    }
    for p in &intent.peers {
        w.open("[[defined-sets.neighbor-sets]]");
        w.line(format_args!("neighbor-set-name = {}", q(&p.ident)));
        w.line(format_args!(
            "neighbor-info-list = [{}]",
            q(p.local.peer_addr)
        ));
        w.close("");
    }
}

/// One policy statement: conditions, then a disposition and maybe next-hop-self.
struct Statement<'s> {
    name: String,
    neighbor: &'s str,
    prefix_set: Option<&'static str>,
    local_only: bool,
    accept: bool,
    next_hop_self: bool,
}

fn statement(w: &mut ConfigWriter, s: &Statement<'_>) {
    w.open("[[policy-definitions.statements]]");
    w.line(format_args!("name = {}", q(&s.name)));
    w.open("[policy-definitions.statements.conditions.match-neighbor-set]");
    w.line(format_args!("neighbor-set = {}", q(s.neighbor)));
    w.close("");
    if let Some(ps) = s.prefix_set {
        w.open("[policy-definitions.statements.conditions.match-prefix-set]");
        w.line(format_args!("prefix-set = {}", q(ps)));
        w.close("");
    }
    if s.local_only {
        w.open("[policy-definitions.statements.conditions.bgp-conditions]");
        w.line("route-type = \"local\"");
        w.close("");
    }
    w.open("[policy-definitions.statements.actions]");
    w.line(format_args!(
        "route-disposition = {}",
        q(if s.accept {
            "accept-route"
        } else {
            "reject-route"
        })
    ));
    w.close("");
    if s.accept && s.next_hop_self {
        w.open("[policy-definitions.statements.actions.bgp-actions]");
        w.line("set-next-hop = \"self\"");
        w.close("");
    }
    w.close("");
}

fn import_policy(w: &mut ConfigWriter, intent: &NodeIntent<'_>) {
    w.blank();
    w.open("[[policy-definitions]]");
    w.line(format_args!("name = {}", q(IMPORT)));
    for p in &intent.peers {
        if p.local.import == ImportPolicy::DefaultOnly {
            for (accept, prefix_set, suffix) in
                [(true, Some(PS_DEFAULT), "default"), (false, None, "rest")]
            {
                statement(
                    w,
                    &Statement {
                        name: format!("{}-in-{suffix}", p.ident),
                        neighbor: &p.ident,
                        prefix_set,
                        local_only: false,
                        accept,
                        next_hop_self: false,
                    },
                );
            }
        }
    }
    w.close("");
}

fn export_policy(w: &mut ConfigWriter, intent: &NodeIntent<'_>) {
    w.blank();
    w.open("[[policy-definitions]]");
    w.line(format_args!("name = {}", q(EXPORT)));
    for p in &intent.peers {
        for s in export_statements(intent, p) {
            statement(w, &s);
        }
    }
    w.close("");
}

fn export_statements<'s>(intent: &NodeIntent<'_>, p: &'s Peer<'_>) -> Vec<Statement<'s>> {
    let l = p.local;
    let nhs = l.next_hop_self;
    let st = |suffix: &str, prefix_set, local_only, accept| Statement {
        name: format!("{}-out-{suffix}", p.ident),
        neighbor: &p.ident,
        prefix_set,
        local_only,
        accept,
        next_hop_self: nhs,
    };
    let mut out = Vec::new();
    if l.default_originate {
        out.push(st("default", Some(PS_DEFAULT), false, true));
    }
    match l.export {
        ExportPolicy::All => {
            if intent.default_originate && !l.default_originate {
                out.push(st("no-local-default", Some(PS_DEFAULT), true, false));
            }
            out.push(st("all", None, false, true));
        }
        ExportPolicy::Originated => {
            if !intent.originated.is_empty() {
                out.push(st("originated", Some(PS_ORIGINATED), true, true));
            }
            out.push(st("rest", None, false, false));
        }
        ExportPolicy::DefaultOnly => {
            if !l.default_originate {
                out.push(st("default", Some(PS_DEFAULT), false, true));
            }
            out.push(st("rest", None, false, false));
        }
    }
    out
}

fn neighbor(w: &mut ConfigWriter, ctx: &NodeContext<'_>, intent: &NodeIntent<'_>, p: &Peer<'_>) {
    let (l, r) = (p.local, p.remote);
    let t = ctx.options.timers;
    let gr = ctx.options.graceful_restart;
    w.blank();
    w.open("[[neighbors]]");
    w.open("[neighbors.config]");
    w.line(format_args!("neighbor-address = {}", q(l.peer_addr)));
    w.line(format_args!("peer-as = {}", l.peer_as));
    if l.local_as != intent.node.asn {
        w.line(format_args!("local-as = {}", l.local_as));
    }
    w.line(format_args!(
        "description = {}",
        q(format_args!(
            "{} via {} ({})",
            r.node,
            l.ifname,
            if p.ibgp { "iBGP" } else { "eBGP" }
        ))
    ));
    w.close("");
    w.open("[neighbors.transport.config]");
    w.line(format_args!("local-address = {}", q(l.local_addr)));
    w.line(format_args!(
        "passive-mode = {}",
        ctx.options.dial.passive(l.passive)
    ));
    w.close("");
    w.open("[neighbors.timers.config]");
    w.line(format_args!("connect-retry = {}", t.connect_retry.max(1)));
    w.line(format_args!("hold-time = {}", t.hold));
    w.line(format_args!("keepalive-interval = {}", t.keepalive));
    w.close("");
    if p.multihop && !p.ibgp {
        w.open("[neighbors.ebgp-multihop.config]");
        w.line("enabled = true");
        w.line("multihop-ttl = 255");
        w.close("");
    }
    if l.rr_client {
        let cluster = intent
            .node
            .routing
            .cluster_id
            .unwrap_or(intent.node.router_id.0);
        w.open("[neighbors.route-reflector.config]");
        w.line("route-reflector-client = true");
        w.line(format_args!("route-reflector-cluster-id = {}", q(cluster)));
        w.close("");
    }
    if l.allowas_in > 0 {
        w.open("[neighbors.as-path-options.config]");
        w.line(format_args!("allow-own-as = {}", l.allowas_in));
        w.close("");
    }
    w.open("[neighbors.graceful-restart.config]");
    w.line(format_args!("enabled = {}", gr.enabled));
    if gr.enabled {
        w.line(format_args!("restart-time = {}", gr.restart_time.min(4095)));
    }
    w.close("");
    w.open("[[neighbors.afi-safis]]");
    w.open("[neighbors.afi-safis.config]");
    w.line("afi-safi-name = \"ipv4-unicast\"");
    w.close("");
    if gr.enabled {
        w.open("[neighbors.afi-safis.mp-graceful-restart.config]");
        w.line("enabled = true");
        w.close("");
    }
    w.close("");
    w.close("");
}
