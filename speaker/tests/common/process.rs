//! A `fabric-speaker` process under test, driven and observed through its control socket and
//! its log.

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use fabric_speaker::config::Config;
use fabric_speaker::control::{
    self, NeighborStatus, Request, Response, RestartStatus, RouteDir, RouteEntry,
};
use fabric_speaker::fsm::State;
use ipnet::IpNet;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{wait_until, DEADLINE};

/// A running speaker process; killed on drop if still running.
pub struct Speaker {
    name: String,
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    config_path: PathBuf,
    config: Config,
}

impl Speaker {
    /// Starts the speaker with its files (`<name>.yaml`, `.sock`, `.log`) in `dir` and waits
    /// until its control socket answers.
    pub fn start(name: &str, dir: &Path, config: Config) -> Speaker {
        Self::start_in(name, dir, config, None)
    }

    /// [`Speaker::start`] inside network namespace `netns` if given (`ip netns exec`).
    pub fn start_in(name: &str, dir: &Path, config: Config, netns: Option<&str>) -> Speaker {
        let s = Self::spawn(name, dir, config, netns);
        s.wait_ready();
        s
    }

    /// Writes the configuration and starts the process, without waiting for it to be ready.
    pub fn spawn(name: &str, dir: &Path, mut config: Config, netns: Option<&str>) -> Speaker {
        let socket = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.log"));
        let path = dir.join(format!("{name}.yaml"));
        config.control_socket = Some(socket.clone());
        config.log_level = "debug".into();
        // The harness renders configurations exactly like this.
        std::fs::write(&path, config.to_yaml().unwrap()).unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_fabric-speaker")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_fabric-speaker")),
        };
        let child = cmd
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Speaker {
            name: name.to_owned(),
            child,
            socket,
            log,
            config_path: path,
            config,
        }
    }

    /// Waits until the control socket answers.
    pub fn wait_ready(&self) {
        wait_until("control socket", DEADLINE, || {
            self.request(&Request::Status).map(|_| ())
        })
        .unwrap_or_else(|e| self.fail(e));
    }

    /// Everything the speaker logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test with `e` and the speaker's log.
    pub fn fail(&self, e: String) -> ! {
        panic!("{e}\n--- {} log ---\n{}", self.name, self.logs())
    }

    /// One control request; an answer with `ok: false` is its error.
    pub fn request(&self, req: &Request) -> Result<Response, String> {
        let r = control::request(&self.socket, req, Duration::from_secs(2))
            .map_err(|e| e.to_string())?;
        if r.ok {
            Ok(r)
        } else {
            Err(r.error.unwrap_or_default())
        }
    }

    pub fn status(&self) -> Result<control::Status, String> {
        self.request(&Request::Status)?
            .status
            .ok_or_else(|| "no status".into())
    }

    /// The restarting-speaker side of the status (RFC 4724 §4.1), present while or after
    /// recovering.
    pub fn restart_status(&self) -> Result<RestartStatus, String> {
        self.status()?
            .graceful_restart
            .ok_or_else(|| "no graceful-restart status".into())
    }

    pub fn neighbor(&self, peer: IpAddr) -> Result<NeighborStatus, String> {
        let r = self.request(&Request::Neighbors { peer: Some(peer) })?;
        r.neighbors
            .and_then(|mut v| v.pop())
            .ok_or_else(|| "no neighbor in answer".into())
    }

    pub fn routes(&self, dir: RouteDir, peer: IpAddr) -> Result<Vec<RouteEntry>, String> {
        let r = self.request(&Request::Routes {
            dir,
            peer: Some(peer),
            prefix: None,
        })?;
        r.routes.ok_or_else(|| "no routes in answer".into())
    }

    /// The routes received from `peer`, sorted by prefix.
    pub fn received(&self, peer: IpAddr) -> Result<Vec<RouteEntry>, String> {
        let mut v = self.routes(RouteDir::Received, peer)?;
        v.sort_by_key(|r| r.prefix);
        Ok(v)
    }

    /// Waits until the session with `peer` is in state `want`.
    pub fn wait_state(&self, peer: IpAddr, want: State) -> NeighborStatus {
        self.wait_neighbor(peer, &want.to_string(), |s| s == want)
    }

    /// Waits until the session with `peer` is no longer Established.
    pub fn wait_down(&self, peer: IpAddr) -> NeighborStatus {
        self.wait_neighbor(peer, "not Established", |s| s != State::Established)
    }

    fn wait_neighbor(
        &self,
        peer: IpAddr,
        what: &str,
        ok: impl Fn(State) -> bool,
    ) -> NeighborStatus {
        wait_until(&format!("{} -> {peer} {what}", self.name), DEADLINE, || {
            let n = self.neighbor(peer)?;
            if ok(n.state) {
                Ok(n)
            } else {
                Err(format!("state {} (last error {:?})", n.state, n.last_error))
            }
        })
        .unwrap_or_else(|e| self.fail(e))
    }

    /// Waits until the prefixes received from `peer` are exactly `want` (in any order).
    pub fn wait_received(&self, peer: IpAddr, want: &[&str]) -> Vec<RouteEntry> {
        let mut want: Vec<IpNet> = want.iter().map(|p| p.parse().unwrap()).collect();
        want.sort();
        self.wait_routes_from(peer, |routes| {
            let got: Vec<IpNet> = routes.iter().map(|r| r.prefix).collect();
            (got == want).then_some(()).ok_or(format!("{got:?}"))
        })
    }

    /// Waits until the routes from `peer`, sorted by prefix, are exactly `want` as (prefix,
    /// staleness mark).
    pub fn wait_received_stale(&self, peer: IpAddr, want: &[(&str, Option<&str>)]) {
        let want: Vec<(IpNet, Option<String>)> = want
            .iter()
            .map(|(p, s)| (p.parse().unwrap(), s.map(str::to_owned)))
            .collect();
        self.wait_routes_from(peer, |routes| {
            let got: Vec<(IpNet, Option<String>)> =
                routes.iter().map(|r| (r.prefix, r.stale.clone())).collect();
            (got == want).then_some(()).ok_or(format!("{got:?}"))
        });
    }

    /// Polls the routes received from `peer` (sorted by prefix) until `check` accepts them.
    fn wait_routes_from(
        &self,
        peer: IpAddr,
        check: impl Fn(&[RouteEntry]) -> Result<(), String>,
    ) -> Vec<RouteEntry> {
        wait_until(
            &format!("{} routes from {peer}", self.name),
            DEADLINE,
            || {
                let routes = self.received(peer)?;
                check(&routes)
                    .map(|()| routes)
                    .map_err(|got| format!("received {got}"))
            },
        )
        .unwrap_or_else(|e| self.fail(e))
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str) {
        wait_until(
            &format!("{} log line {needle:?}", self.name),
            DEADLINE,
            || {
                if self.logs().contains(needle) {
                    Ok(())
                } else {
                    Err("not yet".into())
                }
            },
        )
        .unwrap_or_else(|e| self.fail(e));
    }

    /// Rewrites the configuration file and sends SIGHUP.
    pub fn reconfigure(&mut self, change: impl FnOnce(&mut Config)) {
        change(&mut self.config);
        std::fs::write(&self.config_path, self.config.to_yaml().unwrap()).unwrap();
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, Signal::SIGHUP).unwrap();
    }

    /// Sends `sig` and waits for the process to exit.
    pub fn signal(&mut self, sig: Signal) -> ExitStatus {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, sig).unwrap();
        wait_until(&format!("{} to exit", self.name), DEADLINE, || {
            self.child
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "running".to_owned())
        })
        .unwrap_or_else(|e| self.fail(e))
    }

    /// SIGTERM (the speaker shuts down its sessions) and the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM)
    }

    /// SIGKILL: the process ends without closing anything.
    pub fn kill(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
