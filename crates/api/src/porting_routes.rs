//! The many-proxies routes: import a list (every line gets a verdict; bad
//! lines never stop the rest), export the pool (never with logins), and
//! change or delete many at once. Each change is in use when answered.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::body::Body;
use crate::porting_types::*;
use crate::problem::ApiError;
use crate::server::Ctl;

/// Most ids a bulk change takes.
pub const BULK_MAX: usize = 10_000;

/// Imports a list of proxies; answers with a verdict per line or entry.
#[utoipa::path(post, path = "/api/v1/proxies:import", tag = "proxies",
    request_body = ImportBody,
    responses((status = 200, body = ImportResult)))]
pub(crate) async fn import(
    State(c): State<Ctl>,
    Body(body): Body<ImportBody>,
) -> Result<Json<ImportResult>, ApiError> {
    if body.weight.is_some_and(|w| w > 100) {
        return Err(ApiError::invalid("weight is out of range")
            .at("/weight")
            .hint("use 0 (never picked by weighted rotation) to 100"));
    }
    if body.text.trim().is_empty() {
        return Err(ApiError::invalid("the list is empty")
            .at("/text")
            .hint("give one proxy per line, e.g. socks5://user:pass@203.0.113.7:1080"));
    }
    c.import_proxies(body).await.map(Json)
}

/// The stored proxies as a list (urls, csv or pac), without logins.
#[utoipa::path(get, path = "/api/v1/proxies:export", tag = "proxies",
    params(ExportQuery),
    responses((status = 200, content_type = "text/plain", body = String)))]
pub(crate) async fn export(
    State(c): State<Ctl>,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::malformed(format!("query: {}", e.body_text()))
            .at("/query")
            .hint("parameters: format (urls, csv, pac), group")
    })?;
    let format = q.format.clone().unwrap_or_else(|| "urls".into());
    let media = match format.as_str() {
        "urls" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "pac" => "application/x-ns-proxy-autoconfig",
        other => {
            return Err(
                ApiError::invalid(format!("format {other:?} is not one vip exports"))
                    .at("/query/format")
                    .hint("use urls, csv or pac"),
            );
        }
    };
    let text = c.export_proxies(q).await?;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    Ok(response)
}

/// Deletes, enables, disables or regroups many proxies at once.
#[utoipa::path(post, path = "/api/v1/proxies:bulk", tag = "proxies",
    request_body = BulkChange,
    responses((status = 200, body = BulkResult)))]
pub(crate) async fn bulk(
    State(c): State<Ctl>,
    Body(change): Body<BulkChange>,
) -> Result<Json<BulkResult>, ApiError> {
    if change.ids.is_empty() || change.ids.len() > BULK_MAX {
        return Err(
            ApiError::invalid(format!("{} ids: give 1 to {BULK_MAX}", change.ids.len()))
                .at("/ids")
                .hint("send the rest in another call"),
        );
    }
    match (change.action.as_str(), &change.group) {
        ("assign-group", None) => {
            return Err(ApiError::invalid("assign-group needs a group")
                .at("/group")
                .hint("give the group name, or \"\" for none"));
        }
        ("delete" | "enable" | "disable", Some(_)) => {
            return Err(
                ApiError::invalid(format!("{} takes no group", change.action))
                    .at("/group")
                    .hint("leave group out, or use assign-group"),
            );
        }
        ("delete" | "enable" | "disable" | "assign-group", _) => {}
        (other, _) => {
            return Err(
                ApiError::invalid(format!("action {other:?} is not one vip knows"))
                    .at("/action")
                    .hint("use delete, enable, disable or assign-group"),
            );
        }
    }
    c.bulk_proxies(change).await.map(Json)
}
