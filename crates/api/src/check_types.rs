//! Bodies of the health-check, job and breaker routes: one check's
//! result, a check of many as a job with progress, and a proxy's circuit
//! breaker.

use serde::{Deserialize, Serialize};

/// The outcome of one health check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckResult {
    /// The proxy.
    pub id: i64,
    /// Whether every stage passed.
    pub ok: bool,
    /// TCP connect time (ms).
    pub connect_ms: Option<f64>,
    /// Connect, handshake and request (ms): the latency the engine learns.
    pub latency_ms: Option<f64>,
    /// HTTP status of the check URL.
    pub http_status: Option<u16>,
    /// The exit address the check URL saw.
    pub exit_ip: Option<String>,
    /// Its country, from the configured database.
    pub exit_country: Option<String>,
    /// Its timezone, from a City database.
    pub exit_timezone: Option<String>,
    /// Failure kind (`proxy_refused`, `proxy_timeout`, `auth_failed`, ...).
    pub failure: Option<String>,
    /// The stage that failed: connect, handshake, request or answer.
    pub stage: Option<String>,
    /// What failed, for people (never an old value: a failed check has no
    /// latency).
    pub error: Option<String>,
}

/// Which proxies to check (none given: all stored).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// These proxies.
    #[serde(default)]
    pub ids: Option<Vec<i64>>,
    /// The proxies of this group.
    #[serde(default)]
    pub group: Option<String>,
}

/// A background job; progress comes as `job-progress` events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Job {
    /// Its id (for `GET /api/v1/jobs/{id}` and the events).
    pub id: i64,
    /// `proxy-check`.
    pub kind: String,
    /// `running`, `finished` or `cancelled`.
    pub state: String,
    /// Items in all.
    pub total: u64,
    /// Items done.
    pub done: u64,
    /// Items that passed.
    pub ok: u64,
    /// Items that failed.
    pub failed: u64,
    /// Started (ms since the epoch).
    pub started_at: i64,
    /// Ended (ms since the epoch).
    pub finished_at: Option<i64>,
}

/// A proxy's circuit breaker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BreakerView {
    /// The proxy.
    pub id: i64,
    /// `closed`, `open` or `half_open`.
    pub phase: String,
    /// Whether traffic may go through it now.
    pub available: bool,
    /// Proxy-fault failures since its last success.
    pub consecutive_failures: u32,
    /// When an open breaker lets probes through (ms since the epoch).
    pub open_until: Option<i64>,
    /// Successes and proxy-fault failures, all time (this run).
    pub successes: u64,
    /// Proxy-fault failures, all time (this run).
    pub failures: u64,
}
