//! `vip serve` with real headless Chromium, end to end through the CLI:
//! tabs in named and unnamed identities through different real upstreams;
//! cookie, localStorage and IndexedDB isolated between identities and back
//! in a named identity after a restart; sessions restored; bad input
//! refused with the fix named while serve stays up; a missing Chromium and a
//! Chromium killed mid-session reported clearly and recovered from, and
//! no Chromium left behind by a `vip serve` killed with SIGKILL; the
//! DevTools port driving the tabs with their protections in force.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;
use vip_testkit::*;

const SET: &str = "<script>
document.cookie = 'sid=abc123; max-age=3600; path=/';
localStorage.setItem('k', 'v1');
const r = indexedDB.open('db', 1);
r.onupgradeneeded = () => r.result.createObjectStore('s');
r.onsuccess = () => {
  const tx = r.result.transaction('s', 'readwrite');
  tx.objectStore('s').put('hello', 'x');
  tx.oncomplete = () => fetch('/done');
};
</script>";

const GET: &str = "<script>
(async () => {
  const names = (await indexedDB.databases()).map(d => d.name);
  let idb = 'none';
  if (names.includes('db')) {
    const db = await new Promise(ok => { const r = indexedDB.open('db'); r.onsuccess = () => ok(r.result); });
    idb = await new Promise(ok => { const g = db.transaction('s').objectStore('s').get('x'); g.onsuccess = () => ok(String(g.result)); });
  }
  const cv = document.createElement('canvas');
  const x = cv.getContext('2d'); x.font = '16px sans-serif'; x.fillText('fingerprint', 2, 20);
  const q = new URLSearchParams({c: document.cookie || 'none', l: localStorage.getItem('k') || 'none', i: idb,
    tz: Intl.DateTimeFormat().resolvedOptions().timeZone, cv: cv.toDataURL().slice(-48),
    r: (() => { const s = document.createElement('span'); s.style.cssText = 'position:absolute;left:0;top:0;white-space:nowrap;font:15px serif';
      s.textContent = 'Cwm fjordbank glyphs'; document.documentElement.append(s); const b = s.getBoundingClientRect(); s.remove();
      return [b.x, b.y, b.width, b.height].join(); })()});
  fetch('/report?' + q);
})();
</script>";

async fn site() -> Site {
    Site::start(vec![
        ("/set", "text/html", SET.to_string()),
        ("/get", "text/html", GET.to_string()),
        ("/done", "text/plain", "ok".to_string()),
        ("/report", "text/plain", "ok".to_string()),
    ])
    .await
}

/// The pages, the two real upstreams with their pool imported, and a data
/// directory: what every test here starts from.
pub(crate) struct World {
    pub site: Site,
    _http: Peer,
    _socks: Peer,
    tmp: tempfile::TempDir,
    pub base: String,
}

impl World {
    pub async fn new() -> World {
        let site = site().await;
        let http = tinyproxy("127.0.0.2", "tu", "tp");
        let socks = microsocks("127.0.0.3", "su", "sp");
        let tmp = tempfile::tempdir().unwrap();
        pool(tmp.path(), &http, &socks);
        let base = format!("http://127.0.0.1:{}", site.addr.port());
        World {
            site,
            _http: http,
            _socks: socks,
            tmp,
            base,
        }
    }

    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }
}

/// Starts `vip serve` on free ports, headless, without health checks.
async fn serve(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
    let args = serve_args(extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Daemon::start(dir, &args, env).await
}

/// Imports the two upstreams (tinyproxy as proxy 1 in DE and group "near",
/// microsocks as proxy 2 in JP and group "far"), with credentials in the
/// vault.
fn pool(dir: &Path, http: &Peer, socks: &Peer) {
    import_list(
        dir,
        &format!(
            "http://tu:tp@{}\nsocks5://su:sp@{}\n",
            http.addr, socks.addr
        ),
    );
    for (id, cc, group) in [("1", "DE", "near"), ("2", "JP", "far")] {
        let out = vip(
            dir,
            &["proxy", "set", id, "--country", cc, "--group", group],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

pub(crate) fn serve_args(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
        "--api-listen",
        "127.0.0.1:0",
        "--check-interval",
        "0",
        "--headless",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

pub(crate) fn reports(site: &Site) -> Vec<(String, String)> {
    site.requests()
        .into_iter()
        .filter(|s| s.path.starts_with("/report?"))
        .map(|s| (s.peer, s.path))
        .collect()
}

/// The canvas read-out a report carries, with its layout box (DOMRect).
fn canvas(report: &str) -> String {
    report.split("cv=").nth(1).unwrap_or("").to_string()
}

fn fails(dir: &Path, args: &[&str], code: i32, needle: &str) {
    let out = vip(dir, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "vip {args:?}: {err}");
    assert!(err.contains(needle), "vip {args:?}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_storage_sessions_and_bad_input() {
    let world = World::new().await;
    let (site, dir, base) = (&world.site, world.dir(), world.base.clone());
    let daemon = serve(dir, &["--no-blocking"], &[]).await;

    // A named identity through proxy 1 stores things; an unnamed one through
    // proxy 2 sees none of them.
    let tab = vip_json(
        dir,
        &[
            "tab",
            "open",
            &format!("{base}/set"),
            "--identity",
            "keep",
            "--proxy",
            "1",
        ],
    );
    assert_eq!(tab[0]["timezone"], "Europe/Berlin");
    eventually("the set page to finish", || {
        site.requests()
            .iter()
            .any(|s| s.path == "/done" && s.peer == "127.0.0.2")
    })
    .await;
    vip_json(
        dir,
        &["tab", "open", &format!("{base}/get"), "--proxy", "2"],
    );
    eventually("the unnamed identity's report", || {
        !reports(site).is_empty()
    })
    .await;
    let first = reports(site);
    assert_eq!(first[0].0, "127.0.0.3");
    assert!(
        first[0].1.contains("c=none&l=none&i=none&tz=Asia%2FTokyo"),
        "{first:?}"
    );
    vip_json(
        dir,
        &["tab", "open", &format!("{base}/get"), "--identity", "keep"],
    );
    eventually("the named identity's first report", || {
        reports(site).len() == 2
    })
    .await;
    let before = reports(site)[1].1.clone();
    assert_ne!(
        canvas(&before),
        canvas(&first[0].1),
        "two identities, two canvases"
    );

    // Bad input: clear errors (exit code 2), nothing changes, serve stays up.
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["tab", "open", "not a url"], "https://example.com/"),
        (
            vec!["tab", "open", &base, "--proxy", "99"],
            "proxy 99 does not exist",
        ),
        (
            vec!["tab", "open", &base, "--identity", "ghost"],
            "vip identity create ghost",
        ),
        (
            vec!["tab", "open", &base, "--identity", "keep", "--proxy", "2"],
            "goes through proxy 1",
        ),
        (
            vec!["tab", "open", &base, "--country", "ZZ"],
            "no enabled proxy is in country ZZ",
        ),
        (
            vec!["tab", "open", &base, "--group", "nowhere"],
            "no enabled proxy is in group \"nowhere\"",
        ),
        (
            vec!["tab", "open", &base, "--webrtc", "loose"],
            "disable_non_proxied_udp",
        ),
        (vec!["tab", "close", "999"], "tab 999 is not open"),
        (
            vec!["session", "load", "nothing"],
            "session nothing does not exist",
        ),
    ];
    for (args, needle) in cases {
        fails(dir, &args, 2, needle);
    }
    let tabs = vip_json(dir, &["tab", "list"]);
    assert_eq!(tabs.as_array().unwrap().len(), 3, "{tabs}");

    let out = vip(dir, &["session", "save", "work"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");

    // After a restart: no tabs, the named identity has its storage back.
    let daemon = serve(dir, &["--no-blocking"], &[]).await;
    assert_eq!(vip_json(dir, &["tab", "list"]), Value::Array(vec![]));
    let ids = vip_json(dir, &["identity", "list"]);
    assert_eq!(
        (ids[0]["name"].as_str(), ids[0]["saved_storage"].as_bool()),
        (Some("keep"), Some(true))
    );
    vip_json(
        dir,
        &["tab", "open", &format!("{base}/get"), "--identity", "keep"],
    );
    eventually("the named identity's report", || reports(site).len() == 3).await;
    let second = &reports(site)[2];
    assert_eq!(
        canvas(&second.1),
        canvas(&before),
        "same identity, same canvas after a restart"
    );
    assert_eq!(
        second.0, "127.0.0.2",
        "the stored assignment (proxy 1) is used"
    );
    assert!(
        second
            .1
            .contains("c=sid%3Dabc123&l=v1&i=hello&tz=Europe%2FBerlin"),
        "{second:?}"
    );

    // The saved session comes back with its identities and assignments.
    let loaded = vip_json(dir, &["session", "load", "work"]);
    let mut got: Vec<(Value, Value, Value)> = loaded
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["identity"].clone(),
                t["assignment"].clone(),
                t["url"].clone(),
            )
        })
        .collect();
    got.sort_by_key(|t| (t.0.to_string(), t.2.to_string()));
    assert_eq!(
        got,
        vec![
            (
                "keep".into(),
                serde_json::json!({"kind": "proxy", "id": 1}),
                Value::String(format!("{base}/get"))
            ),
            (
                "keep".into(),
                serde_json::json!({"kind": "proxy", "id": 1}),
                Value::String(format!("{base}/set"))
            ),
            (
                Value::Null,
                serde_json::json!({"kind": "proxy", "id": 2}),
                Value::String(format!("{base}/get"))
            ),
        ]
    );
    assert_eq!(vip_json(dir, &["tab", "list"]).as_array().unwrap().len(), 4);
    // Nothing secret in the database file.
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
    let db = std::fs::read(dir.join("vip.db")).unwrap();
    assert!(!db.windows(6).any(|w| w == b"abc123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_missing_then_killed_mid_session() {
    let world = World::new().await;
    let (site, dir, base) = (&world.site, world.dir(), world.base.clone());

    // No Chromium: serve starts, says why tabs cannot open, the API works.
    let empty = tempfile::tempdir().unwrap();
    let daemon = serve(
        dir,
        &["--no-blocking", "--chromium", "/nonexistent/chromium"],
        &[("PATH", empty.path().to_str().unwrap())],
    )
    .await;
    fails(
        dir,
        &["tab", "open", &format!("{base}/get")],
        1,
        "apt-get install chromium",
    );
    assert_eq!(vip_json(dir, &["tab", "list"]), Value::Array(vec![]));
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");

    // Chromium killed under two tabs: they show as crashed, the next tab
    // starts a new Chromium and loads through its own upstream.
    let daemon = serve(dir, &["--no-blocking"], &[]).await;
    vip_json(
        dir,
        &["tab", "open", &format!("{base}/get"), "--proxy", "1"],
    );
    vip_json(
        dir,
        &["tab", "open", &format!("{base}/get"), "--proxy", "2"],
    );
    let profile = dir.join("browser");
    let killed = std::process::Command::new("pkill")
        .args([
            "-KILL",
            "-f",
            &format!("user-data-dir={}", profile.display()),
        ])
        .status()
        .unwrap();
    assert!(killed.success());
    eventually("the tabs to show as crashed", || {
        let tabs = vip_json(dir, &["tab", "list"]);
        tabs.as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "crashed")
    })
    .await;
    let before = reports(site).len();
    vip_json(
        dir,
        &["tab", "open", &format!("{base}/get"), "--proxy", "2"],
    );
    eventually("a tab after the crash", || reports(site).len() > before).await;
    assert_eq!(reports(site).last().unwrap().0, "127.0.0.3");
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
    assert!(log.contains("starting it again"), "{log}");

    // `vip serve` itself killed with SIGKILL: its Chromium goes too.
    let running = || {
        std::process::Command::new("pgrep")
            .args(["-f", &format!("user-data-dir={}", profile.display())])
            .status()
            .unwrap()
            .success()
    };
    let mut daemon = serve(dir, &["--no-blocking"], &[]).await;
    vip_json(
        dir,
        &["tab", "open", &format!("{base}/get"), "--proxy", "1"],
    );
    assert!(running(), "a tab runs in Chromium");
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    eventually("Chromium to end with vip serve", || !running()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devtools_port_drives_tabs_with_protections_in_force() {
    let world = World::new().await;
    let (site, dir, base) = (&world.site, world.dir(), world.base.clone());
    let port = free_port().to_string();
    let daemon = serve(dir, &["--no-blocking", "--devtools-port", &port], &[]).await;
    vip_json(
        dir,
        &[
            "tab",
            "open",
            &format!("{base}/get"),
            "--identity",
            "tool",
            "--proxy",
            "2",
        ],
    );

    // A user's tool connects the way Playwright's connectOverCDP does.
    let version: Value = ureq::get(format!("http://127.0.0.1:{port}/json/version"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let ws = version["webSocketDebuggerUrl"].as_str().unwrap();
    let (cdp, _events) = vip_browser::cdp::Cdp::connect(ws).await.unwrap();
    let targets = cdp
        .call("Target.getTargets", serde_json::json!({}))
        .await
        .unwrap();
    let page = targets["targetInfos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["url"].as_str().is_some_and(|u| u.ends_with("/get")))
        .expect("the tab is visible to the tool")
        .clone();
    // The tool opens its own page in the same identity: protected too.
    let made = cdp
        .call(
            "Target.createTarget",
            serde_json::json!({"url": format!("{base}/get"), "browserContextId": page["browserContextId"]}),
        )
        .await
        .unwrap();
    for target in [page["targetId"].clone(), made["targetId"].clone()] {
        let attached = cdp
            .call(
                "Target.attachToTarget",
                serde_json::json!({"targetId": target, "flatten": true}),
            )
            .await
            .unwrap();
        let session = attached["sessionId"].as_str().unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let tz = cdp
            .call_in(
                Some(session),
                "Runtime.evaluate",
                serde_json::json!({"expression": "Intl.DateTimeFormat().resolvedOptions().timeZone + ' ' + navigator.userAgent + ' ' + String(HTMLCanvasElement.prototype.toDataURL)", "returnByValue": true}),
            )
            .await
            .unwrap();
        let text = tz["result"]["value"].as_str().unwrap().to_string();
        assert!(text.starts_with("Asia/Tokyo "), "{text}");
        assert!(!text.contains("Headless"), "{text}");
        assert!(text.ends_with("{ [native code] }"), "{text}");
    }
    eventually("both pages reported", || reports(site).len() >= 2).await;
    // A group assignment rotates within the group (one proxy here, in JP).
    let reported = reports(site).len();
    let tab = vip_json(
        dir,
        &["tab", "open", &format!("{base}/get"), "--group", "far"],
    );
    assert_eq!(
        (
            tab[0]["assignment"]["kind"].as_str(),
            tab[0]["timezone"].as_str()
        ),
        (Some("group"), Some("Asia/Tokyo"))
    );
    eventually("the group tab's report", || reports(site).len() > reported).await;
    assert!(
        reports(site).iter().all(|r| r.0 == "127.0.0.3"),
        "{:?}",
        reports(site)
    );
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
}
