//! Byte relay between client and upstream. Each direction waits for the
//! socket to be readable before it allocates its 16 KiB buffer, so an idle
//! tunnel holds no buffer at all; end of stream in one direction is passed on
//! as a write shutdown (half-close); byte counts survive errors; an abort
//! from the gateway ends both directions.

use std::io::ErrorKind;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;

use crate::upstream::UpstreamStream;

const BUFFER: usize = 16 * 1024;

async fn pump(from: OwnedReadHalf, mut to: OwnedWriteHalf) -> u64 {
    let mut buf: Vec<u8> = Vec::new();
    let mut total = 0u64;
    loop {
        if from.readable().await.is_err() {
            break;
        }
        if buf.is_empty() {
            buf.resize(BUFFER, 0);
        }
        match from.try_read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                total += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(_) => break,
        }
    }
    let _ = to.shutdown().await;
    total
}

/// Relays until both directions finish (or the gateway aborts); returns
/// (client→upstream, upstream→client) bytes. TLS upstreams use tokio's
/// generic copy (their buffers live in rustls anyway).
pub async fn relay(
    client: TcpStream,
    upstream: UpstreamStream,
    abort: &CancellationToken,
) -> (u64, u64) {
    let upstream = match upstream {
        UpstreamStream::Tcp(tcp) => tcp,
        UpstreamStream::Tls(mut tls) => {
            let mut client = client;
            return tokio::select! {
                r = tokio::io::copy_bidirectional(&mut client, tls.as_mut()) => r.unwrap_or((0, 0)),
                _ = abort.cancelled() => (0, 0),
            };
        }
    };
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let both = async {
        tokio::join!(
            pump(client_read, upstream_write),
            pump(upstream_read, client_write)
        )
    };
    tokio::select! {
        counts = both => counts,
        _ = abort.cancelled() => (0, 0),
    }
}
