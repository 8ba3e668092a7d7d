//! The event hub behind `GET /api/v1/events`: the daemon publishes
//! discrete events (each gets the next `seq`) and, once a second, a
//! snapshot; every socket reads them from here.
//!
//! Each event is serialized once, as its envelope `{seq, ts, type, data}`
//! (`ts`: Unix milliseconds), and kept in a ring of the last
//! [`RING`] events, so a client that reconnects with `since=<seq>` gets
//! what it missed. Live events go out through a broadcast queue of
//! [`QUEUE`] entries shared by all sockets: a socket that falls further
//! behind loses the oldest and is told so (a `lagged` notice), so one slow
//! client never stalls the others or grows memory. Sequence numbers start
//! at the run's start time in milliseconds times 1000, so they grow across
//! restarts too and a `since` from an earlier run is recognised.
//!
//! Snapshots are not kept in the ring (a reconnecting client wants the
//! current state, not the last hour's): each socket gets the latest one,
//! carrying the `seq` of the last event before it.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, watch};

/// Events kept for `since` replays.
pub const RING: usize = 10_000;
/// Live events a socket may fall behind before it loses the oldest.
pub const QUEUE: usize = 1_024;

/// What an event is about; a socket subscribes to topics (all by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Topic {
    /// Once a second: traffic per second up and down, active connections.
    Snapshot,
    /// A proxy went up or down.
    ProxyStatusChange,
    /// A proxy's circuit breaker changed phase.
    BreakerTransition,
    /// The rotation engine rotated, failed over or changed a sticky mapping.
    Rotation,
    /// A health check ended.
    HealthCheck,
    /// A tab was opened, closed or navigated.
    TabUpdate,
    /// A tab's request was blocked.
    TabBlockedRequest,
    /// A job made progress.
    JobProgress,
    /// A log record (warnings and errors).
    Log,
}

impl Topic {
    /// Every topic, in a fixed order.
    pub const ALL: [Topic; 9] = [
        Topic::Snapshot,
        Topic::ProxyStatusChange,
        Topic::BreakerTransition,
        Topic::Rotation,
        Topic::HealthCheck,
        Topic::TabUpdate,
        Topic::TabBlockedRequest,
        Topic::JobProgress,
        Topic::Log,
    ];

    /// The name on the wire (the envelope's `type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Snapshot => "snapshot",
            Topic::ProxyStatusChange => "proxy-status-change",
            Topic::BreakerTransition => "breaker-transition",
            Topic::Rotation => "rotation",
            Topic::HealthCheck => "health-check",
            Topic::TabUpdate => "tab-update",
            Topic::TabBlockedRequest => "tab-blocked-request",
            Topic::JobProgress => "job-progress",
            Topic::Log => "log",
        }
    }

    /// The topic named `name`.
    pub fn parse(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of topics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Topics(u16);

impl Topics {
    /// Every topic.
    pub fn all() -> Topics {
        Topics(Topic::ALL.iter().fold(0, |b, t| b | t.bit()))
    }
    /// No topic.
    pub fn none() -> Topics {
        Topics(0)
    }
    /// Whether `topic` is in the set.
    pub fn has(self, topic: Topic) -> bool {
        self.0 & topic.bit() != 0
    }
    /// Adds `topic`.
    pub fn add(&mut self, topic: Topic) {
        self.0 |= topic.bit();
    }
    /// Removes `topic`.
    pub fn remove(&mut self, topic: Topic) {
        self.0 &= !topic.bit();
    }
    /// The topics in the set, by name.
    pub fn names(self) -> Vec<&'static str> {
        Topic::ALL
            .into_iter()
            .filter(|t| self.has(*t))
            .map(Topic::as_str)
            .collect()
    }
}

/// The envelope of every message the socket sends.
#[derive(Serialize)]
pub(crate) struct Envelope<'a> {
    pub seq: u64,
    pub ts: u64,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub data: &'a Value,
}

impl Envelope<'_> {
    pub(crate) fn text(&self) -> Utf8Bytes {
        Utf8Bytes::from(serde_json::to_string(self).unwrap_or_default())
    }
}

/// One published event, serialized.
#[derive(Clone, Debug)]
pub struct Stored {
    /// Its `seq`.
    pub seq: u64,
    /// Its topic.
    pub topic: Topic,
    /// The envelope as sent.
    pub text: Utf8Bytes,
}

struct Ring {
    next: u64,
    kept: VecDeque<Stored>,
}

/// Events a subscriber missed before the ring's oldest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gap {
    /// The `since` asked for.
    pub after: u64,
    /// The oldest event there is.
    pub resume: u64,
    /// How many are gone (`None`: some were in an earlier run of vip).
    pub missed: Option<u64>,
}

/// What a new socket starts from: the events after its `since`, a gap
/// when some are gone, and the live queue from there on.
pub(crate) struct Subscription {
    pub backlog: Vec<Stored>,
    pub gap: Option<Gap>,
    pub last: u64,
    pub live: broadcast::Receiver<Stored>,
}

/// The hub: ring, live queue, latest snapshot, and the stop signal.
pub struct Events {
    base: u64,
    ring: Mutex<Ring>,
    live: broadcast::Sender<Stored>,
    snapshot: watch::Sender<Option<Utf8Bytes>>,
    closing: watch::Sender<bool>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("base", &self.base)
            .field("last", &self.last_seq())
            .finish_non_exhaustive()
    }
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

/// The hub log records go to: the running daemon's (the log subscriber
/// is process-wide, so this is too; a second daemon in one process takes
/// it over). Held weakly, so a stopped daemon's hub is freed.
static LOG_TAP: std::sync::RwLock<Option<std::sync::Weak<Events>>> = std::sync::RwLock::new(None);

/// Sends this process's warnings and errors to `hub` as `log` events.
pub fn tap_logs(hub: &std::sync::Arc<Events>) {
    if let Ok(mut tap) = LOG_TAP.write() {
        *tap = Some(std::sync::Arc::downgrade(hub));
    }
}

/// Publishes a log record to the tapped hub, if there is one.
pub fn publish_log(data: Value) {
    let hub = LOG_TAP
        .read()
        .ok()
        .and_then(|t| t.as_ref().and_then(std::sync::Weak::upgrade));
    if let Some(hub) = hub {
        hub.publish(Topic::Log, data);
    }
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Events {
    /// An empty hub whose first event gets the run's first `seq`.
    pub fn new() -> Events {
        let base = now_ms().saturating_mul(1000);
        Events {
            base,
            ring: Mutex::new(Ring {
                next: base + 1,
                kept: VecDeque::with_capacity(RING),
            }),
            live: broadcast::channel(QUEUE).0,
            snapshot: watch::channel(None).0,
            closing: watch::channel(false).0,
        }
    }

    /// The `seq` before this run's first event.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The last event's `seq` (the base before the first).
    pub fn last_seq(&self) -> u64 {
        self.ring.lock().map_or(self.base, |r| r.next - 1)
    }

    /// The envelope of a kept event, as sent.
    pub fn text_of(&self, seq: u64) -> Option<String> {
        let ring = self.ring.lock().ok()?;
        let at = ring.kept.partition_point(|e| e.seq < seq);
        ring.kept
            .get(at)
            .filter(|e| e.seq == seq)
            .map(|e| e.text.to_string())
    }

    #[doc(hidden)]
    /// A bare live receiver (for the benchmark).
    pub fn live_receiver(&self) -> broadcast::Receiver<Stored> {
        self.live.subscribe()
    }

    #[doc(hidden)]
    /// How many kept events a socket subscribing with `since` replays
    /// (for the benchmark: the same work as a subscription).
    pub fn replay_len(&self, since: u64) -> usize {
        self.subscribe(Some(since)).map_or(0, |s| s.backlog.len())
    }

    /// Whether any socket is reading (work only they need can be skipped).
    pub fn watched(&self) -> bool {
        self.live.receiver_count() > 0
    }

    /// Publishes an event; returns its `seq`.
    pub fn publish(&self, topic: Topic, data: Value) -> u64 {
        let Ok(mut ring) = self.ring.lock() else {
            return 0;
        };
        let seq = ring.next;
        ring.next += 1;
        let text = Envelope {
            seq,
            ts: now_ms(),
            kind: topic.as_str(),
            data: &data,
        }
        .text();
        let stored = Stored { seq, topic, text };
        if ring.kept.len() == RING {
            ring.kept.pop_front();
        }
        ring.kept.push_back(stored.clone());
        // Sent under the lock, so a subscriber's backlog and its live
        // queue neither overlap nor leave a hole.
        let _ = self.live.send(stored);
        seq
    }

    /// Replaces the latest snapshot (the daemon calls it once a second).
    pub fn snapshot(&self, data: Value) {
        let text = Envelope {
            seq: self.last_seq(),
            ts: now_ms(),
            kind: Topic::Snapshot.as_str(),
            data: &data,
        }
        .text();
        self.snapshot.send_replace(Some(text));
    }

    /// Tells every socket that vip is stopping (each closes with 1001).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub(crate) fn watch_snapshot(&self) -> watch::Receiver<Option<Utf8Bytes>> {
        self.snapshot.subscribe()
    }

    pub(crate) fn watch_closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// A new socket's start after `since` (`None`: live events only);
    /// `Err(last)` when `since` is past the last event.
    pub(crate) fn subscribe(&self, since: Option<u64>) -> Result<Subscription, u64> {
        let ring = self.ring.lock().map_err(|_| self.base)?;
        let last = ring.next - 1;
        let live = self.live.subscribe();
        let Some(since) = since else {
            return Ok(Subscription {
                backlog: Vec::new(),
                gap: None,
                last,
                live,
            });
        };
        if since > last {
            return Err(last);
        }
        let oldest = ring.kept.front().map_or(ring.next, |e| e.seq);
        // `since=0` asks for everything kept: a gap only if this run's
        // first events are gone.
        let gap = if since == 0 {
            (oldest > self.base + 1).then(|| Gap {
                after: self.base,
                resume: oldest,
                missed: Some(oldest - self.base - 1),
            })
        } else {
            (since + 1 < oldest).then(|| Gap {
                after: since,
                resume: oldest,
                missed: (since >= self.base).then(|| oldest - since - 1),
            })
        };
        let start = ring.kept.partition_point(|e| e.seq <= since);
        Ok(Subscription {
            backlog: ring.kept.range(start..).cloned().collect(),
            gap,
            last,
            live,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn seqs(s: &Subscription) -> Vec<u64> {
        s.backlog.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_since_replays_what_came_after_it_and_the_live_queue_goes_on_from_there() {
        let hub = Events::new();
        let b = hub.base();
        for i in 0..5 {
            assert_eq!(hub.publish(Topic::Rotation, json!({ "i": i })), b + 1 + i);
        }
        let mut sub = hub.subscribe(Some(b + 3)).unwrap();
        assert_eq!(seqs(&sub), [b + 4, b + 5]);
        assert_eq!(sub.gap, None);
        assert_eq!(sub.last, b + 5);
        hub.publish(Topic::Log, json!("six"));
        let next = sub.live.try_recv().unwrap();
        assert_eq!(next.seq, b + 6);
        let v: Value = serde_json::from_str(next.text.as_str()).unwrap();
        assert_eq!(v["type"], "log");
        assert_eq!(v["data"], "six");
        assert_eq!(v["seq"], b + 6);
        assert!(v["ts"].as_u64().unwrap() > 1_700_000_000_000);
        assert_eq!(hub.subscribe(Some(b + 7)).err(), Some(b + 6));
        assert!(seqs(&hub.subscribe(None).unwrap()).is_empty());
    }

    #[test]
    fn the_ring_keeps_the_last_ten_thousand_and_names_the_gap_before_them() {
        let hub = Events::new();
        let b = hub.base();
        for _ in 0..RING + 5 {
            hub.publish(Topic::HealthCheck, Value::Null);
        }
        let sub = hub.subscribe(Some(b + 2)).unwrap();
        assert_eq!(sub.backlog.len(), RING);
        assert_eq!(sub.backlog[0].seq, b + 6);
        let gap = sub.gap.unwrap();
        assert_eq!((gap.after, gap.resume, gap.missed), (b + 2, b + 6, Some(3)));
        let all = hub.subscribe(Some(0)).unwrap();
        assert_eq!(all.backlog.len(), RING);
        assert_eq!(all.gap.unwrap().missed, Some(5));
        // A seq of an earlier run: how many are gone is not known.
        let old = hub.subscribe(Some(b - 50)).unwrap();
        assert_eq!(old.gap.unwrap().missed, None);
    }

    #[test]
    fn a_slow_socket_loses_the_oldest_live_events_and_is_told_how_many() {
        let hub = Events::new();
        let mut sub = hub.subscribe(None).unwrap();
        for _ in 0..QUEUE + 10 {
            hub.publish(Topic::Rotation, Value::Null);
        }
        match sub.live.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(n)) => assert_eq!(n, 10),
            other => panic!("expected a lag, got {other:?}"),
        }
        assert_eq!(sub.live.try_recv().unwrap().seq, hub.base() + 11);
    }

    #[test]
    fn topics_parse_by_their_wire_names_and_sets_add_and_remove() {
        for t in Topic::ALL {
            assert_eq!(Topic::parse(t.as_str()), Some(t));
            let wire = serde_json::to_value(t).unwrap();
            assert_eq!(wire, t.as_str());
        }
        assert_eq!(Topic::parse("rotations"), None);
        let mut set = Topics::none();
        set.add(Topic::Log);
        set.add(Topic::Rotation);
        assert_eq!(set.names(), ["rotation", "log"]);
        set.remove(Topic::Log);
        assert!(set.has(Topic::Rotation) && !set.has(Topic::Log));
        assert_eq!(Topics::all().names().len(), 9);
    }
}
