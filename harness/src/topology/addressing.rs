//! Deterministic address allocation: loopbacks, link /31s and /127s, topology-aware pools,
//! IPAM blocks and pod addresses. Same draft → same addresses, always.
//!
//! - Loopbacks: node `i` (plan order, 0-based) gets host `i + 1` of `loopbacks-v4` and of
//!   `loopbacks-v6` (the network address is skipped). Router id = v4 loopback.
//! - Links: link `k` gets the `k`-th /31 of `links-v4` and the `k`-th /127 of `links-v6`; side
//!   `a` takes the lower address (RFC 3021 /31s, RFC 6164 /127s).
//! - Pools: one Calico IPPool per rack (`nodeSelector: rack == "r"`), the `r`-th
//!   `/rack-pool-size` of `pods-v4` (rack 1 → the first), unless `pools:` lists them.
//! - Blocks: each node claims, in plan order, the next free `/block-size` of its rack's pools,
//!   enough to hold its pods and at least one (a node with no pods still has a block, as if a
//!   pod had been scheduled there: keeps large fabrics route-bearing without pod namespaces).
//! - Pods: like Calico IPAM every address of a block is usable (pods get /32s routed to their
//!   `cali*` interface, no subnet broadcast), so pod `j` of a node takes the `j`-th address
//!   counting from the first address of its first block.
//! - IPv6 for pods: the v4 address embedded in the `pods-v6` /96 (as RFC 6052 does), so a /26
//!   block has a /122 twin (Calico's default v6 block size) and a /20 pool a /116 twin.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::draft::{At, Draft};
use super::error::{ErrorKind, Pos, Problem};
use super::model::AddressingSpec;
use super::plan::{PoolPlan, Role};

/// The address ranges with defaults filled in.
#[derive(Debug, Clone)]
pub(crate) struct Ranges {
    pub loopbacks_v4: At<Ipv4Net>,
    pub loopbacks_v6: At<Ipv6Net>,
    pub links_v4: At<Ipv4Net>,
    pub links_v6: At<Ipv6Net>,
    pub pods_v4: At<Ipv4Net>,
    pub pods_v6: At<Ipv6Net>,
    pub rack_pool_len: At<u8>,
    pub block_len: At<u8>,
}

fn v4(s: &str) -> Ipv4Net {
    s.parse().unwrap_or_default()
}

fn v6(s: &str) -> Ipv6Net {
    s.parse().unwrap_or_default()
}

fn given<T: Clone>(x: Option<&serde_saphyr::Spanned<T>>, key: &str, default: T) -> At<T> {
    match x {
        Some(s) => At::new(s.value.clone(), Pos::of(s, format!("addressing.{key}"))),
        None => At::new(default, Pos::root(format!("addressing.{key} (default)"))),
    }
}

/// Number of addresses in a v4 prefix.
fn size4(n: &Ipv4Net) -> u64 {
    1u64 << (32 - u32::from(n.prefix_len()))
}

/// Number of addresses in a v6 prefix, saturating for a /0.
fn size6(n: &Ipv6Net) -> u128 {
    1u128
        .checked_shl(128 - u32::from(n.prefix_len()))
        .unwrap_or(u128::MAX)
}

fn host_bits_error(pos: &Pos, net: &dyn std::fmt::Display) -> Problem {
    pos.err(ErrorKind::Invalid(format!("{net} has host bits set")))
}

pub(crate) fn ranges(spec: Option<&AddressingSpec>) -> Result<Ranges, Problem> {
    let d = AddressingSpec::default();
    let s = spec.unwrap_or(&d);
    let r = Ranges {
        loopbacks_v4: given(s.loopbacks_v4.as_ref(), "loopbacks-v4", v4("10.255.0.0/16")),
        loopbacks_v6: given(s.loopbacks_v6.as_ref(), "loopbacks-v6", v6("fd00:ff::/64")),
        links_v4: given(s.links_v4.as_ref(), "links-v4", v4("10.0.0.0/16")),
        links_v6: given(s.links_v6.as_ref(), "links-v6", v6("fd00:0:0:1::/64")),
        pods_v4: given(s.pods_v4.as_ref(), "pods-v4", v4("10.64.0.0/12")),
        pods_v6: given(s.pods_v6.as_ref(), "pods-v6", v6("fd00:64::/96")),
        rack_pool_len: given(s.rack_pool_size.as_ref(), "rack-pool-size", 20),
        block_len: given(s.block_size.as_ref(), "block-size", 26),
    };
    for n in [&r.loopbacks_v4, &r.links_v4, &r.pods_v4] {
        if n.v.trunc() != n.v {
            return Err(host_bits_error(&n.pos, &n.v));
        }
    }
    for n in [&r.loopbacks_v6, &r.links_v6, &r.pods_v6] {
        if n.v.trunc() != n.v {
            return Err(host_bits_error(&n.pos, &n.v));
        }
    }
    if r.pods_v6.v.prefix_len() != 96 {
        return Err(r.pods_v6.pos.err(ErrorKind::Invalid(format!(
            "{} must be a /96: pod v6 addresses embed the v4 address",
            r.pods_v6.v
        ))));
    }
    check_block_len(&r.block_len, r.pods_v4.v.prefix_len())?;
    let pool_len = r.rack_pool_len.v;
    if pool_len < r.pods_v4.v.prefix_len() || pool_len > r.block_len.v {
        return Err(r.rack_pool_len.pos.err(ErrorKind::Invalid(format!(
            "rack pools of /{pool_len} must fit in {} and hold at least one /{} block",
            r.pods_v4.v, r.block_len.v
        ))));
    }
    let v4s = [&r.loopbacks_v4, &r.links_v4, &r.pods_v4];
    for (i, a) in v4s.iter().enumerate() {
        for b in v4s.iter().skip(i + 1) {
            if a.v.contains(&b.v.network()) || b.v.contains(&a.v.network()) {
                return Err(b.pos.err(ErrorKind::OverlappingRanges(format!(
                    "{} ({}) and {} ({})",
                    a.v, a.pos.field, b.v, b.pos.field
                ))));
            }
        }
    }
    let v6s = [&r.loopbacks_v6, &r.links_v6, &r.pods_v6];
    for (i, a) in v6s.iter().enumerate() {
        for b in v6s.iter().skip(i + 1) {
            if a.v.contains(&b.v.network()) || b.v.contains(&a.v.network()) {
                return Err(b.pos.err(ErrorKind::OverlappingRanges(format!(
                    "{} ({}) and {} ({})",
                    a.v, a.pos.field, b.v, b.pos.field
                ))));
            }
        }
    }
    Ok(r)
}

/// Calico accepts v4 block sizes 20..=32, and a block must fit in its pool.
fn check_block_len(b: &At<u8>, pool_len: u8) -> Result<(), Problem> {
    if !(20..=32).contains(&b.v) || b.v < pool_len {
        return Err(b.pos.err(ErrorKind::Invalid(format!(
            "block size /{} must be between /20 and /32 (Calico) and no larger than its pool (/{pool_len})",
            b.v
        ))));
    }
    Ok(())
}

/// Loopback pair of node `i`.
pub(crate) fn loopbacks(r: &Ranges, count: usize) -> Result<Vec<(Ipv4Addr, Ipv6Addr)>, Problem> {
    if count as u64 >= size4(&r.loopbacks_v4.v) {
        return Err(r.loopbacks_v4.pos.err(ErrorKind::RangeExhausted(format!(
            "{} has too few addresses for {count} loopbacks",
            r.loopbacks_v4.v
        ))));
    }
    if count as u128 >= size6(&r.loopbacks_v6.v) {
        return Err(r.loopbacks_v6.pos.err(ErrorKind::RangeExhausted(format!(
            "{} has too few addresses for {count} loopbacks",
            r.loopbacks_v6.v
        ))));
    }
    let b4 = u32::from(r.loopbacks_v4.v.network());
    let b6 = u128::from(r.loopbacks_v6.v.network());
    Ok((0..count)
        .map(|i| {
            (
                Ipv4Addr::from(b4.wrapping_add(i as u32 + 1)),
                Ipv6Addr::from(b6.wrapping_add(i as u128 + 1)),
            )
        })
        .collect())
}

/// Link `k`'s addresses: ((a v4, b v4), (a v6, b v6)).
pub(crate) type LinkAddrs = ((Ipv4Net, Ipv4Net), (Ipv6Net, Ipv6Net));

pub(crate) fn link_addrs(r: &Ranges, count: usize) -> Result<Vec<LinkAddrs>, Problem> {
    if (count as u64).saturating_mul(2) > size4(&r.links_v4.v) {
        return Err(r.links_v4.pos.err(ErrorKind::RangeExhausted(format!(
            "{} holds {} /31s, the fabric has {count} links",
            r.links_v4.v,
            size4(&r.links_v4.v) / 2
        ))));
    }
    if (count as u128).saturating_mul(2) > size6(&r.links_v6.v) {
        return Err(r.links_v6.pos.err(ErrorKind::RangeExhausted(format!(
            "{} has too few /127s for {count} links",
            r.links_v6.v
        ))));
    }
    let b4 = u32::from(r.links_v4.v.network());
    let b6 = u128::from(r.links_v6.v.network());
    let mut out = Vec::with_capacity(count);
    for k in 0..count {
        let a4 = Ipv4Addr::from(b4.wrapping_add(2 * k as u32));
        let z4 = Ipv4Addr::from(b4.wrapping_add(2 * k as u32 + 1));
        let a6 = Ipv6Addr::from(b6.wrapping_add(2 * k as u128));
        let z6 = Ipv6Addr::from(b6.wrapping_add(2 * k as u128 + 1));
        let n4 = |a| Ipv4Net::new(a, 31).unwrap_or_default();
        let n6 = |a| Ipv6Net::new(a, 127).unwrap_or_default();
        out.push(((n4(a4), n4(z4)), (n6(a6), n6(z6))));
    }
    Ok(out)
}

/// The v6 twin of a pod address.
pub(crate) fn embed_v6(r: &Ranges, a: Ipv4Addr) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(r.pods_v6.v.network()) | u128::from(u32::from(a)))
}

/// The v6 twin of a pool or block.
pub(crate) fn embed_net_v6(r: &Ranges, n: Ipv4Net) -> Ipv6Net {
    Ipv6Net::new(embed_v6(r, n.network()), n.prefix_len() + 96).unwrap_or_default()
}

/// A pool plus where it was written (for errors) and its block length.
pub(crate) struct PoolAt {
    pub plan: PoolPlan,
    pub pos: Pos,
}

/// The pools: as listed, or one default per rack that has nodes.
pub(crate) fn pools(r: &Ranges, draft: &Draft) -> Result<Vec<PoolAt>, Problem> {
    let mut out: Vec<PoolAt> = Vec::new();
    match &draft.pools {
        Some(list) => {
            for p in list {
                if p.cidr.trunc() != p.cidr {
                    return Err(host_bits_error(&p.pos, &p.cidr));
                }
                let block = p.block_len.clone().unwrap_or_else(|| r.block_len.clone());
                check_block_len(&block, p.cidr.prefix_len())?;
                if out.iter().any(|o| o.plan.name == p.name) {
                    return Err(p.pos.err(ErrorKind::Invalid(format!(
                        "duplicate pool name `{}`",
                        p.name
                    ))));
                }
                out.push(PoolAt {
                    plan: PoolPlan {
                        name: p.name.clone(),
                        cidr: p.cidr,
                        block_len: block.v,
                        rack: Some(p.rack),
                        cidr_v6: embed_net_v6(r, p.cidr),
                    },
                    pos: p.pos.clone(),
                });
            }
        }
        None => {
            let mut racks: Vec<u32> = draft
                .nodes
                .iter()
                .filter(|n| n.role == Role::Node)
                .filter_map(|n| n.rack)
                .collect();
            racks.sort_unstable();
            racks.dedup();
            let pods = r.pods_v4.v;
            let len = r.rack_pool_len.v;
            let per = 1u64 << (len - pods.prefix_len());
            let step = size4(&Ipv4Net::new(Ipv4Addr::UNSPECIFIED, len).unwrap_or_default());
            for rack in racks {
                let i = u64::from(rack.saturating_sub(1));
                if i >= per {
                    return Err(r.pods_v4.pos.err(ErrorKind::RangeExhausted(format!(
                        "{pods} holds {per} rack pools of /{len}; rack {rack} needs the {}th",
                        i + 1
                    ))));
                }
                let net = u64::from(u32::from(pods.network())) + i * step;
                let cidr = Ipv4Net::new(Ipv4Addr::from(net as u32), len).unwrap_or_default();
                out.push(PoolAt {
                    plan: PoolPlan {
                        name: format!("rack{rack}"),
                        cidr,
                        block_len: r.block_len.v,
                        rack: Some(rack),
                        cidr_v6: embed_net_v6(r, cidr),
                    },
                    pos: r.rack_pool_len.pos.clone(),
                });
            }
        }
    }
    // Pools must be disjoint (Calico rejects overlapping IPPools) and clear of the fabric's
    // own ranges.
    let mut sorted: Vec<&PoolAt> = out.iter().collect();
    sorted.sort_by_key(|p| (p.plan.cidr.network(), p.plan.cidr.prefix_len()));
    for w in sorted.windows(2) {
        if let [a, b] = w {
            if a.plan.cidr.contains(&b.plan.cidr.network()) {
                let later = if a.pos.line > b.pos.line { a } else { b };
                return Err(later.pos.err(ErrorKind::OverlappingPools {
                    a: a.plan.cidr,
                    b: b.plan.cidr,
                }));
            }
        }
    }
    for p in &out {
        for fabric in [&r.loopbacks_v4, &r.links_v4] {
            if p.plan.cidr.contains(&fabric.v.network())
                || fabric.v.contains(&p.plan.cidr.network())
            {
                return Err(p.pos.err(ErrorKind::OverlappingRanges(format!(
                    "pool {} and {} ({})",
                    p.plan.cidr, fabric.v, fabric.pos.field
                ))));
            }
        }
    }
    Ok(out)
}

/// Blocks per draft node (empty for routers), drawn in plan order from the rack's pools.
pub(crate) fn blocks(pools: &[PoolAt], draft: &Draft) -> Result<Vec<Vec<Ipv4Net>>, Problem> {
    // Next free block index per pool.
    let mut next: Vec<u64> = vec![0; pools.len()];
    let mut out = Vec::with_capacity(draft.nodes.len());
    for n in &draft.nodes {
        let mut mine = Vec::new();
        if n.role != Role::Node {
            out.push(mine);
            continue;
        }
        let rack = n.rack.unwrap_or(0);
        let mine_pools: Vec<usize> = pools
            .iter()
            .enumerate()
            .filter(|(_, p)| p.plan.rack == Some(rack))
            .map(|(i, _)| i)
            .collect();
        if mine_pools.is_empty() {
            return Err(n.pos.err(ErrorKind::Invalid(format!(
                "no pool selects rack {rack} (every node needs a pool for its pods)"
            ))));
        }
        let mut capacity: u64 = 0;
        while mine.is_empty() || capacity < u64::from(n.pods) {
            let free = mine_pools.iter().copied().find(|&i| {
                let p = &pools[i].plan;
                next[i] < 1u64 << (p.block_len - p.cidr.prefix_len())
            });
            let Some(i) = free else {
                let last = mine_pools.last().and_then(|&i| pools.get(i));
                let (pos, desc) = match last {
                    Some(p) => (p.pos.clone(), describe_pools(pools, &mine_pools)),
                    None => (n.pos.clone(), String::new()),
                };
                return Err(pos.err(ErrorKind::PoolExhausted(format!(
                    "rack {rack}: {desc} has no block left for node {} (needs room for {} pods)",
                    n.name, n.pods
                ))));
            };
            let p = &pools[i].plan;
            let bsize = 1u64 << (32 - u32::from(p.block_len));
            let start = u64::from(u32::from(p.cidr.network())) + next[i] * bsize;
            mine.push(Ipv4Net::new(Ipv4Addr::from(start as u32), p.block_len).unwrap_or_default());
            next[i] += 1;
            capacity += bsize;
        }
        out.push(mine);
    }
    Ok(out)
}

fn describe_pools(pools: &[PoolAt], idx: &[usize]) -> String {
    idx.iter()
        .filter_map(|&i| pools.get(i))
        .map(|p| {
            format!(
                "pool {} ({}, {} blocks of /{})",
                p.plan.name,
                p.plan.cidr,
                1u64 << (p.plan.block_len - p.plan.cidr.prefix_len()),
                p.plan.block_len
            )
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The `j`-th pod address of a node with these blocks (all block addresses usable).
pub(crate) fn pod_addr(blocks: &[Ipv4Net], j: u64) -> Option<(Ipv4Addr, Ipv4Net)> {
    let mut j = j;
    for b in blocks {
        let size = size4(b);
        if j < size {
            return Some((Ipv4Addr::from(u32::from(b.network()) + j as u32), *b));
        }
        j -= size;
    }
    None
}
