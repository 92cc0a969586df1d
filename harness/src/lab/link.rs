//! Veth links, addresses and link impairment, as rtnetlink requests.
//!
//! Everything here *builds* requests; `lab` sends them in batches through [`Netlink`]. A veth
//! pair is created with both ends directly in their target namespaces (`IFLA_NET_NS_FD` on the
//! link and on the peer), already named, sized and up, in one request: measured 27-64x faster
//! than creating both ends in one namespace and moving them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;
use std::time::Duration;

use netlink_packet_core::{DefaultNla, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use netlink_packet_route::link::{InfoData, InfoVeth};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::{
    packet_core as netlink_packet_core, packet_route as netlink_packet_route,
    AddressMessageBuilder, LinkMessageBuilder, LinkUnspec, LinkVeth,
};

use super::netlink::Request;
use crate::topology::{Endpoint, LinkPlan};

/// Which end(s) of a link an operation applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkEnd {
    /// The `a` endpoint of the [`LinkPlan`].
    A,
    /// The `b` endpoint.
    B,
    /// Both endpoints.
    Both,
}

impl LinkEnd {
    /// The selected endpoints of `link`.
    pub fn select<'a>(&self, link: &'a LinkPlan) -> Vec<&'a Endpoint> {
        match self {
            LinkEnd::A => vec![&link.a],
            LinkEnd::B => vec![&link.b],
            LinkEnd::Both => vec![&link.a, &link.b],
        }
    }
}

/// Administrative state of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkState {
    Up,
    Down,
}

/// Egress impairment of a link end (Linux `netem`, see tc-netem(8)).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Impairment {
    /// Added one-way delay.
    pub delay: Duration,
    /// Random variation of the delay (uniform, +/-).
    pub jitter: Duration,
    /// Random loss in percent, 0.0..=100.0.
    pub loss_percent: f64,
}

impl Impairment {
    /// Drop every packet, silently (the link stays up: a failure only hold timers detect).
    pub fn blackhole() -> Self {
        Impairment {
            loss_percent: 100.0,
            ..Impairment::default()
        }
    }

    /// Whether this is a pure 100 % loss without delay, which also works without netem.
    pub fn is_blackhole(&self) -> bool {
        self.loss_percent >= 100.0 && self.delay.is_zero() && self.jitter.is_zero()
    }
}

/// The MAC address of every host-side pod interface, as Calico sets it (`ee:ee:ee:ee:ee:ee`).
/// Its EUI-64 link-local address is [`CALI_LINK_LOCAL`].
pub const CALI_MAC: [u8; 6] = [0xee; 6];

/// The IPv6 link-local address of a `cali*` interface with MAC [`CALI_MAC`] (RFC 4291 §2.5.6
/// modified EUI-64: `ee` with the U/L bit flipped is `ec`); pods use it as IPv6 gateway.
pub const CALI_LINK_LOCAL: Ipv6Addr =
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0xecee, 0xeeff, 0xfeee, 0xeeee);

/// The IPv4 gateway address every pod uses (Calico's 169.254.1.1, never configured anywhere).
pub const POD_GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// Interface index of `lo` in every namespace (`LOOPBACK_IFINDEX` in the kernel).
pub(crate) const LO_INDEX: u32 = 1;

/// One side of a veth to create: name, namespace (as an open fd), optional MAC.
pub(crate) struct VethEnd<'a> {
    pub ifname: &'a str,
    pub netns_fd: RawFd,
    pub mac: Option<[u8; 6]>,
}

/// Creates a veth pair with both ends already in their namespaces, named and MTU set; the `a`
/// end is up, the `b` end must be set up afterwards ([`set_index_up`]): the kernel configures the
/// peer before tying the pair together, so `IFF_UP` on the peer fails with `ENOTCONN`
/// (`veth_open` without a peer, drivers/net/veth.c).
pub(crate) fn veth(a: VethEnd<'_>, b: VethEnd<'_>, mtu: u32, what: String) -> Request {
    let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(b.ifname.to_string())
        .mtu(mtu)
        .setns_by_fd(b.netns_fd);
    if let Some(mac) = b.mac {
        peer = peer.address(mac.to_vec());
    }
    let mut msg = LinkVeth::new(a.ifname, b.ifname)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
        .mtu(mtu)
        .setns_by_fd(a.netns_fd)
        .up();
    if let Some(mac) = a.mac {
        msg = msg.address(mac.to_vec());
    }
    Request::new(
        RouteNetlinkMessage::NewLink(msg.build()),
        NLM_F_CREATE | NLM_F_EXCL,
        what,
    )
}

/// Sets an interface (by name, in the socket's namespace) up or down.
pub(crate) fn set_state(ifname: &str, state: LinkState, what: String) -> Request {
    let b = LinkUnspec::new_with_name(ifname);
    let b = match state {
        LinkState::Up => b.up(),
        LinkState::Down => b.down(),
    };
    Request::new(RouteNetlinkMessage::SetLink(b.build()), 0, what)
}

/// Sets the interface with index `index` up.
pub(crate) fn set_index_up(index: u32, what: String) -> Request {
    Request::new(
        RouteNetlinkMessage::SetLink(LinkUnspec::new_with_index(index).up().build()),
        0,
        what,
    )
}

/// Brings `lo` up.
pub(crate) fn lo_up(what: String) -> Request {
    set_index_up(LO_INDEX, what)
}

/// Adds an address with a prefix length on interface `index`. IPv6 addresses get `IFA_F_NODAD`
/// so they are usable at once (no tentative phase, RFC 4862 §5.4).
pub(crate) fn address(index: u32, addr: IpAddr, prefix_len: u8, what: String) -> Request {
    let msg = match addr {
        IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(a, prefix_len)
            .build(),
        IpAddr::V6(a) => {
            let mut m = AddressMessageBuilder::<Ipv6Addr>::new()
                .index(index)
                .address(a, prefix_len)
                .build();
            m.header.flags = AddressHeaderFlags::Nodad;
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
            m
        }
    };
    // NLM_F_REPLACE: re-running a step on an existing address is not an error.
    Request::new(
        RouteNetlinkMessage::NewAddress(msg),
        NLM_F_CREATE | NLM_F_REPLACE,
        what,
    )
}

/// The address requests of one link end (v4 /31 and v6 /127).
pub(crate) fn end_addresses(end: &Endpoint, index: u32) -> [Request; 2] {
    [
        address(
            index,
            IpAddr::V4(end.v4.addr()),
            end.v4.prefix_len(),
            format!("address {} on {} {}", end.v4, end.node, end.ifname),
        ),
        address(
            index,
            IpAddr::V6(end.v6.addr()),
            end.v6.prefix_len(),
            format!("address {} on {} {}", end.v6, end.node, end.ifname),
        ),
    ]
}

// ===== impairment (tc) =====

/// `TCA_OPTIONS` (include/uapi/linux/rtnetlink.h).
const TCA_OPTIONS: u16 = 2;
/// `TCA_NETEM_LATENCY64` / `TCA_NETEM_JITTER64`: delays in ns (include/uapi/linux/pkt_sched.h).
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
/// `TCA_TBF_PARMS`.
const TCA_TBF_PARMS: u16 = 1;
/// `TC_LINKLAYER_ETHERNET`: no rate table needed.
const TC_LINKLAYER_ETHERNET: u8 = 1;
/// `TC_H_ROOT`.
const TC_H_ROOT: TcHandle = TcHandle {
    major: 0xffff,
    minor: 0xffff,
};

fn root_qdisc(index: u32, kind: &str, options: Vec<u8>) -> TcMessage {
    let mut m = TcMessage::default();
    m.header.index = i32::try_from(index).unwrap_or(i32::MAX);
    m.header.parent = TC_H_ROOT;
    m.header.handle = TcHandle { major: 1, minor: 0 };
    m.attributes.push(TcAttribute::Kind(kind.to_string()));
    // Raw TCA_OPTIONS: netem's options start with a fixed struct, not with NLAs, which
    // netlink-packet-route 0.34 cannot express (it has no netem support).
    m.attributes
        .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, options)));
    m
}

fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut v = Vec::with_capacity((len + 3) & !3);
    v.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(value);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

/// Loss probability as netem's u32 fraction of `u32::MAX`.
fn loss_fraction(percent: f64) -> u32 {
    let p = percent.clamp(0.0, 100.0) / 100.0;
    (p * f64::from(u32::MAX)).round() as u32
}

fn nanos_i64(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// `struct tc_netem_qopt` then `TCA_NETEM_LATENCY64`/`JITTER64` (ns): see tc-netem(8) and
/// `netem_change` in net/sched/sch_netem.c.
pub(crate) fn netem_options(imp: &Impairment) -> Vec<u8> {
    const LIMIT_PACKETS: u32 = 1000;
    let mut v = Vec::new();
    for field in [
        0u32,
        LIMIT_PACKETS,
        loss_fraction(imp.loss_percent),
        0,
        0,
        0,
    ] {
        // latency, limit, loss, gap, duplicate, jitter (latencies are set by the 64-bit NLAs).
        v.extend_from_slice(&field.to_ne_bytes());
    }
    v.extend(nla(
        TCA_NETEM_LATENCY64,
        &nanos_i64(imp.delay).to_ne_bytes(),
    ));
    v.extend(nla(
        TCA_NETEM_JITTER64,
        &nanos_i64(imp.jitter).to_ne_bytes(),
    ));
    v
}

/// A `tbf` whose bucket holds one byte: every packet is larger than the bucket and dropped
/// (`tbf_enqueue` drops packets over `max_size`), silently and with the link still up. Used for
/// 100 % loss where the kernel lacks netem.
pub(crate) fn tbf_drop_options() -> Vec<u8> {
    // struct tc_ratespec { u8 cell_log; u8 linklayer; u16 overhead; i16 cell_align; u16 mpu;
    // u32 rate; } -- rate in bytes/s.
    fn ratespec(rate: u32) -> Vec<u8> {
        let mut r = vec![0u8, TC_LINKLAYER_ETHERNET];
        r.extend_from_slice(&0u16.to_ne_bytes());
        r.extend_from_slice(&0i16.to_ne_bytes());
        r.extend_from_slice(&0u16.to_ne_bytes());
        r.extend_from_slice(&rate.to_ne_bytes());
        r
    }
    const RATE: u32 = 1_000_000;
    // Buffer in psched ticks (64 ns): 16 ticks = 1.024 us = 1 byte at 1 MB/s.
    const BUFFER_TICKS: u32 = 16;
    let mut parms = ratespec(RATE);
    parms.extend(ratespec(0)); // peakrate: none
    parms.extend_from_slice(&1u32.to_ne_bytes()); // limit (bytes of queue)
    parms.extend_from_slice(&BUFFER_TICKS.to_ne_bytes()); // buffer
    parms.extend_from_slice(&0u32.to_ne_bytes()); // mtu
    nla(TCA_TBF_PARMS, &parms)
}

/// Replaces the root qdisc of interface `index` with netem (or, for a pure blackhole without
/// netem, with the dropping tbf).
pub(crate) fn impair(index: u32, imp: &Impairment, use_netem: bool, what: String) -> Request {
    let m = if use_netem {
        root_qdisc(index, "netem", netem_options(imp))
    } else {
        root_qdisc(index, "tbf", tbf_drop_options())
    };
    Request::new(
        RouteNetlinkMessage::NewQueueDiscipline(m),
        NLM_F_CREATE | NLM_F_REPLACE,
        what,
    )
}

/// Deletes the root qdisc of interface `index` (back to the default).
pub(crate) fn clear_impairment(index: u32, what: String) -> Request {
    let mut m = TcMessage::default();
    m.header.index = i32::try_from(index).unwrap_or(i32::MAX);
    m.header.parent = TC_H_ROOT;
    Request::new(RouteNetlinkMessage::DelQueueDiscipline(m), 0, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cali_link_local_is_eui64_of_cali_mac() {
        // RFC 4291 App. A: insert ff:fe in the middle, flip the U/L bit of the first octet.
        let mut iid = [0u8; 8];
        iid[..3].copy_from_slice(&CALI_MAC[..3]);
        iid[3] = 0xff;
        iid[4] = 0xfe;
        iid[5..].copy_from_slice(&CALI_MAC[3..]);
        iid[0] ^= 0x02;
        let mut octets = [0u8; 16];
        octets[0] = 0xfe;
        octets[1] = 0x80;
        octets[8..].copy_from_slice(&iid);
        assert_eq!(Ipv6Addr::from(octets), CALI_LINK_LOCAL);
    }

    #[test]
    fn netem_options_encode_loss_and_64bit_delays() {
        let imp = Impairment {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(1),
            loss_percent: 50.0,
        };
        let v = netem_options(&imp);
        assert_eq!(v.len(), 24 + 12 + 12);
        let loss = u32::from_ne_bytes(v[8..12].try_into().unwrap_or([0; 4]));
        assert!((loss as f64 - f64::from(u32::MAX) / 2.0).abs() < 2.0);
        assert_eq!(u16::from_ne_bytes([v[26], v[27]]), TCA_NETEM_LATENCY64);
        let lat = i64::from_ne_bytes(v[28..36].try_into().unwrap_or([0; 8]));
        assert_eq!(lat, 20_000_000);
        let jit = i64::from_ne_bytes(v[40..48].try_into().unwrap_or([0; 8]));
        assert_eq!(jit, 1_000_000);
    }

    #[test]
    fn loss_fraction_clamps() {
        assert_eq!(loss_fraction(0.0), 0);
        assert_eq!(loss_fraction(100.0), u32::MAX);
        assert_eq!(loss_fraction(250.0), u32::MAX);
        assert_eq!(loss_fraction(-3.0), 0);
    }

    #[test]
    fn blackhole_is_pure_total_loss() {
        assert!(Impairment::blackhole().is_blackhole());
        let delayed = Impairment {
            delay: Duration::from_millis(1),
            ..Impairment::blackhole()
        };
        assert!(!delayed.is_blackhole());
    }

    #[test]
    fn tbf_parms_is_one_nla_of_the_struct_size() {
        let v = tbf_drop_options();
        // tc_tbf_qopt: two 12-byte ratespecs + limit + buffer + mtu = 36 bytes, plus NLA header.
        assert_eq!(v.len(), 40);
        assert_eq!(u16::from_ne_bytes([v[0], v[1]]), 40);
    }
}
