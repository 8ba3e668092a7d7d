//! The members of a scope and which of them are available right now, with
//! optional per-member weights. Supports the two access patterns most
//! strategies reduce to: a cyclic walk from a cursor (round-robin, failover,
//! time-based, geographic tiers) and sampling without replacement (random,
//! weighted). Both cost O(log n) per candidate produced.

use rand::{Rng, RngCore};

use super::Fenwick;
use crate::pool::Slot;

/// A sorted list of slots with O(log n) position lookup and no extra memory.
#[derive(Clone, Debug, Default)]
pub(crate) struct Members {
    slots: Vec<Slot>,
}

impl Members {
    pub fn new(mut slots: Vec<Slot>) -> Members {
        slots.sort_unstable();
        slots.dedup();
        Members { slots }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn slot(&self, pos: usize) -> Slot {
        self.slots[pos]
    }

    pub fn pos(&self, slot: Slot) -> Option<usize> {
        self.slots.binary_search(&slot).ok()
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }
}

/// Members plus a Fenwick tree holding each available member's weight.
#[derive(Clone, Debug)]
pub(crate) struct AvailSet {
    members: Members,
    /// Weight of each member when available; `None` means every weight is 1.
    weights: Option<Vec<u64>>,
    fen: Fenwick,
    /// Members currently holding a non-zero value in `fen`.
    nonzero: usize,
}

impl AvailSet {
    /// `weight(slot)` gives each member's weight (1 for unweighted sets);
    /// `available(slot)` its starting availability.
    pub fn new(
        members: Members,
        weights: Option<Vec<u64>>,
        available: impl Fn(Slot) -> bool,
    ) -> AvailSet {
        let values: Vec<u64> = (0..members.len())
            .map(|pos| {
                let w = weights.as_ref().map_or(1, |w| w[pos]);
                if available(members.slot(pos)) { w } else { 0 }
            })
            .collect();
        let nonzero = values.iter().filter(|&&v| v > 0).count();
        AvailSet {
            members,
            weights,
            fen: Fenwick::from_values(values),
            nonzero,
        }
    }

    pub fn members(&self) -> &Members {
        &self.members
    }

    pub fn is_available(&self, slot: Slot) -> bool {
        self.members.pos(slot).is_some_and(|p| self.fen.get(p) > 0)
    }

    /// Records a member's availability; ignores slots that are not members.
    pub fn set_available(&mut self, slot: Slot, available: bool) {
        if let Some(pos) = self.members.pos(slot) {
            self.set_pos(pos, available);
        }
    }

    fn set_pos(&mut self, pos: usize, available: bool) {
        let w = self.weights.as_ref().map_or(1, |w| w[pos]);
        let value = if available { w } else { 0 };
        let old = self.fen.set(pos, value);
        match (old > 0, value > 0) {
            (false, true) => self.nonzero += 1,
            (true, false) => self.nonzero -= 1,
            _ => {}
        }
    }

    /// Visits available members in cyclic order from position `start`,
    /// pushing each one `accept` takes until `out` holds `want`. Returns the
    /// position of the first member taken, so callers can move a cursor.
    pub fn walk(
        &self,
        start: usize,
        want: usize,
        out: &mut Vec<Slot>,
        mut accept: impl FnMut(Slot) -> bool,
    ) -> Option<usize> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        let mut first = None;
        let mut at = start % n;
        for _ in 0..self.nonzero {
            if out.len() >= want {
                break;
            }
            let Some(pos) = self.fen.next_nonzero_from(at) else {
                break;
            };
            let slot = self.members.slot(pos);
            if !out.contains(&slot) && accept(slot) {
                out.push(slot);
                first.get_or_insert(pos);
            }
            at = (pos + 1) % n;
        }
        first
    }

    /// Draws members with probability proportional to weight, without
    /// replacement, until `out` holds `want`. `skip` members are never drawn;
    /// members `accept` refuses are dropped. Draws first by rejection (no
    /// tree updates, the common case), then exactly, by removing what was
    /// drawn or refused, when rejection keeps missing.
    pub fn sample(
        &mut self,
        rng: &mut dyn RngCore,
        want: usize,
        out: &mut Vec<Slot>,
        skip: &[Slot],
        mut accept: impl FnMut(Slot) -> bool,
    ) {
        let mut tries = 0;
        while out.len() < want && self.fen.total() > 0 && tries < 2 * want + 4 {
            tries += 1;
            let target = rng.random_range(0..self.fen.total());
            let Some(pos) = self.fen.find(target) else {
                break;
            };
            let slot = self.members.slot(pos);
            if !out.contains(&slot) && !skip.contains(&slot) && accept(slot) {
                out.push(slot);
            }
        }
        if out.len() >= want {
            return;
        }
        let mut removed: Vec<usize> = Vec::new();
        for &slot in skip.iter().chain(out.iter()) {
            if let Some(pos) = self.members.pos(slot)
                && self.fen.get(pos) > 0
            {
                self.set_pos(pos, false);
                removed.push(pos);
            }
        }
        while out.len() < want && self.fen.total() > 0 {
            let target = rng.random_range(0..self.fen.total());
            let Some(pos) = self.fen.find(target) else {
                break;
            };
            self.set_pos(pos, false);
            removed.push(pos);
            let slot = self.members.slot(pos);
            if accept(slot) {
                out.push(slot);
            }
        }
        for pos in removed {
            self.set_pos(pos, true);
        }
    }
}
