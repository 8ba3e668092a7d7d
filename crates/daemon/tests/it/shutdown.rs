//! Shutdown always completes: with the database locked by another process
//! or the data directory removed while traffic flows, the drain ends within
//! the grace period (+1 s) and its report says what was not saved.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use vip_testkit::*;

use crate::common::*;

/// A daemon over one microsocks upstream that has carried a few requests.
async fn busy_daemon(
    dir: &std::path::Path,
    origin: &Origin,
    peer: &Peer,
) -> vip_daemon::DaemonHandle {
    let (store, vault) = store_and_vault(dir);
    add_socks(&store, &vault, peer.addr, "u", "p-secret");
    let daemon = vip_daemon::start(config(dir), Some(vault)).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            via_connect(daemon.gateway_addr(), "127.0.0.1", origin.addr.port())
                .await
                .unwrap(),
            "127.0.0.2"
        );
    }
    daemon
}

/// Keeps requests flowing through `gateway` until the returned flag is set.
fn traffic(
    gateway: std::net::SocketAddr,
    port: u16,
) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        // Bounded: at most 2,000 requests or until told to stop.
        for _ in 0..2_000 {
            if flag.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            let _ = via_connect(gateway, "127.0.0.1", port).await;
        }
    });
    stop
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_does_not_hold_up_shutdown() {
    let origin = Origin::start().await;
    let peer = microsocks("127.0.0.2", "u", "p-secret");
    let dir = tempfile::tempdir().unwrap();
    let daemon = busy_daemon(dir.path(), &origin, &peer).await;
    let flowing = traffic(daemon.gateway_addr(), origin.addr.port());
    // Another process's exclusive transaction: every write now waits on
    // SQLite's 10 s busy timeout.
    let locker = rusqlite_lock(dir.path());
    let said = shut_down_while_flowing(daemon, &flowing).await;
    drop(locker);
    assert!(said.contains("breakers and sticky mappings"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_data_directory_is_reported_not_waited_for() {
    let origin = Origin::start().await;
    let peer = microsocks("127.0.0.2", "u", "p-secret");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let daemon = busy_daemon(&data, &origin, &peer).await;
    let flowing = traffic(daemon.gateway_addr(), origin.addr.port());
    std::fs::remove_dir_all(&data).unwrap();
    let said = shut_down_while_flowing(daemon, &flowing).await;
    assert!(said.contains("was removed"), "{said}");
    // Nothing was made again where the directory was.
    assert!(!data.join(vip_store::DATABASE_FILE).exists());
}

/// Shuts down with a 3 s grace while traffic flows, then stops the
/// traffic; checks the drain ended within grace + 1 s and reported a
/// problem, and returns the problems, one per line.
async fn shut_down_while_flowing(
    daemon: vip_daemon::DaemonHandle,
    flowing: &std::sync::atomic::AtomicBool,
) -> String {
    let grace = Duration::from_secs(3);
    let started = Instant::now();
    let report = daemon.shutdown(grace).await;
    let took = started.elapsed();
    flowing.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        took <= grace + Duration::from_secs(1),
        "shutdown took {took:?}: {report:?}"
    );
    assert!(!report.is_clean(), "{report:?}");
    report.problems.join("\n")
}

/// Holds an exclusive lock on the data directory's database.
fn rusqlite_lock(dir: &std::path::Path) -> vip_store::Store {
    let store = vip_store::Store::open(dir.join(vip_store::DATABASE_FILE)).unwrap();
    store.conn().execute_batch("BEGIN EXCLUSIVE").unwrap();
    store
}
