//! The files and values settings and flags name, loaded and checked before
//! anything starts: upstream TLS roots, client credentials, tracker filter
//! lists and the GeoIP database. Each failure is a [`BadInput`] naming the
//! flag or setting and the value (never a password).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vip_gateway::ClientAuth;
use vip_gateway::health::GeoDb;
use vip_gateway::upstream::Tls;
use vip_privacy::Blocklist;
use vip_store::vault::Secret;

/// A setting, flag or file that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {why}")]
pub struct BadInput {
    /// The flag or setting, with its value when that is not a secret.
    pub what: String,
    /// What is wrong and how to fix it.
    pub why: String,
}

impl BadInput {
    pub(crate) fn new(what: impl Into<String>, why: impl ToString) -> BadInput {
        BadInput {
            what: what.into(),
            why: why.to_string(),
        }
    }
}

/// Trust for HTTPS upstream proxies: Mozilla's roots plus the PEM file.
pub fn upstream_tls(pem: Option<&Path>) -> Result<Tls, BadInput> {
    let Some(path) = pem else {
        return Ok(Tls::default());
    };
    let what = || format!("--proxy-ca {}", path.display());
    let bytes = std::fs::read(path).map_err(|e| BadInput::new(what(), e))?;
    Tls::with_pem_roots(&bytes).map_err(|e| BadInput::new(what(), e))
}

/// `USER:PASS` clients must give, when set.
pub fn client_auth(text: Option<&str>) -> Result<Option<ClientAuth>, BadInput> {
    text.map(|s| {
        let (user, pass) = s
            .split_once(':')
            .ok_or_else(|| BadInput::new("--client-auth", "use USER:PASS"))?;
        Ok(ClientAuth {
            username: user.to_string(),
            password: Secret::new(pass),
        })
    })
    .transpose()
}

/// Which trackers the gateway blocks.
#[derive(Clone, Debug, Default)]
pub struct Blocking {
    /// Adblock Plus filter lists (empty: Debian's EasyList and EasyPrivacy,
    /// when installed).
    pub filter_lists: Vec<PathBuf>,
    /// Domains never blocked.
    pub allow_domains: Vec<String>,
    /// Off: nothing is blocked.
    pub off: bool,
}

impl Blocking {
    /// Loads the lists, or none; `who` names the command in the log. The
    /// default lists missing is a warning, a named list missing an error.
    pub fn load(&self, who: &str) -> Result<Option<Arc<Blocklist>>, BadInput> {
        if self.off {
            return Ok(None);
        }
        let list = if self.filter_lists.is_empty() {
            match Blocklist::from_files(&vip_privacy::DEBIAN_LISTS) {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!("{who}: tracker blocking off: {e}");
                    return Ok(None);
                }
            }
        } else {
            Blocklist::from_files(&self.filter_lists)
                .map_err(|e| BadInput::new("--filter-list", e))?
        };
        let list = self
            .allow_domains
            .iter()
            .fold(list, |l, d| l.allow_domain(d));
        tracing::info!("{who}: tracker blocking on ({} filter lines)", list.rules());
        Ok(Some(Arc::new(list)))
    }
}

/// Opens a MaxMind-format database, when given.
pub fn geo_db(path: Option<&Path>) -> Result<Option<Arc<GeoDb>>, BadInput> {
    path.map(|p| {
        GeoDb::open(p)
            .map(Arc::new)
            .map_err(|e| BadInput::new("--geoip", e))
    })
    .transpose()
}
