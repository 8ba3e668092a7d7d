//! `cargo xtask bench daemon`: how long a selection waits for the engine's
//! lock while the daemon reloads a 100,000-proxy pool with a 200-rule
//! config, against no reload, and against the old way (the whole rebuild
//! under the lock). Selections run the gateway's path minus the sockets:
//! lock the engine, `select`, unlock. The pool is loopback addresses that
//! nothing dials (health checks are off). Prints one table.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use vip_daemon::DaemonConfig;
use vip_engine::{PoolSnapshot, RotationConfig, SelectionRequest};

const PROXIES: usize = 100_000;
const RULES: usize = 200;
const RELOADS: usize = 5;

/// What the main thread is doing while the selector measures.
const IDLE: u8 = 0;
const RELOADING: u8 = 1;
const OLD_WAY: u8 = 2;

fn proxy_list() -> String {
    vip_testkit::loopback_list(PROXIES)
}

fn config_json() -> serde_json::Value {
    let rules: Vec<serde_json::Value> = (0..RULES)
        .map(|i| {
            let condition = if i % 2 == 0 {
                serde_json::json!({"field": "domain", "operator": "ends_with", "value": format!(".site{i}.example")})
            } else {
                serde_json::json!({"field": "domain", "operator": "matches_regex", "value": format!("^shop[0-9]+\\.site{i}\\.example$")})
            };
            serde_json::json!({
                "id": i + 1, "name": format!("rule {i}"), "priority": i,
                "conditions": [condition],
                "actions": [{"type": "use_proxy_group", "value": format!("g{}", i % 7)}]
            })
        })
        .collect();
    serde_json::json!({"name": "big", "strategy": "weighted", "rules": rules})
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    {
        let store = vip_store::Store::open(data.join(vip_store::DATABASE_FILE)).unwrap();
        let parsed = vip_store::porting::parse(proxy_list().as_bytes());
        let defaults = vip_store::porting::ImportDefaults::default();
        vip_store::porting::apply(&store, None, parsed, &defaults, &mut |_, _| {}).unwrap();
        let id = store.create_rotation(&config_json()).unwrap();
        store.activate_rotation(id).unwrap();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = DaemonConfig::local(&data);
    let started = Instant::now();
    let daemon = runtime.block_on(vip_daemon::start(config, None)).unwrap();
    let start_time = started.elapsed();
    let gateway = daemon.gateway().clone();
    assert_eq!(gateway.with_engine(|e| e.pool().len()), PROXIES);

    // The selector: one thread, as many selections as it can, each timed
    // and filed under what the main thread was doing when it began.
    let phase = Arc::new(AtomicU8::new(IDLE));
    let stop = Arc::new(AtomicBool::new(false));
    let selector = {
        let (gateway, phase, stop) = (gateway.clone(), phase.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
            let mut samples: [Vec<u64>; 3] = Default::default();
            let hosts: Vec<String> = (0..64).map(|i| format!("www{i}.example.org")).collect();
            let mut n = 0usize;
            // Bounded: at most 50 million selections.
            while !stop.load(Ordering::Relaxed) && n < 50_000_000 {
                let during = phase.load(Ordering::Relaxed);
                let host = &hosts[n % hosts.len()];
                let t = Instant::now();
                let ok = gateway.with_engine(|e| {
                    let req = SelectionRequest::new(host, vip_gateway::now());
                    e.select_active(None, &req, &mut rng).is_ok()
                });
                let took = t.elapsed().as_nanos() as u64;
                assert!(ok);
                samples[during as usize].push(took);
                n += 1;
            }
            samples
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let mut reload_times = Vec::new();
    phase.store(RELOADING, Ordering::Relaxed);
    for _ in 0..RELOADS {
        let t = Instant::now();
        runtime.block_on(daemon.reload()).unwrap();
        reload_times.push(t.elapsed());
    }
    phase.store(IDLE, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(500));
    // The old way, for comparison: the new pool and configs built while
    // holding the lock (what reloads did before).
    let store = vip_store::Store::open(data.join(vip_store::DATABASE_FILE)).unwrap();
    let pool = Arc::new(PoolSnapshot::new(store.engine_pool().unwrap()).unwrap());
    let stored_id = store.list_rotations().unwrap()[0].id;
    let mut old_way_times = Vec::new();
    phase.store(OLD_WAY, Ordering::Relaxed);
    for _ in 0..RELOADS {
        let mut config: RotationConfig = store.engine_rotation(stored_id).unwrap();
        let t = Instant::now();
        config.id = vip_engine::ConfigId(stored_id as u64);
        gateway.with_engine(|e| {
            let now = vip_gateway::now();
            e.set_pool(pool.clone(), now);
            e.set_rotation(config, now);
        });
        old_way_times.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(200));
    }
    phase.store(IDLE, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let mut samples = selector.join().unwrap();
    let report = runtime.block_on(daemon.shutdown(Duration::from_secs(10)));
    assert!(report.is_clean(), "{report:?}");

    let ms = |d: &[Duration]| {
        let mut v: Vec<f64> = d.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!();
    println!(
        "daemon: {PROXIES} proxies, {RULES} rules (weighted); start {:.0} ms; reload {:.0} ms (median of {RELOADS}); old in-lock rebuild {:.0} ms",
        start_time.as_secs_f64() * 1000.0,
        ms(&reload_times),
        ms(&old_way_times)
    );
    println!(
        "{:<40} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "selection (lock + select)", "selections", "p50 µs", "p99 µs", "p99.9 µs", "max µs"
    );
    for (label, i) in [
        ("no reload", IDLE),
        ("during reloads (stepwise rebuild)", RELOADING),
        ("during the old in-lock rebuild", OLD_WAY),
    ] {
        let v = &mut samples[i as usize];
        v.sort_unstable();
        println!(
            "{label:<40} {:>12} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(v, 0.999),
            percentile(v, 1.0)
        );
    }
}
