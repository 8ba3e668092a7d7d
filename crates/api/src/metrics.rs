//! `GET /metrics` in the Prometheus text format (the token is required like
//! everywhere): the daemon's gauges (tabs, proxies by status) from
//! [`crate::Control::metrics`] and the API's own request counts by route
//! class and status, kept here.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::problem::ApiError;
use crate::server::Ctl;

/// Requests answered, by route class and status.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    counts: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl ApiMetrics {
    /// Counts one answered request.
    pub fn count(&self, class: &'static str, status: u16) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry((class, status)).or_default() += 1;
    }

    /// The counts as Prometheus text.
    pub fn render(&self, out: &mut String) {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP vip_api_requests_total Control API requests answered, by route class and status.\n");
        out.push_str("# TYPE vip_api_requests_total counter\n");
        for ((class, status), n) in counts.iter() {
            let _ = writeln!(
                out,
                "vip_api_requests_total{{class=\"{class}\",status=\"{status}\"}} {n}"
            );
        }
    }
}

/// The metrics registry a request's handler can reach.
#[derive(Clone, Debug)]
pub(crate) struct Registry(pub Arc<ApiMetrics>);

/// Prometheus text: the daemon's gauges, then the API's counters.
#[utoipa::path(get, path = "/metrics", tag = "status",
    responses((status = 200, description = "Prometheus text format 0.0.4",
               content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(
    State(c): State<Ctl>,
    axum::Extension(registry): axum::Extension<Registry>,
) -> Result<impl IntoResponse, ApiError> {
    let mut out = c.metrics().await?;
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    registry.0.render(&mut out);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}
