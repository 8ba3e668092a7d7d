//! Health checks against real upstreams: latency, the exit IP from a check
//! URL that answers with the caller's address, and failures classified
//! (refused, bad credentials); many proxies checked with a concurrency limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use vip_engine::{FailureKind, Protocol};
use vip_gateway::health::{CheckSettings, ClockWatch, GeoDb, check, check_all};
use vip_model::Secret;
use vip_testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_measure_latency_find_the_exit_ip_and_classify_failures() {
    let origin = Origin::start().await;
    let http = tinyproxy("127.0.0.2", "u", "p");
    let socks = microsocks("127.0.0.3", "u", "p");
    let settings = CheckSettings {
        url: Some(format!("http://127.0.0.1:{}/ip", origin.addr.port())),
        timeout: Duration::from_secs(3),
        concurrency: 2,
        geo: Some(Arc::new(
            GeoDb::from_bytes(mmdb(&[
                ("127.0.0.2".parse().unwrap(), "DE"),
                ("127.0.0.3".parse().unwrap(), "FR"),
            ]))
            .unwrap(),
        )),
        ..CheckSettings::default()
    };
    let login = (Secret::new("u"), Secret::new("p"));
    let bad = (Secret::new("u"), Secret::new("nope"));
    let r = check(
        &proxy(1, Protocol::Http, http.addr, Some(1)),
        Some(&login),
        &settings,
    )
    .await;
    assert!(r.ok, "{r:?}");
    assert_eq!(
        (r.http_status, r.exit_ip.map(|i| i.to_string())),
        (Some(200), Some("127.0.0.2".into()))
    );
    assert!(r.latency.unwrap() > Duration::ZERO && r.connect.is_some());
    let r = check(
        &proxy(2, Protocol::Socks5, socks.addr, Some(1)),
        Some(&login),
        &settings,
    )
    .await;
    assert_eq!(r.exit_ip.map(|i| i.to_string()), Some("127.0.0.3".into()));
    assert_eq!(
        r.exit_country.as_deref(),
        Some("FR"),
        "country from the MaxMind-format database"
    );
    assert!(
        GeoDb::from_bytes(b"not a database".to_vec())
            .unwrap_err()
            .to_string()
            .contains("not a MaxMind database")
    );
    let r = check(
        &proxy(3, Protocol::Socks5, socks.addr, Some(1)),
        Some(&bad),
        &settings,
    )
    .await;
    assert_eq!((r.ok, r.failure), (false, Some(FailureKind::ProxyAuth)));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = check(&proxy(4, Protocol::Http, closed, None), None, &settings).await;
    assert_eq!((r.ok, r.failure), (false, Some(FailureKind::ProxyRefused)));
    assert!(r.error.unwrap().contains("cannot connect to proxy"));
    // Without a URL only the TCP connect is checked.
    let r = check(
        &proxy(5, Protocol::Http, http.addr, None),
        None,
        &CheckSettings::default(),
    )
    .await;
    assert!(r.ok && r.exit_ip.is_none());

    let done = Arc::new(AtomicUsize::new(0));
    let counter = done.clone();
    let batch: Vec<_> = (0..12)
        .map(|i| {
            (
                proxy(
                    10 + i,
                    if i % 2 == 0 {
                        Protocol::Http
                    } else {
                        Protocol::Socks5
                    },
                    if i % 2 == 0 { http.addr } else { socks.addr },
                    Some(1),
                ),
                Some(login.clone()),
            )
        })
        .collect();
    let reports = check_all(batch, &settings, move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    })
    .await;
    assert_eq!(done.load(Ordering::Relaxed), 12);
    assert!(
        reports
            .iter()
            .enumerate()
            .all(|(i, r)| r.ok && r.proxy.0 == 10 + i as u64),
        "{reports:?}"
    );
    assert!(!ClockWatch::new(Duration::from_secs(5)).jumped());
}
