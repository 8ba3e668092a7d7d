//! Upkeep: delete statistics, rotation events and activity older than their
//! retention, expired sticky mappings, and optionally VACUUM. Reports exactly
//! what it deleted.

use serde::Serialize;

use crate::{Result, Store, now_ms};

/// What `maintenance` removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MaintenanceReport {
    /// Hourly statistics rows deleted.
    pub stats_deleted: usize,
    /// Rotation events deleted.
    pub events_deleted: usize,
    /// Activity log entries deleted.
    pub activity_deleted: usize,
    /// Expired sticky mappings deleted.
    pub sticky_deleted: usize,
    /// Whether VACUUM ran.
    pub vacuumed: bool,
}

impl Store {
    /// Deletes statistics older than `stats_days` and events and activity
    /// older than `events_days` (whole hour buckets: a bucket is deleted when
    /// its hour started before the cut-off), in one transaction; then
    /// VACUUM when asked.
    pub fn maintenance(
        &self,
        stats_days: u32,
        events_days: u32,
        vacuum: bool,
    ) -> Result<MaintenanceReport> {
        let now = now_ms();
        let day = 86_400_000i64;
        let stats_cut = now - i64::from(stats_days) * day;
        let events_cut = now - i64::from(events_days) * day;
        let tx = self.conn().unchecked_transaction()?;
        let report = MaintenanceReport {
            stats_deleted: tx.execute(
                "DELETE FROM proxy_usage_stats WHERE hour_start < ?1",
                [stats_cut],
            )?,
            events_deleted: tx.execute(
                "DELETE FROM rotation_events WHERE created_at < ?1",
                [events_cut],
            )?,
            activity_deleted: tx.execute(
                "DELETE FROM activity_logs WHERE created_at < ?1",
                [events_cut],
            )?,
            sticky_deleted: tx.execute(
                "DELETE FROM sticky_session_mappings WHERE expires_at <= ?1",
                [now],
            )?,
            vacuumed: vacuum,
        };
        tx.commit()?;
        if vacuum {
            self.conn().execute_batch("VACUUM")?;
        }
        Ok(report)
    }
}
