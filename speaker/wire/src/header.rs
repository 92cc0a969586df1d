//! The 19-octet message header and stream framing (RFC 4271 §4.1, §6.1; RFC 8654).

use crate::codes::{HeaderSubcode, MessageType};
use crate::error::DecodeError;

/// The all-ones marker that starts every message (RFC 4271 §4.1).
pub const MARKER: [u8; 16] = [0xff; 16];
/// Header length: marker (16) + length (2) + type (1).
pub const HEADER_LEN: usize = 19;
/// Maximum message size without RFC 8654 (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Maximum message size with the Extended Message capability (RFC 8654 §4).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// Minimum total length of an OPEN message (RFC 4271 §4.2).
pub const MIN_OPEN_LEN: usize = 29;
/// Minimum total length of an UPDATE message (RFC 4271 §4.3).
pub const MIN_UPDATE_LEN: usize = 23;
/// Minimum total length of a NOTIFICATION message (RFC 4271 §4.5).
pub const MIN_NOTIFICATION_LEN: usize = 21;
/// Exact length of a KEEPALIVE message (RFC 4271 §4.4).
pub const KEEPALIVE_LEN: usize = 19;
/// Exact length of a ROUTE-REFRESH message (RFC 2918 §3, RFC 7313 §5).
pub const ROUTE_REFRESH_LEN: usize = 23;

/// A checked message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Total message length, header included.
    pub length: u16,
    /// Message type.
    pub msg_type: MessageType,
}

/// How many bytes the message at the start of `buf` occupies, once enough bytes are there.
///
/// Returns `Ok(None)` while fewer than 19 bytes (or fewer than the announced length) are
/// buffered, `Ok(Some(len))` when `buf[..len]` holds one complete message, and an error as soon
/// as the marker (1/1) or the length (1/2, outside 19..=4096) is wrong (RFC 4271 §6.1). The type
/// and per-type lengths are checked by [`crate::Message::decode`].
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    frame_len_max(buf, MAX_MESSAGE_LEN)
}

/// [`frame_len`] with an explicit maximum (use [`MAX_EXTENDED_MESSAGE_LEN`] once RFC 8654 is
/// negotiated; see [`crate::CodecContext::max_message_len`]).
pub fn frame_len_max(buf: &[u8], max: usize) -> Result<Option<usize>, DecodeError> {
    // Reject a bad marker as soon as its bytes are in, without waiting for the whole header.
    let seen = buf.get(..MARKER.len().min(buf.len())).unwrap_or_default();
    if seen.iter().any(|&b| b != 0xff) {
        return Err(DecodeError::header(
            HeaderSubcode::ConnectionNotSynchronized,
            "marker is not all ones",
        ));
    }
    let Some(&[hi, lo]) = buf.get(16..18) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if !(HEADER_LEN..=max).contains(&len) {
        return Err(DecodeError::bad_length(
            len,
            "message length outside 19..=max",
        ));
    }
    if buf.len() < len || buf.len() < HEADER_LEN {
        return Ok(None);
    }
    Ok(Some(len))
}

impl Header {
    /// Checks marker, length (against `frame.len()` and `max`) and type, and the per-type length
    /// rules of RFC 4271 §6.1 (KEEPALIVE exactly 19, OPEN/UPDATE/NOTIFICATION minimums) and
    /// RFC 7313 §5 (ROUTE-REFRESH exactly 23, reported as 7/1).
    pub fn decode(frame: &[u8], max: usize) -> Result<Header, DecodeError> {
        let len = match frame_len_max(frame, max)? {
            Some(len) => len,
            None => {
                return Err(DecodeError::bad_length(
                    frame.len(),
                    "message shorter than its header",
                ))
            }
        };
        if len != frame.len() {
            return Err(DecodeError::bad_length(
                len,
                "length field disagrees with frame size",
            ));
        }
        let ty = frame.get(18).copied().unwrap_or_default();
        let msg_type = MessageType::from_code(ty);
        let ok = match msg_type {
            MessageType::Open => len >= MIN_OPEN_LEN,
            MessageType::Update => len >= MIN_UPDATE_LEN,
            MessageType::Notification => len >= MIN_NOTIFICATION_LEN,
            MessageType::Keepalive => len == KEEPALIVE_LEN,
            MessageType::RouteRefresh => {
                if len != ROUTE_REFRESH_LEN {
                    return Err(DecodeError::route_refresh("ROUTE-REFRESH length is not 23")
                        .with_data(frame.get(HEADER_LEN..).unwrap_or_default()));
                }
                true
            }
            MessageType::Unknown(t) => {
                return Err(DecodeError::header(
                    HeaderSubcode::BadMessageType,
                    "unknown message type",
                )
                .with_data([t]))
            }
        };
        if !ok {
            return Err(DecodeError::bad_length(
                len,
                "message too short for its type",
            ));
        }
        // `len` was checked to be at most `max`, itself at most 65535.
        let length = u16::try_from(len).unwrap_or(u16::MAX);
        Ok(Header { length, msg_type })
    }

    /// Appends a header with a zero length; the caller patches it with [`patch_length`].
    pub(crate) fn start(out: &mut Vec<u8>, msg_type: MessageType) -> usize {
        let start = out.len();
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&[0, 0, msg_type.code()]);
        start
    }
}

/// Writes the final length of the message that begins at `start` in `out`.
pub(crate) fn patch_length(
    out: &mut Vec<u8>,
    start: usize,
    max: usize,
) -> Result<(), crate::EncodeError> {
    let len = out.len().saturating_sub(start);
    if len > max {
        out.truncate(start);
        return Err(crate::EncodeError::MessageTooLong { len, max });
    }
    let Ok(len16) = u16::try_from(len) else {
        out.truncate(start);
        return Err(crate::EncodeError::MessageTooLong { len, max });
    };
    if let Some(slot) = out.get_mut(start + 16..start + 18) {
        slot.copy_from_slice(&len16.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::ErrorCode;

    fn keepalive() -> Vec<u8> {
        let mut v = MARKER.to_vec();
        v.extend_from_slice(&[0, 19, 4]);
        v
    }

    #[test]
    fn frame_len_waits_for_whole_message() {
        let k = keepalive();
        for n in 0..19 {
            assert_eq!(frame_len(&k[..n]), Ok(None), "prefix of {n} bytes");
        }
        assert_eq!(frame_len(&k), Ok(Some(19)));
        let mut two = k.clone();
        two.extend_from_slice(&k);
        assert_eq!(frame_len(&two), Ok(Some(19)));
    }

    #[test]
    fn frame_len_rejects_bad_marker_early() {
        let e = frame_len(&[0xff, 0xfe]).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::MessageHeader(HeaderSubcode::ConnectionNotSynchronized)
        );
    }

    #[test]
    fn frame_len_rejects_bad_lengths_with_length_as_data() {
        for bad in [0u16, 18, 4097, 65535] {
            let mut v = MARKER.to_vec();
            v.extend_from_slice(&bad.to_be_bytes());
            let e = frame_len(&v).unwrap_err();
            assert_eq!(
                e.code,
                ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength)
            );
            assert_eq!(e.data, bad.to_be_bytes());
        }
        let mut v = MARKER.to_vec();
        v.extend_from_slice(&5000u16.to_be_bytes());
        assert_eq!(frame_len_max(&v, MAX_EXTENDED_MESSAGE_LEN), Ok(None));
    }

    #[test]
    fn header_checks_type_and_per_type_length() {
        let mut k = keepalive();
        assert!(Header::decode(&k, MAX_MESSAGE_LEN).is_ok());
        k[18] = 9;
        let e = Header::decode(&k, MAX_MESSAGE_LEN).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::MessageHeader(HeaderSubcode::BadMessageType)
        );
        assert_eq!(e.data, [9]);
        // A 20-byte KEEPALIVE.
        let mut k = keepalive();
        k[17] = 20;
        k.push(0);
        let e = Header::decode(&k, MAX_MESSAGE_LEN).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength)
        );
        assert_eq!(e.data, [0, 20]);
        // A 19-byte OPEN.
        let mut o = keepalive();
        o[18] = 1;
        let e = Header::decode(&o, MAX_MESSAGE_LEN).unwrap_err();
        assert_eq!(e.data, [0, 19]);
    }
}
