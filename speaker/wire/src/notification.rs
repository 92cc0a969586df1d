//! NOTIFICATION message (RFC 4271 §4.5) with the shutdown communication of RFC 9003.

use serde::{Deserialize, Serialize};

use crate::codes::{CeaseSubcode, ErrorCode};

/// Maximum length of a shutdown communication in octets (RFC 9003 §2).
pub const MAX_SHUTDOWN_COMMUNICATION_LEN: usize = 255;

/// A NOTIFICATION message body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Notification {
    /// Error code and subcode.
    pub code: ErrorCode,
    /// Data field; its meaning depends on the code (RFC 4271 §6).
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION with the given code and data.
    pub fn new(code: ErrorCode, data: impl Into<Vec<u8>>) -> Self {
        Notification {
            code,
            data: data.into(),
        }
    }

    /// A Cease NOTIFICATION; for Administrative Shutdown (2) and Administrative Reset (4) a
    /// non-empty `message` becomes the shutdown communication of RFC 9003 §2 (truncated to 255
    /// octets at a UTF-8 character boundary). Other subcodes ignore `message`.
    pub fn cease(subcode: CeaseSubcode, message: &str) -> Self {
        let mut data = Vec::new();
        if Self::carries_shutdown_communication(subcode) && !message.is_empty() {
            let mut end = message.len().min(MAX_SHUTDOWN_COMMUNICATION_LEN);
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            let text = message.get(..end).unwrap_or_default();
            // `end` is at most 255.
            data.push(u8::try_from(text.len()).unwrap_or(u8::MAX));
            data.extend_from_slice(text.as_bytes());
        }
        Notification {
            code: ErrorCode::Cease(subcode),
            data,
        }
    }

    fn carries_shutdown_communication(subcode: CeaseSubcode) -> bool {
        matches!(
            subcode,
            CeaseSubcode::AdministrativeShutdown | CeaseSubcode::AdministrativeReset
        )
    }

    /// The RFC 9003 shutdown communication of a Cease 2/4 NOTIFICATION, if one is present and
    /// well formed (length octet consistent, valid UTF-8). Invalid ones are ignored as RFC 9003
    /// §3 allows.
    pub fn shutdown_communication(&self) -> Option<&str> {
        let ErrorCode::Cease(sub) = self.code else {
            return None;
        };
        if !Self::carries_shutdown_communication(sub) {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..usize::from(len))?;
        if len == 0 {
            return None;
        }
        std::str::from_utf8(text).ok()
    }

    /// Decodes a NOTIFICATION body (the bytes after the header; at least 2).
    pub fn decode(body: &[u8]) -> Result<Self, crate::DecodeError> {
        match body {
            [code, subcode, data @ ..] => Ok(Notification {
                code: ErrorCode::from_codes(*code, *subcode),
                data: data.to_vec(),
            }),
            _ => Err(crate::DecodeError::bad_length(
                body.len() + crate::header::HEADER_LEN,
                "NOTIFICATION shorter than 21 octets",
            )),
        }
    }

    /// Appends the body to `out`.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.code.code());
        out.push(self.code.subcode());
        out.extend_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::UpdateSubcode;

    #[test]
    fn body_round_trips() {
        let n = Notification::new(
            ErrorCode::Update(UpdateSubcode::MalformedAsPath),
            vec![1, 2],
        );
        let mut b = Vec::new();
        n.encode_body(&mut b);
        assert_eq!(b, [3, 11, 1, 2]);
        assert_eq!(Notification::decode(&b).unwrap(), n);
    }

    #[test]
    fn shutdown_communication_round_trips_and_truncates() {
        let n = Notification::cease(CeaseSubcode::AdministrativeShutdown, "maintenance ✓");
        assert_eq!(n.data[0] as usize, "maintenance ✓".len());
        assert_eq!(n.shutdown_communication(), Some("maintenance ✓"));
        let long = "é".repeat(200); // 400 octets
        let n = Notification::cease(CeaseSubcode::AdministrativeReset, &long);
        assert_eq!(n.data[0], 254);
        assert_eq!(n.shutdown_communication().map(str::len), Some(254));
        let n = Notification::cease(CeaseSubcode::PeerDeconfigured, "ignored");
        assert!(n.data.is_empty());
        assert_eq!(n.shutdown_communication(), None);
    }

    #[test]
    fn malformed_shutdown_communication_is_ignored() {
        let n = Notification::new(
            ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown),
            [10, b'a'],
        );
        assert_eq!(n.shutdown_communication(), None);
        let n = Notification::new(
            ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown),
            [1, 0xff],
        );
        assert_eq!(n.shutdown_communication(), None);
    }

    #[test]
    fn short_body_is_bad_length() {
        let e = Notification::decode(&[6]).unwrap_err();
        assert_eq!(e.data, [0, 20]);
    }
}
