//! Index structures that keep selection sub-linear in the pool size. Each
//! strategy instance owns the indexes it needs over its scope's members and
//! keeps them in step through `update` calls when a proxy's state changes.

mod avail_set;
mod fenwick;
mod ordered;
mod ring;

pub(crate) use avail_set::{AvailSet, Members};
pub(crate) use fenwick::Fenwick;
pub(crate) use ordered::{OrderedIndex, ordered_f64};
pub(crate) use ring::HashRing;

/// A stable 64-bit hash (FNV-1a then a splitmix64 finaliser). Stable across
/// builds and platforms, unlike `std`'s hasher, so ring positions and
/// persisted decisions do not move on upgrade.
pub(crate) fn stable_hash(bytes: &[u8], seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// splitmix64's finaliser: spreads every input bit over the output.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
