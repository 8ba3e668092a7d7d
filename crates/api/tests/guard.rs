//! The checks in front of every route, table-driven over every operation
//! of the OpenAPI document (so a new route is covered the day it is
//! declared): without the token 401, with a foreign Host 421 (DNS
//! rebinding), a change that is not JSON 415, a change from another origin
//! or site 403 — and none of these reach the control. Rate limits per route
//! class on a clock moved by hand, the lock-out after failed
//! authentications, body limits, security headers on every answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use tower::ServiceExt;
use vip_api::testing::Refuser;
use vip_api::{Access, LimitClock};

const PORT: u16 = 8898;
const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn app(clock: LimitClock) -> (axum::Router, Arc<Refuser>) {
    let counter = Arc::new(Refuser::default());
    let mut access = Access::new(TOKEN, PORT);
    access.clock = clock;
    (vip_api::router(counter.clone(), access), counter)
}

/// Every operation of the spec: method and a concrete path.
fn operations() -> Vec<(String, String)> {
    let spec = serde_json::to_value(vip_api::spec()).unwrap();
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "7").replace("{name}", "x");
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.push((method.to_uppercase(), concrete.clone()));
            }
        }
    }
    assert!(out.len() >= 14, "{out:?}");
    out
}

fn is_change(method: &str) -> bool {
    method != "GET"
}

struct Req<'a> {
    method: &'a str,
    path: &'a str,
    headers: Vec<(&'a str, String)>,
    body: Vec<u8>,
}

impl<'a> Req<'a> {
    /// A request that passes every check.
    fn good(method: &'a str, path: &'a str) -> Req<'a> {
        let mut headers = vec![
            ("host", format!("127.0.0.1:{PORT}")),
            ("authorization", format!("Bearer {TOKEN}")),
        ];
        let mut body = Vec::new();
        if method == "PATCH" {
            headers.push(("if-match", "\"seen\"".into()));
        }
        if is_change(method) {
            headers.push(("content-type", "application/json".into()));
            body = match (method, path) {
                ("POST", "/api/v1/tabs") => r#"{"url": "https://example.com/"}"#,
                ("POST", "/api/v1/identities") => r#"{"name": "x"}"#,
                ("POST", "/api/v1/identities/x/cookies") => r#"{"text": ""}"#,
                ("POST", "/api/v1/proxies") => r#"{"host": "a.test", "port": 1}"#,
                ("POST", "/api/v1/rotation:explain") => r#"{"target": "a.test"}"#,
                ("POST", "/api/v1/proxies:import") => r#"{"text": "a.test:1"}"#,
                ("POST", "/api/v1/rotations") | ("PUT", "/api/v1/rotations/7") => {
                    r#"{"name": "a", "strategy": "random"}"#
                }
                ("POST", "/api/v1/proxies:bulk") => r#"{"ids": [1], "action": "enable"}"#,
                _ => "{}",
            }
            .as_bytes()
            .to_vec();
        }
        Req {
            method,
            path,
            headers,
            body,
        }
    }

    fn set(mut self, name: &'a str, value: &str) -> Req<'a> {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_string()));
        self
    }

    fn without(mut self, name: &str) -> Req<'a> {
        self.headers.retain(|(n, _)| *n != name);
        self
    }

    async fn send(self, app: &axum::Router) -> Response<Body> {
        let mut b = Request::builder().method(self.method).uri(self.path);
        // As a real client (and hyper, from the wire) gives it.
        if !self.body.is_empty() {
            b = b.header("content-length", self.body.len());
        }
        for (n, v) in &self.headers {
            b = b.header(*n, v);
        }
        app.clone()
            .oneshot(b.body(Body::from(self.body)).unwrap())
            .await
            .unwrap()
    }
}

async fn problem(response: Response<Body>) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    for name in [
        "content-security-policy",
        "cross-origin-opener-policy",
        "cross-origin-resource-policy",
        "referrer-policy",
        "x-content-type-options",
        "cache-control",
    ] {
        assert!(headers.contains_key(name), "{status} lacks {name}");
    }
    assert!(!headers.contains_key("access-control-allow-origin"));
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if status >= 400 {
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{status}: {body}"
        );
        assert_eq!(body["status"], status, "{body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    (status, body)
}

#[tokio::test]
async fn every_operation_refuses_what_it_must_before_the_control() {
    let clock = LimitClock::fake();
    let (app, counter) = app(clock.clone());
    for (method, path) in operations() {
        // Past the lock-out that the failed authentications below earn.
        clock.advance(Duration::from_secs(61));
        let m = method.as_str();
        let mut cases: Vec<(&str, Req, u16)> = vec![
            (
                "no token",
                Req::good(m, &path).without("authorization"),
                401,
            ),
            (
                "wrong token",
                Req::good(m, &path).set("authorization", "Bearer 00"),
                401,
            ),
            (
                "basic auth",
                Req::good(m, &path).set("authorization", &format!("Basic {TOKEN}")),
                401,
            ),
            (
                "foreign host",
                Req::good(m, &path).set("host", "evil.test"),
                421,
            ),
            (
                "rebound host",
                Req::good(m, &path).set("host", &format!("rebind.test:{PORT}")),
                421,
            ),
            (
                "other port",
                Req::good(m, &path).set("host", "127.0.0.1:1"),
                421,
            ),
            ("no host", Req::good(m, &path).without("host"), 421),
        ];
        if is_change(m) {
            cases.extend([
                (
                    "text body",
                    Req::good(m, &path).set("content-type", "text/plain"),
                    415,
                ),
                (
                    "form body",
                    Req::good(m, &path).set("content-type", "application/x-www-form-urlencoded"),
                    415,
                ),
                ("no type", Req::good(m, &path).without("content-type"), 415),
                (
                    "other origin",
                    Req::good(m, &path).set("origin", "http://evil.test"),
                    403,
                ),
                (
                    "other port origin",
                    Req::good(m, &path).set("origin", "http://127.0.0.1:1"),
                    403,
                ),
                (
                    "null origin",
                    Req::good(m, &path).set("origin", "null"),
                    403,
                ),
                (
                    "cross-site",
                    Req::good(m, &path).set("sec-fetch-site", "cross-site"),
                    403,
                ),
                (
                    "same-site",
                    Req::good(m, &path).set("sec-fetch-site", "same-site"),
                    403,
                ),
            ]);
        }
        for (what, req, want) in cases {
            let (status, body) = problem(req.send(&app).await).await;
            assert_eq!(status, want, "{method} {path}, {what}: {body}");
            assert_eq!(
                counter.calls(),
                0,
                "{method} {path}, {what} reached the control"
            );
        }
    }
    // The same operations pass with every check met (the control answers),
    // also from the API's own origin and a same-origin fetch.
    for (method, path) in operations() {
        let before = counter.calls();
        let mut req = Req::good(&method, &path);
        if is_change(&method) {
            req = req
                .set("origin", &format!("http://localhost:{PORT}"))
                .set("host", &format!("localhost:{PORT}"))
                .set("sec-fetch-site", "same-origin");
        }
        let (status, body) = problem(req.send(&app).await).await;
        assert!(
            ![401, 403, 415, 421, 429].contains(&status),
            "{method} {path}: {status} {body}"
        );
        // A change without a body needs no content type.
        if is_change(&method) {
            let mut bare = Req::good(&method, &path).without("content-type");
            bare.body.clear();
            let (status, body) = problem(bare.send(&app).await).await;
            assert!(
                ![401, 403, 415, 421, 429].contains(&status),
                "{method} {path} without a body: {status} {body}"
            );
        }
        if path.ends_with("/events") {
            // The events socket reads the hub, not the control; a request
            // that passed the checks but is no handshake gets 426.
            assert_eq!(status, 426, "{method} {path}: {body}");
        } else if !path.ends_with("openapi.json") {
            assert!(
                counter.calls() > before,
                "{method} {path} did not reach the control: {status} {body}"
            );
        }
    }
}

#[tokio::test]
async fn a_token_in_the_query_string_is_ignored() {
    let (app, counter) = app(LimitClock::fake());
    let path = format!("/api/v1/status?token={TOKEN}&access_token={TOKEN}");
    let (status, _) = problem(
        Req::good("GET", &path)
            .without("authorization")
            .send(&app)
            .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(counter.calls(), 0);
}

#[tokio::test]
async fn a_class_over_its_limit_gets_429_until_the_clock_moves() {
    let clock = LimitClock::fake();
    let (app, counter) = app(clock.clone());
    for i in 0..10 {
        let response = Req::good("POST", "/api/v1/sessions/x").send(&app).await;
        assert_eq!(
            response.headers()["ratelimit-policy"],
            "\"sessions-save-load\";q=10;w=60"
        );
        let (status, body) = problem(response).await;
        assert_eq!(status, 200, "save {}: {body}", i + 1);
    }
    let response = Req::good("POST", "/api/v1/sessions/x").send(&app).await;
    let headers = response.headers().clone();
    let (status, body) = problem(response).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "6");
    assert_eq!(headers["ratelimit"], "\"sessions-save-load\";r=0;t=6");
    assert!(body["hint"].as_str().unwrap().contains("bulk"), "{body}");
    assert_eq!(counter.calls(), 10);
    // Another class is not touched; the clock gives one back every 6 s.
    let (status, _) = problem(Req::good("GET", "/api/v1/status").send(&app).await).await;
    assert_eq!(status, 200);
    clock.advance(Duration::from_secs(6));
    let (status, _) = problem(Req::good("POST", "/api/v1/sessions/x").send(&app).await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn failed_authentications_get_429_after_twenty_a_minute() {
    let clock = LimitClock::fake();
    let (app, _) = app(clock.clone());
    let bad = || Req::good("GET", "/api/v1/status").set("authorization", "Bearer wrong");
    for _ in 0..20 {
        assert_eq!(problem(bad().send(&app).await).await.0, 401);
    }
    let response = bad().send(&app).await;
    assert_eq!(response.headers()["retry-after"], "60");
    assert_eq!(problem(response).await.0, 429);
    // The right token still works; the lock-out ends after a minute.
    assert_eq!(
        problem(Req::good("GET", "/api/v1/status").send(&app).await)
            .await
            .0,
        200
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(problem(bad().send(&app).await).await.0, 401);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_and_imports_have_a_larger_one() {
    let (app, counter) = app(LimitClock::fake());
    let big = format!(
        "{{\"url\": \"https://example.com/{}\"}}",
        "a".repeat(2 << 20)
    );
    let mut req = Req::good("POST", "/api/v1/tabs");
    req.body = big.into_bytes();
    let (status, body) = problem(req.send(&app).await).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(counter.calls(), 0);
    let mut req = Req::good("POST", "/api/v1/identities/x/cookies");
    req.body = format!("{{\"text\": \"{}\"}}", "a".repeat(2 << 20)).into_bytes();
    let (status, body) = problem(req.send(&app).await).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (503, Some("refused by the test control"))
    );
}

#[tokio::test]
async fn bad_bodies_name_their_field() {
    let (app, counter) = app(LimitClock::fake());
    let cases: &[(&str, &str, &str)] = &[
        (r#"{"url": 5}"#, "/url", "invalid type"),
        (
            r#"{"url": "https://a/", "extra": 1}"#,
            "/extra",
            "unknown field `extra`",
        ),
        (
            r#"{"url": "https://a/", "assignment": {"kind": "proxy", "id": "x"}}"#,
            "/assignment",
            "invalid type",
        ),
        (
            r#"{"url": "https://a/", "assignment": {"kind": "teleport"}}"#,
            "/assignment/kind",
            "unknown variant",
        ),
        ("[", "", "not a JSON object"),
        (r#"["https://a/"]"#, "", "not a JSON object"),
        (r#""https://a/""#, "", "not a JSON object"),
    ];
    for (body, at, says) in cases {
        let mut req = Req::good("POST", "/api/v1/tabs");
        req.body = body.as_bytes().to_vec();
        let (status, problem) = problem(req.send(&app).await).await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert_eq!(problem["pointer"], *at, "{body}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{body}: {problem}"
        );
        assert!(problem["hint"].is_string(), "{problem}");
    }
    assert_eq!(counter.calls(), 0);
}

#[test]
fn the_committed_spec_is_the_code_s() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json");
    let made = vip_api::spec_json();
    if std::env::var_os("VIP_BLESS").is_some() {
        std::fs::write(&path, &made).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == made,
        "openapi.json differs from the routes: run `VIP_BLESS=1 cargo test -p vip-api --test guard` \
         (or `vip api spec > openapi.json`) and review the diff"
    );
    let spec: serde_json::Value = serde_json::from_str(&made).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for status in ["401", "421", "429"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} lacks {status}"
                );
            }
        }
    }
}
