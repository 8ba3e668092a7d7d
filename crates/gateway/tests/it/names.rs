//! Host names go to the upstream unresolved (a name only the upstream can
//! resolve still works, and the upstream receives the name), and shutting
//! down with connections in flight loses none of their usage records.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vip_engine::{Protocol, ProxyId};
use vip_gateway::{Assignment, GatewaySettings};
use vip_testkit::*;

/// A SOCKS5 upstream that knows one private name: `only-upstream.invalid`
/// resolves (for it alone) to `origin`. It records every name it is asked for.
async fn naming_upstream(origin: SocketAddr, names: Arc<Mutex<Vec<String>>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let names = names.clone();
            tokio::spawn(async move {
                let mut greeting = [0u8; 3];
                s.read_exact(&mut greeting).await.unwrap();
                s.write_all(&[5, 0]).await.unwrap();
                let mut head = [0u8; 5];
                s.read_exact(&mut head).await.unwrap();
                assert_eq!(head[3], 3, "the target must arrive as a domain name");
                let mut name = vec![0u8; usize::from(head[4])];
                s.read_exact(&mut name).await.unwrap();
                let mut port = [0u8; 2];
                s.read_exact(&mut port).await.unwrap();
                let name = String::from_utf8(name).unwrap();
                names.lock().unwrap().push(name.clone());
                if name != "only-upstream.invalid" {
                    let _ = s.write_all(&[5, 4, 0, 1, 0, 0, 0, 0, 0, 0]).await;
                    return;
                }
                let mut up = TcpStream::connect(origin).await.unwrap();
                s.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_resolved_only_by_the_upstream() {
    let origin = Origin::start().await;
    let names = Arc::new(Mutex::new(Vec::new()));
    let upstream = naming_upstream(origin.addr, names.clone()).await;
    let Running {
        gateway,
        sink: _,
        addr,
    } = start_gateway(
        vec![proxy(1, Protocol::Socks5, upstream, None)],
        r#"{"name":"rr","strategy":"round-robin"}"#,
        &[],
        GatewaySettings::default(),
        Assignment::Rotation(ROTATION),
    )
    .await;
    let port = origin.addr.port();
    assert_eq!(
        via_connect(addr, "only-upstream.invalid", port)
            .await
            .unwrap(),
        "127.0.0.1"
    );
    assert_eq!(
        via_socks5(addr, "only-upstream.invalid", port)
            .await
            .unwrap(),
        "127.0.0.1"
    );
    let forwarded = via_forward(addr, "only-upstream.invalid", port).await;
    assert!(forwarded.starts_with("HTTP/1.1 200"), "{forwarded}");
    assert_eq!(*names.lock().unwrap(), vec!["only-upstream.invalid"; 3]);
    // The upstream's "host unreachable" is the origin's fault, not the proxy's.
    let err = via_socks5(addr, "elsewhere.invalid", port).await;
    assert!(matches!(err, Err(Refused::Socks(4))), "{err:?}");
    let status = gateway.with_engine(|e| e.status(ProxyId(1)).unwrap());
    assert_eq!(
        status.failures, 0,
        "origin failures do not count against the proxy"
    );
    gateway.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_connections_in_flight_reports_every_one() {
    let origin = Origin::start().await;
    let socks = microsocks("127.0.0.3", "u", "p");
    let Running {
        gateway,
        sink,
        addr,
    } = start_gateway(
        vec![proxy(1, Protocol::Socks5, socks.addr, Some(1))],
        r#"{"name":"rr","strategy":"round-robin"}"#,
        &[(1, "u", "p")],
        GatewaySettings::default(),
        Assignment::Rotation(ROTATION),
    )
    .await;
    // Five tunnels open and idle (request not sent yet).
    let mut idle = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", origin.addr.port()).as_bytes(),
        )
        .await
        .unwrap();
        let mut reply = [0u8; 39];
        s.read_exact(&mut reply).await.unwrap();
        assert!(reply.starts_with(b"HTTP/1.1 200"));
        idle.push(s);
    }
    // One that finishes during the grace period.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", origin.addr.port()).as_bytes())
        .await
        .unwrap();
    let mut reply = [0u8; 39];
    busy.read_exact(&mut reply).await.unwrap();
    let finisher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        busy.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        busy.read_to_end(&mut out).await.unwrap();
        out
    });
    gateway.shutdown(Duration::from_millis(500)).await;
    assert!(String::from_utf8_lossy(&finisher.await.unwrap()).ends_with("127.0.0.3"));
    let records = sink.connections.lock().unwrap().clone();
    assert_eq!(records.len(), 6, "{records:?}");
    assert!(records.iter().all(|r| r.ok && r.proxy == Some(ProxyId(1))));
    assert_eq!(records.iter().filter(|r| r.bytes_down > 0).count(), 1);
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tunnels_are_closed_and_reported() {
    let origin = Origin::start().await;
    let socks = microsocks("127.0.0.3", "u", "p");
    let Running {
        gateway,
        sink,
        addr,
    } = start_gateway(
        vec![proxy(1, Protocol::Socks5, socks.addr, Some(1))],
        r#"{"name":"rr","strategy":"round-robin"}"#,
        &[(1, "u", "p")],
        GatewaySettings {
            idle_timeout: Duration::from_millis(600),
            ..GatewaySettings::default()
        },
        Assignment::Rotation(ROTATION),
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", origin.addr.port()).as_bytes())
        .await
        .unwrap();
    let mut reply = [0u8; 39];
    s.read_exact(&mut reply).await.unwrap();
    // Active traffic keeps it open past the timeout...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        s.write_all(b"G").await.unwrap();
    }
    // ...silence closes it.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .expect("closed by the idle timeout")
        .unwrap();
    assert_eq!(n, 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let records = sink.connections.lock().unwrap().clone();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].bytes_up, 3);
    gateway.shutdown(Duration::from_secs(1)).await;
}
