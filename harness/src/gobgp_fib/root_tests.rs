//! Root test: two namespaces `a` and `b` joined by a veth /31, gobgpd in each (eBGP), the agent
//! in `a` (in-process, on a thread inside `a`'s namespace, so no built `fabriclab` binary is
//! needed). Checks that a stale route of ours is purged at start, `a`'s own block becomes a
//! blackhole, a route `b` announces lands in `a`'s kernel via `b` and leaves on withdraw, and
//! stopping the agent removes its routes. Without root or gobgpd the test prints why and returns.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use ipnet::IpNet;

use super::*;
use crate::fib::entry::{FibRoute as KernelRoute, NextHop, RouteKind};
use crate::lab::netns;
use crate::wait::{wait_until, Probe};

const A_ADDR: &str = "10.99.0.0";
const B_ADDR: &str = "10.99.0.1";
const BLOCK: &str = "10.64.0.0/26";
const LEARNED: &str = "10.77.0.0/24";
const STALE: &str = "10.55.0.0/24";
const DEADLINE: Duration = Duration::from_secs(30);

fn skip_reason() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("needs root (namespaces)".to_string());
    }
    ["gobgpd", "gobgp", "ip"]
        .iter()
        .find(|b| crate::speakers::find_executable(b).is_none())
        .map(|b| format!("{b} is not installed"))
}

/// Two namespaces, a veth between them and a gobgpd in each; everything removed on drop.
struct Pair {
    tag: String,
    a: PathBuf,
    b: PathBuf,
    daemons: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl Drop for Pair {
    fn drop(&mut self) {
        for c in &mut self.daemons {
            let pgid = nix::unistd::Pid::from_raw(i32::try_from(c.id()).unwrap_or(i32::MAX));
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = c.wait();
        }
        let _ = netns::delete_netns(&self.a);
        let _ = netns::delete_netns(&self.b);
        let _ = &self.tag;
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output();
    match out {
        Ok(o) if o.status.success() => {}
        other => panic!("ip {}: {other:?}", args.join(" ")),
    }
}

fn gobgpd_conf(asn: u32, router_id: &str, local: &str, peer: &str, peer_as: u32) -> String {
    format!(
        "[global.config]\nas = {asn}\nrouter-id = \"{router_id}\"\nport = 179\n\
         [global.use-multiple-paths.config]\nenabled = true\n\
         [[neighbors]]\n[neighbors.config]\nneighbor-address = \"{peer}\"\npeer-as = {peer_as}\n\
         [neighbors.transport.config]\nlocal-address = \"{local}\"\n\
         [neighbors.timers.config]\nconnect-retry = 1\nhold-time = 9\nkeepalive-interval = 3\n"
    )
}

impl Pair {
    fn new() -> Pair {
        let mut r = [0u8; 3];
        let _ = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut r));
        let tag = format!("{:02x}{:02x}{:02x}", r[0], r[1], r[2]);
        netns::ensure_netns_dir().unwrap_or_else(|e| panic!("/run/netns: {e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let a = netns::create_netns(&format!("flgf{tag}a")).unwrap_or_else(|e| panic!("{e}"));
        let mut pair = Pair {
            b: PathBuf::new(),
            a,
            tag: tag.clone(),
            daemons: Vec::new(),
            _dir: dir,
        };
        pair.b = netns::create_netns(&format!("flgf{tag}b")).unwrap_or_else(|e| panic!("{e}"));
        let (na, nb) = (format!("flgf{tag}a"), format!("flgf{tag}b"));
        let (va, vb) = (format!("gfa{tag}"), format!("gfb{tag}"));
        ip(&[
            "link", "add", &va, "netns", &na, "type", "veth", "peer", "name", &vb, "netns", &nb,
        ]);
        for (ns, dev, addr) in [(&na, &va, A_ADDR), (&nb, &vb, B_ADDR)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/31"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        for (ns, conf) in [
            (
                pair.a.clone(),
                gobgpd_conf(65001, "10.255.0.1", A_ADDR, B_ADDR, 65002),
            ),
            (
                pair.b.clone(),
                gobgpd_conf(65002, "10.255.0.2", B_ADDR, A_ADDR, 65001),
            ),
        ] {
            let file = pair
                ._dir
                .path()
                .join(format!("{}.toml", pair.daemons.len()));
            std::fs::write(&file, conf).unwrap_or_else(|e| panic!("{e}"));
            let log =
                std::fs::File::create(file.with_extension("log")).unwrap_or_else(|e| panic!("{e}"));
            let mut cmd = Command::new("gobgpd");
            cmd.arg("-f")
                .arg(&file)
                .args([
                    "--api-hosts=127.0.0.1:50051",
                    "--log-plain",
                    "--pprof-disable",
                ])
                .stdout(log.try_clone().unwrap_or_else(|e| panic!("{e}")))
                .stderr(log);
            let child = netns::spawn_in_netns(&ns, cmd).unwrap_or_else(|e| panic!("{e}"));
            pair.daemons.push(child);
        }
        pair
    }

    /// `gobgp ARGS` against the gobgpd of namespace `ns`; retried until the API answers.
    fn gobgp(&self, ns: &Path, args: &[&str]) {
        let r = wait_until(DEADLINE, Duration::from_millis(100), || {
            let mut cmd = Command::new("gobgp");
            cmd.args(["-u", "127.0.0.1", "-p", "50051"]).args(args);
            let out = netns::in_netns(ns, move || cmd.output());
            match out {
                Ok(Ok(o)) if o.status.success() => Probe::Done(()),
                other => Probe::pending(format!("{other:?}")),
            }
        });
        if let Err(t) = r {
            panic!("gobgp {}: {t}", args.join(" "));
        }
    }
}

/// `a`'s main-table routes of protocol 202, by prefix.
fn agent_routes(ns: &Path) -> Vec<KernelRoute> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let handle = netns::rtnetlink_in_netns(ns)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let read = crate::fib::reader::read_fib(&handle)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        read.fib
            .iter()
            .filter(|r| r.protocol.map(|p| p.number()) == Some(RTPROT_GOBGP_FIB))
            .cloned()
            .collect()
    })
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Waits until `a`'s routes of protocol 202 are exactly `want` (content compared).
fn wait_routes(ns: &Path, want: &[KernelRoute], what: &str) {
    let r = wait_until(DEADLINE, Duration::from_millis(50), || {
        let got = agent_routes(ns);
        let same =
            got.len() == want.len() && want.iter().all(|w| got.iter().any(|g| g.same_content(w)));
        if same {
            Probe::Done(())
        } else {
            Probe::pending(format!("{got:?}"))
        }
    });
    if let Err(t) = r {
        panic!("{what}: want {want:?}: {t}");
    }
}

#[test]
fn agent_follows_gobgp_into_the_kernel_and_cleans_up() {
    if let Some(why) = skip_reason() {
        eprintln!("ignored: {why}");
        return;
    }
    let pair = Pair::new();
    let tag = pair.tag.clone();
    let (na, va) = (format!("flgf{tag}a"), format!("gfa{tag}"));
    // A route of ours left by an earlier run.
    ip(&[
        "-n", &na, "route", "add", STALE, "via", B_ADDR, "proto", "202",
    ]);
    let gobgp = crate::speakers::find_executable("gobgp").unwrap_or_else(|| panic!("gobgp"));
    let ready = pair._dir.path().join(READY_FILE);
    let opts = AgentOptions {
        api: "127.0.0.1:50051".parse().unwrap_or_else(|e| panic!("{e}")),
        protocol: RTPROT_GOBGP_FIB,
        ecmp: EcmpRule {
            max_paths: 8,
            relax: true,
        },
        gobgp,
        ready_file: Some(ready.clone()),
        connect_timeout: DEADLINE,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ns = pair.a.clone();
    let agent = std::thread::spawn(move || {
        netns::in_netns(&ns, move || {
            run_until(&opts, async move {
                let _ = stop_rx.await;
            })
            .map_err(|e| e.to_string())
        })
        .map_err(|e| e.to_string())
        .and_then(|r| r)
    });
    let r = wait_until(DEADLINE, Duration::from_millis(20), || {
        if ready.exists() || agent.is_finished() {
            Probe::Done(())
        } else {
            Probe::pending("no ready file yet")
        }
    });
    assert!(r.is_ok() && !agent.is_finished(), "agent not ready: {r:?}");
    wait_routes(&pair.a, &[], "stale route purged");

    pair.gobgp(&pair.a, &["global", "rib", "add", "-a", "ipv4", BLOCK]);
    let blackhole = KernelRoute::new(net(BLOCK), RouteKind::Blackhole);
    wait_routes(&pair.a, std::slice::from_ref(&blackhole), "own block");

    pair.gobgp(&pair.b, &["global", "rib", "add", "-a", "ipv4", LEARNED]);
    let via_b = KernelRoute::new(
        net(LEARNED),
        RouteKind::unicast([NextHop::via(
            IpAddr::V4(B_ADDR.parse::<Ipv4Addr>().unwrap_or_else(|e| panic!("{e}"))),
            va.clone(),
        )]),
    );
    wait_routes(&pair.a, &[blackhole.clone(), via_b], "route learned from b");

    pair.gobgp(&pair.b, &["global", "rib", "del", "-a", "ipv4", LEARNED]);
    wait_routes(
        &pair.a,
        std::slice::from_ref(&blackhole),
        "route withdrawn by b",
    );

    let _ = stop_tx.send(());
    let outcome = agent
        .join()
        .unwrap_or_else(|_| panic!("agent thread panicked"));
    assert_eq!(outcome, Ok(()), "agent result");
    wait_routes(&pair.a, &[], "routes removed at stop");
    assert!(!ready.exists(), "ready file left behind");
    drop(pair);
}

/// One namespace with `lo` up and no gobgpd; removed on drop.
struct Lonely(PathBuf);

impl Lonely {
    fn new() -> Lonely {
        let mut r = [0u8; 3];
        let _ = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut r));
        let name = format!("flgf{:02x}{:02x}{:02x}l", r[0], r[1], r[2]);
        netns::ensure_netns_dir().unwrap_or_else(|e| panic!("/run/netns: {e}"));
        let path = netns::create_netns(&name).unwrap_or_else(|e| panic!("{e}"));
        let ns = Lonely(path);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs the agent (no gobgpd behind its port) until `shutdown`.
    fn run(
        &self,
        connect_timeout: Duration,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let opts = AgentOptions {
            api: "127.0.0.1:50051".parse().unwrap_or_else(|e| panic!("{e}")),
            protocol: RTPROT_GOBGP_FIB,
            ecmp: EcmpRule {
                max_paths: 8,
                relax: true,
            },
            gobgp: PathBuf::from("gobgp"),
            ready_file: None,
            connect_timeout,
        };
        netns::in_netns(&self.0, move || {
            run_until(&opts, shutdown).map_err(|e| e.to_string())
        })
        .map_err(|e| e.to_string())
        .and_then(|r| r)
    }
}

impl Drop for Lonely {
    fn drop(&mut self) {
        let _ = netns::delete_netns(&self.0);
    }
}

#[test]
fn agent_without_gobgpd_fails_after_the_connect_timeout_or_stops_when_asked() {
    if let Some(why) = skip_reason() {
        eprintln!("ignored: {why}");
        return;
    }
    let ns = Lonely::new();
    let started = std::time::Instant::now();
    let e = ns
        .run(Duration::from_millis(300), std::future::pending())
        .err()
        .unwrap_or_default();
    assert!(e.contains("did not accept connections"), "{e}");
    // Asked to stop while waiting for a gobgpd that never comes: ends at once, without error.
    let started_stop = std::time::Instant::now();
    let r = ns.run(DEADLINE, async {});
    assert_eq!(r, Ok(()));
    assert!(
        started_stop.elapsed() < Duration::from_secs(5),
        "took {:?} (connect timeout {DEADLINE:?})",
        started_stop.elapsed()
    );
    assert!(started.elapsed() < DEADLINE);
}
