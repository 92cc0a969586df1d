//! `fabric-speaker`: the bundled BGP-4 speaker.
//!
//! Pure cores: [`fsm`] (RFC 4271 §8 session state machine), [`rib`] (RIBs and decision process),
//! [`gr`] (graceful restart roles).
//! Edges: [`session`] (TCP), [`fib`] (kernel routes), [`control`] (JSON-lines Unix socket).
//! Owner: [`daemon`], the single loop that mutates state; [`messages`] are its typed inputs.
//! Configuration: [`config`].

pub mod config;
pub mod control;
pub mod daemon;
pub mod fib;
pub mod fsm;
pub mod gr;
pub mod messages;
pub mod policy;
pub mod rib;
pub mod session;
