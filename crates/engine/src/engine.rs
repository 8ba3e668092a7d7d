//! The engine: the pool snapshot, each proxy's runtime state, and the loaded
//! rotation configs. `select` answers "which proxy for this connection?";
//! `observe` takes outcomes back and keeps breakers, latency, load and
//! failure scores current, telling every strategy index what changed. All
//! time and randomness come from the caller; nothing here does I/O.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use rand::RngCore;

use crate::breaker::{BreakerPhase, BreakerState};
use crate::config::RotationConfig;
use crate::events::{RotationEvent, RotationKey, RotationReason};
use crate::health::{Fault, Feedback, HealthSettings, ProxyRuntime, ProxyStatus, ProxyView};
use crate::ids::{ConfigId, ProxyId, TabId};
use crate::pool::{GroupKey, PoolSnapshot, Scope, Slot};
use crate::request::{Reason, Route, SelectError, Selection, SelectionRequest};
use crate::rotation::Rotation;
use crate::rules::{self, Decision, Facts, RulePlan};
use crate::strategy::sticky_session::StickyMapping;
use crate::strategy::{BuildCtx, CandidateFilter, PickCtx, StrategyInstance};
use crate::time::Timestamp;

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
    tabs: HashMap<TabId, ProxyId>,
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
            tabs: HashMap::new(),
        }
    }

    /// The current pool snapshot.
    pub fn pool(&self) -> &Arc<PoolSnapshot> {
        &self.pool
    }

    /// Loads or replaces a rotation config, keeping its sticky mappings.
    pub fn set_rotation(&mut self, config: RotationConfig, now: Timestamp) {
        let id = config.id;
        let kept = self
            .rotations
            .get_mut(&id)
            .map(Rotation::sticky_mappings)
            .unwrap_or_default();
        let rotation = self.build_rotation(config, kept, now);
        self.rotations.insert(id, rotation);
    }

    /// Unloads a rotation config.
    pub fn remove_rotation(&mut self, id: ConfigId) -> bool {
        self.rotations.remove(&id).is_some()
    }

    /// Ids of the loaded rotation configs.
    pub fn rotation_ids(&self) -> Vec<ConfigId> {
        let mut ids: Vec<ConfigId> = self.rotations.keys().copied().collect();
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
        rotation.restore_sticky(&self.pool, sticky, now);
        rotation
    }

    /// Replaces the pool. Runtime state (breakers, latency, counters) carries
    /// over by proxy id; strategy indexes are rebuilt; sticky mappings whose
    /// proxy is still present are kept.
    pub fn set_pool(&mut self, pool: impl Into<Arc<PoolSnapshot>>, now: Timestamp) {
        let pool = pool.into();
        let mut old: HashMap<ProxyId, ProxyRuntime> = HashMap::new();
        for (p, rt) in self.pool.proxies().iter().zip(self.runtime.drain(..)) {
            old.insert(p.id, rt);
        }
        self.runtime = pool
            .proxies()
            .iter()
            .map(|p| {
                old.remove(&p.id)
                    .unwrap_or_else(|| ProxyRuntime::from_snapshot(&p.health))
            })
            .collect();
        self.pool = pool;
        self.deadlines = self
            .runtime
            .iter()
            .enumerate()
            .filter_map(|(s, rt)| rt.breaker.open_until().map(|t| Reverse((t, s as Slot))))
            .collect();
        let rotations: Vec<Rotation> = self.rotations.drain().map(|(_, r)| r).collect();
        for mut r in rotations {
            let kept = r.sticky_mappings();
            let rebuilt = self.build_rotation(r.config, kept, now);
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

    /// Chooses where a connection goes under rotation config `rotation`.
    pub fn select(
        &mut self,
        rotation: ConfigId,
        req: &SelectionRequest<'_>,
        rng: &mut dyn RngCore,
    ) -> Result<Selection, SelectError> {
        self.advance(req.now);
        let Engine {
            pool,
            settings,
            runtime,
            rotations,
            tabs,
            ..
        } = self;
        let rot = rotations
            .get_mut(&rotation)
            .ok_or(SelectError::UnknownRotation(rotation))?;
        let Rotation {
            config,
            base,
            instances,
        } = rot;
        let host = normalise_host(req.host);
        let url = req.url.unwrap_or("");
        let local = req.now.local_fields(config.common.utc_offset_minutes);
        let facts = Facts {
            host: &host,
            url,
            path: path_of(url),
            tab: req.tab.map(|t| t.0 as i64),
            hour: local.hour,
            weekday: local.weekday,
        };
        let plan = if config.rules.is_empty() {
            RulePlan::default()
        } else {
            rules::evaluate(&config.rules, &facts)
        };
        let mut reason = Reason {
            strategy: config.strategy.name(),
            rule: plan
                .decision
                .as_ref()
                .map(|(id, _)| *id)
                .or(plan.first_match),
            sticky: None,
        };
        let mut scope = *base;
        let mut group_name = config.target_group.clone();
        scope.country = req.preferred_country;
        let mut seed: Option<Slot> = None;
        let ruled = matches!(
            plan.decision,
            Some((
                _,
                Decision::UseProxy(_) | Decision::UseGroup(_) | Decision::UseCountry(_)
            ))
        );
        match &plan.decision {
            Some((_, Decision::Direct)) => {
                return Ok(Selection {
                    route: Route::Direct,
                    reason,
                    events: Vec::new(),
                });
            }
            Some((_, Decision::Block)) => {
                return Ok(Selection {
                    route: Route::Block,
                    reason,
                    events: Vec::new(),
                });
            }
            Some((rule, Decision::UseProxy(id))) => {
                let why = match pool.slot_of(*id) {
                    None => Some("is not in the pool"),
                    Some(s) if !pool.proxy(s).enabled => Some("is disabled"),
                    Some(s) if !runtime[s as usize].breaker.allows(&settings.breaker) => {
                        Some("has an open circuit breaker")
                    }
                    Some(_) if req.exclude.contains(id) => Some("the caller excluded"),
                    Some(_) => None,
                };
                if let Some(why) = why {
                    return Err(SelectError::RuleProxyUnusable {
                        rule: *rule,
                        proxy: *id,
                        why,
                    });
                }
                let mut events = Vec::new();
                tab_event(
                    tabs,
                    req,
                    *id,
                    rotation,
                    &mut events,
                    RotationReason::RuleTriggered,
                    Some(*rule),
                );
                return Ok(Selection {
                    route: Route::Proxy {
                        first: *id,
                        fallbacks: Vec::new(),
                    },
                    reason,
                    events,
                });
            }
            Some((_, Decision::UseGroup(g))) => {
                scope.group = Some(pool.group_key(g));
                group_name = Some(g.clone());
            }
            Some((_, Decision::UseCountry(c))) => scope.country = Some(*c),
            Some((_, Decision::SkipRotation)) => {
                seed = req
                    .tab
                    .and_then(|t| tabs.get(&t))
                    .and_then(|id| pool.slot_of(*id))
                    .filter(|&s| {
                        pool.in_scope(s, &scope)
                            && runtime[s as usize].breaker.allows(&settings.breaker)
                    })
                    .filter(|_| true);
            }
            None => {}
        }
        let mut excluded: Vec<Slot> = req
            .exclude
            .iter()
            .chain(&plan.exclude_proxies)
            .filter_map(|id| pool.slot_of(*id))
            .collect();
        excluded.sort_unstable();
        excluded.dedup();
        let filter = CandidateFilter {
            pool,
            excluded,
            countries: &plan.exclude_countries,
            rules: &config.rules,
            filter_rules: &plan.filters,
            facts,
        };
        let seed = seed.filter(|&s| filter.allows(s));
        let view = |s: Slot| view_of(&runtime[s as usize], settings);
        let b = BuildCtx {
            pool,
            view: &view,
            settings,
            common: &config.common,
        };
        let instance = Rotation::instance(instances, config, scope, &b);
        let want = usize::from(config.common.max_attempts);
        let mut out: Vec<Slot> = Vec::with_capacity(want);
        out.extend(seed);
        let mut events = Vec::new();
        let mut ctx = PickCtx {
            pool,
            filter: &filter,
            host: &host,
            now: req.now,
            rng,
            want,
            rotation,
            rule: reason.rule,
            events: &mut events,
            sticky: None,
        };
        instance.pick(&mut ctx, &mut out);
        reason.sticky = ctx.sticky;
        let Some(&first_slot) = out.first() else {
            let name = group_name.as_deref();
            return Err(diagnose(
                instance,
                &filter,
                pool,
                runtime,
                settings,
                &scope,
                name,
                config.strategy.name(),
            ));
        };
        let first = pool.proxy(first_slot).id;
        let tab_reason = if ruled {
            RotationReason::RuleTriggered
        } else {
            let previous_usable = req
                .tab
                .and_then(|t| tabs.get(&t))
                .and_then(|id| pool.slot_of(*id))
                .is_some_and(|s| runtime[s as usize].breaker.allows(&settings.breaker));
            if previous_usable {
                RotationReason::Scheduled
            } else {
                RotationReason::Failure
            }
        };
        tab_event(
            tabs,
            req,
            first,
            rotation,
            &mut events,
            tab_reason,
            reason.rule,
        );
        let fallbacks = out[1..].iter().map(|&s| pool.proxy(s).id).collect();
        Ok(Selection {
            route: Route::Proxy { first, fallbacks },
            reason,
            events,
        })
    }

    /// Takes an outcome back. Returns the breaker transition it caused, if any.
    pub fn observe(&mut self, now: Timestamp, feedback: Feedback) -> Option<BreakerTransition> {
        self.advance(now);
        let proxy = feedback.proxy();
        let slot = self.pool.slot_of(proxy)?;
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
        self.runtime[slot as usize].breaker = state;
        if let Some(until) = state.open_until() {
            self.deadlines.push(Reverse((until, slot)));
        }
        self.notify(slot, now);
        true
    }

    /// Learned sticky mappings of a rotation, for persistence.
    pub fn sticky_mappings(&mut self, rotation: ConfigId) -> Vec<StickyMapping> {
        self.rotations
            .get_mut(&rotation)
            .map(Rotation::sticky_mappings)
            .unwrap_or_default()
    }

    /// Restores persisted sticky mappings of a rotation.
    pub fn restore_sticky_mappings(
        &mut self,
        rotation: ConfigId,
        mappings: Vec<StickyMapping>,
        now: Timestamp,
    ) {
        if let Some(rot) = self.rotations.get_mut(&rotation) {
            rot.restore_sticky(&self.pool, mappings, now);
        }
    }
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

fn tab_event(
    tabs: &mut HashMap<TabId, ProxyId>,
    req: &SelectionRequest<'_>,
    proxy: ProxyId,
    rotation: ConfigId,
    events: &mut Vec<RotationEvent>,
    reason: RotationReason,
    rule: Option<crate::ids::RuleId>,
) {
    let Some(tab) = req.tab else { return };
    let previous = tabs.insert(tab, proxy);
    if previous == Some(proxy) {
        return;
    }
    let reason = if previous.is_none() {
        RotationReason::Startup
    } else {
        reason
    };
    events.push(RotationEvent {
        rotation,
        key: RotationKey::Tab(tab),
        previous,
        new: Some(proxy),
        reason,
        rule: if reason == RotationReason::RuleTriggered {
            rule
        } else {
            None
        },
        at: req.now,
    });
}

#[allow(clippy::too_many_arguments)]
fn diagnose(
    instance: &StrategyInstance,
    filter: &CandidateFilter<'_>,
    pool: &PoolSnapshot,
    runtime: &[ProxyRuntime],
    settings: &HealthSettings,
    scope: &Scope,
    group_name: Option<&str>,
    strategy: crate::config::StrategyName,
) -> SelectError {
    let scope_text = match (scope.group, group_name) {
        (Some(GroupKey::UNKNOWN), Some(name)) => match scope.country {
            Some(c) => format!("group {name:?} in country {c}"),
            None => format!("group {name:?}"),
        },
        _ => pool.describe(scope),
    };
    let members = instance.members().slots();
    if members.is_empty() {
        return SelectError::EmptyScope { scope: scope_text };
    }
    let (mut excluded, mut unavailable, mut held_back) = (0, 0, 0);
    let mut retry_at: Option<Timestamp> = None;
    for &s in members {
        let breaker = &runtime[s as usize].breaker;
        if !filter.allows(s) {
            excluded += 1;
        } else if !breaker.allows(&settings.breaker) {
            unavailable += 1;
            let at = breaker.open_until().unwrap_or(Timestamp::EPOCH);
            retry_at = Some(retry_at.map_or(at, |r| r.min(at)));
        } else {
            held_back += 1;
        }
    }
    let candidates = members.len();
    if excluded == candidates {
        SelectError::AllExcluded {
            scope: scope_text,
            candidates,
        }
    } else if unavailable == candidates {
        SelectError::AllBreakersOpen {
            scope: scope_text,
            candidates,
            retry_at: retry_at.unwrap_or(Timestamp::EPOCH),
        }
    } else {
        let mut parts = Vec::new();
        if excluded > 0 {
            parts.push(format!("{excluded} excluded by the caller or rules"));
        }
        if unavailable > 0 {
            parts.push(format!("{unavailable} with open circuit breakers"));
        }
        if held_back > 0 {
            parts.push(format!(
                "{held_back} held back by {strategy} ({})",
                instance.hold_back_hint()
            ));
        }
        SelectError::NoneEligible {
            scope: scope_text,
            excluded,
            unavailable,
            held_back,
            detail: parts.join(", "),
        }
    }
}

/// Lower-cases a host and drops a trailing dot, borrowing when already clean.
fn normalise_host(host: &str) -> Cow<'_, str> {
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// The path of an absolute or origin-form URL ("" when there is none).
fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) => {
            let path = &after_scheme[i..];
            path.split(['?', '#']).next().unwrap_or(path)
        }
        None => "",
    }
}
