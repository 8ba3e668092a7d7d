//! `StoreSink`: the gateway's event sink in the daemon. Connection records
//! go to the batched usage writer (never blocking a connection: a full
//! queue counts a drop); rotation events, breaker transitions (the latest
//! state per proxy) and which rotations learned sticky mappings are
//! buffered for the upkeep thread, which writes what changed with the next
//! batch. Rotations, breaker transitions and blocked requests also go to
//! the events socket's hub at once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::{Arc, RwLock};

use serde_json::json;
use vip_api::{Events, Topic};
use vip_engine::{BreakerState, BreakerTransition, ConfigId, ProxyId, RotationEvent, TabId};
use vip_gateway::{AttemptEvent, ConnectionRecord, EventSink};
use vip_store::usage::{Tally, UsageEvent, UsageSender};

/// Which identity each listener serves (by the tab id it reports to the
/// engine), so events name the identity rather than an internal number.
#[derive(Debug, Default)]
pub(crate) struct Labels(RwLock<HashMap<u64, String>>);

impl Labels {
    pub fn set(&self, tab: TabId, identity: String) {
        if let Ok(mut m) = self.0.write() {
            m.insert(tab.0, identity);
        }
    }
    pub fn remove(&self, tab: TabId) {
        if let Ok(mut m) = self.0.write() {
            m.remove(&tab.0);
        }
    }
    pub fn get(&self, tab: TabId) -> Option<String> {
        self.0.read().ok().and_then(|m| m.get(&tab.0).cloned())
    }
}

/// Usage to the batched writer, rotation events buffered for the store.
pub(crate) struct StoreSink {
    usage: UsageSender,
    pending: Mutex<Vec<RotationEvent>>,
    breakers: Mutex<HashMap<ProxyId, BreakerState>>,
    sticky: Mutex<HashSet<ConfigId>>,
    dropped: AtomicU64,
    events: Arc<Events>,
    labels: Arc<Labels>,
}

impl StoreSink {
    pub fn new(usage: UsageSender, events: Arc<Events>, labels: Arc<Labels>) -> StoreSink {
        StoreSink {
            events,
            labels,
            usage,
            pending: Mutex::new(Vec::new()),
            breakers: Mutex::new(HashMap::new()),
            sticky: Mutex::new(HashSet::new()),
            dropped: AtomicU64::new(0),
        }
    }

    /// The events socket's hub.
    pub fn events(&self) -> &Arc<Events> {
        &self.events
    }

    /// Takes the buffered rotation events.
    pub fn take_events(&self) -> Vec<RotationEvent> {
        self.pending
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }

    /// Puts events back that could not be written (kept for the next try).
    pub fn put_back(&self, mut events: Vec<RotationEvent>) {
        if let Ok(mut buf) = self.pending.lock() {
            events.append(&mut buf);
            *buf = events;
        }
    }

    /// Takes the breakers that changed phase (latest state of each).
    pub fn take_breakers(&self) -> HashMap<ProxyId, BreakerState> {
        self.breakers
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }

    /// Puts breaker states back that could not be written (newer ones win).
    pub fn put_back_breakers(&self, states: HashMap<ProxyId, BreakerState>) {
        if let Ok(mut b) = self.breakers.lock() {
            for (id, state) in states {
                b.entry(id).or_insert(state);
            }
        }
    }

    /// Takes the rotations whose sticky mappings changed.
    pub fn take_sticky(&self) -> HashSet<ConfigId> {
        self.sticky
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    /// Marks rotations' sticky mappings as changed.
    pub fn mark_sticky(&self, rotations: impl IntoIterator<Item = ConfigId>) {
        if let Ok(mut s) = self.sticky.lock() {
            s.extend(rotations);
        }
    }

    /// Usage events dropped because the writer's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Rotation events waiting to be written.
    pub fn pending_events(&self) -> usize {
        self.pending.lock().map_or(0, |e| e.len())
    }
}

impl EventSink for StoreSink {
    fn connection(&self, r: ConnectionRecord) {
        let Some(proxy) = r.proxy else { return };
        let event = UsageEvent {
            proxy,
            at_ms: r.finished_at.as_millis(),
            ok: r.ok,
            error_kind: r.failure.map(vip_engine::FailureKind::as_str),
            latency_ms: r.connect_latency.map(|d| d.as_secs_f64() * 1000.0),
            bytes_sent: r.bytes_up,
            bytes_received: r.bytes_down,
            tally: None,
        };
        if !matches!(self.usage.try_send(event), Ok(true)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn attempt(&self, proxy: ProxyId, event: AttemptEvent, at: vip_engine::Timestamp) {
        let tally = Tally {
            event: event.name(),
            fault: event.fault().map(vip_engine::FailureKind::as_str),
        };
        let e = UsageEvent::tally(proxy, at.as_millis(), tally);
        if !matches!(self.usage.try_send(e), Ok(true)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn rotation(&self, events: Vec<RotationEvent>) {
        for e in &events {
            self.events.publish(
                Topic::Rotation,
                json!({
                    "rotation": e.rotation.0,
                    "key": e.key.to_string(),
                    "previous": e.previous.map(|p| p.0),
                    "proxy": e.new.map(|p| p.0),
                    "reason": e.reason.as_str(),
                    "rule": e.rule.map(|r| r.0),
                    "at_ms": e.at.as_millis(),
                }),
            );
        }
        if let Ok(mut buf) = self.pending.lock() {
            buf.extend(events);
        }
    }

    fn blocked(&self, tab: Option<TabId>, host: &str, url: Option<&str>) {
        self.events.publish(
            Topic::TabBlockedRequest,
            json!({
                "identity": tab.and_then(|t| self.labels.get(t)),
                "host": host,
                "url": url,
                "list": "EasyList/EasyPrivacy",
            }),
        );
    }

    fn breaker(&self, transition: BreakerTransition) {
        self.events.publish(
            Topic::BreakerTransition,
            json!({
                "proxy": transition.proxy.0,
                "from": transition.from,
                "to": transition.to,
            }),
        );
        if let Ok(mut b) = self.breakers.lock() {
            b.insert(transition.proxy, transition.state);
        }
    }

    fn sticky_changed(&self, rotation: ConfigId) {
        self.mark_sticky([rotation]);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use vip_engine::FailureKind;
    use vip_store::usage::{UsageWriter, UsageWriterConfig};

    #[test]
    fn attempt_events_reach_the_usage_statistics_by_event_and_fault() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(vip_store::DATABASE_FILE);
        let store = vip_store::Store::open(&db).unwrap();
        let writer = UsageWriter::start(&db, UsageWriterConfig::default()).unwrap();
        let sink = StoreSink::new(writer.sender(), Arc::default(), Arc::default());
        let now = vip_gateway::now();
        let (one, two) = (ProxyId(1), ProxyId(2));
        sink.attempt(one, AttemptEvent::Failover(FailureKind::ProxyRefused), now);
        sink.attempt(one, AttemptEvent::Failover(FailureKind::ProxyRefused), now);
        sink.attempt(one, AttemptEvent::HedgeLost, now);
        sink.attempt(two, AttemptEvent::HedgeWon, now);
        sink.attempt(
            two,
            AttemptEvent::ReplayRefused(FailureKind::ProxyReset),
            now,
        );
        writer.sender().flush().unwrap();
        let stats = store.usage_stats(None, 1).unwrap();
        let counts = |id: i64| {
            let s = stats.iter().find(|s| s.proxy_id == id).unwrap();
            assert_eq!(s.total_requests, 0, "events are not requests");
            s.event_counts
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(1), ["failover:proxy_refused=2", "hedge_lost=1"]);
        assert_eq!(counts(2), ["hedge_won=1", "replay_refused:proxy_reset=1"]);
        assert_eq!(sink.dropped(), 0);
    }

    #[test]
    fn blocked_requests_and_breaker_transitions_reach_the_hub_by_identity() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(vip_store::DATABASE_FILE);
        let _store = vip_store::Store::open(&db).unwrap();
        let writer = UsageWriter::start(&db, UsageWriterConfig::default()).unwrap();
        let (events, labels) = (Arc::new(Events::new()), Arc::new(Labels::default()));
        let sink = StoreSink::new(writer.sender(), events.clone(), labels.clone());
        labels.set(TabId(3), "work".into());
        sink.blocked(Some(TabId(3)), "t.test", None);
        sink.blocked(Some(TabId(4)), "u.test", Some("http://u.test/p"));
        let base = events.base();
        assert_eq!(events.last_seq(), base + 2);
        let text = |seq| events.text_of(seq).unwrap();
        let one: serde_json::Value = serde_json::from_str(&text(base + 1)).unwrap();
        assert_eq!(one["type"], "tab-blocked-request");
        assert_eq!(one["data"]["identity"], "work");
        assert_eq!(one["data"]["host"], "t.test");
        let two: serde_json::Value = serde_json::from_str(&text(base + 2)).unwrap();
        assert_eq!(two["data"]["identity"], serde_json::Value::Null);
        assert_eq!(two["data"]["url"], "http://u.test/p");
        labels.remove(TabId(3));
        assert_eq!(labels.get(TabId(3)), None);
    }
}
