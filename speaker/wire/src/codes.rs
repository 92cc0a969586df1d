//! Numeric registries of BGP-4 as enums with an `Unknown` fallback: message types, optional
//! parameter and capability codes, path attribute type codes, and NOTIFICATION codes/subcodes.
//!
//! Every enum converts both ways without loss (`from_code(x).code() == x`), so a value this crate
//! does not know is carried, logged and re-sent unchanged.

use std::fmt;

/// Declares a `Copy` enum over a numeric code with an `Unknown(repr)` catch-all variant.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $repr:ty {
            $( $(#[$vmeta:meta])* $var:ident = $val:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[derive(::serde::Serialize, ::serde::Deserialize)]
        $vis enum $name {
            $( $(#[$vmeta])* $var, )*
            /// A code point this crate does not know, carried unchanged.
            Unknown($repr),
        }

        impl $name {
            /// The numeric code point on the wire.
            pub const fn code(self) -> $repr {
                match self {
                    $( Self::$var => $val, )*
                    Self::Unknown(c) => c,
                }
            }

            /// Maps a wire code point to its variant (`Unknown` when unassigned here).
            pub const fn from_code(c: $repr) -> Self {
                match c {
                    $( $val => Self::$var, )*
                    c => Self::Unknown(c),
                }
            }
        }

        impl From<$repr> for $name {
            fn from(c: $repr) -> Self {
                Self::from_code(c)
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> Self {
                v.code()
            }
        }
    };
}

code_enum! {
    /// BGP message type (RFC 4271 §4.1, RFC 2918).
    pub enum MessageType: u8 {
        /// OPEN (RFC 4271 §4.2).
        Open = 1,
        /// UPDATE (RFC 4271 §4.3).
        Update = 2,
        /// NOTIFICATION (RFC 4271 §4.5).
        Notification = 3,
        /// KEEPALIVE (RFC 4271 §4.4).
        Keepalive = 4,
        /// ROUTE-REFRESH (RFC 2918, RFC 7313).
        RouteRefresh = 5,
    }
}

code_enum! {
    /// Capability code (RFC 5492, IANA "Capability Codes").
    pub enum CapabilityCode: u8 {
        /// Multiprotocol Extensions (RFC 4760).
        Multiprotocol = 1,
        /// Route Refresh (RFC 2918).
        RouteRefresh = 2,
        /// Outbound Route Filtering (RFC 5291).
        OutboundRouteFiltering = 3,
        /// Extended Next Hop Encoding (RFC 8950).
        ExtendedNextHop = 5,
        /// BGP Extended Message (RFC 8654).
        ExtendedMessage = 6,
        /// BGP Role (RFC 9234).
        BgpRole = 9,
        /// Graceful Restart (RFC 4724).
        GracefulRestart = 64,
        /// Support for 4-octet AS numbers (RFC 6793).
        FourOctetAs = 65,
        /// ADD-PATH (RFC 7911).
        AddPath = 69,
        /// Enhanced Route Refresh (RFC 7313).
        EnhancedRouteRefresh = 70,
        /// Long-Lived Graceful Restart (RFC 9494).
        LongLivedGracefulRestart = 71,
        /// FQDN / hostname (draft-walton-bgp-hostname-capability).
        Fqdn = 73,
        /// Software version (draft-abraitis-bgp-version-capability).
        SoftwareVersion = 75,
        /// Pre-standard Cisco route refresh.
        RouteRefreshCisco = 128,
    }
}

code_enum! {
    /// Path attribute type code (RFC 4271 §5, IANA "BGP Path Attributes").
    pub enum AttrCode: u8 {
        /// ORIGIN (RFC 4271 §5.1.1).
        Origin = 1,
        /// AS_PATH (RFC 4271 §5.1.2).
        AsPath = 2,
        /// NEXT_HOP (RFC 4271 §5.1.3).
        NextHop = 3,
        /// MULTI_EXIT_DISC (RFC 4271 §5.1.4).
        MultiExitDisc = 4,
        /// LOCAL_PREF (RFC 4271 §5.1.5).
        LocalPref = 5,
        /// ATOMIC_AGGREGATE (RFC 4271 §5.1.6).
        AtomicAggregate = 6,
        /// AGGREGATOR (RFC 4271 §5.1.7).
        Aggregator = 7,
        /// COMMUNITIES (RFC 1997).
        Communities = 8,
        /// ORIGINATOR_ID (RFC 4456).
        OriginatorId = 9,
        /// CLUSTER_LIST (RFC 4456).
        ClusterList = 10,
        /// MP_REACH_NLRI (RFC 4760).
        MpReachNlri = 14,
        /// MP_UNREACH_NLRI (RFC 4760).
        MpUnreachNlri = 15,
        /// EXTENDED COMMUNITIES (RFC 4360).
        ExtendedCommunities = 16,
        /// AS4_PATH (RFC 6793).
        As4Path = 17,
        /// AS4_AGGREGATOR (RFC 6793).
        As4Aggregator = 18,
        /// IPv6 Address Specific Extended Community (RFC 5701).
        Ipv6ExtendedCommunities = 25,
        /// AIGP (RFC 7311).
        Aigp = 26,
        /// LARGE_COMMUNITY (RFC 8092).
        LargeCommunities = 32,
        /// Only to Customer (RFC 9234).
        OnlyToCustomer = 35,
        /// ATTR_SET (RFC 6368).
        AttrSet = 128,
    }
}

code_enum! {
    /// Subcodes of NOTIFICATION code 1, Message Header Error (RFC 4271 §4.5).
    pub enum HeaderSubcode: u8 {
        /// Unspecific.
        Unspecific = 0,
        /// Connection Not Synchronized (marker not all ones).
        ConnectionNotSynchronized = 1,
        /// Bad Message Length; data carries the offending 2-octet length.
        BadMessageLength = 2,
        /// Bad Message Type; data carries the offending type octet.
        BadMessageType = 3,
    }
}

code_enum! {
    /// Subcodes of NOTIFICATION code 2, OPEN Message Error (RFC 4271 §4.5, RFC 5492, RFC 9234).
    pub enum OpenSubcode: u8 {
        /// Unspecific.
        Unspecific = 0,
        /// Unsupported Version Number; data carries the highest supported version (2 octets).
        UnsupportedVersionNumber = 1,
        /// Bad Peer AS.
        BadPeerAs = 2,
        /// Bad BGP Identifier.
        BadBgpIdentifier = 3,
        /// Unsupported Optional Parameter.
        UnsupportedOptionalParameter = 4,
        /// Authentication Failure (deprecated by RFC 4271).
        AuthenticationFailure = 5,
        /// Unacceptable Hold Time.
        UnacceptableHoldTime = 6,
        /// Unsupported Capability (RFC 5492).
        UnsupportedCapability = 7,
        /// Role Mismatch (RFC 9234).
        RoleMismatch = 11,
    }
}

code_enum! {
    /// Subcodes of NOTIFICATION code 3, UPDATE Message Error (RFC 4271 §4.5).
    pub enum UpdateSubcode: u8 {
        /// Unspecific.
        Unspecific = 0,
        /// Malformed Attribute List.
        MalformedAttributeList = 1,
        /// Unrecognized Well-known Attribute.
        UnrecognizedWellKnownAttribute = 2,
        /// Missing Well-known Attribute; data carries the missing type code.
        MissingWellKnownAttribute = 3,
        /// Attribute Flags Error.
        AttributeFlagsError = 4,
        /// Attribute Length Error.
        AttributeLengthError = 5,
        /// Invalid ORIGIN Attribute.
        InvalidOriginAttribute = 6,
        /// AS Routing Loop (deprecated).
        AsRoutingLoop = 7,
        /// Invalid NEXT_HOP Attribute.
        InvalidNextHopAttribute = 8,
        /// Optional Attribute Error.
        OptionalAttributeError = 9,
        /// Invalid Network Field.
        InvalidNetworkField = 10,
        /// Malformed AS_PATH.
        MalformedAsPath = 11,
    }
}

code_enum! {
    /// Subcodes of NOTIFICATION code 4, Hold Timer Expired (none assigned).
    pub enum HoldTimerSubcode: u8 {
        /// Unspecific.
        Unspecific = 0,
    }
}

code_enum! {
    /// Subcodes of NOTIFICATION code 5, Finite State Machine Error (RFC 6608).
    pub enum FsmSubcode: u8 {
        /// Unspecified Error.
        Unspecified = 0,
        /// Receive Unexpected Message in OpenSent State.
        UnexpectedMessageInOpenSent = 1,
        /// Receive Unexpected Message in OpenConfirm State.
        UnexpectedMessageInOpenConfirm = 2,
        /// Receive Unexpected Message in Established State.
        UnexpectedMessageInEstablished = 3,
    }
}

code_enum! {
    /// Subcodes of NOTIFICATION code 6, Cease (RFC 4486, RFC 8538, RFC 9384).
    pub enum CeaseSubcode: u8 {
        /// Unspecific (reserved).
        Unspecific = 0,
        /// Maximum Number of Prefixes Reached.
        MaximumPrefixesReached = 1,
        /// Administrative Shutdown (may carry a shutdown communication, RFC 9003).
        AdministrativeShutdown = 2,
        /// Peer De-configured.
        PeerDeconfigured = 3,
        /// Administrative Reset (may carry a shutdown communication, RFC 9003).
        AdministrativeReset = 4,
        /// Connection Rejected.
        ConnectionRejected = 5,
        /// Other Configuration Change.
        OtherConfigurationChange = 6,
        /// Connection Collision Resolution.
        ConnectionCollisionResolution = 7,
        /// Out of Resources.
        OutOfResources = 8,
        /// Hard Reset (RFC 8538).
        HardReset = 9,
        /// BFD Down (RFC 9384).
        BfdDown = 10,
    }
}

code_enum! {
    /// Subcodes of NOTIFICATION code 7, ROUTE-REFRESH Message Error (RFC 7313 §5).
    pub enum RouteRefreshSubcode: u8 {
        /// Reserved.
        Reserved = 0,
        /// Invalid Message Length.
        InvalidMessageLength = 1,
    }
}

/// A NOTIFICATION error code together with its subcode, typed (RFC 4271 §4.5).
///
/// `ErrorCode::from_codes(c, s).code() == c` and `.subcode() == s` for every pair of octets.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum ErrorCode {
    /// 1: Message Header Error.
    MessageHeader(HeaderSubcode),
    /// 2: OPEN Message Error.
    Open(OpenSubcode),
    /// 3: UPDATE Message Error.
    Update(UpdateSubcode),
    /// 4: Hold Timer Expired.
    HoldTimerExpired(HoldTimerSubcode),
    /// 5: Finite State Machine Error.
    Fsm(FsmSubcode),
    /// 6: Cease.
    Cease(CeaseSubcode),
    /// 7: ROUTE-REFRESH Message Error.
    RouteRefresh(RouteRefreshSubcode),
    /// An error code this crate does not know.
    Unknown {
        /// Error code octet.
        code: u8,
        /// Error subcode octet.
        subcode: u8,
    },
}

impl ErrorCode {
    /// The error code octet.
    pub const fn code(self) -> u8 {
        match self {
            ErrorCode::MessageHeader(_) => 1,
            ErrorCode::Open(_) => 2,
            ErrorCode::Update(_) => 3,
            ErrorCode::HoldTimerExpired(_) => 4,
            ErrorCode::Fsm(_) => 5,
            ErrorCode::Cease(_) => 6,
            ErrorCode::RouteRefresh(_) => 7,
            ErrorCode::Unknown { code, .. } => code,
        }
    }

    /// The error subcode octet.
    pub const fn subcode(self) -> u8 {
        match self {
            ErrorCode::MessageHeader(s) => s.code(),
            ErrorCode::Open(s) => s.code(),
            ErrorCode::Update(s) => s.code(),
            ErrorCode::HoldTimerExpired(s) => s.code(),
            ErrorCode::Fsm(s) => s.code(),
            ErrorCode::Cease(s) => s.code(),
            ErrorCode::RouteRefresh(s) => s.code(),
            ErrorCode::Unknown { subcode, .. } => subcode,
        }
    }

    /// Builds the typed value from the two wire octets.
    pub const fn from_codes(code: u8, subcode: u8) -> Self {
        match code {
            1 => ErrorCode::MessageHeader(HeaderSubcode::from_code(subcode)),
            2 => ErrorCode::Open(OpenSubcode::from_code(subcode)),
            3 => ErrorCode::Update(UpdateSubcode::from_code(subcode)),
            4 => ErrorCode::HoldTimerExpired(HoldTimerSubcode::from_code(subcode)),
            5 => ErrorCode::Fsm(FsmSubcode::from_code(subcode)),
            6 => ErrorCode::Cease(CeaseSubcode::from_code(subcode)),
            7 => ErrorCode::RouteRefresh(RouteRefreshSubcode::from_code(subcode)),
            code => ErrorCode::Unknown { code, subcode },
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ErrorCode::MessageHeader(_) => "message header error",
            ErrorCode::Open(_) => "OPEN message error",
            ErrorCode::Update(_) => "UPDATE message error",
            ErrorCode::HoldTimerExpired(_) => "hold timer expired",
            ErrorCode::Fsm(_) => "FSM error",
            ErrorCode::Cease(_) => "cease",
            ErrorCode::RouteRefresh(_) => "ROUTE-REFRESH message error",
            ErrorCode::Unknown { .. } => "unknown error",
        };
        let sub = match self {
            ErrorCode::MessageHeader(s) => format!("{s:?}"),
            ErrorCode::Open(s) => format!("{s:?}"),
            ErrorCode::Update(s) => format!("{s:?}"),
            ErrorCode::HoldTimerExpired(s) => format!("{s:?}"),
            ErrorCode::Fsm(s) => format!("{s:?}"),
            ErrorCode::Cease(s) => format!("{s:?}"),
            ErrorCode::RouteRefresh(s) => format!("{s:?}"),
            ErrorCode::Unknown { subcode, .. } => format!("{subcode}"),
        };
        write!(f, "{}/{} ({name}: {sub})", self.code(), self.subcode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_pair_round_trips() {
        for c in 0..=255u8 {
            for s in 0..=255u8 {
                let e = ErrorCode::from_codes(c, s);
                assert_eq!((e.code(), e.subcode()), (c, s));
            }
        }
    }

    #[test]
    fn code_enums_round_trip() {
        for c in 0..=255u8 {
            assert_eq!(MessageType::from_code(c).code(), c);
            assert_eq!(CapabilityCode::from_code(c).code(), c);
            assert_eq!(AttrCode::from_code(c).code(), c);
        }
        assert_eq!(AttrCode::from_code(14), AttrCode::MpReachNlri);
        assert_eq!(CapabilityCode::from_code(65), CapabilityCode::FourOctetAs);
        assert_eq!(MessageType::from_code(6), MessageType::Unknown(6));
    }
}
