//! Kernel tests in a private network namespace. NEEDS ROOT: skipped (with a message) otherwise.
//!
//! Each test unshares a fresh network namespace on its own thread (`unshare(CLONE_NEWNET)`), runs
//! a current-thread runtime there and lets the namespace die with the thread: nothing can leak,
//! and the host's routes are never touched.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use futures::stream::{StreamExt, TryStreamExt};
use ipnet::IpNet;
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol, RouteType};
use rtnetlink::{Handle, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::*;
use crate::rib::{FibChange, FibNextHop, FibRoute};

fn in_private_netns<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root for a private network namespace");
        return;
    }
    let t = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(f());
    });
    if let Err(panic) = t.join() {
        std::panic::resume_unwind(panic);
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Index of the link called `name`.
async fn link_index(handle: &Handle, name: &str) -> u32 {
    handle
        .link()
        .get()
        .match_name(name)
        .execute()
        .try_next()
        .await
        .expect("get link")
        .expect("link exists")
        .header
        .index
}

/// A veth pair `fl0`/`fl1` (both ends here, both up) with 10.99.0.1/24 and fd99::1/64 on `fl0`.
/// Returns the indexes of `fl0` and `fl1`.
async fn veth_link(handle: &Handle) -> (u32, u32) {
    handle
        .link()
        .add(LinkVeth::new("fl0", "fl1").build())
        .execute()
        .await
        .expect("add veth");
    let (a, b) = (
        link_index(handle, "fl0").await,
        link_index(handle, "fl1").await,
    );
    for i in [a, b] {
        handle
            .link()
            .set(LinkUnspec::new_with_index(i).up().build())
            .execute()
            .await
            .expect("link up");
    }
    for (addr, len) in [("10.99.0.1", 24), ("fd99::1", 64)] {
        handle
            .address()
            .add(a, ip(addr), len)
            .execute()
            .await
            .expect("add address");
    }
    (a, b)
}

async fn all_routes(handle: &Handle) -> Vec<RouteMessage> {
    let mut out = Vec::new();
    for req in [
        RouteMessageBuilder::<std::net::Ipv4Addr>::new().build(),
        RouteMessageBuilder::<std::net::Ipv6Addr>::new().build(),
    ] {
        let r: Vec<RouteMessage> = handle
            .route()
            .get(req)
            .execute()
            .try_collect()
            .await
            .expect("dump");
        out.extend(r);
    }
    out
}

fn gateways(m: &RouteMessage) -> Vec<IpAddr> {
    let mut gws: Vec<IpAddr> = m
        .attributes
        .iter()
        .flat_map(|a| match a {
            RouteAttribute::Gateway(g) => vec![g.clone()],
            RouteAttribute::MultiPath(hops) => hops
                .iter()
                .flat_map(|h| h.attributes.iter())
                .filter_map(|a| match a {
                    RouteAttribute::Gateway(g) => Some(g.clone()),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        })
        .filter_map(|g| match g {
            netlink_packet_route::route::RouteAddress::Inet(a) => Some(IpAddr::V4(a)),
            netlink_packet_route::route::RouteAddress::Inet6(a) => Some(IpAddr::V6(a)),
            _ => None,
        })
        .collect();
    gws.sort();
    gws
}

fn ours_for(routes: &[RouteMessage], prefix: &str) -> Vec<RouteMessage> {
    routes
        .iter()
        .filter(|m| {
            messages::is_ours(m, &RouteTarget::default())
                && messages::route_prefix(m) == Some(net(prefix))
        })
        .cloned()
        .collect()
}

#[test]
fn netns_install_replace_delete_and_purge() {
    in_private_netns(|| async {
        let (conn, handle, _) = rtnetlink::new_connection().expect("netlink");
        tokio::spawn(conn);
        let (idx, _) = veth_link(&handle).await;
        let (mut fib, fconn) = NetlinkFib::connect(RouteTarget::default()).expect("fib");
        tokio::spawn(fconn);
        let hop = |g: &str| FibNextHop {
            gateway: ip(g),
            ifindex: Some(idx),
        };

        let report = fib
            .apply(vec![
                FibChange::Replace {
                    prefix: net("192.168.1.0/24"),
                    route: FibRoute::unicast(vec![hop("10.99.0.2")]),
                },
                FibChange::Replace {
                    prefix: net("192.168.2.0/24"),
                    route: FibRoute::unicast(vec![hop("10.99.0.2"), hop("10.99.0.3")]),
                },
                FibChange::Replace {
                    prefix: net("192.168.3.64/26"),
                    route: FibRoute::Blackhole,
                },
                FibChange::Replace {
                    prefix: net("2001:db8:1::/48"),
                    route: FibRoute::unicast(vec![hop("fd99::2"), hop("fd99::3")]),
                },
                // Deleting a route that is not there is fine (ESRCH ignored).
                FibChange::Delete {
                    prefix: net("192.168.9.0/24"),
                },
            ])
            .await;
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert_eq!(report.applied, 5);

        let routes = all_routes(&handle).await;
        let r1 = ours_for(&routes, "192.168.1.0/24");
        assert_eq!(r1.len(), 1);
        assert_eq!(r1[0].header.protocol, RouteProtocol::Other(RTPROT_FABRIC));
        assert_eq!(gateways(&r1[0]), vec![ip("10.99.0.2")]);
        assert_eq!(
            gateways(&ours_for(&routes, "192.168.2.0/24")[0]),
            vec![ip("10.99.0.2"), ip("10.99.0.3")]
        );
        assert_eq!(
            ours_for(&routes, "192.168.3.64/26")[0].header.kind,
            RouteType::BlackHole
        );
        let v6: Vec<IpAddr> = ours_for(&routes, "2001:db8:1::/48")
            .iter()
            .flat_map(gateways)
            .collect();
        assert_eq!(v6, vec![ip("fd99::2"), ip("fd99::3")]);

        // Replace in place: ECMP -> single next hop, still one route.
        let report = fib
            .apply(vec![
                FibChange::Replace {
                    prefix: net("192.168.2.0/24"),
                    route: FibRoute::unicast(vec![hop("10.99.0.3")]),
                },
                FibChange::Replace {
                    prefix: net("2001:db8:1::/48"),
                    route: FibRoute::unicast(vec![hop("fd99::3")]),
                },
                FibChange::Delete {
                    prefix: net("192.168.1.0/24"),
                },
            ])
            .await;
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        let routes = all_routes(&handle).await;
        let r2 = ours_for(&routes, "192.168.2.0/24");
        assert_eq!(r2.len(), 1);
        assert_eq!(gateways(&r2[0]), vec![ip("10.99.0.3")]);
        let v6: Vec<IpAddr> = ours_for(&routes, "2001:db8:1::/48")
            .iter()
            .flat_map(gateways)
            .collect();
        assert_eq!(v6, vec![ip("fd99::3")]);
        assert!(ours_for(&routes, "192.168.1.0/24").is_empty());

        // A gateway not on any link is refused, and reported, without stopping the batch.
        let report = fib
            .apply(vec![
                FibChange::Replace {
                    prefix: net("192.168.4.0/24"),
                    route: FibRoute::unicast(vec![FibNextHop {
                        gateway: ip("172.31.0.1"),
                        ifindex: None,
                    }]),
                },
                FibChange::Replace {
                    prefix: net("192.168.5.0/24"),
                    route: FibRoute::Blackhole,
                },
            ])
            .await;
        assert_eq!(report.applied, 1);
        assert_eq!(report.failed.len(), 1);

        // Someone else's route with another protocol survives the purge; ours do not.
        let foreign = RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .destination_prefix("192.168.2.0".parse().unwrap(), 24)
            .gateway("10.99.0.7".parse().unwrap())
            .protocol(RouteProtocol::Static)
            .build();
        handle
            .route()
            .add(foreign)
            .execute()
            .await
            .expect("foreign route");
        let mut removed = fib.purge_stale().await.expect("purge");
        removed.sort();
        assert_eq!(
            removed,
            vec![
                net("192.168.2.0/24"),
                net("192.168.3.64/26"),
                net("192.168.5.0/24"),
                net("2001:db8:1::/48")
            ]
        );
        let routes = all_routes(&handle).await;
        assert!(routes
            .iter()
            .all(|m| !messages::is_ours(m, &RouteTarget::default())));
        assert!(routes
            .iter()
            .any(|m| messages::route_prefix(m) == Some(net("192.168.2.0/24"))
                && m.header.protocol == RouteProtocol::Static));
    });
}

#[test]
fn netns_link_down_is_reported_at_once() {
    in_private_netns(|| async {
        let (conn, handle, _) = rtnetlink::new_connection().expect("netlink");
        tokio::spawn(conn);
        let (mut events, econn) = subscribe().expect("subscribe");
        tokio::spawn(econn);
        let (idx, peer_end) = veth_link(&handle).await;

        let snapshot = events.snapshot().await.expect("snapshot");
        let mut connected = crate::rib::ConnectedRoutes::new();
        for ev in &snapshot {
            ev.apply_to(&mut connected);
        }
        assert_eq!(connected.interface_of(ip("10.99.0.2")), Some(idx));
        assert_eq!(connected.interface_of(ip("fd99::2")), Some(idx));

        // Carrier loss, not an admin change on our side: the far end of the veth goes down.
        handle
            .link()
            .set(LinkUnspec::new_with_index(peer_end).down().build())
            .execute()
            .await
            .expect("peer end down");
        // Poll the event stream with a deadline; report what was seen on timeout.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(Some(ev)) => {
                    let done = ev.is_link_down()
                        && matches!(ev, KernelEvent::Link { ifindex, .. } if ifindex == idx);
                    seen.push(ev);
                    if done {
                        break;
                    }
                }
                Ok(None) => panic!("event stream ended; seen {seen:?}"),
                Err(_) => panic!("no link-down event within 5 s; seen {seen:?}"),
            }
        }
        let down = seen.last().cloned().expect("an event");
        let changed = down.apply_to(&mut connected);
        assert!(changed.contains(&net("10.99.0.0/24")), "{changed:?}");
        use crate::rib::NextHopResolver;
        assert!(connected.resolve(ip("10.99.0.2")).is_none());
    });
}

/// Install 200k routes (one request each, many in flight), then purge them. Prints the rates.
/// `cargo test --release -p fabric-speaker --lib netns_bulk -- --ignored --nocapture` (root).
#[test]
#[ignore = "throughput measurement, run explicitly"]
fn netns_bulk_install_rate() {
    in_private_netns(|| async {
        let (conn, handle, _) = rtnetlink::new_connection().expect("netlink");
        tokio::spawn(conn);
        let (idx, _) = veth_link(&handle).await;
        let (mut fib, fconn) = NetlinkFib::connect(RouteTarget::default()).expect("fib");
        tokio::spawn(fconn);
        const N: u32 = 200_000;
        let changes: Vec<FibChange> = (0..N)
            .map(|i| FibChange::Replace {
                prefix: IpNet::new(IpAddr::V4((0x2000_0000 + (i << 8)).into()), 24).unwrap(),
                route: FibRoute::unicast(vec![FibNextHop {
                    gateway: ip("10.99.0.2"),
                    ifindex: Some(idx),
                }]),
            })
            .collect();
        let t = std::time::Instant::now();
        let report = fib.apply(changes).await;
        let install = t.elapsed();
        assert!(report.failed.is_empty(), "{:?}", report.failed.first());
        assert_eq!(report.applied, N as usize);
        let t = std::time::Instant::now();
        let removed = fib.purge_stale().await.expect("purge");
        let purge = t.elapsed();
        assert_eq!(removed.len(), N as usize);
        eprintln!(
            "{N} routes: install {install:?} ({:.0}/s), purge {purge:?} ({:.0}/s)",
            f64::from(N) / install.as_secs_f64(),
            f64::from(N) / purge.as_secs_f64()
        );
    });
}

/// Graceful restart (RFC 4724 §4.1): the routes a killed instance left are kept by the next
/// one, reconciled with what its Loc-RIB wants, and only the differences reach the kernel: an
/// unchanged route is not touched (no RTM_DELROUTE/RTM_NEWROUTE for it), a changed one is
/// replaced in place, a stale one is swept.
#[test]
fn netns_restart_keeps_routes_writes_only_changes_and_sweeps_stale() {
    in_private_netns(|| async {
        let (conn, handle, _) = rtnetlink::new_connection().expect("netlink");
        tokio::spawn(conn);
        let (idx, _) = veth_link(&handle).await;
        let hop = |g: &str| FibNextHop {
            gateway: ip(g),
            ifindex: Some(idx),
        };
        let before = [
            (
                net("192.168.1.0/24"),
                FibRoute::unicast(vec![hop("10.99.0.2")]),
            ),
            (
                net("192.168.2.0/24"),
                FibRoute::unicast(vec![hop("10.99.0.2")]),
            ),
            (
                net("192.168.3.0/24"),
                FibRoute::unicast(vec![hop("10.99.0.2")]),
            ),
            (net("192.168.10.0/26"), FibRoute::Blackhole),
            (
                net("2001:db8:1::/48"),
                FibRoute::unicast(vec![hop("fd99::2"), hop("fd99::3")]),
            ),
        ];
        {
            // The previous instance installs its routes and dies without cleaning up.
            let (mut old, oconn) = NetlinkFib::connect(RouteTarget::default()).expect("fib");
            let task = tokio::spawn(oconn);
            let changes = before
                .iter()
                .map(|(prefix, route)| FibChange::Replace {
                    prefix: *prefix,
                    route: route.clone(),
                })
                .collect();
            let report = old.apply(changes).await;
            assert!(report.failed.is_empty(), "{:?}", report.failed);
            task.abort();
        }

        // The new instance reads them back instead of purging.
        let (mut fib, fconn) = NetlinkFib::connect(RouteTarget::default()).expect("fib");
        tokio::spawn(fconn);
        let kept = KeptRoutes::from_messages(&fib.dump_ours().await.expect("dump"));
        assert_eq!(kept.len(), before.len());
        for (p, r) in &before {
            assert_eq!(kept.get(p), Some(r), "{p} read back as installed");
        }

        // Route events from now on (unicast routes of every protocol).
        let (mut events, econn) = subscribe().expect("subscribe");
        tokio::spawn(econn);
        // What the Loc-RIB wants after the deferral: 1.0 and the blackhole and the IPv6 ECMP
        // route unchanged, 2.0 via another gateway, 4.0 new; 3.0 is gone.
        let wanted: std::collections::BTreeMap<IpNet, FibRoute> = [
            (
                net("192.168.1.0/24"),
                FibRoute::unicast(vec![hop("10.99.0.2")]),
            ),
            (
                net("192.168.2.0/24"),
                FibRoute::unicast(vec![hop("10.99.0.3")]),
            ),
            (
                net("192.168.4.0/24"),
                FibRoute::unicast(vec![hop("10.99.0.3")]),
            ),
            (net("192.168.10.0/26"), FibRoute::Blackhole),
            (
                net("2001:db8:1::/48"),
                FibRoute::unicast(vec![hop("fd99::2"), hop("fd99::3")]),
            ),
        ]
        .into_iter()
        .collect();
        let done = kept.reconcile(&wanted);
        assert_eq!((done.unchanged, done.replaced, done.swept), (3, 1, 1));
        let report = fib.apply(done.changes).await;
        assert!(report.failed.is_empty(), "{:?}", report.failed);

        // The sweep's delete is the last change: once its event is seen, all are in.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut seen: Vec<KernelEvent> = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(Some(ev)) => {
                    let last = matches!(&ev, KernelEvent::RouteRemoved { prefix, .. }
                        if *prefix == net("192.168.3.0/24"));
                    seen.push(ev);
                    if last {
                        break;
                    }
                }
                Ok(None) => panic!("event stream ended; seen {seen:?}"),
                Err(_) => panic!("no delete of the stale route within 5 s; seen {seen:?}"),
            }
        }
        let touched: Vec<IpNet> = seen
            .iter()
            .filter_map(|ev| match ev {
                KernelEvent::RouteAdded { prefix, .. }
                | KernelEvent::RouteRemoved { prefix, .. } => Some(*prefix),
                _ => None,
            })
            .collect();
        for unchanged in ["192.168.1.0/24", "2001:db8:1::/48"] {
            assert!(
                !touched.contains(&net(unchanged)),
                "{unchanged} was rewritten: {seen:?}"
            );
        }
        assert!(touched.contains(&net("192.168.2.0/24")), "{seen:?}");
        assert!(touched.contains(&net("192.168.4.0/24")), "{seen:?}");
        // 192.168.2.0/24 was replaced in place: no removal event for it.
        assert!(
            !seen
                .iter()
                .any(|ev| matches!(ev, KernelEvent::RouteRemoved { prefix, .. }
                if *prefix == net("192.168.2.0/24"))),
            "{seen:?}"
        );

        // The kernel now holds exactly what the Loc-RIB wants.
        let after = KeptRoutes::from_messages(&fib.dump_ours().await.expect("dump"));
        assert_eq!(after.len(), wanted.len());
        for (p, r) in &wanted {
            assert_eq!(after.get(p), Some(r), "{p}");
        }
        assert_eq!(after.get(&net("192.168.3.0/24")), None, "swept");
    });
}
