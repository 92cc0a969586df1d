//! Per-namespace sysctls, written through `/proc/sys/net` from a thread inside the namespace
//! (procfs resolves `net/*` entries against the namespace of the thread that opens them).
//!
//! Every namespace has its own `/proc/sys/net` dentry, and the dcache keeps them all on one hash
//! chain (same parent, same name), so each lookup of `net` walks a chain as long as the number of
//! namespaces. With 1,000 namespaces an `open("/proc/sys/net/...")` took ~100 us; resolving
//! `net` once per namespace ([`ProcSysNet`]) and opening every key relative to it avoids that.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;

use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::Mode;

/// What every router/server namespace gets, and why. Only what differs from a new namespace's
/// defaults, and `all` alone where the kernel ORs `all` with the per-interface value: opening
/// `/proc/sys` files dominates namespace setup time (~1,000 namespaces x every key).
///
/// - `ipv4/ip_forward`, `ipv6/conf/all/forwarding`: nodes route (RFC 1812). Both also set
///   `default` and every existing interface.
/// - `ipv4/conf/{all,default}/rp_filter = 0`: ECMP and asymmetric paths are normal in a fabric;
///   reverse-path filtering would drop them. A new namespace copies IPv4 `all`/`default` from the
///   host (`net.core.devconf_inherit_init_net = 0`), where distributions often set 1 or 2, and
///   the effective value is the maximum of `all` and the interface's.
/// - `ipv4/fib_multipath_hash_policy = 1` (and v6): hash on L4 ports so flows between two
///   addresses spread over ECMP legs (the default 0 pins them to one leg).
/// - `ipv{4,6}/conf/all/ignore_routes_with_linkdown = 1`: a route whose next hop is behind a
///   link without carrier is not used, as on a real router port going dark; without it the
///   kernel keeps forwarding into a downed veth (`set_link_state` would not reroute).
/// - `ipv6/conf/all/keep_addr_on_down = 1`: keep IPv6 addresses when a link is set down, like
///   IPv4, so `set_link_state(down)` then `up` restores the link as it was.
/// - `ipv6/conf/{all,default}/accept_dad = 0`: addresses (including the link-locals used as pod
///   gateways) are usable at once instead of tentative for ~1 s (RFC 4862 §5.4 DAD is pointless
///   on a point-to-point veth whose peer we configure ourselves); DAD runs unless both `all` and
///   the interface say 0, so `default` covers the veths created later.
pub(crate) const ROUTER: &[(&str, &str)] = &[
    ("ipv4/ip_forward", "1"),
    ("ipv6/conf/all/forwarding", "1"),
    ("ipv4/conf/all/rp_filter", "0"),
    ("ipv4/conf/default/rp_filter", "0"),
    ("ipv4/fib_multipath_hash_policy", "1"),
    ("ipv6/fib_multipath_hash_policy", "1"),
    ("ipv4/conf/all/ignore_routes_with_linkdown", "1"),
    ("ipv6/conf/all/ignore_routes_with_linkdown", "1"),
    ("ipv6/conf/all/keep_addr_on_down", "1"),
    ("ipv6/conf/all/accept_dad", "0"),
    ("ipv6/conf/default/accept_dad", "0"),
];

/// What every pod namespace gets: no forwarding, but immediate IPv6 addresses (see [`ROUTER`]).
pub(crate) const POD: &[(&str, &str)] = &[
    ("ipv6/conf/all/keep_addr_on_down", "1"),
    ("ipv6/conf/all/accept_dad", "0"),
    ("ipv6/conf/default/accept_dad", "0"),
];

/// Sysctls of a host-side pod interface (`cali*`), as Calico's felix sets them: answer the pod's
/// ARP for its gateway 169.254.1.1 with our MAC (proxy ARP), without the default 0.8 s delay.
pub(crate) fn calico_host_iface(ifname: &str) -> [(String, &'static str); 2] {
    [
        (format!("ipv4/conf/{ifname}/proxy_arp"), "1"),
        (format!("ipv4/neigh/{ifname}/proxy_delay"), "0"),
    ]
}

/// `/proc/sys/net` of the namespace the opening thread was in.
pub(crate) struct ProcSysNet(OwnedFd);

/// Keys that older kernels lack (the IPv6 multipath hash policy arrived in Linux 5.4); missing
/// ones are skipped.
const OPTIONAL: &[&str] = &["ipv6/fib_multipath_hash_policy"];

impl ProcSysNet {
    /// Opens `/proc/sys/net` for the calling thread's current namespace.
    pub(crate) fn open() -> io::Result<Self> {
        open(
            "/proc/sys/net",
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map(ProcSysNet)
        .map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("failed to open /proc/sys/net: {e}"),
            )
        })
    }

    /// Writes `value` to `net/<key>`.
    pub(crate) fn write(&self, key: &str, value: &str) -> io::Result<()> {
        let set = || -> io::Result<()> {
            let fd = openat(
                &self.0,
                key,
                OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            File::from(fd).write_all(value.as_bytes())
        };
        set().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to set /proc/sys/net/{key} = {value}: {e}"),
            )
        })
    }

    /// Writes all `settings`, stopping at the first failure.
    pub(crate) fn write_all<K: AsRef<str>>(&self, settings: &[(K, &str)]) -> io::Result<()> {
        for (k, v) in settings {
            let k = k.as_ref();
            match self.write(k, v) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound && OPTIONAL.contains(&k) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads `net/<key>`.
    pub(crate) fn read(&self, key: &str) -> io::Result<String> {
        let fd = openat(
            &self.0,
            key,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("failed to read /proc/sys/net/{key}: {e}"),
            )
        })?;
        io::read_to_string(File::from(fd))
    }
}

/// Host-wide neighbour (ARP/NDP) table limits, `net.ipv{4,6}.neigh.default.gc_thresh{1,2,3}`.
///
/// The kernel's neighbour tables are shared by *all* namespaces and only the initial namespace
/// exposes their limits; the default hard limit (`gc_thresh3` = 1024) overflows at a few hundred
/// links ("neighbor table overflow!", packets dropped). [`raise_neighbour_limits`] raises them to
/// fit `entries` per family, keeping the default 1:4:8 proportions, and never lowers them.
const NEIGH_THRESH: [(&str, u64); 3] = [("gc_thresh1", 8), ("gc_thresh2", 2), ("gc_thresh3", 1)];

/// Raises the host's neighbour table limits so that `entries` entries per address family fit
/// (see [`NEIGH_THRESH`]). Must run in the initial network namespace.
pub(crate) fn raise_neighbour_limits(entries: u64) -> io::Result<()> {
    let net = ProcSysNet::open()?;
    for family in ["ipv4", "ipv6"] {
        for (name, divisor) in NEIGH_THRESH {
            let key = format!("{family}/neigh/default/{name}");
            let current: u64 = net.read(&key)?.trim().parse().unwrap_or(0);
            let wanted = entries / divisor;
            if wanted > current {
                net.write(&key, &wanted.to_string())?;
            }
        }
    }
    Ok(())
}
