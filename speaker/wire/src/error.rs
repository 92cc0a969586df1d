//! Errors as protocol data: a decode failure is the NOTIFICATION it would cause (code, subcode,
//! data) plus the RFC 7606 action the receiver must take.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::codes::{ErrorCode, HeaderSubcode, OpenSubcode, RouteRefreshSubcode, UpdateSubcode};

/// What the receiver of a malformed message must do (RFC 7606 §2), weakest first.
///
/// The derived order is the strength order, so "the strongest of several errors wins"
/// (RFC 7606 §3(h)) is `Iterator::max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ErrorAction {
    /// Drop the offending attribute, keep processing the UPDATE (RFC 7606 §2 "attribute discard").
    AttributeDiscard,
    /// Treat every prefix of the UPDATE (NLRI field and MP_REACH_NLRI) as withdrawn; the session
    /// stays up (RFC 7606 §2 "treat-as-withdraw").
    TreatAsWithdraw,
    /// Send a NOTIFICATION with `code`/`data` and close the session (RFC 4271 §6).
    SessionReset,
}

/// A message that could not be decoded (or a non-fatal problem inside an UPDATE).
///
/// `code` and `data` are exactly what a NOTIFICATION would carry (RFC 4271 §6); `action` says
/// whether that NOTIFICATION must be sent ([`ErrorAction::SessionReset`]) or the error is handled
/// inside the session (RFC 7606).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("failed to decode BGP message: {reason} (NOTIFICATION {code}, action {action:?})")]
pub struct DecodeError {
    /// NOTIFICATION error code and subcode.
    pub code: ErrorCode,
    /// NOTIFICATION data field.
    pub data: Vec<u8>,
    /// Action required by RFC 4271 / RFC 7606.
    pub action: ErrorAction,
    /// Human-readable reason, for logs.
    pub reason: Cow<'static, str>,
}

impl DecodeError {
    /// A new error with the given code, action and reason, and empty data.
    pub fn new(code: ErrorCode, action: ErrorAction, reason: impl Into<Cow<'static, str>>) -> Self {
        DecodeError {
            code,
            data: Vec::new(),
            action,
            reason: reason.into(),
        }
    }

    /// Replaces the NOTIFICATION data.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// The error code octet.
    pub fn code_byte(&self) -> u8 {
        self.code.code()
    }

    /// The error subcode octet.
    pub fn subcode_byte(&self) -> u8 {
        self.code.subcode()
    }

    /// Whether the session must be closed with a NOTIFICATION.
    pub fn is_fatal(&self) -> bool {
        self.action == ErrorAction::SessionReset
    }

    /// The NOTIFICATION to send for this error.
    pub fn to_notification(&self) -> crate::notification::Notification {
        crate::notification::Notification {
            code: self.code,
            data: self.data.clone(),
        }
    }

    pub(crate) fn header(sub: HeaderSubcode, reason: &'static str) -> Self {
        DecodeError::new(
            ErrorCode::MessageHeader(sub),
            ErrorAction::SessionReset,
            reason,
        )
    }

    /// 1/2 Bad Message Length carrying the offending length (RFC 4271 §6.1).
    pub(crate) fn bad_length(len: usize, reason: &'static str) -> Self {
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        DecodeError::header(HeaderSubcode::BadMessageLength, reason).with_data(len.to_be_bytes())
    }

    pub(crate) fn open(sub: OpenSubcode, reason: impl Into<Cow<'static, str>>) -> Self {
        DecodeError::new(ErrorCode::Open(sub), ErrorAction::SessionReset, reason)
    }

    pub(crate) fn update(
        sub: UpdateSubcode,
        action: ErrorAction,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        DecodeError::new(ErrorCode::Update(sub), action, reason)
    }

    pub(crate) fn route_refresh(reason: &'static str) -> Self {
        DecodeError::new(
            ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength),
            ErrorAction::SessionReset,
            reason,
        )
    }
}

/// A value that cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded message exceeds the maximum message size (4096, or 65535 with RFC 8654).
    #[error("failed to encode BGP message: {len} bytes exceed the maximum of {max}")]
    MessageTooLong {
        /// Encoded length including the 19-byte header.
        len: usize,
        /// Maximum allowed for this session.
        max: usize,
    },
    /// A length-prefixed field does not fit its length field.
    #[error(
        "failed to encode BGP message: {field} is {len} bytes, more than its length field allows"
    )]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
}
