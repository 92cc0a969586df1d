//! TODO(process): private stand-in for `lab::netns::spawn_in_netns`, which is being written in
//! `harness/src/lab/`. Switch to it once it lands and delete this file.
//!
//! Spawns from a fresh thread that has `setns(2)`-ed into the namespace: namespace membership is
//! per thread, and a child forked (or `posix_spawn`ed) from that thread starts in it, while the
//! calling thread never changes namespace (rtnetlink#68).

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};

use nix::sched::{setns, CloneFlags};

/// Spawns `cmd` inside the network namespace at `ns` (e.g. `/run/netns/fl1-s1`), in a new process
/// group whose id is the child's pid.
pub fn spawn_in_netns(ns: &Path, mut cmd: Command) -> io::Result<Child> {
    let file = File::open(ns)?;
    cmd.process_group(0);
    std::thread::scope(|scope| {
        scope
            .spawn(move || -> io::Result<Child> {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                cmd.spawn()
            })
            .join()
            .map_err(|_| io::Error::other("spawning thread inside the namespace panicked"))?
    })
}
