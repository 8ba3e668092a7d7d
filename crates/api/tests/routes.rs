//! The router on a real loopback socket over a `Control` that records what
//! it was asked: the token guards every route, unknown routes and methods
//! and bad bodies or ids are refused as JSON before the control is called,
//! path segments arrive decoded, and the control's own refusals reach the
//! client with their status and message. The same routes over a real
//! daemon are in `crates/daemon/tests/it/api.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use vip_api::{
    ApiError, AssignmentSpec, Client, Control, Identity, NewIdentity, OpenTab, Reloaded,
    SessionInfo, Status, Tab,
};

/// A control that answers with fixed values and records each call.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    /// What went to the activity log.
    audited: Mutex<Vec<String>>,
}

impl Recorder {
    fn note(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

fn tab(id: i64, url: &str) -> Tab {
    Tab {
        id,
        identity: None,
        anonymous: Some("a1".into()),
        url: url.into(),
        assignment: AssignmentSpec::Direct,
        country: None,
        timezone: "UTC".into(),
        webrtc: "disable_non_proxied_udp".into(),
        blocked: 0,
        state: "open".into(),
    }
}

impl Control for Recorder {
    async fn status(&self) -> Status {
        self.note("status".into());
        Status {
            browser: "off".into(),
            tabs: 0,
            devtools: None,
        }
    }
    async fn open_tab(&self, req: OpenTab) -> Result<Tab, ApiError> {
        self.note(format!("open_tab {}", req.url));
        Ok(tab(1, &req.url))
    }
    async fn tabs(&self) -> Vec<Tab> {
        self.note("tabs".into());
        Vec::new()
    }
    async fn close_tab(&self, id: i64) -> Result<(), ApiError> {
        self.note(format!("close_tab {id}"));
        assert_ne!(
            id, 500,
            "a bug in a handler (this control panics on tab 500)"
        );
        if id == 404 {
            return Err(ApiError::not_found(
                "tab 404 is not open: see `vip tab list`",
            ));
        }
        Ok(())
    }
    async fn save_session(&self, name: String) -> Result<SessionInfo, ApiError> {
        self.note(format!("save_session {name}"));
        Ok(SessionInfo {
            name,
            tabs: 0,
            saved_at: 1,
        })
    }
    async fn load_session(&self, name: String) -> Result<Vec<Tab>, ApiError> {
        self.note(format!("load_session {name}"));
        Ok(Vec::new())
    }
    async fn sessions(&self) -> Result<Vec<SessionInfo>, ApiError> {
        self.note("sessions".into());
        Ok(Vec::new())
    }
    async fn identities(&self) -> Result<Vec<Identity>, ApiError> {
        self.note("identities".into());
        Ok(Vec::new())
    }
    async fn create_identity(&self, req: NewIdentity) -> Result<Identity, ApiError> {
        self.note(format!("create_identity {}", req.name));
        Err(ApiError::conflict(format!("identity {} exists", req.name)))
    }
    async fn delete_identity(&self, name: String) -> Result<(), ApiError> {
        self.note(format!("delete_identity {name}"));
        Ok(())
    }
    async fn cookies(&self, name: String, format: String) -> Result<vip_api::CookieFile, ApiError> {
        self.note(format!("cookies {name} {format}"));
        Ok(vip_api::CookieFile {
            format,
            count: 0,
            text: String::new(),
        })
    }
    async fn add_cookies(
        &self,
        name: String,
        upload: vip_api::CookieUpload,
    ) -> Result<vip_api::CookieReport, ApiError> {
        self.note(format!("add_cookies {name} {}", upload.text.len()));
        Err(ApiError::invalid("not a cookie file"))
    }
    async fn reload(&self) -> Result<Reloaded, ApiError> {
        self.note("reload".into());
        Err(ApiError::internal(
            "internal error e-17: see the vip serve log",
        ))
    }
    async fn proxies(&self, _: vip_api::ProxyQuery) -> Result<vip_api::ProxyList, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn proxy(&self, _: i64) -> Result<vip_api::ProxyView, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn add_proxy(&self, _: vip_api::NewProxyBody) -> Result<vip_api::ProxyView, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn update_proxy(
        &self,
        _: i64,
        _: String,
        _: vip_api::ProxyChange,
    ) -> Result<vip_api::ProxyView, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn explain(&self, _: vip_api::ExplainRequest) -> Result<vip_api::Explanation, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn usage(
        &self,
        _: Option<i64>,
        _: vip_api::SeriesQuery,
    ) -> Result<vip_api::UsageSeries, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn rotation_events(&self, _: u32) -> Result<Vec<vip_api::RotationEventView>, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn rotations(&self) -> Result<Vec<vip_api::RotationView>, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn rotation(&self, _: String) -> Result<vip_api::RotationView, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn create_rotation(
        &self,
        _: serde_json::Value,
    ) -> Result<vip_api::RotationView, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn replace_rotation(
        &self,
        _: String,
        _: serde_json::Value,
    ) -> Result<vip_api::RotationView, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn delete_rotation(&self, _: String) -> Result<i64, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn activate_rotation(&self, _: String) -> Result<vip_api::RotationView, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn import_proxies(
        &self,
        _: vip_api::ImportBody,
    ) -> Result<vip_api::ImportResult, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn export_proxies(&self, _: vip_api::ExportQuery) -> Result<String, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn bulk_proxies(&self, _: vip_api::BulkChange) -> Result<vip_api::BulkResult, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn check_proxy(&self, _: i64) -> Result<vip_api::CheckResult, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn start_check(&self, _: vip_api::CheckRequest) -> Result<vip_api::Job, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn job(&self, _: i64) -> Result<vip_api::Job, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn cancel_job(&self, _: i64) -> Result<vip_api::Job, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn breaker(&self, _: i64) -> Result<vip_api::BreakerView, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn reset_breaker(&self, _: i64) -> Result<vip_api::BreakerView, ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
    async fn record(&self, entry: vip_api::Activity) {
        self.audited.lock().unwrap().push(format!(
            "{} {} {} {} {}",
            entry.principal, entry.method, entry.route, entry.target, entry.status
        ));
    }
    async fn metrics(&self) -> Result<String, ApiError> {
        Ok("vip_tabs_open 0\n".into())
    }
    async fn delete_proxy(&self, _: i64, _: Option<String>) -> Result<(), ApiError> {
        Err(ApiError::unavailable("not recorded"))
    }
}

/// A raw request: status and JSON body.
fn raw(base: &str, method: &str, route: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let url = format!("{base}{route}");
    let auth = format!("Bearer {}", token.unwrap_or(""));
    let reply = match method {
        "GET" => agent.get(&url).header("Authorization", &auth).call(),
        "DELETE" => agent
            .delete(&url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .call(),
        _ => agent
            .post(&url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body),
    };
    let mut reply = reply.unwrap();
    let status = reply.status().as_u16();
    let text = reply.body_mut().read_to_string().unwrap();
    let json: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {route}: not JSON ({e}): {text}"));
    (
        status,
        vip_api::ApiError::from_problem(status, &json).explained(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_guard_refuse_decode_and_pass_refusals_on() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let token = vip_api::write_files(dir.path(), addr).unwrap();
    let recorder = Arc::new(Recorder::default());
    let router = vip_api::router(
        recorder.clone(),
        vip_api::Access::new(token.clone(), addr.port()),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(vip_api::serve(listener, router, async {
        let _ = stopped.await;
    }));
    let data_dir = dir.path().to_path_buf();
    let base = format!("http://{addr}");

    let refusals = tokio::task::spawn_blocking(move || {
        let t = Some(token.as_str());
        [
            raw(&base, "GET", "/api/v1/status", None, ""),
            raw(&base, "GET", "/api/v1/status", Some("0000"), ""),
            raw(&base, "GET", "/api/v1/nothing", t, ""),
            raw(&base, "DELETE", "/api/v1/status", t, ""),
            raw(&base, "POST", "/api/v1/tabs", t, "{not json"),
            raw(&base, "POST", "/api/v1/tabs", t, "{}"),
            raw(&base, "DELETE", "/api/v1/tabs/abc", t, ""),
            raw(&base, "POST", "/api/v1/identities", t, r#"{"name": 5}"#),
            raw(
                &base,
                "POST",
                "/api/v1/identities/x/cookies",
                t,
                r#"{"text": 5}"#,
            ),
        ]
    })
    .await
    .unwrap();
    let expected: [(u16, &str); 9] = [
        (401, "api-token file"),
        (401, "api-token file"),
        (404, "no route GET /api/v1/nothing"),
        (405, "/api/v1/status does not take DELETE"),
        (400, "the request body: key must be a string"),
        (400, "missing field `url`"),
        (400, "id \"abc\" is not a number"),
        (400, "field /name: invalid type"),
        (400, "field /text: invalid type"),
    ];
    for ((status, message), (want, part)) in refusals.iter().zip(expected) {
        assert_eq!(*status, want, "{message}");
        assert!(
            message.contains(part),
            "{status}: {message:?} lacks {part:?}"
        );
    }
    assert!(
        recorder.calls.lock().unwrap().is_empty(),
        "a refused request reached the control: {:?}",
        recorder.calls.lock().unwrap()
    );

    let answers = tokio::task::spawn_blocking(move || {
        let client = Client::from_data_dir(&data_dir).unwrap();
        let opened: Tab = client
            .post(
                "/api/v1/tabs",
                &serde_json::json!({"url": "https://example.com/"}),
            )
            .unwrap();
        let closed: serde_json::Value = client.delete("/api/v1/tabs/7").unwrap();
        let gone = client
            .delete::<serde_json::Value>("/api/v1/tabs/404")
            .unwrap_err();
        let panicked = client
            .delete::<serde_json::Value>("/api/v1/tabs/500")
            .unwrap_err();
        assert_eq!(panicked.status, 500, "{panicked}");
        assert!(
            panicked.message.contains("its log has the panic"),
            "{panicked}"
        );
        // The server goes on serving.
        let _: serde_json::Value = client.delete("/api/v1/tabs/8").unwrap();
        let deleted: serde_json::Value = client.delete("/api/v1/identities/a%20b%2Fc").unwrap();
        let saved: SessionInfo = client.post("/api/v1/sessions/s%C3%A9ance", &()).unwrap();
        let exists = client
            .post::<_, Identity>("/api/v1/identities", &serde_json::json!({"name": "x"}))
            .unwrap_err();
        let internal = client
            .post::<_, Reloaded>("/api/v1/reload", &serde_json::json!({}))
            .unwrap_err();
        let json: vip_api::CookieFile = client
            .get("/api/v1/identities/a%20b/cookies?format=json")
            .unwrap();
        let plain: vip_api::CookieFile = client.get("/api/v1/identities/x/cookies").unwrap();
        assert_eq!(
            (json.format.as_str(), plain.format.as_str()),
            ("json", "netscape")
        );
        let refused = client
            .post::<_, vip_api::CookieReport>(
                "/api/v1/identities/x/cookies",
                &serde_json::json!({"text": "abc"}),
            )
            .unwrap_err();
        assert_eq!(refused.status, 422);
        (opened, closed, gone, deleted, saved, exists, internal)
    })
    .await
    .unwrap();
    let (opened, closed, gone, deleted, saved, exists, internal) = answers;
    assert_eq!(opened.url, "https://example.com/");
    assert_eq!(closed, serde_json::json!({"closed": 7}));
    assert_eq!(
        (gone.status, gone.message.contains("vip tab list")),
        (404, true)
    );
    assert_eq!(deleted, serde_json::json!({"deleted": "a b/c"}));
    assert_eq!(saved.name, "séance");
    assert_eq!(
        (exists.status, exists.message.as_str()),
        (409, "identity x exists")
    );
    assert_eq!(internal.status, 500);
    assert_eq!(
        *recorder.calls.lock().unwrap(),
        [
            "open_tab https://example.com/",
            "close_tab 7",
            "close_tab 404",
            "close_tab 500",
            "close_tab 8",
            "delete_identity a b/c",
            "save_session séance",
            "create_identity x",
            "reload",
            "cookies a b json",
            "cookies x netscape",
            "add_cookies x 3",
        ]
    );
    // Every change that reached a route is in the activity log, refused
    // ones too; reads are not.
    let audited = || recorder.audited.lock().unwrap().clone();
    for _ in 0..200 {
        if audited().len() >= 8 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let audited = audited();
    for entry in [
        "cli-token POST /api/v1/tabs /api/v1/tabs 200",
        "cli-token DELETE /api/v1/tabs/{id} /api/v1/tabs/404 404",
        "cli-token POST /api/v1/identities /api/v1/identities 409",
        "cli-token POST /api/v1/reload /api/v1/reload 500",
    ] {
        assert!(
            audited.contains(&entry.to_string()),
            "{entry} not in {audited:#?}"
        );
    }
    assert!(!audited.iter().any(|a| a.contains(" GET ")), "{audited:#?}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
