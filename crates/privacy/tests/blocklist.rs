//! The blocklist with Debian's EasyList and EasyPrivacy: known trackers are
//! blocked by host and by URL, popular first-party sites are not, the
//! allowlist wins, and the engine can be shared across threads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use vip_privacy::{Blocklist, DEBIAN_LISTS, Verdict};

fn lists() -> Blocklist {
    Blocklist::from_files(&DEBIAN_LISTS)
        .expect("cargo xtask test installs webext-ublock-origin-chromium")
}

#[test]
fn trackers_blocked_sites_allowed_allowlist_wins() {
    let list = lists().allow_domain("scorecardresearch.com");
    assert!(list.rules() > 50_000, "both lists loaded: {}", list.rules());
    for host in [
        "google-analytics.com",
        "www.google-analytics.com",
        "stats.g.doubleclick.net",
        "pixel.quantserve.com",
    ] {
        assert_eq!(list.check_host(host), Verdict::Block, "{host}");
    }
    for host in [
        "www.google.com",
        "github.com",
        "en.wikipedia.org",
        "www.youtube.com",
        "www.amazon.com",
        "www.reddit.com",
        "www.debian.org",
        "example.com",
    ] {
        assert_eq!(list.check_host(host), Verdict::Allow, "{host}");
    }
    assert_eq!(
        list.check_host("b.scorecardresearch.com"),
        Verdict::Allowlisted
    );
    assert_eq!(
        list.check_url(
            "www.google-analytics.com",
            "http://www.google-analytics.com/analytics.js"
        ),
        Verdict::Block
    );
    assert_eq!(
        list.check_url("example.com", "http://example.com/index.html"),
        Verdict::Allow
    );
    assert_eq!(list.blocked(), 5);
    fn assert_sync<T: Send + Sync>(_: &T) {}
    assert_sync(&list);
}

#[test]
fn a_missing_list_is_a_clear_error() {
    let err = Blocklist::from_files(&["/nonexistent/easylist.txt"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/nonexistent/easylist.txt") && err.contains("check that the path"),
        "{err}"
    );
    // Debian's own lists missing: the package to install is named.
    let debian = vip_privacy::BlocklistError::Read {
        path: vip_privacy::DEBIAN_LISTS[0].into(),
        source: std::io::ErrorKind::NotFound.into(),
    }
    .to_string();
    assert!(
        debian.contains("install Debian's webext-ublock-origin-chromium"),
        "{debian}"
    );
    let small = Blocklist::from_rules(&["||tracker.example^", "@@||good.tracker.example^"]);
    assert_eq!(small.check_host("a.tracker.example"), Verdict::Block);
    assert_eq!(small.check_host("good.tracker.example"), Verdict::Allow);
}

#[test]
fn a_url_is_blocked_when_any_of_script_xhr_or_image_would_be() {
    let list = Blocklist::from_rules(&[
        "||x.example^",
        "@@||x.example/lib.js$script",
        "@@||x.example/free.js",
        "/beacon.gif$image",
        "||api.example/track$xmlhttprequest",
        "||y.example^$script",
        "@@||y.example/ok.js$script",
    ]);
    for (host, url, verdict) in [
        // The script is excepted, but an XHR or image of it is still blocked.
        ("x.example", "http://x.example/lib.js", Verdict::Block),
        ("x.example", "http://x.example/free.js", Verdict::Allow),
        ("ok.example", "http://ok.example/beacon.gif", Verdict::Block),
        (
            "api.example",
            "http://api.example/track?id=1",
            Verdict::Block,
        ),
        ("ok.example", "http://ok.example/app.js", Verdict::Allow),
        ("y.example", "http://y.example/a.js", Verdict::Block),
        ("y.example", "http://y.example/ok.js", Verdict::Allow),
    ] {
        assert_eq!(list.check_url(host, url), verdict, "{url}");
    }
}

#[test]
fn page_requests_are_judged_by_type_and_first_party_context() {
    let list = lists().allow_domain("trusted.example");
    let page = "https://news.example/article";
    assert_eq!(
        list.check_request(
            "https://www.google-analytics.com/analytics.js",
            page,
            "script"
        ),
        Verdict::Block
    );
    // A first-party resource of an ordinary site loads.
    assert_eq!(
        list.check_request("https://news.example/app.js", page, "script"),
        Verdict::Allow
    );
    // On an allowlisted site nothing is blocked.
    assert_eq!(
        list.check_request(
            "https://www.google-analytics.com/analytics.js",
            "https://www.trusted.example/",
            "script"
        ),
        Verdict::Allowlisted
    );
    // Garbage is allowed (Chromium judges it), never a panic.
    assert_eq!(
        list.check_request("not a url", page, "script"),
        Verdict::Allow
    );
    assert_eq!(list.blocked(), 1);
}
