//! Failover: a fixed order (the config's `failoverOrder`, then the rest by
//! weight descending and id); traffic goes to the first available proxy and
//! stays on it. When a proxy earlier in the order is available again it gets
//! traffic back only after `returnAfterSuccesses` consecutive successes (from
//! health checks or probes), so a flapping primary does not drag traffic
//! back and forth. An index ordered by rank finds the first in O(log n).

use std::collections::HashMap;

use super::{BuildCtx, PickCtx};
use crate::config::FailoverConfig;
use crate::events::{RotationKey, RotationReason};
use crate::health::ProxyView;
use crate::index::{Members, OrderedIndex};
use crate::pool::Slot;
use crate::time::Timestamp;

#[derive(Clone)]
pub(crate) struct Failover {
    index: OrderedIndex<u32>,
    ranks: Vec<u32>,
    successes: Vec<u32>,
    return_after: u32,
    current: Option<Slot>,
    forced: bool,
}

impl Failover {
    pub fn new(members: Members, config: &FailoverConfig, b: &BuildCtx<'_>) -> Failover {
        let listed: HashMap<_, usize> = config
            .failover_order
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i))
            .collect();
        let mut order: Vec<Slot> = members.slots().to_vec();
        order.sort_by_key(|&s| {
            let p = b.pool.proxy(s);
            (
                listed.get(&p.id).copied().unwrap_or(usize::MAX),
                std::cmp::Reverse(p.weight),
                p.id,
            )
        });
        let mut ranks = vec![0u32; members.len()];
        for (rank, &slot) in order.iter().enumerate() {
            if let Some(pos) = members.pos(slot) {
                ranks[pos] = rank as u32;
            }
        }
        let successes = members
            .slots()
            .iter()
            .map(|&s| (b.view)(s).consecutive_successes)
            .collect();
        let index = OrderedIndex::new(members.clone(), |s| {
            let pos = members.pos(s)?;
            (b.view)(s).available.then_some(ranks[pos])
        });
        Failover {
            index,
            ranks,
            successes,
            return_after: config.return_after_successes,
            current: None,
            forced: false,
        }
    }

    fn successes_of(&self, slot: Slot) -> u32 {
        self.index
            .members()
            .pos(slot)
            .map_or(0, |p| self.successes[p])
    }

    pub fn pick(&mut self, ctx: &mut PickCtx<'_>, out: &mut Vec<Slot>) {
        let Some((best_rank, best)) = self
            .index
            .iter()
            .find(|&(_, s)| ctx.allows(s) && !out.contains(&s))
        else {
            return;
        };
        let held = self.current;
        let (first, reason) = match held {
            None => (best, Some(RotationReason::Startup)),
            Some(cur) if self.forced => {
                let next = self.index.key(cur).and_then(|rank| {
                    self.index
                        .iter_after(rank, cur)
                        .find(|&(_, s)| ctx.allows(s))
                        .map(|(_, s)| s)
                });
                (next.unwrap_or(best), Some(RotationReason::Manual))
            }
            Some(cur) => match self.index.key(cur) {
                None => (best, Some(RotationReason::Failure)),
                Some(_) if !ctx.allows(cur) => (best, None),
                Some(rank) if best_rank < rank && self.successes_of(best) >= self.return_after => {
                    (best, Some(RotationReason::Recovered))
                }
                Some(_) => (cur, None),
            },
        };
        self.forced = false;
        if let Some(reason) = reason {
            if held != Some(first) {
                ctx.event(RotationKey::Held, held, Some(first), reason);
            }
            self.current = Some(first);
        }
        out.push(first);
        self.index.fill(ctx.want, out, |s| ctx.allows(s));
    }

    pub fn update(&mut self, slot: Slot, view: &ProxyView, _now: Timestamp) {
        let Some(pos) = self.index.members().pos(slot) else {
            return;
        };
        self.successes[pos] = view.consecutive_successes;
        let rank = self.ranks[pos];
        self.index.set(slot, view.available.then_some(rank));
    }

    pub fn members(&self) -> &Members {
        self.index.members()
    }

    pub fn force_rotation(&mut self) {
        self.forced = true;
    }
}
