//! The run directory of one daemon on one node: where its config, pid files, control sockets and
//! logs live, so a failure bundle can copy one folder per daemon.

use std::io;
use std::path::{Path, PathBuf};

use crate::topology::NodeId;

/// `<lab run dir>/<node>/<daemon>/`, e.g. `/tmp/fl-1a2b/r1t1/frr/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The run directory of `daemon` (`bird`, `frr`, `gobgp`, `bundled`) on `node` under the lab's
    /// run directory. Nothing is created until [`RunDir::create`].
    pub fn new(lab_run_dir: &Path, node: &NodeId, daemon: &str) -> Self {
        RunDir {
            path: lab_run_dir.join(node.as_str()).join(daemon),
        }
    }

    /// A run directory at exactly `path` (tests, or a layout chosen elsewhere).
    pub fn at(path: impl Into<PathBuf>) -> Self {
        RunDir { path: path.into() }
    }

    /// Creates the directory and its parents.
    pub fn create(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.path)
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Where `program`'s standard output is appended (kept across restarts).
    pub fn stdout_log(&self, program: &str) -> PathBuf {
        self.path.join(format!("{program}.stdout.log"))
    }

    /// Where `program`'s standard error is appended (kept across restarts).
    pub fn stderr_log(&self, program: &str) -> PathBuf {
        self.path.join(format!("{program}.stderr.log"))
    }

    /// `program`'s pid file (for daemons that write one; the supervisor tracks children itself).
    pub fn pid_file(&self, program: &str) -> PathBuf {
        self.path.join(format!("{program}.pid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_lab_node_daemon() {
        let d = RunDir::new(Path::new("/tmp/fl-x"), &NodeId::from("r1t1"), "frr");
        assert_eq!(d.path(), Path::new("/tmp/fl-x/r1t1/frr"));
        assert_eq!(d.pid_file("bgpd"), Path::new("/tmp/fl-x/r1t1/frr/bgpd.pid"));
        assert_eq!(
            d.stderr_log("zebra"),
            Path::new("/tmp/fl-x/r1t1/frr/zebra.stderr.log")
        );
    }
}
