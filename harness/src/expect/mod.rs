//! The expected-FIB model: what every node's kernel FIB must hold, from the plan alone.
