//! `fabric-speaker`: the bundled BGP-4 speaker.
//!
//! Pure cores: [`fsm`] (RFC 4271 §8 session state machine), [`rib`] (RIBs and decision process).
//! Edges: [`session`] (TCP), [`fib`] (kernel routes), control socket.

pub mod config;
pub mod fib;
pub mod fsm;
pub mod policy;
pub mod rib;
pub mod session;
