//! The page script finds a host's site (registrable domain) from the Bloom
//! filter vip sends: the script's own `siteOf` (the text between its
//! `site:begin` and `site:end` marks, run in real Chromium with the filter
//! vip builds) must give the answer of the Rust reference over the exact
//! rules, for ordinary suffixes, wildcards and exceptions. A difference in
//! hashing between the two sides fails here.

use serde_json::{Value, json};
use vip_browser::WebRtcPolicy;
use vip_browser::suffixes::{filter, rules, site_of};
use vip_testkit::Site;

use crate::common::*;

const SCRIPT: &str = include_str!("../../src/protect.js");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_finds_the_site_the_suffix_rules_give() {
    let rig = rig(WebRtcPolicy::default()).await;
    let site = Site::start(vec![("/", "text/html", "<p>x</p>".to_string())]).await;
    let ctx = rig.identity(2, 41, "DE").await;
    let tab = rig
        .open(&ctx, &format!("http://127.0.0.1:{}/", site.addr.port()))
        .await;

    let begin = SCRIPT.find("// site:begin").expect("site:begin mark");
    let end = SCRIPT.find("// site:end").expect("site:end mark");
    let mut hosts: Vec<String> = [
        "www.bbc.co.uk",
        "bbc.co.uk",
        "co.uk",
        "a.b.example.com",
        "example.com",
        "user.github.io",
        "deep.user.github.io",
        "foo.bar.kawasaki.jp",
        "www.city.kawasaki.jp",
        "shop.example.ck",
        "www.ck",
        "127.0.0.1",
        "localhost",
    ]
    .map(String::from)
    .to_vec();
    // And a spread of real rules, with a label in front of each.
    hosts.extend(
        rules()
            .iter()
            .step_by(97)
            .map(|r| format!("x.{}", r.trim_start_matches("*.").trim_start_matches('!'))),
    );
    let expr = format!(
        "((C, hosts) => {{ {} return hosts.map(siteOf); }})({}, {})",
        &SCRIPT[begin..end],
        json!({"suffixes": filter().to_json()}),
        json!(hosts),
    );
    let got = rig.eval(&tab, &expr).await;
    let exact = |r: &str| rules().iter().any(|x| x == r);
    let want: Vec<Value> = hosts.iter().map(|h| json!(site_of(h, exact))).collect();
    assert!(hosts.len() > 40, "{} hosts", hosts.len());
    let differ: Vec<_> = hosts
        .iter()
        .zip(got.as_array().expect("an array of sites"))
        .zip(&want)
        .filter(|((_, g), w)| g != w)
        .map(|((h, g), w)| format!("{h}: script {g}, rules {w}"))
        .collect();
    assert!(differ.is_empty(), "{differ:#?}");
    assert_eq!(want[0], json!("bbc.co.uk"));
    assert_eq!(want[7], json!("foo.bar.kawasaki.jp"));
    assert_eq!(want[8], json!("city.kawasaki.jp"));
    rig.stop().await;
}
