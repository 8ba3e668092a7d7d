//! The events socket of a real daemon: health checks of a real microsocks
//! upstream arrive as `health-check` and `proxy-status-change` events (also
//! for a client that connects afterwards with `since=0`), traffic through
//! the gateway shows in the 1 Hz snapshots while it flows, tabs opened and
//! closed through the API (real Chromium) are `tab-update` events, and
//! stopping the daemon closes the socket with 1001.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tokio::{ConnectStream, connect_async};
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use futures_util::StreamExt;
use serde_json::Value;
use vip_testkit::*;

use crate::common::*;

type Socket = WebSocketStream<ConnectStream>;

async fn socket(daemon: &vip_daemon::DaemonHandle, dir: &std::path::Path, query: &str) -> Socket {
    let token = std::fs::read_to_string(dir.join(vip_api::TOKEN_FILE)).unwrap();
    let url = format!("ws://{}/api/v1/events{query}", daemon.api_addr());
    let mut req = url.into_client_request().unwrap();
    let auth = format!("Bearer {token}").parse().unwrap();
    req.headers_mut().insert("authorization", auth);
    connect_async(req).await.unwrap().0
}

/// Reads events until `want` holds for one (at most 15 s); returns it.
async fn wait_for(ws: &mut Socket, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {what} within 15 s"))
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if want(&v) {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_traffic_and_stopping_reach_the_socket() {
    let origin = Origin::start().await;
    let socks = microsocks("127.0.0.2", "u", "ev-secret-pw");
    let dir = tempfile::tempdir().unwrap();
    let (store, vault) = store_and_vault(dir.path());
    let id = add_socks(&store, &vault, socks.addr, "u", "ev-secret-pw");
    let mut config = config(dir.path());
    config.health = Some(vip_daemon::HealthConfig {
        settings: vip_gateway::health::CheckSettings {
            url: Some(format!("http://127.0.0.1:{}/", origin.addr.port())),
            ..Default::default()
        },
        every: Duration::from_secs(1),
    });
    let daemon = vip_daemon::start(config, Some(vault)).await.unwrap();
    let mut live = socket(&daemon, dir.path(), "").await;
    let hello = wait_for(&mut live, "hello", |v| v["type"] == "hello").await;
    let is_check = |v: &Value| v["type"] == "health-check" && v["data"]["id"] == id;
    let check = wait_for(&mut live, "a health check", is_check).await;
    assert_eq!(check["data"]["ok"], true, "{check}");
    assert!(check["seq"].as_u64().unwrap() > hello["data"]["first"].as_u64().unwrap() - 1);
    let up = |v: &Value| v["type"] == "proxy-status-change" && v["data"]["proxy"] == id;
    let status = wait_for(&mut live, "the proxy going up", up).await;
    assert_eq!(status["data"]["status"], "up");
    // A client that connects now gets the same from the ring.
    let mut late = socket(&daemon, dir.path(), "?since=0&topics=proxy-status-change").await;
    let replayed = wait_for(&mut late, "the replayed status", up).await;
    assert_eq!(replayed["seq"], status["seq"]);
    // Traffic through the gateway shows in a snapshot.
    let body = via_connect(daemon.gateway_addr(), "127.0.0.1", origin.addr.port())
        .await
        .unwrap();
    assert!(!body.is_empty());
    let moved = |v: &Value| v["type"] == "snapshot" && v["data"]["down_total"].as_u64() > Some(0);
    let snap = wait_for(&mut live, "a snapshot with traffic", moved).await;
    for field in ["up_bps", "down_bps", "up_total", "active_connections"] {
        assert!(snap["data"][field].is_u64(), "{field} in {snap}");
    }
    assert!(
        !serde_json::to_string(&snap)
            .unwrap()
            .contains("ev-secret-pw")
    );
    daemon.shutdown(Duration::from_secs(10)).await;
    let bye = loop {
        match tokio::time::timeout(Duration::from_secs(10), live.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(f))) => break f,
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(u16::from(bye.unwrap().code), 1001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_opened_and_closed_are_tab_updates() {
    let site = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = browser_config(dir.path());
    let daemon = vip_daemon::start(config, None).await.unwrap();
    let mut ws = socket(&daemon, dir.path(), "?topics=tab-update").await;
    let data = dir.path().to_path_buf();
    let url = format!("http://127.0.0.1:{}/one", site.addr.port());
    let request = serde_json::json!({ "url": url, "assignment": { "kind": "direct" } });
    let tab = tokio::task::spawn_blocking(move || {
        vip_api::Client::from_data_dir(&data)
            .unwrap()
            .post::<_, vip_api::Tab>("/api/v1/tabs", &request)
    })
    .await
    .unwrap()
    .unwrap();
    let opened = wait_for(&mut ws, "the tab opening", |v| {
        v["data"]["action"] == "opened"
    })
    .await;
    assert_eq!(opened["data"]["id"], tab.id);
    assert_eq!(opened["data"]["tab"]["url"], tab.url);
    let data = dir.path().to_path_buf();
    let id = tab.id;
    tokio::task::spawn_blocking(move || {
        vip_api::Client::from_data_dir(&data)
            .unwrap()
            .delete::<Value>(&format!("/api/v1/tabs/{id}"))
    })
    .await
    .unwrap()
    .unwrap();
    let closed = wait_for(&mut ws, "the tab closing", |v| {
        v["data"]["action"] == "closed"
    })
    .await;
    assert_eq!(closed["data"]["id"], tab.id);
    daemon.shutdown(Duration::from_secs(10)).await;
}
