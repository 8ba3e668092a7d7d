//! `cargo xtask bench browser`: real headless Chromium on loopback.
//!
//! - tab open: gateway listener + identity context + target ready with its
//!   overrides and protection in place (about:blank), and the same followed
//!   by a local page's load;
//! - page-load cost of the protections: one local page (a script, a canvas
//!   read, five images, a frame) loaded again and again in a protected and
//!   an unprotected identity, alternating, with and without in-page tracker
//!   blocking (every request paused and judged).
//!
//! Prints p50 and p95 in milliseconds. Page loads are timed by the page's
//! own navigation timing (navigation start to load event). Bounded: a fixed
//! number of rounds.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use vip_browser::{Browser, IdentitySetup, LaunchOptions, Profile, WebRtcPolicy, find_chromium};
use vip_engine::HealthSettings;
use vip_gateway::{Assignment, Gateway, GatewaySettings};
use vip_testkit::{Collect, Site, engine, listen, logins};

/// Tab opens.
const OPENS: usize = 60;
/// Paired page loads per row (the cost estimate's noise shrinks with it).
const LOADS: usize = 200;

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 95 / 100).min(v.len() - 1)]),
    )
}

fn row(name: &str, v: Vec<Duration>) {
    let (p50, p95) = stats(v);
    println!("{name:<48} {p50:>8.1} {p95:>8.1}");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    // A typical page (a script, five images, a frame) and the same page
    // reading a canvas the way fingerprinting scripts do.
    let mut page = String::from("<!doctype html><script>document.title = 'x';</script>");
    for i in 0..5 {
        page.push_str(&format!("<img src=\"/img{i}.gif\">"));
    }
    page.push_str("<iframe src=\"/frame\"></iframe>");
    let reading = format!(
        "{page}<script>const c = document.createElement('canvas'); const x = c.getContext('2d'); \
         x.fillText('Cwm fjordbank', 2, 15); c.toDataURL(); x.measureText('x').width;</script>"
    );
    let mut pages = vec![
        ("/", "text/html", page),
        ("/canvas", "text/html", reading),
        ("/frame", "text/html", "<p>frame</p>".to_string()),
    ];
    for name in [
        "/img0.gif",
        "/img1.gif",
        "/img2.gif",
        "/img3.gif",
        "/img4.gif",
    ] {
        pages.push((name, "image/gif", "GIF89a".to_string()));
    }
    let site = Site::start(pages).await;
    let url = format!("http://127.0.0.1:{}/", site.addr.port());
    let gateway = Arc::new(Gateway::new(
        engine(
            Vec::new(),
            r#"{"name":"rr","strategy":"round-robin"}"#,
            HealthSettings::default(),
        ),
        logins(&[]),
        Arc::new(Collect::default()),
        GatewaySettings::default(),
    ));
    let refusing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::launch(&LaunchOptions {
        executable: find_chromium(None).expect("install chromium"),
        headless: true,
        user_data_dir: profile.path().to_path_buf(),
        default_proxy: refusing.local_addr().unwrap(),
        webrtc: WebRtcPolicy::default(),
        devtools_port: 0,
        extra_args: Vec::new(),
    })
    .await
    .unwrap();
    let lists = vip_privacy::Blocklist::from_files(&vip_privacy::DEBIAN_LISTS)
        .ok()
        .map(Arc::new);
    let wait = Duration::from_secs(20);
    let setup = |n: u8, protect: bool, blocking: bool| IdentitySetup {
        profile: Profile::new([n; 32], Some("DE"), WebRtcPolicy::default()),
        protect,
        blocklist: if blocking { lists.clone() } else { None },
    };

    println!(
        "{:<48} {:>8} {:>8}",
        "browser (ms, headless, loopback)", "p50", "p95"
    );
    // `VIP_BENCH_REALMS=1`: only the realm rows (quick to repeat).
    if std::env::var_os("VIP_BENCH_REALMS").is_some() {
        realms(&browser, &gateway, &url, setup).await;
        return;
    }
    let mut open = Vec::new();
    let mut open_load = Vec::new();
    for i in 0..OPENS {
        let start = Instant::now();
        let addr = listen(&gateway, Assignment::Direct).await;
        let ctx = browser
            .new_context(addr, setup(i as u8, true, false))
            .await
            .unwrap();
        let tab = browser.open(&ctx, "about:blank", wait).await.unwrap();
        open.push(start.elapsed());
        browser.navigate(&tab, &url, wait).await.unwrap();
        open_load.push(start.elapsed());
        browser.dispose_context(&ctx).await.unwrap();
    }
    row("tab open (listener + context + target ready)", open);
    row("tab open + local page load", open_load);

    for (path, blocking, label) in [
        ("", false, "typical page"),
        ("canvas", false, "page reading a canvas"),
        ("", true, "typical page, in-page blocking"),
    ] {
        let mut tabs = Vec::new();
        for protect in [true, false] {
            let addr = listen(&gateway, Assignment::Direct).await;
            let ctx = browser
                .new_context(addr, setup(200 + protect as u8, protect, blocking))
                .await
                .unwrap();
            tabs.push(browser.open(&ctx, &url, wait).await.unwrap());
        }
        let (mut on, mut off): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
        for i in 0..LOADS {
            // Alternate which goes first, so neither gains from the other.
            let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let start = Instant::now();
                browser
                    .navigate(&tabs[which], &format!("{url}{path}?r={i}"), wait)
                    .await
                    .unwrap();
                let wall = start.elapsed();
                // The page's own navigation timing (start to load event), free
                // of the DevTools round trips around it.
                let took = browser
                    .evaluate(
                        &tabs[which],
                        "performance.getEntriesByType('navigation')[0].loadEventStart",
                    )
                    .await
                    .ok()
                    .and_then(|v| v.as_f64())
                    .map_or(wall, |ms| Duration::from_secs_f64(ms / 1000.0));
                if which == 0 {
                    on.push(took);
                } else {
                    off.push(took);
                }
            }
        }
        // The cost: the median of the paired differences (each round loads
        // both, alternating which goes first, so machine drift cancels).
        let mut diffs: Vec<f64> = on
            .iter()
            .zip(&off)
            .map(|(a, b)| (a.as_secs_f64() - b.as_secs_f64()) * 1000.0)
            .collect();
        diffs.sort_by(f64::total_cmp);
        row(&format!("load, protected ({label})"), on);
        row(&format!("load, unprotected ({label})"), off);
        println!(
            "{:<48} {:>8.1}",
            format!("protection cost, median of pairs ({label})"),
            diffs[diffs.len() / 2]
        );
    }
    realms(&browser, &gateway, &url, setup).await;
    browser.close().await;
}

/// The cost per document of covering every realm: a fresh same-origin
/// frame made (its document touched), the same frame read (navigator and a
/// 2D context), and a dedicated worker started and answering, timed inside
/// the page, protected against unprotected. Rounds alternate between the
/// two tabs so that the machine's drift falls on both alike.
async fn realms(
    browser: &Browser,
    gateway: &Arc<Gateway>,
    url: &str,
    setup: impl Fn(u8, bool, bool) -> IdentitySetup,
) {
    const ROUNDS: usize = 10;
    const FRAME: &str = "(async (n, read) => { const out = []; for (let i = 0; i < n; i++) { \
        const t = performance.now(); const f = document.createElement('iframe'); \
        document.body.appendChild(f); const w = f.contentWindow; w.document; \
        if (read) { w.navigator.hardwareConcurrency; w.document.createElement('canvas').getContext('2d'); } \
        out.push(performance.now() - t); f.remove(); } return out; })";
    const WORKER: &str = "(async (n) => { const out = []; \
        const src = URL.createObjectURL(new Blob(['postMessage(navigator.hardwareConcurrency)'])); \
        for (let i = 0; i < n; i++) { const t = performance.now(); const w = new Worker(src); \
        await new Promise((r) => { w.onmessage = r; }); out.push(performance.now() - t); w.terminate(); } \
        return out; })";
    let wait = Duration::from_secs(20);
    let mut tabs = Vec::new();
    for protect in [true, false] {
        let addr = listen(gateway, Assignment::Direct).await;
        let ctx = browser
            .new_context(addr, setup(220 + protect as u8, protect, false))
            .await
            .unwrap();
        tabs.push(browser.open(&ctx, url, wait).await.unwrap());
    }
    for (label, script) in [
        ("fresh frame made", format!("{FRAME}(30, false)")),
        ("fresh frame made and read", format!("{FRAME}(30, true)")),
        ("worker start to first message", format!("{WORKER}(15)")),
    ] {
        let mut samples = [Vec::new(), Vec::new()];
        for _ in 0..ROUNDS {
            for (tab, into) in tabs.iter().zip(samples.iter_mut()) {
                let times = browser.evaluate(tab, &script).await.unwrap();
                into.extend(
                    times
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(serde_json::Value::as_f64)
                        .map(|ms| Duration::from_secs_f64(ms / 1000.0)),
                );
            }
        }
        let [protected, unprotected] = samples;
        let cost = stats(protected.clone()).0 - stats(unprotected.clone()).0;
        row(&format!("{label}, protected"), protected);
        row(&format!("{label}, unprotected"), unprotected);
        println!(
            "{:<48} {:>8.2}",
            format!("realm coverage cost p50 ({label})"),
            cost
        );
    }
}
