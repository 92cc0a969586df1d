//! The fabric after expanding either file form, before numbers are assigned: node list in plan
//! order, links by node index, pools as written. Both `compact.rs` and `explicit.rs` produce a
//! [`Draft`]; `resolve.rs` turns it into a [`super::Plan`].

use std::collections::{BTreeMap, HashMap};

use ipnet::Ipv4Net;

use super::error::{ErrorKind, Pos, Problem};
use super::plan::{Design, Role, SpeakerKind};
use super::speaker_selection::SpeakerSelection;

/// A value with the place it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct At<T> {
    pub v: T,
    pub pos: Pos,
}

impl<T> At<T> {
    pub(crate) fn new(v: T, pos: Pos) -> Self {
        At { v, pos }
    }
}

/// Upper bounds that keep a typo (`nodes: 4000000000`) from exhausting memory.
pub(crate) const MAX_NODES: usize = 20_000;
pub(crate) const MAX_PODS: usize = 200_000;

#[derive(Debug, Clone)]
pub(crate) struct DraftNode {
    pub name: String,
    pub role: Role,
    pub rack: Option<u32>,
    /// ASN written for this node (explicit node `asn`, override, external `asn`).
    pub asn: Option<At<u64>>,
    /// Speaker written for this node itself.
    pub speaker: Option<SpeakerKind>,
    pub labels: BTreeMap<String, String>,
    pub pods: u32,
    pub originates: Vec<Ipv4Net>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub(crate) struct DraftLink {
    pub a: usize,
    pub b: usize,
    pub mtu: u32,
    pub a_ifname: Option<At<String>>,
    pub b_ifname: Option<At<String>>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub(crate) struct DraftPool {
    pub name: String,
    pub cidr: Ipv4Net,
    pub rack: u32,
    pub block_len: Option<At<u8>>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub name: String,
    pub design: Design,
    pub nodes: Vec<DraftNode>,
    pub links: Vec<DraftLink>,
    /// Explicit pools; `None` means one default pool per rack.
    pub pools: Option<Vec<DraftPool>>,
    /// Per-rack AS written in the compact form (`racks[i].asn`).
    pub rack_asn: BTreeMap<u32, At<u64>>,
    /// The file's `speaker` / `speakers` keys.
    pub speakers: SpeakerSelection,
    pub max_paths: u8,
}

/// Node names become namespace names and may be used in interface names: keep them short and
/// shell-safe.
pub(crate) fn check_name(name: &str, pos: &Pos) -> Result<(), Problem> {
    let bad = |reason: &str| {
        pos.err(ErrorKind::InvalidName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() > 15 {
        return Err(bad("longer than 15 bytes"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(bad("only letters, digits, `-` and `_` are allowed"));
    }
    if !name
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric())
    {
        return Err(bad("must start with a letter or digit"));
    }
    Ok(())
}

/// Index nodes by name, rejecting duplicates at the second occurrence.
pub(crate) fn index_names(nodes: &[DraftNode]) -> Result<HashMap<String, usize>, Problem> {
    let mut index = HashMap::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        if index.insert(n.name.clone(), i).is_some() {
            return Err(n.pos.err(ErrorKind::DuplicateNode(n.name.clone())));
        }
    }
    Ok(index)
}

/// Plan order: spines, then per rack ToRs, RRs, nodes, then external peers; stable inside
/// each group so the file's order survives.
pub(crate) fn plan_order_key(n: &DraftNode) -> (u8, u32, u8) {
    match n.role {
        Role::Spine => (0, 0, 0),
        Role::Tor => (1, n.rack.unwrap_or(0), 0),
        Role::RouteReflector => (1, n.rack.unwrap_or(0), 1),
        Role::Node => (1, n.rack.unwrap_or(0), 2),
        Role::External => (2, 0, 0),
    }
}
