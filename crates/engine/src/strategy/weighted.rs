//! Weighted: random in proportion to weight (0–100; 0 is never picked). The
//! config's `weights` override the pool's. A Fenwick tree of weights gives an
//! O(log n) draw and O(log n) updates when availability changes, where an
//! alias table would need an O(n) rebuild.

use super::{BuildCtx, PickCtx};
use crate::config::WeightedConfig;
use crate::health::ProxyView;
use crate::index::{AvailSet, Members};
use crate::pool::Slot;
use crate::time::Timestamp;

#[derive(Clone)]
pub(crate) struct Weighted {
    set: AvailSet,
}

impl Weighted {
    pub fn new(members: Members, config: &WeightedConfig, b: &BuildCtx<'_>) -> Weighted {
        let weights: Vec<u64> = members
            .slots()
            .iter()
            .map(|&s| {
                let p = b.pool.proxy(s);
                u64::from(config.weights.get(&p.id).copied().unwrap_or(p.weight))
            })
            .collect();
        Weighted {
            set: AvailSet::new(members, Some(weights), |s| (b.view)(s).available),
        }
    }

    pub fn pick(&mut self, ctx: &mut PickCtx<'_>, out: &mut Vec<Slot>) {
        let filter = ctx.filter;
        self.set
            .sample(ctx.rng, ctx.want, out, &filter.excluded, |s| {
                filter.allows(s)
            });
    }

    pub fn update(&mut self, slot: Slot, view: &ProxyView, _now: Timestamp) {
        self.set.set_available(slot, view.available);
    }

    pub fn members(&self) -> &Members {
        self.set.members()
    }
}
