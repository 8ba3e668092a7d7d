//! Geographic: proxies in the preferred countries first, in the given order,
//! and within each country those in preferred regions first; then preferred
//! regions anywhere; then (unless `fallbackToAny` is false) any country not
//! excluded. Each tier is its own round-robin, so traffic rotates within a
//! country. Excluded countries are never used.

use super::{BuildCtx, PickCtx};
use crate::config::GeographicConfig;
use crate::health::ProxyView;
use crate::index::{AvailSet, Members};
use crate::pool::Slot;
use crate::time::Timestamp;

#[derive(Clone)]
pub(crate) struct Geographic {
    members: Members,
    /// Tiers in preference order, each with its round-robin cursor.
    tiers: Vec<(AvailSet, usize)>,
}

impl Geographic {
    pub fn new(members: Members, config: &GeographicConfig, b: &BuildCtx<'_>) -> Geographic {
        let regions: Vec<String> = config
            .preferred_regions
            .iter()
            .map(|r| r.to_lowercase())
            .collect();
        let in_region = |s: Slot| {
            b.pool
                .proxy(s)
                .region
                .as_ref()
                .is_some_and(|r| regions.contains(&r.to_lowercase()))
        };
        let allowed_country = |s: Slot| {
            b.pool
                .proxy(s)
                .country
                .is_none_or(|c| !config.exclude_countries.contains(&c))
        };
        let mut filters: Vec<Box<dyn Fn(Slot) -> bool + '_>> = Vec::new();
        for &country in &config.geographic_preferences {
            let in_country = move |s: Slot| b.pool.proxy(s).country == Some(country);
            if !regions.is_empty() {
                filters.push(Box::new(move |s| in_country(s) && in_region(s)));
            }
            filters.push(Box::new(in_country));
        }
        if !regions.is_empty() {
            filters.push(Box::new(move |s| in_region(s) && allowed_country(s)));
        }
        if config.fallback_to_any {
            filters.push(Box::new(allowed_country));
        }
        let tiers = filters
            .iter()
            .map(|f| {
                let slots: Vec<Slot> = members.slots().iter().copied().filter(|&s| f(s)).collect();
                (
                    AvailSet::new(Members::new(slots), None, |s| (b.view)(s).available),
                    0,
                )
            })
            .filter(|(set, _)| set.members().len() > 0)
            .collect();
        Geographic { members, tiers }
    }

    pub fn pick(&mut self, ctx: &mut PickCtx<'_>, out: &mut Vec<Slot>) {
        let start = out.len();
        for (set, cursor) in &mut self.tiers {
            if out.len() >= ctx.want {
                break;
            }
            let was_empty = out.len() == start;
            let first = set.walk(*cursor, ctx.want, out, |s| ctx.allows(s));
            if was_empty && let Some(pos) = first {
                *cursor = pos + 1;
            }
        }
    }

    pub fn update(&mut self, slot: Slot, view: &ProxyView, _now: Timestamp) {
        for (set, _) in &mut self.tiers {
            set.set_available(slot, view.available);
        }
    }

    pub fn members(&self) -> &Members {
        &self.members
    }
}
