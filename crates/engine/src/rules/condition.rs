//! One rule condition: a field of the request (or of a candidate proxy), an
//! operator and a value, type-checked and compiled once. Regexes are built
//! with size limits; the `regex` crate matches in linear time, so patterns
//! cannot be used for denial of service.

use regex::{Regex, RegexBuilder};

use super::Facts;
use super::regex_sets::RegexSetsBuilder;
use crate::proxy::Proxy;

/// What a condition looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// Target host, lower-case.
    Domain,
    /// Full URL when known (plain HTTP), else empty.
    Url,
    /// URL path when known, else empty.
    Path,
    /// Tab id (number).
    Tab,
    /// Local hour 0–23.
    Hour,
    /// Local ISO weekday 1 (Monday) – 7 (Sunday).
    Weekday,
    /// Candidate proxy's country.
    ProxyCountry,
    /// Candidate proxy's group.
    ProxyGroup,
    /// Candidate proxy's tags (any tag matching counts).
    Tag,
}

impl Field {
    const NAMES: [(&'static str, Field); 9] = [
        ("domain", Field::Domain),
        ("url", Field::Url),
        ("path", Field::Path),
        ("tab", Field::Tab),
        ("hour", Field::Hour),
        ("weekday", Field::Weekday),
        ("proxy_country", Field::ProxyCountry),
        ("proxy_group", Field::ProxyGroup),
        ("tag", Field::Tag),
    ];

    fn parse(s: &str) -> Result<Field, crate::config::Problem> {
        let key = s.trim().to_ascii_lowercase().replace('-', "_");
        let key = match key.as_str() {
            "country" => "proxy_country",
            "group" => "proxy_group",
            "tags" => "tag",
            other => other,
        };
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == key)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
                format!("unknown field {s:?}: use one of {}", names.join(", ")).into()
            })
    }

    fn is_numeric(self) -> bool {
        matches!(self, Field::Tab | Field::Hour | Field::Weekday)
    }

    /// Whether the field describes a candidate proxy rather than the request.
    pub fn is_proxy_field(self) -> bool {
        matches!(self, Field::ProxyCountry | Field::ProxyGroup | Field::Tag)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StrOp {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Clone, Debug)]
enum Test {
    Str(StrOp, String),
    /// A pattern, with its place in the rotation's [`RegexSets`] once linked.
    Regex(Regex, Option<usize>),
    StrList(Vec<String>),
    NumEq(i64),
    NumList(Vec<i64>),
    Greater(i64),
    Less(i64),
}

/// A compiled condition.
#[derive(Clone, Debug)]
pub struct Condition {
    field: Field,
    test: Test,
    negate: bool,
}

const OPERATORS: &str = "equals, not_equals, contains, starts_with, ends_with, matches_regex, in_list, not_in_list, greater_than, less_than";

impl Condition {
    /// Type-checks and compiles; errors are `(field path suffix, problem)`.
    pub fn compile(
        field: &str,
        operator: &str,
        value: &serde_json::Value,
    ) -> Result<Condition, (String, String)> {
        let field = Field::parse(field).map_err(|m| ("field".to_string(), m.0))?;
        let op = operator.trim().to_ascii_lowercase();
        let value_err = |m: crate::config::Problem| ("value".to_string(), m.0);
        let (negate, base) = match op.as_str() {
            "not_equals" => (true, "equals"),
            "not_in_list" => (true, "in_list"),
            other => (false, other),
        };
        let test = if field.is_numeric() {
            match base {
                "equals" => Test::NumEq(number(field, value).map_err(value_err)?),
                "in_list" => Test::NumList(list(value, |v| number(field, v)).map_err(value_err)?),
                "greater_than" => Test::Greater(number(field, value).map_err(value_err)?),
                "less_than" => Test::Less(number(field, value).map_err(value_err)?),
                "contains" | "starts_with" | "ends_with" | "matches_regex" => {
                    return Err((
                        "operator".into(),
                        format!(
                            "{op} needs a text field; {field:?} is a number: use equals, not_equals, in_list, not_in_list, greater_than or less_than"
                        ),
                    ));
                }
                _ => {
                    return Err((
                        "operator".into(),
                        format!("unknown operator {operator:?}: use one of {OPERATORS}"),
                    ));
                }
            }
        } else {
            let norm = |s: &str| normalise(field, s);
            match base {
                "equals" => Test::Str(StrOp::Equals, norm(&text(value).map_err(value_err)?)),
                "contains" => Test::Str(StrOp::Contains, norm(&text(value).map_err(value_err)?)),
                "starts_with" => {
                    Test::Str(StrOp::StartsWith, norm(&text(value).map_err(value_err)?))
                }
                "ends_with" => Test::Str(StrOp::EndsWith, norm(&text(value).map_err(value_err)?)),
                "matches_regex" => {
                    let pattern = text(value).map_err(value_err)?;
                    let regex = RegexBuilder::new(&pattern)
                        .case_insensitive(field != Field::Url && field != Field::Path)
                        .size_limit(1 << 20)
                        .dfa_size_limit(1 << 20)
                        .build()
                        .map_err(|e| {
                            value_err(format!("invalid regular expression: {e}").into())
                        })?;
                    Test::Regex(regex, None)
                }
                "in_list" => {
                    Test::StrList(list(value, |v| text(v).map(|s| norm(&s))).map_err(value_err)?)
                }
                "greater_than" | "less_than" => {
                    return Err((
                        "operator".into(),
                        format!(
                            "{op} needs a numeric field (tab, hour, weekday); {field:?} is text"
                        ),
                    ));
                }
                _ => {
                    return Err((
                        "operator".into(),
                        format!("unknown operator {operator:?}: use one of {OPERATORS}"),
                    ));
                }
            }
        };
        Ok(Condition {
            field,
            test,
            negate,
        })
    }

    /// The field this condition reads.
    pub fn field(&self) -> Field {
        self.field
    }

    /// Evaluates against the request and, for proxy fields, a candidate.
    pub fn matches(&self, facts: &Facts<'_>, proxy: Option<&Proxy>) -> bool {
        let positive = match self.field {
            Field::Domain => self.test_request_str(facts, 0, facts.host),
            Field::Url => self.test_request_str(facts, 1, facts.url),
            Field::Path => self.test_request_str(facts, 2, facts.path),
            Field::Tab => facts.tab.is_some_and(|t| self.test_num(t)),
            Field::Hour => self.test_num(i64::from(facts.hour)),
            Field::Weekday => self.test_num(i64::from(facts.weekday)),
            Field::ProxyCountry => proxy
                .and_then(|p| p.country)
                .is_some_and(|c| self.test_str(c.as_str())),
            Field::ProxyGroup => proxy
                .and_then(|p| p.group.as_deref())
                .is_some_and(|g| self.test_str(g)),
            Field::Tag => {
                proxy.is_some_and(|p| p.tags.iter().any(|t| self.test_str(&t.to_lowercase())))
            }
        };
        positive != self.negate
    }

    /// Tests a request field; linked regexes answer from the per-request
    /// memo, which runs each field's `RegexSet` at most once.
    fn test_request_str(&self, facts: &Facts<'_>, field: usize, s: &str) -> bool {
        match (&self.test, facts.regex) {
            (Test::Regex(_, Some(index)), Some(memo)) => memo.is_match(field, *index, s),
            _ => self.test_str(s),
        }
    }

    /// Offers this condition's regex to `sets`; remembers its index there.
    pub(crate) fn link(&mut self, sets: &mut RegexSetsBuilder) {
        let field = match self.field {
            Field::Domain => 0,
            Field::Url => 1,
            Field::Path => 2,
            _ => return,
        };
        if let Test::Regex(regex, index) = &mut self.test {
            let pattern = if field == 0 {
                format!("(?i:{})", regex.as_str())
            } else {
                regex.as_str().to_string()
            };
            *index = Some(sets.add(field, pattern));
        }
    }

    fn test_str(&self, s: &str) -> bool {
        match &self.test {
            Test::Str(StrOp::Equals, v) => s == v,
            Test::Str(StrOp::Contains, v) => s.contains(v.as_str()),
            Test::Str(StrOp::StartsWith, v) => s.starts_with(v.as_str()),
            Test::Str(StrOp::EndsWith, v) => s.ends_with(v.as_str()),
            Test::Regex(r, _) => r.is_match(s),
            Test::StrList(list) => list.iter().any(|v| v == s),
            _ => false,
        }
    }

    fn test_num(&self, n: i64) -> bool {
        match &self.test {
            Test::NumEq(v) => n == *v,
            Test::NumList(list) => list.contains(&n),
            Test::Greater(v) => n > *v,
            Test::Less(v) => n < *v,
            _ => false,
        }
    }
}

fn normalise(field: Field, s: &str) -> String {
    match field {
        Field::Domain | Field::Tag | Field::ProxyGroup => s.to_lowercase(),
        Field::ProxyCountry => s.to_uppercase(),
        _ => s.to_string(),
    }
}

fn text(value: &serde_json::Value) -> Result<String, crate::config::Problem> {
    match value {
        serde_json::Value::String(s) => Ok(s.clone()),
        other => Err(format!("expected a string, found {other}").into()),
    }
}

fn number(field: Field, value: &serde_json::Value) -> Result<i64, crate::config::Problem> {
    let n = match value {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| crate::config::Problem(format!("expected a whole number, found {n}")))?,
        serde_json::Value::String(s) if field == Field::Weekday => {
            i64::from(crate::config::parse_weekday(s)?)
        }
        serde_json::Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("expected a whole number, found {s:?}"))?,
        other => return Err(format!("expected a number, found {other}").into()),
    };
    let (lo, hi) = match field {
        Field::Hour => (0, 23),
        Field::Weekday => (1, 7),
        _ => (0, i64::MAX),
    };
    if n < lo || n > hi {
        return Err(format!("{n} is out of range for {field:?}: use {lo} to {hi}").into());
    }
    Ok(n)
}

fn list<T>(
    value: &serde_json::Value,
    item: impl Fn(&serde_json::Value) -> Result<T, crate::config::Problem>,
) -> Result<Vec<T>, crate::config::Problem> {
    match value {
        serde_json::Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| item(v).map_err(|m| format!("item {i}: {m}").into()))
            .collect(),
        serde_json::Value::Array(_) => Err("the list is empty: give at least one value".into()),
        other => Err(format!("expected a list, e.g. [\"a\", \"b\"], found {other}").into()),
    }
}
