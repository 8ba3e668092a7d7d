//! The vault's primitives: Argon2id key derivation, AES-256-GCM sealing with
//! random 96-bit nonces (stored as nonce ‖ ciphertext ‖ tag), key wrapping,
//! associated data, and an HMAC-SHA256 fingerprint.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload, rand_core::RngCore};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{Key, Secret, VaultError};

const NONCE_LEN: usize = 12;

/// Argon2id cost parameters, stored beside the salt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// OWASP's recommended Argon2id setting: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        KdfParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// What a value is bound to: table, row id and column.
#[derive(Clone, Copy, Debug)]
pub struct Aad<'a> {
    /// Table name.
    pub table: &'a str,
    /// Row id.
    pub row: i64,
    /// Column name.
    pub column: &'a str,
}

impl Aad<'_> {
    pub(crate) fn bytes(&self, key_id: i64) -> Vec<u8> {
        format!(
            "vip-vault/v{}/{}/{}/{}/key{}",
            super::ENCRYPTION_VERSION,
            self.table,
            self.row,
            self.column,
            key_id
        )
        .into_bytes()
    }
}

pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    OsRng.fill_bytes(&mut v);
    v
}

pub(crate) fn random_key() -> Key {
    let mut k = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(k.as_mut());
    k
}

pub(crate) fn derive_kek(master: &Secret, salt: &[u8], p: &KdfParams) -> Result<Key, VaultError> {
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32))
        .map_err(|e| VaultError::Kdf(e.to_string()))?;
    let mut kek = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(master.expose().as_bytes(), salt, kek.as_mut())
        .map_err(|e| VaultError::Kdf(e.to_string()))?;
    Ok(kek)
}

pub(crate) fn seal(key: &Key, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    let cipher =
        Aes256Gcm::new_from_slice(key.as_ref()).map_err(|e| VaultError::Kdf(e.to_string()))?;
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| VaultError::Storage("encryption failed".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

pub(crate) fn open(key: &Key, aad: &[u8], blob: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if blob.len() < NONCE_LEN + 16 {
        return None;
    }
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).ok()?;
    let (nonce, ct) = blob.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .ok()
        .map(Zeroizing::new)
}

fn wrap_aad(key_id: i64) -> Vec<u8> {
    format!("vip-vault/data-key/{key_id}").into_bytes()
}

pub(crate) fn wrap_key(kek: &Key, key_id: i64, key: &Key) -> Result<Vec<u8>, VaultError> {
    seal(kek, &wrap_aad(key_id), key.as_ref())
}

pub(crate) fn unwrap_key(kek: &Key, key_id: i64, wrapped: &[u8]) -> Option<Key> {
    let plain = open(kek, &wrap_aad(key_id), wrapped)?;
    let mut key = Zeroizing::new([0u8; 32]);
    if plain.len() != 32 {
        return None;
    }
    key.copy_from_slice(&plain);
    Some(key)
}

pub(crate) fn fingerprint(key: &Key, username: &str) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()) else {
        return String::new();
    };
    mac.update(b"vip-vault/fingerprint/");
    mac.update(username.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}
