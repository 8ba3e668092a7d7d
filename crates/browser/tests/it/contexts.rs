//! Real Debian Chromium, headless: two identities, each through its own
//! gateway listener pinned to a different real upstream (tinyproxy exits
//! from 127.0.0.2, microsocks from 127.0.0.3). A loopback origin sees every
//! kind of request of each tab (page, image, frame, fetch, worker and its
//! fetch, WebSocket) arrive from its own upstream, and nothing directly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::*;
use vip_browser::{WebRtcPolicy, find_chromium_in};
use vip_testkit::Site;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_context_browses_through_its_own_upstream() {
    let pages = vec![
        (
            "/",
            "text/html",
            "<!doctype html><img src=\"/img.png\"><iframe src=\"/frame\"></iframe><script>\
             fetch('/fetch'); new Worker('/worker.js');\
             const ws = new WebSocket('ws://' + location.host + '/ws');\
             </script>"
                .to_string(),
        ),
        ("/frame", "text/html", "frame".to_string()),
        (
            "/worker.js",
            "text/javascript",
            "fetch('/from-worker');".to_string(),
        ),
    ];
    let site = Site::start(pages).await;
    let rig = rig(WebRtcPolicy::default()).await;
    let url = format!("http://127.0.0.1:{}/", site.addr.port());
    let first = rig.identity(1, 1, "US").await;
    let second = rig.identity(2, 2, "US").await;
    rig.open(&first, &url).await;
    rig.open(&second, &url).await;
    let expected = [
        "/",
        "/img.png",
        "/frame",
        "/fetch",
        "/worker.js",
        "/from-worker",
        "/ws",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = site.requests();
        let done = ["127.0.0.2", "127.0.0.3"].iter().all(|peer| {
            expected
                .iter()
                .all(|p| seen.iter().any(|s| &s.peer == peer && s.path == *p))
        });
        if done || std::time::Instant::now() > deadline {
            // Every request came through one of the two upstreams, none direct.
            assert!(
                seen.iter()
                    .all(|s| s.peer == "127.0.0.2" || s.peer == "127.0.0.3"),
                "{seen:?}"
            );
            assert!(
                done,
                "each identity loads every kind of resource through its own upstream: {seen:?}"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_tab_leaves_other_identities_working() {
    let site = Site::start(vec![("/", "text/html", "<p>ok</p>".to_string())]).await;
    let rig = rig(WebRtcPolicy::default()).await;
    let url = format!("http://127.0.0.1:{}/", site.addr.port());
    let first = rig.identity(1, 1, "US").await;
    let second = rig.identity(2, 2, "US").await;
    let a = rig.open(&first, &url).await;
    let b = rig.open(&second, &url).await;
    rig.browser.crash_tab(&a).await.unwrap();
    assert!(rig.browser.tab(&a).unwrap().crashed);
    assert!(!rig.browser.tab(&b).unwrap().crashed);
    assert_eq!(rig.eval(&b, "1 + 1").await, serde_json::json!(2));
    rig.browser
        .navigate(&b, &format!("{url}?again"), Duration::from_secs(20))
        .await
        .unwrap();
    assert!(
        site.requests()
            .iter()
            .any(|s| s.path == "/?again" && s.peer == "127.0.0.3")
    );
    // The crashed identity opens a new tab fine.
    let c = rig.open(&first, &url).await;
    assert_eq!(
        rig.eval(&c, "document.body.innerText").await,
        serde_json::json!("ok")
    );
    rig.stop().await;
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
