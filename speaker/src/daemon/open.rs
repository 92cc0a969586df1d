//! Our OPEN's capabilities and what we read from the peer's (RFC 5492, RFC 4760, RFC 6793,
//! RFC 2918/7313, RFC 4724, RFC 8950, FQDN capability).

use std::net::IpAddr;

use fabric_bgp_wire::{
    Afi, AfiSafi, Capability, CodecContext, ExtendedNextHop, GrFamily, GracefulRestart, Open,
};

use crate::config::{Config, Neighbor};
use crate::control::{GracefulRestartFamily, GracefulRestartInfo, NegotiatedCapabilities};
use crate::fsm::PeerOpen;
use crate::gr::restarting::OpenFlags;

/// The capabilities we advertise to `neighbor`; `restart` holds the R and F bits of the
/// graceful restart capability at run time (the engine's [`OpenFlags`]).
pub fn local_capabilities(
    config: &Config,
    neighbor: &Neighbor,
    hostname: &str,
    restart: &OpenFlags,
) -> Vec<Capability> {
    let families = neighbor.afi_safis();
    let mut caps: Vec<Capability> = families
        .iter()
        .map(|af| Capability::Multiprotocol(*af))
        .collect();
    caps.push(Capability::RouteRefresh);
    caps.push(Capability::EnhancedRouteRefresh);
    caps.push(Capability::FourOctetAs(config.local_as));
    // RFC 8950: IPv4 routes over an IPv6 session need an IPv6 next hop.
    if matches!(neighbor.address, IpAddr::V6(_)) && families.contains(&AfiSafi::IPV4_UNICAST) {
        caps.push(Capability::ExtendedNextHop(vec![ExtendedNextHop {
            afi_safi: AfiSafi::IPV4_UNICAST,
            next_hop_afi: Afi::Ipv6,
        }]));
    }
    let gr = &config.graceful_restart;
    if gr.enabled {
        // RFC 4724 §4.1: R=1 only while recovering from our own restart (§4.2: never as a
        // mere helper); F=1 for a family only if its forwarding state really survived, or
        // when `preserve-forwarding` forces it.
        caps.push(Capability::GracefulRestart(GracefulRestart {
            restart_state: restart.restart_state,
            notification: gr.notification,
            restart_time: gr.restart_time,
            families: families
                .iter()
                .map(|af| GrFamily {
                    afi_safi: *af,
                    forwarding_state: gr.preserve_forwarding || restart.forwarding.contains(af),
                })
                .collect(),
        }));
        // RFC 9494 §3: LLGR only alongside GR, one entry per family with our long-lived stale
        // time; 0 turns it off (no capability 71).
        if gr.long_lived_stale_time > 0 {
            caps.push(Capability::LongLivedGracefulRestart(
                families
                    .iter()
                    .map(|af| fabric_bgp_wire::LlgrFamily {
                        afi_safi: *af,
                        forwarding_state: gr.preserve_forwarding || restart.forwarding.contains(af),
                        stale_time: gr.long_lived_stale_time,
                    })
                    .collect(),
            ));
        }
    }
    caps.push(Capability::Fqdn {
        hostname: hostname.to_owned(),
        domain: config.domain_name.clone().unwrap_or_default(),
    });
    caps
}

/// The OPEN fields the FSM checks.
pub fn peer_open(open: &Open) -> PeerOpen {
    PeerOpen {
        version: open.version,
        my_as: open.my_as,
        hold_time: open.hold_time,
        bgp_id: open.router_id,
        four_octet_as: open.four_octet_asn(),
    }
}

/// The negotiated capabilities as the control socket shows them.
pub fn negotiated_view(
    local: &[Capability],
    remote: &Open,
    codec: &CodecContext,
) -> NegotiatedCapabilities {
    let family = |af: &AfiSafi| af.to_string();
    NegotiatedCapabilities {
        four_octet_as: codec.four_octet_as,
        families: codec.families.iter().map(family).collect(),
        route_refresh: codec.route_refresh,
        enhanced_route_refresh: codec.enhanced_route_refresh,
        extended_next_hop: codec
            .extended_nexthop
            .iter()
            .map(|e| {
                let nh = match e.next_hop_afi {
                    Afi::Ipv4 => "ipv4".to_owned(),
                    Afi::Ipv6 => "ipv6".to_owned(),
                    Afi::Unknown(c) => format!("afi{c}"),
                };
                format!("{}/{nh}", e.afi_safi)
            })
            .collect(),
        graceful_restart_local: local
            .iter()
            .any(|c| matches!(c, Capability::GracefulRestart(_))),
        graceful_restart_peer: remote.graceful_restart().map(|gr| GracefulRestartInfo {
            restart_time: gr.restart_time,
            restart_state: gr.restart_state,
            notification: gr.notification,
            families: gr
                .families
                .iter()
                .map(|f| GracefulRestartFamily {
                    family: family(&f.afi_safi),
                    forwarding_state: f.forwarding_state,
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use fabric_bgp_wire::{negotiate, Asn, RouterId};

    use super::*;
    use crate::config::{AddressFamily, RemoteAs};

    fn config() -> Config {
        Config::new(RouterId(Ipv4Addr::new(10, 0, 0, 1)), Asn(4_200_000_001))
    }

    #[test]
    fn capabilities_follow_the_neighbor_config() {
        let mut c = config();
        c.graceful_restart.enabled = true;
        c.graceful_restart.restarting = crate::config::RestartMode::Always;
        c.graceful_restart.restart_time = 30;
        let mut n = Neighbor::new("2001:db8::2".parse().unwrap(), RemoteAs::External);
        n.address_families = vec![AddressFamily::Ipv4Unicast, AddressFamily::Ipv6Unicast];
        let recovering = OpenFlags {
            restart_state: true,
            forwarding: [AfiSafi::IPV6_UNICAST].into_iter().collect(),
        };
        let caps = local_capabilities(&c, &n, "leaf1", &recovering);
        assert!(caps.contains(&Capability::Multiprotocol(AfiSafi::IPV4_UNICAST)));
        assert!(caps.contains(&Capability::Multiprotocol(AfiSafi::IPV6_UNICAST)));
        assert!(caps.contains(&Capability::RouteRefresh));
        assert!(caps.contains(&Capability::EnhancedRouteRefresh));
        assert!(caps.contains(&Capability::FourOctetAs(Asn(4_200_000_001))));
        assert!(caps
            .iter()
            .any(|c| matches!(c, Capability::ExtendedNextHop(v) if v.len() == 1)));
        let gr = caps.iter().find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g.clone()),
            _ => None,
        });
        let gr = gr.expect("GR capability");
        assert!(gr.restart_state);
        assert_eq!(gr.restart_time, 30);
        // F only for the family whose kernel routes survived.
        let f: Vec<(AfiSafi, bool)> = gr
            .families
            .iter()
            .map(|f| (f.afi_safi, f.forwarding_state))
            .collect();
        assert_eq!(
            f,
            vec![
                (AfiSafi::IPV4_UNICAST, false),
                (AfiSafi::IPV6_UNICAST, true)
            ]
        );
        // Not (or no longer) recovering: R=0; preserve-forwarding forces F=1.
        c.graceful_restart.preserve_forwarding = true;
        let caps = local_capabilities(&c, &n, "leaf1", &OpenFlags::default());
        let gr = caps.iter().find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g.clone()),
            _ => None,
        });
        let gr = gr.expect("GR capability");
        assert!(!gr.restart_state);
        assert!(gr.families.iter().all(|f| f.forwarding_state));
        assert!(caps.contains(&Capability::Fqdn {
            hostname: "leaf1".into(),
            domain: String::new()
        }));

        assert!(
            !caps
                .iter()
                .any(|c| matches!(c, Capability::LongLivedGracefulRestart(_))),
            "no LLGR without a long-lived stale time"
        );
        c.graceful_restart.long_lived_stale_time = 3600;
        c.graceful_restart.notification = true;
        let caps = local_capabilities(&c, &n, "leaf1", &recovering);
        let llgr = caps.iter().find_map(|c| match c {
            Capability::LongLivedGracefulRestart(v) => Some(v.clone()),
            _ => None,
        });
        let llgr = llgr.expect("LLGR capability (RFC 9494 §3)");
        assert_eq!(llgr.len(), 2);
        assert!(llgr.iter().all(|f| f.stale_time == 3600));
        assert!(caps
            .iter()
            .any(|c| matches!(c, Capability::GracefulRestart(g) if g.notification)));

        // IPv4 neighbor, GR disabled: no extended next hop, no GR.
        let n4 = Neighbor::new("192.0.2.2".parse().unwrap(), RemoteAs::External);
        let caps = local_capabilities(&config(), &n4, "leaf1", &OpenFlags::default());
        assert!(!caps.iter().any(|c| matches!(
            c,
            Capability::ExtendedNextHop(_) | Capability::GracefulRestart(_)
        )));
    }

    #[test]
    fn open_with_large_as_uses_as_trans_and_negotiates() {
        let c = config();
        let n = Neighbor::new("192.0.2.2".parse().unwrap(), RemoteAs::External);
        let caps = local_capabilities(&c, &n, "x", &OpenFlags::default());
        let open = Open::new(c.local_as, 90, c.router_id, caps.clone());
        assert_eq!(open.my_as, 23456, "RFC 6793 §4.2.1: AS_TRANS in My AS");
        let p = peer_open(&open);
        assert_eq!(p.effective_as(), Asn(4_200_000_001));
        let codec = negotiate(&caps, &open.capabilities, false);
        let view = negotiated_view(&caps, &open, &codec);
        assert!(view.four_octet_as && view.route_refresh && view.enhanced_route_refresh);
        assert_eq!(view.families, vec!["ipv4-unicast".to_owned()]);
        assert!(!view.graceful_restart_local);
        assert_eq!(view.graceful_restart_peer, None);
    }
}
