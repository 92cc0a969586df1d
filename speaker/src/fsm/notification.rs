//! NOTIFICATION contents as the FSM produces and consumes them (RFC 4271 §4.5, §6).
//!
//! The FSM works with plain (code, subcode, data) triples so that it stays independent of the
//! wire crate's message types; the session edge converts to and from
//! `fabric_bgp_wire::notification::Notification`.

use std::fmt;

use serde::Serialize;

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313).
pub mod code {
    /// Message Header Error.
    pub const MESSAGE_HEADER: u8 = 1;
    /// OPEN Message Error.
    pub const OPEN: u8 = 2;
    /// UPDATE Message Error.
    pub const UPDATE: u8 = 3;
    /// Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Finite State Machine Error.
    pub const FSM: u8 = 5;
    /// Cease.
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313 §5).
    pub const ROUTE_REFRESH: u8 = 7;
}

/// OPEN Message Error subcodes (RFC 4271 §6.2).
pub mod open_subcode {
    /// Unsupported Version Number.
    pub const UNSUPPORTED_VERSION: u8 = 1;
    /// Bad Peer AS.
    pub const BAD_PEER_AS: u8 = 2;
    /// Bad BGP Identifier.
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    /// Unacceptable Hold Time.
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    /// Unsupported Capability (RFC 5492 §5).
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
}

/// Finite State Machine Error subcodes (RFC 6608 §3).
pub mod fsm_subcode {
    /// Unspecified error.
    pub const UNSPECIFIED: u8 = 0;
    /// Receive Unexpected Message in OpenSent State.
    pub const UNEXPECTED_IN_OPEN_SENT: u8 = 1;
    /// Receive Unexpected Message in OpenConfirm State.
    pub const UNEXPECTED_IN_OPEN_CONFIRM: u8 = 2;
    /// Receive Unexpected Message in Established State.
    pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
}

/// Cease subcodes (RFC 4486 §4, RFC 8538 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CeaseReason {
    /// 1: Maximum Number of Prefixes Reached.
    MaxPrefixes,
    /// 2: Administrative Shutdown (may carry an RFC 8203/9003 shutdown communication).
    AdministrativeShutdown,
    /// 3: Peer De-configured.
    PeerDeconfigured,
    /// 4: Administrative Reset (may carry a shutdown communication).
    AdministrativeReset,
    /// 5: Connection Rejected.
    ConnectionRejected,
    /// 6: Other Configuration Change.
    OtherConfigurationChange,
    /// 7: Connection Collision Resolution (RFC 4271 §6.8).
    ConnectionCollisionResolution,
    /// 8: Out of Resources.
    OutOfResources,
    /// 9: Hard Reset (RFC 8538 §3).
    HardReset,
}

impl CeaseReason {
    /// The Cease subcode octet.
    pub fn subcode(self) -> u8 {
        match self {
            CeaseReason::MaxPrefixes => 1,
            CeaseReason::AdministrativeShutdown => 2,
            CeaseReason::PeerDeconfigured => 3,
            CeaseReason::AdministrativeReset => 4,
            CeaseReason::ConnectionRejected => 5,
            CeaseReason::OtherConfigurationChange => 6,
            CeaseReason::ConnectionCollisionResolution => 7,
            CeaseReason::OutOfResources => 8,
            CeaseReason::HardReset => 9,
        }
    }

    /// Whether this subcode carries a shutdown communication (RFC 9003 §2).
    pub fn carries_communication(self) -> bool {
        matches!(
            self,
            CeaseReason::AdministrativeShutdown | CeaseReason::AdministrativeReset
        )
    }
}

/// Maximum shutdown communication length in octets (RFC 9003 §2 raised it from 128 to 255).
pub const MAX_SHUTDOWN_COMMUNICATION: usize = 255;

/// The body of a NOTIFICATION: error code, subcode and data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Notification {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Data field (meaning depends on the code, RFC 4271 §6).
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION with the given fields.
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Self {
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// A Cease NOTIFICATION. For Administrative Shutdown/Reset a non-empty `communication` is
    /// encoded as a length octet plus UTF-8 text, cut at a character boundary to 255 octets
    /// (RFC 9003 §2); other subcodes carry no data.
    pub fn cease(reason: CeaseReason, communication: &str) -> Self {
        let mut data = Vec::new();
        if reason.carries_communication() && !communication.is_empty() {
            let mut end = communication.len().min(MAX_SHUTDOWN_COMMUNICATION);
            while !communication.is_char_boundary(end) {
                end -= 1;
            }
            let text = communication.as_bytes().get(..end).unwrap_or_default();
            data.push(u8::try_from(text.len()).unwrap_or(u8::MAX));
            data.extend_from_slice(text);
        }
        Notification {
            code: code::CEASE,
            subcode: reason.subcode(),
            data,
        }
    }

    /// Hold Timer Expired (RFC 4271 §6.5): code 4, subcode 0.
    pub fn hold_timer_expired() -> Self {
        Notification::new(code::HOLD_TIMER_EXPIRED, 0, Vec::new())
    }

    /// Finite State Machine Error with the given RFC 6608 subcode.
    pub fn fsm_error(subcode: u8) -> Self {
        Notification::new(code::FSM, subcode, Vec::new())
    }

    /// An OPEN Message Error with the given subcode and data.
    pub fn open_error(subcode: u8, data: Vec<u8>) -> Self {
        Notification::new(code::OPEN, subcode, data)
    }

    /// Whether this is a Cease with the given reason.
    pub fn is_cease(&self, reason: CeaseReason) -> bool {
        self.code == code::CEASE && self.subcode == reason.subcode()
    }

    /// The shutdown communication of a Cease 2/4, if present and well formed (RFC 9003 §2).
    /// Malformed ones are ignored, as RFC 9003 §3 allows.
    pub fn shutdown_communication(&self) -> Option<&str> {
        let carries = self.code == code::CEASE
            && (self.subcode == CeaseReason::AdministrativeShutdown.subcode()
                || self.subcode == CeaseReason::AdministrativeReset.subcode());
        if !carries {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        if len == 0 {
            return None;
        }
        std::str::from_utf8(rest.get(..usize::from(len))?).ok()
    }

    /// A short English name of the code/subcode, for logs and the control socket.
    pub fn describe(&self) -> &'static str {
        match (self.code, self.subcode) {
            (1, 1) => "message header error: connection not synchronized",
            (1, 2) => "message header error: bad message length",
            (1, 3) => "message header error: bad message type",
            (1, _) => "message header error",
            (2, 1) => "open message error: unsupported version number",
            (2, 2) => "open message error: bad peer AS",
            (2, 3) => "open message error: bad BGP identifier",
            (2, 4) => "open message error: unsupported optional parameter",
            (2, 6) => "open message error: unacceptable hold time",
            (2, 7) => "open message error: unsupported capability",
            (2, _) => "open message error",
            (3, _) => "update message error",
            (4, _) => "hold timer expired",
            (5, 1) => "fsm error: unexpected message in OpenSent",
            (5, 2) => "fsm error: unexpected message in OpenConfirm",
            (5, 3) => "fsm error: unexpected message in Established",
            (5, _) => "fsm error",
            (6, 1) => "cease: maximum number of prefixes reached",
            (6, 2) => "cease: administrative shutdown",
            (6, 3) => "cease: peer de-configured",
            (6, 4) => "cease: administrative reset",
            (6, 5) => "cease: connection rejected",
            (6, 6) => "cease: other configuration change",
            (6, 7) => "cease: connection collision resolution",
            (6, 8) => "cease: out of resources",
            (6, 9) => "cease: hard reset",
            (6, _) => "cease",
            (7, _) => "route-refresh message error",
            _ => "unknown error code",
        }
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} ({})", self.code, self.subcode, self.describe())?;
        if let Some(text) = self.shutdown_communication() {
            write!(f, " \"{text}\"")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_communication_is_length_prefixed_and_truncated() {
        let n = Notification::cease(CeaseReason::AdministrativeShutdown, "maintenance");
        assert_eq!((n.code, n.subcode), (6, 2));
        assert_eq!(n.data.first().copied(), Some(11));
        assert_eq!(n.shutdown_communication(), Some("maintenance"));

        let long = "ü".repeat(200); // 400 octets, 2 per character.
        let n = Notification::cease(CeaseReason::AdministrativeReset, &long);
        assert_eq!(n.data.first().copied(), Some(254));
        assert_eq!(n.shutdown_communication().map(str::len), Some(254));
    }

    #[test]
    fn other_cease_subcodes_carry_no_data() {
        let n = Notification::cease(CeaseReason::PeerDeconfigured, "ignored");
        assert_eq!((n.code, n.subcode), (6, 3));
        assert!(n.data.is_empty());
        assert_eq!(n.shutdown_communication(), None);
        let n = Notification::cease(CeaseReason::ConnectionCollisionResolution, "");
        assert_eq!((n.code, n.subcode), (6, 7));
    }

    #[test]
    fn malformed_communication_is_ignored() {
        let n = Notification::new(6, 2, vec![9, b'a']);
        assert_eq!(n.shutdown_communication(), None);
        let n = Notification::new(6, 2, vec![1, 0xff]);
        assert_eq!(n.shutdown_communication(), None);
        assert_eq!(n.to_string(), "6/2 (cease: administrative shutdown)");
    }
}
