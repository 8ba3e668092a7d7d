//! The rotation strategies: one file each, a closed enum over them. A
//! strategy instance owns the indexes it needs over one scope's members,
//! produces the first choice and ordered fallbacks in O(log n) each, and
//! keeps its indexes in step through `update` when a proxy's state changes.

pub(crate) mod failover;
pub(crate) mod failure_aware;
pub(crate) mod fastest;
pub(crate) mod geographic;
pub(crate) mod least_used;
pub(crate) mod random;
pub(crate) mod round_robin;
pub(crate) mod sticky_session;
pub(crate) mod time_based;
pub(crate) mod weighted;

use rand::RngCore;

use crate::config::{CommonConfig, StrategyConfig};
use crate::events::{RotationEvent, RotationKey, RotationReason};
use crate::health::{HealthSettings, ProxyView};
use crate::ids::{ConfigId, ProxyId, RuleId};
use crate::index::Members;
use crate::pool::{PoolSnapshot, Slot};
use crate::proxy::CountryCode;
use crate::request::StickyOutcome;
use crate::rules::{Facts, Rule};
use crate::time::Timestamp;

/// What building an instance may look at.
pub(crate) struct BuildCtx<'a> {
    pub pool: &'a PoolSnapshot,
    pub view: &'a dyn Fn(Slot) -> ProxyView,
    pub settings: &'a HealthSettings,
    pub common: &'a CommonConfig,
}

/// Which candidates a request may use: not excluded by the caller, by rule
/// exclusions (proxies, countries) or by candidate-filter rules.
pub(crate) struct CandidateFilter<'a> {
    pub pool: &'a PoolSnapshot,
    /// Sorted.
    pub excluded: Vec<Slot>,
    pub countries: &'a [CountryCode],
    pub rules: &'a [Rule],
    pub filter_rules: &'a [usize],
    pub facts: Facts<'a>,
}

impl CandidateFilter<'_> {
    pub fn allows(&self, slot: Slot) -> bool {
        if self.excluded.binary_search(&slot).is_ok() {
            return false;
        }
        if self.countries.is_empty() && self.filter_rules.is_empty() {
            return true;
        }
        let proxy = self.pool.proxy(slot);
        if proxy.country.is_some_and(|c| self.countries.contains(&c)) {
            return false;
        }
        !self
            .filter_rules
            .iter()
            .any(|&i| self.rules[i].matches(&self.facts, Some(proxy)))
    }
}

/// Everything a pick needs besides the instance itself.
pub(crate) struct PickCtx<'a> {
    pub pool: &'a PoolSnapshot,
    pub filter: &'a CandidateFilter<'a>,
    /// Normalised target host.
    pub host: &'a str,
    pub now: Timestamp,
    pub rng: &'a mut dyn RngCore,
    /// How many candidates to produce (first + fallbacks).
    pub want: usize,
    pub rotation: ConfigId,
    pub rule: Option<RuleId>,
    pub events: &'a mut Vec<RotationEvent>,
    pub sticky: Option<StickyOutcome>,
}

impl PickCtx<'_> {
    pub fn allows(&self, slot: Slot) -> bool {
        self.filter.allows(slot)
    }

    pub fn id(&self, slot: Slot) -> ProxyId {
        self.pool.proxy(slot).id
    }

    /// Records that the proxy for `key` changed.
    pub fn event(
        &mut self,
        key: RotationKey,
        previous: Option<Slot>,
        new: Option<Slot>,
        reason: RotationReason,
    ) {
        let event = RotationEvent {
            rotation: self.rotation,
            key,
            previous: previous.map(|s| self.id(s)),
            new: new.map(|s| self.id(s)),
            reason,
            rule: if reason == RotationReason::RuleTriggered {
                self.rule
            } else {
                None
            },
            at: self.now,
        };
        self.events.push(event);
    }
}

/// One strategy over one scope.
#[derive(Clone)]
pub(crate) enum StrategyInstance {
    RoundRobin(round_robin::RoundRobin),
    Random(random::Random),
    Weighted(weighted::Weighted),
    Fastest(fastest::Fastest),
    LeastUsed(least_used::LeastUsed),
    Geographic(geographic::Geographic),
    StickySession(sticky_session::StickySession),
    Failover(failover::Failover),
    TimeBased(time_based::TimeBased),
    FailureAware(failure_aware::FailureAware),
}

macro_rules! each {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            StrategyInstance::RoundRobin($s) => $body,
            StrategyInstance::Random($s) => $body,
            StrategyInstance::Weighted($s) => $body,
            StrategyInstance::Fastest($s) => $body,
            StrategyInstance::LeastUsed($s) => $body,
            StrategyInstance::Geographic($s) => $body,
            StrategyInstance::StickySession($s) => $body,
            StrategyInstance::Failover($s) => $body,
            StrategyInstance::TimeBased($s) => $body,
            StrategyInstance::FailureAware($s) => $body,
        }
    };
}

impl StrategyInstance {
    /// Builds the picking strategy of `config` over `members`.
    pub fn build(
        config: &StrategyConfig,
        members: Vec<Slot>,
        b: &BuildCtx<'_>,
    ) -> StrategyInstance {
        let members = Members::new(members);
        match config.picker() {
            StrategyConfig::RoundRobin | StrategyConfig::CustomRules { .. } => {
                StrategyInstance::RoundRobin(round_robin::RoundRobin::new(members, b))
            }
            StrategyConfig::Random => StrategyInstance::Random(random::Random::new(members, b)),
            StrategyConfig::Weighted(c) => {
                StrategyInstance::Weighted(weighted::Weighted::new(members, c, b))
            }
            StrategyConfig::Fastest(c) => {
                StrategyInstance::Fastest(fastest::Fastest::new(members, c, b))
            }
            StrategyConfig::LeastUsed => {
                StrategyInstance::LeastUsed(least_used::LeastUsed::new(members, b))
            }
            StrategyConfig::Geographic(c) => {
                StrategyInstance::Geographic(geographic::Geographic::new(members, c, b))
            }
            StrategyConfig::StickySession(c) => {
                StrategyInstance::StickySession(sticky_session::StickySession::new(members, c, b))
            }
            StrategyConfig::Failover(c) => {
                StrategyInstance::Failover(failover::Failover::new(members, c, b))
            }
            StrategyConfig::TimeBased(c) => {
                StrategyInstance::TimeBased(time_based::TimeBased::new(members, c, b))
            }
            StrategyConfig::FailureAware => {
                StrategyInstance::FailureAware(failure_aware::FailureAware::new(members, b))
            }
        }
    }

    /// Pushes up to `ctx.want` distinct usable candidates, best first.
    pub fn pick(&mut self, ctx: &mut PickCtx<'_>, out: &mut Vec<Slot>) {
        each!(self, s => s.pick(ctx, out))
    }

    /// A member's state changed.
    pub fn update(&mut self, slot: Slot, view: &ProxyView, now: Timestamp) {
        each!(self, s => s.update(slot, view, now))
    }

    /// The scope's members.
    pub fn members(&self) -> &Members {
        each!(self, s => s.members())
    }

    /// Names what the strategy itself refuses, for error messages.
    pub fn hold_back_hint(&self) -> &'static str {
        match self {
            StrategyInstance::Weighted(_) => "weight 0 is never picked",
            StrategyInstance::Geographic(_) => "excluded or non-preferred countries",
            StrategyInstance::FailureAware(_) => {
                "benched for cooldownPeriod after failureThreshold recent failures"
            }
            _ => "nothing",
        }
    }

    /// Asks holding strategies to move on at the next pick.
    pub fn force_rotation(&mut self) {
        match self {
            StrategyInstance::TimeBased(s) => s.force_rotation(),
            StrategyInstance::Failover(s) => s.force_rotation(),
            StrategyInstance::Fastest(s) => s.force_rotation(),
            StrategyInstance::StickySession(s) => s.force_rotation(),
            _ => {}
        }
    }

    /// The sticky strategy, if this is one.
    pub fn sticky(&mut self) -> Option<&mut sticky_session::StickySession> {
        match self {
            StrategyInstance::StickySession(s) => Some(s),
            _ => None,
        }
    }
}
