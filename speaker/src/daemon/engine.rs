//! The seam between sessions and routing: the owner loop calls a [`RouteEngine`] whenever routes
//! may change and sends what it returns.
//!
//! ```text
//!   UPDATE received ──► engine.update_received(peer, update) ──► Vec<Outgoing> ──► UPDATEs per peer
//!   Established     ──► engine.peer_up(&PeerInfo)            ──► initial routes + End-of-RIB
//!   session down    ──► engine.peer_down(peer)               ──► withdrawals to the others
//!   ROUTE-REFRESH   ──► engine.route_refresh(peer, family)   ──► Adj-RIB-Out again
//!   control socket  ──► engine.originate / withdraw_originated / routes
//!   engine deadline ──► engine.poll(now)                     ──► held-back UPDATEs (MRAI)
//!   kernel link/addr/route event ──► engine.kernel_event(ev) ──► UPDATEs + sessions to drop
//!   dynamic peer reaped ──► engine.peer_removed(peer)
//!   control socket  ──► engine.loc_rib / fib                 ──► explained Loc-RIB, kernel routes
//!   sending an OPEN ──► engine.open_flags()                  ──► R/F bits (restarting speaker)
//!   restart recovery ─► engine.end_deferral / restart_status ──► deferred Adj-RIB-Out + EoR
//! ```
//!
//! The engine is pure (no I/O, no clock): it gets decoded UPDATEs (RFC 7606 actions already
//! applied by the wire crate) and returns wire UPDATEs ready to encode. It decides grouping
//! (many prefixes per UPDATE) and when each End-of-RIB is sent (RFC 4724 §2; a GR-aware engine
//! may defer it). The owner splits an UPDATE that does not fit the session's maximum message
//! size, so engines may group generously.
//!
//! [`crate::rib::route_engine::RibRouteEngine`] implements it (the RIB, the decision process and
//! the kernel FIB); tests may plug in simpler engines.

use std::net::IpAddr;
use std::time::Instant;

use fabric_bgp_wire::{
    AfiSafi, Asn, CodecContext, GracefulRestart, MpNlri, MpReach, MpUnreach, RouterId, Update,
};
use ipnet::IpNet;

use crate::config::Neighbor;
use crate::control::{FibEntry, PrefixCounts, RestartStatus, RibEntry, RouteDir, RouteEntry};
use crate::fib::KernelEvent;
use crate::gr::restarting::OpenFlags;
use crate::policy::PolicyBook;
use crate::rib::origin::LocalRoute;

/// What the engine knows about an Established peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Peer address (the neighbor key).
    pub address: IpAddr,
    /// Our address on the session (the natural NEXT_HOP, RFC 4271 §5.1.3).
    pub local_address: IpAddr,
    /// Our AS.
    pub local_as: Asn,
    /// Our BGP Identifier.
    pub local_id: RouterId,
    /// The peer's AS from its OPEN.
    pub peer_as: Asn,
    /// The peer's BGP Identifier.
    pub peer_id: RouterId,
    /// What the OPEN exchange negotiated: families, 4-octet AS, ADD-PATH, extended next hop.
    pub codec: CodecContext,
    /// The neighbor's configuration, including the routing settings (next-hop-self, RR client,
    /// policies, default-originate, allowas-in).
    pub neighbor: Neighbor,
    /// The peer's graceful restart capability, if it sent one.
    pub peer_graceful_restart: Option<GracefulRestart>,
}

impl PeerInfo {
    /// Whether the peer is in our AS.
    pub fn is_internal(&self) -> bool {
        self.peer_as == self.local_as
    }
}

/// UPDATEs to send to one peer, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The peer.
    pub peer: IpAddr,
    /// The UPDATEs.
    pub updates: Vec<Update>,
}

/// What a kernel event means for the sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelEventOutcome {
    /// UPDATEs caused by the resulting route changes.
    pub outgoing: Vec<Outgoing>,
    /// Peers whose session runs over a link that just went down: stop them now rather than
    /// after the hold timer.
    pub peers_to_drop: Vec<IpAddr>,
}

/// Routing logic driven by the owner loop. See the module docs for when each method is called.
pub trait RouteEngine: Send {
    /// The peer reached Established: return its initial routes and End-of-RIB markers.
    fn peer_up(&mut self, peer: &PeerInfo) -> Vec<Outgoing>;
    /// The peer left Established: forget its routes, return what the other peers must hear.
    fn peer_down(&mut self, peer: IpAddr) -> Vec<Outgoing>;
    /// An UPDATE (possibly an End-of-RIB) arrived from an Established peer.
    fn update_received(&mut self, peer: IpAddr, update: Update) -> Vec<Outgoing>;
    /// The peer asked for `family` again (RFC 2918); the owner adds the RFC 7313 BoRR/EoRR.
    fn route_refresh(&mut self, peer: IpAddr, family: AfiSafi) -> Vec<Outgoing>;
    /// Start originating `prefix`.
    fn originate(&mut self, prefix: IpNet) -> Vec<Outgoing>;
    /// Stop originating `prefix`.
    fn withdraw_originated(&mut self, prefix: IpNet) -> Vec<Outgoing>;
    /// The prefixes we originate.
    fn originated(&self) -> Vec<IpNet>;
    /// Routes in Adj-RIB-In (received) or Adj-RIB-Out (advertised), of one or every peer.
    fn routes(&self, dir: RouteDir, peer: Option<IpAddr>) -> Vec<RouteEntry>;
    /// How many prefixes the peer's Adj-RIB-In and Adj-RIB-Out hold.
    fn prefix_counts(&self, peer: IpAddr) -> PrefixCounts;
    /// When [`RouteEngine::poll`] next has something to send (e.g. MRAI, RFC 4271 §9.2.1.1);
    /// the owner loop wakes up then. The default engine never holds output back.
    fn next_deadline(&self, _now: Instant) -> Option<Instant> {
        None
    }
    /// Output held back until `now` (called when [`RouteEngine::next_deadline`] is reached).
    /// Afterwards `next_deadline` must lie after `now`, or the owner loop would spin.
    fn poll(&mut self, _now: Instant) -> Vec<Outgoing> {
        Vec::new()
    }
    /// Start originating a route with its settings (blackhole, communities). The default only
    /// announces the prefix.
    fn originate_route(&mut self, route: LocalRoute) -> Vec<Outgoing> {
        self.originate(route.prefix)
    }
    /// A link, address or route of the kernel changed (fast failover, next-hop resolution).
    fn kernel_event(&mut self, _event: &KernelEvent) -> KernelEventOutcome {
        KernelEventOutcome::default()
    }
    /// Kernel notifications were lost: `events` is the whole current state (a new snapshot).
    /// The default applies each event as if it had just happened.
    fn kernel_resync(&mut self, events: &[KernelEvent]) -> KernelEventOutcome {
        let mut all = KernelEventOutcome::default();
        for ev in events {
            let o = self.kernel_event(ev);
            all.outgoing.extend(o.outgoing);
            all.peers_to_drop.extend(o.peers_to_drop);
        }
        all
    }
    /// The named policies changed (configuration reload): re-evaluate what every peer is sent.
    /// Import policies apply to routes received from now on (the owner asks peers for a
    /// ROUTE-REFRESH so they do at once).
    fn set_policies(&mut self, _policies: PolicyBook) -> Vec<Outgoing> {
        Vec::new()
    }
    /// A dynamic peer was removed for good (its session closed): forget it.
    fn peer_removed(&mut self, _peer: IpAddr) {}
    /// The Loc-RIB with every path's decision status (`None`: every destination).
    fn loc_rib(&self, _prefix: Option<IpNet>, _peer: Option<IpAddr>) -> Vec<RibEntry> {
        Vec::new()
    }
    /// What the engine installed in the kernel, and how many changes the kernel has not
    /// applied yet; `None` when it has no kernel FIB.
    fn fib(&self, _prefix: Option<IpNet>) -> Option<(Vec<FibEntry>, usize)> {
        None
    }
    /// The R and F bits of our graceful restart capability now (restarting speaker, RFC 4724
    /// §4.1): R=1 while recovering from our restart, F=1 for families whose forwarding state
    /// survived it. The default: not restarting.
    fn open_flags(&self) -> OpenFlags {
        OpenFlags::default()
    }
    /// End selection deferral now (RFC 4724 §4.1): the FIB is reconciled and every peer sent
    /// its Adj-RIB-Out and End-of-RIB. The engine also ends it by itself when every awaited
    /// End-of-RIB arrived ([`RouteEngine::update_received`]) or the timer expired
    /// ([`RouteEngine::poll`]). Nothing when not deferring.
    fn end_deferral(&mut self) -> Vec<Outgoing> {
        Vec::new()
    }
    /// The restarting speaker's state for the control socket; `None` if this start was not a
    /// graceful restart.
    fn restart_status(&self, _now: Instant) -> Option<RestartStatus> {
        None
    }
    /// The peer left Established but restarts gracefully (helper, RFC 4724 §4.2): keep its
    /// routes of the `retain` families unchanged (Loc-RIB, exports, kernel), marked stale;
    /// routes already stale from an earlier drop are deleted, long-lived stale ones stay (RFC
    /// 9494 §4.2); other families' routes are deleted. The default keeps nothing.
    fn peer_down_retaining(&mut self, peer: IpAddr, _retain: &[AfiSafi]) -> Vec<Outgoing> {
        self.peer_down(peer)
    }
    /// Delete the peer's routes still stale for `family` (End-of-RIB, restart, stale-path or
    /// long-lived timer, F=0 on the new OPEN).
    fn flush_stale(&mut self, _peer: IpAddr, _family: AfiSafi) -> Vec<Outgoing> {
        Vec::new()
    }
    /// Make the peer's stale routes of `family` long-lived stale (RFC 9494 §4.2): LLGR_STALE
    /// attached and re-advertised (least preferred, only to LLGR peers), NO_LLGR ones deleted.
    /// The default deletes them.
    fn long_lived_stale(&mut self, peer: IpAddr, family: AfiSafi) -> Vec<Outgoing> {
        self.flush_stale(peer, family)
    }
    /// How many of the peer's routes are stale, and how many long-lived stale.
    fn stale_counts(&self, _peer: IpAddr) -> (usize, usize) {
        (0, 0)
    }
    /// Whether the peer advertised LLGR (with GR) on the session about to come up, so it may
    /// be sent LLGR_STALE routes (RFC 9494 §4.3). Called before [`RouteEngine::peer_up`].
    fn set_long_lived_peer(&mut self, _peer: IpAddr, _long_lived: bool) {}
}

/// Splits an UPDATE that exceeds the session's maximum message size into two smaller ones with
/// the same meaning: withdrawals go first (as within one UPDATE, RFC 4271 §4.3), announced
/// prefixes are halved with the attributes repeated. `None` when nothing can be split off.
pub fn split_update(u: &Update) -> Option<(Update, Update)> {
    fn halve<T: Clone>(v: &[T]) -> (Vec<T>, Vec<T>) {
        let (a, b) = v.split_at(v.len() / 2);
        (a.to_vec(), b.to_vec())
    }
    fn halve_mp(n: &MpNlri) -> Option<(MpNlri, MpNlri)> {
        match n {
            MpNlri::Ipv4(v) if v.len() > 1 => {
                let (a, b) = halve(v);
                Some((MpNlri::Ipv4(a), MpNlri::Ipv4(b)))
            }
            MpNlri::Ipv6(v) if v.len() > 1 => {
                let (a, b) = halve(v);
                Some((MpNlri::Ipv6(a), MpNlri::Ipv6(b)))
            }
            _ => None,
        }
    }
    let attrs = &u.attributes;
    let announces = !u.nlri.is_empty() || attrs.mp_reach.is_some() || attrs.mp_unreach.is_some();
    // 1. Withdrawn Routes field: half of it (or all of it, if there is more) in a withdraw-only
    //    UPDATE first.
    if u.withdrawn.len() > 1 || (!u.withdrawn.is_empty() && announces) {
        let (first, rest) = if u.withdrawn.len() > 1 && !announces {
            halve(&u.withdrawn)
        } else {
            (u.withdrawn.clone(), Vec::new())
        };
        let withdraw = Update {
            withdrawn: first,
            ..Update::default()
        };
        return Some((
            withdraw,
            Update {
                withdrawn: rest,
                ..u.clone()
            },
        ));
    }
    // 2. NLRI field: halve it; MP attributes stay with the first half.
    if u.nlri.len() > 1 {
        let (a, b) = halve(&u.nlri);
        let first = Update {
            nlri: a,
            ..u.clone()
        };
        let mut second = Update {
            nlri: b,
            ..u.clone()
        };
        second.attributes.mp_reach = None;
        second.attributes.mp_unreach = None;
        return Some((first, second));
    }
    // 3. MP_UNREACH_NLRI: a withdraw-only UPDATE with half of it.
    if let Some(unreach) = &attrs.mp_unreach {
        if let Some((a, b)) = halve_mp(&unreach.withdrawn) {
            let mut first = Update::default();
            first.attributes.mp_unreach = Some(MpUnreach {
                withdrawn: a,
                ..unreach.clone()
            });
            let mut second = u.clone();
            second.attributes.mp_unreach = Some(MpUnreach {
                withdrawn: b,
                ..unreach.clone()
            });
            return Some((first, second));
        }
    }
    // 4. MP_REACH_NLRI: halve it, attributes repeated.
    if let Some(reach) = &attrs.mp_reach {
        if let Some((a, b)) = halve_mp(&reach.nlri) {
            let mut first = u.clone();
            first.attributes.mp_reach = Some(MpReach {
                nlri: a,
                ..reach.clone()
            });
            let mut second = u.clone();
            second.withdrawn.clear();
            second.nlri.clear();
            second.attributes.mp_unreach = None;
            second.attributes.mp_reach = Some(MpReach {
                nlri: b,
                ..reach.clone()
            });
            return Some((first, second));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use fabric_bgp_wire::{
        AsPath, EncodeError, Message, MpNextHop, Nlri, Origin, PathAttributes, Update,
    };
    use ipnet::{Ipv4Net, Ipv6Net};

    use super::*;

    fn attrs() -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence([Asn(65001)])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..PathAttributes::default()
        }
    }

    fn v4(i: u32) -> Nlri<Ipv4Net> {
        Nlri::new(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + i), 32).unwrap())
    }

    fn v6(i: u16) -> Nlri<Ipv6Net> {
        Nlri::new(Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 1), 128).unwrap())
    }

    /// What the owner does: encode, split on MessageTooLong, repeat.
    fn encode_all(u: Update) -> Vec<Update> {
        let ctx = CodecContext::four_octet();
        let mut done = Vec::new();
        let mut pending = vec![u];
        while let Some(u) = pending.pop() {
            match Message::Update(u.clone()).encode(&ctx) {
                Ok(bytes) => {
                    assert!(bytes.len() <= 4096);
                    done.push(u);
                }
                Err(EncodeError::MessageTooLong { .. }) => {
                    let (a, b) = split_update(&u).expect("splittable");
                    pending.push(b);
                    pending.push(a);
                }
                Err(e) => panic!("{e}"),
            }
        }
        done
    }

    #[test]
    fn oversize_ipv4_update_is_split_without_losing_prefixes() {
        let nlri: Vec<_> = (0..2000).map(v4).collect();
        let withdrawn: Vec<_> = (5000..5300).map(v4).collect();
        let u = Update {
            withdrawn: withdrawn.clone(),
            nlri: nlri.clone(),
            attributes: attrs(),
        };
        let parts = encode_all(u);
        assert!(parts.len() > 2, "{}", parts.len());
        let got_w: Vec<_> = parts.iter().flat_map(|p| p.withdrawn.clone()).collect();
        let got_n: Vec<_> = parts.iter().flat_map(|p| p.nlri.clone()).collect();
        assert_eq!(got_w, withdrawn, "withdrawals kept, in order");
        assert_eq!(got_n, nlri, "announcements kept, in order");
        // Withdrawals come before any announcement, and every UPDATE announcing something
        // carries the attributes; withdraw-only ones carry none.
        let first_announce = parts.iter().position(|p| !p.nlri.is_empty()).unwrap();
        assert!(parts[first_announce..]
            .iter()
            .all(|p| p.withdrawn.is_empty()));
        for p in &parts {
            if p.nlri.is_empty() {
                assert!(p.attributes.is_empty(), "{p:?}");
            } else {
                assert_eq!(p.attributes, attrs());
            }
        }
    }

    #[test]
    fn oversize_mp_update_is_split() {
        let nlri: Vec<_> = (0..600).map(v6).collect();
        let nh = MpNextHop::Ipv6 {
            global: Ipv6Addr::LOCALHOST,
            link_local: None,
        };
        let mut a = attrs();
        a.next_hop = None;
        let u = Update::announce_ipv6(a, nh.clone(), nlri.clone());
        let parts = encode_all(u);
        let mut got = Vec::new();
        for p in &parts {
            let reach = p
                .attributes
                .mp_reach
                .as_ref()
                .expect("every part announces");
            assert_eq!(reach.next_hop, nh);
            assert_eq!(p.attributes.origin, Some(Origin::Igp));
            if let MpNlri::Ipv6(v) = &reach.nlri {
                got.extend(v.iter().copied());
            }
        }
        assert_eq!(got, nlri);

        let w: Vec<_> = (0..600).map(v6).collect();
        let parts = encode_all(Update::withdraw_ipv6(w.clone()));
        let got: Vec<_> = parts
            .iter()
            .flat_map(|p| match &p.attributes.mp_unreach {
                Some(MpUnreach {
                    withdrawn: MpNlri::Ipv6(v),
                    ..
                }) => v.clone(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(got, w);
    }

    #[test]
    fn single_prefix_cannot_be_split() {
        assert_eq!(
            split_update(&Update::announce_ipv4(attrs(), vec![v4(1)])),
            None
        );
        assert_eq!(split_update(&Update::default()), None);
    }
}
