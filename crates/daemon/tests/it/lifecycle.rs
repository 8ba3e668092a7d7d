//! Start, use, change, reload and drain: the daemon routes through real
//! microsocks upstreams, applies a change asked for through the control API
//! before answering, notices a change made by another connection on its
//! own, and drains with a tunnel in flight without losing its usage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use vip_store::repo::proxies::ProxyPatch;
use vip_testkit::*;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_reloads_and_drains_with_a_tunnel_in_flight() {
    let origin = Origin::start().await;
    let a = microsocks("127.0.0.2", "ua", "pa-secret");
    let b = microsocks("127.0.0.3", "ub", "pb-secret");
    let c = microsocks("127.0.0.4", "uc", "pc-secret");
    let dir = tempfile::tempdir().unwrap();
    let (store, vault) = store_and_vault(dir.path());
    let first = add_socks(&store, &vault, a.addr, "ua", "pa-secret");
    let daemon = vip_daemon::start(config(dir.path()), Some(vault))
        .await
        .unwrap();
    let gateway = daemon.gateway_addr();
    let port = origin.addr.port();
    assert_eq!(
        via_connect(gateway, "127.0.0.1", port).await.unwrap(),
        "127.0.0.2"
    );

    // A change asked for through the control API is in use when it answers:
    // the next connection already goes through the new proxy, with its login.
    let (store_2, vault_2) = store_and_vault(dir.path());
    add_socks(&store_2, &vault_2, b.addr, "ub", "pb-secret");
    store_2
        .update_proxy(
            first,
            &ProxyPatch {
                enabled: Some(false),
                ..ProxyPatch::default()
            },
        )
        .unwrap();
    let data_dir = dir.path().to_path_buf();
    let reloaded = tokio::task::spawn_blocking(move || {
        vip_api::Client::from_data_dir(&data_dir)
            .unwrap()
            .post::<_, vip_api::Reloaded>("/api/v1/reload", &serde_json::json!({}))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        reloaded.rotation,
        "built-in round-robin over the whole pool"
    );
    // Each login was decrypted once: the reload decrypted only the new
    // proxy's (the vault counts reads per credential row).
    let reads: Vec<i64> = {
        let mut stmt = store_2
            .conn()
            .prepare("SELECT access_count FROM encrypted_credentials ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(reads, vec![1, 1], "decryptions per credential");
    for _ in 0..3 {
        assert_eq!(
            via_connect(gateway, "127.0.0.1", port).await.unwrap(),
            "127.0.0.3"
        );
    }

    // A change made by another connection, with nobody asking: picked up by
    // the data_version poll.
    let third = add_socks(&store_2, &vault_2, c.addr, "uc", "pc-secret");
    let second = third - 1;
    store_2
        .update_proxy(
            second,
            &ProxyPatch {
                enabled: Some(false),
                ..ProxyPatch::default()
            },
        )
        .unwrap();
    let engine_has = |n: usize| {
        let g = daemon.gateway().clone();
        move || {
            g.with_engine(|e| {
                e.pool().proxies().iter().filter(|p| p.enabled).count() == 1 && e.pool().len() == n
            })
        }
    };
    eventually("the poll to load the third proxy", engine_has(3)).await;
    assert_eq!(
        via_connect(gateway, "127.0.0.1", port).await.unwrap(),
        "127.0.0.4"
    );

    // A tunnel still open when the drain starts finishes its exchange.
    let mut tunnel = tokio::net::TcpStream::connect(gateway).await.unwrap();
    tunnel
        .write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    assert!(read_until(&mut tunnel, &mut head, has_head).await);
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let client = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        tunnel
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        read_to_close(&mut tunnel, "the tunnel during the drain").await
    });
    let report = daemon.shutdown(Duration::from_secs(10)).await;
    assert!(client.await.unwrap().ends_with("127.0.0.4"));
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.tasks_left, 0);
    // Every connection's usage is stored: 1 + 3 + 1 + the drained tunnel.
    assert_eq!(report.usage_written, 6, "{report:?}");
    let stats = store.usage_stats(None, 1).unwrap();
    let requests: u64 = stats.iter().map(|s| s.total_requests).sum();
    assert_eq!(requests, 6, "{stats:?}");
    assert!(!dir.path().join(vip_api::TOKEN_FILE).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sticky_mappings_are_swept_and_reported() {
    let origin = Origin::start().await;
    let a = microsocks("127.0.0.2", "ua", "pa-secret");
    let dir = tempfile::tempdir().unwrap();
    let (store, vault) = store_and_vault(dir.path());
    add_socks(&store, &vault, a.addr, "ua", "pa-secret");
    let id = store
        .create_rotation(&serde_json::json!({
            "name": "short", "strategy": "sticky-session",
            "strategy_config": { "ttl": 300 }
        }))
        .unwrap();
    store.activate_rotation(id).unwrap();
    let daemon = vip_daemon::start(config(dir.path()), Some(vault))
        .await
        .unwrap();
    let gateway = daemon.gateway_addr();
    assert_eq!(
        via_connect(gateway, "localhost", origin.addr.port())
            .await
            .unwrap(),
        "127.0.0.2"
    );
    // Saved within 100 ms of being learned, gone (and reported) once the
    // 300 ms TTL has passed, without any further traffic.
    eventually("the mapping to be saved", || {
        store
            .load_sticky(vip_engine::ConfigId(id as u64))
            .unwrap()
            .iter()
            .any(|m| m.key == "localhost")
    })
    .await;
    eventually("the mapping to expire", || {
        store
            .load_sticky(vip_engine::ConfigId(id as u64))
            .unwrap()
            .is_empty()
    })
    .await;
    eventually("a ttl_expired event", || {
        store
            .recent_events(50)
            .unwrap()
            .iter()
            .any(|e| e.reason == "ttl_expired" && e.key_value.as_deref() == Some("localhost"))
    })
    .await;
    assert!(daemon.shutdown(Duration::from_secs(10)).await.is_clean());
}

/// With a retention set, history older than it is pruned at start; newer
/// history stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_history_is_pruned_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _vault) = store_and_vault(dir.path());
    let day = 86_400_000i64;
    let now = vip_store::now_ms();
    for (age_days, reason) in [(40, "failure"), (2, "manual")] {
        store
            .conn()
            .execute(
                "INSERT INTO rotation_events (key_kind, reason, created_at) VALUES ('tab', ?1, ?2)",
                (reason, now - age_days * day),
            )
            .unwrap();
    }
    let mut config = config(dir.path());
    config.upkeep.retention = Some(vip_daemon::Retention {
        stats_days: 30,
        events_days: 30,
    });
    let daemon = vip_daemon::start(config, None).await.unwrap();
    let left = || {
        let events = store.recent_events(10).unwrap();
        events.iter().map(|e| e.reason.clone()).collect::<Vec<_>>()
    };
    eventually("the old event pruned", || left() == ["manual"]).await;
    daemon.shutdown(Duration::from_secs(5)).await;
}
