//! Where the master secret comes from, in order: the OS keychain (when an
//! entry was stored with `vip vault init --keychain` and the platform has a
//! keychain), then `VIP_MASTER_PASSWORD`, then an interactive prompt that the
//! caller supplies (the CLI; a daemon has none).

use std::path::Path;

use super::Secret;

/// The environment variable read for the master password.
pub const ENV_VAR: &str = "VIP_MASTER_PASSWORD";

/// Where a master secret was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MasterSource {
    /// The OS keychain.
    Keychain,
    /// `VIP_MASTER_PASSWORD`.
    Environment,
    /// Typed at a prompt.
    Prompt,
}

fn entry(data_dir: &Path) -> Option<keyring::Entry> {
    keyring::Entry::new("vip", &data_dir.to_string_lossy()).ok()
}

/// The keychain's entry for this data directory, if the platform has a
/// keychain and an entry exists.
pub fn from_keychain(data_dir: &Path) -> Option<Secret> {
    entry(data_dir)?.get_password().ok().map(Secret::new)
}

/// Stores the master secret in the keychain; false when there is none.
pub fn store_in_keychain(data_dir: &Path, secret: &Secret) -> bool {
    entry(data_dir).is_some_and(|e| e.set_password(secret.expose()).is_ok())
}

/// Removes this data directory's keychain entry, if any.
pub fn forget_keychain(data_dir: &Path) {
    if let Some(e) = entry(data_dir) {
        let _ = e.delete_credential();
    }
}

/// `VIP_MASTER_PASSWORD`, when set and not empty.
pub fn from_environment() -> Option<Secret> {
    std::env::var(ENV_VAR)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

/// Resolves the master secret: keychain, environment, then `prompt`.
pub fn resolve(
    data_dir: &Path,
    prompt: impl FnOnce() -> Option<Secret>,
) -> Option<(Secret, MasterSource)> {
    from_keychain(data_dir)
        .map(|s| (s, MasterSource::Keychain))
        .or_else(|| from_environment().map(|s| (s, MasterSource::Environment)))
        .or_else(|| prompt().map(|s| (s, MasterSource::Prompt)))
}
