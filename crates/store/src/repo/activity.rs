//! `activity_logs`: what the user and the daemon did, for the dashboard and
//! `vip` output. Never holds secrets: callers log ids, not credentials.

use rusqlite::params;
use serde::Serialize;

use crate::{Result, Store, StoreError, now_ms};

/// A stored activity entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActivityRecord {
    /// Row id.
    pub id: i64,
    /// When (ms).
    pub created_at: i64,
    /// debug, info, warn, error.
    pub level: String,
    /// Area, e.g. "import".
    pub category: String,
    /// Human text.
    pub message: String,
    /// Structured details (JSON).
    pub details: Option<String>,
}

impl Store {
    /// Appends an entry.
    pub fn log_activity(
        &self,
        level: &str,
        category: &str,
        message: &str,
        details: Option<&serde_json::Value>,
    ) -> Result<()> {
        if !matches!(level, "debug" | "info" | "warn" | "error") {
            return Err(StoreError::invalid(
                "level",
                format!("{level:?}: use debug, info, warn or error"),
            ));
        }
        self.conn().execute(
            "INSERT INTO activity_logs (created_at, level, category, message, details) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![now_ms(), level, category, message, details.map(|d| d.to_string())],
        )?;
        Ok(())
    }

    /// The newest `limit` entries.
    pub fn recent_activity(&self, limit: usize) -> Result<Vec<ActivityRecord>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, created_at, level, category, message, details FROM activity_logs
             ORDER BY created_at DESC, id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(ActivityRecord {
                id: r.get(0)?,
                created_at: r.get(1)?,
                level: r.get(2)?,
                category: r.get(3)?,
                message: r.get(4)?,
                details: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
