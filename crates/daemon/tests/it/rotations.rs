//! Rotation configs through the API over a real daemon with two real
//! microsocks upstreams: a config created and activated through the API
//! carries the next request (failover order decides the exit), a replaced
//! one changes it, an invalid document is refused with its JSON path, an
//! active config cannot be deleted, an inactive one can.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use vip_testkit::*;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_configs_are_managed_through_the_api_and_used_at_once() {
    let origin = Origin::start().await;
    let a = microsocks("127.0.0.2", "ua", "rot-a");
    let b = microsocks("127.0.0.3", "ub", "rot-b");
    let dir = tempfile::tempdir().unwrap();
    let (store, vault) = store_and_vault(dir.path());
    let ida = add_socks(&store, &vault, a.addr, "ua", "rot-a");
    let idb = add_socks(&store, &vault, b.addr, "ub", "rot-b");
    let daemon = vip_daemon::start(config(dir.path()), Some(vault))
        .await
        .unwrap();
    let client = Api::of(&daemon, dir.path());
    let api = |method: &'static str, route: String, body: Option<Value>| {
        let client = client.clone();
        async move { client.json(method, &route, body).await }
    };
    let exit = || via_connect(daemon.gateway_addr(), "127.0.0.1", origin.addr.port());
    let order = |first: i64, second: i64| {
        json!({ "name": "fo", "strategy": "failover",
                "strategy_config": { "failoverOrder": [first, second] } })
    };
    let (status, made) = api("POST", "/api/v1/rotations".into(), Some(order(idb, ida))).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(
        (made["strategy"].as_str(), made["is_active"].as_bool()),
        (Some("failover"), Some(false))
    );
    assert_eq!(
        made["document"]["strategy_config"]["failoverOrder"],
        json!([idb, ida])
    );
    let id = made["id"].as_i64().unwrap();
    let (status, active) = api(
        "POST",
        format!("/api/v1/rotations/{id}/activate"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, active["is_active"].as_bool()),
        (200, Some(true)),
        "{active}"
    );
    assert_eq!(
        exit().await.unwrap(),
        "127.0.0.3",
        "the failover order's first"
    );
    // Replaced (by name): the order flips, at once.
    let (status, _) = api("PUT", "/api/v1/rotations/fo".into(), Some(order(ida, idb))).await;
    assert_eq!(status, 200);
    assert_eq!(exit().await.unwrap(), "127.0.0.2");
    // Invalid documents name the path.
    let bad = json!({ "name": "x", "strategy": "weighted", "strategy_config": { "weights": { "1": 150 } } });
    let (status, e) = api("POST", "/api/v1/rotations".into(), Some(bad)).await;
    assert_eq!(status, 422, "{e}");
    assert!(e["detail"].as_str().unwrap().contains("weights"), "{e}");
    assert!(
        e["hint"]
            .as_str()
            .unwrap()
            .contains("vip rotation validate")
    );
    let (status, _) = api(
        "POST",
        "/api/v1/rotations".into(),
        Some(json!({ "name": "fo", "strategy": "random" })),
    )
    .await;
    assert_eq!(status, 422, "a taken name");
    // The active one stays; another activated, the first can go.
    assert_eq!(
        api("DELETE", format!("/api/v1/rotations/{id}"), None)
            .await
            .0,
        409
    );
    let (_, other) = api(
        "POST",
        "/api/v1/rotations".into(),
        Some(json!({ "name": "rr", "strategy": "round-robin" })),
    )
    .await;
    let other = other["id"].as_i64().unwrap();
    assert_eq!(
        api(
            "POST",
            format!("/api/v1/rotations/{other}/activate"),
            Some(json!({}))
        )
        .await
        .0,
        200
    );
    let (_, listed) = api("GET", "/api/v1/rotations".into(), None).await;
    let active: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["is_active"] == true)
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(active, ["rr"]);
    let (status, gone) = api("DELETE", format!("/api/v1/rotations/{id}"), None).await;
    assert_eq!((status, gone["deleted"].as_i64()), (200, Some(id)));
    assert_eq!(
        api("GET", format!("/api/v1/rotations/{id}"), None).await.0,
        404
    );
    daemon.shutdown(std::time::Duration::from_secs(10)).await;
}
