//! Locally originated routes: configured prefixes and Calico pod blocks.
//!
//! A confirmed /26 block is exported once as an aggregate and blackholed locally, so addresses
//! of the block without a local pod are dropped here instead of bouncing back to the fabric
//! (calico-designs.md §1.3, invariants 3 and 4). A borrowed /32 or a service CIDR is announced
//! without a kernel route of ours (the pod route exists already).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::rib::attrs::{Community, LargeCommunity, PathAttrs};

/// What the kernel gets for an originated prefix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalRouteKind {
    /// Announce only; no kernel route from us.
    #[default]
    Announce,
    /// Announce and install a blackhole route (pod blocks).
    Blackhole,
}

/// A prefix this speaker originates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalRoute {
    /// The prefix (truncated to its network on origination).
    pub prefix: IpNet,
    /// Kernel behaviour.
    #[serde(default)]
    pub kind: LocalRouteKind,
    /// Communities to attach.
    #[serde(default)]
    pub communities: Vec<Community>,
    /// Large communities to attach.
    #[serde(default)]
    pub large_communities: Vec<LargeCommunity>,
    /// MED to attach (sent to eBGP too: it is ours, RFC 4271 §5.1.4).
    #[serde(default)]
    pub med: Option<u32>,
}

impl LocalRoute {
    /// Announce `prefix` with no extra attributes.
    pub fn announce(prefix: IpNet) -> Self {
        LocalRoute {
            prefix: prefix.trunc(),
            kind: LocalRouteKind::Announce,
            communities: Vec::new(),
            large_communities: Vec::new(),
            med: None,
        }
    }

    /// Announce `prefix` and blackhole it locally (a pod block).
    pub fn blackhole(prefix: IpNet) -> Self {
        LocalRoute {
            kind: LocalRouteKind::Blackhole,
            ..Self::announce(prefix)
        }
    }

    /// The path attributes of this route: ORIGIN IGP, empty AS_PATH, next hop self.
    pub fn attrs(&self) -> PathAttrs {
        PathAttrs {
            communities: self.communities.clone(),
            large_communities: self.large_communities.clone(),
            med: self.med,
            ..PathAttrs::local()
        }
    }
}
