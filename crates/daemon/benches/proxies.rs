//! `cargo xtask bench api` (second table): `GET /api/v1/proxies?limit=100`
//! over 100,000 stored proxies (loopback addresses nothing dials; health
//! checks off), through the live daemon's control API on a real socket
//! with a keep-alive client: by id, filtered by group and sorted by
//! latency, a host search, and the last page of a group by cursor. 300
//! requests per row; p50 and p99 in ms.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use vip_daemon::DaemonConfig;

const PROXIES: usize = 100_000;
const REQUESTS: usize = 300;

fn proxy_list() -> String {
    vip_testkit::loopback_list(PROXIES)
}

fn pct(v: &mut [Duration], p: usize) -> f64 {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)].as_secs_f64() * 1000.0
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let db = data.join(vip_store::DATABASE_FILE);
    {
        let store = vip_store::Store::open(&db).unwrap();
        let parsed = vip_store::porting::parse(proxy_list().as_bytes());
        let defaults = vip_store::porting::ImportDefaults::default();
        vip_store::porting::apply(&store, None, parsed, &defaults, &mut |_, _| {}).unwrap();
    }
    {
        // Seven groups, measured latencies, a tenth down: what a filtered,
        // sorted listing has to sift.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "UPDATE proxies SET rotation_group = 'g' || (id % 7),
                 latency_ms = (id * 37) % 900 + 0.5,
                 status = CASE WHEN id % 10 = 0 THEN 'down' ELSE 'up' END,
                 tags = CASE WHEN id % 3 = 0 THEN '[\"fast\"]' ELSE '[]' END",
        )
        .unwrap();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut config = DaemonConfig::local(&data);
    config.api.rate_limits = [("proxies-list".to_string(), 1_000_000_000)].into();
    let daemon = runtime.block_on(vip_daemon::start(config, None)).unwrap();
    let base = format!("http://{}", daemon.api_addr());
    let token = std::fs::read_to_string(data.join(vip_api::TOKEN_FILE)).unwrap();
    let agent = ureq::Agent::config_builder().build().new_agent();
    let get = |route: &str| -> vip_api::ProxyList {
        agent
            .get(format!("{base}{route}"))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    };
    // The last page of group g3 by latency, found once by walking.
    let mut route = "/api/v1/proxies?group=g3&sort=latency&limit=1000".to_string();
    let last = loop {
        let page = get(&route);
        match page.next_cursor {
            Some(c) => {
                route = format!("/api/v1/proxies?group=g3&sort=latency&limit=1000&cursor={c}")
            }
            None => break route.replace("limit=1000", "limit=100"),
        }
    };
    let rows = [
        ("all, by id", "/api/v1/proxies?limit=100".to_string()),
        (
            "group g3, up, by latency",
            "/api/v1/proxies?limit=100&group=g3&status=up&sort=latency".to_string(),
        ),
        (
            "tag fast, by host, descending",
            "/api/v1/proxies?limit=100&tag=fast&sort=host&desc=true".to_string(),
        ),
        (
            "host search \"127.1.17.\"",
            "/api/v1/proxies?limit=100&q=127.1.17.".to_string(),
        ),
        ("group g3 by latency, last page by cursor", last),
    ];
    println!(
        "| GET /api/v1/proxies over {PROXIES} proxies, ms ({REQUESTS} requests) | p50 | p99 |"
    );
    println!("|---|---:|---:|");
    for (what, route) in rows {
        let mut times = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            let t = Instant::now();
            let page = get(&route);
            times.push(t.elapsed());
            assert!(!page.items.is_empty(), "{what}");
        }
        println!(
            "| {what} | {:.2} | {:.2} |",
            pct(&mut times, 50),
            pct(&mut times, 99)
        );
    }
    runtime.block_on(daemon.shutdown(Duration::from_secs(5)));
}
