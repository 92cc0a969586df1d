//! An in-memory [`Fib`]: the RIB-to-FIB path tested without root, and a dry-run mode.

use std::collections::BTreeMap;
use std::future::Future;

use ipnet::IpNet;

use crate::fib::api::{ApplyReport, Fib, FibError};
use crate::rib::{FibChange, FibRoute};

/// Routes kept in a map, as the kernel would hold them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryFib {
    /// Installed routes.
    pub routes: BTreeMap<IpNet, FibRoute>,
    /// Number of changes applied so far.
    pub changes_applied: usize,
}

impl MemoryFib {
    /// Empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply changes synchronously.
    pub fn apply_now(&mut self, changes: Vec<FibChange>) -> ApplyReport {
        let applied = changes.len();
        for c in changes {
            match c {
                FibChange::Replace { prefix, route } => {
                    self.routes.insert(prefix, route);
                }
                FibChange::Delete { prefix } => {
                    self.routes.remove(&prefix);
                }
            }
        }
        self.changes_applied += applied;
        ApplyReport {
            applied,
            failed: Vec::new(),
        }
    }
}

impl Fib for MemoryFib {
    fn apply(&mut self, changes: Vec<FibChange>) -> impl Future<Output = ApplyReport> + Send {
        let report = self.apply_now(changes);
        std::future::ready(report)
    }

    fn purge_stale(&mut self) -> impl Future<Output = Result<Vec<IpNet>, FibError>> + Send {
        let removed: Vec<IpNet> = std::mem::take(&mut self.routes).into_keys().collect();
        std::future::ready(Ok(removed))
    }
}
