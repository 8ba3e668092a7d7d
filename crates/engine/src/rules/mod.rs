//! Custom rotation rules: conditions on the request (domain, url, path, tab,
//! hour, weekday) and on candidate proxies (country, group, tag), combined
//! with AND/OR, and actions that pin a proxy, narrow the pool to a group or
//! country, exclude proxies or countries, go direct, block, or keep the tab's
//! current proxy. Rules run highest priority first; `stop_on_match` ends the
//! walk. Rules are checked when compiled, so evaluation never fails.

mod condition;
mod regex_sets;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::ids::{ProxyId, RuleId};
use crate::proxy::{CountryCode, Proxy};

pub use condition::{Condition, Field};
pub use regex_sets::{RegexMemo, RegexSets};

/// A rule as written in JSON (or stored in `proxy_rotation_rules`). Its
/// serde defaults are the only ones: the store writes what this parses to.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Store id.
    #[serde(default)]
    pub id: u64,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Higher runs first; equal priorities run by id.
    #[serde(default)]
    pub priority: i32,
    /// Disabled rules are kept but never run.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `and` (default) or `or`.
    #[serde(default, alias = "conditionLogic")]
    pub condition_logic: Logic,
    /// Conditions; an empty list always matches.
    #[serde(default)]
    pub conditions: Vec<ConditionSpec>,
    /// What to do on a match.
    pub actions: Vec<ActionSpec>,
    /// Stop evaluating lower-priority rules after this one matches.
    #[serde(default, alias = "stopOnMatch")]
    pub stop_on_match: bool,
}

fn yes() -> bool {
    true
}

/// How conditions combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Logic {
    /// Every condition must hold.
    #[default]
    #[serde(alias = "AND")]
    And,
    /// Any condition may hold.
    #[serde(alias = "OR")]
    Or,
}

/// A condition as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    /// domain, url, path, tab, hour, weekday, proxy_country, proxy_group, tag.
    pub field: String,
    /// equals, not_equals, contains, …
    pub operator: String,
    /// A string, number or list, depending on the operator.
    pub value: serde_json::Value,
}

/// An action as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// use_proxy, use_proxy_group, use_country, exclude_proxy, exclude_country,
    /// direct, block, skip_rotation.
    #[serde(rename = "type", alias = "action")]
    pub kind: String,
    /// The action's argument, where it takes one.
    #[serde(default)]
    pub value: serde_json::Value,
}

/// A compiled action.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Use exactly this proxy.
    UseProxy(ProxyId),
    /// Choose within this group.
    UseProxyGroup(String),
    /// Choose within this country.
    UseCountry(CountryCode),
    /// Never use these proxies for the request.
    ExcludeProxy(Vec<ProxyId>),
    /// Exclude every candidate the rule's proxy conditions match.
    ExcludeMatching,
    /// Never use proxies in these countries for the request.
    ExcludeCountry(Vec<CountryCode>),
    /// Connect without a proxy.
    Direct,
    /// Refuse the request.
    Block,
    /// Keep the tab's current proxy if it is still usable.
    SkipRotation,
}

impl Action {
    fn is_terminal(&self) -> bool {
        !matches!(
            self,
            Action::ExcludeProxy(_) | Action::ExcludeMatching | Action::ExcludeCountry(_)
        )
    }
}

/// A compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Store id.
    pub id: RuleId,
    /// Display name.
    pub name: String,
    /// Higher runs first.
    pub priority: i32,
    /// Disabled rules never run.
    pub enabled: bool,
    /// Stop after a match.
    pub stop_on_match: bool,
    logic: Logic,
    conditions: Vec<Condition>,
    /// Actions in order.
    pub actions: Vec<Action>,
    /// True when some condition reads a candidate proxy: the rule then acts
    /// as a filter on candidates and its only action is `exclude_proxy`.
    pub filters_candidates: bool,
}

impl Rule {
    /// Checks and compiles a rule; errors name the rule and the field.
    pub fn compile(spec: RuleSpec) -> Result<Rule, ConfigError> {
        let label = if spec.name.is_empty() {
            format!("{}", spec.id)
        } else {
            format!("{} {:?}", spec.id, spec.name)
        };
        let err = |field: String, problem: String| ConfigError::Rule {
            rule: label.clone(),
            field,
            problem,
        };
        let mut conditions = Vec::with_capacity(spec.conditions.len());
        for (i, c) in spec.conditions.iter().enumerate() {
            let compiled = Condition::compile(&c.field, &c.operator, &c.value)
                .map_err(|(part, problem)| err(format!("conditions[{i}].{part}"), problem))?;
            conditions.push(compiled);
        }
        let filters_candidates = conditions.iter().any(|c| c.field().is_proxy_field());
        if spec.actions.is_empty() {
            return Err(err(
                "actions".into(),
                "a rule needs at least one action".into(),
            ));
        }
        let mut actions = Vec::with_capacity(spec.actions.len());
        for (i, a) in spec.actions.iter().enumerate() {
            let action = compile_action(a, filters_candidates)
                .map_err(|p| err(format!("actions[{i}]"), p.0))?;
            actions.push(action);
        }
        if actions.iter().filter(|a| a.is_terminal()).count() > 1 {
            return Err(err(
                "actions".into(),
                "more than one deciding action (use_*, direct, block, skip_rotation): keep one"
                    .into(),
            ));
        }
        Ok(Rule {
            id: RuleId(spec.id),
            name: spec.name,
            priority: spec.priority,
            enabled: spec.enabled,
            stop_on_match: spec.stop_on_match,
            logic: spec.condition_logic,
            conditions,
            actions,
            filters_candidates,
        })
    }

    /// Whether the rule's conditions hold for the request (and candidate).
    pub fn matches(&self, facts: &Facts<'_>, proxy: Option<&Proxy>) -> bool {
        match self.logic {
            Logic::And => self.conditions.iter().all(|c| c.matches(facts, proxy)),
            Logic::Or => {
                self.conditions.is_empty()
                    || self.conditions.iter().any(|c| c.matches(facts, proxy))
            }
        }
    }
}

fn compile_action(
    a: &ActionSpec,
    filters_candidates: bool,
) -> Result<Action, crate::config::Problem> {
    let kind = a.kind.trim().to_ascii_lowercase();
    let v = &a.value;
    let action = match kind.as_str() {
        "use_proxy" => Action::UseProxy(ProxyId(proxy_id(v)?)),
        "use_proxy_group" | "use_group" => Action::UseProxyGroup(match v {
            serde_json::Value::String(g) if !g.is_empty() => g.clone(),
            other => {
                return Err(format!("use_proxy_group needs a group name, found {other}").into());
            }
        }),
        "use_country" => Action::UseCountry(country(v)?),
        "exclude_proxy" if v.is_null() && filters_candidates => Action::ExcludeMatching,
        "exclude_proxy" => Action::ExcludeProxy(one_or_many(v, |x| proxy_id(x).map(ProxyId))?),
        "exclude_country" => Action::ExcludeCountry(one_or_many(v, country)?),
        "direct" => Action::Direct,
        "block" => Action::Block,
        "skip_rotation" => Action::SkipRotation,
        _ => {
            return Err(format!(
                "unknown action {:?}: use one of use_proxy, use_proxy_group, use_country, exclude_proxy, exclude_country, direct, block, skip_rotation",
                a.kind
            ).into());
        }
    };
    if filters_candidates && action != Action::ExcludeMatching {
        return Err("conditions on proxy_country, proxy_group or tag filter candidate proxies; such a rule's only action is exclude_proxy without a value".into());
    }
    Ok(action)
}

fn proxy_id(v: &serde_json::Value) -> Result<u64, crate::config::Problem> {
    match v {
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| crate::config::Problem(format!("{n} is not a proxy id"))),
        serde_json::Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| crate::config::Problem(format!("{s:?} is not a proxy id"))),
        other => Err(format!("expected a proxy id, found {other}").into()),
    }
}

fn country(v: &serde_json::Value) -> Result<CountryCode, crate::config::Problem> {
    match v {
        serde_json::Value::String(s) => CountryCode::parse(s).map_err(|e| e.to_string().into()),
        other => Err(format!("expected a country code such as \"DE\", found {other}").into()),
    }
}

fn one_or_many<T>(
    v: &serde_json::Value,
    item: impl Fn(&serde_json::Value) -> Result<T, crate::config::Problem>,
) -> Result<Vec<T>, crate::config::Problem> {
    match v {
        serde_json::Value::Array(items) if !items.is_empty() => items.iter().map(item).collect(),
        serde_json::Value::Array(_) | serde_json::Value::Null => {
            Err("needs a value or a non-empty list".into())
        }
        single => Ok(vec![item(single)?]),
    }
}

/// Orders rules for evaluation (priority descending, then id ascending) and
/// links their request-field regexes into per-field sets.
pub(crate) fn prepare(mut rules: Vec<Rule>) -> (Vec<Rule>, RegexSets) {
    rules.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    let mut linked = rules.clone();
    let mut builder = regex_sets::RegexSetsBuilder::default();
    for rule in &mut linked {
        for condition in &mut rule.conditions {
            condition.link(&mut builder);
        }
    }
    match builder.build() {
        Some(sets) => (linked, sets),
        None => (rules, RegexSets::default()),
    }
}

/// What rules can see of a request.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// Target host, lower-case, no trailing dot.
    pub host: &'a str,
    /// Full URL or "".
    pub url: &'a str,
    /// URL path or "".
    pub path: &'a str,
    /// Tab id.
    pub tab: Option<i64>,
    /// Local hour.
    pub hour: u8,
    /// Local ISO weekday.
    pub weekday: u8,
    /// Memoised regex-set matches for this request, when rules are linked.
    pub regex: Option<&'a RegexMemo<'a>>,
}

/// The deciding action of a rule walk.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Decision {
    UseProxy(ProxyId),
    UseGroup(String),
    UseCountry(CountryCode),
    Direct,
    Block,
    SkipRotation,
}

/// The outcome of running the request rules.
#[derive(Debug, Default)]
pub(crate) struct RulePlan {
    /// The deciding action and the rule it came from.
    pub decision: Option<(RuleId, Decision)>,
    /// Proxies and countries excluded by matching rules.
    pub exclude_proxies: Vec<ProxyId>,
    pub exclude_countries: Vec<CountryCode>,
    /// Indexes of candidate-filter rules in play.
    pub filters: Vec<usize>,
    /// First rule that matched, for the selection's reason.
    pub first_match: Option<RuleId>,
}

/// Runs `rules` (already in priority order) against a request.
pub(crate) fn evaluate(rules: &[Rule], facts: &Facts<'_>) -> RulePlan {
    let mut plan = RulePlan::default();
    for (index, rule) in rules.iter().enumerate() {
        if !rule.enabled {
            continue;
        }
        if rule.filters_candidates {
            plan.filters.push(index);
            continue;
        }
        if !rule.matches(facts, None) {
            continue;
        }
        plan.first_match.get_or_insert(rule.id);
        for action in &rule.actions {
            let decided = match action {
                Action::ExcludeProxy(ids) => {
                    plan.exclude_proxies.extend(ids);
                    None
                }
                Action::ExcludeCountry(cs) => {
                    plan.exclude_countries.extend(cs);
                    None
                }
                Action::ExcludeMatching => None,
                Action::UseProxy(id) => Some(Decision::UseProxy(*id)),
                Action::UseProxyGroup(g) => Some(Decision::UseGroup(g.clone())),
                Action::UseCountry(c) => Some(Decision::UseCountry(*c)),
                Action::Direct => Some(Decision::Direct),
                Action::Block => Some(Decision::Block),
                Action::SkipRotation => Some(Decision::SkipRotation),
            };
            if let Some(d) = decided
                && plan.decision.is_none()
            {
                plan.decision = Some((rule.id, d));
            }
        }
        if rule.stop_on_match {
            break;
        }
    }
    plan
}
