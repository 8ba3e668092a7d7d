//! A named identity as a file for another machine: its name, fingerprint
//! seed, assignment, WebRTC policy and storage (cookies, local data),
//! sealed under the master password (`vault::portable`), so the file
//! opens wherever that password is known and nowhere else. Importing is
//! one transaction: the identity is there whole, or not at all.

use rusqlite::params;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::browsing::{check_name, seed_aad, storage_aad};
use crate::vault::portable::{self, PortableError};
use crate::vault::{Secret, Vault};
use crate::{Result, Store, StoreError, now_ms};

const PURPOSE: &str = "identity";

#[derive(Serialize, Deserialize)]
struct Carried {
    name: String,
    seed: Vec<u8>,
    assignment: String,
    webrtc_policy: String,
    storage: Option<serde_json::Value>,
    #[serde(default)]
    geo_policy: Option<String>,
}

impl Drop for Carried {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.seed);
    }
}

impl Store {
    /// The identity `name` sealed under `password`.
    pub fn export_identity(&self, vault: &Vault, name: &str, password: &Secret) -> Result<Vec<u8>> {
        let record = self.get_identity(vault, name)?.ok_or_else(|| {
            StoreError::invalid(
                "identity",
                format!("{name} does not exist: see `vip identity list`"),
            )
        })?;
        let storage = record
            .storage
            .as_ref()
            .map(|s| serde_json::from_slice(s))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("identity {name}'s storage: {e}")))?;
        let carried = Carried {
            name: record.name.clone(),
            seed: record.seed.to_vec(),
            assignment: record.assignment.clone(),
            webrtc_policy: record.webrtc_policy.clone(),
            storage,
            geo_policy: record.geo_policy.clone(),
        };
        let plain = Zeroizing::new(serde_json::to_vec(&carried).unwrap_or_default());
        Ok(portable::seal(password, PURPOSE, &plain)?)
    }

    /// Stores the identity in `file` (named `rename` when given); returns
    /// its name. Refused, with nothing stored, when the file does not open
    /// or the name is taken.
    pub fn import_identity(
        &self,
        vault: &Vault,
        file: &[u8],
        password: &Secret,
        rename: Option<&str>,
    ) -> Result<String> {
        let plain = portable::open(password, PURPOSE, file).map_err(|e| match e {
            PortableError::NotSealed(_) | PortableError::DoesNotOpen => {
                StoreError::invalid("file", e.to_string())
            }
        })?;
        let mut carried: Carried = serde_json::from_slice(&plain)
            .map_err(|e| StoreError::invalid("file", format!("not an identity inside: {e}")))?;
        let name = rename.unwrap_or(&carried.name).to_string();
        check_name(&name)?;
        if carried.seed.len() != 32 {
            return Err(StoreError::invalid(
                "file",
                "the identity's seed is not 32 bytes",
            ));
        }
        let tx = self.conn().unchecked_transaction()?;
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM identities WHERE name = ?1)",
            [&name],
            |r| r.get(0),
        )?;
        if taken {
            return Err(StoreError::invalid(
                "identity",
                format!(
                    "an identity named {name:?} already exists: import it under another name with --as NAME"
                ),
            ));
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO identities (name, key_id, encrypted_seed, assignment, webrtc_policy, created_at, updated_at)
             VALUES (?1, ?2, x'', ?3, ?4, ?5, ?5)",
            params![name, vault.active_key_id(), carried.assignment, carried.webrtc_policy, now],
        )?;
        let id = tx.last_insert_rowid();
        let seed = vault.encrypt(&seed_aad(id), &carried.seed)?;
        let storage = carried
            .storage
            .take()
            .map(|s| {
                let bytes = Zeroizing::new(serde_json::to_vec(&s).unwrap_or_default());
                vault.encrypt(&storage_aad(id), &bytes)
            })
            .transpose()?;
        tx.execute(
            "UPDATE identities SET encrypted_seed = ?1, encrypted_storage = ?2, geo_policy = ?3 WHERE id = ?4",
            params![seed, storage, carried.geo_policy, id],
        )?;
        tx.commit()?;
        Ok(name)
    }
}
