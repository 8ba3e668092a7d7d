//! One page of the proxy list, filtered and sorted in SQL with a keyset
//! cursor (the sort key and id of the last row shown), so a page costs the
//! same at the end of 100,000 proxies as at the start and rows added or
//! removed meanwhile neither repeat nor skip others.

use rusqlite::types::Value;

use super::proxies::{COLUMNS, ProxyRecord, record};
use crate::{Result, Store};

/// Which proxies a page lists; every given field must match.
#[derive(Clone, Debug, Default)]
pub struct ProxyFilter {
    /// `unknown`, `up` or `down`.
    pub status: Option<String>,
    /// Rotation group (exact).
    pub group: Option<String>,
    /// Country: the measured exit's, else the configured one.
    pub country: Option<String>,
    /// Carries this tag.
    pub tag: Option<String>,
    /// Host contains this text (case-insensitive).
    pub text: Option<String>,
    /// Enabled or disabled.
    pub enabled: Option<bool>,
}

/// The order of a page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProxySort {
    /// By id (the order they were added).
    #[default]
    Id,
    /// By host name, then port.
    Host,
    /// By last measured latency, unmeasured last.
    Latency,
}

impl ProxySort {
    fn key(self) -> &'static str {
        match self {
            ProxySort::Id => "id",
            ProxySort::Host => "(lower(host) || ':' || printf('%05d', port))",
            ProxySort::Latency => "COALESCE(latency_ms, 1e300)",
        }
    }
}

/// Where the previous page ended: its last row's sort key and id.
#[derive(Clone, Debug, PartialEq)]
pub enum After {
    /// A numeric key (id, latency).
    Number(f64, i64),
    /// A text key (host).
    Text(String, i64),
}

/// One page.
#[derive(Clone, Debug)]
pub struct ProxyPage {
    /// Its rows.
    pub items: Vec<ProxyRecord>,
    /// Where the next page starts; `None` on the last.
    pub next: Option<After>,
}

/// What a page asks for.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    /// The filter.
    pub filter: ProxyFilter,
    /// The order.
    pub sort: ProxySort,
    /// Largest first.
    pub descending: bool,
    /// After this row (the previous page's `next`).
    pub after: Option<After>,
    /// At most this many rows (1 to 1000).
    pub limit: usize,
}

impl Store {
    /// One page of proxies.
    pub fn page_proxies(&self, req: &PageRequest) -> Result<ProxyPage> {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        let f = &req.filter;
        let mut arg = |clause: &str, v: Value, clauses: &mut Vec<String>| {
            args.push(v);
            clauses.push(clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(s) = &f.status {
            arg("status = ?", Value::Text(s.clone()), &mut clauses);
        }
        if let Some(g) = &f.group {
            arg("rotation_group = ?", Value::Text(g.clone()), &mut clauses);
        }
        if let Some(c) = &f.country {
            arg(
                "upper(COALESCE(exit_country, country)) = upper(?)",
                Value::Text(c.clone()),
                &mut clauses,
            );
        }
        if let Some(t) = &f.tag {
            arg(
                "EXISTS (SELECT 1 FROM json_each(proxies.tags) WHERE value = ?)",
                Value::Text(t.clone()),
                &mut clauses,
            );
        }
        if let Some(t) = &f.text {
            let escaped = t
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            arg(
                "host LIKE ? ESCAPE '\\'",
                Value::Text(format!("%{escaped}%")),
                &mut clauses,
            );
        }
        if let Some(e) = f.enabled {
            arg("enabled = ?", Value::Integer(i64::from(e)), &mut clauses);
        }
        let key = req.sort.key();
        let (cmp, dir) = if req.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(after) = &req.after {
            let (k, id) = match after {
                After::Number(n, id) => (Value::Real(*n), *id),
                After::Text(t, id) => (Value::Text(t.clone()), *id),
            };
            let k = match (req.sort, k) {
                (ProxySort::Id, Value::Real(n)) => Value::Integer(n as i64),
                (_, k) => k,
            };
            args.push(k);
            args.push(Value::Integer(id));
            let n = args.len();
            clauses.push(format!("({key}, id) {cmp} (?{}, ?{n})", n - 1));
        }
        let limit = req.limit.clamp(1, 1000);
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {COLUMNS}, {key} FROM proxies {filter} ORDER BY {key} {dir}, id {dir} LIMIT {}",
            limit + 1
        );
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows: Vec<(ProxyRecord, Value)> = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((record(r)?, r.get::<_, Value>(19)?))
            })?
            .collect::<std::result::Result<_, _>>()?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = match (more, rows.last()) {
            (true, Some((last, k))) => Some(match k {
                Value::Text(t) => After::Text(t.clone(), last.id),
                Value::Integer(i) => After::Number(*i as f64, last.id),
                Value::Real(r) => After::Number(*r, last.id),
                _ => After::Number(0.0, last.id),
            }),
            _ => None,
        };
        Ok(ProxyPage {
            items: rows.into_iter().map(|(r, _)| r).collect(),
            next,
        })
    }
}
