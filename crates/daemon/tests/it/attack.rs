//! A page in a tab attacks the control API and DevTools from a loopback
//! origin of its own, in real headless Chromium: `fetch` (JSON, which
//! needs a preflight, and `no-cors`), `sendBeacon`, form posts (`text/plain`
//! and urlencoded), `<img>` and `<script>` GETs and a WebSocket. The
//! gateway refuses every one before it reaches either listener: the API
//! counts unauthenticated requests (more than 20 a minute get 429), and
//! after the page's 30 attempts an unauthenticated request still gets 401;
//! no session was saved.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use vip_testkit::*;

use crate::common::*;

fn attack_page(api: u16, devtools: u16) -> String {
    format!(
        r#"<!doctype html><title>attack</title><iframe name="sink"></iframe><script>
const api = "http://127.0.0.1:{api}", dev = "http://127.0.0.1:{devtools}";
const tried = [];
const note = (what, p) => p.then(
  (r) => tried.push(what + ":answered:" + r.type),
  () => tried.push(what + ":failed"));
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {{
  await note("json", fetch(api + "/api/v1/sessions/pwned", {{
    method: "POST", headers: {{"Content-Type": "application/json"}}, body: "{{}}"}}));
  for (let i = 0; i < 20; i++) {{
    await note("no-cors", fetch(api + "/api/v1/sessions/pwned", {{
      method: "POST", mode: "no-cors", body: "{{}}"}}));
  }}
  await note("get", fetch("http://localhost:{api}/api/v1/status", {{mode: "no-cors"}}));
  await note("devtools", fetch(dev + "/json/list", {{mode: "no-cors"}}));
  tried.push("beacon:" + navigator.sendBeacon(api + "/api/v1/sessions/pwned", "{{}}"));
  for (const enctype of ["text/plain", "application/x-www-form-urlencoded"]) {{
    const f = document.createElement("form");
    f.method = "POST"; f.enctype = enctype; f.target = "sink";
    f.action = api + "/api/v1/sessions/pwned";
    const i = document.createElement("input");
    i.name = '{{"a":"'; i.value = '"}}';
    f.append(i); document.body.append(f); f.submit();
    await wait(300);
  }}
  for (const tag of ["img", "script", "img", "script"]) {{
    await new Promise((r) => {{
      const e = document.createElement(tag);
      e.onload = () => {{ tried.push(tag + ":loaded"); r(); }};
      e.onerror = () => {{ tried.push(tag + ":failed"); r(); }};
      e.src = api + "/api/v1/status?t=" + Math.random();
      document.body.append(e);
    }});
  }}
  await new Promise((r) => {{
    const ws = new WebSocket("ws://127.0.0.1:{api}/api/v1/events");
    ws.onopen = () => {{ tried.push("ws:open"); r(); }};
    ws.onerror = () => {{ tried.push("ws:failed"); r(); }};
  }});
  await wait(300);
  fetch("/done?" + encodeURIComponent(tried.join(",")));
}})();
</script>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_in_a_tab_reaches_neither_the_api_nor_devtools() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, vault) = store_and_vault(dir.path());
    let (config, devtools) = browser_config(dir.path());
    let daemon = vip_daemon::start(config, Some(vault)).await.unwrap();
    let api = daemon.api_addr();
    let site = Site::start(vec![("/", "text/html", attack_page(api.port(), devtools))]).await;
    let url = format!("http://127.0.0.1:{}/", site.addr.port());
    let data = dir.path().to_path_buf();
    let data_again = data.clone();
    tokio::task::spawn_blocking(move || {
        vip_api::Client::from_data_dir(&data)
            .unwrap()
            .post::<_, vip_api::Tab>(
                "/api/v1/tabs",
                &serde_json::json!({"url": url, "assignment": {"kind": "direct"}}),
            )
            .unwrap()
    })
    .await
    .unwrap();
    let done = || {
        site.seen
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.path.starts_with("/done?"))
            .map(|s| s.path.clone())
    };
    let start = std::time::Instant::now();
    while done().is_none() {
        assert!(
            start.elapsed().as_secs() < 30,
            "the attack page never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let path = done().unwrap();
    let report = percent_encoding::percent_decode_str(&path["/done?".len()..]).decode_utf8_lossy();
    for outcome in [
        "json:failed",
        "beacon:",
        "img:failed",
        "script:failed",
        "ws:failed",
    ] {
        assert!(report.contains(outcome), "{outcome} not in {report}");
    }
    assert!(
        !report.contains("ws:open") && !report.contains(":loaded"),
        "{report}"
    );

    // Had any of the page's 30-odd requests reached the API, its count of
    // failed authentications would be past 20: this one would get 429.
    let (status, sessions) = tokio::task::spawn_blocking(move || {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let status = agent
            .get(&format!("http://{api}/api/v1/status"))
            .call()
            .unwrap()
            .status()
            .as_u16();
        let sessions: Vec<vip_api::SessionInfo> = vip_api::Client::from_data_dir(&data_again)
            .unwrap()
            .get("/api/v1/sessions")
            .unwrap();
        (status, sessions)
    })
    .await
    .unwrap();
    assert_eq!(status, 401, "the page's requests reached the API");
    assert!(sessions.is_empty(), "{sessions:?}");
    assert!(
        daemon
            .shutdown(std::time::Duration::from_secs(10))
            .await
            .is_clean()
    );
}
