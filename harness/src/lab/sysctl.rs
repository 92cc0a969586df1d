//! Per-namespace sysctls, written through `/proc/sys/net` from a thread inside the namespace
//! (procfs resolves `net/*` entries against the namespace of the thread that opens them).

use std::io;

/// What every router/server namespace gets, and why.
///
/// - `ipv4/ip_forward`, `ipv6/conf/{all,default}/forwarding`: nodes route (RFC 1812 router).
/// - `ipv4/conf/{all,default}/rp_filter = 0`: ECMP and asymmetric paths are normal in a fabric;
///   strict reverse-path filtering would drop them.
/// - `ipv4/fib_multipath_hash_policy = 1` (and v6): hash on L4 ports so flows between two
///   addresses spread over ECMP legs (the default 0 pins them to one leg).
/// - `ipv{4,6}/conf/{all,default}/ignore_routes_with_linkdown = 1`: a route whose next hop is
///   behind a link with carrier down is not used, as on a real router port going dark; without it
///   the kernel keeps forwarding into a downed veth (`set_link_state` would not reroute).
/// - `ipv6/conf/{all,default}/keep_addr_on_down = 1`: keep IPv6 addresses when a link is set
///   down, like IPv4, so `set_link_state(down)` then `up` restores the link as it was.
/// - `ipv6/conf/{all,default}/accept_dad = 0`: addresses (including the link-locals used as pod
///   gateways) are usable at once instead of tentative for ~1 s (RFC 4862 §5.4 DAD is pointless
///   on a point-to-point veth whose peer we configure ourselves).
pub(crate) const ROUTER: &[(&str, &str)] = &[
    ("ipv4/ip_forward", "1"),
    ("ipv6/conf/all/forwarding", "1"),
    ("ipv6/conf/default/forwarding", "1"),
    ("ipv4/conf/all/rp_filter", "0"),
    ("ipv4/conf/default/rp_filter", "0"),
    ("ipv4/fib_multipath_hash_policy", "1"),
    ("ipv6/fib_multipath_hash_policy", "1"),
    ("ipv4/conf/all/ignore_routes_with_linkdown", "1"),
    ("ipv4/conf/default/ignore_routes_with_linkdown", "1"),
    ("ipv6/conf/all/ignore_routes_with_linkdown", "1"),
    ("ipv6/conf/default/ignore_routes_with_linkdown", "1"),
    ("ipv6/conf/all/keep_addr_on_down", "1"),
    ("ipv6/conf/default/keep_addr_on_down", "1"),
    ("ipv6/conf/all/accept_dad", "0"),
    ("ipv6/conf/default/accept_dad", "0"),
];

/// What every pod namespace gets: no forwarding, but immediate IPv6 addresses (see [`ROUTER`]).
pub(crate) const POD: &[(&str, &str)] = &[
    ("ipv6/conf/all/keep_addr_on_down", "1"),
    ("ipv6/conf/default/keep_addr_on_down", "1"),
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

/// Writes `value` to `/proc/sys/net/<key>` in the calling thread's namespace.
pub(crate) fn write(key: &str, value: &str) -> io::Result<()> {
    let path = format!("/proc/sys/net/{key}");
    std::fs::write(&path, value)
        .map_err(|e| io::Error::new(e.kind(), format!("failed to set {path} = {value}: {e}")))
}

/// Keys that older kernels lack (the IPv6 multipath hash policy arrived in Linux 5.4); missing
/// ones are skipped.
const OPTIONAL: &[&str] = &["ipv6/fib_multipath_hash_policy"];

/// Writes all `settings`, stopping at the first failure.
pub(crate) fn write_all<K: AsRef<str>>(settings: &[(K, &str)]) -> io::Result<()> {
    for (k, v) in settings {
        let k = k.as_ref();
        match write(k, v) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound && OPTIONAL.contains(&k) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
