//! The [`Capture`] guard: opens one packet socket per link (inside the link's `a` namespace),
//! then reads them all from a single thread running a current-thread tokio runtime, writing one
//! pcapng file per link.
//!
//! ```text
//!  start()/add() (caller thread)            capture thread ("fl-capture")
//!  ─ per namespace: in_netns → open sockets ─▶ Command::Add ─▶ one task per link:
//!  ─ create files                                              AsyncFd<PacketSocket>
//!                                                              readable → drain → LinkWriter
//!  stop() ─ Command::Stop ─────────────────────────────────▶ stop signal → final drain →
//!          ◀──────────── join: Vec<LinkCaptureSummary> ──── statistics block, flush
//! ```
//!
//! One thread with epoll (tokio's reactor) instead of a thread per link: a 1,000-node fabric has
//! thousands of links, and a socket costs one file descriptor and kernel memory only while
//! frames are queued. Sockets are bound before [`Capture::start`] returns, so every frame sent
//! after that (the first SYN and OPEN of each session, if daemons start later) is in the files.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::error::CaptureError;
use super::socket::{is_link_down, PacketSocket};
use super::sys;
use super::writer::{capture_file_name, Frame, LinkWriter, WriterStats};
use crate::lab::netns::in_netns;
use crate::topology::plan::{LinkId, LinkPlan, NodeId};

/// Frames read from one socket before yielding to the other links' tasks.
const BURST: usize = 256;

/// How a capture is bounded and where it writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureConfig {
    /// Directory for the pcapng files (created if missing).
    pub dir: PathBuf,
    /// Bytes kept of each frame. The default keeps whole frames: veth offloads (TSO/GRO) hand
    /// the capture TCP super-frames of up to 64 KiB, and cutting one would leave a hole in the
    /// BGP stream that no later decoding can recover.
    pub snaplen: u32,
    /// Size cap of each file; frames past it are counted, not written.
    pub max_file_bytes: u64,
    /// Kernel receive queue per socket (`SO_RCVBUFFORCE`); overflow is counted as kernel drops.
    pub socket_rcvbuf: usize,
}

impl CaptureConfig {
    /// Default snap length: whole frames, like tcpdump's 262144.
    pub const DEFAULT_SNAPLEN: u32 = 262_144;
    /// Default size cap per file.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
    /// Default kernel receive queue per socket.
    pub const DEFAULT_SOCKET_RCVBUF: usize = 4 * 1024 * 1024;

    /// Defaults, writing into `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CaptureConfig {
            dir: dir.into(),
            snaplen: Self::DEFAULT_SNAPLEN,
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            socket_rcvbuf: Self::DEFAULT_SOCKET_RCVBUF,
        }
    }
}

/// One interface to capture, and where its file goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureTarget {
    pub link: LinkId,
    /// The namespace holding the interface (e.g. `/run/netns/fl1a2b-s1`).
    pub netns: PathBuf,
    /// The interface name inside that namespace.
    pub ifname: String,
    /// Name recorded in the file (`node:ifname`).
    pub label: String,
    /// Free text recorded in the file (the link's two ends).
    pub description: String,
    /// File name inside [`CaptureConfig::dir`].
    pub file_name: String,
}

impl CaptureTarget {
    /// Captures `link` at its `a` end, whose node lives in namespace `netns`. A veth end sees
    /// both directions, so this records the whole link.
    pub fn a_end(link: &LinkPlan, netns: impl Into<PathBuf>) -> Self {
        CaptureTarget {
            link: link.id,
            netns: netns.into(),
            ifname: link.a.ifname.clone(),
            label: format!("{}:{}", link.a.node, link.a.ifname),
            description: format!(
                "{} {}:{} ({}, {}) <-> {}:{} ({}, {})",
                link.id,
                link.a.node,
                link.a.ifname,
                link.a.v4,
                link.a.v6,
                link.b.node,
                link.b.ifname,
                link.b.v4,
                link.b.v6
            ),
            file_name: capture_file_name(link),
        }
    }

    /// One target per link, each at its `a` end; `netns_of` maps a node to its namespace path.
    pub fn for_links<'a>(
        links: impl IntoIterator<Item = &'a LinkPlan>,
        netns_of: impl Fn(&NodeId) -> PathBuf,
    ) -> Vec<CaptureTarget> {
        links
            .into_iter()
            .map(|l| CaptureTarget::a_end(l, netns_of(&l.a.node)))
            .collect()
    }
}

/// What was captured on one link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCaptureSummary {
    pub link: LinkId,
    /// `node:ifname` of the captured end.
    pub label: String,
    /// The pcapng file.
    pub path: PathBuf,
    /// Frames written, bytes, cap drops, truncations.
    #[serde(flatten)]
    pub written: WriterStats,
    /// Frames the kernel dropped because the socket queue was full.
    pub dropped_kernel: u64,
    /// Times the interface went down while captured (ENETDOWN on the socket).
    pub link_down_events: u64,
    /// Why capturing this link ended early, if it did.
    pub error: Option<String>,
}

impl LinkCaptureSummary {
    /// Frames seen but not in the file (size cap or kernel queue overflow).
    pub fn dropped(&self) -> u64 {
        self.written.dropped_cap + self.dropped_kernel
    }
}

/// What a whole capture recorded, one entry per link in link order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureSummary {
    pub dir: PathBuf,
    pub links: Vec<LinkCaptureSummary>,
}

impl CaptureSummary {
    /// Frames lost on all links.
    pub fn total_dropped(&self) -> u64 {
        self.links.iter().map(LinkCaptureSummary::dropped).sum()
    }

    /// Frames written on all links.
    pub fn total_packets(&self) -> u64 {
        self.links.iter().map(|l| l.written.packets).sum()
    }
}

/// A link whose socket is bound and whose file is open, on its way to the capture thread.
struct OpenedLink {
    target: CaptureTarget,
    socket: PacketSocket,
    writer: LinkWriter,
}

enum Command {
    Add(Vec<OpenedLink>),
    Stop,
}

/// A running capture. Stop it with [`Capture::stop`] to get the summary; dropping it also stops
/// it (and flushes every file) but discards the summary.
pub struct Capture {
    config: CaptureConfig,
    tx: mpsc::UnboundedSender<Command>,
    thread: Option<JoinHandle<Vec<LinkCaptureSummary>>>,
    links: BTreeSet<LinkId>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("config", &self.config)
            .field("links", &self.links)
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// Starts capturing `targets`. When this returns, every socket is bound: frames sent from now
    /// on are recorded.
    pub fn start(
        config: CaptureConfig,
        targets: impl IntoIterator<Item = CaptureTarget>,
    ) -> Result<Capture, CaptureError> {
        std::fs::create_dir_all(&config.dir).map_err(|source| CaptureError::Create {
            path: config.dir.clone(),
            source,
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| CaptureError::Thread(format!("failed to build runtime: {e}")))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let snaplen = config.snaplen;
        let thread = std::thread::Builder::new()
            .name("fl-capture".into())
            .spawn(move || runtime.block_on(run(rx, snaplen)))
            .map_err(|e| CaptureError::Thread(format!("failed to spawn: {e}")))?;
        let mut capture = Capture {
            config,
            tx,
            thread: Some(thread),
            links: BTreeSet::new(),
        };
        capture.add(targets)?;
        Ok(capture)
    }

    /// Adds links to a running capture (e.g. links created after the lab was built). Either all
    /// of `targets` are captured when this returns, or none is and the error says which failed.
    pub fn add(
        &mut self,
        targets: impl IntoIterator<Item = CaptureTarget>,
    ) -> Result<(), CaptureError> {
        let mut by_netns: BTreeMap<PathBuf, Vec<CaptureTarget>> = BTreeMap::new();
        let mut new_links = BTreeSet::new();
        for t in targets {
            if self.links.contains(&t.link) || !new_links.insert(t.link) {
                return Err(CaptureError::Duplicate { link: t.link });
            }
            by_netns.entry(t.netns.clone()).or_default().push(t);
        }
        let mut opened = Vec::new();
        let result = self.open_all(by_netns, &mut opened);
        if let Err(e) = result {
            for link in opened {
                let path = link.writer.path().to_path_buf();
                drop(link);
                // Best effort: a half-started capture leaves no empty files behind.
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
        self.tx
            .send(Command::Add(opened))
            .map_err(|_| CaptureError::Thread("the capture thread has stopped".into()))?;
        self.links.extend(new_links);
        Ok(())
    }

    fn open_all(
        &self,
        by_netns: BTreeMap<PathBuf, Vec<CaptureTarget>>,
        opened: &mut Vec<OpenedLink>,
    ) -> Result<(), CaptureError> {
        let rcvbuf = self.config.socket_rcvbuf;
        for (netns, targets) in by_netns {
            let ifnames: Vec<String> = targets.iter().map(|t| t.ifname.clone()).collect();
            let sockets = in_netns(&netns, move || {
                ifnames
                    .iter()
                    .map(|ifname| PacketSocket::open(ifname, rcvbuf))
                    .collect::<Vec<io::Result<PacketSocket>>>()
            })
            .map_err(|source| CaptureError::Netns {
                netns: netns.clone(),
                source,
            })?;
            for (target, socket) in targets.into_iter().zip(sockets) {
                let socket = socket.map_err(|source| CaptureError::Socket {
                    netns: netns.clone(),
                    ifname: target.ifname.clone(),
                    source,
                })?;
                let writer = LinkWriter::create(
                    &self.config.dir.join(&target.file_name),
                    &target.label,
                    &target.description,
                    self.config.snaplen,
                    self.config.max_file_bytes,
                )?;
                opened.push(OpenedLink {
                    target,
                    socket,
                    writer,
                });
            }
        }
        Ok(())
    }

    /// The links being captured.
    pub fn links(&self) -> impl Iterator<Item = LinkId> + '_ {
        self.links.iter().copied()
    }

    /// Stops capturing: reads what is still queued, closes every file, and reports per link.
    ///
    /// Blocks the calling thread until the capture thread has finished (typically well under a
    /// second); from async code call it via `spawn_blocking`.
    pub fn stop(mut self) -> Result<CaptureSummary, CaptureError> {
        let links = self.shutdown()?;
        Ok(CaptureSummary {
            dir: self.config.dir.clone(),
            links,
        })
    }

    fn shutdown(&mut self) -> Result<Vec<LinkCaptureSummary>, CaptureError> {
        let Some(thread) = self.thread.take() else {
            return Ok(Vec::new());
        };
        // A send error means the thread already ended; joining tells why.
        let _ = self.tx.send(Command::Stop);
        let mut links = thread
            .join()
            .map_err(|_| CaptureError::Thread("the capture thread panicked".into()))?;
        links.sort_by_key(|l| l.link);
        Ok(links)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; stop() is the way to see them.
        let _ = self.shutdown();
    }
}

// ===== capture thread =====

thread_local! {
    /// One receive buffer for all links: tasks on the current-thread runtime never read
    /// concurrently, and a snap-length buffer per link would cost 256 KiB times thousands.
    static RECV_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

async fn run(mut rx: mpsc::UnboundedReceiver<Command>, snaplen: u32) -> Vec<LinkCaptureSummary> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut failed = Vec::new();
    let buf_len = usize::try_from(snaplen).unwrap_or(usize::MAX);
    RECV_BUF.with_borrow_mut(|b| b.resize(buf_len, 0));
    // The sender being dropped (the guard dropped without stop) also ends the capture.
    while let Some(Command::Add(links)) = rx.recv().await {
        for link in links {
            match sys::register_readable(link.socket) {
                Ok(fd) => {
                    tasks.spawn(capture_link(link.target, fd, link.writer, stop_rx.clone()));
                }
                Err(e) => failed.push(finish_link(
                    &link.target,
                    link.writer,
                    None,
                    0,
                    Some(format!("failed to register the socket: {e}")),
                )),
            }
        }
    }
    let _ = stop_tx.send(true);
    let mut out = failed;
    let mut sockets = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((summary, socket)) => {
                out.push(summary);
                sockets.push(socket);
            }
            // A panicking task lost its summary; the others still report.
            Err(e) => tracing::error!("capture task failed: {e}"),
        }
    }
    close_all(sockets);
    out
}

/// Closes packet sockets on several threads at once. Closing one waits for an RCU grace period
/// (`packet_release` calls `synchronize_net`), about 10 ms; one after the other, thousands of
/// links would take a minute to stop, while concurrent closes share grace periods.
fn close_all(sockets: Vec<PacketSocket>) {
    const CLOSERS: usize = 64;
    if sockets.len() <= 1 {
        return;
    }
    let per_thread = sockets.len().div_ceil(CLOSERS);
    let mut sockets = sockets;
    std::thread::scope(|scope| {
        while !sockets.is_empty() {
            let chunk: Vec<PacketSocket> = sockets.drain(..per_thread.min(sockets.len())).collect();
            let spawned = std::thread::Builder::new()
                .name("fl-capture-close".into())
                .spawn_scoped(scope, move || {
                    for s in chunk {
                        drop(s);
                    }
                });
            // Without a thread the sockets of this chunk are closed here, one by one.
            if let Err(e) = spawned {
                tracing::debug!("closing packet sockets serially: {e}");
            }
        }
    });
}

/// What one drain of a socket found.
enum Drained {
    /// The queue is empty.
    Empty,
    /// The burst limit was hit; more frames may be queued.
    More,
    /// Capturing this link cannot go on.
    Fatal(String),
}

async fn capture_link(
    target: CaptureTarget,
    fd: AsyncFd<PacketSocket>,
    mut writer: LinkWriter,
    mut stop: watch::Receiver<bool>,
) -> (LinkCaptureSummary, PacketSocket) {
    let mut link_down_events = 0;
    let mut error = None;
    loop {
        tokio::select! {
            ready = fd.readable() => {
                let mut guard = match ready {
                    Ok(g) => g,
                    Err(e) => {
                        error = Some(format!("failed to wait for frames: {e}"));
                        break;
                    }
                };
                match drain(fd.get_ref(), &mut writer, &mut link_down_events) {
                    Drained::Empty => guard.clear_ready(),
                    Drained::More => {}
                    Drained::Fatal(e) => {
                        error = Some(e);
                        break;
                    }
                }
                if let Err(e) = writer.flush() {
                    error = Some(e.to_string());
                    break;
                }
                tokio::task::yield_now().await;
            }
            _ = stop.changed() => break,
        }
    }
    // Whatever the kernel still queues was captured before stop: keep it.
    if error.is_none() {
        loop {
            match drain(fd.get_ref(), &mut writer, &mut link_down_events) {
                Drained::Empty => break,
                Drained::More => {}
                Drained::Fatal(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
    }
    let socket = fd.into_inner();
    let summary = finish_link(&target, writer, Some(&socket), link_down_events, error);
    (summary, socket)
}

fn drain(socket: &PacketSocket, writer: &mut LinkWriter, link_down_events: &mut u64) -> Drained {
    RECV_BUF.with_borrow_mut(|buf| {
        for _ in 0..BURST {
            match socket.recv(buf) {
                Ok(rx) => {
                    let data = buf.get(..rx.captured).unwrap_or(buf.as_slice());
                    let frame = Frame {
                        ts: rx.ts,
                        data,
                        orig_len: rx.orig_len,
                        outgoing: rx.outgoing,
                    };
                    if let Err(e) = writer.write(frame) {
                        return Drained::Fatal(e.to_string());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Drained::Empty,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The interface went down (a link flap or teardown): packet(7) reports it once
                // and keeps the socket working if it comes back.
                Err(e) if is_link_down(&e) => *link_down_events += 1,
                Err(e) => return Drained::Fatal(format!("failed to read a frame: {e}")),
            }
        }
        Drained::More
    })
}

fn finish_link(
    target: &CaptureTarget,
    writer: LinkWriter,
    socket: Option<&PacketSocket>,
    link_down_events: u64,
    mut error: Option<String>,
) -> LinkCaptureSummary {
    let kernel = socket.and_then(|s| s.take_kernel_stats().ok());
    let (k_packets, k_drops) =
        kernel.map_or((0, 0), |k| (u64::from(k.packets), u64::from(k.drops)));
    let path = writer.path().to_path_buf();
    let fallback = writer.stats().clone();
    let written = match writer.finish(now(), k_packets, k_drops) {
        Ok(stats) => stats,
        Err(e) => {
            error.get_or_insert(e.to_string());
            fallback
        }
    };
    LinkCaptureSummary {
        link: target.link,
        label: target.label.clone(),
        path,
        written,
        dropped_kernel: k_drops,
        link_down_events,
        error,
    }
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}
