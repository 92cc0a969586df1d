//! The outcome of one check.

use serde::{Deserialize, Serialize};

/// Whether a check held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Pass,
    Fail,
    /// Could not run here (the reason is in the summary); never counted as a pass.
    Ignored,
}

/// One named check with a one-line summary and, on failure, the details that explain it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub status: CheckStatus,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl CheckResult {
    /// Pass when `details` is empty, fail otherwise.
    pub fn from_details(name: &str, summary: String, details: Vec<String>) -> Self {
        CheckResult {
            name: name.to_string(),
            status: if details.is_empty() {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            },
            summary,
            details,
        }
    }

    /// A check that could not run, and why.
    pub fn ignored(name: &str, reason: impl Into<String>) -> Self {
        CheckResult {
            name: name.to_string(),
            status: CheckStatus::Ignored,
            summary: reason.into(),
            details: Vec::new(),
        }
    }

    pub fn passed(&self) -> bool {
        self.status == CheckStatus::Pass
    }

    pub fn failed(&self) -> bool {
        self.status == CheckStatus::Fail
    }
}
