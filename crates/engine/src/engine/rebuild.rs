//! Rebuilding the engine for a new pool and configs without stalling
//! selection. Building every strategy index over a large pool takes
//! milliseconds to seconds, far too long to hold the lock the gateway
//! selects under. So a rebuild is split into steps, each one short under
//! the lock, with the expensive part in between and under no lock at all:
//!
//! 1. [`Engine::begin_rebuild`] (locked, O(configs + sticky mappings)):
//!    copies the loaded configs and sticky mappings out and starts noting
//!    which proxies change from now on;
//! 2. [`Engine::copy_runtime`] (locked, a bounded chunk per call): copies
//!    each proxy's runtime state (breaker, latency, load) out;
//! 3. [`Engine::build`] (no lock): a complete new engine over the new pool,
//!    runtime carried over by proxy id, every rotation built;
//! 4. [`Engine::finish_rebuild`] (locked, O(changed proxies + sticky
//!    mappings)): replays the state of every proxy that changed since step
//!    1, carries tab assignments and sticky mappings learned meanwhile, and
//!    swaps the new engine in (the old one is handed back, to be freed
//!    outside the lock).
//!
//! Selection goes on against the old engine until the swap. What differs
//! from `set_pool`: nothing observable but timing (the tests check the two
//! agree).

use std::collections::HashMap;

use super::{Engine, deadlines_of, runtime_by_id, view_of};
use crate::config::RotationConfig;
use crate::health::{HealthSettings, ProxyRuntime};
use crate::ids::{ConfigId, ProxyId};
use crate::pool::{PoolSnapshot, Slot};
use crate::strategy::BuildCtx;
use crate::strategy::sticky_session::StickyMapping;
use crate::time::Timestamp;

/// What a rebuild starts from, copied out of the running engine.
pub struct RebuildStart {
    /// Proxies in the running pool (size a [`RuntimeCopy`] with it).
    pub proxies: usize,
    /// The engine's health settings.
    pub settings: HealthSettings,
    /// Every loaded config, by id (not the built-in rotation).
    pub configs: Vec<RotationConfig>,
    /// Every rotation's learned sticky mappings, by id.
    pub sticky: HashMap<ConfigId, Vec<StickyMapping>>,
}

/// Runtime state copied out of the running engine in chunks.
#[derive(Default)]
pub struct RuntimeCopy {
    rows: Vec<(ProxyId, ProxyRuntime)>,
    next: usize,
}

impl RuntimeCopy {
    /// An empty copy with room for `proxies`, allocated before any lock is
    /// taken (growing it under the lock would copy megabytes there).
    pub fn with_capacity(proxies: usize) -> RuntimeCopy {
        RuntimeCopy {
            rows: Vec::with_capacity(proxies),
            next: 0,
        }
    }
}

impl Engine {
    /// Step 1: copies configs and sticky mappings out, and from now on
    /// notes every proxy whose state changes.
    pub fn begin_rebuild(&mut self) -> RebuildStart {
        self.rebuilding = Some(std::collections::HashSet::new());
        let pool = &self.pool;
        let mut configs = Vec::with_capacity(self.rotations.len());
        let mut sticky = HashMap::new();
        for (id, rotation) in &mut self.rotations {
            // Every engine makes its own built-in rotation.
            if *id != Engine::BUILT_IN {
                configs.push(rotation.config.clone());
            }
            let mappings = rotation.sticky_mappings(pool);
            if !mappings.is_empty() {
                sticky.insert(*id, mappings);
            }
        }
        configs.sort_by_key(|c| c.id);
        RebuildStart {
            proxies: self.pool.len(),
            settings: self.settings.clone(),
            configs,
            sticky,
        }
    }

    /// Step 2: copies the runtime state of up to `chunk` more proxies into
    /// `copy`; returns true once every proxy has been copied.
    pub fn copy_runtime(&self, copy: &mut RuntimeCopy, chunk: usize) -> bool {
        let proxies = self.pool.proxies();
        let end = (copy.next + chunk.max(1)).min(proxies.len());
        let start = copy.next.min(end);
        copy.rows.extend(
            proxies[start..end]
                .iter()
                .zip(&self.runtime[start..end])
                .map(|(p, rt)| (p.id, rt.clone())),
        );
        copy.next = end;
        end == proxies.len()
    }

    /// Step 3: a new engine over `pool` with `configs` loaded (sticky
    /// mappings by config id), runtime state from `copy`. Call it with no
    /// lock held.
    pub fn build(
        pool: impl Into<std::sync::Arc<PoolSnapshot>>,
        settings: HealthSettings,
        copy: RuntimeCopy,
        configs: Vec<RotationConfig>,
        mut sticky: HashMap<ConfigId, Vec<StickyMapping>>,
        now: Timestamp,
    ) -> Engine {
        let pool = pool.into();
        let runtime = runtime_by_id(&pool, copy.rows.into_iter().collect());
        let mut engine = Engine::new(pool, settings);
        engine.deadlines = deadlines_of(&runtime);
        engine.runtime = runtime;
        for config in configs {
            let id = config.id;
            let mappings = sticky.remove(&id).unwrap_or_default();
            let rotation = engine.build_rotation(config, mappings, now);
            engine.rotations.insert(id, rotation);
        }
        engine
    }

    /// Step 4: swaps `next` in. Proxies whose state changed since
    /// `begin_rebuild` get their current state in `next`; tab assignments
    /// carry over; each rotation of `next` gets the sticky mappings its
    /// namesake learned meanwhile. Returns the engine it replaced: dropping
    /// a large one takes milliseconds, so the caller drops it after letting
    /// go of its lock. Active configs are `next`'s own (set them before).
    #[must_use = "drop the old engine outside the lock"]
    pub fn finish_rebuild(&mut self, mut next: Engine, now: Timestamp) -> Engine {
        let changed = self.rebuilding.take().unwrap_or_default();
        for id in changed {
            let (Some(old), Some(new)) = (self.pool.slot_of(id), next.pool.slot_of(id)) else {
                continue;
            };
            let rt = self.runtime[old as usize].clone();
            if let Some(until) = rt.breaker.open_until() {
                next.deadlines.push(std::cmp::Reverse((until, new)));
            }
            next.runtime[new as usize] = rt;
            next.notify(new, now);
        }
        let Engine {
            pool,
            runtime,
            settings,
            rotations,
            ..
        } = &mut next;
        let view = |s: Slot| view_of(&runtime[s as usize], settings);
        for (id, rotation) in rotations.iter_mut() {
            let Some(running) = self.rotations.get_mut(id) else {
                continue;
            };
            let mappings = running.sticky_mappings(&self.pool);
            if mappings.is_empty() {
                continue;
            }
            let common = rotation.config.common.clone();
            let b = BuildCtx {
                pool,
                view: &view,
                settings,
                common: &common,
            };
            rotation.restore_sticky(mappings, now, &b);
        }
        next.tabs = std::mem::take(&mut self.tabs);
        std::mem::replace(self, next)
    }
}
