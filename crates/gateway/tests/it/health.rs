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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_only_accepts_tcp_is_down_with_the_stage_that_failed() {
    let origin = Origin::start().await;
    let url = Some(format!("http://127.0.0.1:{}/ip", origin.addr.port()));
    let real = tinyproxy("127.0.0.2", "u", "p");
    let wrong = tinyproxy("127.0.0.4", "u", "other");
    let socks = microsocks("127.0.0.3", "u", "p");
    let login = (Secret::new("u"), Secret::new("p"));
    let mut cases = Vec::new();
    for protocol in [Protocol::Http, Protocol::Socks5, Protocol::Socks4a] {
        for (fault, stage) in [
            (
                Fault::Hang,
                if protocol == Protocol::Http {
                    "request"
                } else {
                    "handshake"
                },
            ),
            (
                Fault::Garbage,
                if protocol == Protocol::Http {
                    "answer"
                } else {
                    "handshake"
                },
            ),
            (
                Fault::WrongSocksVersion,
                if protocol == Protocol::Http {
                    "answer"
                } else {
                    "handshake"
                },
            ),
            (
                Fault::Answer407,
                if protocol == Protocol::Http {
                    "answer"
                } else {
                    "handshake"
                },
            ),
            (
                Fault::Reset,
                if protocol == Protocol::Http {
                    "answer"
                } else {
                    "handshake"
                },
            ),
        ] {
            cases.push((protocol, faulty(fault).await.0, format!("{fault:?}"), stage));
        }
    }
    for with_url in [true, false] {
        let settings = CheckSettings {
            url: if with_url { url.clone() } else { None },
            timeout: Duration::from_secs(2),
            ..CheckSettings::default()
        };
        // At once: the hanging ones wait out their stage's timeout.
        let mut set = tokio::task::JoinSet::new();
        for (protocol, addr, fault, stage) in cases.clone() {
            let settings = settings.clone();
            set.spawn(async move {
                let r = check(&proxy(1, protocol, addr, None), None, &settings).await;
                (protocol, fault, stage, r)
            });
        }
        while let Some(done) = set.join_next().await {
            let (protocol, fault, stage, r) = done.unwrap();
            assert!(!r.ok, "{protocol:?} {fault} is up: {r:?}");
            // An HTTP proxy that closes at once may do so before or after
            // the request is written: either stage is the truth.
            let either =
                protocol == Protocol::Http && fault == "Reset" && r.stage == Some("request");
            assert!(
                r.stage == Some(stage) || either,
                "{protocol:?} {fault}: {r:?}"
            );
            assert!(
                r.error.is_some_and(|e| e.contains("127.0.0.1:")),
                "names the proxy"
            );
        }
        // Real 407s (tinyproxy answers wrong credentials itself).
        let r = check(
            &proxy(2, Protocol::Http, wrong.addr, Some(1)),
            Some(&login),
            &settings,
        )
        .await;
        assert_eq!(
            (r.ok, r.failure),
            (false, Some(FailureKind::ProxyAuth)),
            "{r:?}"
        );
        assert_eq!(r.stage, Some("answer"));
    }
    // Healthy proxies are up only after a request through them completed:
    // the origin saw it.
    let settings = CheckSettings {
        url,
        ..CheckSettings::default()
    };
    for (protocol, addr) in [(Protocol::Http, real.addr), (Protocol::Socks5, socks.addr)] {
        let before = origin.peers.lock().unwrap().len();
        let r = check(&proxy(3, protocol, addr, Some(1)), Some(&login), &settings).await;
        assert!(r.ok && r.stage.is_none(), "{r:?}");
        assert_eq!(origin.peers.lock().unwrap().len(), before + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_probe_asks_the_proxy_itself_and_nothing_beyond() {
    use vip_gateway::upstream::{Tls, probe};
    let http = tinyproxy("127.0.0.2", "u", "p");
    let socks = microsocks("127.0.0.3", "u", "p");
    let good = (Secret::new("u"), Secret::new("p"));
    let bad = (Secret::new("u"), Secret::new("nope"));
    let t = Duration::from_secs(1);
    let tls = Tls::default();
    for (protocol, addr) in [(Protocol::Http, http.addr), (Protocol::Socks5, socks.addr)] {
        let p = proxy(1, protocol, addr, Some(1));
        assert!(
            probe(&p, Some(&good), t, &tls).await.is_ok(),
            "{protocol:?}"
        );
        let e = probe(&p, Some(&bad), t, &tls).await.unwrap_err();
        assert_eq!(e.kind(), FailureKind::ProxyAuth, "{protocol:?}: {e}");
    }
    for protocol in [Protocol::Http, Protocol::Socks5] {
        let p = proxy(2, protocol, faulty(Fault::Hang).await.0, None);
        let e = probe(&p, None, t, &tls).await.unwrap_err();
        assert_eq!(e.kind(), FailureKind::ProxyTimeout, "{protocol:?}: {e}");
        let p = proxy(3, protocol, faulty(Fault::Garbage).await.0, None);
        assert!(
            probe(&p, None, t, &tls).await.is_err(),
            "{protocol:?} garbage"
        );
    }
}
