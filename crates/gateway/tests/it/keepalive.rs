//! Upstream keep-alive on the plain-HTTP path, with default settings:
//! sequential requests through one proxy (a real microsocks, and a real
//! privoxy) share one upstream connection, whichever client connection
//! they came on; chunked and sized answers both leave the connection
//! reusable; an origin that closes an idle connection (before or just as
//! the next request goes out, the keep-alive race) costs the client
//! nothing and the proxy no failure; two tabs never share a connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vip_engine::{HealthSettings, Protocol, ProxyId, TabId};
use vip_gateway::{Assignment, Gateway, GatewaySettings, ListenerSpec};
use vip_testkit::*;

/// How the keep-alive origin treats a connection.
#[derive(Clone, Copy)]
enum Manner {
    /// Answers every request on it, sized and chunked in turn.
    Keeps,
    /// Answers the first request, then reads the second and closes without
    /// answering (it timed the connection out just as the request came).
    ClosesOnSecond,
    /// Answers the first request, then closes after `ms` of quiet.
    ClosesIdleAfter(u64),
}

struct KeepOrigin {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

async fn keep_origin(manner: Manner) -> KeepOrigin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (c, r) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                for n in 0usize.. {
                    let wait = match manner {
                        Manner::ClosesIdleAfter(ms) if n > 0 => Duration::from_millis(ms),
                        _ => Duration::from_secs(60),
                    };
                    let got = tokio::time::timeout(wait, read_until(&mut s, &mut buf, has_head));
                    if !matches!(got.await, Ok(true)) {
                        return;
                    }
                    let end = head_end(&buf).unwrap();
                    buf.drain(..end);
                    if matches!(manner, Manner::ClosesOnSecond) && n == 1 {
                        return;
                    }
                    let count = r.fetch_add(1, Ordering::SeqCst) + 1;
                    let body = format!("answer {count}");
                    let reply = if n % 2 == 0 {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        format!(
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                            body.len()
                        )
                    };
                    if s.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    KeepOrigin {
        addr,
        connections,
        requests,
    }
}

/// A TCP relay in front of `behind` that counts the connections it takes.
async fn counting_relay(behind: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let seen = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut up) = TcpStream::connect(behind).await {
                    let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
                }
            });
        }
    });
    (addr, accepted)
}

/// Reads one response (sized or chunked) from `s`; returns its body.
async fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    assert!(
        read_until(s, &mut buf, has_head).await,
        "no response head: {:?}",
        String::from_utf8_lossy(&buf)
    );
    let end = head_end(&buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    if head.contains("transfer-encoding: chunked") {
        assert!(
            read_until(s, &mut buf, |b| b.ends_with(b"\r\n0\r\n\r\n")).await,
            "chunked body cut short"
        );
        let body = String::from_utf8_lossy(&buf[end..]).into_owned();
        body.lines().nth(1).unwrap_or_default().to_string()
    } else {
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        assert!(read_until(s, &mut buf, |b| b.len() >= end + length).await);
        String::from_utf8_lossy(&buf[end..end + length]).into_owned()
    }
}

/// Sends GET /page/N (asking to close when `close`) on `client` and reads
/// the answer's body.
async fn get(client: &mut TcpStream, origin: SocketAddr, n: usize, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    let request =
        format!("GET http://{origin}/page/{n} HTTP/1.1\r\nHost: {origin}\r\n{connection}\r\n");
    client.write_all(request.as_bytes()).await.unwrap();
    read_response(client).await
}

async fn gateway_over(
    protocol: Protocol,
    upstream: SocketAddr,
    login: bool,
) -> (Gateway, SocketAddr) {
    let engine = engine(
        vec![proxy(1, protocol, upstream, login.then_some(1))],
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let (gateway, _) = collecting(engine, &[(1, "u", "p")], GatewaySettings::default());
    let addr = listen(&gateway, Assignment::Rotation(ROTATION)).await;
    (gateway, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_through_one_proxy_share_one_upstream_connection() {
    let socks = microsocks("127.0.0.2", "u", "p");
    // tinyproxy closes every connection after one request; privoxy keeps.
    let http = privoxy();
    for (protocol, peer, login) in [
        (Protocol::Socks5, &socks, true),
        (Protocol::Http, &http, false),
    ] {
        let origin = keep_origin(Manner::Keeps).await;
        let (relay, dialled) = counting_relay(peer.addr).await;
        let (gateway, listener) = gateway_over(protocol, relay, login).await;
        // Twenty requests on one client connection, then twenty more each
        // on a client connection of its own.
        let mut client = TcpStream::connect(listener).await.unwrap();
        for n in 0..20 {
            assert_eq!(
                get(&mut client, origin.addr, n, false).await,
                format!("answer {}", n + 1)
            );
        }
        drop(client);
        for n in 20..40 {
            let mut client = TcpStream::connect(listener).await.unwrap();
            assert_eq!(
                get(&mut client, origin.addr, n, true).await,
                format!("answer {}", n + 1)
            );
        }
        assert_eq!(origin.requests.load(Ordering::SeqCst), 40);
        let (to_proxy, to_origin) = (
            dialled.load(Ordering::SeqCst),
            origin.connections.load(Ordering::SeqCst),
        );
        assert_eq!(
            (to_proxy, to_origin),
            (1, 1),
            "{protocol:?}: 40 requests opened {to_proxy} proxy and {to_origin} origin connections"
        );
        gateway.shutdown(Duration::from_secs(1)).await;
    }
}

/// The engine's count of failures through proxy 1.
fn failures(gateway: &Gateway) -> u64 {
    gateway.with_engine(|e| e.status(ProxyId(1)).unwrap().failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_closing_an_idle_connection_costs_neither_client_nor_proxy() {
    let socks = microsocks("127.0.0.2", "u", "p");
    for manner in [Manner::ClosesOnSecond, Manner::ClosesIdleAfter(100)] {
        let origin = keep_origin(manner).await;
        let (relay, dialled) = counting_relay(socks.addr).await;
        let (gateway, listener) = gateway_over(Protocol::Socks5, relay, true).await;
        for n in 0..6 {
            let mut client = TcpStream::connect(listener).await.unwrap();
            let body = get(&mut client, origin.addr, n, true).await;
            assert!(body.starts_with("answer "), "{body}");
            // Past the idle origin's limit.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(origin.requests.load(Ordering::SeqCst), 6);
        // Each request found its pooled connection closed (or closing) and
        // went out on a fresh one, as the first did.
        assert_eq!(dialled.load(Ordering::SeqCst), 6);
        assert_eq!(failures(&gateway), 0, "the proxy was not blamed");
        gateway.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_never_share_an_upstream_connection() {
    let socks = microsocks("127.0.0.2", "u", "p");
    let origin = keep_origin(Manner::Keeps).await;
    let (relay, dialled) = counting_relay(socks.addr).await;
    let engine = engine(
        vec![proxy(1, Protocol::Socks5, relay, Some(1))],
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let (gateway, _) = collecting(engine, &[(1, "u", "p")], GatewaySettings::default());
    let mut listeners = Vec::new();
    for tab in [1, 2] {
        let spec = ListenerSpec {
            assignment: Assignment::Rotation(ROTATION),
            tab: Some(TabId(tab)),
            auth: None,
            budget: None,
        };
        let l = gateway
            .listen("127.0.0.1:0".parse().unwrap(), spec)
            .await
            .unwrap();
        listeners.push(l.addr);
    }
    for n in 0..10 {
        let mut client = TcpStream::connect(listeners[n % 2]).await.unwrap();
        get(&mut client, origin.addr, n, true).await;
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest).await;
    }
    // One connection per tab, each reused by its own tab only.
    assert_eq!(dialled.load(Ordering::SeqCst), 2);
    assert_eq!(origin.connections.load(Ordering::SeqCst), 2);
    gateway.shutdown(Duration::from_secs(1)).await;
}
