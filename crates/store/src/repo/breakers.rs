//! `circuit_breakers`: each proxy's breaker state as JSON, saved on every
//! transition the engine reports and restored at start-up.

use rusqlite::params;
use vip_engine::{BreakerState, ProxyId};

use crate::{Result, Store, now_ms};

impl Store {
    /// Saves (or, for the default closed state, clears) a breaker.
    pub fn save_breaker(&self, proxy: ProxyId, state: &BreakerState) -> Result<()> {
        if *state == BreakerState::default() {
            self.conn().execute(
                "DELETE FROM circuit_breakers WHERE proxy_id = ?1",
                [proxy.0 as i64],
            )?;
            return Ok(());
        }
        let json = serde_json::to_string(state).unwrap_or_default();
        self.conn().execute(
            "INSERT INTO circuit_breakers (proxy_id, state, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (proxy_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            params![proxy.0 as i64, json, now_ms()],
        )?;
        Ok(())
    }

    /// Every saved breaker that still parses.
    pub fn load_breakers(&self) -> Result<Vec<(ProxyId, BreakerState)>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT proxy_id, state FROM circuit_breakers")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, json) = row?;
            if let Ok(state) = serde_json::from_str(&json) {
                out.push((ProxyId(id as u64), state));
            }
        }
        Ok(out)
    }

    /// Deletes the saved breakers of proxies not in `keep` (proxies removed
    /// from the pool, or whose breaker is closed again), in one statement.
    pub fn retain_breakers(&self, keep: &[ProxyId]) -> Result<usize> {
        let ids: Vec<i64> = keep.iter().map(|p| p.0 as i64).collect();
        let json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        Ok(self.conn().execute(
            "DELETE FROM circuit_breakers WHERE proxy_id NOT IN (SELECT value FROM json_each(?1))",
            [json],
        )?)
    }
}
