//! [`Lab`]: a built fabric, as a guard. Dropping it tears everything down.
//!
//! Build pipeline (each phase batched and, where the kernel allows, parallel):
//!
//! ```text
//!  host        raise the shared neighbour-table limits if the labs need more entries
//!  record      /run/fabriclab/<lab>/{state,plan}.json   (before anything exists: clean can act)
//!  namespaces  W threads: unshare + bind mount; sysctls                       (one per node/pod)
//!  links       1 socket: veth pairs created with both ends in place, named, MTU, a end up
//!  addresses   W threads: setns per namespace; lo + loopbacks, b ends up, /31 + /127, pods,
//!              static routes
//!  record      phase = ready
//! ```
//!
//! A failure in any phase returns [`LabError::Build`] naming every failed step, after tearing
//! down what was built (the partially built `Lab` is dropped). SIGINT/SIGTERM tear down every
//! live lab of the process ([`reaper::install_signal_handler`]); a panic unwinds through `Drop`;
//! SIGKILL leaves an orphaned record for `fabriclab clean`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::os::fd::AsRawFd;

use super::error::LabError;
use super::link::{self, Impairment, LinkEnd, LinkState, VethEnd, CALI_MAC, LO_INDEX};
use super::netlink::{Netlink, Request};
use super::netns::{self, enter, netns_path, open_netns, unshare_and_pin};
use super::ping::{self, PingOutcome};
use super::pod::{self, POD_IFNAME};
use super::reaper::{self, TeardownReport};
use super::registry::{self, LabPhase, LabState, LiveLab};
use super::route;
use super::sysctl;
use crate::topology::{Endpoint, LinkId, LinkPlan, NodeId, NodePlan, Plan, PodPlan};

/// Build phases, reported to [`BuildOptions::progress`] as each one completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuildPhase {
    /// All namespaces exist, with sysctls set and `lo` up.
    Namespaces,
    /// All veth pairs exist (links and pod links).
    Links,
    /// Addresses, pod routes and static routes are in place.
    Addresses,
}

impl BuildPhase {
    /// Lowercase name (`namespaces`, `links`, `addresses`).
    pub fn name(&self) -> &'static str {
        match self {
            BuildPhase::Namespaces => "namespaces",
            BuildPhase::Links => "links",
            BuildPhase::Addresses => "addresses",
        }
    }
}

/// Callback told about build progress (also the hook tests use to fail a build midway).
pub type ProgressFn = Arc<dyn Fn(BuildPhase) + Send + Sync>;

/// How to build a lab.
#[derive(Clone)]
pub struct BuildOptions {
    /// Lab name; defaults to the run id.
    pub name: Option<String>,
    /// The topology file the plan came from (recorded for `fabriclab ls`).
    pub topology: Option<PathBuf>,
    /// Threads for the parallel phases; defaults to the CPU count (2..=8).
    pub workers: Option<usize>,
    /// Called after each phase.
    pub progress: Option<ProgressFn>,
    /// Install the SIGINT/SIGTERM teardown handler (default true).
    pub handle_signals: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            name: None,
            topology: None,
            workers: None,
            progress: None,
            handle_signals: true,
        }
    }
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("name", &self.name)
            .field("topology", &self.topology)
            .field("workers", &self.workers)
            .field("progress", &self.progress.is_some())
            .field("handle_signals", &self.handle_signals)
            .finish()
    }
}

/// A built lab. Owns its namespaces: dropping it tears them down unless [`Lab::keep`] was called
/// (or it was re-attached with [`Lab::open`]).
#[derive(Debug)]
pub struct Lab {
    state: LabState,
    plan: Plan,
    netns: BTreeMap<NodeId, PathBuf>,
    /// When set, `Drop` leaves the lab alone.
    detached: bool,
}

/// Checks that this process can build labs, and prepares `/run/netns`.
pub fn preflight() -> Result<(), LabError> {
    let euid = nix::unistd::geteuid();
    if !euid.is_root() {
        return Err(LabError::NotRoot {
            euid: euid.as_raw(),
        });
    }
    netns::ensure_netns_dir().map_err(|e| LabError::Environment {
        what: format!("cannot prepare {}: {e}", netns::NETNS_RUN_DIR),
        fix: "run on a host where root may mount (not in an unprivileged container)".into(),
    })
}

/// Runs `f` on each item on `workers` dedicated threads (they may enter namespaces: they end
/// afterwards), collecting the failures.
fn parallel<T: Sync>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> Result<(), Vec<String>> + Sync,
) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let workers = workers.clamp(1, items.len().max(1));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut failures = Vec::new();
                    while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if let Err(mut e) = f(item) {
                            failures.append(&mut e);
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["worker thread panicked".into()])
            })
            .collect()
    })
}

fn netlink_failures(r: Result<(), Vec<super::netlink::Failure>>) -> Result<(), Vec<String>> {
    r.map_err(|f| f.iter().map(ToString::to_string).collect())
}

/// A namespace to create: a router/server or a pod.
enum Member<'a> {
    Node(&'a NodePlan),
    Pod(&'a PodPlan),
}

impl Member<'_> {
    fn id(&self) -> &NodeId {
        match self {
            Member::Node(n) => &n.id,
            Member::Pod(p) => &p.id,
        }
    }
}

impl Lab {
    /// Builds `plan` into a new lab. See the module docs for the phases.
    pub fn build(plan: &Plan, opts: BuildOptions) -> Result<Lab, LabError> {
        preflight()?;
        if registry::shutting_down() {
            return Err(LabError::Interrupted);
        }
        let run_id = registry::new_run_id().map_err(|e| LabError::Environment {
            what: format!("cannot read /dev/urandom: {e}"),
            fix: "mount /dev".into(),
        })?;
        let name = opts.name.clone().unwrap_or_else(|| run_id.clone());
        registry::validate_lab_name(&name)?;
        let netns = Self::namespace_map(plan, &run_id, &name)?;
        // Without it, other processes would take the lab for orphaned and `clean` it.
        let owner_start = registry::process_start_time(std::process::id()).ok_or_else(|| {
            LabError::Environment {
                what: "cannot read this process's start time from /proc/self/stat".into(),
                fix: "mount /proc".into(),
            }
        })?;
        let state = LabState {
            lab: name.clone(),
            run_id: run_id.clone(),
            owner_pid: std::process::id(),
            owner_start,
            kept: false,
            phase: LabPhase::Building,
            namespaces: netns
                .values()
                .filter_map(|p| p.file_name().and_then(OsStr::to_str).map(str::to_string))
                .collect(),
            topology: opts.topology.clone(),
            plan_name: plan.name.clone(),
            nodes: plan.nodes.len(),
            links: plan.links.len(),
            pods: plan.pods.len(),
            created_unix: registry::now_unix(),
        };
        Self::ensure_neighbour_capacity(plan)?;
        if opts.handle_signals {
            reaper::install_signal_handler();
        }
        registry::create_state_dir(&name)?;
        registry::register_live(LiveLab {
            name: name.clone(),
            namespaces: netns.values().cloned().collect(),
        });
        // From here on, dropping `lab` (error return, panic) tears down what exists.
        let mut lab = Lab {
            state,
            plan: plan.clone(),
            netns,
            detached: false,
        };
        registry::write_state(&lab.state)?;
        registry::write_plan(&name, plan)?;

        let workers = opts.workers.unwrap_or_else(reaper::default_workers);
        let progress = |p: BuildPhase| {
            if let Some(f) = &opts.progress {
                f(p);
            }
        };
        lab.build_namespaces(workers)?;
        progress(BuildPhase::Namespaces);
        lab.build_links()?;
        progress(BuildPhase::Links);
        lab.build_addresses(workers)?;
        progress(BuildPhase::Addresses);
        lab.state.phase = LabPhase::Ready;
        registry::write_state(&lab.state)?;
        Ok(lab)
    }

    /// Makes the host's shared neighbour tables big enough for every recorded lab plus this one
    /// (see `sysctl::raise_neighbour_limits`): per family, each link end and each pod resolves a
    /// neighbour, with room for link-local next hops and other hosts' entries.
    fn ensure_neighbour_capacity(plan: &Plan) -> Result<(), LabError> {
        const PER_LINK_OR_POD: u64 = 4;
        const HEADROOM: u64 = 1024;
        let others: u64 = registry::list_labs()
            .iter()
            .filter_map(|(_, s)| s.as_ref().ok())
            .map(|s| (s.links + s.pods) as u64)
            .sum();
        let own = (plan.links.len() + plan.pods.len()) as u64;
        let entries = PER_LINK_OR_POD * (others + own) + HEADROOM;
        // The limits exist only in the initial namespace: that of this process's main thread
        // (the calling thread may have entered a lab namespace).
        netns::in_netns(Path::new("/proc/self/ns/net"), move || {
            sysctl::raise_neighbour_limits(entries)
        })
        .and_then(|r| r)
        .map_err(|e| LabError::Environment {
            what: format!("cannot raise the host's neighbour table limits to {entries}: {e}"),
            fix: format!(
                "sysctl -w net.ipv4.neigh.default.gc_thresh3={entries} \
                          net.ipv6.neigh.default.gc_thresh3={entries}"
            ),
        })
    }

    /// Node/pod id -> namespace path, after checking ids are unique and usable in file names.
    fn namespace_map(
        plan: &Plan,
        run_id: &str,
        lab: &str,
    ) -> Result<BTreeMap<NodeId, PathBuf>, LabError> {
        let mut map = BTreeMap::new();
        let mut failures = Vec::new();
        let ids = plan
            .nodes
            .iter()
            .map(|n| &n.id)
            .chain(plan.pods.iter().map(|p| &p.id));
        for id in ids {
            if let Err(reason) = registry::validate_component(id.as_str(), 64) {
                failures.push(format!("node name {id:?} {reason}"));
                continue;
            }
            let path = netns_path(&registry::netns_name(run_id, id.as_str()));
            if map.insert(id.clone(), path).is_some() {
                failures.push(format!("node name {id} is used twice"));
            }
        }
        if failures.is_empty() {
            Ok(map)
        } else {
            Err(LabError::Build {
                lab: lab.to_string(),
                phase: "plan",
                failures,
            })
        }
    }

    fn fail(&self, phase: BuildPhase, failures: Vec<String>) -> Result<(), LabError> {
        if failures.is_empty() {
            Ok(())
        } else {
            Err(LabError::Build {
                lab: self.state.lab.clone(),
                phase: phase.name(),
                failures,
            })
        }
    }

    fn build_namespaces(&self, workers: usize) -> Result<(), LabError> {
        let members: Vec<(Member<'_>, &Path)> = self
            .plan
            .nodes
            .iter()
            .map(Member::Node)
            .chain(self.plan.pods.iter().map(Member::Pod))
            .filter_map(|m| {
                let p = self.netns.get(m.id())?.as_path();
                Some((m, p))
            })
            .collect();
        let failures = parallel(&members, workers, |(member, path)| {
            let id = member.id();
            let err = |e: io::Error| vec![format!("{id}: {e}")];
            {
                let _creating = registry::CREATION.read().unwrap_or_else(|p| p.into_inner());
                if registry::shutting_down() {
                    return Err(vec![format!("{id}: {}", LabError::Interrupted)]);
                }
                unshare_and_pin(path).map_err(err)?;
            }
            // This worker thread is now inside the new namespace.
            let settings = match member {
                Member::Node(_) => sysctl::ROUTER,
                Member::Pod(_) => sysctl::POD,
            };
            sysctl::ProcSysNet::open()
                .and_then(|s| s.write_all(settings))
                .map_err(err)
        });
        self.fail(BuildPhase::Namespaces, failures)
    }

    fn build_links(&self) -> Result<(), LabError> {
        /// One veth pair to create: (namespace, ifname, mac) for each side.
        struct Pair<'a> {
            a: (&'a Path, &'a str, Option<[u8; 6]>),
            b: (&'a Path, &'a str, Option<[u8; 6]>),
            mtu: u32,
            what: String,
        }
        const DEFAULT_POD_MTU: u32 = 1500;
        let mut pairs = Vec::with_capacity(self.plan.links.len() + self.plan.pods.len());
        let mut failures = Vec::new();
        for l in &self.plan.links {
            match (self.netns.get(&l.a.node), self.netns.get(&l.b.node)) {
                (Some(a), Some(b)) => pairs.push(Pair {
                    a: (a, &l.a.ifname, None),
                    b: (b, &l.b.ifname, None),
                    mtu: l.mtu,
                    what: format!(
                        "veth {} {} <-> {} {} ({})",
                        l.a.node, l.a.ifname, l.b.node, l.b.ifname, l.id
                    ),
                }),
                _ => failures.push(format!(
                    "link {}: unknown node {} or {}",
                    l.id, l.a.node, l.b.node
                )),
            }
        }
        for p in &self.plan.pods {
            match (self.netns.get(&p.host), self.netns.get(&p.id)) {
                (Some(h), Some(pn)) => pairs.push(Pair {
                    a: (h, &p.host_ifname, Some(CALI_MAC)),
                    b: (pn, POD_IFNAME, None),
                    mtu: DEFAULT_POD_MTU,
                    what: format!(
                        "veth {} {} <-> pod {} {POD_IFNAME}",
                        p.host, p.host_ifname, p.id
                    ),
                }),
                _ => failures.push(format!("pod {}: unknown host {}", p.id, p.host)),
            }
        }
        self.fail(BuildPhase::Links, failures)?;
        // One socket (namespace irrelevant: both ends name their namespace by fd). Namespace
        // files are opened per chunk, so the fd count stays small at any lab size.
        let mut nl = Netlink::open().map_err(|e| LabError::Build {
            lab: self.state.lab.clone(),
            phase: "links",
            failures: vec![format!("netlink socket: {e}")],
        })?;
        const CHUNK: usize = 256;
        let mut failures = Vec::new();
        for chunk in pairs.chunks(CHUNK) {
            let mut files: HashMap<&Path, File> = HashMap::new();
            for p in chunk {
                for ns in [p.a.0, p.b.0] {
                    if !files.contains_key(ns) {
                        match open_netns(ns) {
                            Ok(f) => {
                                files.insert(ns, f);
                            }
                            Err(e) => failures.push(format!("{}: {e}", p.what)),
                        }
                    }
                }
            }
            let reqs: Vec<Request> = chunk
                .iter()
                .filter_map(|p| {
                    let fa = files.get(p.a.0)?.as_raw_fd();
                    let fb = files.get(p.b.0)?.as_raw_fd();
                    Some(link::veth(
                        VethEnd {
                            ifname: p.a.1,
                            netns_fd: fa,
                            mac: p.a.2,
                        },
                        VethEnd {
                            ifname: p.b.1,
                            netns_fd: fb,
                            mac: p.b.2,
                        },
                        p.mtu,
                        p.what.clone(),
                    ))
                })
                .collect();
            if let Err(mut f) = netlink_failures(nl.run(reqs)) {
                failures.append(&mut f);
            }
        }
        self.fail(BuildPhase::Links, failures)
    }

    fn build_addresses(&self, workers: usize) -> Result<(), LabError> {
        // (endpoint, is the b end: created down, see `link::veth`).
        let mut ends: HashMap<&NodeId, Vec<(&Endpoint, bool)>> = HashMap::new();
        for l in &self.plan.links {
            ends.entry(&l.a.node).or_default().push((&l.a, false));
            ends.entry(&l.b.node).or_default().push((&l.b, true));
        }
        let mut pods_of: HashMap<&NodeId, Vec<&PodPlan>> = HashMap::new();
        for p in &self.plan.pods {
            pods_of.entry(&p.host).or_default().push(p);
        }
        let mut statics: HashMap<&NodeId, Vec<_>> = HashMap::new();
        for s in &self.plan.static_routes {
            statics.entry(&s.node).or_default().push(s);
        }
        let members: Vec<(Member<'_>, &Path)> = self
            .plan
            .nodes
            .iter()
            .map(Member::Node)
            .chain(self.plan.pods.iter().map(Member::Pod))
            .filter_map(|m| {
                let p = self.netns.get(m.id())?.as_path();
                Some((m, p))
            })
            .collect();
        let failures = parallel(&members, workers, |(member, path)| {
            let id = member.id();
            let err = |e: io::Error| vec![format!("{id}: {e}")];
            enter(path).map_err(err)?;
            let mut nl = Netlink::open().map_err(err)?;
            let idx = nl.link_indexes().map_err(err)?;
            let index_of = |ifname: &str| {
                idx.get(ifname)
                    .copied()
                    .ok_or_else(|| vec![format!("{id}: interface {ifname} missing")])
            };
            let mut reqs = vec![link::lo_up(format!("lo up on {id}"))];
            match member {
                Member::Node(n) => {
                    reqs.extend([
                        link::address(
                            LO_INDEX,
                            IpAddr::V4(n.loopback_v4),
                            32,
                            format!("loopback {}/32 on {id}", n.loopback_v4),
                        ),
                        link::address(
                            LO_INDEX,
                            IpAddr::V6(n.loopback_v6),
                            128,
                            format!("loopback {}/128 on {id}", n.loopback_v6),
                        ),
                    ]);
                    for (e, is_b) in ends.get(&n.id).into_iter().flatten() {
                        let i = index_of(&e.ifname)?;
                        if *is_b {
                            reqs.push(link::set_index_up(i, format!("{id} {} up", e.ifname)));
                        }
                        reqs.extend(link::end_addresses(e, i));
                    }
                    let pods = pods_of.get(&n.id).map(Vec::as_slice).unwrap_or_default();
                    let sys = match pods {
                        [] => None,
                        _ => Some(sysctl::ProcSysNet::open().map_err(err)?),
                    };
                    for p in pods {
                        if let Some(sys) = &sys {
                            sys.write_all(&sysctl::calico_host_iface(&p.host_ifname))
                                .map_err(err)?;
                        }
                        reqs.extend(pod::host_side(p, index_of(&p.host_ifname)?));
                    }
                    for s in statics.get(&n.id).into_iter().flatten() {
                        reqs.push(route::static_route(s, &idx).map_err(|e| vec![e])?);
                    }
                }
                Member::Pod(p) => reqs.extend(pod::pod_side(p, index_of(POD_IFNAME)?)),
            }
            netlink_failures(nl.run(reqs))
        });
        self.fail(BuildPhase::Addresses, failures)
    }

    /// Re-attaches to an existing lab (typically one kept by `fabriclab up`). The returned `Lab`
    /// does not tear down on drop; call [`Lab::teardown`] to remove it.
    pub fn open(name: &str) -> Result<Lab, LabError> {
        registry::validate_lab_name(name)?;
        let state = registry::read_state(name)?;
        let plan = registry::read_plan(name)?;
        let netns = plan
            .nodes
            .iter()
            .map(|n| &n.id)
            .chain(plan.pods.iter().map(|p| &p.id))
            .map(|id| {
                (
                    id.clone(),
                    netns_path(&registry::netns_name(&state.run_id, id.as_str())),
                )
            })
            .collect();
        Ok(Lab {
            state,
            plan,
            netns,
            detached: true,
        })
    }

    /// The lab's name.
    pub fn name(&self) -> &str {
        &self.state.lab
    }

    /// The run id in every namespace name.
    pub fn run_id(&self) -> &str {
        &self.state.run_id
    }

    /// The plan the lab was built from.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The lab's on-disk record.
    pub fn state(&self) -> &LabState {
        &self.state
    }

    /// Every node and pod with its namespace path.
    pub fn namespaces(&self) -> impl Iterator<Item = (&NodeId, &Path)> {
        self.netns.iter().map(|(k, v)| (k, v.as_path()))
    }

    /// The namespace of a node or pod (`/run/netns/fl<runid>-<node>`).
    pub fn netns_path(&self, node: &NodeId) -> Result<&Path, LabError> {
        self.netns
            .get(node)
            .map(PathBuf::as_path)
            .ok_or_else(|| LabError::UnknownNode {
                lab: self.state.lab.clone(),
                node: node.clone(),
            })
    }

    fn link(&self, link: LinkId) -> Result<&LinkPlan, LabError> {
        self.plan
            .links
            .iter()
            .find(|l| l.id == link)
            .ok_or(LabError::UnknownLink {
                lab: self.state.lab.clone(),
                link,
            })
    }

    fn op_err(&self, what: String) -> impl FnOnce(io::Error) -> LabError + '_ {
        move |source| LabError::Op {
            lab: self.state.lab.clone(),
            what,
            source,
        }
    }

    /// Runs `f` on a fresh thread inside the namespace of `node`.
    pub fn in_node<T: Send + 'static>(
        &self,
        node: &NodeId,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LabError> {
        let path = self.netns_path(node)?;
        netns::in_netns(path, f).map_err(self.op_err(format!("enter the namespace of {node}")))
    }

    fn command(&self, argv: &[impl AsRef<OsStr>]) -> Result<Command, LabError> {
        let (prog, args) = argv.split_first().ok_or_else(|| LabError::Op {
            lab: self.state.lab.clone(),
            what: "run a command".into(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "empty command line"),
        })?;
        let mut cmd = Command::new(prog);
        cmd.args(args);
        Ok(cmd)
    }

    /// Runs `argv` inside `node`'s namespace and collects its output.
    pub fn exec(&self, node: &NodeId, argv: &[impl AsRef<OsStr>]) -> Result<Output, LabError> {
        let mut cmd = self.command(argv)?;
        self.in_node(node, move || cmd.output())?
            .map_err(self.op_err(format!("run {:?} on {node}", argv_str(argv))))
    }

    /// Runs `argv` inside `node`'s namespace with this process's stdio; returns its exit status.
    pub fn exec_inherit(
        &self,
        node: &NodeId,
        argv: &[impl AsRef<OsStr>],
    ) -> Result<ExitStatus, LabError> {
        let mut cmd = self.command(argv)?;
        self.in_node(node, move || cmd.status())?
            .map_err(self.op_err(format!("run {:?} on {node}", argv_str(argv))))
    }

    /// Spawns `cmd` in `node`'s namespace, in its own process group (see
    /// [`netns::spawn_in_netns`]). It is killed at teardown at the latest.
    pub fn spawn(&self, node: &NodeId, cmd: Command) -> Result<Child, LabError> {
        let path = self.netns_path(node)?;
        netns::spawn_in_netns(path, cmd).map_err(self.op_err(format!("spawn on {node}")))
    }

    /// Sends echo requests from `node` to every target and reports who answered within
    /// `timeout`.
    pub fn ping(
        &self,
        node: &NodeId,
        targets: Vec<IpAddr>,
        timeout: Duration,
    ) -> Result<Vec<PingOutcome>, LabError> {
        self.in_node(node, move || ping::ping_many(&targets, timeout))?
            .map_err(self.op_err(format!("ping from {node}")))
    }

    /// [`Lab::ping`] from many nodes at once (on a pool of threads that enter namespaces).
    pub fn ping_all(
        &self,
        jobs: &[(NodeId, Vec<IpAddr>)],
        timeout: Duration,
    ) -> Result<Vec<(NodeId, Vec<PingOutcome>)>, LabError> {
        // Pinging mostly waits: more threads than cores is fine.
        const THREADS: usize = 32;
        let mut paths = Vec::with_capacity(jobs.len());
        for (n, _) in jobs {
            paths.push(self.netns_path(n)?);
        }
        let results = std::sync::Mutex::new(Vec::with_capacity(jobs.len()));
        let indexed: Vec<usize> = (0..jobs.len()).collect();
        let failures = parallel(&indexed, THREADS, |i| {
            let (Some((node, targets)), Some(path)) = (jobs.get(*i), paths.get(*i)) else {
                return Ok(());
            };
            let err = |e: io::Error| vec![format!("ping from {node}: {e}")];
            enter(path).map_err(err)?;
            let out = ping::ping_many(targets, timeout).map_err(err)?;
            results
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((node.clone(), out));
            Ok(())
        });
        if let Some(first) = failures.first() {
            return Err(LabError::Op {
                lab: self.state.lab.clone(),
                what: "ping".into(),
                source: io::Error::other(first.clone()),
            });
        }
        let mut r = results.into_inner().unwrap_or_else(|p| p.into_inner());
        r.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(r)
    }

    /// Runs one netlink request in `node`'s namespace, built once the interface index of
    /// `ifname` is known.
    fn iface_request(
        &self,
        node: &NodeId,
        ifname: &str,
        what: String,
        build: impl FnOnce(u32) -> Request + Send + 'static,
    ) -> Result<(), LabError> {
        let ifname2 = ifname.to_string();
        let r = self.in_node(node, move || -> io::Result<()> {
            let mut nl = Netlink::open()?;
            let idx = nl.link_indexes()?;
            let i = idx.get(&ifname2).copied().ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no interface {ifname2}"))
            })?;
            nl.run_one(build(i))
        })?;
        r.map_err(self.op_err(what))
    }

    /// Sets an interface of a node or pod up or down.
    pub fn set_interface_state(
        &self,
        node: &NodeId,
        ifname: &str,
        state: LinkState,
    ) -> Result<(), LabError> {
        let what = format!("set {node} {ifname} {state:?}");
        let req = link::set_state(ifname, state, what.clone());
        let r = self.in_node(node, move || Netlink::open()?.run_one(req))?;
        r.map_err(self.op_err(what))
    }

    /// Sets one or both ends of a link up or down (one end down takes the carrier of both away).
    pub fn set_link_state(
        &self,
        link: LinkId,
        end: LinkEnd,
        state: LinkState,
    ) -> Result<(), LabError> {
        let l = self.link(link)?;
        for e in end.select(l) {
            self.set_interface_state(&e.node, &e.ifname, state)?;
        }
        Ok(())
    }

    /// Impairs the egress of an interface with netem (delay, jitter, loss). Without netem in the
    /// kernel only [`Impairment::blackhole`] works (through a dropping `tbf`); anything else is
    /// [`LabError::Unsupported`].
    pub fn impair_interface(
        &self,
        node: &NodeId,
        ifname: &str,
        imp: Impairment,
    ) -> Result<(), LabError> {
        let what = format!("impair {node} {ifname} with {imp:?}");
        let w = what.clone();
        let netem = self.iface_request(node, ifname, what.clone(), move |i| {
            link::impair(i, &imp, true, w)
        });
        match netem {
            Err(LabError::Op { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                // ENOENT "Specified qdisc kind is unknown": no sch_netem in this kernel.
                if !imp.is_blackhole() {
                    return Err(LabError::Unsupported {
                        lab: self.state.lab.clone(),
                        what: format!("{what} (netem)"),
                        hint: format!(
                            "{source}; the kernel lacks CONFIG_NET_SCH_NETEM (try `modprobe \
                             sch_netem`); only Impairment::blackhole() works without it"
                        ),
                    });
                }
                let w = what.clone();
                self.iface_request(node, ifname, what, move |i| link::impair(i, &imp, false, w))
            }
            other => other,
        }
    }

    /// Removes any impairment from an interface (idempotent).
    pub fn clear_interface_impairment(&self, node: &NodeId, ifname: &str) -> Result<(), LabError> {
        let what = format!("clear impairment of {node} {ifname}");
        let w = what.clone();
        match self.iface_request(node, ifname, what, move |i| link::clear_impairment(i, w)) {
            // No qdisc to delete: already clear.
            Err(LabError::Op { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::InvalidInput
                ) && !source.to_string().contains("no interface") =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// Impairs one or both ends of a link (each end's egress).
    pub fn impair(&self, link: LinkId, end: LinkEnd, imp: Impairment) -> Result<(), LabError> {
        let l = self.link(link)?;
        for e in end.select(l) {
            self.impair_interface(&e.node, &e.ifname, imp)?;
        }
        Ok(())
    }

    /// Removes impairments from one or both ends of a link.
    pub fn clear_impairment(&self, link: LinkId, end: LinkEnd) -> Result<(), LabError> {
        let l = self.link(link)?;
        for e in end.select(l) {
            self.clear_interface_impairment(&e.node, &e.ifname)?;
        }
        Ok(())
    }

    /// Detaches the lab from this process: it survives `Drop` and process exit (`fabriclab up`),
    /// until `fabriclab down` or `clean --all`.
    pub fn keep(&mut self) -> Result<(), LabError> {
        self.state.kept = true;
        registry::write_state(&self.state)?;
        registry::unregister_live(&self.state.lab);
        self.detached = true;
        Ok(())
    }

    /// Tears the lab down now: kills every process in its namespaces, deletes the namespaces
    /// (and with them the veths) and its record.
    pub fn teardown(mut self) -> Result<TeardownReport, LabError> {
        self.detached = true;
        reaper::teardown(&self.state.lab, &self.all_namespace_paths())
    }

    fn all_namespace_paths(&self) -> Vec<PathBuf> {
        self.netns.values().cloned().collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        if let Err(e) = reaper::teardown(&self.state.lab, &self.all_namespace_paths()) {
            // Drop cannot return it; `fabriclab clean` removes what is left.
            tracing::error!("{e}");
            eprintln!("fabriclab: {e} (run `fabriclab clean`)");
        }
    }
}

fn argv_str(argv: &[impl AsRef<OsStr>]) -> String {
    argv.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
