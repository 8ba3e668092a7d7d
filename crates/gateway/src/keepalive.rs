//! Upstream keep-alive for plain HTTP: a connection whose answer was read
//! to its end is put back here, keyed by (listener's tab, proxy, origin),
//! and the next request for the same origin through the same proxy from
//! the same tab takes it instead of dialling. The key holds the tab so two
//! identities never share a connection the origin could link them by. An
//! idle connection holds no buffer (only its socket); it is dropped after
//! the idle limit (or the origin's `Keep-Alive: timeout`, if shorter), when
//! its peer closes it (looked at without waiting, on every take and on the
//! recovery loop's sweep), or when the per-proxy or total cap is reached.
//! Newest first: the connection most recently used is the likeliest still
//! open. Only requests that may be sent twice take a pooled connection, so
//! the keep-alive race (the origin closing just as a request goes out) is
//! retried on a fresh connection without counting against the proxy.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, ReadBuf};
use vip_engine::{ProxyId, TabId};

use crate::upstream::UpstreamStream;

/// Limits of the pool.
#[derive(Clone, Copy, Debug)]
pub struct KeepAliveSettings {
    /// An idle connection is dropped after this.
    pub idle: Duration,
    /// At most this many idle connections per proxy (0: no reuse, and each
    /// request asks its upstream to close).
    pub per_proxy: usize,
    /// At most this many idle connections in all.
    pub total: usize,
}

impl Default for KeepAliveSettings {
    fn default() -> Self {
        KeepAliveSettings {
            idle: Duration::from_secs(30),
            per_proxy: 8,
            total: 1024,
        }
    }
}

/// Which requests may share a connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// The listener's tab (identity isolation).
    pub tab: Option<TabId>,
    /// The proxy the connection goes through.
    pub proxy: ProxyId,
    /// The origin, `host:port`.
    pub origin: String,
}

/// An idle connection.
pub(crate) struct Idle {
    /// The connection, positioned after an answer.
    pub stream: UpstreamStream,
    /// Its connect + handshake latency when it was dialled.
    pub latency: Duration,
    /// It talks to an HTTP proxy in forward mode.
    pub forwarding: bool,
}

struct Entry {
    idle: Idle,
    until: Instant,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Vec<Entry>>,
    per_proxy: HashMap<ProxyId, usize>,
    total: usize,
}

impl Inner {
    fn forget(&mut self, proxy: ProxyId, n: usize) {
        self.total -= n;
        if let Some(c) = self.per_proxy.get_mut(&proxy) {
            *c -= n;
            if *c == 0 {
                self.per_proxy.remove(&proxy);
            }
        }
    }
}

/// The pool of idle upstream connections.
pub(crate) struct IdlePool {
    settings: KeepAliveSettings,
    inner: Mutex<Inner>,
}

/// Whether `stream` is still open and quiet: one read attempt that does not
/// wait. A closed connection reads its end; one with bytes waiting is out
/// of step (an answer nobody asked for) and is as unusable.
fn quiet(stream: &mut UpstreamStream) -> bool {
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    let mut cx = Context::from_waker(Waker::noop());
    matches!(Pin::new(stream).poll_read(&mut cx, &mut buf), Poll::Pending)
}

impl IdlePool {
    pub fn new(settings: KeepAliveSettings) -> IdlePool {
        IdlePool {
            settings,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Whether connections are reused at all.
    pub fn enabled(&self) -> bool {
        self.settings.per_proxy > 0 && self.settings.total > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts a connection back; `keep_for` is the origin's own limit. A
    /// full pool drops it (closes it).
    pub fn put(&self, key: Key, idle: Idle, keep_for: Option<Duration>) {
        let limit = keep_for.map_or(self.settings.idle, |k| k.min(self.settings.idle));
        if !self.enabled() || limit.is_zero() {
            return;
        }
        let mut inner = self.lock();
        let at_proxy = inner.per_proxy.get(&key.proxy).copied().unwrap_or(0);
        if at_proxy >= self.settings.per_proxy || inner.total >= self.settings.total {
            return;
        }
        *inner.per_proxy.entry(key.proxy).or_insert(0) += 1;
        inner.total += 1;
        inner.entries.entry(key).or_default().push(Entry {
            idle,
            until: Instant::now() + limit,
        });
    }

    /// The newest idle connection for `key` that is still open, if any.
    pub fn take(&self, key: &Key) -> Option<Idle> {
        let now = Instant::now();
        let mut inner = self.lock();
        let list = inner.entries.get_mut(key)?;
        let mut dropped = 0;
        let mut found = None;
        while let Some(mut entry) = list.pop() {
            dropped += 1;
            if entry.until > now && quiet(&mut entry.idle.stream) {
                found = Some(entry.idle);
                break;
            }
        }
        if list.is_empty() {
            inner.entries.remove(key);
        }
        inner.forget(key.proxy, dropped);
        found
    }

    /// Drops every connection past its limit or closed by its peer.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut inner = self.lock();
        let mut gone: Vec<(ProxyId, usize)> = Vec::new();
        inner.entries.retain(|key, list| {
            let before = list.len();
            list.retain_mut(|e| e.until > now && quiet(&mut e.idle.stream));
            if list.len() < before {
                gone.push((key.proxy, before - list.len()));
            }
            !list.is_empty()
        });
        for (proxy, n) in gone {
            inner.forget(proxy, n);
        }
    }

    /// Idle connections held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().total
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    fn key(proxy: u64, tab: Option<u64>) -> Key {
        Key {
            tab: tab.map(TabId),
            proxy: ProxyId(proxy),
            origin: "example.test:80".into(),
        }
    }

    /// A connected pair: (ours, the peer's end).
    async fn pair(l: &TcpListener) -> (Idle, TcpStream) {
        let ours = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (theirs, _) = l.accept().await.unwrap();
        let idle = Idle {
            stream: UpstreamStream::Tcp(ours),
            latency: Duration::from_millis(3),
            forwarding: false,
        };
        (idle, theirs)
    }

    #[tokio::test]
    async fn a_connection_is_taken_back_only_by_its_own_tab_proxy_and_origin() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = IdlePool::new(KeepAliveSettings::default());
        let (idle, _peer) = pair(&l).await;
        pool.put(key(1, Some(7)), idle, None);
        assert!(pool.take(&key(1, Some(8))).is_none(), "another tab");
        assert!(pool.take(&key(1, None)).is_none(), "no tab");
        assert!(pool.take(&key(2, Some(7))).is_none(), "another proxy");
        let mut other = key(1, Some(7));
        other.origin = "example.test:8080".into();
        assert!(pool.take(&other).is_none(), "another origin");
        assert_eq!(pool.len(), 1);
        let back = pool.take(&key(1, Some(7))).expect("its own key");
        assert_eq!(back.latency, Duration::from_millis(3));
        assert_eq!(pool.len(), 0);
        assert!(pool.take(&key(1, Some(7))).is_none(), "taken once");
    }

    #[tokio::test]
    async fn closed_talking_and_expired_connections_are_never_handed_out() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = IdlePool::new(KeepAliveSettings::default());
        let (closed, peer) = pair(&l).await;
        drop(peer);
        let (talking, mut peer2) = pair(&l).await;
        peer2.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        let (expired, _peer3) = pair(&l).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        pool.put(key(1, None), closed, None);
        pool.put(key(1, None), talking, None);
        assert!(pool.take(&key(1, None)).is_none());
        pool.put(key(1, None), expired, Some(Duration::from_millis(1)));
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(pool.take(&key(1, None)).is_none());
        assert_eq!(pool.len(), 0);
    }

    #[tokio::test]
    async fn the_sweep_drops_closed_connections_and_the_caps_hold() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let settings = KeepAliveSettings {
            per_proxy: 2,
            total: 3,
            ..KeepAliveSettings::default()
        };
        let pool = IdlePool::new(settings);
        let mut peers = Vec::new();
        for proxy in [1, 1, 1, 2, 3] {
            let (idle, peer) = pair(&l).await;
            peers.push(peer);
            pool.put(key(proxy, None), idle, None);
        }
        // Two for proxy 1 (its cap), one for proxy 2, none left for 3.
        assert_eq!(pool.len(), 3);
        assert!(pool.take(&key(3, None)).is_none());
        peers.clear();
        tokio::time::sleep(Duration::from_millis(50)).await;
        pool.sweep();
        assert_eq!(pool.len(), 0);
        let off = IdlePool::new(KeepAliveSettings {
            per_proxy: 0,
            ..KeepAliveSettings::default()
        });
        let (idle, _peer) = pair(&l).await;
        off.put(key(1, None), idle, None);
        assert!(!off.enabled());
        assert_eq!(off.len(), 0);
    }
}
