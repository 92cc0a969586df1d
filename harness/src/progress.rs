//! Progress of long runs on stderr: on a terminal, one status line rewritten in place (lab
//! build, daemons up, convergence n/N nodes) above which permanent lines scroll; otherwise
//! plain lines, with status updates thinned to whole tenths so a log stays short.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

struct State {
    tty: bool,
    /// Whether a transient status line is on screen.
    status_shown: bool,
    /// Last tenth printed for counters in plain mode.
    last_tenth: Option<usize>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with_state<T>(f: impl FnOnce(&mut State) -> T) -> T {
    let mut guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let state = guard.get_or_insert_with(|| State {
        tty: std::io::stderr().is_terminal(),
        status_shown: false,
        last_tenth: None,
    });
    f(state)
}

/// A permanent line (`[fabriclab] ...`).
pub fn line(msg: impl AsRef<str>) {
    with_state(|s| {
        let mut err = std::io::stderr().lock();
        if s.tty && s.status_shown {
            // Erase the status line; it is redrawn by the next `counter`.
            let _ = write!(err, "\r\x1b[2K");
            s.status_shown = false;
        }
        let _ = writeln!(err, "[fabriclab] {}", msg.as_ref());
        s.last_tenth = None;
    });
}

/// A counter such as "converging: 12/15 nodes match": rewritten in place on a terminal; in
/// plain mode printed when it reaches a new tenth of `total` (and at `total`).
pub fn counter(what: &str, done: usize, total: usize) {
    with_state(|s| {
        let mut err = std::io::stderr().lock();
        if s.tty {
            let _ = write!(err, "\r\x1b[2K[fabriclab] {what}: {done}/{total}");
            let _ = err.flush();
            s.status_shown = true;
        } else {
            let tenth = (done * 10).checked_div(total).unwrap_or(10);
            if s.last_tenth != Some(tenth) {
                s.last_tenth = Some(tenth);
                let _ = writeln!(err, "[fabriclab] {what}: {done}/{total}");
            }
        }
    });
}
