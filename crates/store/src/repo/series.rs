//! Usage over time: the hourly statistics of one proxy or of the whole
//! pool summed into hour or day buckets between two instants. A bucket with
//! no rows is absent, never filled with a neighbour's value (a chart shows
//! the gap).

use serde::Serialize;

use crate::{Result, Store, StoreError};

/// One bucket.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bucket {
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

const HOUR_MS: i64 = 3_600_000;

impl Store {
    /// Buckets of `bucket_ms` (an hour or a day) from `from` to `to` (ms),
    /// of `proxy` or of every proxy.
    pub fn usage_series(
        &self,
        proxy: Option<i64>,
        from: i64,
        to: i64,
        bucket_ms: i64,
    ) -> Result<Vec<Bucket>> {
        if bucket_ms != HOUR_MS && bucket_ms != 24 * HOUR_MS {
            return Err(StoreError::invalid("bucket", "use hour or day"));
        }
        let mut stmt = self.conn().prepare_cached(
            "SELECT (hour_start / ?4) * ?4 AS b, SUM(total_requests), SUM(successful_requests),
                    SUM(failed_requests), SUM(latency_sum_ms), SUM(latency_count),
                    SUM(bytes_sent), SUM(bytes_received)
             FROM proxy_usage_stats
             WHERE hour_start >= ?1 AND hour_start < ?2 AND (?3 IS NULL OR proxy_id = ?3)
             GROUP BY b ORDER BY b",
        )?;
        let rows = stmt.query_map(rusqlite::params![from, to, proxy, bucket_ms], |r| {
            let count: i64 = r.get(5)?;
            let sum: f64 = r.get(4)?;
            let n = |i| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
            Ok(Bucket {
                start: r.get(0)?,
                total: n(1)?,
                ok: n(2)?,
                failed: n(3)?,
                avg_latency_ms: (count > 0).then(|| sum / count as f64),
                bytes_sent: n(6)?,
                bytes_received: n(7)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}
