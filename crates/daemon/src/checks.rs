//! On-demand health checks of stored proxies (`vip proxy check`, with or
//! without a running daemon): the logins decrypted the way the daemon
//! does ([`VaultCredentials`]), the checks run at the configured
//! concurrency, and every result recorded in the store as it finishes (up
//! or down, latency, exit IP and country), so a check that is interrupted
//! keeps what it measured.

use std::sync::Arc;

use vip_engine::Proxy;
use vip_gateway::Credentials;
use vip_gateway::health::{CheckReport, CheckSettings, check_each};
use vip_store::vault::Vault;
use vip_store::{Store, StoreError};

use crate::credentials::VaultCredentials;

/// Checks `proxies` and records each result as it comes; `done` hears of
/// each check as it finishes (a progress bar). When `until` completes first
/// (Ctrl-C), the checks still running are stopped and the reports so far
/// come back.
pub async fn check_stored(
    store: &Store,
    vault: Option<Vault>,
    proxies: Vec<Proxy>,
    settings: &CheckSettings,
    done: impl Fn(&CheckReport),
    until: impl std::future::Future<Output = ()>,
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
    let (mut rx, running) = check_each(batch, settings);
    let mut reports = Vec::new();
    tokio::pin!(until);
    loop {
        let (i, r) = tokio::select! {
            next = rx.recv() => match next {
                Some(x) => x,
                None => break,
            },
            () = &mut until => break,
        };
        let ip = r.exit_ip.map(|i| i.to_string());
        let latency = r.latency.map(|d| d.as_secs_f64() * 1000.0);
        let status = Some(if r.ok { "up" } else { "down" });
        store.record_check(
            r.proxy,
            status,
            latency,
            (ip.as_deref(), r.exit_country.as_deref()),
            vip_store::now_ms(),
        )?;
        done(&r);
        reports.push((i, r));
    }
    drop(running);
    reports.sort_by_key(|(i, _)| *i);
    Ok(reports.into_iter().map(|(_, r)| r).collect())
}
