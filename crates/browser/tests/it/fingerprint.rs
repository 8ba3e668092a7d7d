//! Real headless Chromium: fingerprint protection per identity. Two
//! identities on one site differ in canvas, text metrics, audio, WebGL
//! (renderer, pixels, extension list), layout boxes (DOMRect) and
//! navigator values; each shows a common desktop screen; one identity is
//! stable across reloads and differs on
//! another site; page, same-origin frame, worker and HTTP headers agree;
//! the page's first script already sees protected values; timezone and
//! languages follow the proxy's country. Unprotected identities are shown
//! to collide, so the checks can fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use serde_json::Value;
use vip_browser::WebRtcPolicy;
use vip_testkit::Site;

fn pages(port: u16) -> Vec<(&'static str, &'static str, String)> {
    vec![
        (
            "/",
            "text/html",
            format!(
                "<!doctype html><html><head><script>{PROBE}\nwindow.first = vipProbe();</script></head><body>\
                 <iframe src=\"/frame\"></iframe><iframe src=\"http://localhost:{port}/frame\"></iframe><script>\
                 const got = {{}}; window.fromFrame = new Promise(r => addEventListener('message', e => {{ got[e.data.host] = e.data.v; if (got[location.host]) r(got[location.host]); }}));\
                 window.fromOther = new Promise(r => addEventListener('message', e => {{ if (e.data.host !== location.host) r(e.data.v); }}));\
                 window.fromWorker = new Promise(r => {{ const w = new Worker('/worker.js'); w.onmessage = e => r(e.data); }});\
                 </script></body></html>"
            ),
        ),
        (
            "/frame",
            "text/html",
            format!(
                "<script>{PROBE}\nvipProbe().then(v => parent.postMessage({{host: location.host, v}}, '*'));</script>"
            ),
        ),
        (
            "/worker.js",
            "text/javascript",
            format!("{PROBE}\nvipProbe().then(v => postMessage(v));"),
        ),
    ]
}

const ALL: &str = "(async () => ({first: await window.first, frame: await window.fromFrame, worker: await window.fromWorker, now: await vipProbe()}))()";

fn differ(a: &Value, b: &Value, keys: &[&str]) {
    for k in keys {
        assert_ne!(a[k], b[k], "{k} must differ: {a} vs {b}");
    }
}

fn same(a: &Value, b: &Value, keys: &[&str]) {
    for k in keys {
        assert_eq!(a[k], b[k], "{k} must agree: {a} vs {b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_differ_and_each_is_stable_and_consistent() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let site = Site::start_on(&format!("127.0.0.1:{port}"), pages(port)).await;
    let rig = rig(WebRtcPolicy::default()).await;
    let url = format!("http://127.0.0.1:{}/", site.addr.port());
    let other_site = format!("http://localhost:{}/", site.addr.port());

    let a = rig.identity(1, 1, "DE").await;
    let b = rig.identity(2, 2, "JP").await;
    let ta = rig.open(&a, &url).await;
    let tb = rig.open(&b, &url).await;
    let va = rig.eval(&ta, ALL).await;
    let other = rig.eval(&ta, "window.fromOther").await;
    let vb = rig.eval(&tb, ALL).await;
    let (fa, fb) = (&va["first"], &vb["first"]);

    // The first line of the page already saw protected, stable values.
    let page_keys = [
        "canvas",
        "dataUrl",
        "text",
        "audio",
        "worklet",
        "gl",
        "glPixels",
        "glPixelsClamped",
        "glExt",
        "screen",
        "screenMq",
        "rect",
        "net",
        "hw",
        "mem",
        "ua",
        "langs",
        "tz",
    ];
    same(fa, &va["now"], &page_keys);
    // Two identities on one site differ (navigator as a whole).
    differ(
        fa,
        fb,
        &[
            "canvas",
            "dataUrl",
            "text",
            "audio",
            "worklet",
            "glPixels",
            "glPixelsClamped",
            "glExt",
            "tz",
            "langs",
            "rect",
        ],
    );
    for f in [fa, fb] {
        for k in ["rectAgree", "rectTouch", "rectExact"] {
            assert_eq!(f[k], true, "{k}: {f}");
        }
    }
    for f in [fa, fb] {
        assert_eq!(
            f["glExtAgree"], true,
            "getExtension agrees with the list: {f}"
        );
    }
    assert!(
        (fa["gl"].clone(), fa["hw"].clone(), fa["mem"].clone())
            != (fb["gl"].clone(), fb["hw"].clone(), fb["mem"].clone())
    );
    // An audio worklet's processor heard the rendered signal.
    for f in [fa, fb] {
        assert!(f["worklet"].as_f64().is_some_and(|s| s > 1.0), "{f}");
    }
    // Same-origin frame and worker see what the page sees.
    same(fa, &va["frame"], &page_keys);
    same(
        fa,
        &va["worker"],
        &[
            "hw", "mem", "ua", "platform", "langs", "tz", "gl", "glExt", "net", "canvas", "text",
        ],
    );
    assert!(
        fa["gl"].as_str().is_some_and(|g| g.contains("ANGLE")),
        "{fa}"
    );
    // A top-level reference taken before any WebGL context is protected too.
    let renderer = fa["gl"].as_str().unwrap().split(" / ").nth(1).unwrap();
    assert_eq!(fa["glPristine"].as_str(), Some(renderer), "{fa}");
    // A common desktop screen, not headless Chromium's 800x600 (the
    // unprotected pair below shows the real one).
    for f in [fa, fb] {
        assert!(f["screen"].as_str().is_some_and(|s| s != "800x600"), "{f}");
        assert_eq!(f["screenMq"], true, "matchMedia agrees: {f}");
    }
    // No headless marker, and navigator.webdriver is Chromium's own.
    assert!(!fa["ua"].as_str().unwrap().contains("Headless"), "{fa}");
    // Timezone and language follow the country, with daylight saving.
    assert_eq!(fa["tz"], "Europe/Berlin");
    assert_eq!(
        (fa["winter"].as_i64(), fa["summer"].as_i64()),
        (Some(-60), Some(-120))
    );
    assert_eq!(fa["langs"], "de-DE,de,en");
    assert_eq!(fb["tz"], "Asia/Tokyo");
    assert_eq!(
        (fb["winter"].as_i64(), fb["summer"].as_i64()),
        (Some(-540), Some(-540))
    );
    // HTTP headers agree with the page.
    let seen = site.requests();
    let page_request = seen
        .iter()
        .find(|s| s.path == "/" && s.peer == "127.0.0.2")
        .expect("identity A's page request");
    assert_eq!(
        page_request.headers["user-agent"],
        fa["ua"].as_str().unwrap()
    );
    assert!(page_request.headers["accept-language"].starts_with("de-DE,de;q=0.9"));
    // Client hints agree with navigator.userAgentData (no headless brand).
    let hints = rig
        .eval(&ta, "navigator.userAgentData.brands.map(b => `\"${b.brand}\";v=\"${b.version}\"`).join(', ')")
        .await;
    assert_eq!(page_request.headers["sec-ch-ua"], hints.as_str().unwrap());
    assert!(!hints.as_str().unwrap().contains("Headless"), "{hints}");
    assert_eq!(page_request.headers["sec-ch-ua-platform"], "\"Linux\"");

    // Stable across a reload; different on another site.
    rig.browser
        .navigate(&ta, &url, std::time::Duration::from_secs(20))
        .await
        .unwrap();
    let again = rig.eval(&ta, ALL).await;
    same(fa, &again["first"], &page_keys);
    rig.browser
        .navigate(&ta, &other_site, std::time::Duration::from_secs(20))
        .await
        .unwrap();
    let elsewhere = rig.eval(&ta, ALL).await;
    differ(
        fa,
        &elsewhere["first"],
        &["canvas", "dataUrl", "text", "audio", "worklet"],
    );
    same(fa, &elsewhere["first"], &["gl", "hw", "mem", "ua", "tz"]);
    // A cross-site frame (its own process) looks like that site's pages:
    // protected before its first script, with that site's values.
    same(&other, &elsewhere["first"], &page_keys);
    differ(
        &other,
        fa,
        &["canvas", "dataUrl", "text", "audio", "worklet"],
    );

    // Fonts: only the base set is visible (DejaVu Math is installed but
    // hidden; DejaVu Serif is in the base set and measurably different).
    let width = |family: &str| {
        format!(
            "(() => {{ const c = document.createElement('canvas').getContext('2d'); \
             c.font = \"40px {family}, monospace\"; return c.measureText('mmmmmmmmmmlli10OQ').width; }})()"
        )
    };
    let mono = rig.eval(&ta, &width("monospace")).await;
    assert_eq!(rig.eval(&ta, &width("'DejaVu Math TeX Gyre'")).await, mono);
    assert_ne!(rig.eval(&ta, &width("'DejaVu Serif'")).await, mono);

    // Without protection two identities collide: the checks above can fail.
    let c = rig.identity_with(1, 3, "DE", false, None).await;
    let d = rig.identity_with(2, 4, "DE", false, None).await;
    let vc = rig.eval(&rig.open(&c, &url).await, ALL).await;
    let vd = rig.eval(&rig.open(&d, &url).await, ALL).await;
    same(
        &vc["first"],
        &vd["first"],
        &[
            "canvas",
            "dataUrl",
            "text",
            "audio",
            "worklet",
            "gl",
            "glPixels",
            "glPixelsClamped",
            "glExt",
            "screen",
            "hw",
            "rect",
        ],
    );
    assert_eq!(vc["first"]["screen"], "800x600");
    // The browser-wide network estimate is not what identities report.
    for f in [fa, fb] {
        assert_ne!(f["net"], vc["first"]["net"], "{f}");
    }
    rig.stop().await;
}
