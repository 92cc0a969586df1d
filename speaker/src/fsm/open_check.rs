//! Checks on a received OPEN (RFC 4271 §6.2, RFC 6793 §4.1, RFC 6286 §2.2).
//!
//! Syntax (lengths, parameters, capability encoding) is the wire crate's job; this module checks
//! what needs the session's configuration: version, peer AS, hold time and BGP Identifier.

use std::net::Ipv4Addr;

use fabric_bgp_wire::{Asn, RouterId};

use super::notification::{open_subcode, Notification};
use crate::config::RemoteAs;

/// The only BGP version we speak (RFC 4271 §4.2).
pub const BGP_VERSION: u8 = 4;

/// The fields of a received OPEN that the FSM needs, extracted by the session edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerOpen {
    /// Version field.
    pub version: u8,
    /// "My Autonomous System" field (2 octets; AS_TRANS for 4-octet speakers above 65535).
    pub my_as: u16,
    /// Proposed hold time in seconds.
    pub hold_time: u16,
    /// BGP Identifier.
    pub bgp_id: RouterId,
    /// Value of the 4-octet AS capability (RFC 6793), if the peer sent one.
    pub four_octet_as: Option<Asn>,
}

impl PeerOpen {
    /// The peer's AS: the 4-octet AS capability wins over the 2-octet field (RFC 6793 §4.1).
    pub fn effective_as(&self) -> Asn {
        self.four_octet_as.unwrap_or(Asn(u32::from(self.my_as)))
    }
}

/// What an accepted OPEN tells the FSM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptedOpen {
    /// The peer's AS.
    pub peer_as: Asn,
    /// The peer's BGP Identifier.
    pub peer_id: RouterId,
    /// The hold time the peer proposed.
    pub peer_hold_time: u16,
}

/// Validates `open` against the local configuration; the error is the NOTIFICATION to send.
pub fn check_open(
    local_as: Asn,
    local_id: RouterId,
    remote_as: RemoteAs,
    open: &PeerOpen,
) -> Result<AcceptedOpen, Notification> {
    // RFC 4271 §6.2: the data is the largest locally supported version, as a 2-octet integer.
    if open.version != BGP_VERSION {
        return Err(Notification::open_error(
            open_subcode::UNSUPPORTED_VERSION,
            u16::from(BGP_VERSION).to_be_bytes().to_vec(),
        ));
    }
    let peer_as = open.effective_as();
    if !remote_as.accepts(local_as, peer_as) {
        return Err(Notification::open_error(
            open_subcode::BAD_PEER_AS,
            Vec::new(),
        ));
    }
    // RFC 4271 §4.2: a hold time of 1 or 2 seconds is unacceptable; 0 means "no keepalives".
    if open.hold_time == 1 || open.hold_time == 2 {
        return Err(Notification::open_error(
            open_subcode::UNACCEPTABLE_HOLD_TIME,
            Vec::new(),
        ));
    }
    // RFC 6286 §2.2: any non-zero identifier is valid, but an internal peer must not share ours.
    let internal = peer_as == local_as;
    if open.bgp_id.0 == Ipv4Addr::UNSPECIFIED || (internal && open.bgp_id == local_id) {
        return Err(Notification::open_error(
            open_subcode::BAD_BGP_IDENTIFIER,
            Vec::new(),
        ));
    }
    Ok(AcceptedOpen {
        peer_as,
        peer_id: open.bgp_id,
        peer_hold_time: open.hold_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL_AS: Asn = Asn(65001);

    fn local_id() -> RouterId {
        RouterId(Ipv4Addr::new(10, 0, 0, 1))
    }

    fn open(my_as: u16, four: Option<u32>) -> PeerOpen {
        PeerOpen {
            version: 4,
            my_as,
            hold_time: 90,
            bgp_id: RouterId(Ipv4Addr::new(10, 0, 0, 2)),
            four_octet_as: four.map(Asn),
        }
    }

    fn code(r: Result<AcceptedOpen, Notification>) -> Option<(u8, u8, Vec<u8>)> {
        r.err().map(|n| (n.code, n.subcode, n.data))
    }

    #[test]
    fn version_other_than_4_is_2_1_with_data_4() {
        let mut o = open(65002, None);
        o.version = 3;
        let r = check_open(LOCAL_AS, local_id(), RemoteAs::Asn(Asn(65002)), &o);
        assert_eq!(code(r), Some((2, 1, vec![0, 4])));
    }

    #[test]
    fn peer_as_checks() {
        let id = local_id();
        let ok = check_open(LOCAL_AS, id, RemoteAs::Asn(Asn(65002)), &open(65002, None));
        assert_eq!(ok.map(|a| a.peer_as), Ok(Asn(65002)));
        let bad = check_open(LOCAL_AS, id, RemoteAs::Asn(Asn(65003)), &open(65002, None));
        assert_eq!(code(bad), Some((2, 2, vec![])));
        // The 4-octet AS capability is what counts (RFC 6793 §4.1).
        let four = check_open(
            LOCAL_AS,
            id,
            RemoteAs::Asn(Asn(4_200_000_001)),
            &open(23456, Some(4_200_000_001)),
        );
        assert_eq!(four.map(|a| a.peer_as), Ok(Asn(4_200_000_001)));
        let four_bad = check_open(
            LOCAL_AS,
            id,
            RemoteAs::Asn(Asn(23456)),
            &open(23456, Some(4_200_000_001)),
        );
        assert_eq!(code(four_bad), Some((2, 2, vec![])));
        // internal / external keywords.
        assert!(check_open(LOCAL_AS, id, RemoteAs::Internal, &open(65001, None)).is_ok());
        let ext_as_int = check_open(LOCAL_AS, id, RemoteAs::Internal, &open(65002, None));
        assert_eq!(code(ext_as_int), Some((2, 2, vec![])));
        assert!(check_open(LOCAL_AS, id, RemoteAs::External, &open(65002, None)).is_ok());
        let int_as_ext = check_open(LOCAL_AS, id, RemoteAs::External, &open(65001, None));
        assert_eq!(code(int_as_ext), Some((2, 2, vec![])));
    }

    #[test]
    fn hold_time_one_or_two_is_2_6_and_zero_is_accepted() {
        for (hold, expect_err) in [(0, false), (1, true), (2, true), (3, false), (65535, false)] {
            let mut o = open(65002, None);
            o.hold_time = hold;
            let r = check_open(LOCAL_AS, local_id(), RemoteAs::Asn(Asn(65002)), &o);
            if expect_err {
                assert_eq!(code(r), Some((2, 6, vec![])), "hold {hold}");
            } else {
                assert_eq!(r.map(|a| a.peer_hold_time), Ok(hold));
            }
        }
    }

    #[test]
    fn bgp_identifier_checks() {
        let mut o = open(65002, None);
        o.bgp_id = RouterId(Ipv4Addr::UNSPECIFIED);
        let r = check_open(LOCAL_AS, local_id(), RemoteAs::Asn(Asn(65002)), &o);
        assert_eq!(code(r), Some((2, 3, vec![])));
        // Same identifier: an error for an internal peer only (RFC 6286 §2.2).
        let mut o = open(65001, None);
        o.bgp_id = local_id();
        let r = check_open(LOCAL_AS, local_id(), RemoteAs::Internal, &o);
        assert_eq!(code(r), Some((2, 3, vec![])));
        let mut o = open(65002, None);
        o.bgp_id = local_id();
        assert!(check_open(LOCAL_AS, local_id(), RemoteAs::External, &o).is_ok());
    }
}
