//! Key rotation and master-password change, each in one transaction.
//! Rotation makes a new data key, re-encrypts every credential and every
//! named identity's seed and saved storage under it,
//! recomputes the username fingerprints and deletes the old keys, so no
//! value stays under an old key. A password change re-wraps the data keys
//! under a KEK derived from the new password with a new salt.

use std::collections::HashMap;

use rusqlite::{Connection, params};
use zeroize::Zeroizing;

use super::crypto::{self, Aad};
use super::{ENCRYPTION_VERSION, Secret, Vault, VaultError};
use crate::now_ms;

/// What a key rotation did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RotateReport {
    /// The new active key id.
    pub new_key_id: i64,
    /// Credentials re-encrypted.
    pub credentials: usize,
    /// Named identities (seed and saved storage) re-encrypted.
    pub identities: usize,
    /// Old keys deleted.
    pub retired_keys: usize,
}

type Row = (i64, i64, Vec<u8>, Vec<u8>);

impl Vault {
    /// Rotates the data key (see the module docs).
    pub fn rotate_key(&mut self, conn: &Connection) -> Result<RotateReport, VaultError> {
        let tx = conn.unchecked_transaction()?;
        let new_id: i64 = tx.query_row(
            "SELECT COALESCE(MAX(key_id), 0) + 1 FROM vault_keys",
            [],
            |r| r.get(0),
        )?;
        let new_key = crypto::random_key();
        let wrapped = crypto::wrap_key(&self.kek, new_id, &new_key)?;
        tx.execute(
            "INSERT INTO vault_keys (key_id, kdf, kdf_memory_kib, kdf_iterations, kdf_parallelism, salt, wrapped_key, created_at)
             VALUES (?1, 'argon2id', ?2, ?3, ?4, ?5, ?6, ?7)",
            params![new_id, self.params.memory_kib, self.params.iterations, self.params.parallelism, self.salt, wrapped, now_ms()],
        )?;
        let rows: Vec<Row> = tx
            .prepare("SELECT id, key_id, encrypted_username, encrypted_password FROM encrypted_credentials")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        let mut fingerprints: HashMap<i64, String> = HashMap::new();
        for (id, key_id, user_blob, pass_blob) in &rows {
            let user_aad = Aad {
                table: "encrypted_credentials",
                row: *id,
                column: "encrypted_username",
            };
            let pass_aad = Aad {
                table: "encrypted_credentials",
                row: *id,
                column: "encrypted_password",
            };
            let user = self.decrypt(*key_id, &user_aad, user_blob)?;
            let pass = self.decrypt(*key_id, &pass_aad, pass_blob)?;
            let new_user = crypto::seal(&new_key, &user_aad.bytes(new_id), &user)?;
            let new_pass = crypto::seal(&new_key, &pass_aad.bytes(new_id), &pass)?;
            tx.execute(
                "UPDATE encrypted_credentials SET encrypted_username = ?1, encrypted_password = ?2,
                     key_id = ?3, encryption_version = ?4, updated_at = ?5 WHERE id = ?6",
                params![new_user, new_pass, new_id, ENCRYPTION_VERSION, now_ms(), id],
            )?;
            let username = Zeroizing::new(String::from_utf8_lossy(&user).into_owned());
            fingerprints.insert(*id, crypto::fingerprint(&new_key, &username));
        }
        for (credential_id, fp) in &fingerprints {
            tx.execute(
                "UPDATE proxies SET credential_fingerprint = ?1 WHERE credential_id = ?2",
                params![fp, credential_id],
            )?;
        }
        type IdentityRow = (i64, i64, Vec<u8>, Option<Vec<u8>>);
        let identities: Vec<IdentityRow> = tx
            .prepare("SELECT id, key_id, encrypted_seed, encrypted_storage FROM identities")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        for (id, key_id, seed, storage) in &identities {
            let aad = |column| Aad {
                table: "identities",
                row: *id,
                column,
            };
            let plain = self.decrypt(*key_id, &aad("encrypted_seed"), seed)?;
            let new_seed = crypto::seal(&new_key, &aad("encrypted_seed").bytes(new_id), &plain)?;
            let new_storage = match storage {
                Some(s) => {
                    let plain = self.decrypt(*key_id, &aad("encrypted_storage"), s)?;
                    Some(crypto::seal(
                        &new_key,
                        &aad("encrypted_storage").bytes(new_id),
                        &plain,
                    )?)
                }
                None => None,
            };
            tx.execute(
                "UPDATE identities SET encrypted_seed = ?1, encrypted_storage = ?2, key_id = ?3 WHERE id = ?4",
                params![new_seed, new_storage, new_id, id],
            )?;
        }
        let retired = tx.execute("DELETE FROM vault_keys WHERE key_id <> ?1", [new_id])?;
        tx.commit()?;
        self.keys = HashMap::from([(new_id, new_key)]);
        self.active = new_id;
        Ok(RotateReport {
            new_key_id: new_id,
            credentials: rows.len(),
            identities: identities.len(),
            retired_keys: retired,
        })
    }

    /// Re-wraps every data key under a new master password.
    pub fn change_password(
        &mut self,
        conn: &Connection,
        new_master: &Secret,
    ) -> Result<(), VaultError> {
        if new_master.expose().chars().count() < 8 {
            return Err(VaultError::WeakPassword);
        }
        let salt = crypto::random_bytes(16);
        let kek = crypto::derive_kek(new_master, &salt, &self.params)?;
        let tx = conn.unchecked_transaction()?;
        for (key_id, key) in &self.keys {
            let wrapped = crypto::wrap_key(&kek, *key_id, key)?;
            tx.execute(
                "UPDATE vault_keys SET salt = ?1, wrapped_key = ?2, kdf_memory_kib = ?3, kdf_iterations = ?4,
                     kdf_parallelism = ?5 WHERE key_id = ?6",
                params![salt, wrapped, self.params.memory_kib, self.params.iterations, self.params.parallelism, key_id],
            )?;
        }
        tx.commit()?;
        self.kek = kek;
        self.salt = salt;
        Ok(())
    }
}
