//! Route tables: Adj-RIB-In, Loc-RIB, Adj-RIB-Out and the decision process. Pure: no I/O, no
//! clock (time is passed in), no threads.
//!
//! Entry point: [`Rib`] (in `engine.rs`). Module map:
//!
//! * `attrs` — path attributes and their interner ([`AttrStore`]);
//! * `peer` — per-neighbour configuration and session facts;
//! * `adj_in` — import: sanitising, loop detection, import policy;
//! * `loc` — destinations and their paths (Adj-RIB-In and Loc-RIB in one structure);
//! * `decision` — [`compare`] with a [`Reason`] per step, [`select`] with ECMP;
//! * `nexthop` — next-hop resolution ([`NextHopResolver`], [`ConnectedRoutes`]);
//! * `export` — propagation rules (eBGP/iBGP, route reflection, next-hop-self, policies);
//! * `adj_out` — per-peer advertised state and queue;
//! * `update_builder` — grouping into updates, MRAI, End-of-RIB;
//! * `origin` — locally originated routes and pod blocks;
//! * `fib_change` — the kernel routes the RIB wants;
//! * `convert` — to and from the wire crate's `Update` and `PathAttributes`;
//! * `route_engine` — the RIB behind the daemon's `RouteEngine` seam.

mod adj_in;
mod adj_out;
pub mod attrs;
pub mod convert;
pub mod decision;
mod engine;
mod export;
pub mod fib_change;
mod loc;
pub mod nexthop;
pub mod origin;
pub mod peer;
mod prefix_map;
pub mod route_engine;
pub mod update_builder;

#[cfg(test)]
mod tests;

pub use attrs::{
    Aggregator, AsPath, AsSegment, AttrStore, ClusterId, Community, ExtendedCommunity,
    LargeCommunity, Origin, PathAttrs, SegmentKind, UnknownAttr,
};
pub use decision::{
    compare, select, Candidate, CandidateSource, MultipathConfig, Reason, Rejection,
};
pub use engine::{
    family_of, PathReport, PathStatus, PeerUpdates, Rib, RibConfig, RibError, RibOutput, RibStats,
    RoutePath, RouteUpdate, RouteView,
};
pub use fib_change::{FibChange, FibNextHop, FibRoute};
pub use nexthop::{ConnectedEntry, ConnectedRoutes, DirectRoute, FnResolver, NextHopResolver};
pub use origin::{LocalRoute, LocalRouteKind};
pub use peer::{NextHopSelf, PeerConfig, PeerId, PeerInfo, PeerKind, PeerSession, RouteSource};
pub use update_builder::OutUpdate;
