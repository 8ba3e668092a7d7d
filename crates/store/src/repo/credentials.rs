//! `encrypted_credentials`: usernames and passwords sealed by the vault, bound
//! to their row. Reads are counted (`access_count`, `last_accessed_at`).

use rusqlite::{OptionalExtension, params};
use vip_engine::CredentialRef;

use crate::vault::{Aad, ENCRYPTION_VERSION, Secret, Vault};
use crate::{Result, Store, StoreError, now_ms};

const TABLE: &str = "encrypted_credentials";

/// A decrypted username and password.
#[derive(Clone, Debug)]
pub struct Credential {
    /// The username.
    pub username: Secret,
    /// The password.
    pub password: Secret,
}

impl Store {
    /// Stores a credential in one transaction; returns its id.
    pub fn create_credential(
        &self,
        vault: &Vault,
        username: &Secret,
        password: &Secret,
        provider: Option<&str>,
    ) -> Result<i64> {
        let tx = self.conn().unchecked_transaction()?;
        let id = insert_credential(&tx, vault, username, password, provider)?;
        tx.commit()?;
        Ok(id)
    }

    /// Decrypts a credential and records the access.
    pub fn get_credential(&self, vault: &Vault, credential: CredentialRef) -> Result<Credential> {
        let id = credential.0 as i64;
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = self
            .conn()
            .query_row(
                "SELECT key_id, encrypted_username, encrypted_password FROM encrypted_credentials WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (key_id, user, pass) = row.ok_or_else(|| StoreError::not_found("credential", id))?;
        let username = vault.decrypt(
            key_id,
            &Aad {
                table: TABLE,
                row: id,
                column: "encrypted_username",
            },
            &user,
        )?;
        let password = vault.decrypt(
            key_id,
            &Aad {
                table: TABLE,
                row: id,
                column: "encrypted_password",
            },
            &pass,
        )?;
        self.conn().execute(
            "UPDATE encrypted_credentials SET access_count = access_count + 1, last_accessed_at = ?1 WHERE id = ?2",
            params![now_ms(), id],
        )?;
        Ok(Credential {
            username: Secret::new(String::from_utf8_lossy(&username).into_owned()),
            password: Secret::new(String::from_utf8_lossy(&password).into_owned()),
        })
    }

    /// Deletes a credential (proxies using it lose their credential).
    pub fn delete_credential(&self, id: i64) -> Result<()> {
        let n = self
            .conn()
            .execute("DELETE FROM encrypted_credentials WHERE id = ?1", [id])?;
        if n == 0 {
            return Err(StoreError::not_found("credential", id));
        }
        Ok(())
    }
}

/// Inserts a credential on `conn` (inside the caller's transaction) and
/// returns its id: the row is made first so its id can bind the ciphertexts.
pub(crate) fn insert_credential(
    conn: &rusqlite::Connection,
    vault: &Vault,
    username: &Secret,
    password: &Secret,
    provider: Option<&str>,
) -> Result<i64> {
    let now = now_ms();
    conn.execute(
        "INSERT INTO encrypted_credentials (credential_type, encrypted_username, encrypted_password,
             encryption_version, key_id, provider, created_at, updated_at)
         VALUES ('proxy', x'', x'', ?1, ?2, ?3, ?4, ?4)",
        params![ENCRYPTION_VERSION, vault.active_key_id(), provider, now],
    )?;
    let id = conn.last_insert_rowid();
    let user = vault.encrypt(
        &Aad {
            table: TABLE,
            row: id,
            column: "encrypted_username",
        },
        username.expose().as_bytes(),
    )?;
    let pass = vault.encrypt(
        &Aad {
            table: TABLE,
            row: id,
            column: "encrypted_password",
        },
        password.expose().as_bytes(),
    )?;
    conn.execute(
        "UPDATE encrypted_credentials SET encrypted_username = ?1, encrypted_password = ?2 WHERE id = ?3",
        params![user, pass, id],
    )?;
    Ok(id)
}
