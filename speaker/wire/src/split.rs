//! Splitting an UPDATE whose prefixes do not fit in one message (RFC 4271 §4.1: 4096 octets,
//! RFC 8654: 65535) into several that each fit, keeping the same attributes.

use crate::attribute::{MpNlri, MpReach, MpUnreach, PathAttributes};
use crate::codec::CodecContext;
use crate::error::EncodeError;
use crate::header::HEADER_LEN;
use crate::nlri::{encoded_len, Nlri, Prefix};
use crate::types::AfiSafi;
use crate::update::Update;

impl Update {
    /// Size of the encoded message (header included) for this session.
    pub fn encoded_len(&self, ctx: &CodecContext) -> usize {
        let mut body = Vec::new();
        self.encode_body(ctx, &mut body);
        HEADER_LEN + body.len()
    }

    /// Splits into UPDATEs that each fit in [`CodecContext::max_message_len`]: withdrawals first
    /// (Withdrawn Routes, then MP_UNREACH_NLRI), then announcements (MP_REACH_NLRI, then the NLRI
    /// field), each carrying the original attributes. Returns `vec![self.clone()]` when it
    /// already fits. Fails when the attributes alone leave no room for a prefix.
    pub fn split(&self, ctx: &CodecContext) -> Result<Vec<Update>, EncodeError> {
        let max = ctx.max_message_len();
        let total = self.encoded_len(ctx);
        if total <= max {
            return Ok(vec![self.clone()]);
        }
        let too_long = || EncodeError::MessageTooLong { len: total, max };
        let v4_ap = ctx.sends_path_id(AfiSafi::IPV4_UNICAST);
        let mut out = Vec::new();

        let empty_len = Update::default().encoded_len(ctx);
        for chunk in
            chunks(&self.withdrawn, max.saturating_sub(empty_len), v4_ap).ok_or_else(too_long)?
        {
            out.push(Update::withdraw_ipv4(chunk));
        }

        if let Some(u) = &self.attributes.mp_unreach {
            let ap = ctx.sends_path_id(u.afi_safi);
            let shell = |withdrawn: MpNlri| Update {
                attributes: PathAttributes {
                    mp_unreach: Some(MpUnreach {
                        afi_safi: u.afi_safi,
                        withdrawn,
                    }),
                    ..PathAttributes::default()
                },
                ..Update::default()
            };
            // +1: the attribute may switch to the 2-octet Extended Length form.
            let budget =
                max.saturating_sub(shell(MpNlri::empty_for(u.afi_safi)).encoded_len(ctx) + 1);
            match &u.withdrawn {
                MpNlri::Ipv4(v) => {
                    for c in chunks(v, budget, ap).ok_or_else(too_long)? {
                        out.push(shell(MpNlri::Ipv4(c)));
                    }
                }
                MpNlri::Ipv6(v) => {
                    for c in chunks(v, budget, ap).ok_or_else(too_long)? {
                        out.push(shell(MpNlri::Ipv6(c)));
                    }
                }
                MpNlri::Unknown(_) => out.push(shell(u.withdrawn.clone())),
            }
        }

        let mut attrs = self.attributes.clone();
        attrs.mp_unreach = None;
        let reach = attrs.mp_reach.take();
        if let Some(r) = reach {
            let ap = ctx.sends_path_id(r.afi_safi);
            let shell = |nlri: MpNlri| Update {
                attributes: PathAttributes {
                    mp_reach: Some(MpReach {
                        afi_safi: r.afi_safi,
                        next_hop: r.next_hop.clone(),
                        nlri,
                    }),
                    ..attrs.clone()
                },
                ..Update::default()
            };
            let budget =
                max.saturating_sub(shell(MpNlri::empty_for(r.afi_safi)).encoded_len(ctx) + 1);
            match &r.nlri {
                MpNlri::Ipv4(v) => {
                    for c in chunks(v, budget, ap).ok_or_else(too_long)? {
                        out.push(shell(MpNlri::Ipv4(c)));
                    }
                }
                MpNlri::Ipv6(v) => {
                    for c in chunks(v, budget, ap).ok_or_else(too_long)? {
                        out.push(shell(MpNlri::Ipv6(c)));
                    }
                }
                MpNlri::Unknown(_) => out.push(shell(r.nlri.clone())),
            }
        }

        if !self.nlri.is_empty() {
            let base = Update {
                attributes: attrs.clone(),
                ..Update::default()
            }
            .encoded_len(ctx);
            for chunk in chunks(&self.nlri, max.saturating_sub(base), v4_ap).ok_or_else(too_long)? {
                out.push(Update {
                    withdrawn: Vec::new(),
                    attributes: attrs.clone(),
                    nlri: chunk,
                });
            }
        }
        if out.iter().any(|u| u.encoded_len(ctx) > max) {
            return Err(too_long());
        }
        Ok(out)
    }
}

/// Greedy packing of prefixes into groups of at most `budget` encoded octets; `None` when one
/// prefix alone does not fit.
fn chunks<P: Prefix>(
    items: &[Nlri<P>],
    budget: usize,
    add_path: bool,
) -> Option<Vec<Vec<Nlri<P>>>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut used = 0;
    for n in items {
        let len = encoded_len(n, add_path);
        if len > budget {
            return None;
        }
        if used + len > budget {
            out.push(std::mem::take(&mut cur));
            used = 0;
        }
        cur.push(*n);
        used += len;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use ipnet::{Ipv4Net, Ipv6Net};

    use super::*;
    use crate::aspath::AsPath;
    use crate::attribute::{MpNextHop, Origin};
    use crate::codec::Message;
    use crate::types::Asn;

    fn attrs() -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence([Asn(65001)])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..PathAttributes::default()
        }
    }

    fn v4(i: u32) -> Nlri<Ipv4Net> {
        Nlri::new(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap())
    }

    fn v6(i: u128) -> Nlri<Ipv6Net> {
        Nlri::new(Ipv6Net::new(Ipv6Addr::from((0x2001_0db8_u128 << 96) + (i << 64)), 64).unwrap())
    }

    #[test]
    fn small_update_is_not_split() {
        let u = Update::announce_ipv4(attrs(), vec![v4(1)]);
        assert_eq!(u.split(&CodecContext::four_octet()).unwrap(), vec![u]);
    }

    #[test]
    fn large_update_splits_into_fitting_messages_with_all_prefixes() {
        let ctx = CodecContext::four_octet();
        let mut u = Update::announce_ipv4(attrs(), (0..2000).map(v4).collect());
        u.withdrawn = (3000..4500).map(v4).collect();
        u.attributes.mp_reach = Some(MpReach {
            afi_safi: AfiSafi::IPV6_UNICAST,
            next_hop: MpNextHop::Ipv6 {
                global: Ipv6Addr::LOCALHOST,
                link_local: None,
            },
            nlri: MpNlri::Ipv6((0..700).map(v6).collect()),
        });
        u.attributes.mp_unreach = Some(MpUnreach {
            afi_safi: AfiSafi::IPV6_UNICAST,
            withdrawn: MpNlri::Ipv6((800..1500).map(v6).collect()),
        });
        let parts = u.split(&ctx).unwrap();
        assert!(parts.len() > 4);
        let mut count = 0;
        for p in &parts {
            let bytes = Message::Update(p.clone())
                .encode(&ctx)
                .expect("each part fits");
            assert!(bytes.len() <= 4096);
            let Message::Update(back) = Message::decode(&bytes, &ctx).unwrap() else {
                panic!()
            };
            assert_eq!(&back, p);
            count += p.prefix_count();
        }
        assert_eq!(count, u.prefix_count());
        // Announcements keep the attributes.
        assert!(parts
            .iter()
            .filter(|p| !p.nlri.is_empty())
            .all(|p| p.attributes.as_path == attrs().as_path));
    }
}
