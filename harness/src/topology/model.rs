//! The topology file as written: the serde schema, nothing resolved. Every struct denies unknown
//! keys, and values whose later checks need a place are `Spanned` so errors can name the line.
//! `topologies/README.md` documents this schema; keep the two in step.

use std::collections::BTreeMap;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::plan::{Design, Role, SpeakerKind};

/// A whole topology file, compact form (`spines` + `racks`) or explicit form (`nodes` + `links`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct TopologyFile {
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub design: Option<Spanned<Design>>,

    // ----- compact form -----
    #[serde(default)]
    pub spines: Option<Spanned<u32>>,
    #[serde(default)]
    pub racks: Option<Spanned<Vec<Spanned<RackSpec>>>>,
    #[serde(default)]
    pub route_reflectors: Option<Spanned<RrMode>>,
    #[serde(default)]
    pub overrides: BTreeMap<String, Spanned<NodeOverride>>,
    #[serde(default)]
    pub externals: Vec<Spanned<ExternalSpec>>,

    // ----- explicit form -----
    #[serde(default)]
    pub nodes: Option<Spanned<Vec<Spanned<NodeSpec>>>>,
    #[serde(default)]
    pub links: Option<Spanned<Vec<Spanned<LinkSpec>>>>,

    // ----- both forms -----
    #[serde(default)]
    pub pods_per_node: Option<Spanned<u32>>,
    #[serde(default)]
    pub speaker: Option<SpeakerKind>,
    #[serde(default)]
    pub speakers: Option<RoleSpeakers>,
    #[serde(default)]
    pub as_plan: Option<AsPlanSpec>,
    #[serde(default)]
    pub addressing: Option<AddressingSpec>,
    #[serde(default)]
    pub pools: Option<Vec<Spanned<PoolSpec>>>,
    #[serde(default)]
    pub mtu: Option<Spanned<u32>>,
    #[serde(default)]
    pub max_paths: Option<Spanned<u8>>,
}

/// Who reflects routes inside an AS-per-rack rack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RrMode {
    /// The rack's ToRs reflect (nodes are their clients).
    Tor,
    /// Dedicated route-reflector nodes `r{rack}rr{i}` reflect.
    Nodes,
}

/// One rack of the compact form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RackSpec {
    #[serde(default)]
    pub tors: Option<Spanned<u32>>,
    pub nodes: Spanned<u32>,
    /// Route-reflector nodes (only with `route-reflectors: nodes`; default 1 then).
    #[serde(default)]
    pub rrs: Option<Spanned<u32>>,
    #[serde(default)]
    pub pods_per_node: Option<Spanned<u32>>,
    /// The rack AS (AS per rack only).
    #[serde(default)]
    pub asn: Option<Spanned<u64>>,
}

/// Per-node changes in the compact form, keyed by node name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct NodeOverride {
    #[serde(default)]
    pub asn: Option<Spanned<u64>>,
    #[serde(default)]
    pub speaker: Option<SpeakerKind>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub pods: Option<Spanned<u32>>,
}

/// An external BGP peer of the compact form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ExternalSpec {
    pub name: Spanned<String>,
    #[serde(default)]
    pub asn: Option<Spanned<u64>>,
    /// Spines it links to; all spines when absent.
    #[serde(default)]
    pub attach: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub originates: Vec<Spanned<Ipv4Net>>,
    #[serde(default)]
    pub speaker: Option<SpeakerKind>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A node of the explicit form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct NodeSpec {
    pub name: Spanned<String>,
    pub role: Spanned<Role>,
    #[serde(default)]
    pub rack: Option<Spanned<u32>>,
    #[serde(default)]
    pub asn: Option<Spanned<u64>>,
    #[serde(default)]
    pub speaker: Option<SpeakerKind>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub pods: Option<Spanned<u32>>,
    #[serde(default)]
    pub originates: Vec<Spanned<Ipv4Net>>,
}

/// A link of the explicit form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct LinkSpec {
    pub a: Spanned<String>,
    pub b: Spanned<String>,
    #[serde(default)]
    pub mtu: Option<Spanned<u32>>,
    #[serde(default)]
    pub a_ifname: Option<Spanned<String>>,
    #[serde(default)]
    pub b_ifname: Option<Spanned<String>>,
}

/// Speaker per role.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RoleSpeakers {
    #[serde(default)]
    pub spine: Option<SpeakerKind>,
    #[serde(default)]
    pub tor: Option<SpeakerKind>,
    #[serde(default)]
    pub node: Option<SpeakerKind>,
    #[serde(default, alias = "rr")]
    pub route_reflector: Option<SpeakerKind>,
    #[serde(default)]
    pub external: Option<SpeakerKind>,
}

/// Spines in one AS or one AS each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum SpineAs {
    PerSpine,
    Shared,
}

/// AS numbering; which keys matter depends on the design (others are ignored so that
/// `--design` can re-run any file under another design).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct AsPlanSpec {
    #[serde(default)]
    pub spine: Option<SpineAs>,
    #[serde(default)]
    pub spine_asn: Option<Spanned<u64>>,
    #[serde(default)]
    pub rack_asn: Option<Spanned<u64>>,
    #[serde(default)]
    pub tor_asn: Option<Spanned<u64>>,
    #[serde(default)]
    pub node_asn: Option<Spanned<u64>>,
    #[serde(default)]
    pub external_asn: Option<Spanned<u64>>,
}

/// Address ranges.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct AddressingSpec {
    #[serde(default, alias = "loopbacks")]
    pub loopbacks_v4: Option<Spanned<Ipv4Net>>,
    #[serde(default)]
    pub loopbacks_v6: Option<Spanned<Ipv6Net>>,
    #[serde(default)]
    pub links_v4: Option<Spanned<Ipv4Net>>,
    #[serde(default)]
    pub links_v6: Option<Spanned<Ipv6Net>>,
    #[serde(default, alias = "pods")]
    pub pods_v4: Option<Spanned<Ipv4Net>>,
    #[serde(default)]
    pub pods_v6: Option<Spanned<Ipv6Net>>,
    /// Prefix length of each rack's default pool.
    #[serde(default)]
    pub rack_pool_size: Option<Spanned<u8>>,
    /// Calico `blockSize` (a prefix length).
    #[serde(default)]
    pub block_size: Option<Spanned<u8>>,
}

/// An explicit IP pool (Calico IPPool with `nodeSelector: rack == "<rack>"`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PoolSpec {
    #[serde(default)]
    pub name: Option<String>,
    pub cidr: Spanned<Ipv4Net>,
    pub rack: Spanned<u32>,
    #[serde(default)]
    pub block_size: Option<Spanned<u8>>,
}
