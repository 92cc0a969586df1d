//! The owner loop: the only place that mutates speaker state.
//!
//! [`run`] binds the BGP listener and the control socket, spawns the edge tasks (listener,
//! control server, signal watcher; see [`crate::messages`] for the diagram) and then loops:
//! wait for the next [`Input`] or the earliest FSM timer deadline, apply it, repeat.
//!
//! For each message on a connection the loop decodes it with the wire crate (using the codec
//! negotiated from both OPENs), turns it into an FSM event, executes the FSM's actions (send
//! OPEN/KEEPALIVE/NOTIFICATION, dial, close, ...) and hands routing work to the
//! [`RouteEngine`] (the RIB seam, see [`engine`]). RFC 7606 actions are applied by the decoder:
//! treat-as-withdraw UPDATEs arrive as withdrawals, discarded attributes are gone, and only
//! session-reset errors reach the FSM (as UpdateMsgErr with the decoder's NOTIFICATION).
//!
//! Collisions (RFC 4271 §6.8): a second connection to a peer whose main FSM is past Active gets
//! its own [`Session`] in the secondary slot; when an OPEN arrives on one of them while the other
//! is in OpenConfirm/Established, [`resolve_collision`] picks the loser, which receives
//! OpenCollisionDump (Cease 6/7). A main FSM that drops while the secondary lives is replaced by
//! it.
//!
//! SIGTERM/SIGINT: ManualStop with Cease/Administrative Shutdown (RFC 8203/9003 communication)
//! on every session, then wait (bounded) until the NOTIFICATIONs are flushed, then return.
//! SIGHUP (or the control socket's `reload`): re-read the configuration file; neighbors and
//! originated prefixes change live (see `Daemon::apply_config`).
//!
//! Kernel events ([`kernel`]): the link/address/route state is read before any session starts
//! and followed afterwards. A link that loses carrier (or is set down or deleted) drops the
//! sessions running over it at once, as a failed TCP connection (no NOTIFICATION can get
//! through), instead of waiting for the hold timer; the RIB repairs the FIB in the same step
//! (fast failover, FRR `bgp fast-external-failover`).
//!
//! Dynamic neighbors: a connection from an unconfigured address inside a `listen-ranges` entry
//! creates a passive peer with the range's settings (up to the range's `limit`); when its
//! session closes the peer is removed, from the RIB too.

pub mod engine;
mod gr_helper;
pub mod kernel;
pub mod open;
pub mod peer;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use fabric_bgp_wire::{
    negotiate, CeaseSubcode, CodecContext, DecodeError, Message, Open, RouteRefresh,
    RouteRefreshSubtype,
};
use ipnet::IpNet;
use tokio::net::TcpStream;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::engine::{KernelEventOutcome, Outgoing, PeerInfo, RouteEngine};
use self::peer::{count, Conn, Link, Peer, Slot};
use crate::config::{Config, Neighbor};
use crate::control::{self, ControlError, Request, Response, RouteDir, Status};
use crate::fib::{FibError, KernelEvent};
use crate::fsm::{
    resolve_collision, Action, CeaseReason, CollisionOutcome, ConnectionView, Direction, Event,
    Identities, Negotiated, Notification, Session, State,
};
use crate::messages::{ConnEnd, ConnId, Input};
use crate::rib::origin::{LocalRoute, LocalRouteKind};
use crate::session::{connection, dial, listener};

/// Capacity of the owner's input queue (readers wait when it is full: natural backpressure).
const INPUT_QUEUE: usize = 1024;

/// How long shutdown waits for NOTIFICATIONs to be flushed and peers to close.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Shutdown communication sent with Cease/Administrative Shutdown (RFC 9003).
pub const SHUTDOWN_COMMUNICATION: &str = "fabric-speaker shutting down";

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The BGP listener could not be bound.
    #[error("failed to listen for BGP on {addr}: {source}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The control socket could not be bound.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// Signal handlers could not be installed.
    #[error("failed to install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The kernel FIB could not be opened or cleaned.
    #[error(transparent)]
    Fib(#[from] FibError),
}

/// Runs the speaker until SIGTERM/SIGINT with the RIB and, when `kernel.enabled`, the kernel
/// FIB (see [`kernel::rib_engine`]). `config_path` is re-read on SIGHUP (and the control
/// socket's `reload`).
pub async fn run(config: Config, config_path: Option<PathBuf>) -> Result<(), DaemonError> {
    let engine = kernel::rib_engine(&config).await?;
    run_with_engine(config, config_path, Box::new(engine)).await
}

/// Runs the speaker with a given route engine until SIGTERM/SIGINT.
pub async fn run_with_engine(
    config: Config,
    config_path: Option<PathBuf>,
    engine: Box<dyn RouteEngine>,
) -> Result<(), DaemonError> {
    // Signal handlers first: a SIGTERM right after readiness must become a clean shutdown.
    let term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let addr = SocketAddr::new(config.listen.address, config.listen.port);
    let bgp = listener::bind(addr).map_err(|source| DaemonError::Listen { addr, source })?;
    let listen = bgp.local_addr().unwrap_or(addr);
    let socket_path = config.control_socket_path();
    let ctl = control::bind(&socket_path)?;

    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    let mut tasks = vec![
        tokio::spawn(listener::accept_loop(bgp, tx.clone())),
        tokio::spawn(control::serve(ctl, tx.clone())),
        tokio::spawn(watch_signals(term, int, hup, tx.clone())),
    ];
    let kernel_state = kernel::subscribe(config.kernel.protocol).await;
    let mut daemon = Daemon::new(config, config_path, listen, tx.clone(), engine);
    if let Some((snapshot, stream)) = kernel_state {
        // Links, addresses and routes known before the first session: next hops resolve and the
        // originated blackholes are installed from the start.
        tracing::debug!(events = snapshot.len(), "kernel state read");
        for ev in &snapshot {
            daemon.on_kernel(ev);
        }
        tasks.push(tokio::spawn(kernel::forward(stream, tx)));
    }
    tracing::info!(
        router_id = %daemon.config.router_id,
        local_as = %daemon.config.local_as,
        %listen,
        control_socket = %socket_path.display(),
        neighbors = daemon.peers.len(),
        "fabric-speaker started"
    );
    daemon.start();
    daemon.run_loop(rx).await;
    for task in tasks {
        task.abort();
    }
    daemon.finish().await;
    let _ = std::fs::remove_file(&socket_path);
    tracing::info!("fabric-speaker stopped");
    Ok(())
}

async fn watch_signals(
    mut term: Signal,
    mut int: Signal,
    mut hup: Signal,
    owner: mpsc::Sender<Input>,
) {
    loop {
        let input = tokio::select! {
            _ = term.recv() => Input::Shutdown { signal: "SIGTERM" },
            _ = int.recv() => Input::Shutdown { signal: "SIGINT" },
            _ = hup.recv() => Input::Reload,
        };
        let stop = matches!(input, Input::Shutdown { .. });
        if owner.send(input).await.is_err() || stop {
            return;
        }
    }
}

/// The owner loop's state.
struct Daemon {
    config: Config,
    config_path: Option<PathBuf>,
    seed_base: u64,
    hostname: String,
    listen: SocketAddr,
    started: Instant,
    peers: BTreeMap<IpAddr, Peer>,
    /// Originated routes from the configuration (run-time announcements are not in here).
    configured_routes: BTreeMap<IpNet, LocalRoute>,
    conn_index: HashMap<ConnId, IpAddr>,
    next_id: u64,
    engine: Box<dyn RouteEngine>,
    owner: mpsc::Sender<Input>,
    closing: Vec<JoinHandle<()>>,
    shutting_down: bool,
}

impl Daemon {
    fn new(
        config: Config,
        config_path: Option<PathBuf>,
        listen: SocketAddr,
        owner: mpsc::Sender<Input>,
        engine: Box<dyn RouteEngine>,
    ) -> Self {
        let mut hostname = config.hostname.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| config.router_id.to_string())
        });
        // The FQDN capability value must fit 255 octets (config validation covers configured
        // names; this covers the system host name).
        let room = 253usize.saturating_sub(config.domain_name.as_ref().map_or(0, String::len));
        while hostname.len() > room {
            hostname.pop();
        }
        let seed_base = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        let peers = config
            .neighbors
            .iter()
            .map(|n| (n.address, make_peer(&config, n, seed_base)))
            .collect();
        let configured_routes = config
            .originated_routes()
            .into_iter()
            .map(|r| (r.prefix, r))
            .collect();
        Daemon {
            config,
            config_path,
            seed_base,
            hostname,
            listen,
            started: Instant::now(),
            peers,
            configured_routes,
            conn_index: HashMap::new(),
            next_id: 0,
            engine,
            owner,
            closing: Vec::new(),
            shutting_down: false,
        }
    }

    /// ManualStart for every neighbor (passive ones wait in Active).
    fn start(&mut self) {
        let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
        for addr in addrs {
            self.feed(addr, Slot::Main, Event::ManualStart);
        }
    }

    async fn run_loop(&mut self, mut rx: mpsc::Receiver<Input>) {
        loop {
            let deadline = self.next_deadline();
            let input = tokio::select! {
                input = rx.recv() => input,
                _ = sleep_until(deadline) => {
                    self.poll_timers();
                    continue;
                }
            };
            match input {
                None => return,
                Some(Input::Shutdown { signal }) => {
                    self.shutdown(signal);
                    return;
                }
                Some(input) => self.on_input(input),
            }
        }
    }

    /// Waits (bounded) for closing connections to flush their last messages.
    async fn finish(&mut self) {
        let tasks = std::mem::take(&mut self.closing);
        if tokio::time::timeout(SHUTDOWN_GRACE, futures::future::join_all(tasks))
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within the shutdown grace period");
        }
    }

    fn on_input(&mut self, input: Input) {
        match input {
            Input::Accepted {
                stream,
                remote,
                local,
            } => self.on_accepted(stream, remote, local),
            Input::Dialed {
                peer,
                attempt,
                result,
            } => self.on_dialed(peer, attempt, result),
            Input::Frame { conn, frame } => self.on_frame(conn, &frame),
            Input::ConnClosed { conn, reason } => self.on_conn_closed(conn, reason),
            Input::Control { request, reply } => self.on_control(request, reply),
            Input::Reload => {
                if let Err(e) = self.reload() {
                    tracing::error!(error = %e, "reload failed; keeping the running configuration");
                }
            }
            Input::Shutdown { signal } => self.shutdown(signal),
            Input::Kernel(ev) => self.on_kernel(&ev),
            Input::KernelResync(events) => {
                let outcome = self.engine.kernel_resync(&events);
                self.apply_kernel_outcome(None, outcome);
            }
        }
    }

    // ===== kernel events =====

    /// A kernel link, address or route changed: the engine re-resolves next hops and repairs
    /// the FIB; sessions over a link that went down are dropped now (fast failover).
    fn on_kernel(&mut self, ev: &KernelEvent) {
        let outcome = self.engine.kernel_event(ev);
        self.apply_kernel_outcome(Some(ev), outcome);
    }

    fn apply_kernel_outcome(&mut self, ev: Option<&KernelEvent>, outcome: KernelEventOutcome) {
        self.send_outputs(outcome.outgoing);
        for addr in outcome.peers_to_drop {
            match ev.and_then(kernel::describe) {
                Some((ifindex, name)) => {
                    tracing::warn!(peer = %addr, ifindex, interface = name.unwrap_or("?"), "link down: dropping the session now (fast failover)")
                }
                None => {
                    tracing::warn!(peer = %addr, "peer no longer on a connected link: dropping the session")
                }
            }
            if let Some(p) = self.peers.get_mut(&addr) {
                p.last_error = Some("interface down (fast failover)".to_owned());
            }
            for slot in [Slot::Secondary, Slot::Main] {
                if self.link_mut(addr, slot).is_some_and(|l| l.conn.is_some()) {
                    self.feed(addr, slot, Event::TcpConnectionFails);
                }
            }
        }
    }

    // ===== configuration reload =====

    /// Re-reads the configuration file and applies neighbor and prefix changes.
    fn reload(&mut self) -> Result<(), String> {
        let Some(path) = self.config_path.clone() else {
            return Err("no configuration file to reload".into());
        };
        let new = Config::load(&path).map_err(|e| e.to_string())?;
        tracing::info!(path = %path.display(), "reloading configuration");
        self.apply_config(new);
        Ok(())
    }

    /// Applies a new configuration. Neighbors removed get Cease/Peer De-configured (6/3),
    /// changed ones Cease/Other Configuration Change (6/6) and start again with the new
    /// settings, new ones start; originated prefixes follow `prefixes` (run-time announce and
    /// withdraw are forgotten). Process-wide settings need a restart and are ignored.
    fn apply_config(&mut self, new: Config) {
        let old = &self.config;
        let global_change = new.router_id != old.router_id
            || new.local_as != old.local_as
            || new.listen != old.listen
            || new.control_socket != old.control_socket
            || new.graceful_restart != old.graceful_restart
            || new.hostname != old.hostname
            || new.domain_name != old.domain_name
            || new.log_format != old.log_format
            || new.log_level != old.log_level
            || new.max_paths != old.max_paths
            || new.multipath_relax != old.multipath_relax
            || new.cluster_id != old.cluster_id
            || new.ebgp_requires_policy != old.ebgp_requires_policy
            || new.kernel != old.kernel;
        if global_change {
            tracing::warn!("process-wide settings changed: they take effect after a restart");
        }
        if new.policies != old.policies {
            tracing::info!(
                "policies changed: re-evaluating routes sent, asking peers for theirs again"
            );
            self.config.policies = new.policies.clone();
            let out = self.engine.set_policies(new.policy_book());
            self.send_outputs(out);
            self.request_refresh_all();
        }
        let old_neighbors: BTreeMap<IpAddr, Neighbor> = self
            .config
            .neighbors
            .iter()
            .map(|n| (n.address, n.clone()))
            .collect();
        let new_neighbors: BTreeMap<IpAddr, Neighbor> = new
            .neighbors
            .iter()
            .map(|n| (n.address, n.clone()))
            .collect();
        self.config.neighbors = new.neighbors.clone();
        self.config.prefixes = new.prefixes.clone();
        self.config.originate = new.originate.clone();
        self.config.blackhole_prefixes = new.blackhole_prefixes;
        self.config.listen_ranges = new.listen_ranges.clone();
        for (addr, old_n) in &old_neighbors {
            match new_neighbors.get(addr) {
                None => {
                    tracing::info!(peer = %addr, "neighbor removed");
                    self.stop_peer(*addr, CeaseReason::PeerDeconfigured);
                    self.peers.remove(addr);
                }
                Some(new_n) if new_n != old_n => {
                    tracing::info!(peer = %addr, "neighbor changed: restarting its session");
                    self.stop_peer(*addr, CeaseReason::OtherConfigurationChange);
                    self.peers.remove(addr);
                }
                Some(_) => {}
            }
        }
        for (addr, n) in &new_neighbors {
            if self
                .peers
                .get(addr)
                .is_some_and(|p| p.listen_range.is_some())
            {
                // A dynamic peer at a now-configured address makes room for the neighbor.
                tracing::info!(peer = %addr, "dynamic peer replaced by a configured neighbor");
                self.stop_peer(*addr, CeaseReason::OtherConfigurationChange);
                self.remove_peer(*addr);
            }
            if !self.peers.contains_key(addr) {
                tracing::info!(peer = %addr, "neighbor added");
                self.peers
                    .insert(*addr, make_peer(&self.config, n, self.seed_base));
                self.feed(*addr, Slot::Main, Event::ManualStart);
            }
        }
        let want: BTreeMap<IpNet, LocalRoute> = new
            .originated_routes()
            .into_iter()
            .map(|r| (r.prefix, r))
            .collect();
        let have: BTreeSet<IpNet> = self.engine.originated().into_iter().collect();
        for prefix in have.iter().filter(|p| !want.contains_key(p)) {
            let out = self.engine.withdraw_originated(*prefix);
            self.send_outputs(out);
        }
        for (prefix, route) in &want {
            if have.contains(prefix) && self.configured_routes.get(prefix) == Some(route) {
                continue;
            }
            let out = self.engine.originate_route(route.clone());
            self.send_outputs(out);
        }
        self.configured_routes = want;
    }

    /// Asks every Established peer that supports it to send its routes again (RFC 2918), so
    /// changed import policies apply to what it already sent.
    fn request_refresh_all(&mut self) {
        let targets: Vec<(IpAddr, Slot, Vec<fabric_bgp_wire::AfiSafi>)> = self
            .peers
            .iter()
            .filter_map(|(a, p)| {
                let slot = p.established_slot()?;
                let c = p.link(slot)?.conn.as_ref()?;
                c.codec
                    .route_refresh
                    .then(|| (*a, slot, c.codec.families.clone()))
            })
            .collect();
        for (addr, slot, families) in targets {
            for afi_safi in families {
                let rr = RouteRefresh {
                    afi_safi,
                    subtype: RouteRefreshSubtype::Request,
                };
                self.send(addr, slot, &Message::RouteRefresh(rr));
            }
        }
    }

    /// ManualStop with a Cease on both of a peer's FSMs.
    fn stop_peer(&mut self, addr: IpAddr, reason: CeaseReason) {
        self.stop_peer_with(addr, Notification::cease(reason, ""), true);
    }

    /// ManualStop (stays down) or AutomaticStop (restarts after the idle hold time) with the
    /// given Cease on both of a peer's FSMs.
    fn stop_peer_with(&mut self, addr: IpAddr, cease: Notification, manual: bool) {
        // RFC 8538 §3: with the N bit, a stop must be a Hard Reset or the peer keeps our routes.
        let cease = if manual {
            self.stop_notification(addr, cease)
        } else {
            cease
        };
        for slot in [Slot::Secondary, Slot::Main] {
            if self.link_mut(addr, slot).is_some() {
                let event = if manual {
                    Event::ManualStop(cease.clone())
                } else {
                    Event::AutomaticStop(cease.clone())
                };
                self.feed(addr, slot, event);
            }
        }
    }

    // ===== timers =====

    fn next_deadline(&self) -> Option<Instant> {
        let fsm = self
            .peers
            .values()
            .flat_map(|p| [Some(&p.main), p.secondary.as_ref()])
            .flatten()
            .filter_map(|l| l.fsm.next_deadline())
            .min();
        let engine = self.engine.next_deadline(Instant::now());
        fsm.into_iter()
            .chain(engine)
            .chain(self.gr_next_deadline())
            .min()
    }

    fn poll_timers(&mut self) {
        let now = Instant::now();
        self.gr_poll(now);
        if self.engine.next_deadline(now).is_some_and(|d| d <= now) {
            let out = self.engine.poll(now);
            self.send_outputs(out);
        }
        let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
        for addr in addrs {
            for slot in [Slot::Main, Slot::Secondary] {
                let Some(link) = self.link_mut(addr, slot) else {
                    continue;
                };
                if link.fsm.next_deadline().is_none_or(|d| d > now) {
                    continue;
                }
                let actions = link.fsm.poll_timers(now);
                self.execute(addr, slot, &actions);
                self.reconcile(addr);
            }
        }
    }

    // ===== FSM plumbing =====

    fn link_mut(&mut self, addr: IpAddr, slot: Slot) -> Option<&mut Link> {
        self.peers.get_mut(&addr).and_then(|p| p.link_mut(slot))
    }

    fn conn_mut(&mut self, addr: IpAddr, slot: Slot) -> Option<&mut Conn> {
        self.link_mut(addr, slot).and_then(|l| l.conn.as_mut())
    }

    /// Which peer and slot a connection belongs to now (slots change on promotion).
    fn lookup(&self, conn: ConnId) -> Option<(IpAddr, Slot)> {
        let addr = *self.conn_index.get(&conn)?;
        let p = self.peers.get(&addr)?;
        [Slot::Main, Slot::Secondary]
            .into_iter()
            .find(|s| {
                p.link(*s)
                    .and_then(|l| l.conn.as_ref())
                    .is_some_and(|c| c.handle.id == conn)
            })
            .map(|s| (addr, s))
    }

    /// Gives an event to one FSM, carries out its actions and tidies up the slots.
    fn feed(&mut self, addr: IpAddr, slot: Slot, event: Event) -> Vec<Action> {
        let now = Instant::now();
        let Some(link) = self.link_mut(addr, slot) else {
            return Vec::new();
        };
        let actions = link.fsm.handle(event, now);
        self.execute(addr, slot, &actions);
        self.reconcile(addr);
        actions
    }

    fn execute(&mut self, addr: IpAddr, slot: Slot, actions: &[Action]) {
        for action in actions {
            match action {
                Action::Connect => self.start_dial(addr),
                Action::Disconnect => self.disconnect(addr, slot),
                Action::SendOpen => self.send_open(addr, slot),
                Action::SendKeepalive => self.send(addr, slot, &Message::Keepalive),
                Action::SendNotification(n) => self.send_notification(addr, slot, n),
                Action::StartTimer(timer, d) => {
                    tracing::trace!(peer = %addr, ?timer, ?d, "timer started")
                }
                Action::StopTimer(timer) => tracing::trace!(peer = %addr, ?timer, "timer stopped"),
                Action::StateChange { from, to } => {
                    tracing::info!(peer = %addr, ?slot, %from, %to, "BGP state change")
                }
                Action::Established(n) => self.on_established(addr, slot, *n),
                Action::SessionDown => self.on_session_down(addr, gr_helper::down_cause(actions)),
                Action::ProcessUpdate | Action::ProcessRouteRefresh => {}
            }
        }
    }

    /// After an FSM step: a secondary that went Idle is dropped; a main that went Idle while a
    /// secondary lives is replaced by it (RFC 4271 §6.8: the surviving connection carries on).
    fn reconcile(&mut self, addr: IpAddr) {
        let mut to_close = Vec::new();
        if let Some(p) = self.peers.get_mut(&addr) {
            if p.secondary
                .as_ref()
                .is_some_and(|s| s.fsm.state() == State::Idle)
            {
                if let Some(s) = p.secondary.take() {
                    p.past_established += s.fsm.established_count();
                    to_close.extend(s.conn);
                }
            }
            if p.main.fsm.state() == State::Idle {
                if let Some(mut s) = p.secondary.take() {
                    s.fsm.promote();
                    let old = std::mem::replace(&mut p.main, s);
                    p.past_established += old.fsm.established_count();
                    to_close.extend(old.conn);
                    tracing::debug!(peer = %addr, "secondary connection promoted");
                }
            }
        }
        for conn in to_close {
            self.close_conn(conn);
        }
        // A dynamic peer lives as long as its session: once back in Idle it is reaped (it
        // never dials, so it could only wait for the next connection, which recreates it).
        // While the graceful-restart helper keeps its routes stale it stays, so that its
        // return refreshes them in place (RFC 4724 §4.2); `gr_poll` reaps it when they go.
        let reap = self.peers.get(&addr).is_some_and(|p| {
            p.listen_range.is_some() && p.main.fsm.state() == State::Idle && p.secondary.is_none()
        });
        let retained = self
            .peers
            .get(&addr)
            .is_some_and(|p| !p.gr.stale_families().is_empty());
        if reap && retained {
            tracing::info!(peer = %addr, "dynamic neighbor kept while its routes are stale (graceful restart)");
        } else if reap {
            tracing::info!(peer = %addr, "dynamic neighbor removed (session closed)");
            self.remove_peer(addr);
        }
    }

    fn close_conn(&mut self, conn: Conn) {
        self.conn_index.remove(&conn.handle.id);
        self.closing.retain(|t| !t.is_finished());
        self.closing.extend(conn.handle.close());
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    // ===== actions =====

    fn start_dial(&mut self, addr: IpAddr) {
        let attempt = self.next_id();
        let listen = self.listen.ip();
        let owner = self.owner.clone();
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let remote = SocketAddr::new(addr, p.neighbor.port);
        let source = p.source_address(listen);
        tracing::debug!(peer = %addr, %remote, ?source, "connecting");
        p.dial = Some(dial::spawn(addr, attempt, remote, source, owner));
    }

    fn disconnect(&mut self, addr: IpAddr, slot: Slot) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if slot == Slot::Main {
            p.dial = None;
        }
        if let Some(conn) = p.link_mut(slot).and_then(|l| l.conn.take()) {
            self.close_conn(conn);
        }
    }

    fn send(&mut self, addr: IpAddr, slot: Slot, msg: &Message) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if let Err(e) = p.send(slot, msg) {
            tracing::error!(peer = %addr, error = %e, "failed to encode message");
        }
    }

    fn send_open(&mut self, addr: IpAddr, slot: Slot) {
        let Some(p) = self.peers.get(&addr) else {
            return;
        };
        let mut restart = self.engine.open_flags();
        // F bit (RFC 4724 §3): a session reset of a running process (a TCP failure, an RFC 8538
        // NOTIFICATION) loses no forwarding state, so only the first session with a peer after
        // a start can carry F=0; otherwise the helper would flush what it kept (§4.2).
        if !restart.restart_state && p.established_transitions() > 0 {
            restart.forwarding.extend(p.neighbor.afi_safis());
        }
        let caps = open::local_capabilities(&self.config, &p.neighbor, &self.hostname, &restart);
        let msg = Open::new(
            self.config.local_as,
            p.neighbor.hold_time,
            self.config.router_id,
            caps.clone(),
        );
        if let Some(conn) = self.conn_mut(addr, slot) {
            conn.local_caps = caps;
        }
        self.send(addr, slot, &Message::Open(msg));
    }

    fn send_notification(&mut self, addr: IpAddr, slot: Slot, n: &Notification) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if p.link(slot).is_some_and(|l| l.conn.is_some()) {
            tracing::warn!(peer = %addr, notification = %n, "sending NOTIFICATION");
            p.last_tx_notification = Some((n.clone(), Instant::now()));
            p.last_error = Some(format!("sent NOTIFICATION {n}"));
        }
        let wire = fabric_bgp_wire::Notification::new(
            fabric_bgp_wire::ErrorCode::from_codes(n.code, n.subcode),
            n.data.clone(),
        );
        self.send(addr, slot, &Message::Notification(wire));
    }

    fn on_established(&mut self, addr: IpAddr, slot: Slot, n: Negotiated) {
        let Some(p) = self.peers.get(&addr) else {
            return;
        };
        let Some(conn) = p.link(slot).and_then(|l| l.conn.as_ref()) else {
            return;
        };
        let info = PeerInfo {
            address: addr,
            local_address: conn.local.ip().to_canonical(),
            local_as: self.config.local_as,
            local_id: self.config.router_id,
            peer_as: n.peer_as,
            peer_id: n.peer_id,
            codec: conn.codec.clone(),
            neighbor: p.neighbor.clone(),
            peer_graceful_restart: conn
                .remote_open
                .as_ref()
                .and_then(|o| o.graceful_restart().cloned()),
        };
        tracing::info!(
            peer = %addr,
            peer_as = %n.peer_as,
            peer_id = %n.peer_id,
            hold_time = n.hold_time,
            families = ?info.codec.families,
            "session established"
        );
        let gr = self.gr_before_up(addr, slot);
        let out = self.engine.peer_up(&info);
        self.send_outputs(out);
        self.gr_after_up(addr, gr);
    }

    /// The session left Established: the graceful restart helper decides whether its routes
    /// are kept (RFC 4724 §4.2) or withdrawn.
    fn on_session_down(&mut self, addr: IpAddr, sent: Option<gr_helper::DownCause>) {
        self.gr_session_down(addr, sent);
    }

    /// Sends the engine's UPDATEs to peers that are Established.
    fn send_outputs(&mut self, outputs: Vec<Outgoing>) {
        let now = Instant::now();
        for out in outputs {
            let Some(p) = self.peers.get_mut(&out.peer) else {
                continue;
            };
            let Some(slot) = p.established_slot() else {
                continue;
            };
            let mut sent = 0;
            for update in out.updates {
                sent += p.send_update(slot, update);
            }
            if sent > 0 {
                if let Some(link) = p.link_mut(slot) {
                    // RFC 4271 §8.2.2: an UPDATE sent restarts the KeepaliveTimer. The only
                    // possible actions are timer restarts, which the FSM tracks itself.
                    let _ = link.fsm.handle(Event::UpdateSent, now);
                }
            }
        }
    }

    // ===== inputs =====

    fn on_accepted(&mut self, stream: TcpStream, remote: SocketAddr, local: SocketAddr) {
        let addr = remote.ip().to_canonical();
        if self.shutting_down {
            return;
        }
        if !self.peers.contains_key(&addr) && !self.add_dynamic_peer(addr) {
            return;
        }
        let Some(p) = self.peers.get(&addr) else {
            return;
        };
        let (state, has_conn) = (p.main.fsm.state(), p.main.conn.is_some());
        let has_secondary = p.secondary.is_some();
        let admin_up = p.main.fsm.is_admin_up();
        match state {
            State::Idle if admin_up => {
                // Automatic restart pending: start now, passively, with this connection.
                self.feed(
                    addr,
                    Slot::Main,
                    Event::AutomaticStartWithPassiveTcpEstablishment,
                );
                self.attach(addr, Slot::Main, stream, Direction::Inbound, local, remote);
                self.feed(addr, Slot::Main, Event::TcpConnectionConfirmed);
            }
            State::Connect | State::Active if !has_conn => {
                self.attach(addr, Slot::Main, stream, Direction::Inbound, local, remote);
                self.feed(addr, Slot::Main, Event::TcpConnectionConfirmed);
            }
            State::OpenSent | State::OpenConfirm if !has_secondary => {
                self.start_secondary(addr, stream, Direction::Inbound, local, remote);
            }
            State::Established if self.gr_negotiated(addr) => {
                // RFC 4724 §4.2 (overrides §6.8): the peer restarted and we had not noticed.
                // Close the old connection without a NOTIFICATION, as a TCP failure (its routes
                // are retained), and carry on with the new one.
                tracing::info!(peer = %addr, %remote, "new connection while Established with graceful restart: old connection closed without NOTIFICATION, routes retained");
                if let Some(p) = self.peers.get_mut(&addr) {
                    p.last_error =
                        Some("replaced by a new connection (graceful restart)".to_owned());
                }
                if let Some(slot) = self.peers.get(&addr).and_then(Peer::established_slot) {
                    self.feed(addr, slot, Event::TcpConnectionFails);
                }
                if self
                    .peers
                    .get(&addr)
                    .is_some_and(|p| p.established_slot().is_none())
                {
                    self.on_accepted(stream, remote, local);
                }
            }
            State::Established => {
                // RFC 4271 §6.8: a collision with an Established session closes the new one.
                tracing::info!(%remote, "connection while Established: closed with Cease 6/7");
                let id = self.next_id();
                let handle = connection::spawn(id, stream, self.owner.clone());
                let cease = fabric_bgp_wire::Notification::cease(
                    CeaseSubcode::ConnectionCollisionResolution,
                    "",
                );
                if let Ok(bytes) = Message::Notification(cease).encode(&CodecContext::default()) {
                    if handle.send(bytes) {
                        if let Some(p) = self.peers.get_mut(&addr) {
                            count(
                                &mut p.stats.sent,
                                fabric_bgp_wire::MessageType::Notification,
                            );
                        }
                    }
                }
                self.closing.extend(handle.close());
            }
            _ => tracing::info!(%remote, %state, "extra connection refused"),
        }
    }

    fn on_dialed(&mut self, addr: IpAddr, attempt: u64, result: Result<TcpStream, String>) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if p.dial.as_ref().map(|d| d.attempt) != Some(attempt) {
            return; // A stale attempt: the stream (if any) is dropped, which closes it.
        }
        p.dial = None;
        let (state, has_conn, has_secondary) = (
            p.main.fsm.state(),
            p.main.conn.is_some(),
            p.secondary.is_some(),
        );
        match result {
            Err(e) => {
                tracing::debug!(peer = %addr, error = %e, "connection attempt failed");
                if state == State::Connect && !has_conn {
                    p.last_error = Some(e);
                    self.feed(addr, Slot::Main, Event::TcpConnectionFails);
                }
            }
            Ok(stream) => {
                let (Ok(local), Ok(remote)) = (stream.local_addr(), stream.peer_addr()) else {
                    return;
                };
                if self.shutting_down {
                    return;
                }
                match state {
                    State::Connect | State::Active if !has_conn => {
                        self.attach(addr, Slot::Main, stream, Direction::Outbound, local, remote);
                        self.feed(addr, Slot::Main, Event::TcpCrAcked);
                    }
                    State::OpenSent | State::OpenConfirm if !has_secondary => {
                        self.start_secondary(addr, stream, Direction::Outbound, local, remote);
                    }
                    _ => {}
                }
            }
        }
    }

    /// A connection from an unconfigured address: create a dynamic peer if a listen range
    /// covers it and has room. Returns whether the peer now exists.
    fn add_dynamic_peer(&mut self, addr: IpAddr) -> bool {
        let Some(range) = self.config.listen_range(addr).cloned() else {
            tracing::info!(peer = %addr, "connection from an unconfigured address refused");
            return false;
        };
        let active = self
            .peers
            .values()
            .filter(|p| p.listen_range == Some(range.prefix))
            .count();
        if u32::try_from(active).unwrap_or(u32::MAX) >= range.limit {
            tracing::warn!(peer = %addr, range = %range.prefix, limit = range.limit, "listen range full: connection refused");
            return false;
        }
        let n = range.neighbor(addr);
        let mut peer = make_peer(&self.config, &n, self.seed_base);
        peer.listen_range = Some(range.prefix);
        self.peers.insert(addr, peer);
        tracing::info!(peer = %addr, range = %range.prefix, "dynamic neighbor created");
        // Passive: waits in Active for this very connection.
        self.feed(addr, Slot::Main, Event::ManualStart);
        true
    }

    /// Forgets a peer entirely (its connections closed, its routes gone from the RIB).
    fn remove_peer(&mut self, addr: IpAddr) {
        let Some(p) = self.peers.remove(&addr) else {
            return;
        };
        let conns = [Some(p.main), p.secondary]
            .into_iter()
            .flatten()
            .filter_map(|l| l.conn);
        for conn in conns {
            self.close_conn(conn);
        }
        self.engine.peer_removed(addr);
    }

    /// A second connection while the main FSM is in OpenSent/OpenConfirm (RFC 4271 §6.8).
    fn start_secondary(
        &mut self,
        addr: IpAddr,
        stream: TcpStream,
        direction: Direction,
        local: SocketAddr,
        remote: SocketAddr,
    ) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let fsm = Session::new_secondary(p.main.fsm.config().clone());
        p.secondary = Some(Link { fsm, conn: None });
        tracing::info!(peer = %addr, ?direction, "second connection: tracking for collision detection");
        self.feed(
            addr,
            Slot::Secondary,
            Event::ManualStartWithPassiveTcpEstablishment,
        );
        self.attach(addr, Slot::Secondary, stream, direction, local, remote);
        let event = match direction {
            Direction::Inbound => Event::TcpConnectionConfirmed,
            Direction::Outbound => Event::TcpCrAcked,
        };
        self.feed(addr, Slot::Secondary, event);
    }

    fn attach(
        &mut self,
        addr: IpAddr,
        slot: Slot,
        stream: TcpStream,
        direction: Direction,
        local: SocketAddr,
        remote: SocketAddr,
    ) {
        let id = self.next_id();
        let handle = connection::spawn(id, stream, self.owner.clone());
        // A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6 addresses.
        let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
        let (local, remote) = (canonical(local), canonical(remote));
        let Some(link) = self.link_mut(addr, slot) else {
            self.closing.extend(handle.close());
            return;
        };
        let conn = Conn {
            handle,
            direction,
            local,
            remote,
            codec: CodecContext::default(),
            local_caps: Vec::new(),
            remote_open: None,
        };
        if let Some(old) = link.conn.replace(conn) {
            self.close_conn(old);
        }
        self.conn_index.insert(id, addr);
        tracing::debug!(peer = %addr, %local, %remote, ?direction, "TCP connection up");
    }

    fn on_frame(&mut self, conn: ConnId, frame: &[u8]) {
        let Some((addr, slot)) = self.lookup(conn) else {
            return;
        };
        let decoded = match self.conn_mut(addr, slot) {
            Some(c) => Message::decode_with_errors(frame, &c.codec),
            None => return,
        };
        let (msg, errors) = match decoded {
            Ok(ok) => ok,
            Err(e) => return self.decode_failed(addr, slot, &e),
        };
        if let Some(p) = self.peers.get_mut(&addr) {
            count(&mut p.stats.received, msg.msg_type());
        }
        for e in &errors {
            tracing::warn!(peer = %addr, error = %e, "UPDATE error handled per RFC 7606");
        }
        match msg {
            Message::Open(o) => self.on_open(conn, addr, slot, o),
            Message::Update(u) => {
                let actions = self.feed(addr, slot, Event::UpdateMsg);
                if actions.contains(&Action::ProcessUpdate) {
                    let eor = u.is_end_of_rib();
                    if let Some(af) = eor {
                        tracing::debug!(peer = %addr, family = %af, "End-of-RIB received");
                    }
                    let out = self.engine.update_received(addr, u);
                    self.send_outputs(out);
                    if let Some(af) = eor {
                        self.gr_end_of_rib(addr, af);
                    }
                }
            }
            Message::Notification(n) => {
                let n = Notification::new(n.code.code(), n.code.subcode(), n.data);
                tracing::warn!(peer = %addr, notification = %n, "NOTIFICATION received");
                if let Some(p) = self.peers.get_mut(&addr) {
                    p.last_error = Some(format!("received NOTIFICATION {n}"));
                    p.last_rx_notification = Some((n.clone(), Instant::now()));
                    p.rx_notification = Some((n.code, n.subcode));
                }
                // Event 24 is a NOTIFICATION reporting a version error (RFC 4271 §8.1.5).
                let event = if (n.code, n.subcode) == (2, 1) {
                    Event::NotifMsgVerErr
                } else {
                    Event::NotifMsg(n)
                };
                self.feed(addr, slot, event);
                if let Some(p) = self.peers.get_mut(&addr) {
                    p.rx_notification = None;
                }
            }
            Message::Keepalive => {
                self.feed(addr, slot, Event::KeepAliveMsg);
            }
            Message::RouteRefresh(r) => self.on_route_refresh(addr, slot, r),
        }
    }

    /// A message that must reset the session: its NOTIFICATION goes out through the FSM.
    fn decode_failed(&mut self, addr: IpAddr, slot: Slot, e: &DecodeError) {
        tracing::warn!(peer = %addr, error = %e, "malformed message");
        let n = Notification::new(e.code_byte(), e.subcode_byte(), e.data.clone());
        let event = match n.code {
            2 => Event::BgpOpenMsgErr(n),
            3 => Event::UpdateMsgErr(n),
            _ => Event::BgpHeaderErr(n),
        };
        self.feed(addr, slot, event);
    }

    fn on_open(&mut self, conn: ConnId, addr: IpAddr, slot: Slot, o: Open) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let Some(this) = p.link_mut(slot) else { return };
        let this_view = ConnectionView {
            state: this.fsm.state(),
            direction: this
                .conn
                .as_ref()
                .map_or(Direction::Inbound, |c| c.direction),
        };
        if let Some(c) = this.conn.as_mut() {
            c.remote_open = Some(o.clone());
        }
        // Collision detection (RFC 4271 §6.8) against the other connection, if it has seen an
        // OPEN already.
        let other = p.link(slot.other()).and_then(|l| {
            let c = l.conn.as_ref()?;
            matches!(l.fsm.state(), State::OpenConfirm | State::Established).then_some(
                ConnectionView {
                    state: l.fsm.state(),
                    direction: c.direction,
                },
            )
        });
        if let Some(existing) = other {
            let ids = Identities {
                local_id: self.config.router_id,
                remote_id: o.router_id,
                local_as: self.config.local_as,
                remote_as: o.effective_asn(),
            };
            let outcome = resolve_collision(ids, existing, this_view);
            tracing::info!(peer = %addr, ?outcome, "connection collision resolved");
            match outcome {
                CollisionOutcome::CloseNew => {
                    self.feed(addr, slot, Event::OpenCollisionDump);
                    return;
                }
                CollisionOutcome::CloseExisting => {
                    self.feed(addr, slot.other(), Event::OpenCollisionDump);
                }
            }
        }
        // The slot may have changed (promotion) above.
        let Some((addr, slot)) = self.lookup(conn) else {
            return;
        };
        self.feed(addr, slot, Event::BgpOpen(open::peer_open(&o)));
        // Once the OPEN is accepted, later messages on this connection are decoded with the
        // negotiated codec (4-octet AS, families, ADD-PATH, extended next hop).
        let Some((addr, slot)) = self.lookup(conn) else {
            return;
        };
        let local_as = self.config.local_as;
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let Some(link) = p.link_mut(slot) else { return };
        if link.fsm.state() != State::OpenConfirm {
            return;
        }
        let Some(c) = link.conn.as_mut() else { return };
        c.codec = negotiate(
            &c.local_caps,
            &o.capabilities,
            o.effective_asn() == local_as,
        );
        p.negotiated = Some(open::negotiated_view(&c.local_caps, &o, &c.codec));
        p.peer_hostname = o.hostname().map(str::to_owned);
    }

    fn on_route_refresh(&mut self, addr: IpAddr, slot: Slot, r: RouteRefresh) {
        let actions = self.feed(addr, slot, Event::RouteRefreshMsg);
        if !actions.contains(&Action::ProcessRouteRefresh)
            || r.subtype != RouteRefreshSubtype::Request
        {
            // BoRR/EoRR from the peer mark its own re-advertisement; the placeholder engine
            // needs no stale marking (RFC 7313 §4), unknown subtypes are ignored (§5).
            return;
        }
        let Some(codec) = self.conn_mut(addr, slot).map(|c| c.codec.clone()) else {
            return;
        };
        if !codec.families.contains(&r.afi_safi) {
            // RFC 2918 §4: ignore a refresh for a family that was not negotiated.
            tracing::debug!(peer = %addr, family = %r.afi_safi, "ROUTE-REFRESH for a family not negotiated: ignored");
            return;
        }
        tracing::info!(peer = %addr, family = %r.afi_safi, "ROUTE-REFRESH: re-sending Adj-RIB-Out");
        let out = self.engine.route_refresh(addr, r.afi_safi);
        let enhanced = codec.enhanced_route_refresh;
        if enhanced {
            let borr = RouteRefresh {
                afi_safi: r.afi_safi,
                subtype: RouteRefreshSubtype::BeginningOfRefresh,
            };
            self.send(addr, slot, &Message::RouteRefresh(borr));
        }
        self.send_outputs(out);
        if enhanced {
            let eorr = RouteRefresh {
                afi_safi: r.afi_safi,
                subtype: RouteRefreshSubtype::EndOfRefresh,
            };
            self.send(addr, slot, &Message::RouteRefresh(eorr));
        }
    }

    fn on_conn_closed(&mut self, conn: ConnId, reason: ConnEnd) {
        let Some((addr, slot)) = self.lookup(conn) else {
            return;
        };
        let error = match reason {
            ConnEnd::Framing(e) => return self.decode_failed(addr, slot, &e),
            ConnEnd::Eof => "connection closed by peer".to_owned(),
            ConnEnd::Io(e) => e,
        };
        tracing::info!(peer = %addr, %error, "TCP connection failed");
        if let Some(p) = self.peers.get_mut(&addr) {
            p.last_error = Some(error);
        }
        self.feed(addr, slot, Event::TcpConnectionFails);
    }

    fn shutdown(&mut self, signal: &str) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        tracing::info!(
            signal,
            "shutting down: Cease/Administrative Shutdown to every peer"
        );
        let cease =
            Notification::cease(CeaseReason::AdministrativeShutdown, SHUTDOWN_COMMUNICATION);
        let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
        for addr in addrs {
            self.stop_peer_with(addr, cease.clone(), true);
        }
    }

    // ===== control socket =====

    fn on_control(&mut self, request: Request, reply: oneshot::Sender<Response>) {
        let response = match request {
            Request::Status => Response {
                ok: true,
                status: Some(self.status()),
                ..Response::default()
            },
            Request::Neighbors { peer } => {
                if peer.is_some_and(|a| !self.peers.contains_key(&a)) {
                    Response::error("no such neighbor")
                } else {
                    let now = Instant::now();
                    let list = self
                        .peers
                        .iter()
                        .filter(|(a, _)| peer.is_none_or(|want| want == **a))
                        .map(|(a, p)| {
                            let mut s = p.status(now, self.engine.prefix_counts(*a));
                            if let Some(h) = s.graceful_restart_helper.as_mut() {
                                (h.stale_routes, h.long_lived_stale_routes) =
                                    self.engine.stale_counts(*a);
                            }
                            s
                        })
                        .collect();
                    Response {
                        ok: true,
                        neighbors: Some(list),
                        ..Response::default()
                    }
                }
            }
            Request::Routes {
                dir: RouteDir::LocRib,
                peer,
                prefix,
            } => Response {
                ok: true,
                rib: Some(self.engine.loc_rib(prefix, peer)),
                ..Response::default()
            },
            Request::Routes { dir, peer, prefix } => {
                let mut routes = self.engine.routes(dir, peer);
                if let Some(p) = prefix {
                    routes.retain(|r| r.prefix == p.trunc());
                }
                Response {
                    ok: true,
                    routes: Some(routes),
                    ..Response::default()
                }
            }
            Request::Fib { prefix } => match self.engine.fib(prefix) {
                Some((fib, pending)) => Response {
                    ok: true,
                    fib: Some(fib),
                    fib_pending: Some(pending),
                    ..Response::default()
                },
                None => Response::error("no kernel FIB (kernel.enabled is false)"),
            },
            Request::Announce { prefix } => {
                tracing::info!(%prefix, "originating prefix (control socket)");
                let mut route = LocalRoute::announce(prefix);
                if self.config.blackhole_prefixes {
                    route.kind = LocalRouteKind::Blackhole;
                }
                let out = self.engine.originate_route(route);
                self.send_outputs(out);
                Response::ok()
            }
            Request::Withdraw { prefix } => {
                tracing::info!(%prefix, "withdrawing originated prefix (control socket)");
                let out = self.engine.withdraw_originated(prefix);
                self.send_outputs(out);
                Response::ok()
            }
            Request::Reset {
                peer,
                communication,
            } if self.peers.contains_key(&peer) => {
                tracing::info!(%peer, "administrative reset (control socket)");
                let text = communication.unwrap_or_default();
                let cease = Notification::cease(CeaseReason::AdministrativeReset, &text);
                self.stop_peer_with(peer, cease, false);
                Response::ok()
            }
            Request::Disable {
                peer,
                communication,
            } if self.peers.contains_key(&peer) => {
                tracing::info!(%peer, "administrative shutdown (control socket)");
                let text = communication.unwrap_or_default();
                let cease = Notification::cease(CeaseReason::AdministrativeShutdown, &text);
                self.stop_peer_with(peer, cease, true);
                Response::ok()
            }
            Request::Enable { peer } if self.peers.contains_key(&peer) => {
                tracing::info!(%peer, "enabled (control socket)");
                self.feed(peer, Slot::Main, Event::ManualStart);
                Response::ok()
            }
            Request::Reset { .. } | Request::Disable { .. } | Request::Enable { .. } => {
                Response::error("no such neighbor")
            }
            Request::Reload => match self.reload() {
                Ok(()) => Response::ok(),
                Err(e) => Response::error(e),
            },
        };
        let _ = reply.send(response);
    }

    fn status(&self) -> Status {
        Status {
            router_id: self.config.router_id,
            local_as: self.config.local_as,
            listen: self.listen,
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_secs: self.started.elapsed().as_secs_f64(),
            neighbors_configured: self.peers.len(),
            neighbors_established: self
                .peers
                .values()
                .filter(|p| p.established_slot().is_some())
                .count(),
            originated: self.engine.originated(),
            shutting_down: self.shutting_down,
            graceful_restart: self.engine.restart_status(Instant::now()),
        }
    }
}

/// A peer in Idle with its FSM seeded from `seed_base` and its address.
fn make_peer(config: &Config, n: &Neighbor, seed_base: u64) -> Peer {
    let mut h = DefaultHasher::new();
    (seed_base, n.address).hash(&mut h);
    let mut peer = Peer::new(
        n.clone(),
        Session::new(n.session_config(config, h.finish())),
    );
    peer.gr = gr_helper::new_helper(&config.graceful_restart);
    peer
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
