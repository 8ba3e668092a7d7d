//! Health checks on demand, jobs, and circuit breakers: check one proxy
//! now (the answer is the fresh result, an error with its reason, never an
//! old value), check many as a job whose progress arrives as `job-progress`
//! events, look at or cancel a job, look at or reset a proxy's breaker.

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::body::Body;
use crate::check_types::*;
use crate::problem::ApiError;
use crate::server::{Ctl, number};

/// Checks one proxy now; the result is stored and the engine learns it.
#[utoipa::path(post, path = "/api/v1/proxies/{id}/check", tag = "proxies",
    params(("id" = i64, Path, description = "proxy id")),
    responses((status = 200, body = CheckResult)))]
pub(crate) async fn check_one(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<CheckResult>, ApiError> {
    let id = number("id", &id, "vip proxy list")?;
    c.check_proxy(id).await.map(Json)
}

/// Checks many proxies in the background (202 with the job); each result
/// is a `job-progress` event (and a `health-check` one) on the events
/// socket.
#[utoipa::path(post, path = "/api/v1/proxies:check", tag = "proxies",
    request_body = CheckRequest,
    responses((status = 202, body = Job, headers(("Location" = String)))))]
pub(crate) async fn check_many(
    State(c): State<Ctl>,
    Body(req): Body<CheckRequest>,
) -> Result<Response, ApiError> {
    if req.ids.is_some() && req.group.is_some() {
        return Err(ApiError::invalid("give ids or a group, not both")
            .at("/group")
            .hint("leave both out to check every stored proxy"));
    }
    let job = c.start_check(req).await?;
    let mut response = (StatusCode::ACCEPTED, Json(&job)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/jobs/{}", job.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// A job's progress.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, body = Job)))]
pub(crate) async fn job(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Job>, ApiError> {
    let id = number("id", &id, "the id POST /api/v1/proxies:check answered")?;
    c.job(id).await.map(Json)
}

/// Cancels a running job (what it finished stays recorded).
#[utoipa::path(delete, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, body = Job)))]
pub(crate) async fn cancel_job(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Job>, ApiError> {
    let id = number("id", &id, "the id POST /api/v1/proxies:check answered")?;
    c.cancel_job(id).await.map(Json)
}

/// A proxy's circuit breaker.
#[utoipa::path(get, path = "/api/v1/proxies/{id}/breaker", tag = "proxies",
    params(("id" = i64, Path, description = "proxy id")),
    responses((status = 200, body = BreakerView)))]
pub(crate) async fn breaker(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<BreakerView>, ApiError> {
    let id = number("id", &id, "vip proxy list")?;
    c.breaker(id).await.map(Json)
}

/// Closes a proxy's circuit breaker now, so traffic may use it again.
#[utoipa::path(post, path = "/api/v1/proxies/{id}/breaker:reset", tag = "proxies",
    params(("id" = i64, Path, description = "proxy id")),
    responses((status = 200, body = BreakerView)))]
pub(crate) async fn reset_breaker(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<BreakerView>, ApiError> {
    let id = number("id", &id, "vip proxy list")?;
    c.reset_breaker(id).await.map(Json)
}
