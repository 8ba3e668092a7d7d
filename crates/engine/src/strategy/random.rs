//! Random: a uniformly random available proxy; fallbacks are further draws
//! without replacement. Sampling walks a Fenwick tree, O(log n) per draw.

use super::{BuildCtx, PickCtx};
use crate::health::ProxyView;
use crate::index::{AvailSet, Members};
use crate::pool::Slot;
use crate::time::Timestamp;

#[derive(Clone)]
pub(crate) struct Random {
    set: AvailSet,
}

impl Random {
    pub fn new(members: Members, b: &BuildCtx<'_>) -> Random {
        Random {
            set: AvailSet::new(members, None, |s| (b.view)(s).available),
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
