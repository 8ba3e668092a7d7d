//! The credential vault. A master secret (see [`master`]) goes through
//! Argon2id (OWASP parameters, stored with a random salt) to a
//! key-encryption key (KEK) that wraps random 256-bit data keys. Every stored
//! value is AES-256-GCM under the active data key with a fresh 96-bit nonce
//! and associated data binding it to its table, row id, column and key id,
//! so ciphertexts cannot be moved between rows. Keys live in `Zeroizing`
//! buffers. A wrong master secret fails to unwrap the data key: a clear
//! error, and nothing is written.

mod crypto;
pub mod master;
pub mod portable;
mod rotate;
pub use rotate::RotateReport;
mod secret;

use std::collections::HashMap;

use rusqlite::{Connection, params};
use thiserror::Error;
use zeroize::Zeroizing;

pub use crypto::{Aad, KdfParams};
pub use secret::Secret;

use crate::now_ms;

/// Format version of encrypted values (`encryption_version` column).
pub const ENCRYPTION_VERSION: i64 = 1;

/// Why the vault refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VaultError {
    /// No vault yet.
    #[error(
        "the vault is not initialised: run `vip vault init` (or set VIP_MASTER_PASSWORD and import again)"
    )]
    NotInitialized,
    /// `init` on an existing vault.
    #[error(
        "the vault is already initialised; use `vip vault change-password` to change the master password"
    )]
    AlreadyInitialized,
    /// The master secret does not unwrap the data key.
    #[error("wrong master password: the vault could not be unlocked (nothing was changed)")]
    WrongPassword,
    /// No master secret could be obtained.
    #[error(
        "no master password: set VIP_MASTER_PASSWORD, store one with `vip vault init --keychain`, or run interactively"
    )]
    NoMasterSecret,
    /// An empty or too short master secret.
    #[error("the master password must be at least 8 characters")]
    WeakPassword,
    /// A value failed authentication: tampered, moved between rows, or under
    /// a key this vault does not hold.
    #[error(
        "credential {row} ({column}) cannot be decrypted: it was altered or belongs to another row"
    )]
    Tampered {
        /// Row id.
        row: i64,
        /// Column.
        column: String,
    },
    /// A row names a key id the vault does not have.
    #[error("credential {row} uses key {key_id}, which this vault does not hold")]
    UnknownKey {
        /// Row id.
        row: i64,
        /// Key id.
        key_id: i64,
    },
    /// The key derivation failed (bad parameters in the database).
    #[error("key derivation failed: {0}")]
    Kdf(String),
    /// The database failed underneath.
    #[error("vault storage error: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for VaultError {
    fn from(e: rusqlite::Error) -> VaultError {
        VaultError::Storage(e.to_string())
    }
}

/// A 256-bit key, wiped on drop.
pub(crate) type Key = Zeroizing<[u8; 32]>;

/// An unlocked vault: the KEK and every data key, by key id.
pub struct Vault {
    kek: Key,
    params: KdfParams,
    salt: Vec<u8>,
    keys: HashMap<i64, Key>,
    active: i64,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("active_key", &self.active)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// What `vip vault status` shows.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VaultStatus {
    /// Whether a vault exists.
    pub initialized: bool,
    /// Data keys stored.
    pub keys: i64,
    /// The newest key id.
    pub active_key_id: Option<i64>,
    /// Encrypted credentials stored.
    pub credentials: i64,
    /// Argon2id memory (KiB), iterations, parallelism.
    pub kdf: Option<KdfParams>,
}

impl Vault {
    /// Whether a vault exists in this database.
    pub fn is_initialized(conn: &Connection) -> Result<bool, VaultError> {
        Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM vault_keys)", [], |r| r.get(0))?)
    }

    /// Creates the vault: a fresh data key wrapped under the master secret.
    pub fn init(conn: &Connection, master: &Secret) -> Result<Vault, VaultError> {
        if master.expose().chars().count() < 8 {
            return Err(VaultError::WeakPassword);
        }
        if Vault::is_initialized(conn)? {
            return Err(VaultError::AlreadyInitialized);
        }
        let params = KdfParams::default();
        let salt = crypto::random_bytes(16);
        let kek = crypto::derive_kek(master, &salt, &params)?;
        let key = crypto::random_key();
        let key_id = 1;
        let wrapped = crypto::wrap_key(&kek, key_id, &key)?;
        conn.execute(
            "INSERT INTO vault_keys (key_id, kdf, kdf_memory_kib, kdf_iterations, kdf_parallelism, salt, wrapped_key, created_at)
             VALUES (?1, 'argon2id', ?2, ?3, ?4, ?5, ?6, ?7)",
            params![key_id, params.memory_kib, params.iterations, params.parallelism, salt, wrapped, now_ms()],
        )?;
        Ok(Vault {
            kek,
            params,
            salt,
            keys: HashMap::from([(key_id, key)]),
            active: key_id,
        })
    }

    /// Unlocks the vault with the master secret. Reads only.
    pub fn unlock(conn: &Connection, master: &Secret) -> Result<Vault, VaultError> {
        let mut stmt = conn.prepare(
            "SELECT key_id, kdf_memory_kib, kdf_iterations, kdf_parallelism, salt, wrapped_key
             FROM vault_keys ORDER BY key_id",
        )?;
        let rows: Vec<(i64, KdfParams, Vec<u8>, Vec<u8>)> = stmt
            .query_map([], |r| {
                let params = KdfParams {
                    memory_kib: r.get(1)?,
                    iterations: r.get(2)?,
                    parallelism: r.get(3)?,
                };
                Ok((r.get(0)?, params, r.get(4)?, r.get(5)?))
            })?
            .collect::<Result<_, _>>()?;
        let Some((_, params, salt, _)) = rows.last().cloned() else {
            return Err(VaultError::NotInitialized);
        };
        let kek = crypto::derive_kek(master, &salt, &params)?;
        let mut keys = HashMap::new();
        for (key_id, row_params, row_salt, wrapped) in &rows {
            let row_kek;
            let kek_for_row = if *row_salt == salt && *row_params == params {
                &kek
            } else {
                row_kek = crypto::derive_kek(master, row_salt, row_params)?;
                &row_kek
            };
            let key = crypto::unwrap_key(kek_for_row, *key_id, wrapped)
                .ok_or(VaultError::WrongPassword)?;
            keys.insert(*key_id, key);
        }
        let active = rows.last().map_or(1, |r| r.0);
        Ok(Vault {
            kek,
            params,
            salt,
            keys,
            active,
        })
    }

    /// Status without unlocking.
    pub fn status(conn: &Connection) -> Result<VaultStatus, VaultError> {
        let (keys, active): (i64, Option<i64>) =
            conn.query_row("SELECT COUNT(*), MAX(key_id) FROM vault_keys", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let credentials: i64 =
            conn.query_row("SELECT COUNT(*) FROM encrypted_credentials", [], |r| {
                r.get(0)
            })?;
        let kdf = match active {
            Some(id) => Some(conn.query_row(
                "SELECT kdf_memory_kib, kdf_iterations, kdf_parallelism FROM vault_keys WHERE key_id = ?1",
                [id],
                |r| Ok(KdfParams { memory_kib: r.get(0)?, iterations: r.get(1)?, parallelism: r.get(2)? }),
            )?),
            None => None,
        };
        Ok(VaultStatus {
            initialized: keys > 0,
            keys,
            active_key_id: active,
            credentials,
            kdf,
        })
    }

    /// The key id new values are encrypted under.
    pub fn active_key_id(&self) -> i64 {
        self.active
    }

    /// Encrypts `plaintext` under the active key, bound to `aad`'s row.
    pub fn encrypt(&self, aad: &Aad<'_>, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let key = &self.keys[&self.active];
        crypto::seal(key, &aad.bytes(self.active), plaintext)
    }

    /// Decrypts a value stored under `key_id` for `aad`'s row.
    pub fn decrypt(
        &self,
        key_id: i64,
        aad: &Aad<'_>,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let key = self.keys.get(&key_id).ok_or(VaultError::UnknownKey {
            row: aad.row,
            key_id,
        })?;
        crypto::open(key, &aad.bytes(key_id), blob).ok_or_else(|| VaultError::Tampered {
            row: aad.row,
            column: aad.column.to_string(),
        })
    }

    /// A keyed hash of a username, so duplicates can be found without
    /// decrypting; equal usernames give equal fingerprints under one key.
    pub fn fingerprint(&self, username: &str) -> String {
        crypto::fingerprint(&self.keys[&self.active], username)
    }
}
