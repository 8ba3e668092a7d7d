//! The proxy routes over a real daemon: a proxy created through the API
//! (its login sealed, never shown) carries traffic through the gateway as
//! soon as the call returns (real microsocks upstream); pages follow their
//! cursor; a change needs the ETag the caller saw (428 without it, 412
//! when it is stale) and a delete with a stale one is refused; the
//! password appears in no answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use vip_testkit::*;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_are_managed_through_the_api_and_used_at_once() {
    let origin = Origin::start().await;
    let socks = microsocks("127.0.0.2", "u", "api-secret-pw");
    let dir = tempfile::tempdir().unwrap();
    let (store, vault) = store_and_vault(dir.path());
    let daemon = vip_daemon::start(config(dir.path()), Some(vault))
        .await
        .unwrap();
    let base = format!("http://{}", daemon.api_addr());
    let token = std::fs::read_to_string(dir.path().join(vip_api::TOKEN_FILE)).unwrap();
    let gateway = daemon.gateway_addr();
    let socks_addr = socks.addr;

    let (base_m, token_m) = (base.clone(), token.clone());
    let (answers, id) = tokio::task::spawn_blocking({
        let (base, token) = (base.clone(), token.clone());
        move || {
            let mut answers = Vec::new();
            let body = format!(
                r#"{{"protocol": "socks5", "host": "{}", "port": {}, "username": "u", "password": "api-secret-pw", "group": "g1", "tags": ["fast"]}}"#,
                socks_addr.ip(),
                socks_addr.port()
            );
            let (status, headers, text) = call(&base, &token, "POST", "/api/v1/proxies", &[], Some(&body));
            assert_eq!(status, 201, "{text}");
            let made: vip_api::ProxyView = serde_json::from_str(&text).unwrap();
            assert!(made.has_login && made.group.as_deref() == Some("g1"), "{made:?}");
            assert_eq!(headers["location"], format!("/api/v1/proxies/{}", made.id));
            assert_eq!(headers["etag"], made.etag().as_str());
            answers.push(text);
            let (status, _, text) = call(&base, &token, "POST", "/api/v1/proxies", &[], Some(&body));
            assert_eq!(status, 409, "{text}");
            answers.push(text);
            (answers, made.id)
        }
    })
    .await
    .unwrap();

    // In use when the call returned: the pool was empty before.
    assert_eq!(
        via_connect(gateway, "127.0.0.1", origin.addr.port())
            .await
            .unwrap(),
        "127.0.0.2"
    );

    let answers = tokio::task::spawn_blocking(move || {
        let mut answers = answers;
        for i in 0..5 {
            let body = format!(
                r#"{{"host": "10.{i}.0.1", "port": 8080, "group": "g2", "disabled": true}}"#
            );
            let (status, _, text) =
                call(&base, &token, "POST", "/api/v1/proxies", &[], Some(&body));
            assert_eq!(status, 201, "{text}");
        }
        // Two to a page, sorted by host, only group g2: three pages.
        let mut seen = Vec::new();
        let mut route = "/api/v1/proxies?group=g2&sort=host&limit=2".to_string();
        for _ in 0..5 {
            let (status, _, text) = call(&base, &token, "GET", &route, &[], None);
            assert_eq!(status, 200, "{text}");
            let page: vip_api::ProxyList = serde_json::from_str(&text).unwrap();
            seen.extend(page.items.iter().map(|p| p.host.clone()));
            answers.push(text);
            match page.next_cursor {
                Some(c) => route = format!("/api/v1/proxies?group=g2&sort=host&limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(
            seen,
            ["10.0.0.1", "10.1.0.1", "10.2.0.1", "10.3.0.1", "10.4.0.1"]
        );
        for (route, want) in [
            ("/api/v1/proxies?cursor=nonsense", 422),
            ("/api/v1/proxies?status=sideways", 422),
            ("/api/v1/proxies?limit=0", 422),
            ("/api/v1/proxies?colour=red", 400),
            ("/api/v1/proxies/999", 404),
        ] {
            let (status, _, text) = call(&base, &token, "GET", route, &[], None);
            assert_eq!(status, want, "{route}: {text}");
        }
        let (_, _, text) = call(&base, &token, "GET", "/api/v1/proxies?tag=fast", &[], None);
        let fast: vip_api::ProxyList = serde_json::from_str(&text).unwrap();
        assert_eq!(fast.items.len(), 1);
        answers.push(text);

        let route = format!("/api/v1/proxies/{id}");
        let (_, headers, text) = call(&base, &token, "GET", &route, &[], None);
        let seen_tag = headers["etag"].to_str().unwrap().to_string();
        answers.push(text);
        let change = r#"{"weight": 80}"#;
        let (status, _, text) = call(&base, &token, "PATCH", &route, &[], Some(change));
        assert_eq!(status, 428, "{text}");
        let (status, headers, text) = call(
            &base,
            &token,
            "PATCH",
            &route,
            &[("If-Match", &seen_tag)],
            Some(change),
        );
        assert_eq!(status, 200, "{text}");
        assert_ne!(headers["etag"].to_str().unwrap(), seen_tag);
        answers.push(text.clone());
        let changed: vip_api::ProxyView = serde_json::from_str(&text).unwrap();
        assert_eq!(changed.weight, 80);
        // Someone else's edit from the old ETag is refused, not applied.
        let (status, _, text) = call(
            &base,
            &token,
            "PATCH",
            &route,
            &[("If-Match", &seen_tag)],
            Some(r#"{"weight": 10}"#),
        );
        assert_eq!(status, 412, "{text}");
        assert!(text.contains("changed since it was read"), "{text}");
        let (status, _, _) = call(
            &base,
            &token,
            "DELETE",
            &route,
            &[("If-Match", &seen_tag)],
            None,
        );
        assert_eq!(status, 412);
        let (status, _, _) = call(&base, &token, "DELETE", &route, &[], None);
        assert_eq!(status, 200);
        let (status, _, _) = call(&base, &token, "GET", &route, &[], None);
        assert_eq!(status, 404);
        answers
    })
    .await
    .unwrap();
    for text in &answers {
        assert!(
            !text.contains("api-secret-pw"),
            "the password was shown: {text}"
        );
    }
    // The gauges and the API's own counts, in the Prometheus format.
    let metrics =
        tokio::task::spawn_blocking(move || call(&base_m, &token_m, "GET", "/metrics", &[], None))
            .await
            .unwrap();
    assert_eq!(metrics.0, 200, "{}", metrics.2);
    assert!(
        metrics.1["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    for line in [
        "vip_tabs_open 0",
        "vip_proxies{status=\"unknown\",enabled=\"false\"} 5",
        "vip_proxies{status=\"up\",enabled=\"true\"} 0",
        "vip_api_requests_total{class=\"proxies-create\",status=\"201\"} 6",
        "vip_api_requests_total{class=\"proxies-create\",status=\"409\"} 1",
        "vip_api_requests_total{class=\"proxies-delete\",status=\"412\"} 1",
    ] {
        assert!(
            metrics.2.lines().any(|l| l == line),
            "{line} not in\n{}",
            metrics.2
        );
    }
    // Every change is in the activity log with who asked and the outcome.
    let logged = || {
        store
            .recent_activity(100)
            .unwrap()
            .into_iter()
            .filter(|a| a.category == "api")
            .map(|a| a.message)
            .collect::<Vec<_>>()
    };
    eventually("the changes in the activity log", || logged().len() >= 12).await;
    let logged = logged();
    for entry in [
        "POST /api/v1/proxies -> 201".to_string(),
        "POST /api/v1/proxies -> 409".to_string(),
        format!("PATCH /api/v1/proxies/{id} -> 428"),
        format!("PATCH /api/v1/proxies/{id} -> 200"),
        format!("PATCH /api/v1/proxies/{id} -> 412"),
        format!("DELETE /api/v1/proxies/{id} -> 200"),
    ] {
        assert!(logged.contains(&entry), "{entry} not in {logged:#?}");
    }
    let details = store.recent_activity(1).unwrap()[0]
        .details
        .clone()
        .unwrap();
    assert!(details.contains("\"principal\":\"cli-token\""), "{details}");
    assert!(!logged.iter().any(|m| m.contains("api-secret-pw")));
    assert!(
        daemon
            .shutdown(std::time::Duration::from_secs(10))
            .await
            .is_clean()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_imported_with_a_verdict_per_line_exported_and_changed_in_bulk() {
    let origin = Origin::start().await;
    let socks = microsocks("127.0.0.2", "imp", "imp-secret-pw");
    let dir = tempfile::tempdir().unwrap();
    let (_store, vault) = store_and_vault(dir.path());
    let daemon = vip_daemon::start(config(dir.path()), Some(vault))
        .await
        .unwrap();
    let base = format!("http://{}", daemon.api_addr());
    let token = std::fs::read_to_string(dir.path().join(vip_api::TOKEN_FILE)).unwrap();
    let list = format!(
        "# my list\nsocks5://imp:imp-secret-pw@{}\nnot a proxy\nsocks5://imp:imp-secret-pw@{}\n",
        socks.addr, socks.addr
    );
    let body = serde_json::json!({ "text": list, "group": "g", "tags": ["bulk"] }).to_string();
    let (b, t) = (base.clone(), token.clone());
    let (status, _, text) = tokio::task::spawn_blocking(move || {
        call(&b, &t, "POST", "/api/v1/proxies:import", &[], Some(&body))
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["format"], "lines");
    assert_eq!(
        (
            report["imported"].as_u64(),
            report["duplicates"].as_u64(),
            report["invalid"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let verdicts = report["verdicts"].as_array().unwrap();
    let bad = verdicts.iter().find(|v| v["verdict"] == "invalid").unwrap();
    assert_eq!(bad["at"], 3, "the line number counts the comment");
    assert!(!bad["reason"].as_str().unwrap().is_empty());
    let first = verdicts[0]["id"].as_i64().unwrap();
    assert!(!text.contains("imp-secret-pw"));
    // In use at once, with its login.
    let exit = via_connect(daemon.gateway_addr(), "127.0.0.1", origin.addr.port()).await;
    assert_eq!(exit.unwrap(), "127.0.0.2");
    let (b, t) = (base.clone(), token.clone());
    let (status, headers, exported) = tokio::task::spawn_blocking(move || {
        call(
            &b,
            &t,
            "GET",
            "/api/v1/proxies:export?format=csv&group=g",
            &[],
            None,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        exported.contains(&socks.addr.port().to_string()),
        "{exported}"
    );
    assert!(
        !exported.contains("imp-secret-pw"),
        "logins never leave through the API"
    );
    // Bulk: disable it; one id unknown.
    let change = serde_json::json!({ "ids": [first, 999], "action": "disable" }).to_string();
    let (b, t) = (base.clone(), token.clone());
    let (status, _, text) = tokio::task::spawn_blocking(move || {
        call(&b, &t, "POST", "/api/v1/proxies:bulk", &[], Some(&change))
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{text}");
    let done: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (done["affected"].as_u64(), done["missing"].clone()),
        (Some(1), serde_json::json!([999]))
    );
    // Disabled proxies carry nothing: the gateway says why.
    let refused = via_connect(daemon.gateway_addr(), "127.0.0.1", origin.addr.port()).await;
    assert!(refused.is_err(), "{refused:?}");
    for (body, pointer) in [
        (r#"{"ids": [], "action": "delete"}"#, "/ids"),
        (r#"{"ids": [1], "action": "explode"}"#, "/action"),
        (r#"{"ids": [1], "action": "assign-group"}"#, "/group"),
        (r#"{"text": "  "}"#, "/text"),
    ] {
        let route = if body.contains("text") {
            "/api/v1/proxies:import"
        } else {
            "/api/v1/proxies:bulk"
        };
        let (b, t, body) = (base.clone(), token.clone(), body.to_string());
        let (status, _, text) =
            tokio::task::spawn_blocking(move || call(&b, &t, "POST", route, &[], Some(&body)))
                .await
                .unwrap();
        let e: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (status, e["pointer"].as_str()),
            (422, Some(pointer)),
            "{text}"
        );
    }
    daemon.shutdown(std::time::Duration::from_secs(10)).await;
}
