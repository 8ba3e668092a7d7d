//! The history routes: a proxy's usage over time, the pool's, and recent
//! rotation events, all from the store (they survive restarts).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};

use crate::history_types::*;
use crate::problem::ApiError;
use crate::server::{Ctl, number};

const DAY_MS: i64 = 86_400_000;
/// The longest stretch one call may ask for.
const MAX_SPAN_DAYS: i64 = 400;

fn series_query(
    query: Result<Query<SeriesQuery>, QueryRejection>,
) -> Result<SeriesQuery, ApiError> {
    let Query(mut q) = query.map_err(|e| {
        ApiError::malformed(format!("query: {}", e.body_text()))
            .at("/query")
            .hint("parameters: from, to (ms since the epoch), bucket (hour or day)")
    })?;
    let bucket = q.bucket.get_or_insert_with(|| "hour".into());
    if bucket != "hour" && bucket != "day" {
        return Err(
            ApiError::invalid(format!("bucket {bucket:?} is not hour or day"))
                .at("/query/bucket")
                .hint("use hour or day"),
        );
    }
    let to = *q.to.get_or_insert_with(|| crate::events::now_ms() as i64);
    let from = *q.from.get_or_insert(to.saturating_sub(DAY_MS));
    for (name, v) in [("from", from), ("to", to)] {
        if v < 0 {
            return Err(ApiError::invalid(format!("{name} {v} is before 1970"))
                .at(format!("/query/{name}"))
                .hint("give ms since the epoch"));
        }
    }
    if from >= to {
        return Err(
            ApiError::invalid(format!("from {from} is not before to {to}"))
                .at("/query/from")
                .hint("give from < to, in ms since the epoch"),
        );
    }
    if to.saturating_sub(from) > MAX_SPAN_DAYS * DAY_MS {
        return Err(ApiError::invalid("the stretch is longer than 400 days")
            .at("/query/from")
            .hint("ask for 400 days or less per call"));
    }
    Ok(q)
}

/// A proxy's usage over time.
#[utoipa::path(get, path = "/api/v1/proxies/{id}/stats", tag = "proxies",
    params(("id" = i64, Path, description = "proxy id"), SeriesQuery),
    responses((status = 200, body = UsageSeries)))]
pub(crate) async fn proxy_stats(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
    query: Result<Query<SeriesQuery>, QueryRejection>,
) -> Result<Json<UsageSeries>, ApiError> {
    let id = number("id", &id, "vip proxy list")?;
    let q = series_query(query)?;
    c.usage(Some(id), q).await.map(Json)
}

/// The whole pool's usage over time.
#[utoipa::path(get, path = "/api/v1/usage", tag = "status",
    params(SeriesQuery),
    responses((status = 200, body = UsageSeries)))]
pub(crate) async fn usage(
    State(c): State<Ctl>,
    query: Result<Query<SeriesQuery>, QueryRejection>,
) -> Result<Json<UsageSeries>, ApiError> {
    let q = series_query(query)?;
    c.usage(None, q).await.map(Json)
}

/// Recent rotation events, newest first.
#[utoipa::path(get, path = "/api/v1/rotation-events", tag = "rotation",
    params(EventsQuery),
    responses((status = 200, body = Vec<RotationEventView>)))]
pub(crate) async fn rotation_events(
    State(c): State<Ctl>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<Vec<RotationEventView>>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::malformed(format!("query: {}", e.body_text()))
            .at("/query")
            .hint("parameters: limit (1 to 1000)")
    })?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(format!("limit {limit} is out of range"))
            .at("/query/limit")
            .hint("ask for 1 to 1000 events"));
    }
    c.rotation_events(limit).await.map(Json)
}
