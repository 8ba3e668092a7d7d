//! `Engine::select`: runs the rotation's rules, narrows the scope (group,
//! country), asks the scope's strategy instance for candidates, and turns an
//! empty answer into an error that says why (scope empty, all excluded, all
//! breakers open, or a mix with what the strategy held back).

use std::borrow::Cow;
use std::collections::HashMap;

use rand::RngCore;

use super::{Engine, view_of};
use crate::events::{RotationEvent, RotationKey, RotationReason};
use crate::health::{HealthSettings, ProxyRuntime};
use crate::ids::{ConfigId, ProxyId, RuleId, TabId};
use crate::pool::{GroupKey, PoolSnapshot, Scope, Slot};
use crate::request::{Reason, Route, SelectError, Selection, SelectionRequest};
use crate::rotation::Rotation;
use crate::rules::{self, Decision, Facts, RegexMemo, RulePlan};
use crate::strategy::{BuildCtx, CandidateFilter, PickCtx, StrategyInstance};
use crate::time::Timestamp;

impl Engine {
    /// Chooses where a connection goes under the config active for `group`
    /// (`None`: the whole pool). A group with no active config of its own
    /// runs the whole pool's active config narrowed to the group; with no
    /// active config at all, the built-in round-robin
    /// ([`Engine::BUILT_IN`]).
    pub fn select_active(
        &mut self,
        group: Option<&str>,
        req: &SelectionRequest<'_>,
        rng: &mut dyn RngCore,
    ) -> Result<Selection, SelectError> {
        if let Some(own) = group.and_then(|g| self.active_groups.get(g).copied()) {
            return self.select(own, req, rng);
        }
        let id = match self.active_pool {
            Some(id) => id,
            None => {
                self.prepare_built_in();
                Engine::BUILT_IN
            }
        };
        let narrowed = SelectionRequest {
            group: group.or(req.group),
            ..*req
        };
        self.select(id, &narrowed, rng)
    }

    /// What [`Engine::select_active`] would answer now, learning nothing:
    /// no cursor moves, no sticky mapping is made or refreshed, the tab's
    /// proxy is not remembered, and the answer carries no events. For
    /// `POST /rotation:explain` ("why would this go through X?").
    pub fn explain_active(
        &mut self,
        group: Option<&str>,
        req: &SelectionRequest<'_>,
        rng: &mut dyn RngCore,
    ) -> Result<Selection, SelectError> {
        let id = match group.and_then(|g| self.active_groups.get(g).copied()) {
            Some(own) => own,
            None => self.active_pool.unwrap_or_else(|| {
                self.prepare_built_in();
                Engine::BUILT_IN
            }),
        };
        self.dry(id, |e| e.select_active(group, req, rng), req)
    }

    /// What [`Engine::select`] would answer now, learning nothing (see
    /// [`Engine::explain_active`]).
    pub fn explain(
        &mut self,
        rotation: ConfigId,
        req: &SelectionRequest<'_>,
        rng: &mut dyn RngCore,
    ) -> Result<Selection, SelectError> {
        self.dry(rotation, |e| e.select(rotation, req, rng), req)
    }

    /// Runs `f` and puts rotation `id`'s strategy state and the tab's
    /// proxy back as they were.
    fn dry(
        &mut self,
        id: ConfigId,
        f: impl FnOnce(&mut Engine) -> Result<Selection, SelectError>,
        req: &SelectionRequest<'_>,
    ) -> Result<Selection, SelectError> {
        let saved = self.rotations.get(&id).cloned();
        let tab = req.tab.map(|t| (t, self.tabs.get(&t).copied()));
        let mut answer = f(self);
        if let Some(saved) = saved {
            self.rotations.insert(id, saved);
        }
        match tab {
            Some((t, Some(p))) => {
                self.tabs.insert(t, p);
            }
            Some((t, None)) => {
                self.tabs.remove(&t);
            }
            None => {}
        }
        if let Ok(s) = &mut answer {
            s.events.clear();
        }
        answer
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
        let memo = RegexMemo::new(&config.regex_sets);
        let facts = Facts {
            host: &host,
            url,
            path: path_of(url),
            tab: req.tab.map(|t| t.0 as i64),
            hour: local.hour,
            weekday: local.weekday,
            regex: Some(&memo),
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
        if let Some(g) = req.group {
            scope.group = Some(pool.group_key(g));
            group_name = Some(g.to_string());
        }
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
                    rotation,
                    route: Route::Direct,
                    reason,
                    events: Vec::new(),
                });
            }
            Some((_, Decision::Block)) => {
                return Ok(Selection {
                    rotation,
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
                    rotation,
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
                    });
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
            rotation,
            route: Route::Proxy { first, fallbacks },
            reason,
            events,
        })
    }
}

fn tab_event(
    tabs: &mut HashMap<TabId, ProxyId>,
    req: &SelectionRequest<'_>,
    proxy: ProxyId,
    rotation: ConfigId,
    events: &mut Vec<RotationEvent>,
    reason: RotationReason,
    rule: Option<RuleId>,
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
