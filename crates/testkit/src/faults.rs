//! Fault-injecting upstreams for the gateway's tests and benchmarks:
//! servers on loopback that refuse, hang, reset (before or during the
//! handshake), answer late, answer garbage, the wrong SOCKS version or a
//! 407, or reset every other connection and relay the rest to a real proxy.
//! Each counts the connections it took and holds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug)]
/// What a fault-injecting upstream does with each connection.
pub enum Fault {
    /// Nothing listens.
    Refuse,
    /// Reads, then never answers (until the peer closes).
    Hang,
    /// Closes at once, before any handshake byte.
    Reset,
    /// Reads the greeting, then resets.
    MidReset,
    /// Answers 200 after this long.
    Slow(Duration),
    /// Answers bytes that are no protocol.
    Garbage,
    /// Answers a SOCKS4 reply.
    WrongSocksVersion,
    /// Answers 407 Proxy Authentication Required.
    Answer407,
    /// Every other connection is reset; the rest go to this real proxy.
    Flaky(SocketAddr),
}

/// Connections a faulty upstream accepted, in all and open now (and the
/// most open at once).
#[derive(Default)]
pub struct Counts {
    pub accepted: AtomicUsize,
    pub open: AtomicUsize,
    pub most_open: AtomicUsize,
}

/// Starts a fault-injecting upstream on loopback.
pub async fn faulty(fault: Fault) -> (SocketAddr, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    if let Fault::Refuse = fault {
        drop(listener);
        return (addr, counts);
    }
    let seen = counts.clone();
    tokio::spawn(async move {
        let flip = Arc::new(AtomicUsize::new(0));
        while let Ok((mut s, _)) = listener.accept().await {
            let (seen, flip) = (seen.clone(), flip.clone());
            seen.accepted.fetch_add(1, Ordering::SeqCst);
            let now = seen.open.fetch_add(1, Ordering::SeqCst) + 1;
            seen.most_open.fetch_max(now, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                match fault {
                    Fault::Hang => {
                        let _ = s.read(&mut buf).await;
                        // Until the gateway gives up (a closed socket reads 0).
                        while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                    }
                    Fault::Reset => drop(s),
                    Fault::MidReset => {
                        let _ = s.read(&mut buf).await;
                        reset_on_close(&s);
                        drop(s);
                    }
                    Fault::Slow(after) => {
                        let _ = s.read(&mut buf).await;
                        tokio::time::sleep(after).await;
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
                    }
                    Fault::Garbage => {
                        let _ = s.read(&mut buf).await;
                        let _ = s.write_all(b"\x00\x01garbage\r\n\r\n").await;
                    }
                    Fault::WrongSocksVersion => {
                        let _ = s.read(&mut buf).await;
                        let _ = s.write_all(&[4, 0]).await;
                    }
                    Fault::Answer407 => {
                        let _ = s.read(&mut buf).await;
                        let _ = s
                            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n")
                            .await;
                    }
                    Fault::Flaky(real) => {
                        if flip.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
                            reset_on_close(&s);
                            drop(s);
                        } else if let Ok(mut up) = TcpStream::connect(real).await {
                            let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
                        }
                    }
                    Fault::Refuse => {}
                }
                seen.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, counts)
}

/// Makes closing `s` send a reset instead of a FIN.
pub fn reset_on_close(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
}
