//! Files sealed under a password rather than a vault's data key, so they
//! open on another machine: Argon2id (OWASP's cost) derives the key from
//! the password and a random salt, AES-256-GCM seals the content, and the
//! purpose is bound in as associated data. The file is JSON: `format`,
//! `version`, `purpose`, the KDF parameters, `salt` and `sealed` (base64).
//! A wrong password, a changed byte and a cut-short file all fail the same
//! authenticated check.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::crypto::{self, KdfParams};
use super::{Secret, VaultError};

const FORMAT: &str = "vip-sealed";

/// Why a sealed file does not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortableError {
    /// Not a sealed file of this kind.
    #[error("not a vip {0} file (a JSON document with format \"vip-sealed\")")]
    NotSealed(String),
    /// The password is wrong, or the file was changed or cut short.
    #[error("it does not open: the password is wrong, or the file was changed or cut short")]
    DoesNotOpen,
}

fn aad(purpose: &str) -> Vec<u8> {
    format!("{FORMAT}/v1/{purpose}").into_bytes()
}

/// Seals `plaintext` for `purpose` (for example "identity") under `password`.
pub fn seal(password: &Secret, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    let params = KdfParams::default();
    let salt = crypto::random_bytes(16);
    let key = crypto::derive_kek(password, &salt, &params)?;
    let sealed = crypto::seal(&key, &aad(purpose), plaintext)?;
    let doc = serde_json::json!({
        "format": FORMAT, "version": 1, "purpose": purpose, "kdf": params,
        "salt": STANDARD.encode(&salt), "sealed": STANDARD.encode(&sealed),
    });
    Ok(serde_json::to_vec_pretty(&doc).unwrap_or_default())
}

/// Opens a file [`seal`] made for `purpose`.
pub fn open(
    password: &Secret,
    purpose: &str,
    file: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PortableError> {
    let not = || PortableError::NotSealed(purpose.to_string());
    let doc: serde_json::Value = serde_json::from_slice(file).map_err(|_| not())?;
    if doc["format"] != FORMAT || doc["purpose"] != purpose || doc["version"] != 1 {
        return Err(not());
    }
    let number = |k: &str| {
        doc["kdf"][k]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(not)
    };
    let params = KdfParams {
        memory_kib: number("memory_kib")?,
        iterations: number("iterations")?,
        parallelism: number("parallelism")?,
    };
    // A hostile file must not make us spend more than a vault would.
    if params.memory_kib > 1024 * 1024 || params.iterations > 64 || params.parallelism > 16 {
        return Err(PortableError::DoesNotOpen);
    }
    let bytes = |k: &str| {
        doc[k]
            .as_str()
            .and_then(|t| STANDARD.decode(t).ok())
            .ok_or(PortableError::DoesNotOpen)
    };
    let (salt, sealed) = (bytes("salt")?, bytes("sealed")?);
    let key =
        crypto::derive_kek(password, &salt, &params).map_err(|_| PortableError::DoesNotOpen)?;
    crypto::open(&key, &aad(purpose), &sealed).ok_or(PortableError::DoesNotOpen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_with_the_password_only_and_whole() {
        let pw = Secret::new("a long master password");
        let file = seal(&pw, "identity", b"hello").unwrap();
        assert_eq!(open(&pw, "identity", &file).unwrap().as_slice(), b"hello");
        assert_eq!(
            open(&Secret::new("another password"), "identity", &file),
            Err(PortableError::DoesNotOpen)
        );
        assert!(matches!(
            open(&pw, "cookies", &file),
            Err(PortableError::NotSealed(_))
        ));
        let cut = &file[..file.len() - 40];
        assert!(open(&pw, "identity", cut).is_err());
        let mut doc: serde_json::Value = serde_json::from_slice(&file).unwrap();
        let sealed = doc["sealed"].as_str().unwrap().to_string();
        let flipped = if sealed.starts_with('A') { "B" } else { "A" };
        doc["sealed"] = serde_json::json!(format!("{flipped}{}", &sealed[1..]));
        let changed = serde_json::to_vec(&doc).unwrap();
        assert_eq!(
            open(&pw, "identity", &changed),
            Err(PortableError::DoesNotOpen)
        );
        assert!(!String::from_utf8_lossy(&file).contains("hello"));
    }
}
