//! The session I/O edge: TCP connections, listener, per-peer tasks.
