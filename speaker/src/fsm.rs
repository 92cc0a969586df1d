//! The BGP finite state machine (RFC 4271 §8), as plain data and pure transitions.
