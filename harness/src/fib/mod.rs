//! Kernel FIBs: the route types shared by the expected-FIB model, the netlink reader and the
//! checks ([`entry`]), and the reader itself ([`reader`], an I/O edge that needs a netlink
//! handle opened inside the node's namespace).

pub mod entry;
pub mod reader;

#[cfg(test)]
mod root_tests;

pub use entry::{FamilyFilter, FibRoute, FibSummary, NextHop, NodeFib, RouteKind, RouteProto};
