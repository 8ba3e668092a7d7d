//! Request bodies on the plain-HTTP path: `Expect: 100-continue` answered by
//! the gateway (through real tinyproxy; ignored from HTTP/1.0 clients), an
//! upstream's early refusal relayed while the client is still sending a body
//! the upstream no longer reads (and that body taken, not reset), a
//! non-error early answer letting the body finish,
//! and interim `1xx` answers skipped, with and without a body; an idle
//! keep-alive connection does not hold up shutdown; a hung upstream gets a
//! 504 and a stalled client is let go after the idle timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vip_engine::{Protocol, ProxyId};
use vip_gateway::{Assignment, GatewaySettings};
use vip_testkit::*;

const CONFIG: &str = r#"{"name":"rr","strategy":"round-robin"}"#;

/// Reads until a whole head has arrived, within 5 s; returns what was read
/// and where the head ends.
async fn read_head(s: &mut TcpStream) -> (Vec<u8>, usize) {
    let mut buf = Vec::new();
    let got = tokio::time::timeout(Duration::from_secs(5), read_until(s, &mut buf, has_head))
        .await
        .expect("no answer within 5 s");
    assert!(
        got,
        "closed before a head: {}",
        String::from_utf8_lossy(&buf)
    );
    let end = head_end(&buf).unwrap();
    (buf, end)
}

/// Reads exactly one head.
async fn head(s: &mut TcpStream) -> String {
    let (buf, end) = read_head(s).await;
    assert_eq!(end, buf.len(), "more than one head arrived at once");
    String::from_utf8(buf).unwrap()
}

/// Reads a head and a Content-Length body; returns (head, body).
async fn answer(s: &mut TcpStream) -> (String, String) {
    let (buf, end) = read_head(s).await;
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let len: usize = head
        .to_ascii_lowercase()
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap();
    let mut body = buf[end..].to_vec();
    let mut rest = vec![0u8; len - body.len()];
    s.read_exact(&mut rest).await.unwrap();
    body.extend_from_slice(&rest);
    (head, String::from_utf8(body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_is_answered_and_the_body_goes_through() {
    let origin = Origin::start().await;
    let http = tinyproxy("127.0.0.2", "tuser", "tpass");
    let pool = vec![proxy(1, Protocol::Http, http.addr, Some(1))];
    let gw = start_gateway(
        pool,
        CONFIG,
        &[(1, "tuser", "tpass")],
        GatewaySettings::default(),
        Assignment::Pinned(ProxyId(1)),
    )
    .await;
    let port = origin.addr.port();
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    for round in 0..2 {
        let ask = format!(
            "POST http://127.0.0.1:{port}/up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n"
        );
        s.write_all(ask.as_bytes()).await.unwrap();
        // The client waits for the interim answer before sending its body.
        assert_eq!(
            head(&mut s).await,
            "HTTP/1.1 100 Continue\r\n\r\n",
            "round {round}"
        );
        s.write_all(b"hello world").await.unwrap();
        let (head, body) = answer(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("Connection: keep-alive"), "{head}");
        assert_eq!(body, "127.0.0.2", "through tinyproxy");
    }
    gw.gateway.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http10_clients_expectation_is_ignored() {
    let origin = Origin::start().await;
    let gw = start_gateway(
        Vec::new(),
        CONFIG,
        &[],
        GatewaySettings::default(),
        Assignment::Direct,
    )
    .await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let ask = format!(
        "POST http://127.0.0.1:{}/up HTTP/1.0\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\nhello world",
        origin.addr.port()
    );
    s.write_all(ask.as_bytes()).await.unwrap();
    let out = read_to_close(&mut s, "answered and closed").await;
    assert!(
        out.starts_with("HTTP/1.1 200"),
        "an HTTP/1.0 client gets no interim 100 (RFC 9110 10.1.1): {out}"
    );
}

/// An in-test upstream HTTP proxy running `script` on its first connection.
async fn fake_upstream<F, Fut>(script: F) -> SocketAddr
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        script(s).await;
    });
    addr
}

async fn pinned_to(upstream: SocketAddr) -> Running {
    pinned_with(upstream, GatewaySettings::default()).await
}

async fn pinned_with(upstream: SocketAddr, settings: GatewaySettings) -> Running {
    start_gateway(
        vec![proxy(1, Protocol::Http, upstream, None)],
        CONFIG,
        &[],
        settings,
        Assignment::Pinned(ProxyId(1)),
    )
    .await
}

fn quick_idle() -> GatewaySettings {
    GatewaySettings {
        idle_timeout: Duration::from_millis(300),
        ..GatewaySettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_never_answers_gets_a_504_after_the_idle_timeout() {
    let upstream = fake_upstream(|mut s| async move {
        let mut buf = Vec::new();
        read_until(&mut s, &mut buf, has_head).await;
        tokio::time::sleep(Duration::from_secs(20)).await;
    })
    .await;
    let gw = pinned_with(upstream, quick_idle()).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET http://origin.test/slow HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        .await
        .unwrap();
    let (head, body) = answer(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 504"), "{head}");
    assert!(body.contains("timed out during answer"), "{body}");
    gw.gateway.shutdown(Duration::from_secs(1)).await;
    let records = gw.sink.connections.lock().unwrap();
    assert!(
        records.iter().any(|r| r.target == "origin.test"
            && !r.ok
            && r.failure == Some(vip_engine::FailureKind::ProxyTimeout)),
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_limit_counts_from_the_last_byte_either_way() {
    // A slow upload (0.9 s) and an answer 0.5 s after it: 1.4 s without an
    // answer in all, but never 1 s with nothing moving.
    let upstream = fake_upstream(|mut s| async move {
        let mut buf = Vec::new();
        read_until(&mut s, &mut buf, has_head).await;
        let end = head_end(&buf).unwrap();
        read_until(&mut s, &mut buf, |b| b.len() >= end + 50).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let settings = GatewaySettings {
        idle_timeout: Duration::from_secs(1),
        ..GatewaySettings::default()
    };
    let gw = pinned_with(upstream, settings).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(
        b"POST http://origin.test/up HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 50\r\n\r\n",
    )
    .await
    .unwrap();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(180)).await;
        s.write_all(b"0123456789").await.unwrap();
    }
    let (head, body) = answer(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "ok");
    gw.gateway.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_mid_body_is_let_go_after_the_idle_timeout() {
    // The upstream takes whatever comes and never answers.
    let upstream = fake_upstream(|mut s| async move {
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut sink)).await;
    })
    .await;
    let gw = pinned_with(upstream, quick_idle()).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    // Larger than the replay buffer: streamed as it comes, not held.
    s.write_all(b"POST http://origin.test/up HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 100000\r\n\r\nonly ten..")
        .await
        .unwrap();
    // Then nothing more: the gateway gives up on the body and closes.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("a stalled body held the connection")
        .ok();
    gw.gateway.shutdown(Duration::from_secs(1)).await;
    let records = gw.sink.connections.lock().unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.target == "origin.test" && r.bytes_up > 0),
        "{records:?}"
    );
}

/// An upstream that refuses (413) as soon as it has the head and then
/// reads nothing more, keeping its connection open (bounded: 20 s).
async fn refusing_upstream() -> SocketAddr {
    fake_upstream(|mut s| async move {
        let mut buf = Vec::new();
        read_until(&mut s, &mut buf, has_head).await;
        s.write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big!")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(20)).await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_answer_arrives_while_the_body_is_still_being_sent() {
    let upstream = refusing_upstream().await;
    let gw = pinned_to(upstream).await;
    let s = TcpStream::connect(gw.addr).await.unwrap();
    let (mut read, mut write) = s.into_split();
    let size = 64 * 1024 * 1024;
    write
        .write_all(
            format!("POST http://origin.test/up HTTP/1.1\r\nHost: origin.test\r\nContent-Length: {size}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let sender = tokio::spawn(async move {
        let chunk = vec![7u8; 64 * 1024];
        for _ in 0..size / chunk.len() {
            if write.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let mut buf = Vec::new();
    let got = tokio::time::timeout(
        Duration::from_secs(5),
        read_until(&mut read, &mut buf, |b| b.ends_with(b"too big!")),
    )
    .await
    .expect("the upstream's early answer did not reach the client within 5 s");
    assert!(got);
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("Connection: close"), "{text}");
    // The rest of the body is never read, so the gateway closes.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), read.read_to_end(&mut rest))
        .await
        .expect("client connection not closed")
        .ok();
    assert!(rest.is_empty());
    sender.abort();
    gw.gateway.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_still_sending_after_a_refusal_is_not_reset() {
    // The client sends its whole body before it reads (as simple clients
    // do): the gateway must take and drop the rest, not reset the connection.
    let upstream = refusing_upstream().await;
    let gw = pinned_to(upstream).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let size = 32 * 1024 * 1024;
    let ask = format!(
        "POST http://origin.test/up HTTP/1.1\r\nHost: origin.test\r\nContent-Length: {size}\r\n\r\n"
    );
    s.write_all(ask.as_bytes()).await.unwrap();
    let body = vec![7u8; size];
    tokio::time::timeout(Duration::from_secs(10), s.write_all(&body))
        .await
        .expect("the body was not taken within 10 s")
        .expect("the gateway reset the connection under the client's body");
    let (head, text) = answer(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert_eq!(text, "too big!");
    gw.gateway.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_error_early_answer_lets_the_body_finish() {
    // The upstream answers 200 as soon as it has the head, then reads the
    // whole body (RFC 9112 9.5: the client goes on sending).
    let (tx, rx) = tokio::sync::oneshot::channel();
    let upstream = fake_upstream(|mut s| async move {
        let mut buf = Vec::new();
        read_until(&mut s, &mut buf, has_head).await;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await
            .unwrap();
        let end = head_end(&buf).unwrap();
        read_until(&mut s, &mut buf, |b| b.len() >= end + 10).await;
        let _ = tx.send(buf.len() - end);
    })
    .await;
    let gw = pinned_to(upstream).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST http://origin.test/up HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 10\r\n\r\nhello")
        .await
        .unwrap();
    // The upstream's answer reaches the gateway before the rest is sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.write_all(b"world").await.unwrap();
    let (head, text) = answer(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(text, "ok");
    let got = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("the upstream never had the whole body")
        .unwrap();
    assert_eq!(got, 10, "the whole body reached the upstream");
    assert!(
        head.contains("Connection: keep-alive"),
        "the exchange ended cleanly, so the connection is kept: {head}"
    );
    gw.gateway.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interim_answers_are_skipped_with_and_without_a_body() {
    for with_body in [false, true] {
        let upstream = fake_upstream(move |mut s| async move {
            let mut buf = Vec::new();
            read_until(&mut s, &mut buf, has_head).await;
            let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
            assert!(!text.contains("expect:"), "Expect passed on: {text}");
            // An interim answer at once, before the body is read.
            s.write_all(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
                .await
                .unwrap();
            if with_body {
                let end = head_end(&buf).unwrap();
                read_until(&mut s, &mut buf, |b| b.len() >= end + 5).await;
                assert_eq!(&buf[end..], b"hello");
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await
                .unwrap();
        })
        .await;
        let gw = pinned_to(upstream).await;
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        if with_body {
            s.write_all(b"POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
                .await
                .unwrap();
            assert_eq!(head(&mut s).await, "HTTP/1.1 100 Continue\r\n\r\n");
            s.write_all(b"hello").await.unwrap();
        } else {
            s.write_all(b"GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n")
                .await
                .unwrap();
        }
        let (head, body) = answer(&mut s).await;
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "with body {with_body}: {head}"
        );
        assert!(
            head.contains("Connection: keep-alive"),
            "with body {with_body}: {head}"
        );
        assert_eq!(body, "ok");
        // Shutting down closes this idle keep-alive connection at once
        // rather than waiting out the grace period.
        tokio::time::timeout(
            Duration::from_secs(5),
            gw.gateway.shutdown(Duration::from_secs(60)),
        )
        .await
        .expect("an idle keep-alive connection held up shutdown");
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }
}
