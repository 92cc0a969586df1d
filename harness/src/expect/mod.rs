//! The expected-FIB model: what every node's kernel FIB must hold, from the plan alone.
//!
//! - [`model`]: the BGP propagation model and its outcome ([`expected_fibs`], [`simulate`]);
//! - [`render`]: readable text for `fabriclab expect TOPO`;
//! - [`mod@diff`]: expected against actual, with a readable report ([`diff()`]).

mod context;
mod decision;
pub mod diff;
mod export;
pub mod model;
pub mod render;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

pub use diff::{diff, diff_all, render_diffs, DiffKind, FibDiff};
pub use model::{
    expected_fibs, simulate, summaries, ExpectedFibs, NodeResult, PathAttrs, RejectReason,
    Rejection, RibEntry, SelectedPath, Simulation,
};
pub use render::{render_expected, render_simulation};
