//! Set-up shared by the daemon suites: a data directory with a vault and
//! proxies, and a daemon config with nothing bound to fixed ports.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::Path;
use std::time::Duration;

use vip_daemon::DaemonConfig;
use vip_store::Store;
use vip_store::repo::proxies::{AddOutcome, NewProxy};
use vip_store::vault::{Secret, Vault};

pub const MASTER: &str = "daemon test master password";

/// Opens the data directory's store and its vault (made on first use).
pub fn store_and_vault(dir: &Path) -> (Store, Vault) {
    let store = Store::open(dir.join(vip_store::DATABASE_FILE)).unwrap();
    let master = Secret::new(MASTER);
    let vault = if Vault::is_initialized(store.conn()).unwrap() {
        Vault::unlock(store.conn(), &master).unwrap()
    } else {
        Vault::init(store.conn(), &master).unwrap()
    };
    (store, vault)
}

/// Stores a SOCKS5 proxy at `addr` with a login; returns its id.
pub fn add_socks(
    store: &Store,
    vault: &Vault,
    addr: std::net::SocketAddr,
    user: &str,
    pass: &str,
) -> i64 {
    let outcome = store
        .add_proxy(
            Some(vault),
            &NewProxy {
                protocol: Some(vip_engine::Protocol::Socks5),
                host: addr.ip().to_string(),
                port: addr.port(),
                username: Some(Secret::new(user)),
                password: Some(Secret::new(pass)),
                ..NewProxy::default()
            },
        )
        .unwrap();
    match outcome {
        AddOutcome::Added(id) | AddOutcome::Duplicate(id) => id,
    }
}

/// A config for `dir`: no browser, no health checks, everything on port 0.
pub fn config(dir: &Path) -> DaemonConfig {
    DaemonConfig::local(dir)
}

/// A config for `dir` with the browser on and DevTools on a free port
/// (returned too).
pub fn browser_config(dir: &Path) -> (DaemonConfig, u16) {
    let devtools = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = config(dir);
    config.browser.disabled = false;
    config.browser.devtools_port = Some(devtools);
    (config, devtools)
}

/// Waits (at most 10 s) until `check` holds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The vault of `dir` unlocked again (the daemon takes its own).
pub fn vault(dir: &Path) -> Vault {
    store_and_vault(dir).1
}

/// One request: status, headers and the body as text.
pub fn call(
    base: &str,
    token: &str,
    method: &str,
    route: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, ureq::http::HeaderMap, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{route}"))
        .header("Authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let reply = match body {
        Some(b) => agent.run(
            req.header("Content-Type", "application/json")
                .body(b.to_string())
                .unwrap(),
        ),
        None => agent.run(req.body(()).unwrap()),
    };
    let mut reply = reply.unwrap();
    let status = reply.status().as_u16();
    let headers = reply.headers().clone();
    (status, headers, reply.body_mut().read_to_string().unwrap())
}

/// A daemon's control API as a test calls it: JSON in and out, each call
/// on the blocking pool (the client is blocking; the daemon shares the
/// runtime).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
}

impl Api {
    /// The API of `daemon`, with the token from `dir`.
    pub fn of(daemon: &vip_daemon::DaemonHandle, dir: &Path) -> Api {
        Api {
            base: format!("http://{}", daemon.api_addr()),
            token: std::fs::read_to_string(dir.join(vip_api::TOKEN_FILE)).unwrap(),
        }
    }

    /// Status, the answer as JSON (`Null` when it is none) and `Location`.
    pub async fn located(
        &self,
        method: &'static str,
        route: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value, Option<String>) {
        let (base, token, route) = (self.base.clone(), self.token.clone(), route.to_string());
        tokio::task::spawn_blocking(move || {
            let body = body.map(|v| v.to_string());
            let (status, headers, text) = call(&base, &token, method, &route, &[], body.as_deref());
            let location = headers
                .get("location")
                .map(|v| v.to_str().unwrap().to_string());
            let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
            (status, json, location)
        })
        .await
        .unwrap()
    }

    /// Status and the answer as JSON.
    pub async fn json(
        &self,
        method: &'static str,
        route: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let (status, json, _) = self.located(method, route, body).await;
        (status, json)
    }
}
