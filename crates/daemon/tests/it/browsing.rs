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
    store
        .add_proxy(
            Some(vault),
            &NewProxy {
                protocol: Some(vip_engine::Protocol::Socks5),
                host: peer.addr.ip().to_string(),
                port: peer.addr.port(),
                username: Some(Secret::new("u")),
                password: Some(Secret::new("p-secret")),
                group: Some(group.into()),
                ..NewProxy::default()
            },
        )
        .unwrap();
}

/// POST /v1/tabs with `body`; the new tab.
async fn open(dir: &std::path::Path, body: serde_json::Value) -> vip_api::Tab {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        vip_api::Client::from_data_dir(&dir)
            .unwrap()
            .post::<_, vip_api::Tab>("/v1/tabs", &body)
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
