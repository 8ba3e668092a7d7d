//! The proxy routes on the store: a page by filter, order and cursor; one
//! proxy; add (its login sealed in the vault); change and delete only when
//! the proxy is still at the caller's ETag, checked and written in one
//! store call so two writers cannot both pass the check. The control
//! reloads the pool after each change.

use vip_api::{
    ApiError, Cursor, CursorKey, NewProxyBody, ProxyChange, ProxyList, ProxyOrder, ProxyQuery,
    ProxyView,
};
use vip_store::StoreError;
use vip_store::repo::proxies::{AddOutcome, NewProxy, ProxyPatch, ProxyRecord};
use vip_store::repo::proxy_page::{After, PageRequest, ProxyFilter, ProxySort};
use vip_store::vault::Secret;

use super::{Browsing, internal};

/// The API's view of a stored proxy: never its login.
pub fn view(r: &ProxyRecord) -> ProxyView {
    ProxyView {
        id: r.id,
        protocol: r.protocol.to_string(),
        host: r.host.clone(),
        port: r.port,
        has_login: r.credential_id.is_some(),
        country: r.country.clone(),
        region: r.region.clone(),
        city: r.city.clone(),
        weight: r.weight,
        group: r.group.clone(),
        tags: r.tags.clone(),
        enabled: r.enabled,
        status: r.status.clone(),
        latency_ms: r.latency_ms,
        exit_ip: r.exit_ip.clone(),
        exit_country: r.exit_country.clone(),
        last_checked_at: r.last_checked_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { .. } => ApiError::not_found(format!("{e}: see `vip proxy list`")),
        StoreError::Invalid { .. } => ApiError::invalid(e.to_string()),
        e => internal(e),
    }
}

fn stale(id: i64, now: &ProxyView) -> ApiError {
    ApiError::new(
        412,
        format!(
            "proxy {id} changed since it was read (it is now at {})",
            now.etag()
        ),
    )
    .hint(format!(
        "GET /api/v1/proxies/{id} again, check the change still makes sense, and send the new ETag"
    ))
}

/// The store's page request for an API query.
fn page_request(q: &ProxyQuery) -> Result<PageRequest, ApiError> {
    let order = q.sort.unwrap_or_default();
    let desc = q.desc.unwrap_or(false);
    let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => {
            let c = Cursor::decode(text)
                .filter(|c| c.order == order && c.desc == desc)
                .ok_or_else(|| {
                    ApiError::invalid(format!("cursor {text:?} is not one of this listing's"))
                        .at("/query/cursor")
                        .hint("pass the next_cursor of the previous page, with the same sort and desc")
                })?;
            Some(match c.key {
                CursorKey::Number(n) => After::Number(n, c.id),
                CursorKey::Text(t) => After::Text(t, c.id),
            })
        }
    };
    Ok(PageRequest {
        filter: ProxyFilter {
            status: q.status.clone(),
            group: q.group.clone(),
            country: q.country.clone(),
            tag: q.tag.clone(),
            text: q.q.clone(),
            enabled: q.enabled,
        },
        sort: match order {
            ProxyOrder::Id => ProxySort::Id,
            ProxyOrder::Host => ProxySort::Host,
            ProxyOrder::Latency => ProxySort::Latency,
        },
        descending: desc,
        after,
        limit: q.limit.unwrap_or(100) as usize,
    })
}

impl Browsing {
    /// A page of proxies.
    pub async fn proxies(&self, q: ProxyQuery) -> Result<ProxyList, ApiError> {
        let req = page_request(&q)?;
        let (order, desc) = (q.sort.unwrap_or_default(), q.desc.unwrap_or(false));
        let page = self
            .on_store(move |s| s.page_proxies(&req))
            .await?
            .map_err(store_error)?;
        Ok(ProxyList {
            items: page.items.iter().map(view).collect(),
            next_cursor: page.next.map(|after| {
                let (key, id) = match after {
                    After::Number(n, id) => (CursorKey::Number(n), id),
                    After::Text(t, id) => (CursorKey::Text(t), id),
                };
                Cursor {
                    order,
                    desc,
                    key,
                    id,
                }
                .encode()
            }),
        })
    }

    /// Stores an on-demand check's result (the status follows it at
    /// once: someone asked); returns the status it had before.
    pub(crate) async fn record_check(
        &self,
        r: vip_gateway::health::CheckReport,
    ) -> Result<String, ApiError> {
        self.on_store(move |s| {
            let before = s.get_proxy(r.proxy.0 as i64)?.status;
            let ip = r.exit_ip.map(|i| i.to_string());
            let latency = r.latency.filter(|_| r.ok).map(|d| d.as_secs_f64() * 1000.0);
            let status = if r.ok { "up" } else { "down" };
            let exit = (ip.as_deref(), r.exit_country.as_deref());
            s.record_check(r.proxy, Some(status), latency, exit, vip_store::now_ms())?;
            Ok(before)
        })
        .await?
        .map_err(store_error)
    }

    /// One proxy.
    pub async fn proxy(&self, id: i64) -> Result<ProxyView, ApiError> {
        let r = self.on_store(move |s| s.get_proxy(id)).await?;
        r.map(|r| view(&r)).map_err(store_error)
    }

    /// Stores a proxy.
    pub async fn add_proxy(&self, body: NewProxyBody) -> Result<ProxyView, ApiError> {
        let protocol = match body.protocol.as_deref() {
            None => None,
            Some(p) => Some(p.parse().map_err(|_| {
                ApiError::invalid(format!("protocol {p:?} is not one vip speaks"))
                    .at("/protocol")
                    .hint("use http, https, socks4, socks4a or socks5")
            })?),
        };
        let has_login = body.username.is_some() || body.password.is_some();
        let vault = if has_login {
            Some(self.vault().await?)
        } else {
            None
        };
        let new = NewProxy {
            protocol,
            host: body.host,
            port: body.port,
            username: body.username.map(Secret::new),
            password: body.password.map(Secret::new),
            country: body.country,
            weight: body.weight,
            group: body.group,
            tags: body.tags,
            disabled: body.disabled,
            ..NewProxy::default()
        };
        let stored = self
            .on_store(move |s| {
                let outcome = s.add_proxy(vault.as_deref(), &new)?;
                Ok::<_, StoreError>((outcome, s.get_proxy(outcome_id(outcome))?))
            })
            .await?
            .map_err(store_error)?;
        match stored {
            (AddOutcome::Added(_), r) => Ok(view(&r)),
            (AddOutcome::Duplicate(id), _) => Err(ApiError::conflict(format!(
                "this proxy is stored already as {id}"
            ))
            .hint(format!("change it with PATCH /api/v1/proxies/{id}"))),
        }
    }

    /// Changes a proxy still at `if_match`.
    pub async fn update_proxy(
        &self,
        id: i64,
        if_match: String,
        change: ProxyChange,
    ) -> Result<ProxyView, ApiError> {
        let patch = ProxyPatch {
            country: change.country,
            region: change.region,
            city: change.city,
            group: change.group,
            weight: change.weight,
            enabled: change.enabled,
            tags: change.tags,
        };
        self.on_store(move |s| {
            let now = view(&s.get_proxy(id).map_err(store_error)?);
            if now.etag() != if_match && if_match != "*" {
                return Err(stale(id, &now));
            }
            s.update_proxy(id, &patch)
                .map(|r| view(&r))
                .map_err(store_error)
        })
        .await?
    }

    /// Deletes a proxy (still at `if_match`, when given).
    pub async fn delete_proxy(&self, id: i64, if_match: Option<String>) -> Result<(), ApiError> {
        self.on_store(move |s| {
            let now = view(&s.get_proxy(id).map_err(store_error)?);
            if let Some(tag) = if_match.filter(|t| t != "*")
                && now.etag() != tag
            {
                return Err(stale(id, &now));
            }
            s.remove_proxy(id).map_err(store_error)
        })
        .await?
    }
}

impl Browsing {
    /// The daemon's gauges for `GET /metrics`: open tabs, stored proxies
    /// by status and whether they are enabled.
    pub async fn metrics(&self) -> Result<String, ApiError> {
        use std::fmt::Write;
        let tabs = self.status().await.tabs;
        let counts = self
            .on_store(|s| {
                let mut stmt = s.conn().prepare_cached(
                    "SELECT status, enabled, count(*) FROM proxies GROUP BY status, enabled ORDER BY 1, 2",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?, r.get::<_, i64>(2)?)))?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?
            .map_err(internal)?;
        let mut out = String::new();
        out.push_str(
            "# HELP vip_tabs_open Browser tabs open in identities.
# TYPE vip_tabs_open gauge
",
        );
        let _ = writeln!(out, "vip_tabs_open {tabs}");
        out.push_str(
            "# HELP vip_proxies Stored proxies by health status and whether enabled.
# TYPE vip_proxies gauge
",
        );
        for status in ["up", "down", "unknown"] {
            for enabled in [true, false] {
                let n: i64 = counts
                    .iter()
                    .filter(|(s, e, _)| s == status && *e == enabled)
                    .map(|c| c.2)
                    .sum();
                let _ = writeln!(
                    out,
                    "vip_proxies{{status=\"{status}\",enabled=\"{enabled}\"}} {n}"
                );
            }
        }
        Ok(out)
    }

    /// Writes a change request to the activity log; a failure is logged,
    /// never the caller's problem.
    pub async fn record(&self, entry: vip_api::Activity) {
        let level = if entry.status >= 400 { "warn" } else { "info" };
        let message = format!("{} {} -> {}", entry.method, entry.target, entry.status);
        let details = serde_json::json!({
            "principal": entry.principal,
            "method": entry.method,
            "route": entry.route,
            "target": entry.target,
            "status": entry.status,
        });
        match self
            .on_store(move |s| s.log_activity(level, "api", &message, Some(&details)))
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("activity log: {e}"),
            Err(e) => tracing::warn!("activity log: {e}"),
        }
    }
}

fn outcome_id(o: AddOutcome) -> i64 {
    match o {
        AddOutcome::Added(id) | AddOutcome::Duplicate(id) => id,
    }
}
