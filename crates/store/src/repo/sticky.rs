//! `sticky_session_mappings`: domain (or `*.domain` pattern) → proxy per
//! rotation config and scope (the group and exit country the mapping was
//! learned in; '' for none), with expiry and use counts, so sticky sessions
//! survive a restart. Lookups try the exact host, then each wildcard parent.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::{Result, Store, now_ms};

/// A stored mapping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StickyRecord {
    /// Row id.
    pub id: i64,
    /// Rotation config.
    pub config_id: i64,
    /// `host`, `domain` or `*.domain`.
    pub domain_pattern: String,
    /// The proxy.
    pub proxy_id: i64,
    /// Created (ms).
    pub created_at: i64,
    /// Expires (ms).
    pub expires_at: i64,
    /// Uses.
    pub uses: i64,
}

impl Store {
    /// Inserts or replaces the mapping for `pattern` in the scope with no
    /// group and no country (the whole pool).
    pub fn upsert_sticky(
        &self,
        config: vip_engine::ConfigId,
        pattern: &str,
        proxy_id: i64,
        expires_at: i64,
    ) -> Result<i64> {
        let config_id = config.0 as i64;
        let now = now_ms();
        self.conn().execute(
            "INSERT INTO sticky_session_mappings (config_id, domain_pattern, proxy_id, created_at, expires_at, last_used_at, uses)
             VALUES (?1, ?2, ?3, ?4, ?5, ?4, 0)
             ON CONFLICT (config_id, scope_group, scope_country, domain_pattern) DO UPDATE SET
                 proxy_id = excluded.proxy_id, created_at = excluded.created_at,
                 expires_at = excluded.expires_at, last_used_at = excluded.last_used_at, uses = 0",
            params![config_id, pattern.to_ascii_lowercase(), proxy_id, now, expires_at],
        )?;
        Ok(self.conn().query_row(
            "SELECT id FROM sticky_session_mappings
             WHERE config_id = ?1 AND scope_group = '' AND scope_country = '' AND domain_pattern = ?2",
            params![config_id, pattern.to_ascii_lowercase()],
            |r| r.get(0),
        )?)
    }

    /// The live mapping for `domain` in the scope with no group and no
    /// country: exact first, then `*.parent` patterns
    /// from the closest parent outwards (`*.example.com` also covers
    /// `example.com` itself).
    pub fn find_sticky(&self, config_id: i64, domain: &str) -> Result<Option<StickyRecord>> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let mut candidates = vec![domain.clone()];
        let mut rest = domain.as_str();
        loop {
            candidates.push(format!("*.{rest}"));
            match rest.split_once('.') {
                Some((_, parent)) if parent.contains('.') || !parent.is_empty() => rest = parent,
                _ => break,
            }
        }
        let now = now_ms();
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, config_id, domain_pattern, proxy_id, created_at, expires_at, uses
             FROM sticky_session_mappings WHERE config_id = ?1 AND scope_group = '' AND scope_country = ''
                 AND domain_pattern = ?2 AND expires_at > ?3",
        )?;
        for pattern in candidates {
            let found = stmt
                .query_row(params![config_id, pattern, now], |r| {
                    Ok(StickyRecord {
                        id: r.get(0)?,
                        config_id: r.get(1)?,
                        domain_pattern: r.get(2)?,
                        proxy_id: r.get(3)?,
                        created_at: r.get(4)?,
                        expires_at: r.get(5)?,
                        uses: r.get(6)?,
                    })
                })
                .optional()?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Counts a use and, for sliding expiry, moves the expiry.
    pub fn record_sticky_use(&self, id: i64, new_expires_at: Option<i64>) -> Result<()> {
        self.conn().execute(
            "UPDATE sticky_session_mappings SET uses = uses + 1, last_used_at = ?1,
                 expires_at = COALESCE(?2, expires_at) WHERE id = ?3",
            params![now_ms(), new_expires_at, id],
        )?;
        Ok(())
    }

    /// A config's live mappings, as the engine restores them.
    pub fn load_sticky(
        &self,
        config: vip_engine::ConfigId,
    ) -> Result<Vec<vip_engine::StickyMapping>> {
        let config_id = config.0 as i64;
        let mut stmt = self.conn().prepare(
            "SELECT domain_pattern, proxy_id, created_at, expires_at, uses, scope_group, scope_country
             FROM sticky_session_mappings WHERE config_id = ?1 AND expires_at > ?2",
        )?;
        let rows = stmt.query_map(params![config_id, now_ms()], |r| {
            let group: String = r.get(5)?;
            let country: String = r.get(6)?;
            Ok(vip_engine::StickyMapping {
                scope: vip_engine::StickyScope {
                    group: (!group.is_empty()).then_some(group),
                    // A country that does not parse cannot have been
                    // written by us: such a mapping is restored unscoped.
                    country: vip_engine::CountryCode::parse(&country).ok(),
                },
                key: r.get(0)?,
                proxy: vip_engine::ProxyId(r.get::<_, i64>(1)? as u64),
                created: vip_engine::Timestamp::from_millis(r.get(2)?),
                expires: vip_engine::Timestamp::from_millis(r.get(3)?),
                uses: r.get::<_, i64>(4)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces a config's stored mappings with the engine's, in one
    /// transaction (mappings whose proxy is gone are skipped; of two for
    /// one scope and pattern, the first is kept).
    pub fn save_sticky(
        &self,
        config: vip_engine::ConfigId,
        mappings: &[vip_engine::StickyMapping],
    ) -> Result<()> {
        let config_id = config.0 as i64;
        let tx = self.conn().unchecked_transaction()?;
        tx.execute(
            "DELETE FROM sticky_session_mappings WHERE config_id = ?1",
            [config_id],
        )?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO sticky_session_mappings
                     (config_id, domain_pattern, proxy_id, created_at, expires_at, last_used_at, uses, scope_group, scope_country)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?4, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM proxies WHERE id = ?3)",
            )?;
            for m in mappings {
                stmt.execute(params![
                    config_id,
                    m.key,
                    m.proxy.0 as i64,
                    m.created.as_millis(),
                    m.expires.as_millis(),
                    m.uses as i64,
                    m.scope.group.as_deref().unwrap_or(""),
                    m.scope.country.as_ref().map_or("", |c| c.as_str()),
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes mappings expired by `now`; returns how many.
    pub fn cleanup_expired_sticky(&self, now: i64) -> Result<usize> {
        Ok(self.conn().execute(
            "DELETE FROM sticky_session_mappings WHERE expires_at <= ?1",
            [now],
        )?)
    }
}
