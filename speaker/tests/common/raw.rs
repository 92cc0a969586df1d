//! One speaker under test (the DUT) with a single passive neighbor played by the test itself:
//! raw TCP connections from the neighbor's 127.x address, messages written and read by hand.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use fabric_bgp_wire::{frame_len, Asn, CodecContext, Message};
use fabric_speaker::config::{Config, Kernel, Neighbor, RemoteAs};
use fabric_speaker::control::{Request, RouteDir, RouteEntry};
use fabric_speaker::fsm::State;
use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};

use super::process::Speaker;
use super::{free_port, wait_until, TempDir, DEADLINE};

/// The speaker under test, with one passive neighbor: us.
pub struct Dut {
    // Declared before `dir`: the process stops before its directory is removed.
    speaker: Speaker,
    bgp: SocketAddr,
    peer_ip: Ipv4Addr,
    _dir: TempDir,
}

impl Dut {
    /// Starts `config` (router id, AS and whatever the test needs) listening on `ip` at a free
    /// port, kernel FIB disabled, with one passive neighbor `peer_ip` in AS `peer_as`; its files
    /// go to `dir`. Returns once the control socket answers.
    pub fn start(
        dir: TempDir,
        ip: Ipv4Addr,
        peer_ip: Ipv4Addr,
        peer_as: u32,
        mut config: Config,
    ) -> Dut {
        let port = free_port(ip);
        config.listen.address = IpAddr::V4(ip);
        config.listen.port = port;
        // The host's namespace: never touch its kernel routes.
        config.kernel = Kernel::disabled();
        let mut n = Neighbor::new(IpAddr::V4(peer_ip), RemoteAs::Asn(Asn(peer_as)));
        n.passive = true;
        n.hold_time = 9;
        n.idle_hold_time = 1;
        config.neighbors.push(n);
        let speaker = Speaker::start("dut", &dir.0, config);
        Dut {
            speaker,
            bgp: SocketAddr::new(IpAddr::V4(ip), port),
            peer_ip,
            _dir: dir,
        }
    }

    pub fn logs(&self) -> String {
        self.speaker.logs()
    }

    /// The state of the (only) session.
    pub fn state(&self) -> Result<State, String> {
        let r = self.speaker.request(&Request::Neighbors { peer: None })?;
        r.neighbors
            .and_then(|n| n.first().map(|n| n.state))
            .ok_or_else(|| "no neighbor".into())
    }

    /// Every route received, in the order the control socket lists them.
    pub fn received(&self) -> Result<Vec<RouteEntry>, String> {
        let r = self.speaker.request(&Request::Routes {
            dir: RouteDir::Received,
            peer: None,
            prefix: None,
        })?;
        Ok(r.routes.unwrap_or_default())
    }

    /// The prefixes of [`Dut::received`].
    pub fn received_prefixes(&self) -> Result<Vec<String>, String> {
        Ok(self
            .received()?
            .iter()
            .map(|r| r.prefix.to_string())
            .collect())
    }

    /// Waits until the received routes are exactly `want` as (prefix, staleness).
    pub fn wait_received(&self, want: &[(&str, Option<&str>)]) {
        let want: Vec<(String, Option<String>)> = want
            .iter()
            .map(|(p, s)| ((*p).to_owned(), s.map(str::to_owned)))
            .collect();
        wait_until("received routes", DEADLINE, || {
            let got: Vec<(String, Option<String>)> = self
                .received()?
                .into_iter()
                .map(|r| (r.prefix.to_string(), r.stale))
                .collect();
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        })
        .unwrap_or_else(|e| self.speaker.fail(e));
    }

    pub fn wait_established(&self) {
        wait_until("Established", DEADLINE, || match self.state()? {
            State::Established => Ok(()),
            s => Err(s.to_string()),
        })
        .unwrap_or_else(|e| self.speaker.fail(e));
    }

    /// Opens a TCP connection from the neighbor's address, once the DUT accepts again.
    pub fn connect(&self) -> Peer {
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

/// Our end of a session.
pub struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    pub fn send(&mut self, bytes: &[u8]) {
        // The DUT may already have closed (that is what some cases expect); ignore errors.
        let _ = self.stream.write_all(bytes);
    }

    pub fn send_msg(&mut self, m: &Message) {
        self.send(&m.encode(&CodecContext::four_octet()).unwrap());
    }

    /// The next message, `Ok(None)` when the connection closed.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Message>, String> {
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

    /// Reads until a NOTIFICATION arrives: (code, subcode, data).
    pub fn expect_notification(&mut self, timeout: Duration) -> (u8, u8, Vec<u8>) {
        let end = Instant::now() + timeout;
        let mut seen = Vec::new();
        while Instant::now() < end {
            match self.recv(end - Instant::now()) {
                Ok(Some(Message::Notification(n))) => {
                    return (n.code.code(), n.code.subcode(), n.data)
                }
                Ok(Some(m)) => seen.push(format!("{:?}", m.msg_type())),
                Ok(None) => panic!("connection closed without NOTIFICATION; saw {seen:?}"),
                Err(_) => {}
            }
        }
        panic!("no NOTIFICATION within {timeout:?}; saw {seen:?}");
    }

    /// Reads until a message of the wanted kind arrives.
    pub fn expect(&mut self, what: &str, pred: impl Fn(&Message) -> bool) -> Message {
        let end = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        while Instant::now() < end {
            match self.recv(end - Instant::now()) {
                Ok(Some(m)) if pred(&m) => return m,
                Ok(Some(m)) => seen.push(format!("{m:?}")),
                Ok(None) => panic!("connection closed while waiting for {what}; saw {seen:?}"),
                Err(_) => {}
            }
        }
        panic!("no {what}; saw {seen:?}");
    }

    /// Reads until the connection closes; returns the messages seen meanwhile.
    pub fn until_closed(&mut self) -> Vec<Message> {
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
