//! The engine: the pool snapshot, each proxy's runtime state, and the loaded
//! rotation configs. `select` answers "which proxy for this connection?";
//! `observe` takes outcomes back and keeps breakers, latency, load and
//! failure scores current, telling every strategy index what changed. All
//! time and randomness come from the caller; nothing here does I/O.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use crate::breaker::{BreakerPhase, BreakerState};
use crate::config::RotationConfig;
use crate::events::RotationEvent;
use crate::health::{Fault, Feedback, HealthSettings, ProxyRuntime, ProxyStatus, ProxyView};
use crate::ids::{ConfigId, ProxyId, TabId};
use crate::pool::{PoolSnapshot, Slot};
use crate::request::SelectError;
use crate::rotation::Rotation;
use crate::strategy::BuildCtx;
use crate::strategy::sticky_session::StickyMapping;
use crate::time::Timestamp;

mod rebuild;
mod select;

pub use rebuild::{RebuildStart, RuntimeCopy};

/// A breaker changed phase; the shell persists `state`.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerTransition {
    /// The proxy.
    pub proxy: ProxyId,
    /// Phase before.
    pub from: BreakerPhase,
    /// Phase after.
    pub to: BreakerPhase,
    /// Full state after, for persistence.
    pub state: BreakerState,
    /// When.
    pub at: Timestamp,
}

/// The selection engine. Not `Sync` by design: the shell owns one behind a
/// short lock and never holds it across I/O.
pub struct Engine {
    pool: Arc<PoolSnapshot>,
    settings: HealthSettings,
    runtime: Vec<ProxyRuntime>,
    /// Open-breaker deadlines, soonest first (entries may be stale).
    deadlines: BinaryHeap<Reverse<(Timestamp, Slot)>>,
    rotations: HashMap<ConfigId, Rotation>,
    /// The whole pool's active config.
    active_pool: Option<ConfigId>,
    /// Each group's own active config (looked up by `&str` on every
    /// selection of a group identity, so no key is built per call).
    active_groups: HashMap<String, ConfigId>,
    tabs: HashMap<TabId, ProxyId>,
    /// Proxies whose runtime state changed since `begin_rebuild`, while a
    /// rebuild is under way (replayed into the new engine at the swap).
    rebuilding: Option<std::collections::HashSet<ProxyId>>,
}

fn view_of(rt: &ProxyRuntime, settings: &HealthSettings) -> ProxyView {
    ProxyView {
        available: rt.breaker.allows(&settings.breaker),
        latency_us: rt.latency_ewma_us,
        active: rt.active,
        recent_key: rt.recent_requests.forward_key(settings.request_half_life),
        failure_score: rt.failure_score,
        consecutive_successes: rt.consecutive_successes,
    }
}

impl Engine {
    /// An engine over `pool` with no rotations loaded yet.
    pub fn new(pool: impl Into<Arc<PoolSnapshot>>, settings: HealthSettings) -> Engine {
        let pool = pool.into();
        let runtime = pool
            .proxies()
            .iter()
            .map(|p| ProxyRuntime::from_snapshot(&p.health))
            .collect();
        Engine {
            pool,
            settings,
            runtime,
            deadlines: BinaryHeap::new(),
            rotations: HashMap::new(),
            active_pool: None,
            active_groups: HashMap::new(),
            tabs: HashMap::new(),
            rebuilding: None,
        }
    }

    /// The id of the engine's own round-robin over the whole pool, what
    /// [`Engine::select_active`] runs when no config is active for the
    /// pool. Stored configs never have it (their ids start at 1). It is
    /// built only while it can be used (an index kept up to date costs on
    /// every outcome), on first use or ahead of time with
    /// [`Engine::prepare_built_in`].
    pub const BUILT_IN: ConfigId = ConfigId(0);

    /// Builds the built-in rotation now, if the pool has no active config
    /// (so the first selection does not build it under the caller's lock).
    pub fn prepare_built_in(&mut self) {
        if self.active_pool.is_some() || self.rotations.contains_key(&Engine::BUILT_IN) {
            return;
        }
        let config = RotationConfig::new(Engine::BUILT_IN.0, crate::StrategyName::RoundRobin, None);
        let rotation = self.build_rotation(config, Vec::new(), Timestamp::EPOCH);
        self.rotations.insert(Engine::BUILT_IN, rotation);
    }

    /// Makes `config` the active one of `group` (`None`: the whole pool),
    /// or clears it. Selections through [`Engine::select_active`] follow at
    /// once; each config keeps its own state (sticky mappings included).
    pub fn set_active(&mut self, group: Option<&str>, config: Option<ConfigId>) {
        match (group, config) {
            (None, config) => {
                self.active_pool = config;
                if config.is_some() {
                    self.rotations.remove(&Engine::BUILT_IN);
                }
            }
            (Some(g), Some(id)) => {
                self.active_groups.insert(g.to_string(), id);
            }
            (Some(g), None) => {
                self.active_groups.remove(g);
            }
        }
    }

    /// The active config of `group` (`None`: the whole pool), if one is set.
    pub fn active(&self, group: Option<&str>) -> Option<ConfigId> {
        match group {
            None => self.active_pool,
            Some(g) => self.active_groups.get(g).copied(),
        }
    }

    /// The current pool snapshot.
    pub fn pool(&self) -> &Arc<PoolSnapshot> {
        &self.pool
    }

    /// Loads or replaces a rotation config, keeping its sticky mappings.
    pub fn set_rotation(&mut self, config: RotationConfig, now: Timestamp) {
        let id = config.id;
        let pool = &self.pool;
        let kept = self
            .rotations
            .get_mut(&id)
            .map(|r| r.sticky_mappings(pool))
            .unwrap_or_default();
        let rotation = self.build_rotation(config, kept, now);
        self.rotations.insert(id, rotation);
    }

    /// Unloads a rotation config.
    pub fn remove_rotation(&mut self, id: ConfigId) -> bool {
        self.rotations.remove(&id).is_some()
    }

    /// The name of a loaded rotation config (the built-in one's too).
    pub fn rotation_name(&self, id: ConfigId) -> Option<&str> {
        self.rotations.get(&id).map(|r| r.config.name.as_str())
    }

    /// Ids of the loaded rotation configs.
    /// (The built-in rotation is not one of them.)
    pub fn rotation_ids(&self) -> Vec<ConfigId> {
        let mut ids: Vec<ConfigId> = self
            .rotations
            .keys()
            .copied()
            .filter(|id| *id != Engine::BUILT_IN)
            .collect();
        ids.sort();
        ids
    }

    fn build_rotation(
        &self,
        config: RotationConfig,
        sticky: Vec<StickyMapping>,
        now: Timestamp,
    ) -> Rotation {
        let (runtime, settings) = (&self.runtime, &self.settings);
        let view = |s: Slot| view_of(&runtime[s as usize], settings);
        let b = BuildCtx {
            pool: &self.pool,
            view: &view,
            settings,
            common: &config.common,
        };
        let mut rotation = Rotation::new(config.clone(), &b);
        rotation.restore_sticky(sticky, now, &b);
        rotation
    }

    /// Replaces the pool. Runtime state (breakers, latency, counters) carries
    /// over by proxy id; strategy indexes are rebuilt; sticky mappings whose
    /// proxy is still present are kept.
    pub fn set_pool(&mut self, pool: impl Into<Arc<PoolSnapshot>>, now: Timestamp) {
        let pool = pool.into();
        // Scopes name groups by the old snapshot's keys: read them out first.
        let old_pool = &self.pool;
        let kept: Vec<(Rotation, Vec<StickyMapping>)> = self
            .rotations
            .drain()
            .map(|(_, mut r)| {
                let mappings = r.sticky_mappings(old_pool);
                (r, mappings)
            })
            .collect();
        let old: HashMap<ProxyId, ProxyRuntime> = self
            .pool
            .proxies()
            .iter()
            .map(|p| p.id)
            .zip(self.runtime.drain(..))
            .collect();
        self.runtime = runtime_by_id(&pool, old);
        self.pool = pool;
        self.deadlines = deadlines_of(&self.runtime);
        for (r, mappings) in kept {
            let rebuilt = self.build_rotation(r.config, mappings, now);
            self.rotations.insert(rebuilt.config.id, rebuilt);
        }
    }

    /// Applies breaker deadlines due by `now`.
    fn advance(&mut self, now: Timestamp) {
        while let Some(&Reverse((at, slot))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let before = self.runtime[slot as usize].breaker.phase();
            self.runtime[slot as usize].breaker.tick(now);
            if self.runtime[slot as usize].breaker.phase() != before {
                self.notify(slot, now);
            }
        }
    }

    fn notify(&mut self, slot: Slot, now: Timestamp) {
        let view = view_of(&self.runtime[slot as usize], &self.settings);
        if !self.pool.proxy(slot).enabled {
            return;
        }
        for rotation in self.rotations.values_mut() {
            rotation.update(&self.pool, slot, &view, now);
        }
    }

    /// Takes an outcome back. Returns the breaker transition it caused, if any.
    pub fn observe(&mut self, now: Timestamp, feedback: Feedback) -> Option<BreakerTransition> {
        self.advance(now);
        let proxy = feedback.proxy();
        let slot = self.pool.slot_of(proxy)?;
        if let Some(changed) = &mut self.rebuilding {
            changed.insert(proxy);
        }
        let settings = &self.settings;
        let rt = &mut self.runtime[slot as usize];
        let before = rt.breaker.phase();
        match feedback {
            Feedback::Attempt { .. } => {
                rt.active = rt.active.saturating_add(1);
                rt.requests += 1;
                rt.recent_requests.add(now, settings.request_half_life, 1.0);
                rt.breaker.on_attempt();
            }
            Feedback::Connected { latency, .. } => {
                rt.record_latency(settings.latency_alpha, latency);
                record_success(rt);
                rt.breaker.on_outcome(&settings.breaker, now, true, true);
            }
            Feedback::Failed { kind, .. } => {
                rt.active = rt.active.saturating_sub(1);
                if kind.fault() == Fault::Proxy {
                    record_failure(rt, now, settings);
                    rt.breaker.on_outcome(&settings.breaker, now, false, true);
                } else {
                    rt.breaker.on_abandoned();
                }
            }
            Feedback::Closed { .. } => rt.active = rt.active.saturating_sub(1),
            Feedback::Checked { result, .. } => {
                rt.last_check = Some(now);
                match result {
                    Ok(latency) => {
                        rt.record_latency(settings.latency_alpha, latency);
                        record_success(rt);
                        rt.breaker.on_outcome(&settings.breaker, now, true, false);
                    }
                    Err(kind) if kind.fault() == Fault::Proxy => {
                        record_failure(rt, now, settings);
                        rt.breaker.on_outcome(&settings.breaker, now, false, false);
                    }
                    Err(_) => {}
                }
            }
        }
        let state = rt.breaker;
        if let Some(until) = state.open_until() {
            self.deadlines.push(Reverse((until, slot)));
        }
        self.notify(slot, now);
        let after = state.phase();
        (after != before).then_some(BreakerTransition {
            proxy,
            from: before,
            to: after,
            state,
            at: now,
        })
    }

    /// Removes sticky mappings expired by `now`, reporting `ttl_expired`.
    pub fn sweep(&mut self, now: Timestamp) -> Vec<RotationEvent> {
        let mut events = Vec::new();
        for rotation in self.rotations.values_mut() {
            rotation.sweep(now, &mut events);
        }
        events
    }

    /// Asks a rotation's holding strategies (time-based, failover, fastest,
    /// sticky) to move on at their next selection, reported as `manual`.
    pub fn rotate_now(&mut self, rotation: ConfigId) -> Result<(), SelectError> {
        let rot = self
            .rotations
            .get_mut(&rotation)
            .ok_or(SelectError::UnknownRotation(rotation))?;
        rot.force_rotation();
        Ok(())
    }

    /// Forgets a closed tab's last proxy.
    pub fn forget_tab(&mut self, tab: TabId) {
        self.tabs.remove(&tab);
    }

    /// Runtime state of one proxy.
    pub fn status(&self, id: ProxyId) -> Option<ProxyStatus> {
        let slot = self.pool.slot_of(id)?;
        let enabled = self.pool.proxy(slot).enabled;
        Some(self.runtime[slot as usize].status(id, enabled, &self.settings))
    }

    /// Proxies nothing would choose now: disabled, or their breaker open.
    /// One pass over the pool (about 0.1 ms at 100k proxies).
    pub fn unavailable(&self) -> Vec<ProxyId> {
        self.pool
            .proxies()
            .iter()
            .zip(&self.runtime)
            .filter(|(p, rt)| !p.enabled || !rt.breaker.allows(&self.settings.breaker))
            .map(|(p, _)| p.id)
            .collect()
    }

    /// Breakers not in their default closed state, for persistence.
    pub fn breaker_states(&self) -> Vec<(ProxyId, BreakerState)> {
        self.pool
            .proxies()
            .iter()
            .zip(&self.runtime)
            .filter(|(_, rt)| rt.breaker != BreakerState::default())
            .map(|(p, rt)| (p.id, rt.breaker))
            .collect()
    }

    /// Restores a persisted breaker state.
    pub fn restore_breaker(&mut self, id: ProxyId, state: BreakerState, now: Timestamp) -> bool {
        let Some(slot) = self.pool.slot_of(id) else {
            return false;
        };
        if let Some(changed) = &mut self.rebuilding {
            changed.insert(id);
        }
        self.runtime[slot as usize].breaker = state;
        if let Some(until) = state.open_until() {
            self.deadlines.push(Reverse((until, slot)));
        }
        self.notify(slot, now);
        true
    }

    /// Learned sticky mappings of a rotation, for persistence.
    pub fn sticky_mappings(&mut self, rotation: ConfigId) -> Vec<StickyMapping> {
        let pool = &self.pool;
        self.rotations
            .get_mut(&rotation)
            .map(|r| r.sticky_mappings(pool))
            .unwrap_or_default()
    }

    /// Restores persisted sticky mappings of a rotation (its instances are
    /// rebuilt, as on a config reload).
    pub fn restore_sticky_mappings(
        &mut self,
        rotation: ConfigId,
        mappings: Vec<StickyMapping>,
        now: Timestamp,
    ) {
        // Rebuilt with the mappings it has plus these (which win), so each
        // lands in its scope through the same path as a config reload;
        // nothing to restore, nothing rebuilt (most configs at start-up).
        if mappings.is_empty() {
            return;
        }
        if let Some(mut rot) = self.rotations.remove(&rotation) {
            let mut all = rot.sticky_mappings(&self.pool);
            all.extend(mappings);
            let rebuilt = self.build_rotation(rot.config, all, now);
            self.rotations.insert(rotation, rebuilt);
        }
    }
}

/// Runtime state for every proxy of `pool`: carried over by id where
/// `old` has it, else from the proxy's stored health.
fn runtime_by_id(
    pool: &PoolSnapshot,
    mut old: HashMap<ProxyId, ProxyRuntime>,
) -> Vec<ProxyRuntime> {
    pool.proxies()
        .iter()
        .map(|p| {
            old.remove(&p.id)
                .unwrap_or_else(|| ProxyRuntime::from_snapshot(&p.health))
        })
        .collect()
}

/// The open-breaker deadlines of `runtime`, soonest first.
fn deadlines_of(runtime: &[ProxyRuntime]) -> BinaryHeap<Reverse<(Timestamp, Slot)>> {
    runtime
        .iter()
        .enumerate()
        .filter_map(|(s, rt)| rt.breaker.open_until().map(|t| Reverse((t, s as Slot))))
        .collect()
}

fn record_success(rt: &mut ProxyRuntime) {
    rt.successes += 1;
    rt.consecutive_successes = rt.consecutive_successes.saturating_add(1);
    rt.consecutive_failures = 0;
}

fn record_failure(rt: &mut ProxyRuntime, now: Timestamp, settings: &HealthSettings) {
    rt.failures += 1;
    rt.consecutive_failures = rt.consecutive_failures.saturating_add(1);
    rt.consecutive_successes = 0;
    rt.failure_score.add(now, settings.failure_half_life, 1.0);
}
