//! `vip serve` end to end: proxies imported with the CLI (credentials in the
//! vault), a rotation activated, the daemon routing through real tinyproxy
//! and microsocks upstreams, a change made by another `vip` command applied
//! without a restart, and SIGTERM draining with every request's usage in
//! `vip stats`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common::*;
use vip_testkit::*;

/// Imports the tinyproxy and microsocks peers (ids 1 and 2) with the CLI.
fn import_both(dir: &std::path::Path, http: &Peer, socks: &Peer) {
    import_list(
        dir,
        &format!(
            "http://tu:tp-secret@{}\nsocks5://su:sp-secret@{}\n",
            http.addr, socks.addr
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_routes_reloads_and_flushes_usage_on_sigterm() {
    let origin = Origin::start().await;
    let http = tinyproxy("127.0.0.2", "tu", "tp-secret");
    let socks = microsocks("127.0.0.3", "su", "sp-secret");
    let dir = tempfile::tempdir().unwrap();
    import_both(dir.path(), &http, &socks);
    activate(dir.path(), r#"{"name":"rr","strategy":"round-robin"}"#);

    // On-demand checks find each proxy's exit IP through the origin.
    let check_url = format!("http://127.0.0.1:{}/ip", origin.addr.port());
    let geo = dir.path().join("geo.mmdb");
    std::fs::write(
        &geo,
        mmdb(&[
            ("127.0.0.2".parse().unwrap(), "DE"),
            ("127.0.0.3".parse().unwrap(), "FR"),
        ]),
    )
    .unwrap();
    let checked = vip(
        dir.path(),
        &[
            "proxy",
            "check",
            "--all",
            "--url",
            &check_url,
            "--geoip",
            geo.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let list: serde_json::Value =
        serde_json::from_slice(&vip(dir.path(), &["proxy", "list", "--json"]).stdout).unwrap();
    let seen: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["status"].as_str().unwrap(),
                p["exit_ip"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, vec![("up", "127.0.0.2"), ("up", "127.0.0.3")]);
    let countries: Vec<Option<&str>> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["exit_country"].as_str())
        .collect();
    assert_eq!(countries, vec![Some("DE"), Some("FR")]);
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(
        vip(dir.path(), &["proxy", "add", &format!("{dead}")])
            .status
            .success()
    );
    let failed = vip(dir.path(), &["proxy", "check", "3", "--url", &check_url]);
    assert_eq!(failed.status.code(), Some(3), "a failed check exits with 3");
    assert!(String::from_utf8_lossy(&failed.stdout).contains("cannot connect to proxy"));
    assert!(vip(dir.path(), &["proxy", "rm", "3"]).status.success());
    // Reset the recorded results so the daemon's periodic checks must set them.
    let store = vip_store::Store::open(dir.path().join(vip_store::DATABASE_FILE)).unwrap();
    store
        .conn()
        .execute("UPDATE proxies SET status = 'unknown', exit_ip = NULL", [])
        .unwrap();
    drop(store);

    let listen = format!("127.0.0.1:{}", free_port());
    let daemon = Daemon::start(
        dir.path(),
        &[
            "--listen",
            &listen,
            "--check-interval",
            "1",
            "--check-url",
            &check_url,
            "--no-browser",
            "--api-listen",
            "127.0.0.1:0",
            "--log-level",
            "debug",
        ],
        &[],
    )
    .await;
    let gateway: std::net::SocketAddr = listen.parse().unwrap();
    let mut served = 0u64;
    let mut exits = Vec::new();
    for _ in 0..4 {
        exits.push(
            via_connect(gateway, "127.0.0.1", origin.addr.port())
                .await
                .unwrap(),
        );
        served += 1;
    }
    exits.sort();
    assert_eq!(
        exits,
        vec!["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"]
    );

    // Disable the HTTP upstream from another process; the daemon follows.
    assert!(
        vip(dir.path(), &["proxy", "set", "1", "--disable"])
            .status
            .success()
    );
    let changed = Instant::now();
    let mut socks_in_a_row = 0;
    while socks_in_a_row < 6 {
        assert!(
            changed.elapsed() < Duration::from_secs(15),
            "the change was not applied"
        );
        let exit = via_connect(gateway, "127.0.0.1", origin.addr.port())
            .await
            .unwrap();
        served += 1;
        socks_in_a_row = if exit == "127.0.0.3" {
            socks_in_a_row + 1
        } else {
            0
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Why the next request goes where it goes: the CLI asks the daemon.
    let target = format!("127.0.0.1:{}", origin.addr.port());
    let explained = vip(dir.path(), &["rotation", "explain", &target, "--json"]);
    assert!(
        explained.status.success(),
        "{}",
        String::from_utf8_lossy(&explained.stderr)
    );
    let explained: serde_json::Value = serde_json::from_slice(&explained.stdout).unwrap();
    assert_eq!(explained["first"]["id"], 2, "{explained}");
    assert_eq!(explained["rotation"]["name"], "rr");
    assert_eq!(
        explained["unavailable"][0]["id"], 1,
        "the disabled one: {explained}"
    );
    let text = vip(dir.path(), &["rotation", "explain", &target]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("goes through proxy 2 (socks5") && text.contains("round-robin"),
        "{text}"
    );
    let both = vip(
        dir.path(),
        &["rotation", "explain", &target, "--tab", "1", "--direct"],
    );
    assert_eq!(both.status.code(), Some(2));

    // Periodic checks (two passes in a row) mark both proxies up with their exit IPs.
    let waiting = Instant::now();
    loop {
        let list: serde_json::Value =
            serde_json::from_slice(&vip(dir.path(), &["proxy", "list", "--json"]).stdout).unwrap();
        let ips: Vec<Option<&str>> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["exit_ip"].as_str())
            .collect();
        let up = list.as_array().unwrap().iter().all(|p| p["status"] == "up");
        if up && ips == vec![Some("127.0.0.2"), Some("127.0.0.3")] {
            break;
        }
        if waiting.elapsed() > Duration::from_secs(20) {
            let (_, log) = daemon.stop().await;
            panic!("periodic checks did not record: {list}\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let (exit, log) = daemon.stop().await;
    assert!(exit.success(), "{log}");
    assert!(
        log.contains("usage events written, 0 tracker requests blocked"),
        "{log}"
    );
    // Debug logs carry a span per connection with the proxy that carried
    // it, and still no password.
    assert!(log.contains("conn{") && log.contains("proxy=1"), "{log}");
    assert!(log.contains("connected") && log.contains("closed"), "{log}");
    assert!(
        !log.contains("tp-secret") && !log.contains("sp-secret"),
        "{log}"
    );
    let stats = vip(dir.path(), &["stats", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    let total: u64 = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["total_requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, served, "every request's usage was written: {stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_listeners_sticky_mappings_survive_a_restart() {
    let origin = Origin::start().await;
    let http = tinyproxy("127.0.0.2", "tu", "tp-secret");
    let socks = microsocks("127.0.0.3", "su", "sp-secret");
    let dir = tempfile::tempdir().unwrap();
    import_both(dir.path(), &http, &socks);
    activate(dir.path(), r#"{"name":"st","strategy":"sticky-session"}"#);
    let listen = format!("127.0.0.1:{}", free_port());
    let args = serve_args(&listen);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let gateway: std::net::SocketAddr = listen.parse().unwrap();
    let port = origin.addr.port();

    // The shared listener maps localhost; SIGTERM stores the mapping.
    let daemon = Daemon::start(dir.path(), &args, &[]).await;
    let first = via_connect(gateway, "localhost", port).await.unwrap();
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
    let db = dir.path().join(vip_store::DATABASE_FILE);
    let store = vip_store::Store::open(&db).unwrap();
    let id = store.list_rotations().unwrap()[0].id;
    let stored = store.load_sticky(vip_engine::ConfigId(id as u64)).unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].key, "localhost");
    // Point the stored mapping at the other proxy: after a restart the
    // shared listener must follow it, not its hash ring.
    let (used, other) = if first == "127.0.0.2" { (1, 2) } else { (2, 1) };
    assert_eq!(stored[0].proxy.0, used);
    store
        .conn()
        .execute("UPDATE sticky_session_mappings SET proxy_id = ?1", [other])
        .unwrap();
    drop(store);

    let daemon = Daemon::start(dir.path(), &args, &[]).await;
    let after = via_connect(gateway, "localhost", port).await.unwrap();
    assert_ne!(after, first, "the restored mapping was used");
    assert!(["127.0.0.2", "127.0.0.3"].contains(&after.as_str()));

    // Another config made active while serve runs starts from its own
    // mappings (none), not the previous config's: its ring decides again.
    activate(dir.path(), r#"{"name":"st2","strategy":"sticky-session"}"#);
    let mut exit = String::new();
    for _ in 0..100 {
        exit = via_connect(gateway, "localhost", port).await.unwrap();
        if exit == first {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        exit, first,
        "the new active config kept the old one's mapping"
    );
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
}
