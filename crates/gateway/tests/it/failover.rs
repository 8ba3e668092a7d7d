//! The gateway under faults, with default settings (no shortened
//! timeouts): fault-injecting upstreams of every kind (refuse, hang, reset,
//! reset mid-handshake, answer after 10 s, garbage, wrong SOCKS version,
//! 407, reset half their connections) beside real tinyproxy and microsocks
//! peers and a real tinyproxy configured with other credentials (real
//! 407s), behind absolute-form plain HTTP, CONNECT and SOCKS5 clients. Also
//! replay safety (a POST never reaches the origin twice; a GET whose first
//! upstream hangs reaches it once, through the second), hedging (never more
//! than two attempts in flight) and the retry budget under a failing pool.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vip_engine::{HealthSettings, Protocol};
use vip_gateway::{Assignment, AttemptEvent, GatewaySettings};
use vip_testkit::*;

#[derive(Clone, Copy, Debug)]
enum Client {
    Forward,
    Connect,
    Socks5,
}

const CLIENTS: [Client; 3] = [Client::Forward, Client::Connect, Client::Socks5];

/// One request through the gateway: Ok(exit address seen by the origin),
/// or what the client got instead.
async fn request(
    client: Client,
    gateway: SocketAddr,
    origin: SocketAddr,
) -> Result<String, String> {
    let port = origin.port();
    match client {
        Client::Forward => {
            let r = via_forward(gateway, "127.0.0.1", port).await;
            match r.split_once("\r\n\r\n") {
                Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
                _ => Err(r),
            }
        }
        Client::Connect => via_connect(gateway, "127.0.0.1", port)
            .await
            .map_err(|e| e.to_string()),
        Client::Socks5 => via_socks5(gateway, "127.0.0.1", port)
            .await
            .map_err(|e| e.to_string()),
    }
}

fn through_a_proxy(exit: &str) -> bool {
    exit.starts_with("127.0.0.") && exit != "127.0.0.1"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_the_pool_faulty_in_every_client_mode_with_default_settings() {
    let origin = Origin::start().await;
    let mut peers = Vec::new();
    let mut good = Vec::new();
    for i in 0..5u8 {
        let http = tinyproxy(&format!("127.0.0.{}", 2 + i), "u", "p");
        good.push((Protocol::Http, http.addr));
        peers.push(http);
        let socks = microsocks(&format!("127.0.0.{}", 10 + i), "u", "p");
        good.push((Protocol::Socks5, socks.addr));
        peers.push(socks);
    }
    // A real tinyproxy whose credentials differ from ours: real 407s.
    let wrong = tinyproxy("127.0.0.20", "u", "not-p");
    let flaky_behind = tinyproxy("127.0.0.21", "u", "p");
    let faults = [
        (Fault::Refuse, Protocol::Http),
        (Fault::Hang, Protocol::Socks5),
        (Fault::Reset, Protocol::Http),
        (Fault::MidReset, Protocol::Socks5),
        (Fault::Slow(Duration::from_secs(10)), Protocol::Http),
        (Fault::Garbage, Protocol::Http),
        (Fault::WrongSocksVersion, Protocol::Socks5),
        (Fault::Answer407, Protocol::Http),
        (Fault::Flaky(flaky_behind.addr), Protocol::Http),
        (Fault::Refuse, Protocol::Socks5),
    ];
    let mut pool = Vec::new();
    let mut id = 0u64;
    let mut next = || {
        id += 1;
        id
    };
    for (fault, protocol) in faults {
        let (addr, _) = faulty(fault).await;
        pool.push(proxy(next(), protocol, addr, Some(1)));
        if let Some((p, addr)) = good.pop() {
            pool.push(proxy(next(), p, addr, Some(1)));
        }
    }
    // Interleaved: the wrong-credentials tinyproxy takes a refusing one's
    // place.
    pool[18] = proxy(19, Protocol::Http, wrong.addr, Some(1));
    let engine = engine(
        pool,
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let (gateway, _) = collecting(engine, &[(1, "u", "p")], GatewaySettings::default());
    let listener = listen(&gateway, Assignment::Rotation(vip_engine::ConfigId(1))).await;
    let total = 2_000;
    let mut ok = 0;
    let mut failures = Vec::new();
    let started = Instant::now();
    for wave in 0..(total / 50) {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..50 {
            let client = CLIENTS[(wave * 50 + i) % 3];
            let origin = origin.addr;
            set.spawn(async move { (client, request(client, listener, origin).await) });
        }
        while let Some(r) = set.join_next().await {
            match r.unwrap() {
                (_, Ok(exit)) if through_a_proxy(&exit) => ok += 1,
                other => failures.push(format!("{other:?}")),
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "bounded in time"
        );
    }
    assert!(
        ok * 1000 >= total * 999,
        "{ok}/{total} succeeded; failures: {:#?}",
        &failures[..failures.len().min(5)]
    );
    gateway.shutdown(Duration::from_secs(1)).await;
    drop((peers, wrong, flaky_behind));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upstream_faulty_every_client_learns_it_within_the_budget() {
    let origin = Origin::start().await;
    let mut pool = Vec::new();
    let kinds = [
        (Fault::Hang, Protocol::Http),
        (Fault::Slow(Duration::from_secs(10)), Protocol::Http),
        (Fault::Hang, Protocol::Socks5),
        (Fault::MidReset, Protocol::Socks5),
        (Fault::Answer407, Protocol::Http),
        (Fault::Refuse, Protocol::Http),
    ];
    for (i, (fault, protocol)) in kinds.into_iter().enumerate() {
        pool.push(proxy(i as u64 + 1, protocol, faulty(fault).await.0, None));
    }
    let engine = engine(
        pool,
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let settings = GatewaySettings::default();
    let budget = settings.budget;
    let (gateway, _) = collecting(engine, &[], settings);
    let listener = listen(&gateway, Assignment::Rotation(vip_engine::ConfigId(1))).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..30 {
        let client = CLIENTS[i % 3];
        let origin = origin.addr;
        set.spawn(async move {
            let t = Instant::now();
            (client, request(client, listener, origin).await, t.elapsed())
        });
    }
    while let Some(r) = set.join_next().await {
        let (client, result, took) = r.unwrap();
        let error = result.expect_err("no upstream works");
        assert!(
            took <= budget + budget / 10,
            "{client:?} learnt after {took:?}: {error}"
        );
        match client {
            // The text names the proxies and what each did.
            Client::Forward | Client::Connect => {
                assert!(error.contains("vip: "), "{client:?}: {error}");
                assert!(error.contains("HTTP/1.1 50"), "{client:?}: {error}");
            }
            Client::Socks5 => assert!(error.starts_with("SOCKS5 reply"), "{error}"),
        }
    }
    gateway.shutdown(Duration::from_secs(1)).await;
}

/// An origin that counts requests by their `X-Request-Id`.
async fn counting_origin() -> (SocketAddr, Arc<Mutex<HashMap<String, usize>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let counts = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let counts = counts.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if !read_until(&mut s, &mut buf, has_head).await {
                    return;
                }
                let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                let id = head
                    .lines()
                    .find_map(|l| l.strip_prefix("x-request-id:"))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default();
                *counts.lock().unwrap().entry(id).or_insert(0) += 1;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (addr, seen)
}

/// An HTTP proxy that passes the request to the origin, then resets the
/// gateway's connection without answering.
async fn forwards_then_resets(origin: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if !read_until(&mut s, &mut buf, has_head).await {
                    return;
                }
                if let Ok(mut o) = TcpStream::connect(origin).await {
                    let _ = o.write_all(&buf).await;
                    let mut answer = [0u8; 256];
                    let _ = o.read(&mut answer).await;
                }
                reset_on_close(&s);
                drop(s);
            });
        }
    });
    addr
}

/// A gateway (failover strategy, default settings) over the HTTP proxy at
/// `first` (proxy 1), then a real tinyproxy (proxy 2).
async fn before_a_real_proxy(first: SocketAddr) -> (Peer, Running) {
    let good = tinyproxy("127.0.0.2", "u", "p");
    let pool = vec![
        proxy(1, Protocol::Http, first, None),
        proxy(2, Protocol::Http, good.addr, Some(2)),
    ];
    let running = start_gateway(
        pool,
        r#"{"name":"f","strategy":"failover"}"#,
        &[(2, "u", "p")],
        GatewaySettings::default(),
        Assignment::Rotation(ROTATION),
    )
    .await;
    (good, running)
}

async fn send(gateway: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(gateway).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_is_never_sent_twice_and_a_get_goes_on_to_the_next_proxy() {
    let (origin, counts) = counting_origin().await;
    // First in order: an upstream that forwards, then resets.
    let (_good, running) = before_a_real_proxy(forwards_then_resets(origin).await).await;
    let Running {
        gateway,
        sink,
        addr: listener,
    } = running;
    let o = origin;
    let post = send(
        listener,
        &format!("POST http://{o}/order HTTP/1.1\r\nHost: {o}\r\nX-Request-Id: post-1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"),
    )
    .await;
    assert!(post.starts_with("HTTP/1.1 502"), "{post}");
    assert!(post.contains("127.0.0.1:"), "names the proxy: {post}");
    // The same fault before a GET: it goes on to the next proxy, and the
    // origin sees it twice at most (once through each), never more.
    let get = send(
        listener,
        &format!("GET http://{o}/page HTTP/1.1\r\nHost: {o}\r\nX-Request-Id: get-1\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(get.starts_with("HTTP/1.1 200"), "{get}");
    let seen = counts.lock().unwrap().clone();
    assert_eq!(seen.get("post-1"), Some(&1), "{seen:?}");
    assert!(seen.get("get-1").is_some_and(|&n| n <= 2), "{seen:?}");
    // Counted: the POST's refusal and the GET's failover, as resets.
    let reset = vip_engine::FailureKind::ProxyReset;
    assert_eq!(sink.counted(1, AttemptEvent::ReplayRefused(reset)), 1);
    assert_eq!(sink.counted(1, AttemptEvent::Failover(reset)), 1);
    assert_eq!(sink.counted(2, AttemptEvent::Failover(reset)), 0);
    gateway.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_whose_first_upstream_hangs_reaches_the_origin_once_through_the_second() {
    let (origin, counts) = counting_origin().await;
    let (hang, hang_counts) = faulty(Fault::Hang).await;
    let (_good, running) = before_a_real_proxy(hang).await;
    let Running {
        gateway,
        sink,
        addr: listener,
    } = running;
    let o = origin;
    let t = Instant::now();
    let get = send(
        listener,
        &format!("GET http://{o}/page HTTP/1.1\r\nHost: {o}\r\nX-Request-Id: get-2\r\nConnection: close\r\n\r\n"),
    )
    .await;
    let took = t.elapsed();
    assert!(get.starts_with("HTTP/1.1 200"), "{get}");
    // Hedged: the second proxy was started long before the budget.
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(counts.lock().unwrap().get("get-2"), Some(&1));
    assert_eq!(hang_counts.accepted.load(Ordering::SeqCst), 1);
    // The hedge through the second won; the hanging one lost, was closed.
    assert_eq!(sink.counted(2, AttemptEvent::HedgeWon), 1);
    assert_eq!(sink.counted(1, AttemptEvent::HedgeLost), 1);
    // Closed after a short grace (what the winner took, at least 300 ms),
    // and counted as a timeout against the hanging proxy.
    let lost = Instant::now();
    while hang_counts.open.load(Ordering::SeqCst) > 0 {
        assert!(
            lost.elapsed() < Duration::from_secs(1),
            "the loser is still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failures = gateway.with_engine(|e| e.status(vip_engine::ProxyId(1)).unwrap().failures);
    assert_eq!(failures, 1, "the hang counts against its proxy");
    gateway.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_more_than_two_attempts_in_flight_and_the_retry_budget_holds() {
    let origin = Origin::start().await;
    // Four hanging upstreams: one request hedges once, then waits out its
    // budget with two attempts in flight, never three.
    let mut pool = Vec::new();
    let mut counts = Vec::new();
    for id in 1..=4 {
        let (addr, c) = faulty(Fault::Hang).await;
        pool.push(proxy(id, Protocol::Socks5, addr, None));
        counts.push(c);
    }
    let first = engine(
        pool,
        r#"{"name":"rr","strategy":"round-robin","common_config":{"maxAttempts":4}}"#,
        HealthSettings::default(),
    );
    let (gateway, sink) = collecting(first, &[], GatewaySettings::default());
    let listener = listen(&gateway, Assignment::Rotation(vip_engine::ConfigId(1))).await;
    let got = request(Client::Connect, listener, origin.addr).await;
    assert!(got.is_err(), "{got:?}");
    let accepted: usize = counts
        .iter()
        .map(|c| c.accepted.load(Ordering::SeqCst))
        .sum();
    assert_eq!(accepted, 2, "one attempt and one hedge");
    // The attempts are closed when the budget is spent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let open: usize = counts.iter().map(|c| c.open.load(Ordering::SeqCst)).sum();
    assert_eq!(open, 0, "attempts left open after the budget");
    let expired: usize = (1..=4)
        .map(|id| sink.counted(id, AttemptEvent::BudgetExpired))
        .sum();
    assert_eq!(
        expired, 2,
        "both attempts in flight counted at the budget's end"
    );
    gateway.shutdown(Duration::from_secs(1)).await;

    // A pool that resets everything, with breakers that never open: only
    // the retry budget keeps the attempts near one per request.
    let mut pool = Vec::new();
    let mut counts = Vec::new();
    for id in 1..=8 {
        let (addr, c) = faulty(Fault::Reset).await;
        pool.push(proxy(id, Protocol::Http, addr, None));
        counts.push(c);
    }
    let mut health = HealthSettings::default();
    health.breaker.consecutive_failures = u32::MAX;
    health.breaker.min_requests = u32::MAX;
    let second = engine(
        pool,
        r#"{"name":"rr","strategy":"round-robin","common_config":{"maxAttempts":3}}"#,
        health,
    );
    let (gateway, sink) = collecting(second, &[], GatewaySettings::default());
    let listener = listen(&gateway, Assignment::Rotation(vip_engine::ConfigId(1))).await;
    let requests = 600;
    for wave in 0..(requests / 50) {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..50 {
            let client = CLIENTS[(wave * 50 + i) % 3];
            let origin = origin.addr;
            set.spawn(async move { request(client, listener, origin).await });
        }
        while let Some(r) = set.join_next().await {
            assert!(r.unwrap().is_err());
        }
    }
    let accepted: usize = counts
        .iter()
        .map(|c| c.accepted.load(Ordering::SeqCst))
        .sum();
    // Without the budget: three attempts per request (1,800).
    let most = requests + requests / 5 + 100;
    assert!(
        accepted <= most,
        "{accepted} upstream connections for {requests} requests"
    );
    assert!(accepted >= requests, "{accepted}");
    let denied: usize = (1..=8)
        .map(|id| {
            sink.counted(
                id,
                AttemptEvent::RetryBudget(vip_engine::FailureKind::ProxyReset),
            )
        })
        .sum();
    assert!(denied > 0, "the retry budget's refusals are counted");
    gateway.shutdown(Duration::from_secs(1)).await;
}

/// A proxy address that can be taken down (connections refused) and
/// brought back, relaying to a real microsocks while up.
struct Switchable {
    addr: SocketAddr,
    behind: SocketAddr,
    up: Option<tokio::task::JoinHandle<()>>,
}

impl Switchable {
    async fn start(behind: SocketAddr) -> Switchable {
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let mut s = Switchable {
            addr,
            behind,
            up: None,
        };
        s.bring_up().await;
        s
    }

    async fn bring_up(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        let behind = self.behind;
        self.up = Some(tokio::spawn(async move {
            let mut relays = tokio::task::JoinSet::new();
            while let Ok((mut s, _)) = listener.accept().await {
                relays.spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(behind).await {
                        let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
                    }
                });
            }
        }));
    }

    /// Down: the listener and every relay end (the task is aborted).
    async fn take_down(&mut self) {
        if let Some(task) = self.up.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_upstream_carries_traffic_within_ten_seconds_without_clients() {
    let origin = Origin::start().await;
    let socks = microsocks("127.0.0.3", "u", "p");
    let mut upstream = Switchable::start(socks.addr).await;
    let engine = engine(
        vec![proxy(1, Protocol::Socks5, upstream.addr, Some(1))],
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let (gateway, _) = collecting(engine, &[(1, "u", "p")], GatewaySettings::default());
    let listener = listen(&gateway, Assignment::Rotation(vip_engine::ConfigId(1))).await;
    assert!(request(Client::Socks5, listener, origin.addr).await.is_ok());
    upstream.take_down().await;
    // Clients fail until the breaker opens (its cooldown is 30 s).
    for _ in 0..10 {
        let _ = request(Client::Connect, listener, origin.addr).await;
    }
    let phase =
        || gateway.with_engine(|e| e.status(vip_engine::ProxyId(1)).unwrap().breaker.phase());
    assert_eq!(phase(), vip_engine::BreakerPhase::Open);
    // No client traffic from here on.
    tokio::time::sleep(Duration::from_secs(3)).await;
    upstream.bring_up().await;
    let back = Instant::now();
    while phase() != vip_engine::BreakerPhase::Closed {
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "still {:?} after 10 s",
            phase()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = back.elapsed();
    let got = request(Client::Forward, listener, origin.addr).await;
    assert!(
        got.as_deref().is_ok_and(through_a_proxy),
        "{got:?} after {took:?}"
    );
    gateway.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_can_have_its_own_time_budget() {
    let origin = Origin::start().await;
    let mut pool = Vec::new();
    for id in 1..=3 {
        pool.push(proxy(
            id,
            Protocol::Socks5,
            faulty(Fault::Hang).await.0,
            None,
        ));
    }
    let engine = engine(
        pool,
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let (gateway, _) = collecting(engine, &[], GatewaySettings::default());
    let own = Duration::from_secs(1);
    let spec = vip_gateway::ListenerSpec {
        assignment: Assignment::Rotation(ROTATION),
        tab: None,
        auth: None,
        budget: Some(own),
    };
    let short = gateway
        .listen("127.0.0.1:0".parse().unwrap(), spec)
        .await
        .unwrap()
        .addr;
    let default = listen(&gateway, Assignment::Rotation(ROTATION)).await;
    let cases = [
        (short, own, &CLIENTS[..]),
        // The gateway's own budget on the other listener (one mode).
        (default, GatewaySettings::default().budget, &CLIENTS[1..2]),
    ];
    for (listener, budget, clients) in cases {
        for &client in clients {
            let t = Instant::now();
            let got = request(client, listener, origin.addr).await;
            let took = t.elapsed();
            assert!(got.is_err(), "{got:?}");
            assert!(
                took >= budget && took <= budget + budget / 10,
                "{client:?}: {took:?} against a budget of {budget:?}"
            );
        }
    }
    gateway.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_request_meeting_a_407_gets_a_502_that_names_the_proxy() {
    let (origin, counts) = counting_origin().await;
    let (first, _) = faulty(Fault::Answer407).await;
    let (_good, running) = before_a_real_proxy(first).await;
    let o = origin;
    // Chunked: the body is not held, so the request goes out once.
    let answer = send(
        running.addr,
        &format!("POST http://{o}/upload HTTP/1.1\r\nHost: {o}\r\nX-Request-Id: chunked-1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(
        answer.contains(&format!("proxy {first} answered 407 itself")),
        "{answer}"
    );
    assert!(!answer.contains("Proxy-Authenticate"), "{answer}");
    assert_eq!(counts.lock().unwrap().get("chunked-1"), None);
    let auth = vip_engine::FailureKind::ProxyAuth;
    assert_eq!(
        running.sink.counted(1, AttemptEvent::ReplayRefused(auth)),
        1
    );
    running.gateway.shutdown(Duration::from_secs(1)).await;
}
