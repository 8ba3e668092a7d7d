//! `rotation_events`: the audit log of every change of the proxy chosen for a
//! key (tab, domain, held proxy), written in batches.

use rusqlite::params;
use serde::Serialize;
use vip_engine::{RotationEvent, RotationKey};

use crate::{Result, Store};

/// A stored rotation event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    /// Row id.
    pub id: i64,
    /// Rotation config.
    pub config_id: Option<i64>,
    /// tab, domain or held.
    pub key_kind: String,
    /// Tab id or domain.
    pub key_value: Option<String>,
    /// Proxy before.
    pub previous_proxy_id: Option<i64>,
    /// Proxy after.
    pub new_proxy_id: Option<i64>,
    /// Why.
    pub reason: String,
    /// Rule behind it.
    pub rule_id: Option<i64>,
    /// When (ms).
    pub created_at: i64,
}

impl Store {
    /// Logs events in one transaction.
    pub fn log_events(&self, events: &[RotationEvent]) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO rotation_events (config_id, key_kind, key_value, previous_proxy_id, new_proxy_id,
                     reason, rule_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for e in events {
                let (kind, value) = match &e.key {
                    RotationKey::Tab(t) => ("tab", Some(t.0.to_string())),
                    RotationKey::Domain(d) => ("domain", Some(d.clone())),
                    RotationKey::Held => ("held", None),
                };
                stmt.execute(params![
                    e.rotation.0 as i64,
                    kind,
                    value,
                    e.previous.map(|p| p.0 as i64),
                    e.new.map(|p| p.0 as i64),
                    e.reason.as_str(),
                    e.rule.map(|r| r.0 as i64),
                    e.at.as_millis(),
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The newest `limit` events, newest first.
    pub fn recent_events(&self, limit: usize) -> Result<Vec<EventRecord>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, config_id, key_kind, key_value, previous_proxy_id, new_proxy_id, reason, rule_id, created_at
             FROM rotation_events ORDER BY created_at DESC, id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(EventRecord {
                id: r.get(0)?,
                config_id: r.get(1)?,
                key_kind: r.get(2)?,
                key_value: r.get(3)?,
                previous_proxy_id: r.get(4)?,
                new_proxy_id: r.get(5)?,
                reason: r.get(6)?,
                rule_id: r.get(7)?,
                created_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
