//! Root tests: read a real FIB and watch real route events in a scratch namespace. Each test
//! prints why it skips when not root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use ipnet::IpNet;

use super::entry::{FamilyFilter, FibRoute, NextHop, NodeFib, RouteKind, RouteProto};
use super::reader::{read_fib, subscribe_route_events, RouteChange};
use crate::lab::netns::{create_netns, delete_netns, in_netns, rtnetlink_in_netns};

fn skip_unless_root(test: &str) -> bool {
    let ok = nix::unistd::geteuid().is_root()
        && Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        println!("{test}: skipped: needs root and `ip` to create a namespace");
    }
    !ok
}

/// A scratch namespace `fl-expect-<pid>-<nanos>` with two veth pairs whose far ends stay
/// unaddressed (so their gateways are not local), deleted on drop.
struct Scratch {
    name: String,
    path: PathBuf,
}

impl Scratch {
    fn create() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("fl-expect-{}-{nanos}", std::process::id());
        let path = create_netns(&name).expect("create namespace");
        let s = Scratch { name, path };
        for cmd in [
            "link add fle0 type veth peer name fle1",
            "link add fle2 type veth peer name fle3",
            "link set lo up",
            "link set fle0 up",
            "link set fle1 up",
            "link set fle2 up",
            "link set fle3 up",
            "addr add 192.0.2.0/31 dev fle0",
            "addr add 192.0.2.2/31 dev fle2",
            "-6 addr add 2001:db8::/127 dev fle0 nodad",
            "-6 addr add 2001:db8::2/127 dev fle2 nodad",
        ] {
            s.ip(cmd);
        }
        s
    }

    fn ip(&self, args: &str) {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args.split_whitespace())
            .output()
            .expect("run ip");
        assert!(
            out.status.success(),
            "ip {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = delete_netns(&self.path);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn via(gw: &str, dev: &str) -> NextHop {
    NextHop::via(gw.parse().expect("gw"), dev)
}

#[test]
fn root_reader_reads_multipath_blackholes_and_skips_kernel_routes() {
    if skip_unless_root("root_reader_reads_multipath_blackholes_and_skips_kernel_routes") {
        return;
    }
    let s = Scratch::create();
    for cmd in [
        "route add 10.1.0.0/26 via 192.0.2.1 dev fle0 proto bird",
        "route add 10.2.0.0/26 proto bgp nexthop via 192.0.2.1 dev fle0 nexthop via 192.0.2.3 dev fle2",
        "route add blackhole 10.3.0.0/26 proto bird",
        "route add 10.3.0.1/32 dev fle1 scope link",
        "route add unreachable 10.4.0.0/24",
        "route add 10.5.0.0/24 via 192.0.2.1 metric 10",
        "route add 10.5.0.0/24 via 192.0.2.3 metric 20",
        "route add 10.6.0.0/24 via 192.0.2.1 table 100",
        "route add default via 192.0.2.1 proto 186",
        "-6 route add 2001:db8:1::/64 proto bgp nexthop via 2001:db8::1 dev fle0 nexthop via 2001:db8::3 dev fle2",
        "-6 route add blackhole 2001:db8:2::/64",
    ] {
        s.ip(cmd);
    }
    let rt = runtime();
    let read = rt
        .block_on(async {
            let handle = rtnetlink_in_netns(s.path())
                .await
                .expect("netlink in namespace");
            read_fib(&handle).await
        })
        .expect("read FIB");

    let want: NodeFib = [
        FibRoute::new(
            net("0.0.0.0/0"),
            RouteKind::unicast([via("192.0.2.1", "fle0")]),
        ),
        FibRoute::new(
            net("10.1.0.0/26"),
            RouteKind::unicast([via("192.0.2.1", "fle0")]),
        ),
        FibRoute::new(
            net("10.2.0.0/26"),
            RouteKind::unicast([via("192.0.2.1", "fle0"), via("192.0.2.3", "fle2")]),
        ),
        FibRoute::new(net("10.3.0.0/26"), RouteKind::Blackhole),
        FibRoute::new(
            net("10.3.0.1/32"),
            RouteKind::unicast([NextHop::dev("fle1")]),
        ),
        FibRoute::new(net("10.4.0.0/24"), RouteKind::Unreachable),
        FibRoute::new(
            net("10.5.0.0/24"),
            RouteKind::unicast([via("192.0.2.1", "fle0")]),
        ),
        FibRoute::new(
            net("2001:db8:1::/64"),
            RouteKind::unicast([via("2001:db8::1", "fle0"), via("2001:db8::3", "fle2")]),
        ),
        FibRoute::new(net("2001:db8:2::/64"), RouteKind::Blackhole),
    ]
    .into_iter()
    .collect();
    // Content equal: no connected /31 or /127, no fe80::/64, nothing from table 100 or local.
    let d = crate::expect::diff(&"scratch".into(), &want, &read.fib);
    assert!(d.is_empty(), "{}", crate::expect::render_diffs(&d));
    let proto = |p: &str| read.fib.get(&net(p)).and_then(|r| r.protocol);
    assert_eq!(proto("10.1.0.0/26"), Some(RouteProto::Bird));
    assert_eq!(proto("10.2.0.0/26"), Some(RouteProto::Bgp));
    assert_eq!(proto("0.0.0.0/0"), Some(RouteProto::Bgp));
    assert_eq!(proto("10.3.0.1/32"), Some(RouteProto::Boot));
    assert_eq!(read.shadowed.len(), 1, "{:?}", read.shadowed);
    assert_eq!(read.shadowed.first().and_then(|r| r.metric), Some(20));
    assert_eq!(read.fib.filtered(FamilyFilter::Ipv4).len(), 7);
}

#[test]
fn root_route_events_report_adds_and_removes_but_not_kernel_routes() {
    if skip_unless_root("root_route_events_report_adds_and_removes_but_not_kernel_routes") {
        return;
    }
    let s = Scratch::create();
    let rt = runtime();
    rt.block_on(async {
        let ns = s.path().to_path_buf();
        let rt_handle = tokio::runtime::Handle::current();
        let (conn, handle, mut events) = tokio::task::spawn_blocking(move || {
            in_netns(&ns, move || {
                let _entered = rt_handle.enter();
                subscribe_route_events(&[FamilyFilter::Ipv4])
            })
        })
        .await
        .expect("join")
        .expect("enter namespace")
        .expect("subscribe");
        tokio::spawn(conn);
        events.load_links(&handle).await.expect("links");

        // A connected subnet (proto kernel) and local-table entries come first and must be
        // filtered out: the first event seen is the BGP-like route.
        s.ip("addr add 192.0.2.4/31 dev fle1");
        s.ip("route add 10.7.0.0/24 via 192.0.2.1 dev fle0 proto bird");
        let deadline = Duration::from_secs(5);
        let first = tokio::time::timeout(deadline, events.next())
            .await
            .expect("an event in 5 s");
        let first = first.expect("stream open");
        assert_eq!(first.change, RouteChange::Added);
        assert_eq!(
            first.route.kind,
            RouteKind::unicast([via("192.0.2.1", "fle0")]),
            "{}",
            first.route
        );
        assert_eq!(first.route.prefix, net("10.7.0.0/24"));

        s.ip("route del 10.7.0.0/24");
        let second = tokio::time::timeout(deadline, events.next())
            .await
            .expect("an event in 5 s")
            .expect("stream open");
        assert_eq!(
            (second.change, second.route.prefix),
            (RouteChange::Removed, net("10.7.0.0/24"))
        );
        assert!(second.at >= first.at);
    });
}
