//! Rotation configs: the JSON document a user writes (or the store keeps),
//! parsed once into a validated [`RotationConfig`]. Shape:
//!
//! ```text
//! { "id": 1, "name": "eu-sticky", "strategy": "sticky-session",
//!   "target_group": "residential",
//!   "common_config": { "interval": 300000, "maxRequestsPerProxy": 100,
//!                      "failureThreshold": 3, "cooldownPeriod": 60000 },
//!   "strategy_config": { "ttl": 1800000, "keyBy": "registrable-domain" },
//!   "rules": [ ... ] }
//! ```
//!
//! Unknown keys and ill-typed values are rejected with the JSON path of the
//! offending field and what was expected; durations are milliseconds.

pub mod millis;
mod schedule;
mod strategy;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::ConfigId;
use crate::rules::{RegexSets, Rule, RuleSpec};

pub(crate) use schedule::parse_weekday;
pub use schedule::{ScheduleWindow, TimeBasedConfig};
pub use strategy::{
    Expiry, FailoverConfig, FastestConfig, GeographicConfig, StickyConfig, StickyKey, StickyPin,
    StrategyConfig, WeightedConfig,
};

/// What is wrong with one value of a config document, and how to fix it;
/// the caller adds where (a [`ConfigError`] with the JSON path).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct Problem(pub String);

impl From<String> for Problem {
    fn from(message: String) -> Problem {
        Problem(message)
    }
}

impl From<&str> for Problem {
    fn from(message: &str) -> Problem {
        Problem(message.to_string())
    }
}

impl From<Problem> for String {
    fn from(p: Problem) -> String {
        p.0
    }
}

/// A config document that cannot be used, and where.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ConfigError {
    /// A field is missing, unknown, ill-typed or out of range.
    #[error("{path}: {message}")]
    Field {
        /// JSON path, e.g. `strategy_config.weights.12`.
        path: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A custom rule is invalid.
    #[error("rule {rule}: {field}: {problem}")]
    Rule {
        /// The rule's id and name.
        rule: String,
        /// The rule's field, e.g. `conditions[0].value`.
        field: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

impl ConfigError {
    /// The JSON path or rule field the error is about.
    pub fn location(&self) -> String {
        match self {
            ConfigError::Field { path, .. } => path.clone(),
            ConfigError::Rule { rule, field, .. } => format!("rule {rule}: {field}"),
        }
    }
}

pub(crate) fn field_error(path: &str, message: impl Into<String>) -> ConfigError {
    let message = message.into();
    ConfigError::Field {
        path: path.to_string(),
        message,
    }
}

/// Deserializes `value` as `T`, reporting errors with `prefix` + the inner path.
pub(crate) fn parse_part<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    prefix: &str,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (prefix, inner.as_str()) {
            ("", ".") | ("", "") => "(document)".to_string(),
            ("", inner) => inner.to_string(),
            (prefix, "." | "") => prefix.to_string(),
            (prefix, inner) if inner.starts_with('[') => format!("{prefix}{inner}"),
            (prefix, inner) => format!("{prefix}.{inner}"),
        };
        field_error(&path, e.into_inner().to_string())
    })
}

/// The eleven rotation strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyName {
    /// Next available proxy in order.
    #[serde(alias = "round_robin")]
    RoundRobin,
    /// Uniformly random.
    Random,
    /// Random in proportion to weight.
    Weighted,
    /// Lowest latency.
    Fastest,
    /// Fewest active connections.
    #[serde(alias = "least_used")]
    LeastUsed,
    /// Preferred countries and regions.
    Geographic,
    /// One proxy per domain for a TTL.
    #[serde(alias = "sticky_session", alias = "sticky")]
    StickySession,
    /// First healthy in a fixed order.
    Failover,
    /// Hold one proxy for an interval or request count.
    #[serde(alias = "time_based")]
    TimeBased,
    /// Avoid recent failures.
    #[serde(alias = "failure_aware")]
    FailureAware,
    /// Custom rules over a fallback strategy.
    #[serde(alias = "custom_rules", alias = "custom")]
    CustomRules,
}

impl StrategyName {
    /// All strategies, in documentation order.
    pub const ALL: [StrategyName; 11] = [
        StrategyName::RoundRobin,
        StrategyName::Random,
        StrategyName::Weighted,
        StrategyName::Fastest,
        StrategyName::LeastUsed,
        StrategyName::Geographic,
        StrategyName::StickySession,
        StrategyName::Failover,
        StrategyName::TimeBased,
        StrategyName::FailureAware,
        StrategyName::CustomRules,
    ];

    /// The canonical name, e.g. `sticky-session`.
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyName::RoundRobin => "round-robin",
            StrategyName::Random => "random",
            StrategyName::Weighted => "weighted",
            StrategyName::Fastest => "fastest",
            StrategyName::LeastUsed => "least-used",
            StrategyName::Geographic => "geographic",
            StrategyName::StickySession => "sticky-session",
            StrategyName::Failover => "failover",
            StrategyName::TimeBased => "time-based",
            StrategyName::FailureAware => "failure-aware",
            StrategyName::CustomRules => "custom-rules",
        }
    }

    /// What the strategy does, in one line (`vip strategies`, the
    /// dashboard).
    pub fn description(self) -> &'static str {
        match self {
            StrategyName::RoundRobin => "next available proxy in pool order",
            StrategyName::Random => "uniformly random available proxy",
            StrategyName::Weighted => "random in proportion to weight 0-100 (0 is never picked)",
            StrategyName::Fastest => "lowest connect-latency EWMA, with anti-flap tolerance",
            StrategyName::LeastUsed => "fewest active connections, then fewest recent requests",
            StrategyName::Geographic => {
                "preferred countries and regions first, excluded countries never"
            }
            StrategyName::StickySession => "same proxy per domain for a TTL (consistent hashing)",
            StrategyName::Failover => {
                "first healthy proxy in a fixed order; returns after k successes"
            }
            StrategyName::TimeBased => "hold one proxy for an interval or request count",
            StrategyName::FailureAware => {
                "avoid proxies with recent failures; bench after a threshold"
            }
            StrategyName::CustomRules => {
                "rules on domain/url/tab/time/proxy, then a fallback strategy"
            }
        }
    }

    /// Parses a canonical name or alias.
    pub fn parse(s: &str) -> Result<StrategyName, UnknownStrategy> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| UnknownStrategy(s.to_string()))
    }
}

/// A strategy name that is none of the eleven (nor an alias).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownStrategy(pub String);

impl fmt::Display for UnknownStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = StrategyName::ALL.iter().map(|n| n.as_str()).collect();
        write!(
            f,
            "unknown strategy {:?}: use one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownStrategy {}

impl fmt::Display for StrategyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings every strategy shares (`common_config`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct CommonConfig {
    /// How long time-based rotation holds a proxy.
    #[serde(with = "millis::option")]
    pub interval: Option<Duration>,
    /// Requests after which time-based rotation moves on.
    pub max_requests_per_proxy: Option<u32>,
    /// Recent failures (decaying score) that bench a proxy in failure-aware.
    pub failure_threshold: u32,
    /// How long failure-aware benches a proxy.
    #[serde(with = "millis")]
    pub cooldown_period: Duration,
    /// Offset of local time from UTC, for rule hours/weekdays and schedules.
    pub utc_offset_minutes: i32,
    /// Candidates per selection: the first choice plus fallbacks (1–16).
    pub max_attempts: u8,
}

impl Default for CommonConfig {
    fn default() -> Self {
        CommonConfig {
            interval: None,
            max_requests_per_proxy: None,
            failure_threshold: 3,
            cooldown_period: Duration::from_secs(60),
            utc_offset_minutes: 0,
            max_attempts: 3,
        }
    }
}

/// A validated rotation config.
#[derive(Clone, Debug)]
pub struct RotationConfig {
    /// Store id (0 for configs not stored yet).
    pub id: ConfigId,
    /// Display name.
    pub name: String,
    /// Group the config draws from; `None` is the whole pool.
    pub target_group: Option<String>,
    /// Shared settings.
    pub common: CommonConfig,
    /// Strategy and its settings.
    pub strategy: StrategyConfig,
    /// Custom rules, highest priority first.
    pub rules: Vec<Rule>,
    /// The rules' regexes on request fields, one set per field.
    pub regex_sets: RegexSets,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    id: u64,
    name: String,
    strategy: StrategyName,
    #[serde(default)]
    target_group: Option<String>,
    #[serde(default)]
    common_config: serde_json::Value,
    #[serde(default)]
    strategy_config: serde_json::Value,
    #[serde(default)]
    rules: Vec<serde_json::Value>,
}

/// A config document in its canonical form: what the store keeps and
/// shows. It is built from validated parts (the store checks every
/// document with [`RotationConfig::from_value`] first), and its rules are
/// the engine's own [`RuleSpec`]s, so their defaults are the parser's.
#[derive(Clone, Debug, Serialize)]
pub struct RotationDocument {
    /// Store id.
    pub id: u64,
    /// Unique name.
    pub name: String,
    /// The strategy's canonical name.
    pub strategy: StrategyName,
    /// Target group; `None` is the whole pool.
    pub target_group: Option<String>,
    /// `common_config` (an object; the store writes it in canonical form).
    pub common_config: serde_json::Value,
    /// `strategy_config` (an object; the store writes it in canonical form,
    /// [`StrategyConfig::to_value`]).
    pub strategy_config: serde_json::Value,
    /// Rules in evaluation order.
    pub rules: Vec<RuleSpec>,
}

impl RotationDocument {
    /// The document as JSON.
    pub fn to_value(&self) -> serde_json::Value {
        // Invariant: every field serializes (strings, numbers, JSON values).
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl RuleSpec {
    /// Parses one rule as written (errors carry the JSON path under `at`).
    pub fn from_value(value: &serde_json::Value, at: &str) -> Result<RuleSpec, ConfigError> {
        parse_part(value, at)
    }
}

impl RotationConfig {
    /// A config with default settings for `strategy`, over `target_group`.
    pub fn new(id: u64, strategy: StrategyName, target_group: Option<&str>) -> RotationConfig {
        RotationConfig {
            id: ConfigId(id),
            name: strategy.as_str().to_string(),
            target_group: target_group.map(str::to_string),
            common: CommonConfig::default(),
            strategy: StrategyConfig::defaults(strategy),
            rules: Vec::new(),
            regex_sets: RegexSets::default(),
        }
    }

    /// Parses and validates a JSON document.
    pub fn from_json(text: &str) -> Result<RotationConfig, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| field_error("(document)", format!("not valid JSON: {e}")))?;
        RotationConfig::from_value(&value)
    }

    /// Parses and validates a JSON value.
    pub fn from_value(value: &serde_json::Value) -> Result<RotationConfig, ConfigError> {
        let raw: RawConfig = parse_part(value, "")?;
        let common: CommonConfig = if raw.common_config.is_null() {
            CommonConfig::default()
        } else {
            parse_part(&raw.common_config, "common_config")?
        };
        check_common(&common)?;
        let strategy_value = if raw.strategy_config.is_null() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            raw.strategy_config
        };
        let strategy = strategy::parse(raw.strategy, &strategy_value, "strategy_config")?;
        if let StrategyConfig::TimeBased(_) = strategy.picker()
            && common.interval.is_none()
            && common.max_requests_per_proxy.is_none()
        {
            return Err(field_error(
                "common_config",
                "time-based rotation needs \"interval\" (ms) or \"maxRequestsPerProxy\"",
            ));
        }
        if raw.name.trim().is_empty() {
            return Err(field_error("name", "must not be empty"));
        }
        let mut rules = Vec::with_capacity(raw.rules.len());
        for (i, value) in raw.rules.iter().enumerate() {
            let spec: RuleSpec = parse_part(value, &format!("rules[{i}]"))?;
            rules.push(Rule::compile(spec)?);
        }
        let (rules, regex_sets) = crate::rules::prepare(rules);
        Ok(RotationConfig {
            id: ConfigId(raw.id),
            name: raw.name,
            target_group: raw.target_group.filter(|g| !g.is_empty()),
            common,
            strategy,
            rules,
            regex_sets,
        })
    }
}

fn check_common(c: &CommonConfig) -> Result<(), ConfigError> {
    if c.interval.is_some_and(|d| d.is_zero()) {
        return Err(field_error(
            "common_config.interval",
            "must be at least 1 ms",
        ));
    }
    if c.max_requests_per_proxy == Some(0) {
        return Err(field_error(
            "common_config.maxRequestsPerProxy",
            "must be at least 1",
        ));
    }
    if c.failure_threshold == 0 {
        return Err(field_error(
            "common_config.failureThreshold",
            "must be at least 1",
        ));
    }
    if !(-840..=840).contains(&c.utc_offset_minutes) {
        return Err(field_error(
            "common_config.utcOffsetMinutes",
            format!(
                "{} is out of range: use -840 to 840 (UTC-14 to UTC+14)",
                c.utc_offset_minutes
            ),
        ));
    }
    if !(1..=16).contains(&c.max_attempts) {
        return Err(field_error(
            "common_config.maxAttempts",
            format!("{} is out of range: use 1 to 16", c.max_attempts),
        ));
    }
    Ok(())
}
