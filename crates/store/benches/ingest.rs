//! Usage ingestion throughput: events per second through the batched
//! `UsageWriter` into a real SQLite file, from send to committed (`flush`).
//! Run with `cargo bench -p vip-store --bench ingest` or
//! `cargo xtask bench store`. Prints a table; 5 rounds of 500,000 events
//! over 1,000 proxies and the current and previous hour.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Instant;

use vip_store::usage::{UsageEvent, UsageWriter, UsageWriterConfig};
use vip_store::{Store, now_ms};

const ROUNDS: usize = 5;
const EVENTS: usize = 500_000;
const PROXIES: i64 = 1_000;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let store = Store::open(&path).unwrap();
    let writer = UsageWriter::start(&path, UsageWriterConfig::default()).unwrap();
    let sender = writer.sender();
    let now = now_ms();
    println!("| round | events | seconds | events/s |");
    println!("|---:|---:|---:|---:|");
    let mut rates = Vec::new();
    for round in 0..ROUNDS {
        let start = Instant::now();
        for i in 0..EVENTS {
            let ok = i % 10 != 0;
            sender
                .send(UsageEvent {
                    proxy: vip_engine::ProxyId(((i as i64 * 7919) % PROXIES + 1) as u64),
                    at_ms: now - if i % 4 == 0 { 3_600_000 } else { 0 },
                    ok,
                    error_kind: if ok { None } else { Some("proxy_timeout") },
                    latency_ms: Some(20.0 + (i % 300) as f64),
                    bytes_sent: 800,
                    bytes_received: 24_000,
                    tally: None,
                })
                .unwrap();
        }
        sender.flush().unwrap();
        let secs = start.elapsed().as_secs_f64();
        let rate = EVENTS as f64 / secs;
        rates.push(rate);
        println!("| {} | {EVENTS} | {secs:.3} | {rate:.0} |", round + 1);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "\nmedian: {:.0} events/s (target ≥ 200,000)",
        rates[ROUNDS / 2]
    );
    drop(sender);
    let total = writer.close().unwrap();
    let stored: i64 = store
        .conn()
        .query_row(
            "SELECT SUM(total_requests) FROM proxy_usage_stats",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(total as i64, stored, "every committed event is stored");
    assert_eq!(stored, (ROUNDS * EVENTS) as i64);
}
