//! Failure bundles: everything needed to understand and replay a run, in one directory and one
//! `.tar.gz` next to it.
//!
//! Layout of `<bundle-dir>/<lab>-<YYYYmmddTHHMMSSZ>/` (the tarball holds the same tree under the
//! same top directory name):
//!
//! ```text
//! manifest.json        format, fabriclab version, lab, verdict, failing checks, run options
//! topology.yaml        the topology file, verbatim
//! scenario.yaml        the scenario file, verbatim (when the run had one)
//! plan.json            the resolved plan the daemons were configured from
//! expected-plan.json   the plan the expectation comes from (differs under a misconfiguration)
//! expected-fibs.json   what every node's FIB had to hold at the end
//! actual-fibs.json     what the FIBs held at the end
//! report.json          the run report (schema in run/report.rs)
//! timeline.jsonl       harness actions, BGP messages, route events (schema in timeline.rs)
//! pcap/*.pcapng        one capture per link
//! nodes/<node>/<daemon>/  rendered daemon configs and logs (regular files only)
//! ```

mod bundle;
mod repro;

pub use bundle::{
    default_bundle_root, open_bundle, write_bundle, BundleError, BundleInput, BundledOptions,
    Manifest, OpenBundle, WrittenBundle, BUNDLE_FORMAT,
};
pub use repro::{repro_options, ReproOutcome};
