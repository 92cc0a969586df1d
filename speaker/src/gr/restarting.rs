//! Restarting-speaker role of graceful restart (RFC 4724 §4.1): being written.
