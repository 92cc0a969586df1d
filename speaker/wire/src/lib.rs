//! `fabric-bgp-wire`: the BGP-4 wire format as pure data, with no I/O and no async runtime.
//!
//! Used by the bundled speaker (sessions), and by the harness (decoding captures, crafting
//! deliberately malformed messages for the conformance suite).
//!
//! # Contract
//!
//! - **Framing.** [`frame_len`] tells a stream reader how long the next message is (checking the
//!   marker and the 19..=4096 length); [`Message::decode`] takes exactly one framed message.
//! - **Decoding never panics** on any input. A failure is protocol data: [`DecodeError`] carries
//!   the NOTIFICATION code/subcode/data and the RFC 7606 [`ErrorAction`]. UPDATEs may decode with
//!   non-fatal errors: see [`update`] for the contract and the RFC 7606 table.
//! - **Encoding depends on the session**: [`CodecContext`] (built by [`negotiate`] from both
//!   OPENs' capabilities) selects 2- or 4-octet AS numbers, ADD-PATH path ids, iBGP/eBGP rules and
//!   the maximum message size. Encoding appends to a caller's `Vec<u8>` so it can be reused.
//! - **Round trip.** For every typed value `decode(encode(x)) == x`; for bytes in canonical form
//!   (attributes ascending by type code after MP_REACH/MP_UNREACH, shortest length encoding,
//!   capabilities in one optional parameter) `encode(decode(b)) == b`.
//! - **Raw layer.** [`raw`] builds arbitrary (also invalid) messages for conformance tests.
//!
//! # Example: one session's receive and send paths
//!
//! ```
//! use fabric_bgp_wire::{frame_len, negotiate, Asn, Capability, Message, Open, RouterId, Update};
//! use fabric_bgp_wire::{AfiSafi, ErrorAction};
//!
//! let local = Open::new(Asn(65001), 90, RouterId([10, 0, 0, 1].into()), vec![
//!     Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
//!     Capability::FourOctetAs(Asn(65001)),
//! ]);
//! let remote = Open::new(Asn(65002), 90, RouterId([10, 0, 0, 2].into()), vec![
//!     Capability::FourOctetAs(Asn(65002)),
//!     Capability::RouteRefresh,
//! ]);
//! remote.validate(Some(Asn(65002))).expect("acceptable OPEN");
//! let ctx = negotiate(&local.capabilities, &remote.capabilities, false);
//!
//! // Send: encode into a reused buffer.
//! let mut out = Vec::new();
//! Message::Update(Update::end_of_rib(AfiSafi::IPV4_UNICAST)).encode_into(&ctx, &mut out)?;
//!
//! // Receive: frame, then decode; an Err is the NOTIFICATION to send before closing.
//! let len = frame_len(&out)?.expect("a whole message is buffered");
//! match Message::decode(&out[..len], &ctx) {
//!     Ok(Message::Update(u)) => assert_eq!(u.is_end_of_rib(), Some(AfiSafi::IPV4_UNICAST)),
//!     Ok(other) => panic!("unexpected {other:?}"),
//!     Err(e) => {
//!         assert_eq!(e.action, ErrorAction::SessionReset);
//!         let _notification = e.to_notification();
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # RFCs implemented
//!
//! - RFC 4271 BGP-4: header, OPEN, UPDATE, NOTIFICATION, KEEPALIVE, §6 error handling.
//! - RFC 5492 capabilities; RFC 9072 extended optional parameters (decode only).
//! - RFC 4760 multiprotocol (IPv4/IPv6 unicast and multicast NLRI; others kept raw); RFC 2545
//!   IPv6 next hops (global, global + link-local); RFC 8950 extended next hop.
//! - RFC 6793 4-octet AS: capability 65, AS_TRANS, AS4_PATH/AS4_AGGREGATOR encode and merge.
//! - RFC 7606 revised UPDATE error handling.
//! - RFC 2918 route refresh; RFC 7313 enhanced route refresh (BoRR/EoRR, 7/1 length error).
//! - RFC 4724 graceful restart capability and End-of-RIB; RFC 8538 N bit; RFC 9494 long-lived
//!   GR capability.
//! - RFC 7911 ADD-PATH capability and path identifiers.
//! - RFC 1997 communities, RFC 4360 extended communities, RFC 8092 large communities,
//!   RFC 4456 ORIGINATOR_ID/CLUSTER_LIST, RFC 5065 confederation segments.
//! - RFC 8203/9003 shutdown communication; RFC 4486/8538/9384 Cease subcodes; RFC 6608 FSM
//!   subcodes.
//! - RFC 8654 extended messages (capability and 65535-octet limit when negotiated).
//! - draft-walton-bgp-hostname-capability (FQDN, code 73).

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod aspath;
pub mod attribute;
mod buf;
pub mod capability;
pub mod codec;
pub mod codes;
pub mod error;
pub mod header;
pub mod nlri;
pub mod notification;
pub mod open;
pub mod raw;
pub mod route_refresh;
mod split;
pub mod types;
pub mod update;

pub use aspath::{AsPath, Segment, SegmentType};
pub use attribute::{
    Aggregator, Community, ExtendedCommunity, LargeCommunity, MpNextHop, MpNlri, MpReach,
    MpUnreach, Origin, PathAttributes, UnknownAttribute,
};
pub use capability::{
    AddPathFamily, AddPathMode, Capability, ExtendedNextHop, GrFamily, GracefulRestart, LlgrFamily,
};
pub use codec::{negotiate, CodecContext, Message};
pub use codes::{
    AttrCode, CapabilityCode, CeaseSubcode, ErrorCode, FsmSubcode, HeaderSubcode, HoldTimerSubcode,
    MessageType, OpenSubcode, RouteRefreshSubcode, UpdateSubcode,
};
pub use error::{DecodeError, EncodeError, ErrorAction};
pub use header::{frame_len, frame_len_max};
pub use nlri::{Ipv4Nlri, Ipv6Nlri, Nlri};
pub use notification::Notification;
pub use open::Open;
pub use raw::{RawAttribute, RawMessage, RawUpdate};
pub use route_refresh::{RouteRefresh, RouteRefreshSubtype};
pub use types::{Afi, AfiSafi, Asn, RouterId, Safi};
pub use update::{DecodedUpdate, Update};
