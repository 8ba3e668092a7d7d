//! Fastest: the available proxy with the lowest connect-latency EWMA, kept in
//! a latency-ordered index. To avoid flapping between near-equal proxies the
//! current choice is kept while it is within `tolerance` (relative) plus
//! `toleranceMs` (absolute) of the best. Proxies never measured sort last.

use super::{BuildCtx, PickCtx};
use crate::config::FastestConfig;
use crate::events::{RotationKey, RotationReason};
use crate::health::ProxyView;
use crate::index::{Members, OrderedIndex};
use crate::pool::Slot;
use crate::time::Timestamp;

const UNMEASURED: u64 = u64::MAX;

#[derive(Clone)]
pub(crate) struct Fastest {
    index: OrderedIndex<u64>,
    config: FastestConfig,
    current: Option<Slot>,
    forced: bool,
}

fn key(view: &ProxyView) -> Option<u64> {
    view.available.then(|| {
        view.latency_us
            .map_or(UNMEASURED, |us| us.max(0.0).round() as u64)
    })
}

impl Fastest {
    pub fn new(members: Members, config: &FastestConfig, b: &BuildCtx<'_>) -> Fastest {
        Fastest {
            index: OrderedIndex::new(members, |s| key(&(b.view)(s))),
            config: config.clone(),
            current: None,
            forced: false,
        }
    }

    fn within_tolerance(&self, candidate: u64, best: u64) -> bool {
        if best == UNMEASURED {
            return true;
        }
        let limit =
            best as f64 * (1.0 + self.config.tolerance) + self.config.tolerance_ms as f64 * 1000.0;
        (candidate as f64) <= limit
    }

    pub fn pick(&mut self, ctx: &mut PickCtx<'_>, out: &mut Vec<Slot>) {
        let mut ranked = self
            .index
            .iter()
            .filter(|&(_, s)| ctx.allows(s) && !out.contains(&s));
        let Some((best_key, best)) = ranked.next() else {
            return;
        };
        let second = ranked.next().map(|(_, s)| s);
        let held = self.current;
        let (first, reason) = match held {
            None => (best, Some(RotationReason::Startup)),
            Some(cur) if self.forced => {
                let alternative = if cur == best {
                    second.unwrap_or(best)
                } else {
                    best
                };
                (alternative, Some(RotationReason::Manual))
            }
            Some(cur) => match self.index.key(cur) {
                None => (best, Some(RotationReason::Failure)),
                Some(_) if !ctx.allows(cur) => (best, None),
                Some(k) if self.within_tolerance(k, best_key) => (cur, None),
                Some(_) => (best, Some(RotationReason::Scheduled)),
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
        self.index.set(slot, key(view));
    }

    pub fn members(&self) -> &Members {
        self.index.members()
    }

    pub fn force_rotation(&mut self) {
        self.forced = true;
    }
}
