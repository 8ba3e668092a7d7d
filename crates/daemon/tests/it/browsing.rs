//! Tabs in identities, in-process: the daemon with its browser (Debian's
//! Chromium, headless) opens a tab through the real control API in an
//! identity that asks for a proxy group; the page's traffic leaves through
//! that group's upstream (microsocks), also after a reload; shutting down
//! with the tabs open ends every task.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use vip_store::repo::proxies::NewProxy;
use vip_store::vault::Secret;
use vip_testkit::*;

use crate::common::*;

fn add_in_group(
    store: &vip_store::Store,
    vault: &vip_store::vault::Vault,
    peer: &Peer,
    group: &str,
) {
    add_peer(store, vault, peer, Some(group), None);
}

/// Stores `peer` (microsocks, login u / p-secret) in `group` and `country`.
fn add_peer(
    store: &vip_store::Store,
    vault: &vip_store::vault::Vault,
    peer: &Peer,
    group: Option<&str>,
    country: Option<&str>,
) {
    store
        .add_proxy(
            Some(vault),
            &NewProxy {
                protocol: Some(vip_engine::Protocol::Socks5),
                host: peer.addr.ip().to_string(),
                port: peer.addr.port(),
                username: Some(Secret::new("u")),
                password: Some(Secret::new("p-secret")),
                group: group.map(Into::into),
                country: country.map(Into::into),
                ..NewProxy::default()
            },
        )
        .unwrap();
}

/// Every target Chromium lists over DevTools.
async fn targets(cdp: &vip_browser::cdp::Cdp) -> Vec<serde_json::Value> {
    let reply = cdp
        .call("Target.getTargets", serde_json::json!({}))
        .await
        .unwrap();
    reply["targetInfos"].as_array().cloned().unwrap_or_default()
}

/// POST /v1/tabs with `body`; the new tab.
async fn open(dir: &std::path::Path, body: serde_json::Value) -> vip_api::Tab {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        vip_api::Client::from_data_dir(&dir)
            .unwrap()
            .post::<_, vip_api::Tab>("/api/v1/tabs", &body)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("opening a tab: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_identity_browses_through_its_group_also_after_a_reload() {
    let origin = Origin::start().await;
    let left = microsocks("127.0.0.2", "u", "p-secret");
    let right = microsocks("127.0.0.3", "u", "p-secret");
    let dir = tempfile::tempdir().unwrap();
    let (store, vault) = store_and_vault(dir.path());
    add_in_group(&store, &vault, &left, "left");
    add_in_group(&store, &vault, &right, "right");
    let mut config = config(dir.path());
    config.browser.disabled = false;
    let daemon = vip_daemon::start(config, Some(vault)).await.unwrap();
    let url = format!("http://127.0.0.1:{}/page", origin.addr.port());
    let request = serde_json::json!({
        "url": url,
        "assignment": {"kind": "group", "group": "right"},
        "shared_with": "g1",
    });
    let tab = open(dir.path(), request.clone()).await;
    assert_eq!(
        tab.assignment,
        vip_api::AssignmentSpec::Group {
            group: "right".into()
        }
    );
    eventually("the page to reach the origin", || {
        !origin.peers.lock().unwrap().is_empty()
    })
    .await;
    // A reload (any `vip proxy` change does one) keeps the identity's
    // route: its next tab goes out through the same group.
    daemon.reload().await.unwrap();
    let before = origin.peers.lock().unwrap().len();
    open(dir.path(), request).await;
    eventually("the second page", || {
        origin.peers.lock().unwrap().len() > before
    })
    .await;
    let seen = origin.peers.lock().unwrap().clone();
    assert!(
        seen.iter().all(|ip| ip == "127.0.0.3"),
        "only the right group's upstream: {seen:?}"
    );
    let report = daemon.shutdown(Duration::from_secs(10)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.tasks_left, 0);
    assert!(report.usage_written > 0, "{report:?}");
}

/// A tab made in an identity's context from the browser's side, as the
/// new-tab button and `window.open` make them (here through a DevTools
/// client on `--devtools-port`), is protected before its first script,
/// listed by the API and saved with sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_made_in_an_identitys_window_joins_the_identity() {
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_store, vault) = store_and_vault(dir.path());
    let (config, devtools) = browser_config(dir.path());
    let daemon = vip_daemon::start(config, Some(vault)).await.unwrap();
    let url = format!("http://127.0.0.1:{}/first", origin.addr.port());
    let request =
        serde_json::json!({"url": url, "assignment": {"kind": "direct"}, "webrtc": "disable"});
    let first = open(dir.path(), request).await;

    let version: serde_json::Value = tokio::task::spawn_blocking(move || {
        ureq::get(&format!("http://127.0.0.1:{devtools}/json/version"))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    })
    .await
    .unwrap();
    let ws = version["webSocketDebuggerUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let (cdp, _events) = vip_browser::cdp::Cdp::connect(&ws).await.unwrap();
    let listed = targets(&cdp).await;
    let context = listed
        .iter()
        .find(|t| t["type"] == "page" && t["url"].as_str() == Some(url.as_str()))
        .map(|t| t["browserContextId"].clone())
        .expect("the identity's tab is listed");
    // Nothing of Chromium's own is listed: every page is the identity's.
    let pages: Vec<&serde_json::Value> = listed.iter().filter(|t| t["type"] == "page").collect();
    assert_eq!(pages.len(), 1, "{pages:?}");
    // A page made outside every identity is closed before it runs.
    let stray = cdp
        .call(
            "Target.createTarget",
            serde_json::json!({"url": "about:blank"}),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let now = targets(&cdp).await;
        if !now.iter().any(|t| t["targetId"] == stray["targetId"]) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a stray page stays: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = format!("http://127.0.0.1:{}/second", origin.addr.port());
    let made = cdp
        .call(
            "Target.createTarget",
            serde_json::json!({"url": second, "browserContextId": context}),
        )
        .await
        .unwrap();
    let attached = cdp
        .call(
            "Target.attachToTarget",
            serde_json::json!({"targetId": made["targetId"], "flatten": true}),
        )
        .await
        .unwrap();
    let session = attached["sessionId"].as_str().unwrap().to_string();
    let zone = cdp
        .call_in(
            Some(&session),
            "Runtime.evaluate",
            serde_json::json!({"expression": "Intl.DateTimeFormat().resolvedOptions().timeZone", "returnByValue": true}),
        )
        .await
        .unwrap();
    assert_eq!(
        zone["result"]["value"].as_str(),
        Some(first.timezone.as_str())
    );

    let data = dir.path().to_path_buf();
    let (tabs, saved) = tokio::task::spawn_blocking(move || {
        let client = vip_api::Client::from_data_dir(&data).unwrap();
        let started = std::time::Instant::now();
        let tabs = loop {
            let tabs: Vec<vip_api::Tab> = client.get("/api/v1/tabs").unwrap();
            if tabs.len() == 2 || started.elapsed() > Duration::from_secs(10) {
                break tabs;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let saved: vip_api::SessionInfo = client.post("/api/v1/sessions/both", &()).unwrap();
        (tabs, saved)
    })
    .await
    .unwrap();
    assert_eq!(tabs.len(), 2, "{tabs:?}");
    let joined = tabs.iter().find(|t| t.id != first.id).unwrap();
    assert_eq!(joined.anonymous, first.anonymous, "the same identity");
    assert!(joined.url.ends_with("/second"), "{joined:?}");
    assert_eq!(saved.tabs, 2);
    let report = daemon.shutdown(Duration::from_secs(10)).await;
    assert_eq!(report.tasks_left, 0, "{report:?}");
}

/// A daemon whose one proxy (microsocks, exiting from 127.0.0.2) is
/// configured in DE while a GeoIP City database maps its exit to the US
/// (America/Denver), with the
/// check URL an origin that answers with the caller's address; opens a
/// tab pinned to it.
async fn pinned_tab_under(
    policy: vip_daemon::GeoPolicy,
    own: Option<&str>,
) -> Result<vip_api::Tab, vip_api::ApiError> {
    let origin = Origin::start().await;
    let peer = microsocks("127.0.0.2", "u", "p-secret");
    let dir = tempfile::tempdir().unwrap();
    let (store, vault) = store_and_vault(dir.path());
    add_peer(&store, &vault, &peer, None, Some("DE"));
    let db = dir.path().join("geo.mmdb");
    // A City database: the exit's own zone, not the country's main one.
    let city = mmdb_city(&[("127.0.0.2".parse().unwrap(), "US", "America/Denver")]);
    std::fs::write(&db, city).unwrap();
    let mut config = config(dir.path());
    config.browser.disabled = false;
    config.browser.exit = vip_daemon::ExitGeo {
        policy,
        max_age: Duration::from_secs(3600),
        check: Some(vip_gateway::health::CheckSettings {
            url: Some(format!("http://127.0.0.1:{}/", origin.addr.port())),
            timeout: Duration::from_secs(5),
            concurrency: 1,
            tls: vip_gateway::upstream::Tls::default(),
            geo: Some(std::sync::Arc::new(
                vip_gateway::health::GeoDb::open(&db).unwrap(),
            )),
        }),
    };
    let daemon = vip_daemon::start(config, Some(vault)).await.unwrap();
    let data = dir.path().to_path_buf();
    let url = format!("http://127.0.0.1:{}/page", origin.addr.port());
    let mut request = serde_json::json!({"url": url, "assignment": {"kind": "proxy", "id": 1}});
    if let Some(geo) = own {
        // A named identity with its own policy.
        request["identity"] = serde_json::json!("own");
        request["geo"] = serde_json::json!(geo);
    }
    let opened = tokio::task::spawn_blocking(move || {
        vip_api::Client::from_data_dir(&data)
            .unwrap()
            .post::<_, vip_api::Tab>("/api/v1/tabs", &request)
    })
    .await
    .unwrap();
    daemon.shutdown(Duration::from_secs(10)).await;
    opened
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_identity_follows_its_measured_exit() {
    use vip_daemon::GeoPolicy;
    let measured = pinned_tab_under(GeoPolicy::Measured, None).await.unwrap();
    assert_eq!(
        (measured.country.as_deref(), measured.timezone.as_str()),
        (Some("US"), "America/Denver")
    );
    let configured = pinned_tab_under(GeoPolicy::Configured, None).await.unwrap();
    assert_eq!(
        (configured.country.as_deref(), configured.timezone.as_str()),
        (Some("DE"), "Europe/Berlin")
    );
    let strict = pinned_tab_under(GeoPolicy::Strict, None).await.unwrap_err();
    assert_eq!(strict.status, 409, "{strict}");
    assert!(
        strict.message.contains("configured in DE but exits in US"),
        "{strict}"
    );
    // An identity's own policy wins over the daemon's.
    let own = pinned_tab_under(GeoPolicy::Measured, Some("configured"))
        .await
        .unwrap();
    assert_eq!(own.timezone, "Europe/Berlin");
    let own = pinned_tab_under(GeoPolicy::Configured, Some("strict"))
        .await
        .unwrap_err();
    assert_eq!(own.status, 409, "{own}");
    let bad = pinned_tab_under(GeoPolicy::Measured, Some("guess"))
        .await
        .unwrap_err();
    assert!(
        bad.status == 422 && bad.message.contains("use measured, configured or strict"),
        "{bad}"
    );
}

/// Cookies go into an identity whose browser is open (its context, at
/// once) and come back out of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_go_into_an_open_identity() {
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_store, vault) = store_and_vault(dir.path());
    let mut config = config(dir.path());
    config.browser.disabled = false;
    let daemon = vip_daemon::start(config, Some(vault)).await.unwrap();
    let url = format!("http://127.0.0.1:{}/page", origin.addr.port());
    open(
        dir.path(),
        serde_json::json!({"url": url, "identity": "live", "assignment": {"kind": "direct"}}),
    )
    .await;
    let data = dir.path().to_path_buf();
    let (report, file) = tokio::task::spawn_blocking(move || {
        let client = vip_api::Client::from_data_dir(&data).unwrap();
        let text = ".example.com\tTRUE\t/\tTRUE\t4102444800\tsid\tabc\nnot a cookie line\n";
        let report: vip_api::CookieReport = client
            .post(
                "/api/v1/identities/live/cookies",
                &vip_api::CookieUpload { text: text.into() },
            )
            .unwrap();
        let file: vip_api::CookieFile = client
            .get("/api/v1/identities/live/cookies?format=json")
            .unwrap();
        (report, file)
    })
    .await
    .unwrap();
    assert_eq!((report.imported, report.invalid), (1, 1), "{report}");
    let list: serde_json::Value = serde_json::from_str(&file.text).unwrap();
    let sid = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sid")
        .unwrap_or_else(|| panic!("sid not in the open browser: {list}"));
    assert_eq!(
        (sid["domain"].as_str(), sid["secure"].as_bool()),
        (Some(".example.com"), Some(true))
    );
    daemon.shutdown(Duration::from_secs(10)).await;
}

/// A group identity follows where its proxies were last measured to exit
/// (their health checks), unless its policy says configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_identity_follows_its_proxies_measured_exits() {
    let origin = Origin::start().await;
    let peer = microsocks("127.0.0.2", "u", "p-secret");
    let dir = tempfile::tempdir().unwrap();
    let (store, vault) = store_and_vault(dir.path());
    add_peer(&store, &vault, &peer, Some("g"), Some("DE"));
    store
        .record_check(
            vip_engine::ProxyId(1),
            Some("up"),
            Some(3.0),
            (Some("127.0.0.2"), Some("JP")),
            vip_store::now_ms(),
        )
        .unwrap();
    let mut config = config(dir.path());
    config.browser.disabled = false;
    let daemon = vip_daemon::start(config, Some(vault)).await.unwrap();
    let url = format!("http://127.0.0.1:{}/page", origin.addr.port());
    let group = serde_json::json!({"kind": "group", "group": "g"});
    let measured = open(
        dir.path(),
        serde_json::json!({"url": url, "assignment": group}),
    )
    .await;
    assert_eq!(
        (measured.country.as_deref(), measured.timezone.as_str()),
        (Some("JP"), "Asia/Tokyo")
    );
    let configured = open(
        dir.path(),
        serde_json::json!({"url": url, "assignment": group, "geo": "configured"}),
    )
    .await;
    assert_eq!(configured.timezone, "Europe/Berlin");
    daemon.shutdown(Duration::from_secs(10)).await;
}
