//! Live traffic totals of a gateway: bytes each way since it started and
//! the client connections open now. Tunnels add their bytes as they relay
//! them (a long download shows while it runs); plain-HTTP exchanges when
//! they end. The daemon turns two readings into bytes per second.

use std::sync::atomic::{AtomicU64, Ordering};

/// The counters, shared by every connection.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    pub up: AtomicU64,
    pub down: AtomicU64,
    active: AtomicU64,
}

/// One reading of [`Traffic`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrafficTotals {
    /// Bytes client → target since the gateway started.
    pub up: u64,
    /// Bytes target → client since the gateway started.
    pub down: u64,
    /// Client connections open now.
    pub active: u64,
}

/// Counts one open client connection until dropped.
pub(crate) struct Open<'a>(&'a Traffic);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Traffic {
    /// Adds bytes that were not counted while relayed.
    pub fn add(&self, up: u64, down: u64) {
        self.up.fetch_add(up, Ordering::Relaxed);
        self.down.fetch_add(down, Ordering::Relaxed);
    }

    /// Counts a client connection as open while the guard lives.
    pub fn open(&self) -> Open<'_> {
        self.active.fetch_add(1, Ordering::Relaxed);
        Open(self)
    }

    /// The totals now.
    pub fn totals(&self) -> TrafficTotals {
        TrafficTotals {
            up: self.up.load(Ordering::Relaxed),
            down: self.down.load(Ordering::Relaxed),
            active: self.active.load(Ordering::Relaxed),
        }
    }
}
