//! Byte relay between client and upstream with half-close handled by
//! `copy_bidirectional`, ending early when the gateway aborts.

use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Relays until both directions finish; returns (client→upstream,
/// upstream→client) bytes.
pub async fn relay(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    abort: &CancellationToken,
) -> (u64, u64) {
    tokio::select! {
        r = tokio::io::copy_bidirectional(client, upstream) => r.unwrap_or((0, 0)),
        _ = abort.cancelled() => (0, 0),
    }
}
