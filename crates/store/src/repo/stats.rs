//! `proxy_usage_stats`: per proxy and hour, request counts, latency (sum,
//! count, and a log-scale histogram for the 95th percentile), bytes, error
//! counts by kind, and counts of what became of attempts (failovers,
//! hedges, budgets) by event and fault class. Events are folded into buckets in memory and each
//! bucket is upserted once per batch, merging with what is stored.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::{Result, Store, now_ms};

const HOUR_MS: i64 = 3_600_000;
const BINS: usize = 64;

/// Something that became of an attempt (a failover, a hedge won, ...):
/// counted in `event_counts` as `event` or `event:fault`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    /// The event's snake_case name (e.g. "failover").
    pub event: &'static str,
    /// The fault class behind it (e.g. "proxy_reset"), if any.
    pub fault: Option<&'static str>,
}

/// One finished connection, as the gateway reports it; or, with `tally`,
/// only an event to count (no request, no bytes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UsageEvent {
    /// The proxy used.
    pub proxy: vip_engine::ProxyId,
    /// When it finished (ms).
    pub at_ms: i64,
    /// Whether it succeeded.
    pub ok: bool,
    /// Failure kind (e.g. "proxy_timeout") when it failed.
    pub error_kind: Option<&'static str>,
    /// Connect latency.
    pub latency_ms: Option<f64>,
    /// Bytes client → origin.
    pub bytes_sent: u64,
    /// Bytes origin → client.
    pub bytes_received: u64,
    /// Not a connection but an event to count.
    pub tally: Option<Tally>,
}

impl UsageEvent {
    /// An event to count for `proxy` at `at_ms`.
    pub fn tally(proxy: vip_engine::ProxyId, at_ms: i64, tally: Tally) -> UsageEvent {
        UsageEvent {
            proxy,
            at_ms,
            ok: false,
            error_kind: None,
            latency_ms: None,
            bytes_sent: 0,
            bytes_received: 0,
            tally: Some(tally),
        }
    }
}

/// Latency histogram: bin i holds latencies with floor(4·log2(ms + 1)) = i,
/// so each bin spans a factor of 2^(1/4) ≈ 1.19 up to about 65 s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Histogram([u32; BINS]);

impl Default for Histogram {
    fn default() -> Self {
        Histogram([0; BINS])
    }
}

impl Histogram {
    fn bin(ms: f64) -> usize {
        ((4.0 * (ms.max(0.0) + 1.0).log2()) as usize).min(BINS - 1)
    }

    fn add(&mut self, ms: f64) {
        let b = &mut self.0[Self::bin(ms)];
        *b = b.saturating_add(1);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// The upper edge of the bin holding the `q` quantile.
    fn quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.0.iter().map(|&c| u64::from(c)).sum();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &c) in self.0.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Some(2f64.powf((i + 1) as f64 / 4.0) - 1.0);
            }
        }
        None
    }

    fn to_blob(&self) -> Vec<u8> {
        self.0.iter().flat_map(|c| c.to_le_bytes()).collect()
    }

    fn from_blob(blob: &[u8]) -> Histogram {
        let mut h = Histogram::default();
        for (i, chunk) in blob.chunks_exact(4).take(BINS).enumerate() {
            h.0[i] = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        h
    }
}

/// Counters for one proxy and hour.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Bucket {
    total: u64,
    ok: u64,
    failed: u64,
    latency_sum: f64,
    latency_count: u64,
    histogram: Histogram,
    bytes_sent: u64,
    bytes_received: u64,
    errors: BTreeMap<String, u64>,
    events: BTreeMap<String, u64>,
}

impl Bucket {
    pub fn add(&mut self, e: &UsageEvent) {
        if let Some(t) = e.tally {
            let key = match t.fault {
                Some(fault) => format!("{}:{fault}", t.event),
                None => t.event.to_string(),
            };
            *self.events.entry(key).or_default() += 1;
            return;
        }
        self.total += 1;
        if e.ok {
            self.ok += 1;
        } else {
            self.failed += 1;
            *self
                .errors
                .entry(e.error_kind.unwrap_or("unknown").to_string())
                .or_default() += 1;
        }
        if let Some(ms) = e.latency_ms.filter(|ms| ms.is_finite()) {
            self.latency_sum += ms;
            self.latency_count += 1;
            self.histogram.add(ms);
        }
        self.bytes_sent = self.bytes_sent.saturating_add(e.bytes_sent);
        self.bytes_received = self.bytes_received.saturating_add(e.bytes_received);
    }

    fn merge(&mut self, o: &Bucket) {
        self.total += o.total;
        self.ok += o.ok;
        self.failed += o.failed;
        self.latency_sum += o.latency_sum;
        self.latency_count += o.latency_count;
        self.histogram.merge(&o.histogram);
        self.bytes_sent = self.bytes_sent.saturating_add(o.bytes_sent);
        self.bytes_received = self.bytes_received.saturating_add(o.bytes_received);
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.events {
            *self.events.entry(k.clone()).or_default() += v;
        }
    }
}

/// Folds events into (proxy, hour) buckets.
pub(crate) fn fold(events: &[UsageEvent], into: &mut HashMap<(i64, i64), Bucket>) {
    for e in events {
        let hour = e.at_ms.div_euclid(HOUR_MS) * HOUR_MS;
        into.entry((e.proxy.0 as i64, hour)).or_default().add(e);
    }
}

/// Reads a bucket from the ten columns starting at `first`: total,
/// successful, failed, latency sum, latency count, histogram, bytes sent,
/// bytes received, error counts, event counts.
fn bucket_at(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Bucket> {
    let hist: Option<Vec<u8>> = r.get(first + 5)?;
    let errors: String = r.get(first + 8)?;
    let events: String = r.get(first + 9)?;
    Ok(Bucket {
        total: r.get(first)?,
        ok: r.get(first + 1)?,
        failed: r.get(first + 2)?,
        latency_sum: r.get(first + 3)?,
        latency_count: r.get(first + 4)?,
        histogram: hist.map(|h| Histogram::from_blob(&h)).unwrap_or_default(),
        bytes_sent: r.get(first + 6)?,
        bytes_received: r.get(first + 7)?,
        errors: serde_json::from_str(&errors).unwrap_or_default(),
        events: serde_json::from_str(&events).unwrap_or_default(),
    })
}

/// Upserts buckets on `conn` (inside the caller's transaction).
pub(crate) fn upsert(conn: &Connection, buckets: &HashMap<(i64, i64), Bucket>) -> Result<()> {
    let mut read = conn.prepare_cached(
        "SELECT total_requests, successful_requests, failed_requests, latency_sum_ms, latency_count,
                latency_histogram, bytes_sent, bytes_received, error_counts, event_counts
         FROM proxy_usage_stats WHERE proxy_id = ?1 AND hour_start = ?2",
    )?;
    let mut write = conn.prepare_cached(
        "INSERT OR REPLACE INTO proxy_usage_stats (proxy_id, hour_start, total_requests, successful_requests,
             failed_requests, latency_sum_ms, latency_count, avg_latency_ms, p95_latency_ms, latency_histogram,
             bytes_sent, bytes_received, error_counts, event_counts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for (&(proxy, hour), fresh) in buckets {
        let mut b = read
            .query_row(params![proxy, hour], |r| bucket_at(r, 0))
            .optional()?
            .unwrap_or_default();
        b.merge(fresh);
        let avg = (b.latency_count > 0).then(|| b.latency_sum / b.latency_count as f64);
        write.execute(params![
            proxy,
            hour,
            b.total,
            b.ok,
            b.failed,
            b.latency_sum,
            b.latency_count,
            avg,
            b.histogram.quantile(0.95),
            b.histogram.to_blob(),
            b.bytes_sent as i64,
            b.bytes_received as i64,
            serde_json::to_string(&b.errors).unwrap_or_else(|_| "{}".into()),
            serde_json::to_string(&b.events).unwrap_or_else(|_| "{}".into()),
        ])?;
    }
    Ok(())
}

/// Usage of one proxy over a time range.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProxyStats {
    /// The proxy.
    pub proxy_id: i64,
    /// Requests.
    pub total_requests: u64,
    /// Successes.
    pub successful_requests: u64,
    /// Failures.
    pub failed_requests: u64,
    /// successful / total (0 when there were none).
    pub success_rate: f64,
    /// Mean connect latency.
    pub avg_latency_ms: Option<f64>,
    /// 95th percentile connect latency (histogram bin edge, ±19%).
    pub p95_latency_ms: Option<f64>,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Failures by kind.
    pub error_counts: BTreeMap<String, u64>,
    /// What became of attempts, by event and fault class (`failover:
    /// proxy_reset`, `hedge_won`, `budget_expired`, ...).
    pub event_counts: BTreeMap<String, u64>,
}

impl Store {
    /// Records events directly, in one transaction (the batched
    /// [`UsageWriter`](crate::usage::UsageWriter) is the fast path).
    pub fn record_usage(&self, events: &[UsageEvent]) -> Result<()> {
        let mut buckets = HashMap::new();
        fold(events, &mut buckets);
        let tx = self.conn().unchecked_transaction()?;
        upsert(&tx, &buckets)?;
        tx.commit()?;
        Ok(())
    }

    /// Per-proxy totals over the last `hours` hours (the current hour
    /// included), optionally for one proxy, busiest first.
    pub fn usage_stats(&self, proxy: Option<i64>, hours: u32) -> Result<Vec<ProxyStats>> {
        let since = (now_ms().div_euclid(HOUR_MS) - i64::from(hours.max(1)) + 1) * HOUR_MS;
        let mut stmt = self.conn().prepare(
            "SELECT proxy_id, total_requests, successful_requests, failed_requests, latency_sum_ms, latency_count,
                    latency_histogram, bytes_sent, bytes_received, error_counts, event_counts
             FROM proxy_usage_stats WHERE hour_start >= ?1 AND (?2 IS NULL OR proxy_id = ?2)",
        )?;
        let mut merged: BTreeMap<i64, Bucket> = BTreeMap::new();
        let rows = stmt.query_map(params![since, proxy], |r| {
            Ok((r.get::<_, i64>(0)?, bucket_at(r, 1)?))
        })?;
        for row in rows {
            let (id, b) = row?;
            merged.entry(id).or_default().merge(&b);
        }
        let mut out: Vec<ProxyStats> = merged
            .into_iter()
            .map(|(proxy_id, b)| ProxyStats {
                proxy_id,
                total_requests: b.total,
                successful_requests: b.ok,
                failed_requests: b.failed,
                success_rate: if b.total == 0 {
                    0.0
                } else {
                    b.ok as f64 / b.total as f64
                },
                avg_latency_ms: (b.latency_count > 0)
                    .then(|| b.latency_sum / b.latency_count as f64),
                p95_latency_ms: b.histogram.quantile(0.95),
                bytes_sent: b.bytes_sent,
                bytes_received: b.bytes_received,
                error_counts: b.errors,
                event_counts: b.events,
            })
            .collect();
        out.sort_by(|a, b| {
            b.total_requests
                .cmp(&a.total_requests)
                .then(a.proxy_id.cmp(&b.proxy_id))
        });
        Ok(out)
    }
}
