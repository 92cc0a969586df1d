//! Routing behaviour of the bundled speaker on real kernels: route reflection (ORIGINATOR_ID,
//! CLUSTER_LIST, both loop checks), ECMP read back from the kernel as a multipath route,
//! multipath-relax, AS_PATH loop detection and allowas-in, default-originate, dynamic neighbors
//! joining and leaving, a cut link repaired in the FIB before the hold timer could have noticed,
//! UPDATE grouping with End-of-RIB per family on the wire, and interop with FRR and BIRD as route
//! reflector and as clients.
//!
//! Bundled-only cases build a small lab from an explicit topology (namespaces, links, addresses)
//! and run `fabric-speaker` in it with configurations written here, so every knob is set on
//! purpose; the kernel FIB is read over rtnetlink and the speakers' views over their control
//! sockets. Interop cases run a whole mixed fabric with `fabriclab::run::run`.
//!
//! Cases are ignored, with the reason, when not root or when a daemon they need is missing
//! (the `fabric-speaker` binary included: build it with `cargo build --bins`). Waiting is polling
//! with a deadline; a timeout reports the last observation and the speakers' logs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use fabric_bgp_wire::{Asn, Message, RouterId};
use fabric_speaker::config::{
    Config, Kernel, ListenRange, Neighbor, NextHopSelf, Originate, PolicyRef, RemoteAs,
};
use fabric_speaker::control::{
    self, NeighborStatus, PathState, Request, Response, RibEntry, RouteDir, RouteEntry,
};
use fabric_speaker::fsm::State;
use fabriclab::capture::{
    capture_file_name, decode_capture, Capture, CaptureConfig, CaptureTarget,
};
use fabriclab::fib::reader::read_fib;
use fabriclab::fib::{NextHop, NodeFib, RouteKind};
use fabriclab::lab::netns::rtnetlink_in_netns;
use fabriclab::lab::{BuildOptions, Lab, LinkState};
use fabriclab::run::{RunOptions, Verdict};
use fabriclab::speakers::{check_installed, speaker_binary};
use fabriclab::topology::{self, LinkPlan, NodeId, Plan, SpeakerKind};
use fabriclab::wait::{wait_until, Probe};
use fabriclab_suites::{ensure, is_root, run, unique_lab_name, Completion, Trial, NEEDS_ROOT};
use ipnet::IpNet;

/// How long a small lab may take to converge.
const CONVERGE: Duration = Duration::from_secs(20);
/// Poll interval for control sockets and FIBs.
const POLL: Duration = Duration::from_millis(50);
/// Hold time of every session here: the failover bound.
const HOLD: u16 = 9;
/// Our AS numbers (set in the configurations; the plan's are not used by bundled-only cases).
const AS_A: u32 = 65001;
const AS_B: u32 = 65002;
const AS_C: u32 = 65003;

fn main() {
    use SpeakerKind::{Bird, Bundled, Frr};
    let trials = vec![
        case(
            "rr::three_clients_originator_cluster_list_and_loops",
            &[Bundled],
            rr_three_clients,
        ),
        case(
            "ecmp::ebgp_chain_two_paths_in_the_kernel",
            &[Bundled],
            ecmp_two_paths,
        ),
        case(
            "ecmp::multipath_relax_across_neighbour_ases",
            &[Bundled],
            multipath_relax,
        ),
        case(
            "loops::as_path_loop_dropped_then_allowas_in",
            &[Bundled],
            as_loop_and_allowas_in,
        ),
        case(
            "default_originate::only_the_default_goes_down",
            &[Bundled],
            default_originate,
        ),
        case(
            "dynamic::neighbor_joins_leaves_and_range_limit",
            &[Bundled],
            dynamic_neighbors,
        ),
        case(
            "failover::link_cut_repaired_before_hold_timer",
            &[Bundled],
            link_cut_failover,
        ),
        case(
            "updates::grouped_by_attributes_then_end_of_rib_per_family",
            &[Bundled],
            grouping_and_end_of_rib,
        ),
        case(
            "interop::bundled_rr_with_frr_and_bird_clients",
            &[Bundled, Frr, Bird],
            interop_bundled_rr,
        ),
        case(
            "interop::bundled_clients_under_frr_rr",
            &[Bundled, Frr, Bird],
            interop_frr_rr,
        ),
    ];
    run(trials)
}

/// A root case needing the given daemons: ignored with the reason when one is missing.
fn case(name: &str, needs: &'static [SpeakerKind], f: fn() -> Result<()>) -> Trial {
    let missing = missing_daemon(needs);
    let ignored = !is_root() || missing.is_some();
    Trial::ignorable_test(name, move || {
        if !is_root() {
            return Ok(Completion::ignored_with(NEEDS_ROOT));
        }
        if let Some(reason) = missing {
            return Ok(Completion::ignored_with(reason));
        }
        f().map(|()| Completion::Completed)
            .map_err(|e| format!("{e:#}").into())
    })
    .with_ignored_flag(ignored)
}

fn missing_daemon(needs: &[SpeakerKind]) -> Option<String> {
    needs
        .iter()
        .find_map(|k| check_installed(*k).err().map(|e| e.to_string()))
}

// ===== a small lab with hand-configured bundled speakers =====

/// A running `fabric-speaker` in a lab namespace.
struct Proc {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    config: Config,
}

impl Proc {
    fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(0));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let exited = wait_until(Duration::from_secs(5), POLL, || {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => Probe::Done(()),
                Ok(None) => Probe::pending("still running"),
            }
        });
        if exited.is_err() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A lab plus the speakers started in it; everything is stopped and torn down on drop.
struct Net {
    // Field order: speakers stop before the lab goes.
    speakers: BTreeMap<String, Proc>,
    rt: tokio::runtime::Runtime,
    lab: Lab,
    plan: Plan,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Drop for Net {
    fn drop(&mut self) {
        for p in self.speakers.values_mut() {
            p.stop();
        }
    }
}

impl Net {
    /// Builds the lab of an explicit-form topology (pods none, design irrelevant: the speakers
    /// get their configurations from the case).
    fn build(tag: &str, nodes: &[&str], links: &[(&str, &str)]) -> Result<Net> {
        let mut text = String::from("design: as-per-server\npods-per-node: 0\nnodes:\n");
        for (i, n) in nodes.iter().enumerate() {
            text.push_str(&format!(
                "  - {{ name: {n}, role: external, asn: {} }}\n",
                65100 + i
            ));
        }
        text.push_str("links:\n");
        for (a, b) in links {
            text.push_str(&format!("  - {{ a: {a}, b: {b} }}\n"));
        }
        let plan = topology::parse(&text, &format!("routing-{tag}"))
            .map_err(|e| anyhow!("{e}\n{text}"))?;
        let lab = Lab::build(
            &plan,
            BuildOptions {
                name: Some(unique_lab_name(tag)),
                ..BuildOptions::default()
            },
        )?;
        let bin = speaker_binary().ok_or_else(|| anyhow!("fabric-speaker binary not found"))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        Ok(Net {
            speakers: BTreeMap::new(),
            rt,
            lab,
            plan,
            dir: tempfile::Builder::new().prefix("fl-routing-").tempdir()?,
            bin,
        })
    }

    fn id(name: &str) -> NodeId {
        NodeId::from(name)
    }

    fn link(&self, a: &str, b: &str) -> Result<&LinkPlan> {
        let (a, b) = (Self::id(a), Self::id(b));
        self.plan
            .links
            .iter()
            .find(|l| (l.a.node == a && l.b.node == b) || (l.a.node == b && l.b.node == a))
            .ok_or_else(|| anyhow!("no link {a} - {b}"))
    }

    /// `node`'s address on its link to `other`.
    fn addr(&self, node: &str, other: &str) -> Result<Ipv4Addr> {
        let l = self.link(node, other)?;
        let (mine, _) = l
            .ends_from(&Self::id(node))
            .ok_or_else(|| anyhow!("{node} not on {}", l.id))?;
        Ok(mine.v4.addr())
    }

    /// `node`'s interface towards `other`.
    fn ifname(&self, node: &str, other: &str) -> Result<String> {
        let l = self.link(node, other)?;
        let (mine, _) = l
            .ends_from(&Self::id(node))
            .ok_or_else(|| anyhow!("{node} not on {}", l.id))?;
        Ok(mine.ifname.clone())
    }

    fn router_id(&self, node: &str) -> Result<RouterId> {
        self.plan
            .node(&Self::id(node))
            .map(|n| n.router_id)
            .ok_or_else(|| anyhow!("no node {node}"))
    }

    /// A configuration for `node` in AS `asn`: control socket in the case's directory, kernel
    /// FIB on, debug logs.
    fn config(&self, node: &str, asn: u32) -> Result<Config> {
        let mut c = Config::new(self.router_id(node)?, Asn(asn));
        c.hostname = Some(node.to_owned());
        c.control_socket = Some(self.dir.path().join(format!("{node}.sock")));
        c.log_level = "debug".to_owned();
        c.kernel = Kernel::default();
        Ok(c)
    }

    /// `node`'s neighbor `other` (over their link) in AS `asn`, with short timers.
    fn neighbor(&self, node: &str, other: &str, asn: u32) -> Result<Neighbor> {
        let mut n = Neighbor::new(IpAddr::V4(self.addr(other, node)?), RemoteAs::Asn(Asn(asn)));
        n.description = Some(other.to_owned());
        n.local_address = Some(IpAddr::V4(self.addr(node, other)?));
        n.hold_time = HOLD;
        n.keepalive = Some(3);
        n.connect_retry = 1;
        n.idle_hold_time = 1;
        Ok(n)
    }

    /// Writes the configuration and starts the speaker; returns once its control socket
    /// answers.
    fn start(&mut self, node: &str, config: Config) -> Result<()> {
        if let Some(mut old) = self.speakers.remove(node) {
            old.stop();
        }
        let path = self.dir.path().join(format!("{node}.yaml"));
        std::fs::write(&path, config.to_yaml()?)?;
        let log = self.dir.path().join(format!("{node}.log"));
        // Append: a restarted speaker's earlier log stays readable.
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        let child = self.lab.spawn(&Self::id(node), cmd)?;
        let socket = config.control_socket_path();
        self.speakers.insert(
            node.to_owned(),
            Proc {
                child,
                socket,
                log,
                config,
            },
        );
        wait_until(Duration::from_secs(10), POLL, || {
            Probe::from_result(self.ctl(node, &Request::Status).map(|_| ()))
        })
        .map_err(|e| anyhow!("{node} not ready: {e}\n{}", self.logs(node)))
    }

    fn stop(&mut self, node: &str) {
        if let Some(mut p) = self.speakers.remove(node) {
            p.stop();
        }
    }

    fn config_of(&self, node: &str) -> Result<Config> {
        self.speakers
            .get(node)
            .map(|p| p.config.clone())
            .ok_or_else(|| anyhow!("{node} has no speaker"))
    }

    fn logs(&self, node: &str) -> String {
        let Some(p) = self.speakers.get(node) else {
            return String::new();
        };
        let text = std::fs::read_to_string(&p.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines.len().saturating_sub(60);
        format!(
            "--- {node} log (last lines) ---\n{}",
            lines.get(tail..).unwrap_or_default().join("\n")
        )
    }

    fn all_logs(&self) -> String {
        self.speakers
            .keys()
            .map(|n| self.logs(n))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn ctl(&self, node: &str, req: &Request) -> Result<Response> {
        let p = self
            .speakers
            .get(node)
            .ok_or_else(|| anyhow!("{node} has no speaker"))?;
        let r = control::request(&p.socket, req, Duration::from_secs(2))?;
        if !r.ok {
            bail!("{node}: {}", r.error.unwrap_or_default());
        }
        Ok(r)
    }

    fn neighbors(&self, node: &str) -> Result<Vec<NeighborStatus>> {
        self.ctl(node, &Request::Neighbors { peer: None })?
            .neighbors
            .ok_or_else(|| anyhow!("no neighbors in the answer"))
    }

    fn received(&self, node: &str) -> Result<Vec<RouteEntry>> {
        self.ctl(
            node,
            &Request::Routes {
                dir: RouteDir::Received,
                peer: None,
                prefix: None,
            },
        )?
        .routes
        .ok_or_else(|| anyhow!("no routes in the answer"))
    }

    fn loc_rib(&self, node: &str, prefix: IpNet) -> Result<Option<RibEntry>> {
        let r = self.ctl(
            node,
            &Request::Routes {
                dir: RouteDir::LocRib,
                peer: None,
                prefix: Some(prefix),
            },
        )?;
        Ok(r.rib.and_then(|mut v| v.pop()))
    }

    /// `node`'s kernel FIB, read once.
    fn fib(&self, node: &str) -> Result<NodeFib> {
        let path = self.lab.netns_path(&Self::id(node))?.to_path_buf();
        self.rt.block_on(async {
            let h = rtnetlink_in_netns(&path).await?;
            Ok(read_fib(&h).await?.fib)
        })
    }

    /// Waits until every node in `nodes` has all its configured sessions Established.
    fn wait_established(&self, nodes: &[&str]) -> Result<()> {
        wait_until(CONVERGE, POLL, || {
            let mut pending = Vec::new();
            for n in nodes {
                match self.neighbors(n) {
                    Ok(list) => pending.extend(
                        list.iter()
                            .filter(|s| s.state != State::Established)
                            .map(|s| format!("{n}->{} {}", s.address, s.state)),
                    ),
                    Err(e) => pending.push(format!("{n}: {e}")),
                }
            }
            if pending.is_empty() {
                Probe::Done(())
            } else {
                Probe::pending(pending.join(", "))
            }
        })
        .map_err(|e| anyhow!("sessions not up: {e}\n{}", self.all_logs()))
    }

    /// Waits until `node`'s kernel route for `prefix` satisfies `want` (`None`: no route),
    /// reading the FIB every 10 ms over one rtnetlink socket.
    fn wait_route(
        &self,
        node: &str,
        prefix: IpNet,
        what: &str,
        timeout: Duration,
        want: impl Fn(Option<&RouteKind>) -> bool,
    ) -> Result<Option<RouteKind>> {
        let path = self.lab.netns_path(&Self::id(node))?.to_path_buf();
        let handle = self.rt.block_on(rtnetlink_in_netns(&path))?;
        let r = wait_until(timeout, Duration::from_millis(10), || {
            match self.rt.block_on(read_fib(&handle)) {
                Ok(read) => {
                    let kind = read.fib.get(&prefix).map(|r| r.kind.clone());
                    if want(kind.as_ref()) {
                        Probe::Done(kind)
                    } else {
                        Probe::pending(format!("{node} {prefix}: {}", describe(kind.as_ref())))
                    }
                }
                Err(e) => Probe::pending(e),
            }
        });
        r.map_err(|e| {
            anyhow!(
                "{node}: waiting for {prefix} {what}: {e}\n{}",
                self.all_logs()
            )
        })
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn describe(kind: Option<&RouteKind>) -> String {
    match kind {
        None => "no route".to_owned(),
        Some(RouteKind::Unicast { nexthops }) => nexthops
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        Some(k) => format!("{k:?}"),
    }
}

fn gateways(kind: Option<&RouteKind>) -> BTreeSet<NextHop> {
    match kind {
        Some(RouteKind::Unicast { nexthops }) => nexthops.clone(),
        _ => BTreeSet::new(),
    }
}

fn via(gw: Ipv4Addr, ifname: &str) -> NextHop {
    NextHop::via(IpAddr::V4(gw), ifname)
}

/// Originate `prefix` without a local blackhole (transit routers in these labs).
fn announce(c: &mut Config, prefix: &str) {
    c.originate.push(Originate {
        prefix: net(prefix),
        blackhole: Some(false),
        communities: Vec::new(),
        large_communities: Vec::new(),
        med: None,
    });
}

fn path_from(e: &RibEntry, from: Option<Ipv4Addr>) -> Option<&control::RibPath> {
    e.paths.iter().find(|p| p.from == from.map(IpAddr::V4))
}

// ===== route reflection =====

/// Two reflectors t1, t2 (AS 64601), three clients n1..n3 each peering with both, t1 and t2
/// peering as non-clients. n1 originates P1 and sends it to t1 only.
///
/// * n2 and n3 get P1 from t1 with ORIGINATOR_ID n1 and CLUSTER_LIST [t1] — on the wire (a
///   capture of t1–n2) and in their Adj-RIB-In; from t2 with CLUSTER_LIST [t2, t1].
/// * t2 reflects t1's copy back to its client n1, which drops it: ORIGINATOR_ID is its own
///   (RFC 4456 §8).
/// * With t2 restarted in t1's cluster (redundant reflectors, one CLUSTER_ID) t2 drops t1's
///   copy: CLUSTER_LIST loop; n3 then hears P1 from t1 only.
fn rr_three_clients() -> Result<()> {
    const AS: u32 = 64601;
    let nodes = ["t1", "t2", "n1", "n2", "n3"];
    let links = [
        ("t1", "n1"),
        ("t1", "n2"),
        ("t1", "n3"),
        ("t2", "n1"),
        ("t2", "n2"),
        ("t2", "n3"),
        ("t1", "t2"),
    ];
    let mut lab = Net::build("rr", &nodes, &links)?;
    let capdir = lab.dir.path().join("pcap");
    let l_t1_n2 = lab.link("t1", "n2")?.clone();
    let ns = lab.lab.netns_path(&l_t1_n2.a.node)?.to_path_buf();
    let capture = Capture::start(
        CaptureConfig::new(&capdir),
        [CaptureTarget::a_end(&l_t1_n2, ns)],
    )?;
    let p1 = net("10.1.1.0/24");
    for rr in ["t1", "t2"] {
        let mut c = lab.config(rr, AS)?;
        for client in ["n1", "n2", "n3"] {
            let mut n = lab.neighbor(rr, client, AS)?;
            n.route_reflector_client = true;
            n.next_hop_self = NextHopSelf::All;
            n.passive = true;
            c.neighbors.push(n);
        }
        // Between the reflectors too, or the other could not resolve a client's link address.
        let other = if rr == "t1" { "t2" } else { "t1" };
        let mut n = lab.neighbor(rr, other, AS)?;
        n.next_hop_self = NextHopSelf::All;
        c.neighbors.push(n);
        lab.start(rr, c)?;
    }
    for client in ["n1", "n2", "n3"] {
        let mut c = lab.config(client, AS)?;
        for rr in ["t1", "t2"] {
            let mut n = lab.neighbor(client, rr, AS)?;
            if client == "n1" && rr == "t2" {
                n.export_policy = Some(PolicyRef::RejectAll);
            }
            c.neighbors.push(n);
        }
        if client == "n1" {
            announce(&mut c, "10.1.1.0/24");
        }
        lab.start(client, c)?;
    }
    lab.wait_established(&nodes)?;

    let (n1_id, t1_id, t2_id) = (
        lab.router_id("n1")?,
        lab.router_id("t1")?,
        lab.router_id("t2")?,
    );
    let (t1_at_n2, t2_at_n2) = (lab.addr("t1", "n2")?, lab.addr("t2", "n2")?);
    // Both copies at n2, with the reflection attributes.
    let got = wait_until(CONVERGE, POLL, || {
        let r = match lab.received("n2") {
            Ok(r) => r,
            Err(e) => return Probe::pending(e),
        };
        let copies: Vec<&RouteEntry> = r.iter().filter(|e| e.prefix == p1).collect();
        if copies.len() == 2 {
            Probe::Done(r.clone())
        } else {
            Probe::pending(format!(
                "n2 has {} copies of {p1}: {copies:?}",
                copies.len()
            ))
        }
    })
    .map_err(|e| anyhow!("{e}\n{}", lab.all_logs()))?;
    let from = |peer: Ipv4Addr| {
        got.iter()
            .find(|e| e.prefix == p1 && e.peer == IpAddr::V4(peer))
            .cloned()
            .ok_or_else(|| anyhow!("no {p1} from {peer} at n2: {got:?}"))
    };
    let via_t1 = from(t1_at_n2)?;
    ensure!(
        via_t1.originator_id == Some(n1_id) && via_t1.cluster_list == vec![t1_id.0],
        "reflected by t1: {via_t1:?}"
    );
    ensure!(
        via_t1.next_hop == Some(IpAddr::V4(t1_at_n2)),
        "next-hop-self on reflection: {via_t1:?}"
    );
    let via_t2 = from(t2_at_n2)?;
    ensure!(
        via_t2.originator_id == Some(n1_id) && via_t2.cluster_list == vec![t2_id.0, t1_id.0],
        "reflected by t1 then t2: {via_t2:?}"
    );
    // n2's best is the copy with the shorter CLUSTER_LIST (RFC 4456 §9); the other is equal up
    // to the IGP cost, so it is an ECMP leg.
    let e = lab
        .loc_rib("n2", p1)?
        .ok_or_else(|| anyhow!("{p1} not in n2's Loc-RIB"))?;
    let status = |peer| path_from(&e, Some(peer)).map(|p| p.status);
    ensure!(
        status(t1_at_n2) == Some(PathState::Best) && status(t2_at_n2) == Some(PathState::Multipath),
        "n2 {p1}: {e:?}"
    );
    // The third client has it too, in its kernel, over both reflectors.
    let (t1_at_n3, t2_at_n3) = (lab.addr("t1", "n3")?, lab.addr("t2", "n3")?);
    let n3_via_t1 = via(t1_at_n3, &lab.ifname("n3", "t1")?);
    let n3_both = BTreeSet::from([n3_via_t1.clone(), via(t2_at_n3, &lab.ifname("n3", "t2")?)]);
    lab.wait_route("n3", p1, "via t1 and t2", CONVERGE, |k| {
        gateways(k) == n3_both
    })?;
    // n1 receives its own route back from t2 and refuses it.
    let t2_at_n1 = lab.addr("t2", "n1")?;
    let own = wait_until(CONVERGE, POLL, || match lab.loc_rib("n1", p1) {
        Ok(Some(e)) => match path_from(&e, Some(t2_at_n1)) {
            Some(p) => Probe::Done(p.clone()),
            None => Probe::pending(format!("{e:?}")),
        },
        Ok(None) => Probe::pending("no entry"),
        Err(e) => Probe::pending(e),
    })
    .map_err(|e| {
        anyhow!(
            "n1 never saw its route back from t2: {e}\n{}",
            lab.all_logs()
        )
    })?;
    ensure!(
        own.status == PathState::Ineligible
            && own.reason.as_deref() == Some("originator-id is self"),
        "n1's own route from t2: {own:?}"
    );

    // On the wire: t1's UPDATE to n2 carries ORIGINATOR_ID and CLUSTER_LIST.
    drop(capture);
    let file = capdir.join(capture_file_name(&l_t1_n2));
    let (events, _) = decode_capture(&file, l_t1_n2.id)?;
    let seen = events.iter().any(|ev| {
        ev.src.ip() == IpAddr::V4(t1_at_n2)
            && matches!(ev.message(), Some(Message::Update(u))
                if u.nlri.iter().any(|n| IpNet::V4(n.prefix) == p1)
                    && u.attributes.originator_id == Some(n1_id)
                    && u.attributes.cluster_list == vec![t1_id])
    });
    ensure!(
        seen,
        "no UPDATE from t1 to n2 with {p1}, ORIGINATOR_ID {n1_id}, CLUSTER_LIST [{t1_id}] in {} ({} events)",
        file.display(),
        events.len()
    );

    // Redundant reflectors in one cluster: t2 drops what t1 reflects.
    let mut c = lab.config_of("t2")?;
    c.cluster_id = Some(t1_id.0);
    lab.start("t2", c)?;
    lab.wait_established(&["t2"])?;
    let t1_at_t2 = lab.addr("t1", "t2")?;
    let looped = wait_until(CONVERGE, POLL, || match lab.loc_rib("t2", p1) {
        Ok(Some(e)) => match path_from(&e, Some(t1_at_t2)) {
            Some(p) => Probe::Done(p.clone()),
            None => Probe::pending(format!("{e:?}")),
        },
        Ok(None) => Probe::pending("no entry"),
        Err(e) => Probe::pending(e),
    })
    .map_err(|e| anyhow!("{e}\n{}", lab.all_logs()))?;
    ensure!(
        looped.status == PathState::Ineligible
            && looped.reason.as_deref() == Some("cluster-list loop"),
        "t2 (cluster {t1_id}) on t1's reflected {p1}: {looped:?}"
    );
    lab.wait_route("n3", p1, "via t1 only", CONVERGE, |k| {
        gateways(k) == BTreeSet::from([n3_via_t1.clone()])
    })?;
    let peers: Vec<IpAddr> = lab
        .received("n3")?
        .iter()
        .filter(|e| e.prefix == p1)
        .map(|e| e.peer)
        .collect();
    ensure!(
        peers == vec![IpAddr::V4(t1_at_n3)],
        "n3 has {p1} from {peers:?}"
    );
    Ok(())
}

// ===== ECMP =====

/// The diamond a — b1, b2 — c; a originates 10.9.0.0/24, c originates 10.8.0.0/24.
fn diamond(tag: &str) -> Result<Net> {
    Net::build(
        tag,
        &["a", "b1", "b2", "c"],
        &[("a", "b1"), ("a", "b2"), ("b1", "c"), ("b2", "c")],
    )
}

/// Starts the diamond with the given ASes for b1 and b2 and c's configuration tweak.
fn start_diamond(
    lab: &mut Net,
    as_b1: u32,
    as_b2: u32,
    tweak_c: impl FnOnce(&mut Config),
) -> Result<()> {
    let mut a = lab.config("a", AS_A)?;
    a.neighbors.push(lab.neighbor("a", "b1", as_b1)?);
    a.neighbors.push(lab.neighbor("a", "b2", as_b2)?);
    announce(&mut a, "10.9.0.0/24");
    lab.start("a", a)?;
    for (b, asn) in [("b1", as_b1), ("b2", as_b2)] {
        let mut c = lab.config(b, asn)?;
        c.neighbors.push(lab.neighbor(b, "a", AS_A)?);
        c.neighbors.push(lab.neighbor(b, "c", AS_C)?);
        lab.start(b, c)?;
    }
    let mut c = lab.config("c", AS_C)?;
    c.neighbors.push(lab.neighbor("c", "b1", as_b1)?);
    c.neighbors.push(lab.neighbor("c", "b2", as_b2)?);
    announce(&mut c, "10.8.0.0/24");
    tweak_c(&mut c);
    lab.start("c", c)?;
    lab.wait_established(&["a", "b1", "b2", "c"])
}

/// c's two next hops for a's prefix.
fn both_legs(lab: &Net) -> Result<BTreeSet<NextHop>> {
    Ok(BTreeSet::from([
        via(lab.addr("b1", "c")?, &lab.ifname("c", "b1")?),
        via(lab.addr("b2", "c")?, &lab.ifname("c", "b2")?),
    ]))
}

/// eBGP a → b1/b2 → c with b1 and b2 in one AS: c installs one multipath route over both, and
/// its Loc-RIB and `fib` answer say so.
fn ecmp_two_paths() -> Result<()> {
    let mut lab = diamond("ecmp")?;
    start_diamond(&mut lab, AS_B, AS_B, |_| {})?;
    let p = net("10.9.0.0/24");
    let want = both_legs(&lab)?;
    let got = lab.wait_route("c", p, "over both paths", CONVERGE, |k| gateways(k) == want)?;
    println!("c: {p} {}", describe(got.as_ref()));
    let e = lab
        .loc_rib("c", p)?
        .ok_or_else(|| anyhow!("{p} not in c's Loc-RIB"))?;
    let states: Vec<PathState> = e.paths.iter().map(|x| x.status).collect();
    ensure!(
        states == vec![PathState::Best, PathState::Multipath],
        "c's paths: {e:?}"
    );
    ensure!(
        e.paths
            .iter()
            .all(|x| x.as_path == format!("{AS_B} {AS_A}")),
        "as paths: {e:?}"
    );
    let fib = lab
        .ctl("c", &Request::Fib { prefix: Some(p) })?
        .fib
        .unwrap_or_default();
    ensure!(
        fib.len() == 1 && fib[0].installed && fib[0].next_hops.len() == 2,
        "c's fib answer: {fib:?}"
    );
    // The originator's route is ours: a has no kernel route of its own for it (announce only),
    // and b1 has a single path.
    let b1 = lab.fib("b1")?;
    ensure!(
        gateways(b1.get(&p).map(|r| &r.kind)).len() == 1,
        "b1: {:?}",
        b1.get(&p)
    );
    Ok(())
}

/// b1 and b2 in different ASes: equal AS_PATH length, different neighbour AS. c uses one path
/// (the other loses on the router id) until restarted with `multipath-relax`.
fn multipath_relax() -> Result<()> {
    let mut lab = diamond("relax")?;
    const AS_B2: u32 = 65004;
    start_diamond(&mut lab, AS_B, AS_B2, |_| {})?;
    let p = net("10.9.0.0/24");
    let b1_leg = via(lab.addr("b1", "c")?, &lab.ifname("c", "b1")?);
    // Both paths must be known before judging the selection.
    wait_until(CONVERGE, POLL, || match lab.loc_rib("c", p) {
        Ok(Some(e)) if e.paths.len() == 2 => Probe::Done(()),
        other => Probe::pending(format!("{other:?}")),
    })
    .map_err(|e| anyhow!("{e}\n{}", lab.all_logs()))?;
    lab.wait_route("c", p, "via b1 only", CONVERGE, |k| {
        gateways(k) == BTreeSet::from([b1_leg.clone()])
    })?;
    let e = lab
        .loc_rib("c", p)?
        .ok_or_else(|| anyhow!("{p} not in c's Loc-RIB"))?;
    let loser = e
        .paths
        .iter()
        .find(|x| x.status != PathState::Best)
        .ok_or_else(|| anyhow!("{e:?}"))?;
    ensure!(
        loser.status == PathState::NotSelected
            && loser.reason.as_deref() == Some("lower router-id"),
        "without relax: {e:?}"
    );
    let mut c = lab.config_of("c")?;
    c.multipath_relax = true;
    lab.start("c", c)?;
    let want = both_legs(&lab)?;
    let got = lab.wait_route("c", p, "over both ASes", CONVERGE, |k| gateways(k) == want)?;
    println!("c with multipath-relax: {p} {}", describe(got.as_ref()));
    Ok(())
}

// ===== loops =====

/// a (AS 65001) → b1 (65002) → c, where c is in a's AS too: c drops the route (its AS is in
/// the AS_PATH, RFC 4271 §9.1.2) until allowas-in 1 is set on its session to b1.
fn as_loop_and_allowas_in() -> Result<()> {
    let mut lab = Net::build("loop", &["a", "b1", "c"], &[("a", "b1"), ("b1", "c")])?;
    let p = net("10.9.0.0/24");
    let mut a = lab.config("a", AS_A)?;
    a.neighbors.push(lab.neighbor("a", "b1", AS_B)?);
    announce(&mut a, "10.9.0.0/24");
    lab.start("a", a)?;
    let mut b = lab.config("b1", AS_B)?;
    b.neighbors.push(lab.neighbor("b1", "a", AS_A)?);
    b.neighbors.push(lab.neighbor("b1", "c", AS_A)?);
    lab.start("b1", b)?;
    let mut c = lab.config("c", AS_A)?;
    c.neighbors.push(lab.neighbor("c", "b1", AS_B)?);
    lab.start("c", c)?;
    lab.wait_established(&["a", "b1", "c"])?;
    let b1_at_c = lab.addr("b1", "c")?;
    let path = wait_until(CONVERGE, POLL, || match lab.loc_rib("c", p) {
        Ok(Some(e)) => match path_from(&e, Some(b1_at_c)) {
            Some(x) => Probe::Done(x.clone()),
            None => Probe::pending(format!("{e:?}")),
        },
        other => Probe::pending(format!("{other:?}")),
    })
    .map_err(|e| anyhow!("{e}\n{}", lab.all_logs()))?;
    ensure!(
        path.status == PathState::Ineligible && path.reason.as_deref() == Some("as-path loop"),
        "c without allowas-in: {path:?}"
    );
    ensure!(
        !lab.fib("c")?.contains(&p),
        "c installed a looped route: {:?}",
        lab.fib("c")?.get(&p)
    );
    let mut c = lab.config_of("c")?;
    for n in &mut c.neighbors {
        n.allowas_in = 1;
    }
    lab.start("c", c)?;
    let leg = via(b1_at_c, &lab.ifname("c", "b1")?);
    lab.wait_route("c", p, "accepted with allowas-in", CONVERGE, |k| {
        gateways(k) == BTreeSet::from([leg.clone()])
    })?;
    Ok(())
}

// ===== default-originate =====

/// a → b1 → c: b1 sends c only a default (default-originate + `default-only`), which c
/// installs via b1; b1 keeps a's route and installs no default itself.
fn default_originate() -> Result<()> {
    let mut lab = Net::build("default", &["a", "b1", "c"], &[("a", "b1"), ("b1", "c")])?;
    let (p, d) = (net("10.9.0.0/24"), net("0.0.0.0/0"));
    let mut a = lab.config("a", AS_A)?;
    a.neighbors.push(lab.neighbor("a", "b1", AS_B)?);
    announce(&mut a, "10.9.0.0/24");
    lab.start("a", a)?;
    let mut b = lab.config("b1", AS_B)?;
    b.neighbors.push(lab.neighbor("b1", "a", AS_A)?);
    let mut down = lab.neighbor("b1", "c", AS_C)?;
    down.default_originate = true;
    down.export_policy = Some(PolicyRef::Named("default-only".to_owned()));
    b.neighbors.push(down);
    lab.start("b1", b)?;
    let mut c = lab.config("c", AS_C)?;
    c.neighbors.push(lab.neighbor("c", "b1", AS_B)?);
    lab.start("c", c)?;
    lab.wait_established(&["a", "b1", "c"])?;
    let leg = via(lab.addr("b1", "c")?, &lab.ifname("c", "b1")?);
    lab.wait_route("c", d, "via b1", CONVERGE, |k| {
        gateways(k) == BTreeSet::from([leg.clone()])
    })?;
    let a_leg = via(lab.addr("a", "b1")?, &lab.ifname("b1", "a")?);
    lab.wait_route("b1", p, "via a", CONVERGE, |k| {
        gateways(k) == BTreeSet::from([a_leg.clone()])
    })?;
    let got = lab.received("c")?;
    let prefixes: Vec<IpNet> = got.iter().map(|r| r.prefix).collect();
    ensure!(prefixes == vec![d], "c received {prefixes:?}");
    ensure!(got[0].as_path == AS_B.to_string(), "default: {:?}", got[0]);
    ensure!(!lab.fib("b1")?.contains(&d), "b1 installed its own default");
    ensure!(
        !lab.fib("c")?.contains(&p),
        "c got a's route past default-only"
    );
    Ok(())
}

// ===== dynamic neighbors =====

/// A hub with a listen range (limit 1) and no configured neighbors; spokes s1, s2 dial it.
/// s1 joins (a dynamic peer, its route in the hub's kernel), s2 is refused while s1 holds the
/// only place; s1 leaves (the peer is reaped, its route withdrawn) and s2 takes its place.
fn dynamic_neighbors() -> Result<()> {
    let mut lab = Net::build("dynamic", &["h", "s1", "s2"], &[("h", "s1"), ("h", "s2")])?;
    const AS_H: u32 = 65000;
    let mut h = lab.config("h", AS_H)?;
    let mut range = ListenRange::new(net("10.0.0.0/24"), RemoteAs::External);
    range.limit = 1;
    range.hold_time = HOLD;
    h.listen_ranges.push(range);
    lab.start("h", h)?;
    let (p1, p2) = (net("10.11.0.0/24"), net("10.12.0.0/24"));
    for (s, asn, p) in [
        ("s1", 65011u32, "10.11.0.0/24"),
        ("s2", 65012, "10.12.0.0/24"),
    ] {
        let mut c = lab.config(s, asn)?;
        c.neighbors.push(lab.neighbor(s, "h", AS_H)?);
        announce(&mut c, p);
        if s == "s1" {
            lab.start(s, c)?;
            lab.wait_established(&["s1"])?;
        } else {
            // s1 is in; now s2 tries.
            lab.start(s, c)?;
        }
    }
    let s1_addr = IpAddr::V4(lab.addr("s1", "h")?);
    let s2_addr = IpAddr::V4(lab.addr("s2", "h")?);
    let shown = lab
        .neighbors("h")?
        .into_iter()
        .find(|n| n.address == s1_addr)
        .ok_or_else(|| anyhow!("hub does not show s1"))?;
    ensure!(
        shown.listen_range == Some(net("10.0.0.0/24")) && shown.state == State::Established,
        "hub's dynamic peer: {shown:?}"
    );
    let s1_leg = via(lab.addr("s1", "h")?, &lab.ifname("h", "s1")?);
    lab.wait_route("h", p1, "via s1", CONVERGE, |k| {
        gateways(k) == BTreeSet::from([s1_leg.clone()])
    })?;
    // s2 is refused (the range is full): it sees its connections closed.
    wait_until(CONVERGE, POLL, || match lab.neighbors("s2") {
        Ok(n) if n.iter().any(|x| x.last_error.is_some()) => Probe::Done(()),
        other => Probe::pending(format!("{other:?}")),
    })
    .map_err(|e| anyhow!("s2 never refused: {e}\n{}", lab.all_logs()))?;
    let at_hub: Vec<IpAddr> = lab.neighbors("h")?.iter().map(|n| n.address).collect();
    ensure!(at_hub == vec![s1_addr], "hub over its limit: {at_hub:?}");
    ensure!(!lab.fib("h")?.contains(&p2), "route from a refused peer");

    // s1 leaves: reaped from the hub, its route gone; s2 (still retrying) gets in.
    lab.stop("s1");
    lab.wait_route("h", p1, "withdrawn", CONVERGE, |k| k.is_none())?;
    let s2_leg = via(lab.addr("s2", "h")?, &lab.ifname("h", "s2")?);
    lab.wait_route("h", p2, "via s2", CONVERGE, |k| {
        gateways(k) == BTreeSet::from([s2_leg.clone()])
    })?;
    let at_hub: Vec<IpAddr> = lab.neighbors("h")?.iter().map(|n| n.address).collect();
    ensure!(at_hub == vec![s2_addr], "hub after s1 left: {at_hub:?}");
    Ok(())
}

// ===== fast failover =====

/// The diamond with b1, b2 in one AS: c has a multipath route to a's prefix and a has one to
/// c's. Cutting the b1–c link (b1's end down: c loses carrier) must repair c's route at once —
/// the session to b1 dropped on the link event, not after the 9 s hold timer — and a's route
/// once b1's withdrawal arrives. Times are printed; the asserted bound is the hold time.
fn link_cut_failover() -> Result<()> {
    let mut lab = diamond("failover")?;
    start_diamond(&mut lab, AS_B, AS_B, |_| {})?;
    let (p, q) = (net("10.9.0.0/24"), net("10.8.0.0/24"));
    let both = both_legs(&lab)?;
    lab.wait_route("c", p, "over both paths", CONVERGE, |k| gateways(k) == both)?;
    let a_both = BTreeSet::from([
        via(lab.addr("b1", "a")?, &lab.ifname("a", "b1")?),
        via(lab.addr("b2", "a")?, &lab.ifname("a", "b2")?),
    ]);
    lab.wait_route("a", q, "over both paths", CONVERGE, |k| {
        gateways(k) == a_both
    })?;

    let b2_only = BTreeSet::from([via(lab.addr("b2", "c")?, &lab.ifname("c", "b2")?)]);
    let a_b2_only = BTreeSet::from([via(lab.addr("b2", "a")?, &lab.ifname("a", "b2")?)]);
    let bound = Duration::from_secs(u64::from(HOLD));
    let b1_if = lab.ifname("b1", "c")?;
    let cut = Instant::now();
    lab.lab
        .set_interface_state(&NodeId::from("b1"), &b1_if, LinkState::Down)?;
    lab.wait_route("c", p, "repaired to b2 only", bound, |k| {
        gateways(k) == b2_only
    })?;
    let local = cut.elapsed();
    lab.wait_route("a", q, "repaired to b2 only", bound, |k| {
        gateways(k) == a_b2_only
    })?;
    let remote = cut.elapsed();
    println!(
        "link b1-c cut: c's route repaired after {local:.1?}, a's (one UPDATE away) after {remote:.1?}; hold time {HOLD} s"
    );
    let b1_at_c = IpAddr::V4(lab.addr("b1", "c")?);
    let s = lab
        .neighbors("c")?
        .into_iter()
        .find(|n| n.address == b1_at_c)
        .ok_or_else(|| anyhow!("c lost its neighbor b1"))?;
    ensure!(
        s.state != State::Established
            && s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("interface down")),
        "c's session to b1 after the cut: state {} last error {:?}",
        s.state,
        s.last_error
    );
    ensure!(
        cut.elapsed() < bound,
        "repair took longer than the hold timer ({:.1?})",
        cut.elapsed()
    );
    // The link comes back: ECMP again.
    lab.lab
        .set_interface_state(&NodeId::from("b1"), &b1_if, LinkState::Up)?;
    lab.wait_route("c", p, "over both paths again", CONVERGE, |k| {
        gateways(k) == both
    })?;
    Ok(())
}

// ===== UPDATE grouping and End-of-RIB =====

/// a originates 24 prefixes in two attribute sets (12 with a community, 12 without) to b1 over
/// an IPv4+IPv6 session. On the wire, a's initial table is exactly one UPDATE per attribute set,
/// followed by one End-of-RIB per negotiated family (RFC 4724 §2), nothing announced after.
fn grouping_and_end_of_rib() -> Result<()> {
    let mut lab = Net::build("grouping", &["a", "b1"], &[("a", "b1")])?;
    let link = lab.link("a", "b1")?.clone();
    let capdir = lab.dir.path().join("pcap");
    let ns = lab.lab.netns_path(&link.a.node)?.to_path_buf();
    let capture = Capture::start(
        CaptureConfig::new(&capdir),
        [CaptureTarget::a_end(&link, ns)],
    )?;
    let families = vec![
        fabric_speaker::config::AddressFamily::Ipv4Unicast,
        fabric_speaker::config::AddressFamily::Ipv6Unicast,
    ];
    let mut a = lab.config("a", AS_A)?;
    let mut n = lab.neighbor("a", "b1", AS_B)?;
    n.address_families = families.clone();
    a.neighbors.push(n);
    a.blackhole_prefixes = false;
    let tagged: Vec<IpNet> = (0..12).map(|i| net(&format!("10.20.{i}.0/24"))).collect();
    let plain: Vec<IpNet> = (0..12).map(|i| net(&format!("10.21.{i}.0/24"))).collect();
    a.prefixes = plain.clone();
    for p in &tagged {
        a.originate.push(Originate {
            prefix: *p,
            blackhole: Some(false),
            communities: vec!["65000:7".parse().map_err(|e| anyhow!("{e:?}"))?],
            large_communities: Vec::new(),
            med: None,
        });
    }
    // b1 first, so a's whole table goes out in one go once the session is up.
    let mut b = lab.config("b1", AS_B)?;
    let mut n = lab.neighbor("b1", "a", AS_A)?;
    n.address_families = families;
    n.passive = true;
    b.neighbors.push(n);
    lab.start("b1", b)?;
    lab.start("a", a)?;
    lab.wait_established(&["a", "b1"])?;
    wait_until(CONVERGE, POLL, || match lab.received("b1") {
        Ok(r) if r.len() == 24 => Probe::Done(()),
        Ok(r) => Probe::pending(format!("{} routes", r.len())),
        Err(e) => Probe::pending(e),
    })
    .map_err(|e| anyhow!("{e}\n{}", lab.all_logs()))?;
    drop(capture);
    let file = capdir.join(capture_file_name(&link));
    let (events, _) = decode_capture(&file, link.id)?;
    let a_addr = IpAddr::V4(lab.addr("a", "b1")?);
    let updates: Vec<&fabric_bgp_wire::Update> = events
        .iter()
        .filter(|e| e.src.ip() == a_addr)
        .filter_map(|e| match e.message() {
            Some(Message::Update(u)) => Some(u),
            _ => None,
        })
        .collect();
    let shape: Vec<String> = updates
        .iter()
        .map(|u| match u.is_end_of_rib() {
            Some(af) => format!("EoR {af}"),
            None => format!(
                "{} prefixes, communities {:?}",
                u.nlri.len(),
                u.attributes.communities
            ),
        })
        .collect();
    println!("a's UPDATEs to b1: {shape:?}");
    ensure!(
        updates.len() == 4,
        "expected 2 UPDATEs + 2 End-of-RIB: {shape:?}"
    );
    let mut groups: Vec<(usize, usize)> = updates
        .iter()
        .take(2)
        .map(|u| (u.nlri.len(), u.attributes.communities.len()))
        .collect();
    groups.sort();
    ensure!(groups == vec![(12, 0), (12, 1)], "groups: {shape:?}");
    let eors: BTreeSet<String> = updates
        .iter()
        .skip(2)
        .filter_map(|u| u.is_end_of_rib().map(|af| af.to_string()))
        .collect();
    ensure!(
        eors.len() == 2,
        "one End-of-RIB per family after the table: {shape:?}"
    );
    Ok(())
}

// ===== interop =====

/// Runs a mixed fabric end to end and returns the plan and the artifacts directory (captures).
fn run_fabric(tag: &str, yaml: &str) -> Result<(Plan, tempfile::TempDir)> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("fl-routing-{tag}-"))
        .tempdir()?;
    let topo = dir.path().join(format!("{tag}.yaml"));
    std::fs::write(&topo, yaml)?;
    let plan = topology::load(&topo)?;
    let artifacts = dir.path().join("artifacts");
    let mut opts = RunOptions::new(&topo);
    opts.name = Some(unique_lab_name(tag));
    opts.artifacts = Some(artifacts.clone());
    opts.deadline = Duration::from_secs(60);
    let report = fabriclab::run::run(&opts)?;
    println!("{}", report.render());
    ensure!(
        report.verdict == Verdict::Pass,
        "mixed fabric failed (artifacts kept in {})",
        artifacts.display()
    );
    Ok((plan, dir))
}

/// The UPDATEs `from` sent on the link `from`–`to` carrying `block`, with their reflection
/// attributes.
fn reflected_on_wire(
    plan: &Plan,
    artifacts: &Path,
    from: &str,
    to: &str,
    block: IpNet,
) -> Result<Vec<(Option<RouterId>, Vec<RouterId>)>> {
    let (from, to) = (NodeId::from(from), NodeId::from(to));
    let link = plan
        .links
        .iter()
        .find(|l| (l.a.node == from && l.b.node == to) || (l.a.node == to && l.b.node == from))
        .ok_or_else(|| anyhow!("no link {from} - {to}"))?;
    let (mine, _) = link
        .ends_from(&from)
        .ok_or_else(|| anyhow!("{from} not on the link"))?;
    let src = IpAddr::V4(mine.v4.addr());
    let file = find_file(artifacts, &capture_file_name(link))?;
    let (events, _) = decode_capture(&file, link.id)?;
    Ok(events
        .iter()
        .filter(|e| e.src.ip() == src)
        .filter_map(|e| match e.message() {
            Some(Message::Update(u)) if u.nlri.iter().any(|n| IpNet::V4(n.prefix) == block) => {
                Some((
                    u.attributes.originator_id,
                    u.attributes.cluster_list.clone(),
                ))
            }
            _ => None,
        })
        .collect())
}

fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|f| f == name) {
                return Ok(p);
            }
        }
    }
    bail!("{name} not found under {}", dir.display())
}

fn block_of(plan: &Plan, node: &str) -> Result<(IpNet, RouterId)> {
    let n = plan
        .node(&NodeId::from(node))
        .ok_or_else(|| anyhow!("no node {node}"))?;
    let b = n
        .blocks
        .first()
        .ok_or_else(|| anyhow!("{node} has no block"))?;
    Ok((IpNet::V4(*b), n.router_id))
}

/// AS per rack, rack 1's ToR is the bundled speaker reflecting for an FRR, a BIRD and a bundled
/// client; rack 2 (bundled) and a BIRD spine around it. The fabric must pass every check
/// (FIBs, blackholes, reachability), and the bundled reflector's UPDATEs to the FRR client must
/// carry ORIGINATOR_ID and CLUSTER_LIST for the BIRD client's block.
fn interop_bundled_rr() -> Result<()> {
    let yaml = "name: interop-bundled-rr
design: as-per-rack
pods-per-node: 1
nodes:
  - { name: s1, role: spine, speaker: bird }
  - { name: r1t1, role: tor, rack: 1, speaker: bundled }
  - { name: r2t1, role: tor, rack: 2, speaker: bundled }
  - { name: r1n1, role: node, rack: 1, speaker: frr }
  - { name: r1n2, role: node, rack: 1, speaker: bird }
  - { name: r1n3, role: node, rack: 1, speaker: bundled }
  - { name: r2n1, role: node, rack: 2, speaker: bundled }
links:
  - { a: s1, b: r1t1 }
  - { a: s1, b: r2t1 }
  - { a: r1t1, b: r1n1 }
  - { a: r1t1, b: r1n2 }
  - { a: r1t1, b: r1n3 }
  - { a: r2t1, b: r2n1 }
";
    let (plan, dir) = run_fabric("irr", yaml)?;
    let (block, originator) = block_of(&plan, "r1n2")?;
    let rr = plan
        .node(&NodeId::from("r1t1"))
        .ok_or_else(|| anyhow!("no r1t1"))?;
    let cluster = rr.routing.cluster_id.map_or(rr.router_id, RouterId);
    let seen = reflected_on_wire(&plan, &dir.path().join("artifacts"), "r1t1", "r1n1", block)?;
    ensure!(
        seen.iter()
            .any(|(o, c)| *o == Some(originator) && *c == vec![cluster]),
        "bundled RR to FRR client, {block}: {seen:?} (want originator {originator}, cluster-list [{cluster}])"
    );
    Ok(())
}

/// Rack 1's ToR is FRR reflecting for two bundled clients (and rack 2 has a BIRD node): the
/// fabric passes every check, and FRR's UPDATEs to one bundled client carry the other's block
/// with ORIGINATOR_ID and CLUSTER_LIST.
fn interop_frr_rr() -> Result<()> {
    let yaml = "name: interop-frr-rr
design: as-per-rack
pods-per-node: 1
nodes:
  - { name: s1, role: spine, speaker: bundled }
  - { name: r1t1, role: tor, rack: 1, speaker: frr }
  - { name: r2t1, role: tor, rack: 2, speaker: bundled }
  - { name: r1n1, role: node, rack: 1, speaker: bundled }
  - { name: r1n2, role: node, rack: 1, speaker: bundled }
  - { name: r2n1, role: node, rack: 2, speaker: bird }
links:
  - { a: s1, b: r1t1 }
  - { a: s1, b: r2t1 }
  - { a: r1t1, b: r1n1 }
  - { a: r1t1, b: r1n2 }
  - { a: r2t1, b: r2n1 }
";
    let (plan, dir) = run_fabric("ifrr", yaml)?;
    let (block, originator) = block_of(&plan, "r1n2")?;
    let seen = reflected_on_wire(&plan, &dir.path().join("artifacts"), "r1t1", "r1n1", block)?;
    ensure!(
        seen.iter()
            .any(|(o, c)| *o == Some(originator) && !c.is_empty()),
        "FRR RR to bundled client, {block}: {seen:?} (want originator {originator} and a cluster-list)"
    );
    Ok(())
}
