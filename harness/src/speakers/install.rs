//! Whether a speaker kind's executables are installed, and which package to install if not.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::api::{MissingDaemon, Speaker};

/// Directories searched besides `PATH`: daemons live in sbin, which a non-login `PATH` may lack.
const EXTRA_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/sbin",
    "/sbin",
    "/usr/local/bin",
    "/usr/bin",
];

/// The full path of an executable: `name` itself when it contains a `/`, else the first match in
/// `PATH` and the sbin directories.
pub fn find_executable(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = Path::new(name);
        return is_executable(p).then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The first missing executable of `adapter`, if any.
pub(crate) fn check_adapter(adapter: &dyn Speaker) -> Result<(), MissingDaemon> {
    for r in adapter.requirements() {
        if find_executable(r.binary).is_none() {
            return Err(MissingDaemon {
                kind: adapter.kind(),
                binary: r.binary.to_string(),
                package: r.package.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_not_nonsense() {
        assert!(find_executable("sh").is_some());
        assert!(find_executable("/bin/sh").is_some());
        assert!(find_executable("fl-no-such-binary-xyz").is_none());
        assert!(find_executable("/nonexistent/fl").is_none());
    }
}
