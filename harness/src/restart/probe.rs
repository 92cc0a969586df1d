//! Data-plane continuity probe: constant-rate UDP flows between pods, so that an event window
//! can be judged by packets sent, received, lost and the longest gap between arrivals
//! (RFC 4724 §4.1/§4.2: forwarding continues throughout a graceful restart, stmt 67).
//!
//! Each flow has a sender thread in the source pod's namespace and a receiver thread in the
//! destination pod's namespace (sockets are created on threads that entered the namespaces, so
//! they belong there). The payload is `flow id (u32) | sequence (u64) | send time (u64 ns since
//! the probe's epoch)`, big-endian. Senders keep every send time (lost packets never arrive);
//! receivers keep each arrival. A probe is bounded by duration and packet count and stops by
//! itself; [`Probe::stop`] ends it early.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::RestartError;
use crate::lab::netns::in_netns;
use crate::lab::Lab;
use crate::topology::NodeId;

const PAYLOAD: usize = 4 + 8 + 8;
/// How long a receiver keeps listening after its sender finished (packets in flight).
const DRAIN: Duration = Duration::from_millis(500);
/// Receive timeout, so a receiver notices the stop flag.
const RECV_POLL: Duration = Duration::from_millis(50);

/// One flow: from a pod to another pod's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSpec {
    pub id: u32,
    /// Source pod (its namespace id in the lab).
    pub src: NodeId,
    /// Destination pod.
    pub dst: NodeId,
    pub dst_addr: Ipv4Addr,
    /// UDP destination port.
    pub port: u16,
}

/// How hard and how long the probe sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Packets per second per flow.
    pub rate: u32,
    /// Longest time a flow sends.
    pub duration: Duration,
    /// Most packets a flow sends.
    pub max_packets: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            rate: 1000,
            duration: Duration::from_secs(60),
            max_packets: 120_000,
        }
    }
}

impl ProbeConfig {
    fn interval(&self) -> Duration {
        Duration::from_nanos(1_000_000_000 / u64::from(self.rate.max(1)))
    }
}

/// A sender thread: every send time, in sequence order.
type SenderThread = JoinHandle<Result<Vec<Duration>, String>>;
/// A receiver thread: `(sequence, arrival)` in arrival order.
type ReceiverThread = JoinHandle<Result<Vec<(u64, Duration)>, String>>;

struct FlowThreads {
    spec: FlowSpec,
    sender: SenderThread,
    receiver: ReceiverThread,
}

/// A running probe.
pub struct Probe {
    epoch: Instant,
    epoch_wall: SystemTime,
    stop: Arc<AtomicBool>,
    flows: Vec<FlowThreads>,
    config: ProbeConfig,
}

/// Seen when an in-netns thread could not be joined.
fn joined<T>(r: std::thread::Result<Result<T, String>>) -> Result<T, String> {
    r.map_err(|_| "probe thread panicked".to_string())?
}

impl Probe {
    /// Starts every flow: receivers first (bound before the first packet), then senders.
    pub fn start(
        lab: &Lab,
        flows: &[FlowSpec],
        config: ProbeConfig,
    ) -> Result<Probe, RestartError> {
        let (epoch, epoch_wall) = (Instant::now(), SystemTime::now());
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::with_capacity(flows.len());
        for f in flows {
            let dst_ns = lab.netns_path(&f.dst)?.to_path_buf();
            let src_ns = lab.netns_path(&f.src)?.to_path_buf();
            let (bound_tx, bound_rx) = std::sync::mpsc::channel::<Result<(), String>>();
            let sender_done = Arc::new(AtomicBool::new(false));
            let receiver = spawn_receiver(
                dst_ns,
                f.clone(),
                epoch,
                stop.clone(),
                sender_done.clone(),
                bound_tx,
            )?;
            let bound = bound_rx
                .recv_timeout(Duration::from_secs(5))
                .map_err(|e| RestartError::Probe(format!("flow {} receiver: {e}", f.id)))
                .and_then(|r| r.map_err(RestartError::Probe));
            if let Err(e) = bound {
                stop.store(true, Ordering::SeqCst);
                return Err(e);
            }
            let sender = spawn_sender(src_ns, f.clone(), epoch, config, stop.clone(), sender_done)?;
            threads.push(FlowThreads {
                spec: f.clone(),
                sender,
                receiver,
            });
        }
        Ok(Probe {
            epoch,
            epoch_wall,
            stop,
            flows: threads,
            config,
        })
    }

    /// The probe's time origin.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Stops sending (if not already finished), waits for the receivers to drain, and returns
    /// what every flow saw.
    pub fn stop(self) -> Result<ProbeReport, RestartError> {
        self.stop.store(true, Ordering::SeqCst);
        self.collect()
    }

    /// Waits until every flow has sent its bounded amount, then reports.
    pub fn finish(self) -> Result<ProbeReport, RestartError> {
        self.collect()
    }

    fn collect(mut self) -> Result<ProbeReport, RestartError> {
        let threads = std::mem::take(&mut self.flows);
        let mut flows = Vec::with_capacity(threads.len());
        let mut first_err = None;
        for t in threads {
            let sent = joined(t.sender.join());
            let recv = joined(t.receiver.join());
            match (sent, recv) {
                (Ok(sent), Ok(received)) => flows.push(FlowReport {
                    spec: t.spec,
                    sent,
                    received,
                }),
                (Err(e), _) | (_, Err(e)) => {
                    first_err
                        .get_or_insert(RestartError::Probe(format!("flow {}: {e}", t.spec.id)));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(ProbeReport {
                epoch: self.epoch,
                epoch_wall: self.epoch_wall,
                config: self.config,
                flows,
            }),
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // Threads stop by themselves at their bound; this makes them stop now.
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn spawn_receiver(
    ns: PathBuf,
    f: FlowSpec,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    sender_done: Arc<AtomicBool>,
    bound: std::sync::mpsc::Sender<Result<(), String>>,
) -> Result<ReceiverThread, RestartError> {
    std::thread::Builder::new()
        .name(format!("probe-rx-{}", f.id))
        .spawn(move || {
            let r = in_netns(&ns, move || {
                let sock = match UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, f.port)))
                    .and_then(|s| s.set_read_timeout(Some(RECV_POLL)).map(|()| s))
                {
                    Ok(s) => {
                        let _ = bound.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = bound.send(Err(format!("bind {}:{}: {e}", f.dst, f.port)));
                        return Err(e.to_string());
                    }
                };
                receive(&sock, f.id, epoch, &stop, &sender_done)
            });
            r.map_err(|e| e.to_string())?
        })
        .map_err(|source| RestartError::Io {
            what: "failed to spawn a probe receiver".into(),
            source,
        })
}

fn receive(
    sock: &UdpSocket,
    flow: u32,
    epoch: Instant,
    stop: &AtomicBool,
    sender_done: &AtomicBool,
) -> Result<Vec<(u64, Duration)>, String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let mut done_since: Option<Instant> = None;
    loop {
        if stop.load(Ordering::SeqCst) || sender_done.load(Ordering::SeqCst) {
            let since = *done_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= DRAIN {
                return Ok(got);
            }
        }
        match sock.recv(&mut buf) {
            Ok(n) => {
                if let Some((id, seq, _sent)) = decode(buf.get(..n).unwrap_or_default()) {
                    if id == flow {
                        got.push((seq, epoch.elapsed()));
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(format!("recv: {e}")),
        }
    }
}

fn spawn_sender(
    ns: PathBuf,
    f: FlowSpec,
    epoch: Instant,
    config: ProbeConfig,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
) -> Result<SenderThread, RestartError> {
    std::thread::Builder::new()
        .name(format!("probe-tx-{}", f.id))
        .spawn(move || {
            let r = in_netns(&ns, move || {
                let r = send(&f, epoch, config, &stop);
                done.store(true, Ordering::SeqCst);
                r
            });
            r.map_err(|e| e.to_string())?
        })
        .map_err(|source| RestartError::Io {
            what: "failed to spawn a probe sender".into(),
            source,
        })
}

fn send(
    f: &FlowSpec,
    epoch: Instant,
    config: ProbeConfig,
    stop: &AtomicBool,
) -> Result<Vec<Duration>, String> {
    let sock = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        .map_err(|e| format!("bind in {}: {e}", f.src))?;
    let dst = SocketAddr::from((f.dst_addr, f.port));
    let interval = config.interval();
    let begin = Instant::now();
    let mut sent = Vec::new();
    let mut seq: u64 = 0;
    while seq < config.max_packets && begin.elapsed() < config.duration {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // Pace against the schedule, not the previous send, so a late wake-up is caught up.
        let due = begin + interval.saturating_mul(u32::try_from(seq).unwrap_or(u32::MAX));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let at = epoch.elapsed();
        let payload = encode(f.id, seq, at);
        // Errors (no route, unreachable) are loss, which is what the probe measures.
        let _ = sock.send_to(&payload, dst);
        sent.push(at);
        seq += 1;
    }
    Ok(sent)
}

fn encode(flow: u32, seq: u64, at: Duration) -> [u8; PAYLOAD] {
    let mut b = [0u8; PAYLOAD];
    let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
    b[..4].copy_from_slice(&flow.to_be_bytes());
    b[4..12].copy_from_slice(&seq.to_be_bytes());
    b[12..].copy_from_slice(&nanos.to_be_bytes());
    b
}

fn decode(b: &[u8]) -> Option<(u32, u64, Duration)> {
    let id = u32::from_be_bytes(b.get(..4)?.try_into().ok()?);
    let seq = u64::from_be_bytes(b.get(4..12)?.try_into().ok()?);
    let ns = u64::from_be_bytes(b.get(12..20)?.try_into().ok()?);
    Some((id, seq, Duration::from_nanos(ns)))
}

/// What one flow sent and received.
#[derive(Debug, Clone)]
pub struct FlowReport {
    pub spec: FlowSpec,
    /// Send time of sequence number `i` (offset from the probe's epoch).
    pub sent: Vec<Duration>,
    /// `(sequence, arrival offset)` in arrival order.
    pub received: Vec<(u64, Duration)>,
}

/// Loss and outage of one flow (or all) within a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowStats {
    /// Packets sent within the window.
    pub sent: u64,
    /// Of those, how many arrived (duplicates counted once).
    pub received: u64,
    pub lost: u64,
    /// Longest time without an arrival, from the first send in the window to the last (a run
    /// of lost packets at either edge counts).
    pub longest_gap: Duration,
    /// When that gap began (offset from the probe's epoch: the last arrival before it, or the
    /// window's first send).
    pub longest_gap_start: Duration,
}

impl WindowStats {
    /// Both windows together: counts add up, the longer gap wins.
    pub fn merge(self, o: WindowStats) -> WindowStats {
        let (longest_gap, longest_gap_start) = if o.longest_gap > self.longest_gap {
            (o.longest_gap, o.longest_gap_start)
        } else {
            (self.longest_gap, self.longest_gap_start)
        };
        WindowStats {
            sent: self.sent + o.sent,
            received: self.received + o.received,
            lost: self.lost + o.lost,
            longest_gap,
            longest_gap_start,
        }
    }
}

impl fmt::Display for WindowStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} received {} lost {} longest gap {} ms",
            self.sent,
            self.received,
            self.lost,
            self.longest_gap.as_millis()
        )
    }
}

impl FlowReport {
    /// Stats for packets sent in `[from, to)` (offsets from the probe's epoch).
    pub fn window(&self, from: Duration, to: Duration) -> WindowStats {
        let in_window = |t: &Duration| *t >= from && *t < to;
        let mut arrived: BTreeMap<u64, Duration> = BTreeMap::new();
        for (seq, at) in &self.received {
            let Some(sent) = usize::try_from(*seq).ok().and_then(|i| self.sent.get(i)) else {
                continue;
            };
            if in_window(sent) {
                arrived.entry(*seq).or_insert(*at);
            }
        }
        let sent_times: Vec<Duration> = self.sent.iter().copied().filter(in_window).collect();
        let sent = sent_times.len() as u64;
        let received = arrived.len() as u64;
        // Gap: between consecutive arrivals, bracketed by the window's first and last send
        // (lost packets at the edges are outage too).
        let mut times: Vec<Duration> = arrived.values().copied().collect();
        times.sort();
        let (mut gap, mut gap_start) = (Duration::ZERO, Duration::ZERO);
        if let (Some(first), Some(last)) = (sent_times.first(), sent_times.last()) {
            let mut prev = *first;
            gap_start = *first;
            for t in times.iter().chain(std::iter::once(last)) {
                let g = t.saturating_sub(prev);
                if g > gap {
                    (gap, gap_start) = (g, prev);
                }
                prev = prev.max(*t);
            }
        }
        WindowStats {
            sent,
            received,
            lost: sent.saturating_sub(received),
            longest_gap: gap,
            longest_gap_start: gap_start,
        }
    }
}

/// Every flow of a finished probe.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub epoch: Instant,
    /// The epoch on the wall clock (the timeline's clock), to place windows given as
    /// timeline timestamps.
    pub epoch_wall: SystemTime,
    pub config: ProbeConfig,
    pub flows: Vec<FlowReport>,
}

impl ProbeReport {
    /// The offset of `t` from the probe's epoch (0 if before it).
    pub fn offset(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.epoch)
    }

    /// All flows merged, for sends in `[from, to)` (`to` = None: until the end).
    pub fn window(&self, from: Instant, to: Option<Instant>) -> WindowStats {
        let (f, t) = (
            self.offset(from),
            to.map(|t| self.offset(t)).unwrap_or(Duration::MAX),
        );
        self.flows
            .iter()
            .map(|fl| fl.window(f, t))
            .fold(WindowStats::default(), WindowStats::merge)
    }

    /// Per flow, for sends in `[from, to)`.
    pub fn per_flow(&self, from: Instant, to: Option<Instant>) -> Vec<(u32, WindowStats)> {
        let (f, t) = (
            self.offset(from),
            to.map(|t| self.offset(t)).unwrap_or(Duration::MAX),
        );
        self.flows
            .iter()
            .map(|fl| (fl.spec.id, fl.window(f, t)))
            .collect()
    }

    /// The offset from the probe's epoch of a timeline timestamp (µs since the Unix epoch; 0
    /// if before the epoch).
    pub fn offset_us(&self, ts_us: u64) -> Duration {
        let epoch = crate::timeline::epoch_us(self.epoch_wall);
        Duration::from_micros(ts_us.saturating_sub(epoch))
    }

    /// Per flow, for sends in `[from_us, to_us)` given on the timeline's clock.
    pub fn per_flow_us(&self, from_us: u64, to_us: u64) -> Vec<(u32, WindowStats)> {
        let (f, t) = (self.offset_us(from_us), self.offset_us(to_us));
        self.flows
            .iter()
            .map(|fl| (fl.spec.id, fl.window(f, t)))
            .collect()
    }

    /// The whole probe.
    pub fn total(&self) -> WindowStats {
        self.window(self.epoch, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn flow(sent: &[u64], received: &[(u64, u64)]) -> FlowReport {
        FlowReport {
            spec: FlowSpec {
                id: 1,
                src: NodeId::from("a"),
                dst: NodeId::from("b"),
                dst_addr: Ipv4Addr::LOCALHOST,
                port: 1,
            },
            sent: sent.iter().map(|t| ms(*t)).collect(),
            received: received.iter().map(|(s, t)| (*s, ms(*t))).collect(),
        }
    }

    #[test]
    fn payload_round_trips_and_short_payloads_are_rejected() {
        let b = encode(7, 123_456, ms(1500));
        assert_eq!(decode(&b), Some((7, 123_456, ms(1500))));
        assert_eq!(decode(&b[..19]), None);
    }

    #[test]
    fn no_loss_gives_the_send_interval_as_gap() {
        let f = flow(&[0, 1, 2, 3, 4], &[(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]);
        let w = f.window(ms(0), ms(100));
        assert_eq!((w.sent, w.received, w.lost), (5, 5, 0));
        assert_eq!(w.longest_gap, ms(1));
    }

    #[test]
    fn a_hole_counts_as_loss_and_gap() {
        // 2..=5 lost: arrivals at 1 and 6 -> gap 5 ms.
        let f = flow(&[0, 1, 2, 3, 4, 5, 6], &[(0, 0), (1, 1), (6, 6)]);
        let w = f.window(ms(0), ms(100));
        assert_eq!((w.sent, w.received, w.lost), (7, 3, 4));
        assert_eq!(w.longest_gap, ms(5));
        assert_eq!(w.longest_gap_start, ms(1));
    }

    #[test]
    fn window_limits_by_send_time_and_trailing_loss_is_gap() {
        let f = flow(&[0, 10, 20, 30, 40], &[(0, 0), (1, 10), (1, 11)]);
        // Window [10, 50): sent 10,20,30,40; received seq 1 only (duplicate once).
        let w = f.window(ms(10), ms(50));
        assert_eq!((w.sent, w.received, w.lost), (4, 1, 3));
        assert_eq!(w.longest_gap, ms(30));
        assert_eq!(w.longest_gap_start, ms(10));
        // Nothing sent in the window.
        assert_eq!(f.window(ms(100), ms(200)), WindowStats::default());
    }

    #[test]
    fn merged_windows_add_counts_and_keep_the_longer_gap_with_its_start() {
        let a = flow(&[0, 1, 2, 3], &[(0, 0), (3, 3)]);
        let b = flow(&[0, 10, 20, 30], &[(0, 0), (1, 10)]);
        let (wa, wb) = (a.window(ms(0), ms(100)), b.window(ms(0), ms(100)));
        let m = wa.merge(wb);
        assert_eq!((m.sent, m.received, m.lost), (8, 4, 4));
        assert_eq!((m.longest_gap, m.longest_gap_start), (ms(20), ms(10)));
        assert_eq!(wb.merge(wa), m);
    }

    #[test]
    fn timeline_timestamps_map_to_probe_offsets() {
        let r = ProbeReport {
            epoch: Instant::now(),
            epoch_wall: SystemTime::UNIX_EPOCH + Duration::from_secs(100),
            config: ProbeConfig::default(),
            flows: vec![flow(&[0, 1000, 2000], &[(0, 1), (2, 2001)])],
        };
        assert_eq!(r.offset_us(100_000_000 + 1500), Duration::from_micros(1500));
        assert_eq!(r.offset_us(5), Duration::ZERO);
        let w = r.per_flow_us(100_000_000 + 500_000, 100_000_000 + 2_500_000);
        assert_eq!(w.len(), 1);
        assert_eq!(
            w.first().map(|(_, s)| (s.sent, s.received, s.lost)),
            Some((2, 1, 1))
        );
    }

    #[test]
    fn unknown_sequences_are_ignored() {
        let f = flow(&[0], &[(0, 0), (99, 5)]);
        let w = f.window(ms(0), ms(10));
        assert_eq!((w.sent, w.received, w.lost), (1, 1, 0));
    }
}
