//! The usage writer: batches commit, `flush` waits for them, `close` drains
//! everything; and a writer killed with SIGKILL mid-stream leaves a database
//! that passes `integrity_check` and holds every batch it had acknowledged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vip_store::usage::{UsageEvent, UsageWriter, UsageWriterConfig};
use vip_store::{Store, now_ms};

const CHILD_ENV: &str = "VIP_TEST_USAGE_CHILD_DB";

fn event(i: u64) -> UsageEvent {
    UsageEvent {
        proxy: vip_engine::ProxyId(i % 50 + 1),
        at_ms: now_ms(),
        ok: !i.is_multiple_of(7),
        error_kind: if i.is_multiple_of(7) {
            Some("proxy_reset")
        } else {
            None
        },
        latency_ms: Some(5.0 + (i % 40) as f64),
        bytes_sent: 100,
        bytes_received: 1000,
        tally: None,
    }
}

fn stored_total(store: &Store) -> i64 {
    store
        .conn()
        .query_row(
            "SELECT COALESCE(SUM(total_requests), 0) FROM proxy_usage_stats",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn flush_and_close_commit_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vip.db");
    let store = Store::open(&path).unwrap();
    let config = UsageWriterConfig {
        max_batch: 100,
        max_delay: Duration::from_secs(3600),
        capacity: 1000,
    };
    let writer = UsageWriter::start(&path, config).unwrap();
    let sender = writer.sender();
    for i in 0..250 {
        sender.send(event(i)).unwrap();
    }
    assert_eq!(sender.flush().unwrap(), 250);
    assert_eq!(stored_total(&store), 250);
    for i in 0..77 {
        sender.send(event(i)).unwrap();
    }
    drop(sender);
    assert_eq!(writer.close().unwrap(), 327);
    assert_eq!(stored_total(&store), 327);
}

/// Runs only as the child of the crash test: writes acknowledged batches
/// forever (bounded), printing the acknowledged total after each.
#[test]
fn child_writes_until_killed() {
    let Ok(db) = std::env::var(CHILD_ENV) else {
        return;
    };
    let writer =
        UsageWriter::start(std::path::Path::new(&db), UsageWriterConfig::default()).unwrap();
    let sender = writer.sender();
    let mut out = std::io::stdout().lock();
    for batch in 0..10_000u64 {
        for i in 0..1_000 {
            sender.send(event(batch * 1_000 + i)).unwrap();
        }
        let acked = sender.flush().unwrap();
        writeln!(out, "acked {acked}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_loses_no_acknowledged_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vip.db");
    drop(Store::open(&path).unwrap());
    // The test's name inside this binary: its module path without the crate.
    let (_, module) = module_path!().split_once("::").unwrap();
    let name = format!("{module}::child_writes_until_killed");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &name, "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let started = Instant::now();
    let mut acked = 0i64;
    let mut acks = 0;
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            acked = n.trim().parse().unwrap();
            acks += 1;
            if acks == 25 {
                child.kill().unwrap();
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "child too slow"
        );
    }
    child.wait().unwrap();
    assert_eq!(
        acks, 25,
        "the child acknowledged batches before it was killed"
    );
    let store = Store::open(&path).unwrap();
    store.integrity_check().unwrap();
    let stored = stored_total(&store);
    assert!(stored >= acked, "stored {stored} < acknowledged {acked}");
    assert!(
        stored <= acked + 1_000,
        "only the batch in flight may be beyond the last ack"
    );
}
