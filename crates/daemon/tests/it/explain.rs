//! `POST /api/v1/rotation:explain` over a real daemon with two real
//! microsocks upstreams under a custom-rules rotation: the explained first
//! choice is where the next real request goes (asking moves no cursor),
//! rules that block, go direct or pin a proxy are named, a disabled proxy
//! is listed as unavailable, and bad requests name their field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use vip_store::repo::proxies::ProxyPatch;
use vip_testkit::*;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explanations_name_the_rule_strategy_and_proxy_and_match_what_happens() {
    let origin = Origin::start().await;
    let a = microsocks("127.0.0.2", "ua", "pa-explain");
    let b = microsocks("127.0.0.3", "ub", "pb-explain");
    let dir = tempfile::tempdir().unwrap();
    let (store, vault) = store_and_vault(dir.path());
    let ida = add_socks(&store, &vault, a.addr, "ua", "pa-explain");
    let idb = add_socks(&store, &vault, b.addr, "ub", "pb-explain");
    let off = add_socks(&store, &vault, "127.0.0.9:9".parse().unwrap(), "x", "y");
    let patch = ProxyPatch {
        enabled: Some(false),
        ..ProxyPatch::default()
    };
    store.update_proxy(off, &patch).unwrap();
    let id = store
        .create_rotation(&json!({
            "name": "rules", "strategy": "custom-rules",
            "strategy_config": { "fallbackStrategy": "round-robin" },
            "rules": [
                { "id": 1, "priority": 30, "conditions": [{ "field": "domain", "operator": "equals", "value": "blocked.test" }], "actions": [{ "type": "block" }] },
                { "id": 2, "priority": 20, "conditions": [{ "field": "domain", "operator": "equals", "value": "local.test" }], "actions": [{ "type": "direct" }] },
                { "id": 3, "priority": 10, "conditions": [{ "field": "domain", "operator": "ends_with", "value": ".pin" }], "actions": [{ "type": "use_proxy", "value": idb }] }
            ]
        }))
        .unwrap();
    store.activate_rotation(id).unwrap();
    let daemon = vip_daemon::start(config(dir.path()), Some(vault))
        .await
        .unwrap();
    let client = Api::of(&daemon, dir.path());
    let ask = |body: Value| client.json("POST", "/api/v1/rotation:explain", Some(body));
    // The fallback strategy picks; asking twice moves nothing.
    let target = json!({ "target": "127.0.0.1:".to_string() + &origin.addr.port().to_string() });
    let (status, first) = ask(target.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["outcome"], "proxy");
    assert_eq!(first["rotation"]["name"], "rules");
    assert_eq!(first["strategy"], "custom-rules");
    assert_eq!(first["rule"], Value::Null);
    assert!(
        first["summary"]
            .as_str()
            .unwrap()
            .contains("no rule matched"),
        "{first}"
    );
    let chosen = first["first"]["id"].as_i64().unwrap();
    assert!([ida, idb].contains(&chosen));
    assert_eq!(first["fallbacks"].as_array().unwrap().len(), 1);
    assert!(
        first["summary"]
            .as_str()
            .unwrap()
            .contains("goes through proxy"),
        "{first}"
    );
    let (_, again) = ask(target.clone()).await;
    assert_eq!(again["first"]["id"], chosen, "asking moved the cursor");
    // The real request goes where the explanation said.
    let exit = via_connect(daemon.gateway_addr(), "127.0.0.1", origin.addr.port())
        .await
        .unwrap();
    let expected = if chosen == ida {
        "127.0.0.2"
    } else {
        "127.0.0.3"
    };
    assert_eq!(exit, expected, "the request went elsewhere than explained");
    // Rules: named, with what they do.
    let (_, blocked) = ask(json!({ "target": "https://blocked.test/x" })).await;
    assert_eq!(
        (blocked["outcome"].as_str(), blocked["rule"].as_i64()),
        (Some("blocked-by-rule"), Some(1))
    );
    let (_, direct) = ask(json!({ "target": "http://local.test/" })).await;
    assert_eq!(
        (direct["outcome"].as_str(), direct["rule"].as_i64()),
        (Some("direct"), Some(2))
    );
    let (_, pinned) = ask(json!({ "target": "shop.pin" })).await;
    assert_eq!(pinned["first"]["id"], idb);
    assert_eq!(pinned["rule"], 3);
    assert_eq!(pinned["port"], 443);
    // An assignment instead of the pool.
    let (_, own) = ask(json!({ "target": "x.test", "assignment": { "kind": "direct" } })).await;
    assert_eq!(own["outcome"], "direct");
    let (_, fixed) =
        ask(json!({ "target": "x.test", "assignment": { "kind": "proxy", "id": ida } })).await;
    assert_eq!(
        (fixed["outcome"].as_str(), fixed["first"]["id"].as_i64()),
        (Some("proxy"), Some(ida))
    );
    // The disabled proxy is what nothing would choose.
    assert_eq!(first["unavailable_total"], 1);
    assert_eq!(first["unavailable"][0]["id"], off);
    assert_eq!(first["unavailable"][0]["enabled"], false);
    // Bad requests name the field.
    let (status, e) = ask(json!({ "target": "ftp://x/" })).await;
    assert_eq!((status, e["pointer"].as_str()), (422, Some("/target")));
    let (status, e) = ask(json!({ "target": "x.test", "tab": 99 })).await;
    assert_eq!((status, e["pointer"].as_str()), (404, Some("/tab")));
    let both = json!({ "target": "x.test", "tab": 1, "assignment": { "kind": "direct" } });
    assert_eq!(ask(both).await.0, 422);
    let (status, e) =
        ask(json!({ "target": "x.test", "assignment": { "kind": "proxy", "id": 999 } })).await;
    assert_eq!(
        (status, e["pointer"].as_str()),
        (404, Some("/assignment")),
        "{e}"
    );
    let (status, _) = ask(json!({ "target": "x.test", "why": 1 })).await;
    assert_eq!(status, 400);
    assert!(
        !serde_json::to_string(&first)
            .unwrap()
            .contains("pa-explain")
    );
    daemon.shutdown(std::time::Duration::from_secs(10)).await;
}
