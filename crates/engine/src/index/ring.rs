//! A consistent-hash ring over proxy ids for sticky sessions. Each member gets
//! several virtual points; a key maps to the first point clockwise of its
//! hash. Adding one proxy to n moves about 1/(n+1) of keys, and a proxy going
//! away moves only its own keys. Lookup is a binary search, O(log n).

use super::{mix64, stable_hash};
use crate::ids::ProxyId;
use crate::pool::Slot;

/// Virtual points per member: many for small pools (even spread), fewer for
/// huge ones (memory), keeping the ring near a million points at most.
fn points_per_member(n: usize) -> usize {
    (1_000_000 / n.max(1)).clamp(8, 160)
}

#[derive(Clone, Debug, Default)]
pub(crate) struct HashRing {
    points: Vec<(u64, Slot)>,
    per_member: usize,
}

impl HashRing {
    pub fn new(members: &[(Slot, ProxyId)]) -> HashRing {
        let per_member = points_per_member(members.len());
        let mut points = Vec::with_capacity(members.len() * per_member);
        for &(slot, id) in members {
            let base = stable_hash(&id.0.to_le_bytes(), 0x5eed);
            for v in 0..per_member as u64 {
                points.push((mix64(base ^ v.wrapping_mul(0x9e37_79b9_7f4a_7c15)), slot));
            }
        }
        points.sort_unstable();
        HashRing { points, per_member }
    }

    /// How many points a walk may visit before giving up on the ring: enough
    /// to pass `members` distinct proxies' worth of points on average.
    pub fn walk_budget(&self, members: usize) -> usize {
        (self.per_member * members.max(1)).min(self.points.len())
    }

    /// Slots clockwise from `hash`, one per point (members repeat).
    pub fn walk(&self, hash: u64) -> impl Iterator<Item = Slot> + '_ {
        let start = self.points.partition_point(|&(h, _)| h < hash);
        let n = self.points.len();
        (0..n).map(move |i| self.points[(start + i) % n].1)
    }
}
