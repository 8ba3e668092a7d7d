//! The gateway's live traffic totals: a tunnel through microsocks counts
//! its bytes while it is open (not only when it ends) and as one open
//! connection; once every connection is closed the totals equal what the
//! sink was told, plain HTTP included, and nothing is open.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vip_engine::Protocol;
use vip_testkit::*;

/// Waits until `f` holds (bounded).
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen within 2 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnel_counts_its_bytes_while_open_and_the_totals_match_the_sink_after() {
    let socks = microsocks("127.0.0.3", "suser", "spass");
    let run = start_gateway(
        vec![proxy(1, Protocol::Socks5, socks.addr, Some(1))],
        r#"{"name":"rr","strategy":"round-robin"}"#,
        &[(1, "suser", "spass")],
        vip_gateway::GatewaySettings::default(),
        vip_gateway::Assignment::Rotation(ROTATION),
    )
    .await;
    // An echo origin that holds the connection open until the client closes.
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = echo.accept().await.unwrap();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    assert_eq!(run.gateway.traffic().active, 0);
    let mut client = TcpStream::connect(run.addr).await.unwrap();
    client
        .write_all(format!("CONNECT 127.0.0.1:{echo_port} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = [0u8; 39];
    client.read_exact(&mut head[..12]).await.unwrap();
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    let mut rest = Vec::new();
    while !rest.ends_with(b"\r\n\r\n") {
        rest.push(client.read_u8().await.unwrap());
    }
    let chunk = vec![7u8; 100_000];
    client.write_all(&chunk).await.unwrap();
    let mut back = vec![0u8; chunk.len()];
    client.read_exact(&mut back).await.unwrap();
    let gateway = &run.gateway;
    until("the relayed bytes counted while open", || {
        let t = gateway.traffic();
        t.up >= 100_000 && t.down >= 100_000
    })
    .await;
    let open = gateway.traffic();
    assert_eq!(open.active, 1, "one client connection is open");
    assert!(
        run.sink.connections.lock().unwrap().is_empty(),
        "nothing has ended yet"
    );
    drop(client);
    until("the tunnel to end", || gateway.traffic().active == 0).await;
    // A plain-HTTP exchange is counted when it ends.
    let origin = Origin::start().await;
    via_forward(run.addr, "127.0.0.1", origin.addr.port()).await;
    until("the exchange to end", || gateway.traffic().active == 0).await;
    until("both records", || {
        run.sink.connections.lock().unwrap().len() == 2
    })
    .await;
    let records = run.sink.connections.lock().unwrap().clone();
    let (up, down) = records
        .iter()
        .fold((0, 0), |(u, d), r| (u + r.bytes_up, d + r.bytes_down));
    let done = gateway.traffic();
    assert_eq!((done.up, done.down), (up, down), "{records:?}");
    assert!(done.up > open.up && done.down > open.down);
}
