//! Protocol upgrades on the plain-HTTP path (a WebSocket handshake sent to
//! the gateway as an absolute-form request, as some clients do instead of
//! CONNECT): the handshake reaches the origin with `Connection: Upgrade`
//! through a real microsocks upstream, the `101` comes back, and from then
//! on bytes flow both ways and are counted. Headers the client's
//! `Connection` names stay on this hop; a `101` nobody asked for is refused.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vip_engine::{Protocol, ProxyId};
use vip_gateway::{Assignment, GatewaySettings};
use vip_testkit::*;

const CONFIG: &str = r#"{"name":"rr","strategy":"round-robin"}"#;
const SWITCH: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello";

/// An origin that answers every request with `101` plus "hello" in the same
/// write, then echoes until the client ends; it keeps each request head.
async fn switching_origin() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if !read_until(&mut s, &mut buf, has_head).await {
                    return;
                }
                let end = head_end(&buf).unwrap();
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..end]).to_lowercase());
                s.write_all(SWITCH).await.unwrap();
                s.write_all(&buf[end..]).await.unwrap();
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, heads)
}

async fn gateway_over_microsocks() -> (Running, Peer) {
    let socks = microsocks("127.0.0.3", "su", "sp-secret");
    let pool = vec![proxy(1, Protocol::Socks5, socks.addr, Some(1))];
    let gw = start_gateway(
        pool,
        CONFIG,
        &[(1, "su", "sp-secret")],
        GatewaySettings::default(),
        Assignment::Pinned(ProxyId(1)),
    )
    .await;
    (gw, socks)
}

/// Reads exactly `n` bytes within 5 s.
async fn exactly(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
        .await
        .expect("nothing within 5 s")
        .unwrap();
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_handshake_switches_and_relays_both_ways() {
    let (origin, heads) = switching_origin().await;
    let (gw, _socks) = gateway_over_microsocks().await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let ask = format!(
        "GET http://127.0.0.1:{}/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Connection: keep-alive, Upgrade, X-Hop\r\nUpgrade: websocket\r\n\
         X-Hop: only-to-the-gateway\r\nX-End: to-the-origin\r\n\r\n",
        origin.port()
    );
    s.write_all(ask.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    assert!(read_until(&mut s, &mut buf, has_head).await);
    let end = head_end(&buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket\r\n"), "{head}");
    assert!(head.contains("connection: upgrade\r\n"), "{head}");
    let mut early = buf[end..].to_vec();
    early.extend(exactly(&mut s, 5 - early.len()).await);
    assert_eq!(early, b"hello", "bytes sent with the 101 reach the client");

    // Frames both ways, several rounds, then the client ends.
    for round in 0..3 {
        let frame = format!("frame {round}");
        s.write_all(frame.as_bytes()).await.unwrap();
        assert_eq!(exactly(&mut s, frame.len()).await, frame.as_bytes());
    }
    s.shutdown().await.unwrap();
    let rest = read_to_close(&mut s, "the relay ends when both sides have").await;
    assert!(rest.is_empty());

    let origin_saw = heads.lock().unwrap()[0].clone();
    assert!(origin_saw.starts_with("get /chat http/1.1"), "{origin_saw}");
    assert!(
        origin_saw.contains("connection: upgrade\r\n"),
        "{origin_saw}"
    );
    assert!(
        origin_saw.contains("upgrade: websocket\r\n"),
        "{origin_saw}"
    );
    assert!(origin_saw.contains("x-end: to-the-origin"), "{origin_saw}");
    assert!(
        !origin_saw.contains("x-hop"),
        "a header the client's Connection names stays on this hop: {origin_saw}"
    );

    let records = {
        let started = std::time::Instant::now();
        loop {
            let r = gw.sink.connections.lock().unwrap().clone();
            if !r.is_empty() || started.elapsed() > Duration::from_secs(5) {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert_eq!(records.len(), 1, "one usage record for the exchange");
    let r = &records[0];
    assert!(r.ok && r.proxy == Some(ProxyId(1)));
    let frames = ["frame 0", "frame 1", "frame 2"]
        .iter()
        .map(|f| f.len() as u64)
        .sum::<u64>();
    // Exactly: the head the origin saw plus the frames up; the head the
    // client got, "hello" and the echoed frames down.
    assert_eq!(
        (r.bytes_up, r.bytes_down),
        (origin_saw.len() as u64 + frames, end as u64 + 5 + frames),
        "frames are counted both ways"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_nobody_asked_for_is_refused() {
    let (origin, _heads) = switching_origin().await;
    let (gw, _socks) = gateway_over_microsocks().await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let ask = format!(
        "GET http://127.0.0.1:{}/plain HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        origin.port()
    );
    s.write_all(ask.as_bytes()).await.unwrap();
    let out = read_to_close(&mut s, "the gateway answers and closes").await;
    assert!(out.starts_with("HTTP/1.1 502"), "{out}");
    assert!(out.contains("switched protocols"), "{out}");
}
