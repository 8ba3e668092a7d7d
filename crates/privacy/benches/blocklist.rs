//! Cost of one blocking decision with Debian's EasyList and EasyPrivacy
//! loaded: a host check (tunnels) and a URL check (plain HTTP), over a mix
//! of trackers and ordinary sites, and the cost of loading both lists.
//! `cargo bench -p vip-privacy`, or
//! `cargo xtask bench privacy` for the table.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use vip_privacy::{Blocklist, DEBIAN_LISTS};

const HOSTS: [&str; 8] = [
    "www.google-analytics.com",
    "www.example.com",
    "cdn.jsdelivr.net",
    "stats.g.doubleclick.net",
    "en.wikipedia.org",
    "pixel.quantserve.com",
    "static.xx.fbcdn.net",
    "api.github.com",
];

fn bench(c: &mut Criterion) {
    let list = Blocklist::from_files(&DEBIAN_LISTS).expect("install webext-ublock-origin-chromium");
    let urls: Vec<(String, String)> = HOSTS
        .iter()
        .map(|h| (h.to_string(), format!("http://{h}/path/to/resource.js?x=1")))
        .collect();
    let mut group = c.benchmark_group("blocklist");
    let mut i = 0usize;
    group.bench_function("check_host", |b| {
        b.iter(|| {
            i += 1;
            black_box(list.check_host(HOSTS[i % HOSTS.len()]))
        })
    });
    group.bench_function("check_url", |b| {
        b.iter(|| {
            i += 1;
            let (h, u) = &urls[i % urls.len()];
            black_box(list.check_url(h, u))
        })
    });
    group.finish();
    // Loading both lists (parsing, classifying for the second engine,
    // building both engines): once at start-up and on a list change.
    let mut load = c.benchmark_group("blocklist_load");
    load.sample_size(10)
        .measurement_time(Duration::from_secs(3));
    load.bench_function("from_files", |b| {
        b.iter(|| black_box(Blocklist::from_files(&DEBIAN_LISTS).expect("lists")))
    });
    load.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(40).warm_up_time(Duration::from_millis(700)).measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
