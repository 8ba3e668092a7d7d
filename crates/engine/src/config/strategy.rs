//! The `strategy_config` document of each strategy: its JSON shape (camelCase
//! keys, durations in milliseconds, unknown keys rejected) and the checks that
//! serde cannot express. Parsed only after the strategy name is known.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::schedule::{self, TimeBasedConfig};
use super::{ConfigError, StrategyName, field_error, parse_part};
use crate::ids::ProxyId;
use crate::proxy::CountryCode;

/// Settings of one strategy, validated.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyConfig {
    /// Next available proxy in pool order.
    RoundRobin,
    /// Uniformly random available proxy.
    Random,
    /// Random in proportion to weight.
    Weighted(WeightedConfig),
    /// Lowest latency EWMA, with anti-flap tolerance.
    Fastest(FastestConfig),
    /// Fewest active connections, then fewest recent requests.
    LeastUsed,
    /// Preferred countries and regions first.
    Geographic(GeographicConfig),
    /// One proxy per domain for a TTL.
    StickySession(StickyConfig),
    /// First healthy proxy in a fixed order.
    Failover(FailoverConfig),
    /// Hold one proxy for an interval or a request count.
    TimeBased(TimeBasedConfig),
    /// Avoid proxies with recent failures.
    FailureAware,
    /// Rules first; this strategy for what they leave open.
    CustomRules {
        /// The strategy used when no rule decides.
        fallback: Box<StrategyConfig>,
    },
}

impl StrategyConfig {
    /// The strategy's name.
    pub fn name(&self) -> StrategyName {
        match self {
            StrategyConfig::RoundRobin => StrategyName::RoundRobin,
            StrategyConfig::Random => StrategyName::Random,
            StrategyConfig::Weighted(_) => StrategyName::Weighted,
            StrategyConfig::Fastest(_) => StrategyName::Fastest,
            StrategyConfig::LeastUsed => StrategyName::LeastUsed,
            StrategyConfig::Geographic(_) => StrategyName::Geographic,
            StrategyConfig::StickySession(_) => StrategyName::StickySession,
            StrategyConfig::Failover(_) => StrategyName::Failover,
            StrategyConfig::TimeBased(_) => StrategyName::TimeBased,
            StrategyConfig::FailureAware => StrategyName::FailureAware,
            StrategyConfig::CustomRules { .. } => StrategyName::CustomRules,
        }
    }

    /// The settings in their canonical JSON form: every field written out
    /// (defaults included), keys as the parser reads them, so parsing the
    /// result gives this config back.
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::{Value, json, to_value};
        // Invariant: these types serialize to JSON without failing (plain
        // numbers, strings and lists).
        let plain = |v: Result<Value, serde_json::Error>| v.unwrap_or(Value::Null);
        match self {
            StrategyConfig::RoundRobin
            | StrategyConfig::Random
            | StrategyConfig::LeastUsed
            | StrategyConfig::FailureAware => json!({}),
            StrategyConfig::Weighted(c) => {
                let weights: BTreeMap<u64, u8> = c.weights.iter().map(|(p, w)| (p.0, *w)).collect();
                json!({ "weights": weights })
            }
            StrategyConfig::Fastest(c) => plain(to_value(c)),
            StrategyConfig::Geographic(c) => plain(to_value(c)),
            StrategyConfig::StickySession(c) => plain(to_value(c)),
            StrategyConfig::Failover(c) => plain(to_value(c)),
            StrategyConfig::TimeBased(c) => schedule::time_based_value(c),
            StrategyConfig::CustomRules { fallback } => json!({
                "fallbackStrategy": fallback.name(),
                "fallbackConfig": fallback.to_value(),
            }),
        }
    }

    /// The strategy that actually picks proxies (custom rules delegate).
    pub fn picker(&self) -> &StrategyConfig {
        match self {
            StrategyConfig::CustomRules { fallback } => fallback.picker(),
            other => other,
        }
    }

    /// The default settings of a strategy.
    pub fn defaults(name: StrategyName) -> StrategyConfig {
        let empty = serde_json::Value::Object(serde_json::Map::new());
        // Invariant: every strategy's defaults are valid.
        parse(name, &empty, "strategy_config").unwrap_or(StrategyConfig::RoundRobin)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// Weighted: per-proxy weight overrides.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeightedConfig {
    /// Overrides of the pool's weights, 0–100.
    pub weights: HashMap<ProxyId, u8>,
}

/// Fastest: how much slower the current proxy may be before switching.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct FastestConfig {
    /// Relative tolerance (0.1 = stay while within 10% of the best).
    pub tolerance: f64,
    /// Absolute tolerance in milliseconds, added to the relative one.
    pub tolerance_ms: u64,
}

impl Default for FastestConfig {
    fn default() -> Self {
        FastestConfig {
            tolerance: 0.1,
            tolerance_ms: 5,
        }
    }
}

/// Geographic preferences.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct GeographicConfig {
    /// Countries to use, most preferred first.
    pub geographic_preferences: Vec<CountryCode>,
    /// Countries never to use.
    pub exclude_countries: Vec<CountryCode>,
    /// Regions preferred within each country (and before other countries).
    pub preferred_regions: Vec<String>,
    /// Use other countries when no preferred one has an available proxy.
    #[serde(default = "yes")]
    pub fallback_to_any: bool,
}

fn yes() -> bool {
    true
}

/// Sticky-session expiry: from creation or from last use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expiry {
    /// Each use extends the mapping by the TTL.
    #[default]
    Sliding,
    /// The mapping ends TTL after it was made.
    Fixed,
}

/// What a sticky mapping is keyed by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StickyKey {
    /// The registrable domain (public suffix list): a.example.co.uk and
    /// b.example.co.uk share a proxy.
    #[default]
    RegistrableDomain,
    /// The exact host name.
    Host,
}

/// A fixed mapping from a domain pattern to a proxy.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StickyPin {
    /// `example.com` (exact) or `*.example.com` (any subdomain and the domain).
    pub pattern: String,
    /// The proxy for matching hosts.
    pub proxy_id: ProxyId,
}

/// Sticky sessions.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct StickyConfig {
    /// How long a mapping lives.
    #[serde(with = "super::millis")]
    pub ttl: Duration,
    /// Sliding or fixed expiry.
    pub expiry: Expiry,
    /// Host or registrable domain.
    pub key_by: StickyKey,
    /// Fixed pattern → proxy mappings; they never expire.
    pub mappings: Vec<StickyPin>,
    /// Most learned mappings kept; the soonest to expire go first.
    pub max_mappings: usize,
}

impl Default for StickyConfig {
    fn default() -> Self {
        StickyConfig {
            ttl: Duration::from_secs(30 * 60),
            expiry: Expiry::Sliding,
            key_by: StickyKey::RegistrableDomain,
            mappings: Vec::new(),
            max_mappings: 1_000_000,
        }
    }
}

/// Failover order.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct FailoverConfig {
    /// Proxies in order of preference; the rest follow by weight, then id.
    pub failover_order: Vec<ProxyId>,
    /// Successes a better proxy needs before traffic returns to it.
    pub return_after_successes: u32,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            failover_order: Vec::new(),
            return_after_successes: 3,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWeighted {
    #[serde(default)]
    weights: BTreeMap<String, u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCustom {
    #[serde(default = "round_robin")]
    fallback_strategy: StrategyName,
    #[serde(default)]
    fallback_config: serde_json::Map<String, serde_json::Value>,
}

fn round_robin() -> StrategyName {
    StrategyName::RoundRobin
}

/// Parses and checks `strategy_config` for `name`; `path` prefixes errors.
pub(crate) fn parse(
    name: StrategyName,
    value: &serde_json::Value,
    path: &str,
) -> Result<StrategyConfig, ConfigError> {
    Ok(match name {
        StrategyName::RoundRobin => {
            parse_part::<Empty>(value, path).map(|_| StrategyConfig::RoundRobin)?
        }
        StrategyName::Random => parse_part::<Empty>(value, path).map(|_| StrategyConfig::Random)?,
        StrategyName::LeastUsed => {
            parse_part::<Empty>(value, path).map(|_| StrategyConfig::LeastUsed)?
        }
        StrategyName::FailureAware => {
            parse_part::<Empty>(value, path).map(|_| StrategyConfig::FailureAware)?
        }
        StrategyName::Weighted => {
            let raw: RawWeighted = parse_part(value, path)?;
            let mut weights = HashMap::new();
            for (key, weight) in raw.weights {
                let at = format!("{path}.weights.{key}");
                let id = key.parse::<u64>().map_err(|_| {
                    field_error(
                        &at,
                        format!("{key:?} is not a proxy id: keys are proxy ids, e.g. \"12\""),
                    )
                })?;
                if weight > 100 {
                    return Err(field_error(
                        &at,
                        format!("weight {weight} is out of range: use 0 (never) to 100"),
                    ));
                }
                weights.insert(ProxyId(id), weight);
            }
            StrategyConfig::Weighted(WeightedConfig { weights })
        }
        StrategyName::Fastest => {
            let c: FastestConfig = parse_part(value, path)?;
            if !(c.tolerance.is_finite() && (0.0..=10.0).contains(&c.tolerance)) {
                return Err(field_error(
                    &format!("{path}.tolerance"),
                    format!(
                        "{} is out of range: use a fraction from 0 to 10 (0.1 = 10%)",
                        c.tolerance
                    ),
                ));
            }
            StrategyConfig::Fastest(c)
        }
        StrategyName::Geographic => {
            let c: GeographicConfig = parse_part(value, path)?;
            if let Some(c) = c
                .geographic_preferences
                .iter()
                .find(|p| c.exclude_countries.contains(p))
            {
                return Err(field_error(
                    &format!("{path}.excludeCountries"),
                    format!("{c} is both preferred and excluded: remove it from one list"),
                ));
            }
            StrategyConfig::Geographic(c)
        }
        StrategyName::StickySession => {
            let c: StickyConfig = parse_part(value, path)?;
            if c.ttl.is_zero() {
                return Err(field_error(&format!("{path}.ttl"), "must be at least 1 ms"));
            }
            for (i, pin) in c.mappings.iter().enumerate() {
                crate::strategy::sticky_session::check_pattern(&pin.pattern)
                    .map_err(|m| field_error(&format!("{path}.mappings[{i}].pattern"), m))?;
            }
            StrategyConfig::StickySession(c)
        }
        StrategyName::Failover => StrategyConfig::Failover(parse_part(value, path)?),
        StrategyName::TimeBased => {
            StrategyConfig::TimeBased(schedule::parse_time_based(value, path)?)
        }
        StrategyName::CustomRules => {
            let raw: RawCustom = parse_part(value, path)?;
            if raw.fallback_strategy == StrategyName::CustomRules {
                return Err(field_error(
                    &format!("{path}.fallbackStrategy"),
                    "custom-rules cannot fall back to itself: name another strategy, e.g. \"round-robin\"",
                ));
            }
            let inner = serde_json::Value::Object(raw.fallback_config);
            let fallback = parse(
                raw.fallback_strategy,
                &inner,
                &format!("{path}.fallbackConfig"),
            )?;
            StrategyConfig::CustomRules {
                fallback: Box::new(fallback),
            }
        }
    })
}
