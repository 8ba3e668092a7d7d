//! Real Debian proxies as upstreams: tinyproxy (HTTP, Basic auth) and
//! microsocks (SOCKS5, username/password), each sending its outgoing
//! connections from its own loopback address. For every inbound protocol
//! (HTTP CONNECT, absolute-form HTTP, SOCKS5) × upstream, the origin sees the
//! connection arrive from the intended upstream, never directly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use vip_engine::{HealthSettings, Protocol, ProxyId};
use vip_gateway::{Assignment, Gateway, GatewaySettings, ListenerSpec};
use vip_testkit::*;

/// tinyproxy (exits from 127.0.0.2) as proxy 1 and microsocks (127.0.0.3) as
/// proxy 2, with rotation 1 from `config` and the given passwords.
fn two_upstreams(config: &str, passwords: (&str, &str)) -> (Peer, Peer, Gateway, Arc<Collect>) {
    let http = tinyproxy("127.0.0.2", "tuser", "tpass");
    let socks = microsocks("127.0.0.3", "suser", "spass");
    let pool = vec![
        proxy(1, Protocol::Http, http.addr, Some(1)),
        proxy(2, Protocol::Socks5, socks.addr, Some(2)),
    ];
    let sink = Arc::new(Collect::default());
    let credentials = logins(&[(1, "tuser", passwords.0), (2, "suser", passwords.1)]);
    let gateway = Gateway::new(
        engine(pool, config, HealthSettings::default()),
        credentials,
        sink.clone(),
        GatewaySettings::default(),
    );
    (http, socks, gateway, sink)
}

/// [`two_upstreams`] under round-robin with the right passwords.
fn round_robin() -> (Peer, Peer, Gateway, Arc<Collect>) {
    two_upstreams(
        r#"{"name":"rr","strategy":"round-robin"}"#,
        ("tpass", "spass"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_inbound_protocol_through_every_upstream_protocol() {
    let origin = Origin::start().await;
    let (_http, _socks, gateway, sink) = round_robin();
    for (id, exit) in [(1u64, "127.0.0.2"), (2, "127.0.0.3")] {
        let listener = listen(&gateway, Assignment::Pinned(ProxyId(id))).await;
        let port = origin.addr.port();
        assert_eq!(
            via_connect(listener, "127.0.0.1", port).await.unwrap(),
            exit,
            "CONNECT via proxy {id}"
        );
        assert_eq!(
            via_socks5(listener, "127.0.0.1", port).await.unwrap(),
            exit,
            "SOCKS5 via proxy {id}"
        );
        // A host name, resolved by the upstream (never by the gateway).
        assert_eq!(
            via_socks5(listener, "localhost", port).await.unwrap(),
            exit,
            "SOCKS5 name via proxy {id}"
        );
        let forwarded = via_forward(listener, "127.0.0.1", port).await;
        assert!(
            forwarded.starts_with("HTTP/1.1 200"),
            "forward via proxy {id}: {forwarded}"
        );
        assert!(
            forwarded.ends_with(exit),
            "forward via proxy {id}: {forwarded}"
        );
    }
    assert!(
        !origin
            .peers
            .lock()
            .unwrap()
            .iter()
            .any(|p| p == "127.0.0.1"),
        "nothing reached the origin directly"
    );
    // The shared rotation alternates between both upstreams.
    let shared = gateway
        .listen(
            "127.0.0.1:0".parse().unwrap(),
            ListenerSpec {
                assignment: Assignment::Rotation(vip_engine::ConfigId(1)),
                tab: None,
                auth: None,
                budget: None,
            },
        )
        .await
        .unwrap();
    let mut exits = Vec::new();
    for _ in 0..4 {
        exits.push(
            via_connect(shared.addr, "127.0.0.1", origin.addr.port())
                .await
                .unwrap(),
        );
    }
    exits.sort();
    assert_eq!(
        exits,
        vec!["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"]
    );
    gateway.shutdown(std::time::Duration::from_secs(2)).await;
    let by_proxy = sink.ok_by_proxy();
    assert_eq!(by_proxy.get(&Some(ProxyId(1))), Some(&6));
    assert_eq!(by_proxy.get(&Some(ProxyId(2))), Some(&6));
    assert!(
        sink.connections
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.ok && r.bytes_down > 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_the_proxys_fault_and_fail_over() {
    let origin = Origin::start().await;
    let (_http, _socks, gateway, sink) = two_upstreams(
        r#"{"name":"f","strategy":"failover","strategy_config":{"failoverOrder":[1,2]}}"#,
        ("WRONG", "spass"),
    );
    let listener = listen(&gateway, Assignment::Rotation(vip_engine::ConfigId(1))).await;
    assert_eq!(
        via_connect(listener, "127.0.0.1", origin.addr.port())
            .await
            .unwrap(),
        "127.0.0.3"
    );
    let failed: Vec<_> = sink
        .connections
        .lock()
        .unwrap()
        .iter()
        .filter(|r| !r.ok)
        .map(|r| (r.proxy, r.failure))
        .collect();
    assert_eq!(
        failed,
        vec![(Some(ProxyId(1)), Some(vip_engine::FailureKind::ProxyAuth))]
    );
    gateway.shutdown(std::time::Duration::from_secs(1)).await;
}

/// Reads one response framed by Content-Length; returns (head, body).
async fn read_response(s: &mut tokio::net::TcpStream) -> (String, String) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).await.unwrap(),
            1,
            "closed mid-head: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    (head, String::from_utf8(body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_keeps_the_client_connection_alive() {
    use tokio::io::AsyncWriteExt;
    let origin = Origin::start().await;
    let (_http, _socks, gateway, sink) = round_robin();
    let listener = listen(&gateway, Assignment::Rotation(vip_engine::ConfigId(1))).await;
    let port = origin.addr.port();
    let mut s = tokio::net::TcpStream::connect(listener).await.unwrap();
    let mut exits = Vec::new();
    for i in 0..5 {
        let request = if i == 3 {
            format!(
                "POST http://127.0.0.1:{port}/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
            )
        } else if i == 2 {
            format!(
                "POST http://127.0.0.1:{port}/form HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 5\r\n\r\nhello"
            )
        } else {
            format!("GET http://127.0.0.1:{port}/{i} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
        };
        s.write_all(request.as_bytes()).await.unwrap();
        let (head, body) = read_response(&mut s).await;
        assert!(
            head.starts_with("HTTP/1.1 200") && head.contains("Connection: keep-alive"),
            "{head}"
        );
        exits.push(body);
    }
    exits.sort();
    assert_eq!(
        exits,
        vec![
            "127.0.0.2",
            "127.0.0.2",
            "127.0.0.2",
            "127.0.0.3",
            "127.0.0.3"
        ],
        "one client connection, rotated per request"
    );
    // A client asking to close gets its answer and then the close.
    s.write_all(
        format!(
            "GET http://127.0.0.1:{port}/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (head, _) = read_response(&mut s).await;
    assert!(head.contains("Connection: close"), "{head}");
    let mut rest = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut s, &mut rest)
        .await
        .unwrap();
    assert!(rest.is_empty());
    gateway.shutdown(std::time::Duration::from_secs(1)).await;
    assert_eq!(sink.ok_by_proxy().values().sum::<usize>(), 6);
}

/// A malformed chunked request body gets a 400 that says so (not a silent
/// hang-up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_chunked_body_gets_400() {
    use tokio::io::AsyncWriteExt;
    let (_http, _socks, gateway, _sink) = round_robin();
    let listener = listen(&gateway, Assignment::Pinned(ProxyId(2))).await;
    let origin = Origin::start().await;
    let mut s = tokio::net::TcpStream::connect(listener).await.unwrap();
    let request = format!(
        "POST http://127.0.0.1:{}/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
        origin.addr.port()
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let (head, body) = read_response(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(body.contains("chunk size is not hexadecimal"), "{body}");
    gateway.shutdown(std::time::Duration::from_secs(1)).await;
}

/// A SOCKS5 client that sends its greeting, request and first data in one
/// write (no waiting for the replies) still reaches the origin with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks5_greeting_request_and_data_in_one_write() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let origin = Origin::start().await;
    let (_http, _socks, gateway, _sink) = round_robin();
    let listener = listen(&gateway, Assignment::Pinned(ProxyId(2))).await;
    let mut all = vec![5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1];
    all.extend_from_slice(&origin.addr.port().to_be_bytes());
    all.extend_from_slice(b"GET / HTTP/1.1\r\nHost: o\r\n\r\n");
    let mut s = tokio::net::TcpStream::connect(listener).await.unwrap();
    s.write_all(&all).await.unwrap();
    let mut replies = [0u8; 12];
    s.read_exact(&mut replies).await.unwrap();
    assert_eq!(&replies[..4], &[5, 0, 5, 0], "{replies:?}");
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        s.read_to_end(&mut answer),
    )
    .await
    .expect("no answer")
    .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("127.0.0.3"),
        "{text}"
    );
    gateway.shutdown(std::time::Duration::from_secs(1)).await;
}
