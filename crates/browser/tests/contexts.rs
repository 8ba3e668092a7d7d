//! Real Debian Chromium, headless: two browser contexts, each through its
//! own gateway listener pinned to a different real upstream (tinyproxy,
//! microsocks). A loopback origin sees each tab's page arrive from its own
//! upstream and nothing directly; the default context's proxy refuses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use vip_browser::{Browser, LaunchOptions, find_chromium, find_chromium_in};
use vip_engine::{HealthSettings, Protocol, ProxyId};
use vip_gateway::{Assignment, Gateway, GatewaySettings};
use vip_testkit::*;

async fn text(page: &chromiumoxide::Page) -> String {
    page.evaluate("document.body.innerText")
        .await
        .unwrap()
        .into_value::<String>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_context_browses_through_its_own_upstream() {
    let chromium = find_chromium(None).expect("cargo xtask test installs chromium");
    let origin = Origin::start().await;
    let http = tinyproxy("127.0.0.2", "tu", "tp");
    let socks = microsocks("127.0.0.3", "su", "sp");
    let pool = vec![
        proxy(1, Protocol::Http, http.addr, Some(1)),
        proxy(2, Protocol::Socks5, socks.addr, Some(2)),
    ];
    let engine = engine(
        pool,
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let gateway = Gateway::new(
        engine,
        logins(&[(1, "tu", "tp"), (2, "su", "sp")]),
        Arc::new(Collect::default()),
        GatewaySettings::default(),
    );
    let one = listen(&gateway, Assignment::Pinned(ProxyId(1))).await;
    let two = listen(&gateway, Assignment::Pinned(ProxyId(2))).await;
    let refusing = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let options = LaunchOptions {
        executable: chromium,
        headless: true,
        user_data_dir: profile.path().to_path_buf(),
        default_proxy: refusing,
    };
    let browser = Browser::launch(&options).await.unwrap();
    let url = format!("http://127.0.0.1:{}/", origin.addr.port());
    let first = browser.new_context(one).await.unwrap();
    let second = browser.new_context(two).await.unwrap();
    let a = browser.open(&first, &url).await.unwrap();
    let b = browser.open(&second, &url).await.unwrap();
    assert_eq!(text(&a).await, "127.0.0.2");
    assert_eq!(text(&b).await, "127.0.0.3");
    let peers = origin.peers.lock().unwrap().clone();
    assert!(
        !peers.is_empty() && peers.iter().all(|p| p == "127.0.0.2" || p == "127.0.0.3"),
        "{peers:?}"
    );
    tokio::time::timeout(Duration::from_secs(20), browser.close())
        .await
        .unwrap()
        .unwrap();
    gateway.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn a_missing_chromium_names_the_fix() {
    let err = find_chromium_in(
        Some(std::path::Path::new("/nonexistent/chromium")),
        None,
        std::ffi::OsStr::new("/nonexistent/bin"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("/nonexistent/chromium")
            && err.contains("apt-get install chromium")
            && err.contains("VIP_CHROMIUM"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("chromium");
    std::fs::write(&fake, b"").unwrap();
    assert_eq!(
        find_chromium_in(None, None, dir.path().as_os_str()).unwrap(),
        fake
    );
}
