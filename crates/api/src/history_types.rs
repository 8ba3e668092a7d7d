//! Bodies of the history routes: usage over time (a proxy's or the
//! pool's, in hour or day buckets; a bucket without traffic is absent,
//! never filled) and recent rotation events.

use serde::{Deserialize, Serialize};

/// Which stretch of time, in which buckets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// Start (ms since the epoch; default: 24 hours before `to`).
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// End, exclusive (ms since the epoch; default: now).
    #[param(minimum = 0)]
    pub to: Option<i64>,
    /// hour (default) or day.
    #[param(pattern = "^(hour|day)$")]
    pub bucket: Option<String>,
}

/// One bucket of usage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsagePoint {
    /// Its start (ms since the epoch, UTC).
    pub start: i64,
    /// Requests.
    pub total: u64,
    /// Successes.
    pub ok: u64,
    /// Failures.
    pub failed: u64,
    /// Mean connect latency of the successes.
    pub avg_latency_ms: Option<f64>,
    /// Bytes client → target.
    pub bytes_sent: u64,
    /// Bytes target → client.
    pub bytes_received: u64,
}

/// Usage over time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageSeries {
    /// The proxy (none: the whole pool).
    pub proxy: Option<i64>,
    /// hour or day.
    pub bucket: String,
    /// Start asked for (ms).
    pub from: i64,
    /// End asked for (ms, exclusive).
    pub to: i64,
    /// Buckets with traffic, oldest first (the others are absent).
    pub points: Vec<UsagePoint>,
}

/// How many recent rotation events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Newest first, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A stored rotation event: which proxy changed for what, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotationEventView {
    /// Its id.
    pub id: i64,
    /// The rotation config.
    pub rotation: Option<i64>,
    /// tab, domain or held.
    pub key_kind: String,
    /// The tab id or domain.
    pub key: Option<String>,
    /// The proxy before.
    pub previous: Option<i64>,
    /// The proxy after.
    pub proxy: Option<i64>,
    /// Why (startup, scheduled, failure, rule_triggered, ...).
    pub reason: String,
    /// The rule behind it.
    pub rule: Option<i64>,
    /// When (ms since the epoch).
    pub at: i64,
}
