//! ROUTE-REFRESH message (RFC 2918 §3) with the Enhanced Route Refresh subtypes (RFC 7313 §3).

use serde::{Deserialize, Serialize};

use crate::buf::{Put, Reader};
use crate::error::DecodeError;
use crate::types::{Afi, AfiSafi, Safi};

/// Message subtype, in the octet RFC 2918 called Reserved (RFC 7313 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RouteRefreshSubtype {
    /// 0: normal route refresh request.
    Request,
    /// 1: Beginning of Route Refresh (BoRR).
    BeginningOfRefresh,
    /// 2: End of Route Refresh (EoRR).
    EndOfRefresh,
    /// Any other value (RFC 7313 §5: ignore the message).
    Unknown(u8),
}

impl RouteRefreshSubtype {
    /// Wire value.
    pub fn code(self) -> u8 {
        match self {
            RouteRefreshSubtype::Request => 0,
            RouteRefreshSubtype::BeginningOfRefresh => 1,
            RouteRefreshSubtype::EndOfRefresh => 2,
            RouteRefreshSubtype::Unknown(c) => c,
        }
    }

    /// From the wire value.
    pub fn from_code(c: u8) -> Self {
        match c {
            0 => RouteRefreshSubtype::Request,
            1 => RouteRefreshSubtype::BeginningOfRefresh,
            2 => RouteRefreshSubtype::EndOfRefresh,
            c => RouteRefreshSubtype::Unknown(c),
        }
    }
}

/// A ROUTE-REFRESH message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouteRefresh {
    /// Family to refresh.
    pub afi_safi: AfiSafi,
    /// Subtype.
    pub subtype: RouteRefreshSubtype,
}

impl RouteRefresh {
    /// A plain refresh request for `afi_safi`.
    pub fn request(afi_safi: AfiSafi) -> Self {
        RouteRefresh {
            afi_safi,
            subtype: RouteRefreshSubtype::Request,
        }
    }

    /// Decodes the 4-octet body; any other length is 7/1 with the body as data (RFC 7313 §5).
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let bad =
            || DecodeError::route_refresh("ROUTE-REFRESH body is not 4 octets").with_data(body);
        let afi = Afi::from_code(r.u16().ok_or_else(bad)?);
        let subtype = RouteRefreshSubtype::from_code(r.u8().ok_or_else(bad)?);
        let safi = Safi::from_code(r.u8().ok_or_else(bad)?);
        if !r.is_empty() {
            return Err(bad());
        }
        Ok(RouteRefresh {
            afi_safi: AfiSafi { afi, safi },
            subtype,
        })
    }

    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.put_u16(self.afi_safi.afi.code());
        out.put_u8(self.subtype.code());
        out.put_u8(self.afi_safi.safi.code());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{ErrorCode, RouteRefreshSubcode};

    #[test]
    fn round_trips_every_subtype() {
        for st in [0, 1, 2, 7] {
            let rr = RouteRefresh {
                afi_safi: AfiSafi::IPV6_UNICAST,
                subtype: RouteRefreshSubtype::from_code(st),
            };
            let mut b = Vec::new();
            rr.encode_body(&mut b);
            assert_eq!(b, [0, 2, st, 1]);
            assert_eq!(RouteRefresh::decode(&b).unwrap(), rr);
        }
    }

    #[test]
    fn wrong_length_is_7_1() {
        let e = RouteRefresh::decode(&[0, 1, 0, 1, 0]).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength)
        );
        assert_eq!(e.data, [0, 1, 0, 1, 0]);
    }
}
