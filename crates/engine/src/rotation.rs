//! A loaded rotation config: its validated settings plus one strategy
//! instance per scope it has been asked about. The base scope is the config's
//! target group; narrower scopes (a country asked for by the request or a
//! rule, a group named by a rule) are built on first use and then kept in
//! step like the base one.

use std::collections::HashMap;

use crate::config::RotationConfig;
use crate::events::RotationEvent;
use crate::health::ProxyView;
use crate::pool::{PoolSnapshot, Scope, Slot};
use crate::strategy::sticky_session::{StickyMapping, StickyScope};
use crate::strategy::{BuildCtx, StrategyInstance};
use crate::time::Timestamp;

#[derive(Clone)]
pub(crate) struct Rotation {
    pub config: RotationConfig,
    pub base: Scope,
    pub instances: HashMap<Scope, StrategyInstance>,
}

impl Rotation {
    pub fn new(config: RotationConfig, b: &BuildCtx<'_>) -> Rotation {
        let base = Scope {
            group: config.target_group.as_deref().map(|g| b.pool.group_key(g)),
            country: None,
        };
        let mut rotation = Rotation {
            config,
            base,
            instances: HashMap::new(),
        };
        let b = BuildCtx {
            common: &rotation.config.common,
            ..*b
        };
        let instance =
            StrategyInstance::build(&rotation.config.strategy, b.pool.members(&base), &b);
        rotation.instances.insert(base, instance);
        rotation
    }

    /// The instance for `scope`, built on first use. `b.common` is replaced
    /// by this rotation's own settings.
    pub fn instance<'a>(
        instances: &'a mut HashMap<Scope, StrategyInstance>,
        config: &RotationConfig,
        scope: Scope,
        b: &BuildCtx<'_>,
    ) -> &'a mut StrategyInstance {
        instances.entry(scope).or_insert_with(|| {
            let b = BuildCtx {
                common: &config.common,
                ..*b
            };
            StrategyInstance::build(&config.strategy, b.pool.members(&scope), &b)
        })
    }

    /// Tells every instance whose scope holds `slot` about its new state.
    pub fn update(&mut self, pool: &PoolSnapshot, slot: Slot, view: &ProxyView, now: Timestamp) {
        let group = pool.slot_group(slot);
        let country = pool.proxy(slot).country;
        let mut scopes = [Scope {
            group: None,
            country: None,
        }; 4];
        let mut n = 1;
        if group.is_some() {
            scopes[n] = Scope {
                group,
                country: None,
            };
            n += 1;
        }
        if country.is_some() {
            scopes[n] = Scope {
                group: None,
                country,
            };
            n += 1;
            if group.is_some() {
                scopes[n] = Scope { group, country };
                n += 1;
            }
        }
        for scope in &scopes[..n] {
            if let Some(instance) = self.instances.get_mut(scope) {
                instance.update(slot, view, now);
            }
        }
    }

    pub fn sweep(&mut self, now: Timestamp, events: &mut Vec<RotationEvent>) {
        for instance in self.instances.values_mut() {
            if let Some(sticky) = instance.sticky() {
                sticky.sweep(now, self.config.id, events);
            }
        }
    }

    pub fn force_rotation(&mut self) {
        for instance in self.instances.values_mut() {
            instance.force_rotation();
        }
    }

    /// Learned sticky mappings of every scope, each naming its scope
    /// (group names from `pool`, the snapshot the scopes were built on).
    pub fn sticky_mappings(&mut self, pool: &PoolSnapshot) -> Vec<StickyMapping> {
        let mut all = Vec::new();
        for (scope, instance) in &mut self.instances {
            if let Some(sticky) = instance.sticky() {
                let named = StickyScope {
                    group: scope
                        .group
                        .and_then(|g| pool.group_name(g))
                        .map(str::to_string),
                    country: scope.country,
                };
                all.extend(sticky.mappings().map(|m| StickyMapping {
                    scope: named.clone(),
                    ..m.clone()
                }));
            }
        }
        all
    }

    /// Restores mappings, each into the scope it was learned in (built now
    /// if no request has asked for it yet).
    pub fn restore_sticky(
        &mut self,
        mappings: Vec<StickyMapping>,
        now: Timestamp,
        b: &BuildCtx<'_>,
    ) {
        let mut by_scope: HashMap<Scope, Vec<StickyMapping>> = HashMap::new();
        for m in mappings {
            let scope = Scope {
                group: m.scope.group.as_deref().map(|g| b.pool.group_key(g)),
                country: m.scope.country,
            };
            by_scope.entry(scope).or_default().push(m);
        }
        for (scope, mappings) in by_scope {
            let instance = Rotation::instance(&mut self.instances, &self.config, scope, b);
            if let Some(sticky) = instance.sticky() {
                sticky.restore(b.pool, mappings, now);
            }
        }
    }
}
