//! Fault-injecting upstreams written here (refuse, accept then hang, reset,
//! slow handshake, garbage reply, wrong SOCKS version) beside real ones: with
//! half the pool faulty, at least 99.9% of 2,000 requests succeed, breakers
//! open and later half-open. Malformed inbound requests get a clean error and
//! leak no file descriptor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vip_engine::{BreakerPhase, HealthSettings, Protocol, ProxyId};
use vip_gateway::{Assignment, Gateway, GatewaySettings, ListenerSpec};
use vip_testkit::*;

fn fast_settings() -> GatewaySettings {
    GatewaySettings {
        connect_timeout: Duration::from_millis(300),
        handshake_timeout: Duration::from_millis(300),
        client_timeout: Duration::from_millis(300),
        ..GatewaySettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_the_pool_faulty_and_still_999_per_mille() {
    let origin = Origin::start().await;
    let good_http = [
        tinyproxy("127.0.0.2", "u", "p"),
        tinyproxy("127.0.0.4", "u", "p"),
    ];
    let good_socks = [
        microsocks("127.0.0.3", "u", "p"),
        microsocks("127.0.0.5", "u", "p"),
        microsocks("127.0.0.6", "u", "p"),
    ];
    let faults = [
        (Fault::Refuse, Protocol::Http),
        (Fault::Hang, Protocol::Socks5),
        (Fault::Reset, Protocol::Http),
        (Fault::Slow(Duration::from_secs(2)), Protocol::Http),
        (Fault::Garbage, Protocol::Http),
        (Fault::WrongSocksVersion, Protocol::Socks5),
    ];
    let mut pool = Vec::new();
    let mut good = good_http
        .iter()
        .map(|p| (Protocol::Http, p.addr))
        .chain(good_socks.iter().map(|p| (Protocol::Socks5, p.addr)));
    let mut faulty_ids = Vec::new();
    for (i, (fault, protocol)) in faults.iter().enumerate() {
        let id = (i * 2 + 1) as u64;
        pool.push(proxy(id, *protocol, faulty(*fault).await.0, Some(1)));
        faulty_ids.push(ProxyId(id));
        if let Some((p, addr)) = good.next() {
            pool.push(proxy(id + 1, p, addr, Some(1)));
        }
    }
    let mut health = HealthSettings::default();
    health.breaker.cooldown = Duration::from_millis(1500);
    health.breaker.max_cooldown = Duration::from_millis(2000);
    let engine = engine(
        pool,
        r#"{"name":"rr","strategy":"round-robin","common_config":{"maxAttempts":3}}"#,
        health,
    );
    let sink = Arc::new(Collect::default());
    let gateway = Arc::new(Gateway::new(
        engine,
        logins(&[(1, "u", "p")]),
        sink.clone(),
        fast_settings(),
    ));
    let listener = listen(&gateway, Assignment::Rotation(vip_engine::ConfigId(1))).await;
    let total = 2_000;
    let mut ok = 0;
    let mut failures = Vec::new();
    for wave in 0..(total / 50) {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..50 {
            let addr = listener;
            let port = origin.addr.port();
            set.spawn(async move {
                if (wave * 50 + i) % 2 == 0 {
                    via_connect(addr, "127.0.0.1", port).await
                } else {
                    via_socks5(addr, "127.0.0.1", port).await
                }
            });
        }
        while let Some(r) = set.join_next().await {
            match r.unwrap() {
                Ok(body) if body.starts_with("127.0.0.") && body != "127.0.0.1" => ok += 1,
                other => failures.push(other),
            }
        }
    }
    assert!(
        ok * 1000 >= total * 999,
        "{ok}/{total} succeeded; failures: {:?}",
        &failures[..failures.len().min(5)]
    );
    let phases: Vec<BreakerPhase> = gateway.with_engine(|e| {
        faulty_ids
            .iter()
            .map(|id| e.status(*id).unwrap().breaker.phase())
            .collect()
    });
    assert!(
        phases.iter().all(|p| *p != BreakerPhase::Closed),
        "faulty breakers tripped: {phases:?}"
    );
    // After their cooldown (at most 2 s here) each one half-opens; probes
    // that fail open it again, so watch until every one has been seen half-open.
    let mut seen = vec![false; faulty_ids.len()];
    let started = std::time::Instant::now();
    while !seen.iter().all(|s| *s) {
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "never half-open: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = vip_gateway::now();
        let phases = gateway.with_engine(|e| {
            let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1);
            let _ = e.select(
                vip_engine::ConfigId(1),
                &vip_engine::SelectionRequest::new("x.test", now),
                &mut rng,
            );
            faulty_ids
                .iter()
                .map(|id| e.status(*id).unwrap().breaker.phase())
                .collect::<Vec<_>>()
        });
        for (s, p) in seen.iter_mut().zip(phases) {
            *s |= p == BreakerPhase::HalfOpen;
        }
    }
    gateway.shutdown(Duration::from_secs(2)).await;
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_clean_errors_and_leak_nothing() {
    let engine = engine(
        vec![],
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let gateway = Gateway::new(
        engine,
        logins(&[]),
        Arc::new(Collect::default()),
        fast_settings(),
    );
    let spec = ListenerSpec {
        assignment: Assignment::Rotation(vip_engine::ConfigId(1)),
        tab: None,
        auth: None,
        budget: None,
    };
    let l = gateway
        .listen("127.0.0.1:0".parse().unwrap(), spec.clone())
        .await
        .unwrap();
    async fn exchange(addr: SocketAddr, send: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(send).await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }
    let huge = format!(
        "GET http://a.test/ HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"CONNECT nonsense HTTP/1.1\r\n\r\n".to_vec(),
            "400 Bad Request",
        ),
        (
            b"CONNECT a.test:0 HTTP/1.1\r\n\r\n".to_vec(),
            "400 Bad Request",
        ),
        (b"GARBAGE\x00\x01\r\n\r\n".to_vec(), "400 Bad Request"),
        (
            b"GET /local HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "send absolute-form requests",
        ),
        (
            b"GET https://a.test/ HTTP/1.1\r\n\r\n".to_vec(),
            "use CONNECT",
        ),
        (huge.into_bytes(), "431"),
        (
            b"CONNECT a.test:443 HTTP/1.1\r\n\r\n".to_vec(),
            "502 Bad Gateway\r\n",
        ),
        (
            b"GET http://a.test/ HTTP/1.1\r\n\r\n".to_vec(),
            "has no enabled proxies",
        ),
        (
            vec![5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80],
            "\u{5}\u{0}\u{5}\u{7}",
        ),
    ];
    for (send, want) in &cases {
        let got = exchange(l.addr, send).await;
        assert!(
            got.contains(want),
            "sent {:?}: got {got:?}",
            String::from_utf8_lossy(&send[..send.len().min(40)])
        );
    }
    // Half a SOCKS greeting, then silence: closed after the client timeout.
    let mut s = TcpStream::connect(l.addr).await.unwrap();
    s.write_all(&[5, 2]).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "closed without a reply");
    // 10,000 bad requests leak no descriptor and no task.
    let before = open_fds();
    let bad: [&[u8]; 4] = [
        b"CONNECT x HTTP/1.1\r\n\r\n",
        b"\x05",
        b"GET / HTTP/1.1\r\n\r\n",
        b"\x05\x01\x00\x05\x09",
    ];
    for i in 0..10_000 {
        let mut s = TcpStream::connect(l.addr).await.unwrap();
        let _ = s.write_all(bad[i % bad.len()]).await;
        drop(s);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = open_fds();
    assert!(
        after <= before + 4,
        "descriptors before {before}, after {after}"
    );
    // Non-loopback without authentication is refused outright.
    let err = gateway
        .listen("0.0.0.0:0".parse().unwrap(), spec)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("never be an open proxy"));
    gateway.shutdown(Duration::from_secs(2)).await;
}
