//! Health checks through the API over a real daemon: one proxy now (a
//! real microsocks upstream passes with its exit address; a dead one fails
//! with its reason and no latency, and is stored down), many as a job
//! whose progress arrives on the events socket until it finishes, and a
//! breaker opened by failed checks that is reset through the API (the
//! transition is published). Bad requests name their field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use async_tungstenite::tokio::connect_async;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use futures_util::StreamExt;
use serde_json::{Value, json};
use vip_testkit::*;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_jobs_and_breakers_over_the_api() {
    let origin = Origin::start().await;
    let good = microsocks("127.0.0.2", "u", "chk-secret");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let dir = tempfile::tempdir().unwrap();
    let (store, vault) = store_and_vault(dir.path());
    let up = add_socks(&store, &vault, good.addr, "u", "chk-secret");
    let down = add_socks(&store, &vault, dead_addr, "u", "x");
    let mut config = config(dir.path());
    config.health = Some(vip_daemon::HealthConfig {
        settings: vip_gateway::health::CheckSettings {
            url: Some(format!("http://127.0.0.1:{}/", origin.addr.port())),
            ..Default::default()
        },
        // Periodic rounds stay out of the way: only the API checks here.
        every: Duration::from_secs(3600),
    });
    let daemon = vip_daemon::start(config, Some(vault)).await.unwrap();
    let client = Api::of(&daemon, dir.path());
    let token = client.token.clone();
    let mut req = format!("ws://{}/api/v1/events", daemon.api_addr())
        .into_client_request()
        .unwrap();
    let auth = format!("Bearer {token}").parse().unwrap();
    req.headers_mut().insert("authorization", auth);
    let mut ws = connect_async(req).await.unwrap().0;
    let api = |method: &'static str, route: String, body: Option<Value>| {
        let client = client.clone();
        async move { client.located(method, &route, body).await }
    };
    let (status, ok, _) = api(
        "POST",
        format!("/api/v1/proxies/{up}/check"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(
        (ok["ok"].as_bool(), ok["exit_ip"].as_str()),
        (Some(true), Some("127.0.0.2"))
    );
    assert!(ok["latency_ms"].as_f64().unwrap() > 0.0);
    let (_, bad, _) = api(
        "POST",
        format!("/api/v1/proxies/{down}/check"),
        Some(json!({})),
    )
    .await;
    assert_eq!(bad["ok"], false);
    assert_eq!(
        bad["latency_ms"],
        Value::Null,
        "a failed check shows no old latency"
    );
    assert!(!bad["error"].as_str().unwrap().is_empty(), "{bad}");
    assert_eq!(bad["stage"], "connect");
    let (_, stored, _) = api("GET", format!("/api/v1/proxies/{down}"), None).await;
    assert_eq!(stored["status"], "down");
    // Many at once: a job, its progress on the socket.
    let (status, job, location) =
        api("POST", "/api/v1/proxies:check".into(), Some(json!({}))).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_i64().unwrap();
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/v1/jobs/{id}").as_str())
    );
    assert_eq!(job["total"], 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut progress = 0;
    let finished = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = tokio::time::timeout(left, ws.next())
            .await
            .expect("the job finished")
            .unwrap()
            .unwrap();
        let Message::Text(text) = m else { continue };
        let v: Value = serde_json::from_str(text.as_str()).unwrap();
        if v["type"] != "job-progress" || v["data"]["job"]["id"] != id {
            continue;
        }
        if v["data"]["result"].is_object() {
            progress += 1;
        }
        if v["data"]["job"]["state"] == "finished" {
            break v["data"]["job"].clone();
        }
    };
    assert_eq!(progress, 2, "one progress event per proxy");
    assert_eq!(
        (
            finished["done"].as_u64(),
            finished["ok"].as_u64(),
            finished["failed"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let (_, looked, _) = api("GET", format!("/api/v1/jobs/{id}"), None).await;
    assert_eq!(looked["state"], "finished");
    assert_eq!(api("GET", "/api/v1/jobs/999".into(), None).await.0, 404);
    let (status, e, _) = api(
        "POST",
        "/api/v1/proxies:check".into(),
        Some(json!({ "ids": [999] })),
    )
    .await;
    assert_eq!((status, e["pointer"].as_str()), (404, Some("/ids/0")));
    let both = json!({ "ids": [up], "group": "g" });
    assert_eq!(
        api("POST", "/api/v1/proxies:check".into(), Some(both))
            .await
            .0,
        422
    );
    // Failed checks open the dead proxy's breaker; a reset closes it.
    let mut opened = false;
    for _ in 0..12 {
        let (_, b, _) = api("GET", format!("/api/v1/proxies/{down}/breaker"), None).await;
        if b["phase"] == "open" {
            assert_eq!(b["available"], false);
            opened = true;
            break;
        }
        api(
            "POST",
            format!("/api/v1/proxies/{down}/check"),
            Some(json!({})),
        )
        .await;
    }
    assert!(opened, "failed checks did not open the breaker");
    let (status, reset, _) = api(
        "POST",
        format!("/api/v1/proxies/{down}/breaker:reset"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (
            status,
            reset["phase"].as_str(),
            reset["available"].as_bool()
        ),
        (200, Some("closed"), Some(true))
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = tokio::time::timeout(left, ws.next())
            .await
            .expect("the reset was published")
            .unwrap()
            .unwrap();
        let Message::Text(text) = m else { continue };
        let v: Value = serde_json::from_str(text.as_str()).unwrap();
        if v["type"] == "breaker-transition"
            && v["data"]["proxy"] == down
            && v["data"]["to"] == "closed"
        {
            break;
        }
    }
    assert_eq!(
        api("GET", "/api/v1/proxies/999/breaker".into(), None)
            .await
            .0,
        404
    );
    daemon.shutdown(Duration::from_secs(10)).await;
}
