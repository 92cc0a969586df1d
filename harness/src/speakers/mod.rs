//! One adapter per speaker kind: config rendering, start, readiness, queries.
