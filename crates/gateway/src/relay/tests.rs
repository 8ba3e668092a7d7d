//! Relay tests on real loopback sockets: data and end of stream arriving
//! together (the case the drained-read shortcut must not lose), bodies
//! larger than one buffer both ways with exact counts, and the idle timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{BUFFER, relay};
use crate::upstream::UpstreamStream;

/// Two connected sockets: (the peer's end, the gateway's end).
async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (ours, _) = l.accept().await.unwrap();
    (peer, ours)
}

/// A relay between a user and a far end; returns both ends and the relay.
async fn tunnel(idle: Duration) -> (TcpStream, TcpStream, JoinHandle<(u64, u64)>) {
    let (user, client) = pair().await;
    let (far, upstream) = pair().await;
    let task = tokio::spawn(async move {
        relay(
            client,
            UpstreamStream::Tcp(upstream),
            &CancellationToken::new(),
            idle,
            &crate::traffic::Traffic::default(),
        )
        .await
    });
    (user, far, task)
}

async fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got))
        .await
        .expect("end of stream not passed on within 5 s")
        .unwrap();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_end_of_stream_sent_together_both_arrive() {
    for round in 0..300u32 {
        let (mut user, mut far, task) = tunnel(Duration::from_secs(30)).await;
        let ask = format!("ping {round}");
        user.write_all(ask.as_bytes()).await.unwrap();
        user.shutdown().await.unwrap();
        assert_eq!(read_to_end(&mut far).await, ask.as_bytes(), "round {round}");
        far.write_all(b"pong").await.unwrap();
        far.shutdown().await.unwrap();
        assert_eq!(read_to_end(&mut user).await, b"pong", "round {round}");
        let counts = task.await.unwrap();
        assert_eq!(counts, (ask.len() as u64, 4), "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_many_buffers_pass_whole_both_ways() {
    // Sizes around the buffer's edges: a read that exactly fills the buffer
    // must not be taken for a drained socket.
    let sizes = [
        BUFFER - 1,
        BUFFER,
        BUFFER + 1,
        3 * BUFFER,
        4 * 1024 * 1024 + 7,
    ];
    for size in sizes {
        let (user, far, task) = tunnel(Duration::from_secs(30)).await;
        let body: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let (mut user_read, mut user_write) = user.into_split();
        let (mut far_read, mut far_write) = far.into_split();
        let up_body = body.clone();
        let send_up = tokio::spawn(async move {
            user_write.write_all(&up_body).await.unwrap();
            user_write.shutdown().await.unwrap();
        });
        let down_body = body.clone();
        let send_down = tokio::spawn(async move {
            far_write.write_all(&down_body).await.unwrap();
            far_write.shutdown().await.unwrap();
        });
        let mut at_far = Vec::new();
        let mut at_user = Vec::new();
        let (a, b) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(10), far_read.read_to_end(&mut at_far)),
            tokio::time::timeout(Duration::from_secs(10), user_read.read_to_end(&mut at_user)),
        );
        a.expect("upstream side stalled").unwrap();
        b.expect("client side stalled").unwrap();
        send_up.await.unwrap();
        send_down.await.unwrap();
        assert!(at_far == body, "{size} bytes up arrived changed");
        assert!(at_user == body, "{size} bytes down arrived changed");
        assert_eq!(task.await.unwrap(), (size as u64, size as u64));
    }
}

#[tokio::test]
async fn a_quiet_tunnel_is_closed_after_the_idle_timeout() {
    let (mut user, mut far, task) = tunnel(Duration::from_millis(200)).await;
    user.write_all(b"hi").await.unwrap();
    let mut two = [0u8; 2];
    far.read_exact(&mut two).await.unwrap();
    let counts = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("idle tunnel not closed")
        .unwrap();
    assert_eq!(counts, (2, 0));
    // Both ends see the tunnel gone.
    assert!(read_to_end(&mut user).await.is_empty());
    assert!(read_to_end(&mut far).await.is_empty());
}
