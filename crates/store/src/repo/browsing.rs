//! `identities`, `tabs` and `sessions`: what the browser keeps. A named
//! identity's fingerprint seed and saved storage are sealed by the vault
//! (bound to their row and column); assignments and tab lists are JSON the
//! browser layer owns.

use rusqlite::{OptionalExtension, params};
use zeroize::Zeroizing;

use crate::vault::{Aad, Vault};
use crate::{Result, Store, StoreError, now_ms};

const TABLE: &str = "identities";

/// A named identity, decrypted.
pub struct IdentityRecord {
    /// Row id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its fingerprint seed.
    pub seed: Zeroizing<Vec<u8>>,
    /// Saved storage (JSON), if any.
    pub storage: Option<Zeroizing<Vec<u8>>>,
    /// Assignment (JSON).
    pub assignment: String,
    /// WebRTC policy name.
    pub webrtc_policy: String,
    /// Its own geo policy (`None`: vip serve's default).
    pub geo_policy: Option<String>,
}

impl std::fmt::Debug for IdentityRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("seed", &"***")
            .field("storage", &self.storage.as_ref().map(|_| "***"))
            .field("assignment", &self.assignment)
            .field("webrtc_policy", &self.webrtc_policy)
            .field("geo_policy", &self.geo_policy)
            .finish()
    }
}

/// A named identity without its secrets (for listings).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IdentitySummary {
    /// Row id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Assignment (JSON).
    pub assignment: String,
    /// WebRTC policy name.
    pub webrtc_policy: String,
    /// Whether storage is saved.
    pub has_storage: bool,
    /// Its own geo policy (`None`: vip serve's default).
    pub geo_policy: Option<String>,
}

/// A tab row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TabRecord {
    /// Row id (the tab id users see).
    pub id: i64,
    /// Identity name (none: an unnamed identity).
    pub identity: Option<String>,
    /// Last known URL.
    pub url: String,
    /// Assignment (JSON).
    pub assignment: String,
    /// Pinned proxy, if any.
    pub proxy_id: Option<i64>,
    /// Requests blocked in it.
    pub blocked: i64,
}

pub(super) fn seed_aad(id: i64) -> Aad<'static> {
    Aad {
        table: TABLE,
        row: id,
        column: "encrypted_seed",
    }
}

pub(super) fn storage_aad(id: i64) -> Aad<'static> {
    Aad {
        table: TABLE,
        row: id,
        column: "encrypted_storage",
    }
}

pub(super) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "identity",
            format!("{name:?} is not a valid name: use 1-64 letters, digits, '-', '_' or '.'"),
        ))
    }
}

impl Store {
    /// Creates a named identity with its seed sealed; returns its id.
    pub fn create_identity(
        &self,
        vault: &Vault,
        name: &str,
        seed: &[u8],
        assignment: &str,
        webrtc_policy: &str,
    ) -> Result<i64> {
        check_name(name)?;
        let tx = self.conn().unchecked_transaction()?;
        let now = now_ms();
        tx.execute(
            "INSERT INTO identities (name, key_id, encrypted_seed, assignment, webrtc_policy, created_at, updated_at)
             VALUES (?1, ?2, x'', ?3, ?4, ?5, ?5)",
            params![name, vault.active_key_id(), assignment, webrtc_policy, now],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                StoreError::invalid("identity", format!("an identity named {name:?} already exists"))
            }
            e => e.into(),
        })?;
        let id = tx.last_insert_rowid();
        let sealed = vault.encrypt(&seed_aad(id), seed)?;
        tx.execute(
            "UPDATE identities SET encrypted_seed = ?1 WHERE id = ?2",
            params![sealed, id],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// A named identity, decrypted; `None` if there is none by that name.
    pub fn get_identity(&self, vault: &Vault, name: &str) -> Result<Option<IdentityRecord>> {
        type Row = (
            i64,
            i64,
            Vec<u8>,
            Option<Vec<u8>>,
            String,
            String,
            Option<String>,
        );
        let row: Option<Row> = self
            .conn()
            .query_row(
                "SELECT id, key_id, encrypted_seed, encrypted_storage, assignment, webrtc_policy, geo_policy
                 FROM identities WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, key_id, seed, storage, assignment, webrtc_policy, geo_policy)) = row else {
            return Ok(None);
        };
        let seed = vault.decrypt(key_id, &seed_aad(id), &seed)?;
        let storage = storage
            .map(|s| vault.decrypt(key_id, &storage_aad(id), &s))
            .transpose()?;
        Ok(Some(IdentityRecord {
            id,
            name: name.to_string(),
            seed,
            storage,
            assignment,
            webrtc_policy,
            geo_policy,
        }))
    }

    /// Sets a named identity's own geo policy (`None`: vip serve's default).
    pub fn set_identity_geo(&self, id: i64, policy: Option<&str>) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE identities SET geo_policy = ?1, updated_at = ?2 WHERE id = ?3",
            params![policy, now_ms(), id],
        )?;
        if n == 0 {
            return Err(StoreError::not_found("identity", id));
        }
        Ok(())
    }

    /// Seals and saves an identity's storage (cookies, local data).
    pub fn save_identity_storage(&self, vault: &Vault, id: i64, storage: &[u8]) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        let key_id: Option<i64> = tx
            .query_row("SELECT key_id FROM identities WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let key_id = key_id.ok_or_else(|| StoreError::not_found("identity", id))?;
        // Both columns must be under the active key: re-seal the seed if
        // the key rotated since it was written.
        if key_id != vault.active_key_id() {
            let seed: Vec<u8> = tx.query_row(
                "SELECT encrypted_seed FROM identities WHERE id = ?1",
                [id],
                |r| r.get(0),
            )?;
            let plain = vault.decrypt(key_id, &seed_aad(id), &seed)?;
            let sealed = vault.encrypt(&seed_aad(id), &plain)?;
            tx.execute(
                "UPDATE identities SET encrypted_seed = ?1, key_id = ?2 WHERE id = ?3",
                params![sealed, vault.active_key_id(), id],
            )?;
        }
        let sealed = vault.encrypt(&storage_aad(id), storage)?;
        tx.execute(
            "UPDATE identities SET encrypted_storage = ?1, updated_at = ?2 WHERE id = ?3",
            params![sealed, now_ms(), id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every named identity, without secrets.
    pub fn list_identities(&self) -> Result<Vec<IdentitySummary>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, name, assignment, webrtc_policy, encrypted_storage IS NOT NULL, geo_policy
             FROM identities ORDER BY name",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(IdentitySummary {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    assignment: r.get(2)?,
                    webrtc_policy: r.get(3)?,
                    has_storage: r.get(4)?,
                    geo_policy: r.get(5)?,
                })
            })?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows)
    }

    /// Deletes a named identity (its seed and storage are gone).
    pub fn delete_identity(&self, name: &str) -> Result<()> {
        let n = self
            .conn()
            .execute("DELETE FROM identities WHERE name = ?1", [name])?;
        if n == 0 {
            return Err(StoreError::not_found("identity", name));
        }
        Ok(())
    }

    /// Records a newly opened tab; returns its id.
    pub fn insert_tab(
        &self,
        identity: Option<&str>,
        url: &str,
        assignment: &str,
        proxy_id: Option<i64>,
    ) -> Result<i64> {
        let now = now_ms();
        self.conn().execute(
            "INSERT INTO tabs (identity, url, proxy_id, assignment, created_at, updated_at)
             VALUES (?1, ?2, (SELECT id FROM proxies WHERE id = ?3), ?4, ?5, ?5)",
            params![identity, url, proxy_id, assignment, now],
        )?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Updates what a tab shows.
    pub fn update_tab(&self, id: i64, url: &str, blocked: u64) -> Result<()> {
        self.conn().execute(
            "UPDATE tabs SET url = ?1, blocked = ?2, updated_at = ?3 WHERE id = ?4",
            params![url, blocked as i64, now_ms(), id],
        )?;
        Ok(())
    }

    /// Marks tabs closed (all open ones when `id` is none: a restart).
    pub fn close_tabs(&self, id: Option<i64>) -> Result<usize> {
        let now = now_ms();
        Ok(match id {
            Some(id) => self.conn().execute(
                "UPDATE tabs SET closed_at = ?1 WHERE id = ?2 AND closed_at IS NULL",
                params![now, id],
            )?,
            None => self.conn().execute(
                "UPDATE tabs SET closed_at = ?1 WHERE closed_at IS NULL",
                [now],
            )?,
        })
    }

    /// Saves (or replaces) a session's tab list (JSON).
    pub fn save_session(&self, name: &str, tabs: &str) -> Result<()> {
        if name.trim().is_empty() {
            return Err(StoreError::invalid("session", "the name is empty"));
        }
        let now = now_ms();
        self.conn().execute(
            "INSERT INTO sessions (name, tabs, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (name) DO UPDATE SET tabs = excluded.tabs, updated_at = excluded.updated_at",
            params![name, tabs, now],
        )?;
        Ok(())
    }

    /// A session's tab list (JSON).
    pub fn load_session(&self, name: &str) -> Result<String> {
        self.conn()
            .query_row("SELECT tabs FROM sessions WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| StoreError::not_found("session", name))
    }

    /// Every session: name, tab list (JSON), last saved (ms).
    pub fn list_sessions(&self) -> Result<Vec<(String, String, i64)>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT name, tabs, updated_at FROM sessions ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows)
    }
}
