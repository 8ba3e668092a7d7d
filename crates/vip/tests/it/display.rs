//! `vip serve` with Chromium in windows on a real (virtual) X display: a
//! person's Ctrl+T in an identity's window opens a tab of that identity,
//! listed by `vip tab list` and saved with sessions, and the page typed
//! into it is protected and goes through the identity's proxy.

use std::time::Duration;

use crate::browse::{World, reports, serve_args};
use crate::common::*;
use vip_testkit::Display;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_opened_with_ctrl_t_in_an_identitys_window_is_that_identitys() {
    let world = World::new().await;
    let (site, dir, base) = (&world.site, world.dir(), world.base.clone());
    let x = Display::start();
    // Windows, not headless: the display is given and --headless is not.
    let args: Vec<String> = serve_args(&["--no-blocking"])
        .into_iter()
        .filter(|a| a != "--headless")
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemon = Daemon::start(dir, &args, &[("DISPLAY", x.name.as_str())]).await;
    let opened = vip_json(
        dir,
        &[
            "tab",
            "open",
            &format!("{base}/get"),
            "--identity",
            "person",
            "--proxy",
            "2",
        ],
    );
    assert_eq!(
        opened[0]["timezone"].as_str(),
        Some("Asia/Tokyo"),
        "{opened}"
    );
    eventually("the first page's report", || reports(site).len() == 1).await;

    // The identity's window, as a person would reach it.
    let windows = x.xdotool(&["search", "--sync", "--onlyvisible", "--class", "chromium"]);
    let window = windows
        .lines()
        .last()
        .expect("a Chromium window")
        .to_string();
    x.xdotool(&["windowfocus", "--sync", &window]);
    x.xdotool(&["key", "--clearmodifiers", "ctrl+t"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    x.xdotool(&["type", "--delay", "15", &format!("{base}/get?typed")]);
    x.xdotool(&["key", "Return"]);
    eventually("the typed page's report", || reports(site).len() == 2).await;
    let (peer, report) = reports(site)[1].clone();
    assert_eq!(peer, "127.0.0.3", "through the identity's proxy: {report}");
    assert!(report.contains("tz=Asia%2FTokyo"), "{report}");

    let tabs = vip_json(dir, &["tab", "list"]);
    let tabs = tabs.as_array().unwrap();
    assert_eq!(tabs.len(), 2, "{tabs:?}");
    assert!(
        tabs.iter()
            .all(|t| t["identity"].as_str() == Some("person")),
        "{tabs:?}"
    );
    assert!(
        tabs.iter()
            .any(|t| t["url"].as_str().is_some_and(|u| u.ends_with("/get?typed"))),
        "{tabs:?}"
    );
    let saved = vip(dir, &["session", "save", "both"]);
    let said = String::from_utf8_lossy(&saved.stderr);
    assert!(
        saved.status.success() && said.contains("saved with 2 tabs"),
        "saved with the session: {said}"
    );
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
}
