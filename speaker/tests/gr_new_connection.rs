//! Graceful restart helper, conformance statement 60 (RFC 4724 §4.2, overriding RFC 4271 §6.8):
//! a hand-driven peer with a GR session to one `fabric-speaker` opens a second connection as if
//! it had restarted unnoticed. The speaker must close the old connection without a
//! NOTIFICATION, keep the peer's routes (stale), carry on with the new connection, and flush
//! the stale routes at the peer's End-of-RIB.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fabric_bgp_wire::{
    frame_len, AfiSafi, AsPath, Asn, Capability, CodecContext, GrFamily, GracefulRestart, Message,
    Nlri, Open, Origin, PathAttributes, RouterId, Update,
};
use fabric_speaker::config::{Config, Kernel, Neighbor, RemoteAs, RestartMode};
use fabric_speaker::control::{self, Request, RouteDir, RouteEntry};
use fabric_speaker::fsm::State;
use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};

const DEADLINE: Duration = Duration::from_secs(15);
const LOCAL_AS: u32 = 65001;
const PEER_AS: u32 = 65002;

fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let end = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(v) => return Ok(v),
            Err(last) if Instant::now() >= end => {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}; last: {last}"
                ))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

struct Dut {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    bgp: SocketAddr,
    peer_ip: Ipv4Addr,
}

impl Dut {
    fn start() -> Dut {
        let dir = std::env::temp_dir().join(format!("fl-grconn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (ip, peer_ip) = (Ipv4Addr::new(127, 72, 9, 1), Ipv4Addr::new(127, 72, 9, 2));
        let port = TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = Config::new(RouterId(Ipv4Addr::new(10, 0, 9, 1)), Asn(LOCAL_AS));
        c.listen.address = IpAddr::V4(ip);
        c.listen.port = port;
        c.log_level = "debug".into();
        c.kernel = Kernel::disabled();
        c.graceful_restart.enabled = true;
        c.graceful_restart.restarting = RestartMode::Never;
        let socket = dir.join("dut.sock");
        c.control_socket = Some(socket.clone());
        let mut n = Neighbor::new(IpAddr::V4(peer_ip), RemoteAs::Asn(Asn(PEER_AS)));
        n.passive = true;
        n.hold_time = 9;
        n.idle_hold_time = 1;
        c.neighbors.push(n);
        let path = dir.join("dut.yaml");
        std::fs::write(&path, c.to_yaml().unwrap()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_fabric-speaker"))
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stderr(File::create(dir.join("dut.log")).unwrap())
            .spawn()
            .unwrap();
        let dut = Dut {
            child,
            dir,
            socket,
            bgp: SocketAddr::new(IpAddr::V4(ip), port),
            peer_ip,
        };
        wait_until("control socket", DEADLINE, || {
            control::request(&dut.socket, &Request::Status, Duration::from_secs(1))
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .unwrap();
        dut
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("dut.log")).unwrap_or_default()
    }

    fn state(&self) -> Result<State, String> {
        let r = control::request(
            &self.socket,
            &Request::Neighbors { peer: None },
            Duration::from_secs(1),
        )
        .map_err(|e| e.to_string())?;
        r.neighbors
            .and_then(|n| n.first().map(|n| n.state))
            .ok_or_else(|| "no neighbor".into())
    }

    fn received(&self) -> Result<Vec<RouteEntry>, String> {
        let req = Request::Routes {
            dir: RouteDir::Received,
            peer: None,
            prefix: None,
        };
        let r = control::request(&self.socket, &req, Duration::from_secs(1))
            .map_err(|e| e.to_string())?;
        Ok(r.routes.unwrap_or_default())
    }

    /// Waits until the received routes are exactly `want` as (prefix, staleness).
    fn wait_received(&self, want: &[(&str, Option<&str>)]) {
        wait_until("received routes", DEADLINE, || {
            let got: Vec<(String, Option<String>)> = self
                .received()?
                .into_iter()
                .map(|r| (r.prefix.to_string(), r.stale))
                .collect();
            let want: Vec<(String, Option<String>)> = want
                .iter()
                .map(|(p, s)| ((*p).to_owned(), s.map(str::to_owned)))
                .collect();
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        })
        .unwrap_or_else(|e| panic!("{e}\n--- DUT log ---\n{}", self.logs()));
    }

    fn wait_established(&self) {
        wait_until("Established", DEADLINE, || match self.state()? {
            State::Established => Ok(()),
            s => Err(s.to_string()),
        })
        .unwrap_or_else(|e| panic!("{e}\n--- DUT log ---\n{}", self.logs()));
    }

    fn connect(&self) -> Peer {
        let stream = wait_until("a connection", DEADLINE, || {
            let fd = socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::empty(),
                None,
            )
            .map_err(|e| e.to_string())?;
            bind(
                fd.as_raw_fd(),
                &SockaddrIn::from(SocketAddrV4::new(self.peer_ip, 0)),
            )
            .map_err(|e| e.to_string())?;
            let SocketAddr::V4(to) = self.bgp else {
                return Err("not IPv4".into());
            };
            connect(fd.as_raw_fd(), &SockaddrIn::from(to)).map_err(|e| e.to_string())?;
            Ok(TcpStream::from(fd))
        })
        .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Peer {
            stream,
            buf: Vec::new(),
        }
    }
}

impl Drop for Dut {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    fn send_msg(&mut self, m: &Message) {
        let _ = self
            .stream
            .write_all(&m.encode(&CodecContext::four_octet()).unwrap());
    }

    /// The next message, `Ok(None)` when the connection closed.
    fn recv(&mut self, timeout: Duration) -> Result<Option<Message>, String> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(len) = frame_len(&self.buf).map_err(|e| e.to_string())? {
                let frame: Vec<u8> = self.buf.drain(..len).collect();
                return Message::decode(&frame, &CodecContext::four_octet())
                    .map(Some)
                    .map_err(|e| e.to_string());
            }
            if Instant::now() >= end {
                return Err("no message".into());
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return Ok(None),
            }
        }
    }

    /// Reads until the connection closes; returns the message types seen meanwhile.
    fn until_closed(&mut self) -> Vec<Message> {
        let end = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        while Instant::now() < end {
            match self.recv(Duration::from_millis(500)) {
                Ok(Some(m)) => seen.push(m),
                Ok(None) => return seen,
                Err(_) => {}
            }
        }
        panic!("connection still open; saw {seen:?}");
    }
}

fn gr_open() -> Message {
    let caps = vec![
        Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
        Capability::FourOctetAs(Asn(PEER_AS)),
        Capability::GracefulRestart(GracefulRestart {
            restart_state: true,
            notification: false,
            restart_time: 60,
            families: vec![GrFamily {
                afi_safi: AfiSafi::IPV4_UNICAST,
                forwarding_state: true,
            }],
        }),
    ];
    Message::Open(Open::new(
        Asn(PEER_AS),
        9,
        RouterId(Ipv4Addr::new(10, 0, 9, 2)),
        caps,
    ))
}

fn announce(prefix: &str) -> Message {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence([Asn(PEER_AS)])),
        next_hop: Some(Ipv4Addr::new(127, 72, 9, 2)),
        ..PathAttributes::default()
    };
    Message::Update(Update::announce_ipv4(
        attrs,
        vec![Nlri::new(prefix.parse().unwrap())],
    ))
}

/// OPEN and KEEPALIVE on a fresh connection, then waits for Established.
fn establish(dut: &Dut) -> Peer {
    let mut p = dut.connect();
    p.send_msg(&gr_open());
    p.send_msg(&Message::Keepalive);
    dut.wait_established();
    p
}

#[test]
fn new_connection_replaces_an_established_gr_session_without_notification() {
    let dut = Dut::start();
    let mut first = establish(&dut);
    first.send_msg(&announce("10.9.1.0/24"));
    first.send_msg(&announce("10.9.2.0/24"));
    dut.wait_received(&[("10.9.1.0/24", None), ("10.9.2.0/24", None)]);

    // The peer "restarted" without the old connection closing.
    let mut second = dut.connect();
    let old = first.until_closed();
    assert!(
        !old.iter().any(|m| matches!(m, Message::Notification(_))),
        "old connection closed with a NOTIFICATION: {old:?}\n{}",
        dut.logs()
    );
    dut.wait_received(&[
        ("10.9.1.0/24", Some("stale")),
        ("10.9.2.0/24", Some("stale")),
    ]);
    second.send_msg(&gr_open());
    second.send_msg(&Message::Keepalive);
    dut.wait_established();
    // One route refreshed, then End-of-RIB (RFC 4724 §2: an empty UPDATE for IPv4 unicast).
    second.send_msg(&announce("10.9.1.0/24"));
    second.send_msg(&Message::Update(Update::default()));
    dut.wait_received(&[("10.9.1.0/24", None)]);
    let logs = dut.logs();
    assert!(
        logs.contains("old connection closed without NOTIFICATION"),
        "{logs}"
    );
    assert!(logs.contains("retaining its routes as stale"), "{logs}");
}
