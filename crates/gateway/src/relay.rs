//! Byte relay between client and upstream. Each direction waits for the
//! socket to be readable before it takes a 16 KiB buffer from its thread's
//! spares and gives it back once the socket is drained, so an idle tunnel holds no buffer at all,
//! also after it carried traffic; end of stream in one direction is passed on
//! as a write shutdown (half-close); byte counts survive errors; a tunnel
//! with no traffic either way for the idle timeout is closed; an abort from
//! the gateway ends both directions.

use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio_util::sync::CancellationToken;

use crate::traffic::Traffic;
use crate::upstream::UpstreamStream;

const BUFFER: usize = 16 * 1024;
/// Spare buffers kept per worker thread; more are freed.
const SPARE: usize = 32;

thread_local! {
    /// Relay buffers not in use, per thread: a stream that has data takes
    /// one and gives it back once the socket is drained, so a busy tunnel
    /// neither allocates nor zeroes 16 KiB per request, and an idle one
    /// holds none.
    static SPARES: std::cell::RefCell<Vec<Box<[u8]>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn take_buffer() -> Box<[u8]> {
    SPARES
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_else(|| vec![0u8; BUFFER].into_boxed_slice())
}

fn give_buffer(buf: Box<[u8]>) {
    SPARES.with(|s| {
        let mut spares = s.borrow_mut();
        if spares.len() < SPARE {
            spares.push(buf);
        }
    });
}

/// Milliseconds since `start`, for the shared last-activity stamp.
fn stamp(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Reads what `from` has into `buf`. A read that does not fill the buffer
/// has emptied the socket's receive queue, so it also forgets the socket's
/// readiness: the next wait goes straight to the poller instead of paying a
/// second `recv` that would only say "would block" (two fewer syscalls per
/// request on a keep-alive tunnel). This is sound for TCP because any segment
/// arriving after the read raises a new edge (a newer readiness tick, which
/// tokio never clears with an older one), and end of stream or a reset sets
/// tokio's closed state, which clearing never removes.
fn read_some(from: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    let sock = socket2::SockRef::from(from);
    let mut drained = 0;
    let r = from.try_io(Interest::READABLE, || {
        let n = (&*sock).read(buf)?;
        if n > 0 && n < buf.len() {
            drained = n;
            return Err(ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match r {
        Err(e) if e.kind() == ErrorKind::WouldBlock && drained > 0 => Ok(drained),
        r => r,
    }
}

async fn pump(
    from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    // This tunnel's count and the gateway's.
    totals: [&AtomicU64; 2],
    last: &AtomicU64,
    other_done: &AtomicBool,
    start: Instant,
) {
    let mut held: Option<Box<[u8]>> = None;
    loop {
        if from.as_ref().readable().await.is_err() {
            break;
        }
        let buf = held.get_or_insert_with(take_buffer);
        match read_some(from.as_ref(), buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                for total in totals {
                    total.fetch_add(n as u64, Ordering::Relaxed);
                }
                last.store(stamp(start), Ordering::Relaxed);
                // A read that did not fill the buffer emptied the socket:
                // the stream is likely to wait now, and a waiting stream
                // holds no buffer (a full read keeps it for the next).
                if n < BUFFER
                    && let Some(b) = held.take()
                {
                    give_buffer(b);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(_) => break,
        }
    }
    if let Some(b) = held.take() {
        give_buffer(b);
    }
    // The first direction to end passes it on as a half-close; when the
    // second ends both sockets are about to be closed, which sends the FIN.
    if !other_done.swap(true, Ordering::AcqRel) {
        let _ = to.shutdown().await;
    }
}

/// Relays until both directions finish, the tunnel is idle for `idle`, or
/// the gateway aborts; returns (client→upstream, upstream→client) bytes.
/// TLS upstreams use tokio's generic copy (their buffers live in rustls).
pub async fn relay(
    client: TcpStream,
    upstream: UpstreamStream,
    abort: &CancellationToken,
    idle: Duration,
    traffic: &Traffic,
) -> (u64, u64) {
    let upstream = match upstream {
        UpstreamStream::Tcp(tcp) => tcp,
        UpstreamStream::Tls(mut tls) => {
            let mut client = client;
            let (up, down) = tokio::select! {
                r = tokio::io::copy_bidirectional(&mut client, tls.as_mut()) => r.unwrap_or((0, 0)),
                _ = abort.cancelled() => (0, 0),
            };
            traffic.add(up, down);
            return (up, down);
        }
    };
    let start = Instant::now();
    let (up, down, last) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let ended = AtomicBool::new(false);
    let (mut client, mut upstream) = (client, upstream);
    let (client_read, client_write) = client.split();
    let (upstream_read, upstream_write) = upstream.split();
    let both = async {
        tokio::join!(
            pump(
                client_read,
                upstream_write,
                [&up, &traffic.up],
                &last,
                &ended,
                start
            ),
            pump(
                upstream_read,
                client_write,
                [&down, &traffic.down],
                &last,
                &ended,
                start
            )
        )
    };
    let watchdog = async {
        let tick = (idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        loop {
            tokio::time::sleep(tick).await;
            let quiet = stamp(start).saturating_sub(last.load(Ordering::Relaxed));
            if quiet >= u64::try_from(idle.as_millis()).unwrap_or(u64::MAX) {
                break;
            }
        }
    };
    tokio::select! {
        _ = both => {}
        _ = watchdog => {}
        _ = abort.cancelled() => {}
    }
    (up.load(Ordering::Relaxed), down.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests;
