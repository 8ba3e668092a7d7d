//! Usage over time and rotation events through the API, from the store
//! (they survive restarts; the batched usage writer commits about once a
//! second, so the newest second may not be there yet).

use vip_api::{ApiError, RotationEventView, SeriesQuery, UsagePoint, UsageSeries};

use super::{Browsing, internal};

const HOUR_MS: i64 = 3_600_000;

impl Browsing {
    pub(crate) async fn usage(
        &self,
        proxy: Option<i64>,
        q: SeriesQuery,
    ) -> Result<UsageSeries, ApiError> {
        let bucket = q.bucket.unwrap_or_else(|| "hour".into());
        let bucket_ms = if bucket == "day" {
            24 * HOUR_MS
        } else {
            HOUR_MS
        };
        let (from, to) = (q.from.unwrap_or_default(), q.to.unwrap_or_default());
        let points = self
            .on_store(move |s| {
                if let Some(id) = proxy {
                    s.get_proxy(id).map_err(|e| match e {
                        vip_store::StoreError::NotFound { .. } => ApiError::not_found(format!(
                            "proxy {id} does not exist: see `vip proxy list`"
                        )),
                        e => internal(e),
                    })?;
                }
                s.usage_series(proxy, from, to, bucket_ms).map_err(internal)
            })
            .await??;
        Ok(UsageSeries {
            proxy,
            bucket,
            from,
            to,
            points: points
                .into_iter()
                .map(|b| UsagePoint {
                    start: b.start,
                    total: b.total,
                    ok: b.ok,
                    failed: b.failed,
                    avg_latency_ms: b.avg_latency_ms,
                    bytes_sent: b.bytes_sent,
                    bytes_received: b.bytes_received,
                })
                .collect(),
        })
    }

    pub(crate) async fn rotation_events(
        &self,
        limit: u32,
    ) -> Result<Vec<RotationEventView>, ApiError> {
        let events = self
            .on_store(move |s| s.recent_events(limit as usize))
            .await?
            .map_err(internal)?;
        Ok(events
            .into_iter()
            .map(|e| RotationEventView {
                id: e.id,
                rotation: e.config_id,
                key_kind: e.key_kind,
                key: e.key_value,
                previous: e.previous_proxy_id,
                proxy: e.new_proxy_id,
                reason: e.reason,
                rule: e.rule_id,
                at: e.created_at,
            })
            .collect())
    }
}
