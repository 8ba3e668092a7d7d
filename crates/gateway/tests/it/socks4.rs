//! SOCKS4 and SOCKS4a upstreams (an in-process server, since Debian's SOCKS
//! peers here speak SOCKS5): IPv4 targets through SOCKS4, names through
//! SOCKS4a sent unresolved, and a name refused for plain SOCKS4 rather than
//! resolved locally. Also: a listener bound for one identity and closed again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vip_engine::{HealthSettings, Protocol, ProxyId, TabId};
use vip_gateway::{Assignment, Gateway, GatewaySettings, ListenerSpec};
use vip_testkit::*;

async fn read_z(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        s.read_exact(&mut b).await.unwrap();
        if b[0] == 0 {
            return String::from_utf8(out).unwrap();
        }
        out.push(b[0]);
    }
}

/// A SOCKS4/4a server that records (user id, host) and connects everything
/// to `origin`.
async fn socks4_upstream(
    origin: SocketAddr,
    seen: Arc<Mutex<Vec<(String, String)>>>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 8];
                s.read_exact(&mut head).await.unwrap();
                assert_eq!(&head[..2], &[4, 1]);
                let user = read_z(&mut s).await;
                let ip = &head[4..8];
                let host = if ip[..3] == [0, 0, 0] && ip[3] != 0 {
                    read_z(&mut s).await
                } else {
                    format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
                };
                seen.lock().unwrap().push((user, host));
                let mut up = TcpStream::connect(origin).await.unwrap();
                s.write_all(&[0, 0x5a, 0, 0, 0, 0, 0, 0]).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks4_takes_addresses_socks4a_takes_names() {
    let origin = Origin::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let upstream = socks4_upstream(origin.addr, seen.clone()).await;
    let pool = vec![
        proxy(1, Protocol::Socks4, upstream, Some(1)),
        proxy(2, Protocol::Socks4a, upstream, None),
    ];
    let engine = engine(
        pool,
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let gateway = Gateway::new(
        engine,
        logins(&[(1, "alice", "unused")]),
        Arc::new(Collect::default()),
        GatewaySettings::default(),
    );
    let pinned = |id| ListenerSpec {
        assignment: Assignment::Pinned(ProxyId(id)),
        tab: Some(TabId(id)),
        auth: None,
        budget: None,
    };
    let four = gateway
        .listen("127.0.0.1:0".parse().unwrap(), pinned(1))
        .await
        .unwrap();
    let four_a = gateway
        .listen("127.0.0.1:0".parse().unwrap(), pinned(2))
        .await
        .unwrap();
    let port = origin.addr.port();
    assert_eq!(
        via_connect(four.addr, "127.0.0.1", port).await.unwrap(),
        "127.0.0.1"
    );
    let refused = via_connect(four.addr, "localhost", port)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("SOCKS4 takes only IPv4 addresses") && refused.contains("use socks4a"),
        "{refused}"
    );
    assert_eq!(
        via_socks5(four_a.addr, "localhost", port).await.unwrap(),
        "127.0.0.1"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            ("alice".to_string(), "127.0.0.1".to_string()),
            (String::new(), "localhost".to_string())
        ]
    );
    // Closing one identity's listener frees its port; the other keeps working.
    four.close();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(four.addr).await.is_err(),
        "closed listener refuses"
    );
    assert_eq!(
        via_socks5(four_a.addr, "localhost", port).await.unwrap(),
        "127.0.0.1"
    );
    gateway.shutdown(Duration::from_secs(1)).await;
}
