//! Usage over time and rotation events over the API of a real daemon:
//! requests through a real microsocks upstream show up in the proxy's and
//! the pool's hourly buckets once the usage writer commits them; rotation
//! events from the store are listed newest first; bad ranges name the
//! parameter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use vip_testkit::*;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_rotation_events_come_from_the_store() {
    let origin = Origin::start().await;
    let socks = microsocks("127.0.0.2", "u", "hist-secret");
    let dir = tempfile::tempdir().unwrap();
    let (store, vault) = store_and_vault(dir.path());
    let id = add_socks(&store, &vault, socks.addr, "u", "hist-secret");
    let now = vip_store::now_ms();
    for (ago, reason) in [(5_000, "failure"), (1_000, "manual")] {
        store
            .conn()
            .execute(
                "INSERT INTO rotation_events (key_kind, reason, created_at) VALUES ('tab', ?1, ?2)",
                (reason, now - ago),
            )
            .unwrap();
    }
    let daemon = vip_daemon::start(config(dir.path()), Some(vault))
        .await
        .unwrap();
    let api = Api::of(&daemon, dir.path());
    for _ in 0..3 {
        via_connect(daemon.gateway_addr(), "127.0.0.1", origin.addr.port())
            .await
            .unwrap();
    }
    let started = Instant::now();
    let series = loop {
        let (status, s) = api
            .json("GET", &format!("/api/v1/proxies/{id}/stats"), None)
            .await;
        assert_eq!(status, 200, "{s}");
        let total: u64 = s["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["total"].as_u64().unwrap())
            .sum();
        if total == 3 {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the requests were not counted: {s}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(series["bucket"], "hour");
    let point = &series["points"][0];
    assert_eq!(point["ok"], 3);
    assert!(point["bytes_received"].as_u64().unwrap() > 0);
    assert!(point["avg_latency_ms"].as_f64().unwrap() > 0.0);
    let (_, pool) = api.json("GET", "/api/v1/usage?bucket=day", None).await;
    assert_eq!(pool["proxy"], serde_json::Value::Null);
    assert_eq!(pool["points"][0]["total"], 3);
    let (status, e) = api.json("GET", "/api/v1/usage?bucket=minute", None).await;
    assert_eq!(
        (status, e["pointer"].as_str()),
        (422, Some("/query/bucket"))
    );
    let (status, e) = api.json("GET", "/api/v1/usage?from=10&to=5", None).await;
    assert_eq!((status, e["pointer"].as_str()), (422, Some("/query/from")));
    // Extremes are refused, not overflowed (a panic here once hung the request).
    let extreme = format!("/api/v1/usage?from={}&to={}", i64::MIN, i64::MAX);
    let (status, e) = api.json("GET", &extreme, None).await;
    assert_eq!((status, e["pointer"].as_str()), (422, Some("/query/from")));
    let (status, _) = api
        .json("GET", &format!("/api/v1/usage?to={}", i64::MIN), None)
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        api.json("GET", "/api/v1/proxies/999/stats", None).await.0,
        404
    );
    let (status, events) = api
        .json("GET", "/api/v1/rotation-events?limit=10", None)
        .await;
    assert_eq!(status, 200);
    let reasons: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(&reasons[..2], ["manual", "failure"], "newest first");
    assert_eq!(
        api.json("GET", "/api/v1/rotation-events?limit=0", None)
            .await
            .0,
        422
    );
    daemon.shutdown(Duration::from_secs(10)).await;
}
