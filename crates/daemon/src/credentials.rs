//! `VaultCredentials`: the logins of the pool's proxies, decrypted from the
//! vault once each (at start, and on a reload only the ones new to the
//! pool, on the upkeep thread) into an in-memory map of `Secret`s,
//! zeroized when dropped. The gateway's connect path only reads the map:
//! no SQLite, no AES there.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use vip_engine::CredentialRef;
use vip_gateway::Credentials;
use vip_store::Store;
use vip_store::vault::{Secret, Vault};

type Logins = HashMap<CredentialRef, (Secret, Secret)>;

/// Credentials of the current pool.
pub(crate) struct VaultCredentials {
    vault: Option<Arc<Vault>>,
    logins: RwLock<Arc<Logins>>,
}

impl VaultCredentials {
    pub fn new(vault: Option<Arc<Vault>>) -> VaultCredentials {
        VaultCredentials {
            vault,
            logins: RwLock::new(Arc::new(HashMap::new())),
        }
    }

    /// Publishes the logins `proxies` refer to, decrypting only those not
    /// held already (a credential row never changes what it holds: a new
    /// login is a new row, key rotation re-encrypts the same text), and
    /// dropping the rest; returns how many could not be read (no vault, or
    /// a row that does not decrypt).
    pub fn refresh(&self, store: &Store, proxies: &[vip_engine::Proxy]) -> usize {
        let held = self.logins.read().map(|l| l.clone()).unwrap_or_default();
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
            let found = self
                .vault
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
