//! Errors of the lab: each says what failed and on which lab, node, link or path.

use std::io;
use std::path::PathBuf;

use crate::topology::{LinkId, NodeId};

/// Everything that can go wrong building, using or tearing down a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN; in practice, root.
    #[error(
        "this needs root (labs are network namespaces and veths), but euid is {euid}: run it as \
         root, e.g. `sudo fabriclab ...`, or in a container with CAP_SYS_ADMIN and CAP_NET_ADMIN"
    )]
    NotRoot { euid: u32 },
    /// The host lacks something the lab needs (a kernel feature, a mount, a directory).
    #[error("environment: {what}; fix: {fix}")]
    Environment { what: String, fix: String },
    /// A lab name must be usable as a directory and namespace name component.
    #[error("invalid lab name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    /// A lab of that name already exists.
    #[error("lab {name:?} already exists ({status}); remove it with `fabriclab down {name}`")]
    Exists { name: String, status: String },
    /// No lab of that name.
    #[error("no lab named {name:?} (list labs with `fabriclab ls`)")]
    NotFound { name: String },
    /// The node (or pod) is not part of the lab.
    #[error("lab {lab}: no node or pod named {node}")]
    UnknownNode { lab: String, node: NodeId },
    /// The link is not part of the lab.
    #[error("lab {lab}: no link {link}")]
    UnknownLink { lab: String, link: LinkId },
    /// One phase of a build failed; the lab was torn down again.
    #[error("failed to build lab {lab} ({phase}): {}", summarize(failures))]
    Build {
        lab: String,
        phase: &'static str,
        /// Every failed step, labelled with its node/link.
        failures: Vec<String>,
    },
    /// An operation on a running lab failed.
    #[error("lab {lab}: failed to {what}: {source}")]
    Op {
        lab: String,
        what: String,
        #[source]
        source: io::Error,
    },
    /// The kernel lacks a feature an operation needs.
    #[error("lab {lab}: {what} is not supported here: {hint}")]
    Unsupported {
        lab: String,
        what: String,
        hint: String,
    },
    /// A lab's state file is unreadable or malformed.
    #[error("lab state {}: {reason}", path.display())]
    State { path: PathBuf, reason: String },
    /// Some resources could not be removed.
    #[error("failed to tear down lab {lab}: {}", summarize(failures))]
    Teardown { lab: String, failures: Vec<String> },
    /// The process is shutting down after SIGINT/SIGTERM; no new lab is built.
    #[error("interrupted: fabriclab is shutting down")]
    Interrupted,
}

impl LabError {
    /// Whether the error is about the caller's input or environment (bad name, not root, missing
    /// kernel feature) rather than a failed check; the CLI maps these to exit code 2.
    pub fn is_environment(&self) -> bool {
        matches!(
            self,
            LabError::NotRoot { .. }
                | LabError::Environment { .. }
                | LabError::InvalidName { .. }
                | LabError::Exists { .. }
                | LabError::NotFound { .. }
                | LabError::UnknownNode { .. }
                | LabError::UnknownLink { .. }
                | LabError::Unsupported { .. }
        )
    }
}

fn summarize(failures: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = failures
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if failures.len() > SHOWN {
        s.push_str(&format!("; and {} more", failures.len() - SHOWN));
    }
    if s.is_empty() {
        s.push_str("unknown failure");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_error_lists_first_failures_and_counts_the_rest() {
        let e = LabError::Build {
            lab: "x".into(),
            phase: "links",
            failures: (0..7).map(|i| format!("f{i}")).collect(),
        };
        let s = e.to_string();
        assert!(s.contains("f0; f1; f2; f3; f4; and 2 more"), "{s}");
        assert!(!s.contains("f5"), "{s}");
    }

    #[test]
    fn not_root_says_how_to_fix() {
        let s = LabError::NotRoot { euid: 1000 }.to_string();
        assert!(s.contains("sudo"), "{s}");
        assert!(LabError::NotRoot { euid: 1000 }.is_environment());
    }
}
