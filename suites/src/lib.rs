//! Shared helpers of the suites: turning cases into libtest-mimic trials.
