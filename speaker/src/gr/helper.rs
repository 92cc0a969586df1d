//! Helper role of graceful restart (RFC 4724 §4.2): being written.
