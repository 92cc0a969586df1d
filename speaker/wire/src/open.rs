//! OPEN message (RFC 4271 §4.2) with capabilities (RFC 5492) and the checks of RFC 4271 §6.2
//! that the session FSM applies on receipt.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::buf::{Put, Reader};
use crate::capability::{Capability, GracefulRestart, LlgrFamily};
use crate::codes::OpenSubcode;
use crate::error::{DecodeError, EncodeError};
use crate::types::{AfiSafi, Asn, RouterId};

/// BGP version spoken by this crate.
pub const BGP_VERSION: u8 = 4;
/// Optional parameter type carrying capabilities (RFC 5492 §4).
pub const PARAM_CAPABILITIES: u8 = 2;
/// Optional parameter type marking the extended parameters format (RFC 9072 §2).
const PARAM_EXTENDED: u8 = 255;

/// An OPEN message body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Open {
    /// Protocol version (4).
    pub version: u8,
    /// "My Autonomous System": the sender's AS, or AS_TRANS when it does not fit (RFC 6793).
    pub my_as: u16,
    /// Proposed hold time in seconds (0, or at least 3).
    pub hold_time: u16,
    /// BGP Identifier.
    pub router_id: RouterId,
    /// Capabilities from every type-2 optional parameter, in order.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// An OPEN for `asn` (sets `my_as` to AS_TRANS when `asn` needs 4 octets).
    ///
    /// Callers list the capabilities; a speaker with a 4-octet AS must include
    /// [`Capability::FourOctetAs`] (RFC 6793 §3), which this constructor adds if missing.
    pub fn new(
        asn: Asn,
        hold_time: u16,
        router_id: RouterId,
        capabilities: Vec<Capability>,
    ) -> Self {
        let mut capabilities = capabilities;
        if !asn.is_two_octet()
            && !capabilities
                .iter()
                .any(|c| matches!(c, Capability::FourOctetAs(_)))
        {
            capabilities.push(Capability::FourOctetAs(asn));
        }
        let my_as = u16::try_from(asn.0).unwrap_or(Asn::TRANS.0 as u16);
        Open {
            version: BGP_VERSION,
            my_as,
            hold_time,
            router_id,
            capabilities,
        }
    }

    /// The AS the sender belongs to: the 4-octet AS capability value when present, otherwise
    /// "My Autonomous System" (RFC 6793 §4.1).
    pub fn effective_asn(&self) -> Asn {
        self.four_octet_asn().unwrap_or(Asn(u32::from(self.my_as)))
    }

    /// The value of the 4-octet AS capability, if advertised.
    pub fn four_octet_asn(&self) -> Option<Asn> {
        self.capabilities.iter().rev().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }

    /// Whether a capability with this code was advertised (malformed ones do not count).
    pub fn has_capability(&self, code: crate::codes::CapabilityCode) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.code() == code && !matches!(c, Capability::Malformed { .. }))
    }

    /// Families listed in Multiprotocol capabilities; IPv4 unicast alone when there are none
    /// (RFC 4760 §8: a speaker without the capability only does IPv4 unicast).
    pub fn multiprotocol(&self) -> Vec<AfiSafi> {
        let v: Vec<AfiSafi> = self
            .capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol(af) => Some(*af),
                _ => None,
            })
            .collect();
        if v.is_empty() {
            vec![AfiSafi::IPV4_UNICAST]
        } else {
            v
        }
    }

    /// The Graceful Restart capability; if several were sent, the last one (RFC 4724 §3).
    pub fn graceful_restart(&self) -> Option<&GracefulRestart> {
        self.capabilities.iter().rev().find_map(|c| match c {
            Capability::GracefulRestart(gr) => Some(gr),
            _ => None,
        })
    }

    /// The Long-Lived GR families; ignored (None) without a GR capability (RFC 9494 §4.1).
    pub fn long_lived_graceful_restart(&self) -> Option<&[LlgrFamily]> {
        self.graceful_restart()?;
        self.capabilities.iter().rev().find_map(|c| match c {
            Capability::LongLivedGracefulRestart(f) => Some(f.as_slice()),
            _ => None,
        })
    }

    /// The host name of the FQDN capability.
    pub fn hostname(&self) -> Option<&str> {
        self.capabilities.iter().rev().find_map(|c| match c {
            Capability::Fqdn { hostname, .. } => Some(hostname.as_str()),
            _ => None,
        })
    }

    /// The receive-side checks of RFC 4271 §6.2 and RFC 6793 §4.1, in RFC order:
    /// version ≠ 4 → 2/1 with data = 4 (2 octets); AS 0 (RFC 7607) or AS ≠ `expected_peer_as`
    /// (when given) → 2/2;
    /// hold time 1 or 2 → 2/6; BGP Identifier 0 → 2/3 (RFC 6286 §2.1: any other 32-bit value
    /// is valid, so multicast-looking identifiers are accepted).
    ///
    /// The collision check against the local identifier and any "required capability" policy
    /// (2/7) belong to the FSM.
    pub fn validate(&self, expected_peer_as: Option<Asn>) -> Result<(), DecodeError> {
        if self.version != BGP_VERSION {
            return Err(unsupported_version());
        }
        // RFC 7607 §2: AS 0 is never a valid peer AS.
        if self.my_as == 0 || self.effective_asn() == Asn(0) {
            return Err(DecodeError::open(OpenSubcode::BadPeerAs, "peer AS is 0")
                .with_data(self.my_as.to_be_bytes()));
        }
        if let Some(expected) = expected_peer_as {
            let asn = self.effective_asn();
            if asn != expected {
                return Err(DecodeError::open(
                    OpenSubcode::BadPeerAs,
                    format!("peer AS {asn} is not the configured {expected}"),
                )
                .with_data(self.my_as.to_be_bytes()));
            }
        }
        if matches!(self.hold_time, 1 | 2) {
            return Err(DecodeError::open(
                OpenSubcode::UnacceptableHoldTime,
                "hold time 1 or 2 seconds",
            ));
        }
        let id: Ipv4Addr = self.router_id.0;
        if id.is_unspecified() {
            return Err(DecodeError::open(
                OpenSubcode::BadBgpIdentifier,
                "BGP identifier is 0.0.0.0",
            )
            .with_data(id.octets()));
        }
        Ok(())
    }

    /// Decodes an OPEN body (the bytes after the header).
    ///
    /// Fails with 2/1 when the version is not 4, 2/4 for an optional parameter other than
    /// capabilities, 2/0 when parameter lengths are inconsistent. Values are not validated
    /// beyond that: see [`Open::validate`].
    pub fn decode(body: &[u8]) -> Result<Open, DecodeError> {
        let mut r = Reader::new(body);
        let short = || DecodeError::open(OpenSubcode::Unspecific, "OPEN truncated");
        let version = r.u8().ok_or_else(short)?;
        if version != BGP_VERSION {
            return Err(unsupported_version());
        }
        let my_as = r.u16().ok_or_else(short)?;
        let hold_time = r.u16().ok_or_else(short)?;
        let router_id = RouterId(r.ipv4().ok_or_else(short)?);
        let opt_len = r.u8().ok_or_else(short)?;
        let params_bad = || {
            DecodeError::open(
                OpenSubcode::Unspecific,
                "optional parameters length inconsistent",
            )
        };
        let mut capabilities = Vec::new();
        // RFC 9072 §2: a non-extended length of 255 followed by type 255 announces 2-octet
        // parameter lengths.
        let extended = opt_len == 255 && r.peek_rest().first() == Some(&PARAM_EXTENDED);
        let params = if extended {
            let _marker = r.u8();
            let len = r.u16().ok_or_else(params_bad)?;
            r.take(usize::from(len)).ok_or_else(params_bad)?
        } else {
            r.take(usize::from(opt_len)).ok_or_else(params_bad)?
        };
        if !r.is_empty() {
            return Err(params_bad());
        }
        let mut p = Reader::new(params);
        while !p.is_empty() {
            let ty = p.u8().ok_or_else(params_bad)?;
            let len = if extended {
                p.u16()
            } else {
                p.u8().map(u16::from)
            }
            .ok_or_else(params_bad)?;
            let value = p.take(usize::from(len)).ok_or_else(params_bad)?;
            if ty != PARAM_CAPABILITIES {
                return Err(DecodeError::open(
                    OpenSubcode::UnsupportedOptionalParameter,
                    format!("optional parameter type {ty}"),
                ));
            }
            let caps = Capability::decode_list(value).ok_or_else(|| {
                DecodeError::open(OpenSubcode::Unspecific, "capability overruns its parameter")
            })?;
            capabilities.extend(caps);
        }
        Ok(Open {
            version,
            my_as,
            hold_time,
            router_id,
            capabilities,
        })
    }

    /// Appends the OPEN body. All capabilities go into one optional parameter (as BIRD does);
    /// the RFC 9072 extended format is not produced, so they must fit in 253 octets.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.put_u8(self.version);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time);
        out.extend_from_slice(&self.router_id.0.octets());
        if self.capabilities.is_empty() {
            out.put_u8(0);
            return Ok(());
        }
        let mut caps = Vec::new();
        for cap in &self.capabilities {
            cap.encode(&mut caps)?;
        }
        let plen = u8::try_from(caps.len()).ok().filter(|&l| l <= 253).ok_or(
            EncodeError::FieldTooLong {
                field: "optional parameters",
                len: caps.len() + 2,
            },
        )?;
        out.extend_from_slice(&[plen + 2, PARAM_CAPABILITIES, plen]);
        out.extend_from_slice(&caps);
        Ok(())
    }
}

/// 2/1 with the highest version we support as 2-octet data (RFC 4271 §6.2).
fn unsupported_version() -> DecodeError {
    DecodeError::open(
        OpenSubcode::UnsupportedVersionNumber,
        "BGP version is not 4",
    )
    .with_data(u16::from(BGP_VERSION).to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::ErrorCode;

    fn open() -> Open {
        Open::new(
            Asn(65001),
            90,
            RouterId(Ipv4Addr::new(10, 0, 0, 1)),
            vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::RouteRefresh,
                Capability::FourOctetAs(Asn(65001)),
            ],
        )
    }

    #[test]
    fn open_round_trips() {
        let o = open();
        let mut b = Vec::new();
        o.encode_body(&mut b).unwrap();
        assert_eq!(&b[..10], &[4, 0xfd, 0xe9, 0, 90, 10, 0, 0, 1, 16]);
        assert_eq!(Open::decode(&b).unwrap(), o);
    }

    #[test]
    fn four_octet_as_uses_trans_and_capability() {
        let o = Open::new(
            Asn(4_200_000_000),
            90,
            RouterId(Ipv4Addr::new(1, 1, 1, 1)),
            vec![],
        );
        assert_eq!(o.my_as, 23456);
        assert_eq!(o.effective_asn(), Asn(4_200_000_000));
        assert!(o.validate(Some(Asn(4_200_000_000))).is_ok());
    }

    #[test]
    fn validate_reports_rfc_codes() {
        let mut o = open();
        o.version = 3;
        let e = o.validate(None).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::Open(OpenSubcode::UnsupportedVersionNumber)
        );
        assert_eq!(e.data, [0, 4]);

        for h in [1, 2] {
            let mut o = open();
            o.hold_time = h;
            let e = o.validate(None).unwrap_err();
            assert_eq!(e.code, ErrorCode::Open(OpenSubcode::UnacceptableHoldTime));
        }
        let mut o = open();
        o.hold_time = 0;
        assert!(o.validate(None).is_ok());

        let mut o = open();
        o.router_id = RouterId(Ipv4Addr::UNSPECIFIED);
        let e = o.validate(None).unwrap_err();
        assert_eq!(e.code, ErrorCode::Open(OpenSubcode::BadBgpIdentifier));
        // RFC 6286: any non-zero identifier is valid.
        o.router_id = RouterId(Ipv4Addr::new(224, 0, 0, 1));
        assert!(o.validate(None).is_ok());

        let e = Open::new(Asn(0), 90, RouterId(Ipv4Addr::new(1, 1, 1, 1)), vec![])
            .validate(None)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Open(OpenSubcode::BadPeerAs));

        let e = open().validate(Some(Asn(65002))).unwrap_err();
        assert_eq!(e.code, ErrorCode::Open(OpenSubcode::BadPeerAs));
        assert!(open().validate(Some(Asn(65001))).is_ok());
    }

    #[test]
    fn decode_rejects_version_and_unknown_params() {
        let mut b = Vec::new();
        open().encode_body(&mut b).unwrap();
        b[0] = 5;
        let e = Open::decode(&b).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::Open(OpenSubcode::UnsupportedVersionNumber)
        );
        assert_eq!(e.data, [0, 4]);

        let body = [4, 0, 1, 0, 90, 1, 1, 1, 1, 3, 1, 1, 0];
        let e = Open::decode(&body).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::Open(OpenSubcode::UnsupportedOptionalParameter)
        );

        let body = [4, 0, 1, 0, 90, 1, 1, 1, 1, 9, 2, 2];
        let e = Open::decode(&body).unwrap_err();
        assert_eq!(e.code, ErrorCode::Open(OpenSubcode::Unspecific));
    }

    #[test]
    fn rfc9072_extended_parameters_decode() {
        let mut body = vec![4, 0, 1, 0, 90, 1, 1, 1, 1, 255, 255, 0, 5, 2, 0, 2, 2, 0];
        let o = Open::decode(&body).unwrap();
        assert_eq!(o.capabilities, vec![Capability::RouteRefresh]);
        body.push(0);
        assert!(Open::decode(&body).is_err());
    }

    #[test]
    fn capabilities_fill_one_parameter() {
        let caps: Vec<_> = (0..84)
            .map(|i| Capability::Unknown {
                code: 200,
                value: vec![i],
            })
            .collect();
        let mut o = Open::new(Asn(1), 90, RouterId(Ipv4Addr::new(1, 1, 1, 1)), caps);
        let mut b = Vec::new();
        o.encode_body(&mut b).unwrap();
        assert_eq!(b[9], 254);
        assert_eq!(Open::decode(&b).unwrap(), o);
        o.capabilities.push(Capability::RouteRefresh);
        assert!(o.encode_body(&mut Vec::new()).is_err());
    }

    #[test]
    fn llgr_ignored_without_gr() {
        let mut o = open();
        o.capabilities
            .push(Capability::LongLivedGracefulRestart(vec![]));
        assert!(o.long_lived_graceful_restart().is_none());
        o.capabilities
            .push(Capability::GracefulRestart(GracefulRestart::default()));
        assert!(o.long_lived_graceful_restart().is_some());
    }
}
