//! Loc-RIB storage: one [`Dest`] per prefix holding every path received for it.
//!
//! Storage layout (as BIRD's one-table-of-routes design): the paths a destination holds *are* the
//! post-import Adj-RIBs-In of all peers for that prefix; the Loc-RIB is the selected prefix of
//! that list (`paths[..selected]`, best first). One copy of each path, one `Arc` per path, so a
//! route costs one map entry plus one 16-byte path.

use std::collections::BTreeMap;
use std::sync::Arc;

use ipnet::IpNet;

use crate::rib::attrs::PathAttrs;
use crate::rib::decision::Rejection;
use crate::rib::peer::{PeerId, RouteSource};

/// Source id of locally originated paths inside a [`Path`] (peer ids are indices below this).
pub(crate) const LOCAL_SRC: u32 = u32::MAX;

/// One path to a destination.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    /// Peer index, or [`LOCAL_SRC`].
    pub src: u32,
    /// Why import excluded it from the decision, if it did.
    pub rejection: Option<Rejection>,
    /// Attributes after import policy (interned).
    pub attrs: Arc<PathAttrs>,
}

impl Path {
    /// Public form of `src`.
    pub fn source(&self) -> RouteSource {
        if self.src == LOCAL_SRC {
            RouteSource::Local
        } else {
            RouteSource::Peer(PeerId(self.src))
        }
    }
}

/// Identity of a selection (sources and attribute sets of the ECMP set, best first), used to
/// tell whether a change must reach peers or the FIB. Holds `Arc`s so allocations cannot be
/// reused while a key is alive.
#[derive(Debug, Clone)]
pub(crate) enum SelectionKey {
    /// Nothing selected.
    Empty,
    /// Only a best path.
    One(u32, Arc<PathAttrs>),
    /// Best path and other ECMP members.
    Many(Vec<(u32, Arc<PathAttrs>)>),
}

impl SelectionKey {
    /// The best path's source and attributes.
    pub fn best(&self) -> Option<(u32, &Arc<PathAttrs>)> {
        match self {
            SelectionKey::Empty => None,
            SelectionKey::One(s, a) => Some((*s, a)),
            SelectionKey::Many(v) => v.first().map(|(s, a)| (*s, a)),
        }
    }

    /// Whether the best path (source and attributes) is the same in both.
    pub fn same_best(&self, other: &SelectionKey) -> bool {
        match (self.best(), other.best()) {
            (None, None) => true,
            (Some((s1, a1)), Some((s2, a2))) => s1 == s2 && Arc::ptr_eq(a1, a2),
            _ => false,
        }
    }

    fn entries(&self) -> &[(u32, Arc<PathAttrs>)] {
        match self {
            SelectionKey::Empty => &[],
            SelectionKey::One(..) => &[],
            SelectionKey::Many(v) => v,
        }
    }
}

impl PartialEq for SelectionKey {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (SelectionKey::Empty, SelectionKey::Empty) => true,
            (SelectionKey::One(s1, a1), SelectionKey::One(s2, a2)) => {
                s1 == s2 && Arc::ptr_eq(a1, a2)
            }
            (SelectionKey::Many(_), SelectionKey::Many(_)) => {
                let (x, y) = (self.entries(), other.entries());
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((s1, a1), (s2, a2))| s1 == s2 && Arc::ptr_eq(a1, a2))
            }
            _ => false,
        }
    }
}

/// All paths to one prefix and which of them are selected.
#[derive(Debug, Default)]
pub(crate) struct Dest {
    /// Selected paths first (best, then ECMP members), then the others ordered by source.
    pub paths: Vec<Path>,
    /// Number of selected paths: 0 = unreachable, 1 = best only, more = ECMP.
    pub selected: u8,
}

impl Dest {
    /// The best path.
    pub fn best(&self) -> Option<&Path> {
        if self.selected == 0 {
            None
        } else {
            self.paths.first()
        }
    }

    /// The ECMP set, best first.
    pub fn selected(&self) -> &[Path] {
        let n = usize::from(self.selected).min(self.paths.len());
        self.paths.get(..n).unwrap_or(&[])
    }

    /// The path from `src`, if any.
    pub fn path_from(&self, src: u32) -> Option<&Path> {
        self.paths.iter().find(|p| p.src == src)
    }

    /// Add or replace the path from `path.src`. Selection must be redone afterwards.
    pub fn upsert(&mut self, path: Path) {
        match self.paths.iter_mut().find(|p| p.src == path.src) {
            Some(slot) => *slot = path,
            None => self.paths.push(path),
        }
        self.selected = 0;
    }

    /// Remove the path from `src`. Returns whether there was one. Selection must be redone.
    pub fn remove(&mut self, src: u32) -> bool {
        let before = self.paths.len();
        self.paths.retain(|p| p.src != src);
        let removed = self.paths.len() != before;
        if removed {
            self.selected = 0;
        }
        removed
    }

    /// Reorder paths so that `order` (indices, best first) comes first, the rest by source.
    pub fn apply_selection(&mut self, order: &[usize]) {
        let n = order.len();
        if n == 0 {
            self.paths.sort_by_key(|p| p.src);
            self.selected = 0;
            return;
        }
        let mut taken: Vec<Option<Path>> = std::mem::take(&mut self.paths)
            .into_iter()
            .map(Some)
            .collect();
        let mut out = Vec::with_capacity(taken.len());
        for &i in order {
            if let Some(p) = taken.get_mut(i).and_then(Option::take) {
                out.push(p);
            }
        }
        let mut rest: Vec<Path> = taken.into_iter().flatten().collect();
        rest.sort_by_key(|p| p.src);
        let selected = out.len();
        out.extend(rest);
        self.paths = out;
        self.selected = u8::try_from(selected).unwrap_or(u8::MAX);
    }

    /// The selection's identity.
    pub fn selection_key(&self) -> SelectionKey {
        match self.selected() {
            [] => SelectionKey::Empty,
            [p] => SelectionKey::One(p.src, Arc::clone(&p.attrs)),
            many => {
                SelectionKey::Many(many.iter().map(|p| (p.src, Arc::clone(&p.attrs))).collect())
            }
        }
    }
}

/// One address family's table.
#[derive(Debug, Default)]
pub(crate) struct Table {
    /// Destinations by prefix (ordered, so dumps and tests are deterministic).
    pub routes: BTreeMap<IpNet, Dest>,
}

impl Table {
    /// Longest-prefix match for `addr` among destinations that have a best path, excluding
    /// `exclude` and the default route (next hops are not resolved via a default, as FRR's
    /// `ip nht resolve-via-default` off).
    pub fn longest_match(
        &self,
        addr: std::net::IpAddr,
        exclude: &IpNet,
    ) -> Option<(&IpNet, &Dest)> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (1..=max).rev().find_map(|len| {
            let net = IpNet::new(addr, len).ok()?.trunc();
            if &net == exclude {
                return None;
            }
            self.routes
                .get_key_value(&net)
                .filter(|(_, d)| d.best().is_some())
        })
    }
}
