//! Getting the master password in the CLI: keychain, `VIP_MASTER_PASSWORD`,
//! or a prompt when standard input is a terminal; and opening (or, on first
//! need, creating) the vault with it.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;
use vip_store::Store;
use vip_store::vault::master::{self, MasterSource};
use vip_store::vault::{Secret, Vault, VaultError};

fn prompt(label: &str) -> Option<Secret> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    rpassword::prompt_password(label).ok().map(Secret::new)
}

fn prompt_twice(label: &str) -> Option<Secret> {
    let first = prompt(label)?;
    let again = prompt("Repeat it: ")?;
    if first == again {
        Some(first)
    } else {
        eprintln!("the two entries differ");
        None
    }
}

/// Resolves the master password, prompting once (twice when creating).
pub fn password(data_dir: &Path, creating: bool) -> Result<(Secret, MasterSource), VaultError> {
    master::resolve(data_dir, || {
        if creating {
            prompt_twice("New master password: ")
        } else {
            prompt("Master password: ")
        }
    })
    .ok_or(VaultError::NoMasterSecret)
}

/// Unlocks the vault; creates it first when it does not exist and
/// `create_if_missing` (the first import or add with credentials).
pub fn open_vault(
    store: &Store,
    data_dir: &Path,
    create_if_missing: bool,
) -> anyhow::Result<Vault> {
    if !Vault::is_initialized(store.conn())? {
        if !create_if_missing {
            return Err(VaultError::NotInitialized.into());
        }
        let (secret, _) = password(data_dir, true)?;
        let vault = Vault::init(store.conn(), &secret).context("creating the vault")?;
        eprintln!("vault initialised; keep your master password safe: it cannot be recovered");
        return Ok(vault);
    }
    let (secret, _) = password(data_dir, false)?;
    Ok(Vault::unlock(store.conn(), &secret)?)
}

/// The new password for `change-password`.
pub fn new_password() -> Result<Secret, VaultError> {
    std::env::var("VIP_NEW_MASTER_PASSWORD")
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
        .or_else(|| prompt_twice("New master password: "))
        .ok_or(VaultError::NoMasterSecret)
}
