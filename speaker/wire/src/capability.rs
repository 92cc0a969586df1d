//! Capabilities advertised in OPEN optional parameter type 2 (RFC 5492).
//!
//! Known capabilities are typed; unknown codes are kept raw ([`Capability::Unknown`]) so they can
//! be ignored as RFC 5492 §3 requires and still be logged; a known code whose value does not
//! parse is kept raw as [`Capability::Malformed`] rather than failing the OPEN, so the session
//! behaves as if it had not been advertised.

use serde::{Deserialize, Serialize};

use crate::buf::{Put, Reader};
use crate::codes::CapabilityCode;
use crate::types::{Afi, AfiSafi, Asn, Safi};

/// One capability (RFC 5492 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Capability {
    /// 1: Multiprotocol Extensions for one AFI/SAFI (RFC 4760 §8).
    Multiprotocol(AfiSafi),
    /// 2: Route Refresh (RFC 2918).
    RouteRefresh,
    /// 5: Extended Next Hop Encoding (RFC 8950 §3).
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// 6: BGP Extended Message (RFC 8654).
    ExtendedMessage,
    /// 64: Graceful Restart (RFC 4724 §3).
    GracefulRestart(GracefulRestart),
    /// 65: 4-octet AS number support, carrying the speaker's AS (RFC 6793 §3).
    FourOctetAs(Asn),
    /// 69: ADD-PATH (RFC 7911 §4).
    AddPath(Vec<AddPathFamily>),
    /// 70: Enhanced Route Refresh (RFC 7313).
    EnhancedRouteRefresh,
    /// 71: Long-Lived Graceful Restart (RFC 9494 §3).
    LongLivedGracefulRestart(Vec<LlgrFamily>),
    /// 73: FQDN / hostname (draft-walton-bgp-hostname-capability).
    Fqdn {
        /// Host name.
        hostname: String,
        /// Domain name (often empty).
        domain: String,
    },
    /// A capability code this crate does not know.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
    /// A known capability code whose value does not parse; treated as not advertised.
    Malformed {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

/// One entry of the Extended Next Hop capability: NLRI of `afi_safi` may carry a next hop of
/// `next_hop_afi` (RFC 8950 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExtendedNextHop {
    /// NLRI address family.
    pub afi_safi: AfiSafi,
    /// Next hop address family.
    pub next_hop_afi: Afi,
}

/// The Graceful Restart capability value (RFC 4724 §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct GracefulRestart {
    /// Restart State (R) bit: the sender has restarted.
    pub restart_state: bool,
    /// Graceful Notification (N) bit (RFC 8538 §2).
    pub notification: bool,
    /// Restart Time in seconds (12 bits; larger values are truncated on encode).
    pub restart_time: u16,
    /// Families for which the sender can preserve forwarding state across a restart.
    pub families: Vec<GrFamily>,
}

/// One AFI/SAFI of the Graceful Restart capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GrFamily {
    /// Address family.
    pub afi_safi: AfiSafi,
    /// Forwarding State (F) bit: forwarding state was preserved.
    pub forwarding_state: bool,
}

/// One AFI/SAFI of the Long-Lived Graceful Restart capability (RFC 9494 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LlgrFamily {
    /// Address family.
    pub afi_safi: AfiSafi,
    /// Forwarding State (F) bit.
    pub forwarding_state: bool,
    /// Long-lived stale time in seconds (24 bits; larger values are truncated on encode).
    pub stale_time: u32,
}

/// Send/receive mode of one ADD-PATH family (RFC 7911 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AddPathMode {
    /// 1: able to receive multiple paths.
    Receive,
    /// 2: able to send multiple paths.
    Send,
    /// 3: both.
    Both,
    /// Any other value (RFC 7911 says to ignore the entry).
    Unknown(u8),
}

impl AddPathMode {
    /// Wire value.
    pub fn code(self) -> u8 {
        match self {
            AddPathMode::Receive => 1,
            AddPathMode::Send => 2,
            AddPathMode::Both => 3,
            AddPathMode::Unknown(c) => c,
        }
    }

    /// From the wire value.
    pub fn from_code(c: u8) -> Self {
        match c {
            1 => AddPathMode::Receive,
            2 => AddPathMode::Send,
            3 => AddPathMode::Both,
            c => AddPathMode::Unknown(c),
        }
    }

    /// Whether the mode includes receiving.
    pub fn receives(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }

    /// Whether the mode includes sending.
    pub fn sends(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }
}

/// One AFI/SAFI of the ADD-PATH capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddPathFamily {
    /// Address family.
    pub afi_safi: AfiSafi,
    /// Send/receive mode.
    pub mode: AddPathMode,
}

fn read_afi_safi(r: &mut Reader<'_>) -> Option<AfiSafi> {
    let afi = Afi::from_code(r.u16()?);
    let safi = Safi::from_code(r.u8()?);
    Some(AfiSafi { afi, safi })
}

fn put_afi_safi(out: &mut Vec<u8>, af: AfiSafi) {
    out.put_u16(af.afi.code());
    out.put_u8(af.safi.code());
}

/// Reads `f` repeatedly until the input is used up; `None` if a record is truncated.
fn records<T>(value: &[u8], mut f: impl FnMut(&mut Reader<'_>) -> Option<T>) -> Option<Vec<T>> {
    let mut r = Reader::new(value);
    let mut v = Vec::new();
    while !r.is_empty() {
        v.push(f(&mut r)?);
    }
    Some(v)
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> CapabilityCode {
        match self {
            Capability::Multiprotocol(_) => CapabilityCode::Multiprotocol,
            Capability::RouteRefresh => CapabilityCode::RouteRefresh,
            Capability::ExtendedNextHop(_) => CapabilityCode::ExtendedNextHop,
            Capability::ExtendedMessage => CapabilityCode::ExtendedMessage,
            Capability::GracefulRestart(_) => CapabilityCode::GracefulRestart,
            Capability::FourOctetAs(_) => CapabilityCode::FourOctetAs,
            Capability::AddPath(_) => CapabilityCode::AddPath,
            Capability::EnhancedRouteRefresh => CapabilityCode::EnhancedRouteRefresh,
            Capability::LongLivedGracefulRestart(_) => CapabilityCode::LongLivedGracefulRestart,
            Capability::Fqdn { .. } => CapabilityCode::Fqdn,
            Capability::Unknown { code, .. } | Capability::Malformed { code, .. } => {
                CapabilityCode::from_code(*code)
            }
        }
    }

    /// Decodes one capability value (the bytes after code and length).
    pub fn decode(code: u8, value: &[u8]) -> Capability {
        Self::decode_known(code, value).unwrap_or_else(|| Capability::Malformed {
            code,
            value: value.to_vec(),
        })
    }

    fn decode_known(code: u8, value: &[u8]) -> Option<Capability> {
        let mut r = Reader::new(value);
        let exact = |r: Reader<'_>, cap: Capability| r.is_empty().then_some(cap);
        Some(match CapabilityCode::from_code(code) {
            CapabilityCode::Multiprotocol => {
                let afi = Afi::from_code(r.u16()?);
                let _reserved = r.u8()?;
                let safi = Safi::from_code(r.u8()?);
                return exact(r, Capability::Multiprotocol(AfiSafi { afi, safi }));
            }
            // These carry no value; padding some speakers add is ignored (FRR accepts it too).
            CapabilityCode::RouteRefresh => Capability::RouteRefresh,
            CapabilityCode::EnhancedRouteRefresh => Capability::EnhancedRouteRefresh,
            CapabilityCode::ExtendedMessage => Capability::ExtendedMessage,
            CapabilityCode::FourOctetAs => {
                let asn = Asn(r.u32()?);
                return exact(r, Capability::FourOctetAs(asn));
            }
            CapabilityCode::ExtendedNextHop => {
                let entries = records(value, |r| {
                    let afi = Afi::from_code(r.u16()?);
                    let safi = r.u16()?;
                    let nh = Afi::from_code(r.u16()?);
                    Some((afi, safi, nh))
                })?;
                // SAFI is 16 bits here (RFC 8950 §3) but 8 bits everywhere else; an entry that
                // does not fit cannot describe a family we could negotiate, so it is dropped.
                Capability::ExtendedNextHop(
                    entries
                        .into_iter()
                        .filter_map(|(afi, safi, next_hop_afi)| {
                            let safi = Safi::from_code(u8::try_from(safi).ok()?);
                            Some(ExtendedNextHop {
                                afi_safi: AfiSafi { afi, safi },
                                next_hop_afi,
                            })
                        })
                        .collect(),
                )
            }
            CapabilityCode::GracefulRestart => {
                let flags_time = r.u16()?;
                let families = records(r.peek_rest(), |r| {
                    let afi_safi = read_afi_safi(r)?;
                    let flags = r.u8()?;
                    Some(GrFamily {
                        afi_safi,
                        forwarding_state: flags & 0x80 != 0,
                    })
                })?;
                Capability::GracefulRestart(GracefulRestart {
                    restart_state: flags_time & 0x8000 != 0,
                    notification: flags_time & 0x4000 != 0,
                    restart_time: flags_time & 0x0fff,
                    families,
                })
            }
            CapabilityCode::AddPath => Capability::AddPath(records(value, |r| {
                let afi_safi = read_afi_safi(r)?;
                let mode = AddPathMode::from_code(r.u8()?);
                Some(AddPathFamily { afi_safi, mode })
            })?),
            CapabilityCode::LongLivedGracefulRestart => {
                Capability::LongLivedGracefulRestart(records(value, |r| {
                    let afi_safi = read_afi_safi(r)?;
                    let flags = r.u8()?;
                    let stale_time = r.u24()?;
                    Some(LlgrFamily {
                        afi_safi,
                        forwarding_state: flags & 0x80 != 0,
                        stale_time,
                    })
                })?)
            }
            CapabilityCode::Fqdn => {
                let hl = r.u8()?;
                let hostname = String::from_utf8_lossy(r.take(usize::from(hl))?).into_owned();
                let dl = r.u8()?;
                let domain = String::from_utf8_lossy(r.take(usize::from(dl))?).into_owned();
                return exact(r, Capability::Fqdn { hostname, domain });
            }
            _ => Capability::Unknown {
                code,
                value: value.to_vec(),
            },
        })
    }

    /// Appends code, length and value; errors when the value exceeds 255 octets.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), crate::EncodeError> {
        out.push(self.code().code());
        let len_pos = out.len();
        out.push(0);
        match self {
            Capability::Multiprotocol(af) => {
                out.put_u16(af.afi.code());
                out.put_u8(0);
                out.put_u8(af.safi.code());
            }
            Capability::RouteRefresh
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => {}
            Capability::ExtendedNextHop(entries) => {
                for e in entries {
                    out.put_u16(e.afi_safi.afi.code());
                    out.put_u16(u16::from(e.afi_safi.safi.code()));
                    out.put_u16(e.next_hop_afi.code());
                }
            }
            Capability::GracefulRestart(gr) => {
                let mut ft = gr.restart_time & 0x0fff;
                if gr.restart_state {
                    ft |= 0x8000;
                }
                if gr.notification {
                    ft |= 0x4000;
                }
                out.put_u16(ft);
                for f in &gr.families {
                    put_afi_safi(out, f.afi_safi);
                    out.put_u8(if f.forwarding_state { 0x80 } else { 0 });
                }
            }
            Capability::FourOctetAs(asn) => out.put_u32(asn.0),
            Capability::AddPath(fams) => {
                for f in fams {
                    put_afi_safi(out, f.afi_safi);
                    out.put_u8(f.mode.code());
                }
            }
            Capability::LongLivedGracefulRestart(fams) => {
                for f in fams {
                    put_afi_safi(out, f.afi_safi);
                    out.put_u8(if f.forwarding_state { 0x80 } else { 0 });
                    out.put_u24(f.stale_time.min(0x00ff_ffff));
                }
            }
            Capability::Fqdn { hostname, domain } => {
                for s in [hostname, domain] {
                    let b = s.as_bytes();
                    let len =
                        u8::try_from(b.len()).map_err(|_| crate::EncodeError::FieldTooLong {
                            field: "FQDN capability name",
                            len: b.len(),
                        })?;
                    out.push(len);
                    out.extend_from_slice(b);
                }
            }
            Capability::Unknown { value, .. } | Capability::Malformed { value, .. } => {
                out.extend_from_slice(value)
            }
        }
        let len = out.len() - len_pos - 1;
        let len8 = u8::try_from(len).map_err(|_| crate::EncodeError::FieldTooLong {
            field: "capability value",
            len,
        })?;
        if let Some(slot) = out.get_mut(len_pos) {
            *slot = len8;
        }
        Ok(())
    }

    /// Decodes the capabilities packed in one optional parameter of type 2 (RFC 5492 §4).
    ///
    /// Returns `None` when a capability's length overruns the parameter.
    pub fn decode_list(param: &[u8]) -> Option<Vec<Capability>> {
        records(param, |r| {
            let code = r.u8()?;
            let len = r.u8()?;
            let value = r.take(usize::from(len))?;
            Some(Capability::decode(code, value))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(c: Capability) -> Vec<u8> {
        let mut b = Vec::new();
        c.encode(&mut b).unwrap();
        let back = Capability::decode_list(&b).unwrap();
        assert_eq!(back, vec![c]);
        b
    }

    #[test]
    fn all_capabilities_round_trip() {
        assert_eq!(
            round_trip(Capability::Multiprotocol(AfiSafi::IPV6_UNICAST)),
            [1, 4, 0, 2, 0, 1]
        );
        assert_eq!(round_trip(Capability::RouteRefresh), [2, 0]);
        assert_eq!(round_trip(Capability::EnhancedRouteRefresh), [70, 0]);
        assert_eq!(round_trip(Capability::ExtendedMessage), [6, 0]);
        assert_eq!(
            round_trip(Capability::FourOctetAs(Asn(4_200_000_001))),
            [65, 4, 0xfa, 0x56, 0xea, 0x01]
        );
        assert_eq!(
            round_trip(Capability::ExtendedNextHop(vec![ExtendedNextHop {
                afi_safi: AfiSafi::IPV4_UNICAST,
                next_hop_afi: Afi::Ipv6,
            }])),
            [5, 6, 0, 1, 0, 1, 0, 2]
        );
        assert_eq!(
            round_trip(Capability::GracefulRestart(GracefulRestart {
                restart_state: true,
                notification: true,
                restart_time: 120,
                families: vec![
                    GrFamily {
                        afi_safi: AfiSafi::IPV4_UNICAST,
                        forwarding_state: true
                    },
                    GrFamily {
                        afi_safi: AfiSafi::IPV6_UNICAST,
                        forwarding_state: false
                    },
                ],
            })),
            [64, 10, 0xc0, 120, 0, 1, 1, 0x80, 0, 2, 1, 0]
        );
        assert_eq!(
            round_trip(Capability::AddPath(vec![AddPathFamily {
                afi_safi: AfiSafi::IPV4_UNICAST,
                mode: AddPathMode::Both,
            }])),
            [69, 4, 0, 1, 1, 3]
        );
        assert_eq!(
            round_trip(Capability::LongLivedGracefulRestart(vec![LlgrFamily {
                afi_safi: AfiSafi::IPV6_UNICAST,
                forwarding_state: true,
                stale_time: 0x01_0203,
            }])),
            [71, 7, 0, 2, 1, 0x80, 1, 2, 3]
        );
        assert_eq!(
            round_trip(Capability::Fqdn {
                hostname: "leaf1".into(),
                domain: String::new()
            }),
            [73, 7, 5, b'l', b'e', b'a', b'f', b'1', 0]
        );
        assert_eq!(
            round_trip(Capability::Unknown {
                code: 200,
                value: vec![1, 2]
            }),
            [200, 2, 1, 2]
        );
    }

    #[test]
    fn gr_reserved_bits_are_ignored() {
        // RFC 4724 §3: reserved bits in Restart Flags and AF flags are ignored on receipt.
        let caps = Capability::decode_list(&[64, 6, 0x3f, 0xff, 0, 1, 1, 0x7f]).unwrap();
        assert_eq!(
            caps,
            vec![Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: false,
                restart_time: 0xfff,
                families: vec![GrFamily {
                    afi_safi: AfiSafi::IPV4_UNICAST,
                    forwarding_state: false
                }],
            })]
        );
    }

    #[test]
    fn bad_values_become_malformed_and_overruns_fail() {
        assert_eq!(
            Capability::decode_list(&[65, 2, 0, 1]).unwrap(),
            vec![Capability::Malformed {
                code: 65,
                value: vec![0, 1]
            }]
        );
        assert_eq!(
            Capability::decode_list(&[64, 3, 0, 1, 0]).unwrap(),
            vec![Capability::Malformed {
                code: 64,
                value: vec![0, 1, 0]
            }]
        );
        assert_eq!(Capability::decode_list(&[65, 4, 0, 1]), None);
        assert_eq!(
            Capability::decode_list(&[2, 2, 0, 0]),
            Some(vec![Capability::RouteRefresh])
        );
    }
}
