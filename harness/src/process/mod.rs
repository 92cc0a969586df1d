//! Process supervision: daemons inside node namespaces, logs, readiness, stop and restart.
