//! What the RIB wants in the kernel: one route per Loc-RIB destination, derived from the ECMP
//! set (or a blackhole for an originated block). Pure data, applied by [`crate::fib`].

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Serialize, Serializer};

/// One resolved next hop of a kernel route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FibNextHop {
    /// Gateway on a connected network (a recursive BGP next hop is already resolved to it).
    pub gateway: IpAddr,
    /// Outgoing interface, when known.
    pub ifindex: Option<u32>,
}

/// A kernel route for one prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FibRoute {
    /// Forward via these gateways: one is a plain route, several a multipath (ECMP) route.
    /// Sorted, no duplicates, never empty. Shared: the RIB hands out one allocation per
    /// distinct set, so a million routes over the same two spines cost two sets, not a million.
    Unicast(#[serde(serialize_with = "serialize_hops")] Arc<[FibNextHop]>),
    /// Drop (an originated pod block: addresses of the block not assigned to a local pod must
    /// not be forwarded back to the fabric; calico-designs.md §1.3).
    Blackhole,
}

impl FibRoute {
    /// A unicast route over `hops` (not shared; the RIB interns its own).
    pub fn unicast(hops: Vec<FibNextHop>) -> Self {
        FibRoute::Unicast(hops.into())
    }
}

fn serialize_hops<S: Serializer>(hops: &Arc<[FibNextHop]>, s: S) -> Result<S::Ok, S::Error> {
    hops.as_ref().serialize(s)
}

/// A change to apply to the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FibChange {
    /// Install or replace (NLM_F_REPLACE) the route for `prefix`.
    Replace {
        /// Destination.
        prefix: IpNet,
        /// Route.
        route: FibRoute,
    },
    /// Remove our route for `prefix` (absent is fine).
    Delete {
        /// Destination.
        prefix: IpNet,
    },
}

impl FibChange {
    /// The destination this change is about.
    pub fn prefix(&self) -> &IpNet {
        match self {
            FibChange::Replace { prefix, .. } | FibChange::Delete { prefix } => prefix,
        }
    }
}
