//! The session I/O edge: the BGP listener, outbound connection attempts and one reader plus one
//! writer task per TCP connection. Tasks only move bytes; every decision is taken by the owner
//! loop in [`crate::daemon`] (see [`crate::messages`] for the task diagram).

pub mod connection;
pub mod dial;
pub mod listener;
