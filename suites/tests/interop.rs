//! The `interop` suite: the bundled `fabric-speaker` against BIRD 2, FRR 8 and GoBGP 3 — each
//! over the link's IPv4 and IPv6 addresses, with the bundled speaker dialing and with it
//! passive — and against ExaBGP 4 once. Every case builds a two-node lab, captures the link, and
//! checks the session, the routes both ways, withdrawals both ways, the Cease on shutdown, and
//! every message the bundled speaker sent (see `fabriclab_suites::interop::case`).
//!
//! Cases run one at a time (a process-wide lock; nextest runs the suites serially anyway). A
//! case whose daemon, `tshark` or the `fabric-speaker` binary is missing is reported ignored
//! with the reason; without root every case is ignored. `FABRICLAB_INTEROP_REPORT=1` prints the
//! step report of passing cases too.

use std::sync::Mutex;

use fabriclab_suites::interop::case::Case;
use fabriclab_suites::interop::{Opener, PeerKind, Transport};
use fabriclab_suites::{is_root, run, Completion, Trial};

/// Set to print every passing case's step report (failures always carry theirs).
const REPORT_ENV: &str = "FABRICLAB_INTEROP_REPORT";

/// One case at a time: the machine has 2 cores, and daemons starved of CPU miss timers.
static SERIAL: Mutex<()> = Mutex::new(());

fn trial(case: Case) -> Trial {
    Trial::ignorable_test(case.name(), move || {
        let _serial = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(reason) = case.skip_reason() {
            return Ok(Completion::ignored_with(reason));
        }
        let report = case.run().map_err(|e| format!("{e:#}"))?;
        if std::env::var_os(REPORT_ENV).is_some() {
            eprint!("{report}");
        }
        Ok(Completion::Completed)
    })
    .with_ignored_flag(!is_root())
}

fn main() {
    let mut trials = Vec::new();
    for peer in [PeerKind::Bird, PeerKind::Frr, PeerKind::Gobgp] {
        for transport in [Transport::V4, Transport::V6] {
            for opener in [Opener::Bundled, Opener::Peer] {
                trials.push(trial(Case {
                    peer,
                    transport,
                    opener,
                }));
            }
        }
    }
    trials.push(trial(Case {
        peer: PeerKind::Exabgp,
        transport: Transport::V4,
        opener: Opener::Bundled,
    }));
    run(trials)
}
