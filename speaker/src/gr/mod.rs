//! Graceful restart (RFC 4724), with the notification extension (RFC 8538) and long-lived
//! graceful restart (RFC 9494): the two roles as plain state machines, time as an input.
//!
//! - [`helper`]: what we do for a peer that restarts (retain its routes as stale, the restart,
//!   stale-path and long-lived timers, flush on End-of-RIB).
//! - [`restarting`]: what we do when we restart (keep our kernel routes, R/F bits, defer
//!   selection until the peers' End-of-RIB, then sweep and send ours).

pub mod helper;
pub mod restarting;
