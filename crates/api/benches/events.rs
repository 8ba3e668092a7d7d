//! `cargo xtask bench api` (second table): what the events hub costs. One
//! publish (serialize the envelope once, keep it in the ring, hand it to
//! the live queue) with 0, 1 and 16 sockets reading, and a reconnect that
//! replays the whole ring (`since=0`: 10,000 events). Rounds alternate so
//! drift falls on all; prints p50 and p99.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::json;
use vip_api::events::{Events, RING, Topic};

const ROUNDS: usize = 20;
const PER_ROUND: usize = 2_000;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = json!({ "id": 7, "ok": true, "latency_ms": 12.5, "exit_ip": "203.0.113.7",
                       "exit_country": "DE", "stage": null, "error": null });
    let mut rows = Vec::new();
    for readers in [0usize, 1, 16] {
        let hub = std::sync::Arc::new(Events::new());
        let _guard = runtime.enter();
        let mut tasks = Vec::new();
        for _ in 0..readers {
            let mut rx = hub.live_receiver();
            tasks.push(
                runtime.spawn(async move { while rx.recv().await.is_ok() || !rx.is_empty() {} }),
            );
        }
        let mut samples = Vec::with_capacity(ROUNDS * PER_ROUND);
        for _ in 0..ROUNDS {
            for _ in 0..PER_ROUND {
                let started = Instant::now();
                hub.publish(Topic::HealthCheck, data.clone());
                samples.push(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let p50 = percentile(&mut samples, 0.5);
        let p99 = percentile(&mut samples, 0.99);
        rows.push((format!("publish, {readers} sockets reading"), p50, p99));
        for t in tasks {
            t.abort();
        }
    }
    let hub = Events::new();
    for _ in 0..RING {
        hub.publish(Topic::HealthCheck, data.clone());
    }
    let mut samples = Vec::new();
    for _ in 0..ROUNDS * 5 {
        let started = Instant::now();
        let n = hub.replay_len(0);
        samples.push(started.elapsed());
        assert_eq!(n, RING);
    }
    let p50 = percentile(&mut samples, 0.5);
    let p99 = percentile(&mut samples, 0.99);
    rows.push((
        format!("since=0 replay of {RING} (snapshot of the ring)"),
        p50,
        p99,
    ));
    println!("| events hub | p50 | p99 |\n|---|---|---|");
    for (what, p50, p99) in rows {
        println!(
            "| {what} | {:.2} µs | {:.2} µs |",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
        );
    }
}
