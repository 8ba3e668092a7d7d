//! Members kept in order of a key (latency, load, failure score), so "the
//! best available member" is the first entry and the next-best follow in
//! O(log n). Unavailable members simply have no key.

use std::collections::BTreeSet;

use super::Members;
use crate::pool::Slot;

/// Members ordered by `K`, ties broken by slot.
#[derive(Clone, Debug)]
pub(crate) struct OrderedIndex<K: Ord + Copy> {
    members: Members,
    keys: Vec<Option<K>>,
    set: BTreeSet<(K, Slot)>,
}

impl<K: Ord + Copy> OrderedIndex<K> {
    pub fn new(members: Members, key: impl Fn(Slot) -> Option<K>) -> OrderedIndex<K> {
        let keys: Vec<Option<K>> = members.slots().iter().map(|&s| key(s)).collect();
        let set = members
            .slots()
            .iter()
            .zip(&keys)
            .filter_map(|(&s, k)| k.map(|k| (k, s)))
            .collect();
        OrderedIndex { members, keys, set }
    }

    pub fn members(&self) -> &Members {
        &self.members
    }

    /// The member's current key, `None` when unavailable or not a member.
    pub fn key(&self, slot: Slot) -> Option<K> {
        self.members.pos(slot).and_then(|p| self.keys[p])
    }

    /// Sets (or with `None`, removes) a member's key; ignores non-members.
    pub fn set(&mut self, slot: Slot, key: Option<K>) {
        let Some(pos) = self.members.pos(slot) else {
            return;
        };
        let old = self.keys[pos];
        if old == key {
            return;
        }
        if let Some(k) = old {
            self.set.remove(&(k, slot));
        }
        if let Some(k) = key {
            self.set.insert((k, slot));
        }
        self.keys[pos] = key;
    }

    /// Available members, best key first.
    pub fn iter(&self) -> impl Iterator<Item = (K, Slot)> + '_ {
        self.set.iter().copied()
    }

    /// Pushes available members in key order, skipping those already in
    /// `out` or refused by `accept`, until `out` holds `want`.
    pub fn fill(&self, want: usize, out: &mut Vec<Slot>, mut accept: impl FnMut(Slot) -> bool) {
        for (_, s) in self.iter() {
            if out.len() >= want {
                break;
            }
            if !out.contains(&s) && accept(s) {
                out.push(s);
            }
        }
    }

    /// Available members strictly after `(key, slot)` in key order.
    pub fn iter_after(&self, key: K, slot: Slot) -> impl Iterator<Item = (K, Slot)> + '_ {
        use std::ops::Bound::{Excluded, Unbounded};
        self.set.range((Excluded((key, slot)), Unbounded)).copied()
    }
}

/// Maps an `f64` to an `i64` with the same total order (NaN sorts last), so
/// float scores can be BTree keys.
pub(crate) fn ordered_f64(x: f64) -> i64 {
    let x = if x.is_nan() { f64::INFINITY } else { x };
    let bits = x.to_bits() as i64;
    if bits < 0 { bits ^ i64::MAX } else { bits }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_f64_keeps_order() {
        let xs = [
            f64::NEG_INFINITY,
            -3.5,
            -0.0,
            0.0,
            1e-9,
            2.0,
            1e30,
            f64::INFINITY,
        ];
        for pair in xs.windows(2) {
            assert!(ordered_f64(pair[0]) <= ordered_f64(pair[1]), "{pair:?}");
        }
        assert!(ordered_f64(-1.0) < ordered_f64(1.0));
    }

    #[test]
    fn keys_move_members() {
        let mut idx = OrderedIndex::new(Members::new(vec![1, 2, 3]), |s| Some(10 - s as i64));
        assert_eq!(
            idx.iter().map(|(_, s)| s).collect::<Vec<_>>(),
            vec![3, 2, 1]
        );
        idx.set(3, None);
        idx.set(1, Some(0));
        assert_eq!(idx.iter().map(|(_, s)| s).collect::<Vec<_>>(), vec![1, 2]);
        idx.set(99, Some(0));
        assert_eq!(idx.iter().count(), 2);
    }
}
