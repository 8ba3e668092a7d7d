//! Round-robin: the next available proxy after the last one used, in pool
//! order. A Fenwick tree over availability finds "next available at or after
//! the cursor" in O(log n), however many proxies are down.

use super::{BuildCtx, PickCtx};
use crate::health::ProxyView;
use crate::index::{AvailSet, Members};
use crate::pool::Slot;
use crate::time::Timestamp;

#[derive(Clone)]
pub(crate) struct RoundRobin {
    set: AvailSet,
    cursor: usize,
}

impl RoundRobin {
    pub fn new(members: Members, b: &BuildCtx<'_>) -> RoundRobin {
        RoundRobin {
            set: AvailSet::new(members, None, |s| (b.view)(s).available),
            cursor: 0,
        }
    }

    pub fn pick(&mut self, ctx: &mut PickCtx<'_>, out: &mut Vec<Slot>) {
        if let Some(first) = self.set.walk(self.cursor, ctx.want, out, |s| ctx.allows(s)) {
            self.cursor = first + 1;
        }
    }

    pub fn update(&mut self, slot: Slot, view: &ProxyView, _now: Timestamp) {
        self.set.set_available(slot, view.available);
    }

    pub fn members(&self) -> &Members {
        self.set.members()
    }
}
