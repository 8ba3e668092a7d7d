//! The usage writer: a dedicated thread with its own connection that takes
//! usage events from a bounded channel, folds them into hourly buckets and
//! commits each batch in one transaction (at most `max_batch` events or
//! `max_delay` after the first one). `flush` returns once everything sent
//! before it is committed; `close` drains and commits the rest, so nothing
//! acknowledged is lost. The async side never touches SQLite.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::repo::stats::{Bucket, upsert};
pub use crate::repo::stats::{Tally, UsageEvent};
use crate::{Result, StoreError, connect};

/// Batching limits.
#[derive(Clone, Debug)]
pub struct UsageWriterConfig {
    /// Most events per transaction.
    pub max_batch: usize,
    /// Longest an event waits before its batch commits.
    pub max_delay: Duration,
    /// Channel capacity; `send` blocks and `try_send` fails when it is full.
    pub capacity: usize,
}

impl Default for UsageWriterConfig {
    fn default() -> Self {
        UsageWriterConfig {
            max_batch: 20_000,
            max_delay: Duration::from_millis(100),
            capacity: 200_000,
        }
    }
}

enum Msg {
    Event(UsageEvent),
    Flush(SyncSender<Result<u64, FlushError>>),
}

/// Why a flush did not see everything committed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlushError {
    /// The writer has stopped.
    #[error(transparent)]
    Closed(#[from] Closed),
    /// The database refused the batch (it is kept and tried again).
    #[error("{pending} usage events not saved yet: {why}")]
    Failed {
        /// Events waiting to be committed.
        pending: u64,
        /// The database's error.
        why: String,
    },
}

/// The writer was closed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the usage writer has stopped")]
pub struct Closed;

/// A cloneable handle for sending events.
#[derive(Clone)]
pub struct UsageSender {
    tx: SyncSender<Msg>,
}

impl UsageSender {
    /// Queues an event, waiting while the channel is full.
    pub fn send(&self, event: UsageEvent) -> Result<(), Closed> {
        self.tx.send(Msg::Event(event)).map_err(|_| Closed)
    }

    /// Queues an event without waiting; `Ok(false)` when the channel is full.
    pub fn try_send(&self, event: UsageEvent) -> Result<bool, Closed> {
        match self.tx.try_send(Msg::Event(event)) {
            Ok(()) => Ok(true),
            Err(TrySendError::Full(_)) => Ok(false),
            Err(TrySendError::Disconnected(_)) => Err(Closed),
        }
    }

    /// Waits until every event sent before this call is committed; returns
    /// the number of events committed so far.
    pub fn flush(&self) -> Result<u64, FlushError> {
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        self.tx.send(Msg::Flush(ack_tx)).map_err(|_| Closed)?;
        ack_rx.recv().map_err(|_| Closed)?
    }
}

/// The running writer.
pub struct UsageWriter {
    sender: Option<UsageSender>,
    handle: Option<JoinHandle<Result<u64>>>,
    committed: Arc<AtomicU64>,
}

impl UsageWriter {
    /// Starts the writer on its own connection to the (migrated) database.
    pub fn start(db_path: &Path, config: UsageWriterConfig) -> Result<UsageWriter> {
        let conn = connect(db_path)?;
        let (tx, rx) = mpsc::sync_channel(config.capacity.max(1));
        let committed = Arc::new(AtomicU64::new(0));
        let counter = committed.clone();
        let handle = std::thread::Builder::new()
            .name("vip-usage-writer".into())
            .spawn(move || run(conn, rx, config, counter))
            .map_err(|e| StoreError::Io {
                path: db_path.to_path_buf(),
                source: e,
            })?;
        Ok(UsageWriter {
            sender: Some(UsageSender { tx }),
            handle: Some(handle),
            committed,
        })
    }

    /// A handle for sending events from any thread.
    pub fn sender(&self) -> UsageSender {
        // Invariant: `sender` is only taken by `close`, which consumes self.
        self.sender.clone().expect("sender present until close")
    }

    /// Events committed so far.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Stops accepting events, commits everything queued, and returns the
    /// total committed. Other senders must be dropped first, or this waits
    /// for them.
    pub fn close(mut self) -> Result<u64> {
        self.sender.take();
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(StoreError::Corrupt(
                "the usage writer thread panicked".into(),
            )),
            None => Ok(self.committed()),
        }
    }
}

fn commit(conn: &Connection, buckets: &HashMap<(i64, i64), Bucket>) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    upsert(&tx, buckets)?;
    tx.commit()?;
    Ok(())
}

fn take(
    msg: Msg,
    buckets: &mut HashMap<(i64, i64), Bucket>,
    pending: &mut u64,
    waiters: &mut Vec<SyncSender<Result<u64, FlushError>>>,
) {
    match msg {
        Msg::Event(e) => {
            let hour = e.at_ms.div_euclid(3_600_000) * 3_600_000;
            buckets.entry((e.proxy.0 as i64, hour)).or_default().add(&e);
            *pending += 1;
        }
        Msg::Flush(w) => waiters.push(w),
    }
}

fn run(
    conn: Connection,
    rx: Receiver<Msg>,
    config: UsageWriterConfig,
    committed: Arc<AtomicU64>,
) -> Result<u64> {
    let mut buckets: HashMap<(i64, i64), Bucket> = HashMap::new();
    let mut pending: u64 = 0;
    let mut waiters: Vec<SyncSender<Result<u64, FlushError>>> = Vec::new();
    let mut deadline: Option<Instant> = None;
    let mut open = true;
    while open || pending > 0 || !waiters.is_empty() {
        if open {
            let first = match deadline {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
            };
            match first {
                Ok(msg) => take(msg, &mut buckets, &mut pending, &mut waiters),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
            while open && (pending as usize) < config.max_batch {
                match rx.try_recv() {
                    Ok(msg) => take(msg, &mut buckets, &mut pending, &mut waiters),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
        }
        if pending > 0 && deadline.is_none() {
            deadline = Some(Instant::now() + config.max_delay);
        }
        let due = deadline.is_some_and(|d| Instant::now() >= d);
        if pending as usize >= config.max_batch || !waiters.is_empty() || due || !open {
            if pending > 0 {
                if let Err(e) = commit(&conn, &buckets) {
                    if !open {
                        return Err(e);
                    }
                    // Whoever waits for a flush learns now; the batch is
                    // kept and tried again shortly (a locked database
                    // frees, a full disk may be cleared).
                    for w in waiters.drain(..) {
                        let why = e.to_string();
                        let _ = w.send(Err(FlushError::Failed { pending, why }));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                committed.fetch_add(pending, Ordering::AcqRel);
                buckets.clear();
                pending = 0;
            }
            deadline = None;
            let total = committed.load(Ordering::Acquire);
            for w in waiters.drain(..) {
                let _ = w.send(Ok(total));
            }
        }
    }
    Ok(committed.load(Ordering::Acquire))
}
