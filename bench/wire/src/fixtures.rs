//! The messages the benchmark measures, built with `fabric-bgp-wire` and encoded once to bytes.
//!
//! Both codecs then decode exactly these bytes; see `check.rs` for the proof that they agree.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use anyhow::{ensure, Context, Result};
use fabric_bgp_wire::{
    AddPathFamily, AddPathMode, AfiSafi, AsPath, Asn, Capability, CodecContext, Community,
    GrFamily, GracefulRestart, Ipv4Nlri, Message, Open, Origin, PathAttributes, RouterId, Update,
};
use ipnet::Ipv4Net;

/// One benchmark case: a typed message and its wire bytes (header included).
pub struct Case {
    /// Name shown in the table.
    pub name: &'static str,
    /// The message as `fabric-bgp-wire` types.
    pub message: Message,
    /// The framed bytes both decoders read.
    pub bytes: Vec<u8>,
    /// IPv4 prefixes the message announces (0 for OPEN/KEEPALIVE).
    pub prefixes: usize,
}

/// Number of prefixes in the large UPDATE (the figure).
pub const LARGE_UPDATE_PREFIXES: usize = 500;

/// The four cases, in table order, encoded for `ctx`.
pub fn cases(ctx: &CodecContext) -> Result<Vec<Case>> {
    let large = mixed_prefixes(LARGE_UPDATE_PREFIXES)?;
    let small = mixed_prefixes(1)?;
    let specs: [(&'static str, Message); 4] = [
        (
            "UPDATE 500 prefixes",
            Update::announce_ipv4(ebgp_attributes(), large).into(),
        ),
        (
            "UPDATE 1 prefix",
            Update::announce_ipv4(ebgp_attributes(), small).into(),
        ),
        ("KEEPALIVE", Message::Keepalive),
        ("OPEN typical caps", typical_open().into()),
    ];
    specs
        .into_iter()
        .map(|(name, message)| {
            let bytes = message
                .encode(ctx)
                .with_context(|| format!("encoding {name}"))?;
            let prefixes = match &message {
                Message::Update(u) => u.prefix_count(),
                _ => 0,
            };
            Ok(Case {
                name,
                message,
                bytes,
                prefixes,
            })
        })
        .collect()
}

/// Attributes as an eBGP peer sends them (so no LOCAL_PREF, RFC 4271 §5.1.5): ORIGIN, an
/// AS_PATH of three ASNs two of which need 4 octets, NEXT_HOP, MED and four communities.
fn ebgp_attributes() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence([
            Asn(65010),
            Asn(4_200_000_001),
            Asn(4_200_000_002),
        ])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        med: Some(100),
        communities: vec![
            Community(65010 << 16 | 100),
            Community(65010 << 16 | 200),
            Community(65010 << 16 | 3000),
            Community(0xFFFF_FF03), // NO_EXPORT_SUBCONFED, a well-known one
        ],
        ..PathAttributes::default()
    }
}

/// `n` distinct unicast prefixes with a realistic length mix (mostly /24, some /16../23), from a
/// fixed-seed generator so every run measures the same bytes.
fn mixed_prefixes(n: usize) -> Result<Vec<Ipv4Nlri>> {
    // Roughly the shape of a DFZ table: about half /24, the rest spread over /16../23.
    const LENGTHS: [u8; 12] = [24, 24, 22, 24, 23, 24, 20, 24, 21, 24, 19, 16];
    let mut state: u32 = 0x2545_F491;
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    let mut i = 0usize;
    while out.len() < n {
        // xorshift32: cheap, deterministic, good enough to scatter addresses.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        // Keep the first octet in 1..=223: unicast, and never 0/8 (both codecs accept it, but a
        // real table has none).
        let first = 1 + (state >> 24) % 223;
        let addr = Ipv4Addr::from((first << 24) | (state & 0x00FF_FFFF));
        let len = LENGTHS.get(i % LENGTHS.len()).copied().unwrap_or(24);
        i += 1;
        let net = Ipv4Net::new(addr, len)
            .context("prefix length in range")?
            .trunc();
        if seen.insert(net) {
            out.push(Ipv4Nlri::new(net));
        }
    }
    ensure!(
        out.len() == n,
        "generated {} prefixes, wanted {n}",
        out.len()
    );
    Ok(out)
}

/// An OPEN like FRR sends for an IPv4/IPv6 unicast session: MP, route refresh, enhanced route
/// refresh, 4-octet AS, ADD-PATH receive, FQDN and graceful restart.
fn typical_open() -> Open {
    Open::new(
        Asn(4_200_000_001),
        90,
        RouterId(Ipv4Addr::new(10, 0, 0, 1)),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::FourOctetAs(Asn(4_200_000_001)),
            Capability::AddPath(vec![
                AddPathFamily {
                    afi_safi: AfiSafi::IPV4_UNICAST,
                    mode: AddPathMode::Receive,
                },
                AddPathFamily {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    mode: AddPathMode::Receive,
                },
            ]),
            Capability::Fqdn {
                hostname: "leaf-1".into(),
                domain: String::new(),
            },
            Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: true,
                restart_time: 120,
                families: vec![
                    GrFamily {
                        afi_safi: AfiSafi::IPV4_UNICAST,
                        forwarding_state: true,
                    },
                    GrFamily {
                        afi_safi: AfiSafi::IPV6_UNICAST,
                        forwarding_state: true,
                    },
                ],
            }),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_distinct_and_canonical() -> Result<()> {
        let v = mixed_prefixes(LARGE_UPDATE_PREFIXES)?;
        let set: HashSet<_> = v.iter().map(|n| n.prefix).collect();
        assert_eq!(set.len(), LARGE_UPDATE_PREFIXES);
        assert!(v.iter().all(|n| n.prefix == n.prefix.trunc()));
        assert!(v.iter().any(|n| n.prefix.prefix_len() != 24));
        Ok(())
    }

    #[test]
    fn large_update_fits_one_standard_message() -> Result<()> {
        let cases = cases(&CodecContext::four_octet())?;
        let large = cases.first().context("large case")?;
        assert_eq!(large.prefixes, LARGE_UPDATE_PREFIXES);
        assert!(large.bytes.len() <= 4096, "{} octets", large.bytes.len());
        Ok(())
    }
}
