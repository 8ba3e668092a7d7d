//! A small web origin for browser tests: serves fixed pages by path (any
//! host name), answers WebSocket upgrades, and records every request with
//! the peer address it came from and its headers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request the site saw.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The connection's peer IP.
    pub peer: String,
    /// Request path (with query).
    pub path: String,
    /// Lower-case header names and values.
    pub headers: HashMap<String, String>,
}

/// A running site.
pub struct Site {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Every request, in order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Site {
    /// Serves `pages` (path → (content type, body)); other paths get 404.
    /// `/ws` accepts a WebSocket upgrade and sends one text frame "hi".
    pub async fn start(pages: Vec<(&str, &str, String)>) -> Site {
        Site::start_on("127.0.0.1:0", pages).await
    }

    /// [`Site::start`] on a given address.
    pub async fn start_on(bind: &str, pages: Vec<(&str, &str, String)>) -> Site {
        let listener = TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pages: Arc<HashMap<String, (String, String)>> = Arc::new(
            pages
                .into_iter()
                .map(|(p, t, b)| (p.to_string(), (t.to_string(), b)))
                .collect(),
        );
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, peer)) = listener.accept().await {
                let (pages, log) = (pages.clone(), log.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    if !crate::read_until(&mut s, &mut buf, crate::has_head).await {
                        return;
                    }
                    let mut chunk = [0u8; 64];
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let mut lines = head.split("\r\n");
                    let path = lines
                        .next()
                        .and_then(|l| l.split(' ').nth(1))
                        .unwrap_or("/")
                        .to_string();
                    let headers: HashMap<String, String> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    log.lock().unwrap().push(Seen {
                        peer: peer.ip().to_string(),
                        path: path.clone(),
                        headers: headers.clone(),
                    });
                    if let Some(key) = headers.get("sec-websocket-key") {
                        let accept = async_tungstenite::tungstenite::handshake::derive_accept_key(
                            key.as_bytes(),
                        );
                        let reply = format!(
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                        );
                        let _ = s.write_all(reply.as_bytes()).await;
                        let _ = s.write_all(&[0x81, 2, b'h', b'i']).await;
                        let _ = s.read(&mut chunk).await;
                        return;
                    }
                    let key = path.split('?').next().unwrap_or("/");
                    let reply = match pages.get(key) {
                        Some((kind, body)) => format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                    };
                    let _ = s.write_all(reply.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        Site { addr, seen }
    }

    /// The requests seen so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}
