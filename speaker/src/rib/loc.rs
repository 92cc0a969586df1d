//! Loc-RIB storage: one [`Dest`] per prefix holding every path received for it.
//!
//! Storage layout (as BIRD's one-table-of-routes design): the paths a destination holds *are* the
//! post-import Adj-RIBs-In of all peers for that prefix; the Loc-RIB is the selected prefix of
//! that list (`paths[..selected]`, best first). One copy of each path, one `Arc` per path, so a
//! route costs one map entry plus one 16-byte path.

use std::ops::Deref;
use std::sync::Arc;

use ipnet::IpNet;

use crate::rib::attrs::PathAttrs;
use crate::rib::decision::Rejection;
use crate::rib::peer::{PeerId, RouteSource};
use crate::rib::prefix_map::PrefixMap;

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
    /// Graceful-restart staleness (RFC 4724 §4.2, RFC 9494 §4.2).
    pub stale: Staleness,
}

/// Whether a received path is kept only because its peer is restarting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Staleness {
    /// Learned on the current session (or local).
    #[default]
    Fresh,
    /// Kept across a session loss, waiting for the peer (RFC 4724 §4.2).
    Stale,
    /// Kept past the restart time with LLGR_STALE attached (RFC 9494 §4.2).
    LongLived,
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

/// The paths of a destination. Most destinations have exactly one path, kept inline so that a
/// route costs no heap allocation besides its map entry.
#[derive(Debug, Default)]
pub(crate) enum Paths {
    /// No path.
    #[default]
    Empty,
    /// One path, inline.
    One(Path),
    /// Several paths.
    Many(Vec<Path>),
}

impl Deref for Paths {
    type Target = [Path];
    fn deref(&self) -> &[Path] {
        match self {
            Paths::Empty => &[],
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(v) => v,
        }
    }
}

impl Paths {
    fn as_mut_slice(&mut self) -> &mut [Path] {
        match self {
            Paths::Empty => &mut [],
            Paths::One(p) => std::slice::from_mut(p),
            Paths::Many(v) => v,
        }
    }

    fn from_vec(mut v: Vec<Path>) -> Self {
        match v.len() {
            0 => Paths::Empty,
            1 => v.pop().map(Paths::One).unwrap_or_default(),
            _ => Paths::Many(v),
        }
    }

    fn into_vec(self) -> Vec<Path> {
        match self {
            Paths::Empty => Vec::new(),
            Paths::One(p) => vec![p],
            Paths::Many(v) => v,
        }
    }

    fn push(&mut self, p: Path) {
        *self = match std::mem::take(self) {
            Paths::Empty => Paths::One(p),
            Paths::One(q) => Paths::Many(vec![q, p]),
            Paths::Many(mut v) => {
                v.push(p);
                Paths::Many(v)
            }
        };
    }
}

/// All paths to one prefix and which of them are selected.
#[derive(Debug, Default)]
pub(crate) struct Dest {
    /// Selected paths first (best, then ECMP members), then the others ordered by source.
    pub paths: Paths,
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
        match self
            .paths
            .as_mut_slice()
            .iter_mut()
            .find(|p| p.src == path.src)
        {
            Some(slot) => *slot = path,
            None => self.paths.push(path),
        }
        self.selected = 0;
    }

    /// Sets the staleness of the path from `src` in place (selection unchanged). Returns
    /// whether there was one.
    pub fn set_stale(&mut self, src: u32, stale: Staleness) -> bool {
        match self.paths.as_mut_slice().iter_mut().find(|p| p.src == src) {
            Some(p) => {
                p.stale = stale;
                true
            }
            None => false,
        }
    }

    /// Remove the path from `src`. Returns whether there was one. Selection must be redone.
    pub fn remove(&mut self, src: u32) -> bool {
        let before = self.paths.len();
        let mut v = std::mem::take(&mut self.paths).into_vec();
        v.retain(|p| p.src != src);
        self.paths = Paths::from_vec(v);
        let removed = self.paths.len() != before;
        if removed {
            self.selected = 0;
        }
        removed
    }

    /// Reorder paths so that `order` (indices, best first) comes first, the rest by source.
    pub fn apply_selection(&mut self, order: &[usize]) {
        if order.is_empty() {
            self.paths.as_mut_slice().sort_by_key(|p| p.src);
            self.selected = 0;
            return;
        }
        if let Paths::One(_) = self.paths {
            // A single eligible path: nothing to reorder.
            self.selected = 1;
            return;
        }
        let mut taken: Vec<Option<Path>> = std::mem::take(&mut self.paths)
            .into_vec()
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
        self.paths = Paths::from_vec(out);
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
    pub routes: PrefixMap<Dest>,
}

impl Table {
    /// Longest-prefix match for `addr` among destinations that have a best path, excluding
    /// `exclude` and the default route (next hops are not resolved via a default, as FRR's
    /// `ip nht resolve-via-default` off).
    pub fn longest_match(&self, addr: std::net::IpAddr, exclude: &IpNet) -> Option<(IpNet, &Dest)> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (1..=max).rev().find_map(|len| {
            let net = IpNet::new(addr, len).ok()?.trunc();
            if &net == exclude {
                return None;
            }
            self.routes
                .get(&net)
                .filter(|d| d.best().is_some())
                .map(|d| (net, d))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(src: u32) -> Path {
        Path {
            src,
            rejection: None,
            attrs: Arc::new(PathAttrs::local()),
            stale: Staleness::Fresh,
        }
    }

    #[test]
    fn a_route_costs_one_small_map_value() {
        // Memory per route: the single-path case must not need a heap allocation, and the map
        // value must stay small.
        assert!(
            std::mem::size_of::<Dest>() <= 32,
            "{}",
            std::mem::size_of::<Dest>()
        );
        assert!(std::mem::size_of::<Path>() <= 16);
    }

    #[test]
    fn paths_grow_shrink_and_reorder() {
        let mut d = Dest::default();
        d.upsert(path(3));
        assert!(matches!(d.paths, Paths::One(_)));
        d.upsert(path(1));
        d.upsert(path(2));
        d.upsert(path(1));
        assert_eq!(
            d.paths.iter().map(|p| p.src).collect::<Vec<_>>(),
            vec![3, 1, 2]
        );
        d.apply_selection(&[2, 0]);
        assert_eq!(
            d.paths.iter().map(|p| p.src).collect::<Vec<_>>(),
            vec![2, 3, 1]
        );
        assert_eq!(d.selected().len(), 2);
        assert_eq!(d.best().map(|p| p.src), Some(2));
        assert!(d.remove(3));
        assert!(!d.remove(3));
        assert!(
            d.best().is_none(),
            "selection must be redone after a change"
        );
        assert!(d.remove(2));
        assert!(matches!(d.paths, Paths::One(_)));
        assert!(d.remove(1));
        assert!(d.paths.is_empty());
    }
}
