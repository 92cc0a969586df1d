//! Checks of a running lab: FIB diff, reachability, convergence, design invariants.
