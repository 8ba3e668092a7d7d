//! The upkeep thread: the daemon's one writer of engine state and reader of
//! configuration changes. It owns a store connection and runs one loop
//! over [`UpkeepMsg`]s and deadlines:
//!
//! - a reload asked for through the control API is done at once and
//!   answered after the new pool and configs are in the engine;
//! - every `poll_every` it asks SQLite whether another connection committed
//!   (`PRAGMA data_version`, no table read) and, only then, whether what
//!   the engine loads changed (the config fingerprint);
//! - health reports are recorded as they arrive;
//! - with a retention set, old statistics, events and activity are pruned
//!   at start and then daily;
//! - what changed in the engine (rotation events, breaker transitions,
//!   sticky mappings learned) is written every `save_within`.
//!
//! A store that fails is logged and tried again on the next turn; the loop
//! ends only when the daemon stops, with one last save whose outcome is
//! returned.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use vip_api::Reloaded;
use vip_engine::{Engine, PoolSnapshot, RuntimeCopy};
use vip_gateway::Gateway;
use vip_gateway::health::{CheckReport, Hysteresis};
use vip_store::{Store, StoreError};

use crate::config::{Retention, UpkeepConfig};

/// How often history is pruned (the first time at start).
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
use crate::credentials::VaultCredentials;
use crate::sink::StoreSink;
use crate::{persist, rotations};

/// Proxies whose runtime state is copied per hold of the engine's lock
/// during a reload (about 10 µs each).
const COPY_CHUNK: usize = 512;

/// What other tasks tell the upkeep thread.
pub(crate) enum UpkeepMsg {
    /// A health check finished.
    Health(CheckReport),
    /// The wall clock jumped: hysteresis starts afresh.
    ClockJump,
    /// Reload now and answer with the active rotation's name.
    Reload(tokio::sync::oneshot::Sender<Result<Reloaded, StoreError>>),
}

/// The upkeep thread's state.
pub(crate) struct Upkeep {
    pub store: Store,
    pub gateway: Arc<Gateway>,
    pub sink: Arc<StoreSink>,
    pub credentials: Arc<VaultCredentials>,
    pub config: UpkeepConfig,
}

/// What the last save left unwritten.
#[derive(Debug, Default)]
pub struct Unsaved {
    /// The error of the last save, if it failed.
    pub error: Option<String>,
    /// Rotation events not written.
    pub events: usize,
}

impl Upkeep {
    /// Reads the store and puts the new pool, credentials and configs into
    /// the engine; reading, parsing and building the new engine run outside
    /// its lock, which is only held for short copies and the final swap.
    pub fn reload(&mut self) -> Result<Reloaded, StoreError> {
        let pool = PoolSnapshot::new(self.store.engine_pool()?)
            .map_err(|e| StoreError::Corrupt(format!("the stored pool: {e}")))?;
        let loaded = rotations::read(&self.store)?;
        let name = loaded.active_name.clone();
        let missing = self.credentials.refresh(&self.store, pool.proxies());
        if missing > 0 {
            tracing::warn!(
                missing,
                "credentials unreadable (vault locked or rows damaged): those proxies connect without a login"
            );
        }
        // The rebuild's steps (see `vip_engine::Engine::build`): each lock
        // is short; the indexes are built with no lock held.
        let start = self.gateway.with_engine(|e| e.begin_rebuild());
        let mut copy = RuntimeCopy::with_capacity(start.proxies);
        while !self
            .gateway
            .with_engine(|e| e.copy_runtime(&mut copy, COPY_CHUNK))
        {}
        let now = vip_gateway::now();
        let mut next = Engine::build(
            pool,
            start.settings,
            copy,
            loaded.configs,
            start.sticky,
            now,
        );
        rotations::activate(&mut next, &loaded.active);
        let old = self.gateway.with_engine(|e| e.finish_rebuild(next, now));
        // Freed here, not under the lock (milliseconds for a large pool).
        drop(old);
        Ok(Reloaded {
            rotation: name,
            unreadable_logins: missing,
        })
    }

    /// Runs until `cancel`; returns what the last save could not write.
    pub fn run(mut self, rx: Receiver<UpkeepMsg>, cancel: CancellationToken) -> Unsaved {
        let mut hysteresis = Hysteresis::new(2, 3);
        let mut version = self.store.data_version().unwrap_or_default();
        let mut seen = self.store.config_fingerprint().unwrap_or_default();
        let (mut next_poll, mut next_save) = (Instant::now(), Instant::now());
        let mut next_prune = Instant::now();
        let turn = self.config.poll_every.min(self.config.save_within);
        while !cancel.is_cancelled() {
            let wait = next_poll
                .min(next_save)
                .saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait.min(turn).max(Duration::from_millis(1))) {
                Ok(UpkeepMsg::Reload(reply)) => {
                    let result = self.reload();
                    if let Ok(done) = &result {
                        tracing::info!("configuration reloaded; rotation: {}", done.rotation);
                        seen = self.store.config_fingerprint().unwrap_or_default();
                    }
                    let _ = reply.send(result);
                }
                Ok(UpkeepMsg::ClockJump) => hysteresis.forgive(),
                Ok(UpkeepMsg::Health(r)) => self.record(&mut hysteresis, &r),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(wait.min(turn));
                }
            }
            let now = Instant::now();
            if now >= next_poll {
                next_poll = now + self.config.poll_every;
                match self.changed(&mut version, &mut seen) {
                    Ok(false) => {}
                    Ok(true) => match self.reload() {
                        Ok(done) => {
                            tracing::info!("configuration reloaded; rotation: {}", done.rotation)
                        }
                        Err(e) => tracing::warn!("reloading the configuration: {e}"),
                    },
                    Err(e) => tracing::warn!("looking for configuration changes: {e}"),
                }
            }
            if let Some(kept) = self.config.retention
                && now >= next_prune
            {
                next_prune = now + PRUNE_EVERY;
                self.prune(kept);
            }
            if now >= next_save {
                next_save = now + self.config.save_within;
                if let Err(e) = persist::save_changes(&self.store, &self.gateway, &self.sink) {
                    tracing::warn!("saving breakers and sticky mappings: {e} (trying again)");
                }
            }
        }
        let error = persist::save_all(&self.store, &self.gateway, &self.sink)
            .err()
            .map(|e| e.to_string());
        Unsaved {
            error,
            events: self.sink.pending_events(),
        }
    }

    /// Whether another connection changed what the engine loads.
    fn changed(&self, version: &mut i64, seen: &mut String) -> Result<bool, StoreError> {
        let now = self.store.data_version()?;
        if now == *version {
            return Ok(false);
        }
        *version = now;
        let current = self.store.config_fingerprint()?;
        if current == *seen {
            return Ok(false);
        }
        *seen = current;
        Ok(true)
    }

    /// Deletes history older than `kept` allows (no VACUUM).
    fn prune(&self, kept: Retention) {
        match self
            .store
            .maintenance(kept.stats_days, kept.events_days, false)
        {
            Ok(r) => tracing::info!(
                stats = r.stats_deleted,
                events = r.events_deleted,
                activity = r.activity_deleted,
                sticky = r.sticky_deleted,
                "pruned history older than {} days (statistics) and {} days (events)",
                kept.stats_days,
                kept.events_days
            ),
            Err(e) => tracing::warn!("pruning old history: {e} (trying again tomorrow)"),
        }
    }

    fn record(&self, hysteresis: &mut Hysteresis, r: &CheckReport) {
        let status = hysteresis.record(r.proxy, r.ok).map(|s| s.as_str());
        let events = self.sink.events();
        events.publish(
            vip_api::Topic::HealthCheck,
            serde_json::to_value(r).unwrap_or_default(),
        );
        if let Some(status) = status {
            events.publish(
                vip_api::Topic::ProxyStatusChange,
                serde_json::json!({ "proxy": r.proxy.0, "status": status }),
            );
        }
        let latency = r.latency.filter(|_| r.ok).map(|d| d.as_secs_f64() * 1000.0);
        let ip = r.exit_ip.map(|i| i.to_string());
        let exit = (ip.as_deref(), r.exit_country.as_deref());
        if let Err(e) = self
            .store
            .record_check(r.proxy, status, latency, exit, vip_store::now_ms())
        {
            tracing::warn!(proxy = r.proxy.0, "recording a health check: {e}");
        }
    }
}
