//! `VaultCredentials`: the logins of the pool's proxies, decrypted from the
//! vault once each (at start, and on a reload only the ones new to the
//! pool, on the upkeep thread) into an in-memory map of `Secret`s,
//! zeroized when dropped. The gateway's connect path only reads the map:
//! no SQLite, no AES there.
//!
//! A login that cannot be read on a refresh (the vault was made after the
//! daemon started, or its password changed) makes the daemon unlock the
//! vault again from the sources that need no prompt: the OS keychain
//! entry, then `VIP_MASTER_PASSWORD`. Named identities are sealed with the
//! same vault (`current_vault`), so they follow it too.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use vip_engine::CredentialRef;
use vip_gateway::Credentials;
use vip_store::Store;
use vip_store::vault::{Secret, Vault};

type Logins = HashMap<CredentialRef, (Secret, Secret)>;

/// Credentials of the current pool.
pub(crate) struct VaultCredentials {
    vault: RwLock<Option<Arc<Vault>>>,
    /// Where the keychain entry of the master password is looked up.
    data_dir: PathBuf,
    logins: RwLock<Arc<Logins>>,
}

impl VaultCredentials {
    pub fn new(vault: Option<Arc<Vault>>, data_dir: PathBuf) -> VaultCredentials {
        VaultCredentials {
            vault: RwLock::new(vault),
            data_dir,
            logins: RwLock::new(Arc::new(HashMap::new())),
        }
    }

    fn vault(&self) -> Option<Arc<Vault>> {
        self.vault.read().ok().and_then(|v| v.clone())
    }

    /// The vault, unlocked again first when the daemon has none (it was
    /// made after the start). Argon2 runs here: call it off async workers.
    pub fn current_vault(&self, store: &Store) -> Option<Arc<Vault>> {
        self.vault().or_else(|| {
            self.unlock_again(store);
            self.vault()
        })
    }

    /// Unlocks the stored vault again with a password found without a
    /// prompt; whether that worked.
    fn unlock_again(&self, store: &Store) -> bool {
        if !Vault::is_initialized(store.conn()).unwrap_or(false) {
            return false;
        }
        let Some((secret, _)) = vip_store::vault::master::resolve(&self.data_dir, || None) else {
            return false;
        };
        match Vault::unlock(store.conn(), &secret) {
            Ok(vault) => {
                if let Ok(mut v) = self.vault.write() {
                    *v = Some(Arc::new(vault));
                }
                tracing::info!("vault unlocked again for new logins");
                true
            }
            Err(e) => {
                tracing::warn!("the vault changed and cannot be unlocked again: {e}");
                false
            }
        }
    }

    /// Publishes the logins `proxies` refer to, decrypting only those not
    /// held already (a credential row never changes what it holds: a new
    /// login is a new row, key rotation re-encrypts the same text), and
    /// dropping the rest; returns how many could not be read (no vault, or
    /// a row that does not decrypt).
    pub fn refresh(&self, store: &Store, proxies: &[vip_engine::Proxy]) -> usize {
        let missing = self.read(store, proxies);
        if missing > 0 && self.unlock_again(store) {
            return self.read(store, proxies);
        }
        missing
    }

    fn read(&self, store: &Store, proxies: &[vip_engine::Proxy]) -> usize {
        let held = self.logins.read().map(|l| l.clone()).unwrap_or_default();
        let vault = self.vault();
        let mut logins = Logins::new();
        let mut missing = 0;
        for proxy in proxies {
            let Some(credential) = proxy.credential else {
                continue;
            };
            if logins.contains_key(&credential) {
                continue;
            }
            if let Some(login) = held.get(&credential) {
                logins.insert(credential, login.clone());
                continue;
            }
            let found = vault
                .as_ref()
                .and_then(|vault| store.get_credential(vault, credential).ok());
            match found {
                Some(c) => {
                    logins.insert(credential, (c.username, c.password));
                }
                None => missing += 1,
            }
        }
        if let Ok(mut current) = self.logins.write() {
            *current = Arc::new(logins);
        }
        missing
    }
}

impl Credentials for VaultCredentials {
    fn login(&self, credential: CredentialRef) -> Option<(Secret, Secret)> {
        let logins = self.logins.read().ok()?.clone();
        logins.get(&credential).cloned()
    }
}
