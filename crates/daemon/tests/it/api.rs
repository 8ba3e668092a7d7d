//! The control API's routes over a real daemon (browser off): the token,
//! routes and methods that do not exist, and bad input each get a problem
//! document with the right status and a message that says what to do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;

/// One request; returns the status and the parsed JSON body.
fn call(
    base: &str,
    method: &str,
    route: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let url = format!("{base}{route}");
    let auth = token.map(|t| format!("Bearer {t}"));
    let reply = match (method, body) {
        ("GET", _) => {
            let mut r = agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        ("DELETE", _) => {
            let mut r = agent
                .delete(&url)
                .header("Content-Type", "application/json");
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        (_, body) => {
            let mut r = agent.post(&url).header("Content-Type", "application/json");
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send(body.unwrap_or(""))
        }
    };
    let mut reply = reply.unwrap();
    let status = reply.status().as_u16();
    let text = reply.body_mut().read_to_string().unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {route} -> {status}: not JSON ({e}): {text:?}"));
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_json_with_its_status_and_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = vip_daemon::start(config(dir.path()), None).await.unwrap();
    let base = format!("http://{}", daemon.api_addr());
    let token = std::fs::read_to_string(dir.path().join(vip_api::TOKEN_FILE)).unwrap();
    let rows = tokio::task::spawn_blocking(move || {
        let t = Some(token.as_str());
        vec![
            (
                "no token",
                call(&base, "GET", "/api/v1/status", None, None),
                401,
                "api-token",
            ),
            (
                "wrong token",
                call(&base, "GET", "/api/v1/status", Some("nope"), None),
                401,
                "api-token",
            ),
            (
                "no such route",
                call(&base, "GET", "/api/v1/nothing", t, None),
                404,
                "no route GET /api/v1/nothing",
            ),
            (
                "wrong method",
                call(&base, "DELETE", "/api/v1/status", t, None),
                405,
                "/api/v1/status does not take DELETE",
            ),
            (
                "body not JSON",
                call(&base, "POST", "/api/v1/tabs", t, Some("{not json")),
                400,
                "key must be a string",
            ),
            (
                "field missing",
                call(&base, "POST", "/api/v1/tabs", t, Some("{}")),
                400,
                "url",
            ),
            (
                "bad url",
                call(
                    &base,
                    "POST",
                    "/api/v1/tabs",
                    t,
                    Some(r#"{"url":"ftp://x/"}"#),
                ),
                422,
                "https://example.com/",
            ),
            (
                "tab id not a number",
                call(&base, "DELETE", "/api/v1/tabs/abc", t, None),
                400,
                "not a number",
            ),
            (
                "tab not open",
                call(&base, "DELETE", "/api/v1/tabs/99", t, None),
                404,
                "vip tab list",
            ),
            (
                "browser off",
                call(
                    &base,
                    "POST",
                    "/api/v1/tabs",
                    t,
                    Some(r#"{"url":"https://example.com/"}"#),
                ),
                409,
                "--no-browser",
            ),
            (
                "bad webrtc",
                call(
                    &base,
                    "POST",
                    "/api/v1/identities",
                    t,
                    Some(r#"{"name":"x","webrtc":"loose"}"#),
                ),
                422,
                "webrtc",
            ),
            (
                "unknown identity",
                call(&base, "DELETE", "/api/v1/identities/ghost", t, None),
                404,
                "vip identity list",
            ),
            (
                "unknown session",
                call(&base, "POST", "/api/v1/sessions/none/load", t, None),
                404,
                "vip session list",
            ),
        ]
    })
    .await
    .unwrap();
    for (what, (status, body), want, needle) in rows {
        let message = vip_api::ApiError::from_problem(status, &body).explained();
        assert_eq!(status, want, "{what}: {body}");
        assert!(message.contains(needle), "{what}: {message}");
    }
    let ok = tokio::task::spawn_blocking({
        let base = format!("http://{}", daemon.api_addr());
        let token = std::fs::read_to_string(dir.path().join(vip_api::TOKEN_FILE)).unwrap();
        move || call(&base, "POST", "/api/v1/reload", Some(&token), None)
    })
    .await
    .unwrap();
    assert_eq!(ok.0, 200, "{}", ok.1);
    assert_eq!(ok.1["rotation"], "built-in round-robin over the whole pool");
    assert!(
        daemon
            .shutdown(std::time::Duration::from_secs(10))
            .await
            .is_clean()
    );
}
