//! Time-based: hold one proxy for `interval` (± `jitter`, drawn from the
//! caller's RNG) or `maxRequestsPerProxy` selections, whichever comes first,
//! then move to the next available proxy in round-robin order. With
//! `scheduleWindows`, scheduled rotation happens only inside the windows; an
//! unusable held proxy is replaced at once, window or not.

use std::time::Duration;

use rand::Rng;

use super::{BuildCtx, PickCtx};
use crate::config::TimeBasedConfig;
use crate::events::{RotationKey, RotationReason};
use crate::health::ProxyView;
use crate::index::{AvailSet, Members};
use crate::pool::Slot;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug)]
struct Hold {
    slot: Slot,
    until: Timestamp,
    count: u32,
}

#[derive(Clone)]
pub(crate) struct TimeBased {
    set: AvailSet,
    cursor: usize,
    hold: Option<Hold>,
    config: TimeBasedConfig,
    interval: Option<Duration>,
    max_requests: Option<u32>,
    utc_offset: i32,
    forced: bool,
}

impl TimeBased {
    pub fn new(members: Members, config: &TimeBasedConfig, b: &BuildCtx<'_>) -> TimeBased {
        TimeBased {
            set: AvailSet::new(members, None, |s| (b.view)(s).available),
            cursor: 0,
            hold: None,
            config: config.clone(),
            interval: b.common.interval,
            max_requests: b.common.max_requests_per_proxy,
            utc_offset: b.common.utc_offset_minutes,
            forced: false,
        }
    }

    fn in_window(&self, now: Timestamp) -> bool {
        let local = now.local_fields(self.utc_offset);
        self.config.schedule_windows.is_empty()
            || self
                .config
                .schedule_windows
                .iter()
                .any(|w| w.contains(local.weekday, local.minute_of_day()))
    }

    fn hold_until(&self, ctx: &mut PickCtx<'_>) -> Timestamp {
        let Some(interval) = self.interval else {
            return Timestamp::from_millis(i64::MAX);
        };
        let j = self.config.jitter;
        let factor = if j > 0.0 {
            1.0 + ctx.rng.random_range(-j..=j)
        } else {
            1.0
        };
        ctx.now.after(interval.mul_f64(factor.max(0.0)))
    }

    pub fn pick(&mut self, ctx: &mut PickCtx<'_>, out: &mut Vec<Slot>) {
        let now = ctx.now;
        let reason = match self.hold {
            None => Some(RotationReason::Startup),
            Some(h) if !self.set.is_available(h.slot) => Some(RotationReason::Failure),
            Some(_) if self.forced => Some(RotationReason::Manual),
            Some(h)
                if (now >= h.until || self.max_requests.is_some_and(|m| h.count >= m))
                    && self.in_window(now) =>
            {
                Some(RotationReason::Scheduled)
            }
            Some(_) => None,
        };
        if let Some(reason) = reason {
            let previous = self.hold.map(|h| h.slot);
            let mut next = Vec::with_capacity(1);
            let mut pos = self.set.walk(self.cursor, 1, &mut next, |s| {
                ctx.allows(s) && Some(s) != previous
            });
            if pos.is_none() {
                pos = self.set.walk(self.cursor, 1, &mut next, |s| ctx.allows(s));
            }
            if let (Some(pos), Some(&slot)) = (pos, next.first()) {
                self.cursor = pos + 1;
                let until = self.hold_until(ctx);
                self.hold = Some(Hold {
                    slot,
                    until,
                    count: 0,
                });
                self.forced = false;
                if previous != Some(slot) {
                    ctx.event(RotationKey::Held, previous, Some(slot), reason);
                }
            }
        }
        if let Some(h) = &mut self.hold
            && self.set.is_available(h.slot)
            && ctx.filter.allows(h.slot)
            && !out.contains(&h.slot)
        {
            h.count = h.count.saturating_add(1);
            out.push(h.slot);
        }
        self.set.walk(self.cursor, ctx.want, out, |s| ctx.allows(s));
    }

    pub fn update(&mut self, slot: Slot, view: &ProxyView, _now: Timestamp) {
        self.set.set_available(slot, view.available);
    }

    pub fn members(&self) -> &Members {
        self.set.members()
    }

    pub fn force_rotation(&mut self) {
        self.forced = true;
    }
}
