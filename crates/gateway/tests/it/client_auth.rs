//! Client authentication on a listener: HTTP clients without the right
//! Proxy-Authorization get 407, SOCKS5 clients must use username/password;
//! with the right credentials both go through.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vip_engine::{HealthSettings, Protocol};
use vip_gateway::{Assignment, ClientAuth, Gateway, GatewaySettings, ListenerSpec};
use vip_model::Secret;
use vip_testkit::*;

async fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_with_client_auth_refuse_strangers() {
    let origin = Origin::start().await;
    let socks = microsocks("127.0.0.3", "u", "p");
    let engine = engine(
        vec![proxy(1, Protocol::Socks5, socks.addr, Some(1))],
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let gateway = Gateway::new(
        engine,
        logins(&[(1, "u", "p")]),
        Arc::new(Collect::default()),
        GatewaySettings::default(),
    );
    let auth = ClientAuth {
        username: "me".into(),
        password: Secret::new("s3cret"),
    };
    let spec = ListenerSpec {
        assignment: Assignment::Rotation(ROTATION),
        tab: None,
        auth: Some(auth),
        budget: None,
    };
    let l = gateway
        .listen("127.0.0.1:0".parse().unwrap(), spec)
        .await
        .unwrap();
    let target = format!("127.0.0.1:{}", origin.addr.port());
    // HTTP: none, wrong, right.
    let none = exchange(
        l.addr,
        format!("CONNECT {target} HTTP/1.1\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        String::from_utf8_lossy(&none).starts_with("HTTP/1.1 407"),
        "{}",
        String::from_utf8_lossy(&none)
    );
    assert!(String::from_utf8_lossy(&none).contains("Proxy-Authenticate: Basic"));
    let wrong = base64::engine::general_purpose::STANDARD.encode("me:nope");
    let out = exchange(
        l.addr,
        format!("CONNECT {target} HTTP/1.1\r\nProxy-Authorization: Basic {wrong}\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 407"));
    let right = base64::engine::general_purpose::STANDARD.encode("me:s3cret");
    let out = exchange(
        l.addr,
        format!("CONNECT {target} HTTP/1.1\r\nProxy-Authorization: Basic {right}\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        String::from_utf8_lossy(&out).ends_with("127.0.0.3"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // SOCKS5: offering only "no authentication" is refused (0xFF).
    let out = exchange(l.addr, &[5, 1, 0]).await;
    assert_eq!(out, vec![5, 0xff]);
    // Username/password: wrong, then right.
    let mut wrong = vec![5, 1, 2, 1, 2];
    wrong.extend_from_slice(b"me");
    wrong.push(4);
    wrong.extend_from_slice(b"nope");
    assert_eq!(exchange(l.addr, &wrong).await, vec![5, 2, 1, 1]);
    let mut s = TcpStream::connect(l.addr).await.unwrap();
    let mut hello = vec![5, 1, 2, 1, 2];
    hello.extend_from_slice(b"me");
    hello.push(6);
    hello.extend_from_slice(b"s3cret");
    hello.extend_from_slice(&[5, 1, 0, 1, 127, 0, 0, 1]);
    hello.extend_from_slice(&origin.addr.port().to_be_bytes());
    s.write_all(&hello).await.unwrap();
    let mut replies = [0u8; 14];
    s.read_exact(&mut replies).await.unwrap();
    assert_eq!(
        &replies[..4],
        &[5, 2, 1, 0],
        "method 2 chosen, credentials accepted"
    );
    assert_eq!(replies[5], 0, "CONNECT succeeded");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = Vec::new();
    s.read_to_end(&mut body).await.unwrap();
    assert!(String::from_utf8_lossy(&body).ends_with("127.0.0.3"));
    gateway.shutdown(Duration::from_secs(1)).await;
}
