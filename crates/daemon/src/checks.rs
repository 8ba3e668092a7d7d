//! On-demand health checks of stored proxies (`vip proxy check`, with or
//! without a running daemon): the logins decrypted the way the daemon
//! does ([`VaultCredentials`]), the checks run at the configured
//! concurrency, and every result recorded in the store (up or down,
//! latency, exit IP and country).

use std::sync::Arc;

use vip_engine::Proxy;
use vip_gateway::Credentials;
use vip_gateway::health::{CheckReport, CheckSettings, check_all};
use vip_store::vault::Vault;
use vip_store::{Store, StoreError};

use crate::credentials::VaultCredentials;

/// Checks `proxies` and records each result; `done` hears of each check as
/// it finishes (a progress bar).
pub async fn check_stored(
    store: &Store,
    vault: Option<Vault>,
    proxies: Vec<Proxy>,
    settings: &CheckSettings,
    done: impl Fn(&CheckReport) + Send + Sync + 'static,
) -> Result<Vec<CheckReport>, StoreError> {
    let data_dir = store.path().parent().unwrap_or(store.path()).to_path_buf();
    let credentials = VaultCredentials::new(vault.map(Arc::new), data_dir);
    credentials.refresh(store, &proxies);
    let batch = proxies
        .into_iter()
        .map(|p| {
            let login = p.credential.and_then(|c| credentials.login(c));
            (p, login)
        })
        .collect();
    let reports = check_all(batch, settings, done).await;
    let now = vip_store::now_ms();
    for r in &reports {
        let ip = r.exit_ip.map(|i| i.to_string());
        let latency = r.latency.map(|d| d.as_secs_f64() * 1000.0);
        let status = Some(if r.ok { "up" } else { "down" });
        store.record_check(
            r.proxy,
            status,
            latency,
            (ip.as_deref(), r.exit_country.as_deref()),
            now,
        )?;
    }
    Ok(reports)
}
