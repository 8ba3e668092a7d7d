//! Inbound connections: the first byte tells SOCKS5 (0x05) from HTTP; each
//! protocol reads its request with a deadline and a size limit, checks client
//! authentication, opens the upstream path and relays. Malformed input gets a
//! clean error and the connection closes; nothing panics.

mod answer;
mod body;
mod forward;
mod http;
mod replay;
mod socks5;

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::connect::{self, Opened};
use crate::gateway::{ListenerSpec, Shared};
use crate::target::Target;
use crate::upstream::UpstreamStream;

/// Serves one accepted connection. `abort` ends it at once; `drain` (the
/// listener stopping) closes a keep-alive connection between requests.
pub async fn handle(
    stream: TcpStream,
    shared: Arc<Shared>,
    spec: Arc<ListenerSpec>,
    abort: CancellationToken,
    drain: CancellationToken,
) {
    // One span per connection: the tab it came for, then the proxy that
    // carried it (recorded by `connect`); events inside say the outcome.
    // Never the target host or any credential: logs are not a history.
    let span = tracing::debug_span!(
        "conn",
        tab = spec.tab.map(|t| t.0),
        proxy = tracing::field::Empty
    );
    let traffic = shared.clone();
    let _open = traffic.traffic.open();
    serve_one(stream, shared, spec, abort, drain)
        .instrument(span)
        .await;
}

async fn serve_one(
    stream: TcpStream,
    shared: Arc<Shared>,
    spec: Arc<ListenerSpec>,
    abort: CancellationToken,
    drain: CancellationToken,
) {
    // On Linux the socket has TCP_NODELAY from its listener already.
    #[cfg(not(target_os = "linux"))]
    let _ = stream.set_nodelay(true);
    // One read both tells SOCKS5 (0x05) from HTTP and starts the request.
    let mut reader = BufReader::with_capacity(4096, stream);
    let filled = tokio::time::timeout(shared.settings.client_timeout, reader.fill_buf()).await;
    let socks = match filled {
        Ok(Ok(first)) if !first.is_empty() => first[0] == 5,
        _ => return,
    };
    if socks {
        socks5::serve(reader, &shared, &spec, &abort).await;
    } else {
        let carry = reader.buffer().to_vec();
        http::serve(reader.into_inner(), carry, &shared, &spec, &abort, &drain).await;
    }
}

/// After the client was told "connected": pass on early bytes both ways,
/// relay, and report the connection.
async fn splice(
    mut client: TcpStream,
    opened: Opened,
    client_early: Vec<u8>,
    shared: &Shared,
    target: &Target,
    abort: &CancellationToken,
) {
    let (mut upstream, proxy, upstream_early) = match opened {
        Opened::Proxy { dialed, proxy, .. } => (
            dialed.stream,
            Some((proxy, dialed.latency)),
            dialed.leftover,
        ),
        Opened::Direct(s) => (UpstreamStream::Tcp(s), None, Vec::new()),
    };
    let up = client_early.len() as u64;
    let down = upstream_early.len() as u64;
    if (!client_early.is_empty() && upstream.write_all(&client_early).await.is_err())
        || (!upstream_early.is_empty() && client.write_all(&upstream_early).await.is_err())
    {
        connect::finished(shared, proxy, target, up, down);
        return;
    }
    drop((client_early, upstream_early));
    let idle = shared.settings.idle_timeout;
    let (a, b) = crate::relay::relay(client, upstream, abort, idle, &shared.traffic).await;
    connect::finished_relayed(shared, proxy, target, (up, down), (a, b));
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// `handle` relies on accepted sockets taking TCP_NODELAY from their
    /// listener (set in `Gateway::serve`); they do not have it by default.
    #[tokio::test]
    async fn accepted_sockets_inherit_nodelay_from_the_listener() {
        for nodelay in [false, true] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            socket2::SockRef::from(&listener)
                .set_tcp_nodelay(nodelay)
                .unwrap();
            let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (accepted, _) = listener.accept().await.unwrap();
            assert_eq!(accepted.nodelay().unwrap(), nodelay);
        }
    }
}
