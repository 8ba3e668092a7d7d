//! The proxy routes: a page by filter, order and cursor; one proxy with its
//! `ETag`; create (201 with `Location` and `ETag`); change, which needs
//! `If-Match` with the ETag the caller saw (428 without, 412 when someone
//! changed it since), so the CLI and the dashboard never overwrite each
//! other; delete (with `If-Match` when given).

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::body::Body;
use crate::problem::ApiError;
use crate::proxy_types::*;
use crate::server::{Ctl, number};

fn tagged(status: StatusCode, proxy: ProxyView) -> Response {
    let etag = proxy.etag();
    let location = format!("/api/v1/proxies/{}", proxy.id);
    let mut response = (status, Json(proxy)).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&location)
    {
        headers.insert(header::LOCATION, v);
    }
    response
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

/// A page of stored proxies.
#[utoipa::path(get, path = "/api/v1/proxies", tag = "proxies", params(ProxyQuery),
    responses((status = 200, body = ProxyList)))]
pub(crate) async fn list(
    State(c): State<Ctl>,
    query: Result<Query<ProxyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ProxyList>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::malformed(format!("query: {}", e.body_text()))
            .at("/query")
            .hint("parameters: cursor, limit (1-1000), status, group, country, tag, q, enabled, sort (id, host, latency), desc")
    })?;
    if let Some(status) = q
        .status
        .as_deref()
        .filter(|s| !matches!(*s, "unknown" | "up" | "down"))
    {
        return Err(
            ApiError::invalid(format!("status {status:?} is not one a proxy has"))
                .at("/query/status")
                .hint("use unknown, up or down"),
        );
    }
    if let Some(limit) = q.limit.filter(|l| !(1..=1000).contains(l)) {
        return Err(ApiError::invalid(format!("limit {limit} is out of range"))
            .at("/query/limit")
            .hint("ask for 1 to 1000 proxies a page and follow next_cursor"));
    }
    c.proxies(q).await.map(Json)
}

/// Stores a proxy and puts it to use.
#[utoipa::path(post, path = "/api/v1/proxies", tag = "proxies", request_body = NewProxyBody,
    responses((status = 201, body = ProxyView, headers(("ETag" = String), ("Location" = String)))))]
pub(crate) async fn create(
    State(c): State<Ctl>,
    Body(body): Body<NewProxyBody>,
) -> Result<Response, ApiError> {
    check_weight(body.weight)?;
    let proxy = c.add_proxy(body).await?;
    Ok(tagged(StatusCode::CREATED, proxy))
}

/// One stored proxy, with its ETag.
#[utoipa::path(get, path = "/api/v1/proxies/{id}", tag = "proxies",
    params(("id" = i64, Path, description = "proxy id")),
    responses((status = 200, body = ProxyView, headers(("ETag" = String)))))]
pub(crate) async fn get(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let id = number("id", &id, "vip proxy list")?;
    Ok(tagged(StatusCode::OK, c.proxy(id).await?))
}

/// Changes a proxy that is still as the caller saw it.
#[utoipa::path(patch, path = "/api/v1/proxies/{id}", tag = "proxies",
    params(("id" = i64, Path, description = "proxy id"),
           ("If-Match" = String, Header, description = "the ETag of the proxy as last read")),
    request_body = ProxyChange,
    responses((status = 200, body = ProxyView, headers(("ETag" = String))),
              (status = 412, description = "changed since it was read", body = crate::problem::Problem, content_type = "application/problem+json"),
              (status = 428, description = "no If-Match", body = crate::problem::Problem, content_type = "application/problem+json")))]
pub(crate) async fn change(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    Body(change): Body<ProxyChange>,
) -> Result<Response, ApiError> {
    let id = number("id", &id, "vip proxy list")?;
    check_weight(change.weight)?;
    let Some(tag) = if_match(&headers) else {
        return Err(ApiError::new(428, "a change needs If-Match").hint(format!(
            "GET /api/v1/proxies/{id} and send its ETag as If-Match"
        )));
    };
    Ok(tagged(
        StatusCode::OK,
        c.update_proxy(id, tag, change).await?,
    ))
}

/// Deletes a proxy (if still as the caller saw it, when `If-Match` is sent).
#[utoipa::path(delete, path = "/api/v1/proxies/{id}", tag = "proxies",
    params(("id" = i64, Path, description = "proxy id"),
           ("If-Match" = Option<String>, Header, description = "the ETag of the proxy as last read")),
    responses((status = 200, body = Object, example = json!({"deleted": 7})),
              (status = 412, description = "changed since it was read", body = crate::problem::Problem, content_type = "application/problem+json")))]
pub(crate) async fn delete(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let id = number("id", &id, "vip proxy list")?;
    c.delete_proxy(id, if_match(&headers)).await?;
    Ok(Json(json!({"deleted": id})))
}
