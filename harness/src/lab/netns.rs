//! Network namespaces: create, enter, delete. The only place that calls `unshare`/`setns`.
//!
//! A namespace is created the way `ip netns add` does it, but without forking: a dedicated OS
//! thread calls `unshare(CLONE_NEWNET)` (which moves only that thread into a fresh namespace),
//! bind-mounts `/proc/thread-self/ns/net` onto `/run/netns/<name>`, and ends. The bind mount keeps
//! the namespace alive; `ip netns exec <name>` sees it too because `/run/netns` is made a shared
//! mount exactly like iproute2 does (`ip/ipnetns.c`, `netns_add`).
//!
//! Entering a namespace is always done on a *fresh* thread that ends afterwards: `setns` changes
//! only the calling thread, and a thread left in a foreign namespace would silently do the wrong
//! thing later. In particular never `setns` on a tokio worker (rtnetlink issue #68): use
//! [`rtnetlink_in_netns`], which opens the socket on a throwaway thread and hands it to the runtime.
//!
//! Deleting a namespace = lazy unmount + unlink. The kernel frees it (and destroys every veth end
//! inside, which also removes the peer ends) once no process and no open fd refers to it, so
//! processes in it must be killed first (see `reaper`).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Where named network namespaces live (shared with iproute2's `ip netns`).
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// `/run/netns/<name>`.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

fn nix_io(e: nix::Error) -> io::Error {
    io::Error::from(e)
}

fn with_context(e: io::Error, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Creates `/run/netns` and makes it a shared mount point, as `ip netns add` does, so that
/// namespace bind mounts made here propagate to every mount namespace that shares it.
pub fn ensure_netns_dir() -> io::Result<()> {
    std::fs::create_dir_all(NETNS_RUN_DIR)
        .map_err(|e| with_context(e, format_args!("failed to create {NETNS_RUN_DIR}")))?;
    let shared = || {
        mount(
            None::<&str>,
            NETNS_RUN_DIR,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        // EINVAL: not a mount point yet; bind it onto itself first (iproute2 does the same).
        Err(nix::Error::EINVAL) => {
            mount(
                Some(NETNS_RUN_DIR),
                NETNS_RUN_DIR,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| {
                with_context(
                    nix_io(e),
                    format_args!("failed to bind-mount {NETNS_RUN_DIR}"),
                )
            })?;
            shared().map_err(|e| {
                with_context(
                    nix_io(e),
                    format_args!("failed to make {NETNS_RUN_DIR} shared"),
                )
            })
        }
        Err(e) => Err(with_context(
            nix_io(e),
            format_args!("failed to make {NETNS_RUN_DIR} shared"),
        )),
    }
}

/// Moves the *calling thread* into a new network namespace and pins it at `path`.
///
/// Only for threads that are dedicated to namespace work and end afterwards (the calling thread
/// stays inside the new namespace). On failure nothing is left at `path`.
pub(crate) fn unshare_and_pin(path: &Path) -> io::Result<()> {
    // O_EXCL: never adopt (and later delete) somebody else's namespace of the same name.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)
        .map_err(|e| with_context(e, format_args!("failed to create {}", path.display())))?;
    let pin = || -> io::Result<()> {
        unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| with_context(nix_io(e), "failed to unshare(CLONE_NEWNET)"))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            with_context(
                nix_io(e),
                format_args!("failed to bind-mount onto {}", path.display()),
            )
        })
    };
    pin().inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })
}

/// Creates the namespace `/run/netns/<name>` and returns its path. Fails if it already exists.
pub fn create_netns(name: &str) -> io::Result<PathBuf> {
    ensure_netns_dir()?;
    let path = netns_path(name);
    let p = path.clone();
    std::thread::Builder::new()
        .name(format!("netns-add-{name}"))
        .spawn(move || unshare_and_pin(&p))?
        .join()
        .map_err(|_| io::Error::other("namespace creation thread panicked"))??;
    Ok(path)
}

/// Deletes a namespace created by [`create_netns`]: lazy unmount, then unlink.
///
/// Missing namespaces are not an error (deletion is idempotent). The kernel frees the namespace,
/// and the veths in it, when the last process and fd referring to it are gone.
pub fn delete_netns(path: &Path) -> io::Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (a half-created namespace); ENOENT: already gone.
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => {
            return Err(with_context(
                nix_io(e),
                format_args!("failed to unmount {}", path.display()),
            ))
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(with_context(
            e,
            format_args!("failed to remove {}", path.display()),
        )),
    }
}

/// The namespace's identity: the nsfs inode behind `path` (what `/proc/<pid>/ns/net` links to
/// as `net:[<inode>]`).
pub fn netns_inode(path: &Path) -> io::Result<u64> {
    Ok(std::fs::metadata(path)?.ino())
}

/// Opens a namespace file (for `setns` or `IFLA_NET_NS_FD`).
pub(crate) fn open_netns(path: &Path) -> io::Result<File> {
    File::open(path).map_err(|e| {
        with_context(
            e,
            format_args!("failed to open namespace {}", path.display()),
        )
    })
}

/// Moves the calling thread into the namespace at `ns`. Only for dedicated throwaway threads.
pub(crate) fn enter(ns: &Path) -> io::Result<()> {
    let f = open_netns(ns)?;
    setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| {
        with_context(
            nix_io(e),
            format_args!("failed to enter namespace {}", ns.display()),
        )
    })
}

/// Runs `f` on a fresh OS thread that has entered the namespace `ns`, and returns its result.
///
/// Threads, sockets and child processes that `f` creates belong to `ns`. A panic in `f` is
/// propagated to the caller.
pub fn in_netns<T: Send + 'static>(
    ns: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let ns = ns.to_path_buf();
    let handle = std::thread::Builder::new()
        .name("in-netns".to_string())
        .spawn(move || -> io::Result<T> {
            enter(&ns)?;
            Ok(f())
        })?;
    match handle.join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Spawns `cmd` inside the namespace `ns`, in its own process group (pgid = its pid), so the whole
/// tree can be signalled with `killpg`.
///
/// The child is forked from a thread inside `ns` and inherits that namespace; no `pre_exec` is
/// needed. Do not combine with `PR_SET_PDEATHSIG`: it fires when the *spawning thread* ends,
/// which is immediately.
pub fn spawn_in_netns(ns: &Path, mut cmd: Command) -> io::Result<Child> {
    cmd.process_group(0);
    in_netns(ns, move || cmd.spawn())?
}

/// An rtnetlink [`Handle`](rtnetlink::Handle) whose socket lives in the namespace `ns`.
///
/// The socket is created on a throwaway thread inside `ns` (a netlink socket belongs to the
/// namespace it was created in, for its whole life) and registered with the current tokio
/// runtime, which then drives the connection task; no tokio worker ever calls `setns`. Must be
/// called from within a tokio runtime.
pub async fn rtnetlink_in_netns(ns: &Path) -> io::Result<rtnetlink::Handle> {
    let rt = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
    let ns = ns.to_path_buf();
    let rt2 = rt.clone();
    let (conn, handle) = tokio::task::spawn_blocking(move || {
        in_netns(&ns, move || {
            let _entered = rt2.enter();
            rtnetlink::new_connection().map(|(conn, handle, _messages)| (conn, handle))
        })
    })
    .await
    .map_err(io::Error::other)???;
    rt.spawn(conn);
    Ok(handle)
}
