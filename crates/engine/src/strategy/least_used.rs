//! Least-used: the available proxy with the fewest active connections, ties
//! broken by the fewest recent requests (a count that halves every
//! `requestHalfLife`, compared in forward-decay form so no entry needs
//! touching as time passes), then by pool order.

use super::{BuildCtx, PickCtx};
use crate::health::ProxyView;
use crate::index::{Members, OrderedIndex, ordered_f64};
use crate::pool::Slot;
use crate::time::Timestamp;

#[derive(Clone)]
pub(crate) struct LeastUsed {
    index: OrderedIndex<(u32, i64)>,
}

fn key(view: &ProxyView) -> Option<(u32, i64)> {
    view.available
        .then(|| (view.active, ordered_f64(view.recent_key)))
}

impl LeastUsed {
    pub fn new(members: Members, b: &BuildCtx<'_>) -> LeastUsed {
        LeastUsed {
            index: OrderedIndex::new(members, |s| key(&(b.view)(s))),
        }
    }

    pub fn pick(&mut self, ctx: &mut PickCtx<'_>, out: &mut Vec<Slot>) {
        self.index.fill(ctx.want, out, |s| ctx.allows(s));
    }

    pub fn update(&mut self, slot: Slot, view: &ProxyView, _now: Timestamp) {
        self.index.set(slot, key(view));
    }

    pub fn members(&self) -> &Members {
        self.index.members()
    }
}
