//! `cargo xtask bench daemon` (second table): what learning a pinned
//! identity's exit costs before its first page. Measured: a health check
//! through a local microsocks (exiting from 127.0.0.2) to a local origin
//! that answers with the caller's address, looked up in a GeoIP database;
//! cached: reading a stored check of the proxy back. Loopback only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use vip_engine::{CredentialRef, Protocol, Proxy};
use vip_gateway::health::{CheckSettings, GeoDb, check};
use vip_store::vault::Secret;
use vip_testkit::{Origin, microsocks, mmdb};

const MEASURED: usize = 60;
const CACHED: usize = 2_000;

fn p50_p95(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 95 / 100).min(v.len() - 1)]),
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let origin = Origin::start().await;
    let peer = microsocks("127.0.0.2", "u", "p");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("geo.mmdb");
    std::fs::write(&db, mmdb(&[("127.0.0.2".parse().unwrap(), "JP")])).unwrap();
    let settings = CheckSettings {
        url: Some(format!("http://127.0.0.1:{}/", origin.addr.port())),
        timeout: Duration::from_secs(5),
        concurrency: 1,
        tls: vip_gateway::upstream::Tls::default(),
        geo: Some(Arc::new(GeoDb::open(&db).unwrap())),
    };
    let mut proxy = Proxy::new(1, &peer.addr.ip().to_string(), peer.addr.port());
    proxy.protocol = Protocol::Socks5;
    proxy.credential = Some(CredentialRef(1));
    let login = (Secret::new("u"), Secret::new("p"));
    let mut measured = Vec::new();
    for _ in 0..MEASURED {
        let t = Instant::now();
        let report = check(&proxy, Some(&login), &settings).await;
        measured.push(t.elapsed());
        assert_eq!(report.exit_country.as_deref(), Some("JP"), "{report:?}");
    }
    let store = vip_store::Store::open(dir.path().join(vip_store::DATABASE_FILE)).unwrap();
    let added = store
        .add_proxy(
            None,
            &vip_store::repo::proxies::NewProxy {
                host: "127.0.0.1".into(),
                port: 1080,
                ..Default::default()
            },
        )
        .unwrap();
    let id = match added {
        vip_store::repo::proxies::AddOutcome::Added(id)
        | vip_store::repo::proxies::AddOutcome::Duplicate(id) => id,
    };
    store
        .record_check(
            vip_engine::ProxyId(id as u64),
            Some("up"),
            Some(3.0),
            (Some("127.0.0.2"), Some("JP")),
            vip_store::now_ms(),
        )
        .unwrap();
    let mut cached = Vec::new();
    for _ in 0..CACHED {
        let t = Instant::now();
        let record = store.get_proxy(id).unwrap();
        let fresh = record
            .last_checked_at
            .is_some_and(|at| vip_store::now_ms() - at < 3_600_000);
        assert!(fresh && record.exit_country.is_some());
        cached.push(t.elapsed());
    }
    println!(
        "{:<52} {:>8} {:>8}",
        "exit before the first page (ms, loopback)", "p50", "p95"
    );
    for (name, v) in [
        (
            "measured now through the proxy (SOCKS5 + GET + GeoIP)",
            measured,
        ),
        ("a stored check reused (one row read)", cached),
    ] {
        let (p50, p95) = p50_p95(v);
        println!("{name:<52} {p50:>8.3} {p95:>8.3}");
    }
}
