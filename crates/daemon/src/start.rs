//! Starting the daemon: each component built once, in order, from its
//! sub-config; the tasks spawned on one tracker. The handle is what a
//! caller (the binary, a test) keeps.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;
use vip_engine::{Engine, HealthSettings, PoolSnapshot, RuntimeCopy};
use vip_gateway::{Assignment, Gateway, ListenerSpec};
use vip_store::usage::{UsageWriter, UsageWriterConfig};
use vip_store::vault::Vault;
use vip_store::{DATABASE_FILE, Store};

use crate::browse::Browsing;
use crate::config::DaemonConfig;
use crate::control::DaemonControl;
use crate::credentials::VaultCredentials;
use crate::error::DaemonError;
use crate::rotations;
use crate::sink::StoreSink;
use crate::upkeep::{Unsaved, Upkeep, UpkeepMsg};

/// How often named identities' cookies and local data are saved while
/// their tabs are open.
const AUTOSAVE: Duration = Duration::from_secs(120);

/// A running daemon.
pub struct DaemonHandle {
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) browsing: Arc<Browsing>,
    pub(crate) control: Arc<DaemonControl>,
    pub(crate) tracker: TaskTracker,
    pub(crate) cancel: CancellationToken,
    pub(crate) upkeep_stop: CancellationToken,
    pub(crate) upkeep: JoinHandle<Unsaved>,
    pub(crate) writer: UsageWriter,
    pub(crate) sink: Arc<StoreSink>,
    /// Cancel the services and the upkeep thread when the handle is dropped
    /// without `shutdown` (a test that fails half-way), so nothing outlives it.
    pub(crate) _stop_on_drop: (DropGuard, DropGuard),
    pub(crate) blocklist: Option<Arc<vip_privacy::Blocklist>>,
    pub(crate) data_dir: PathBuf,
    gateway_addr: SocketAddr,
    api_addr: SocketAddr,
}

impl DaemonHandle {
    /// Where the shared gateway listener is bound.
    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway_addr
    }

    /// Where the control API is bound.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The gateway (for tests and in-process callers).
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Reloads the pool and rotation configs from the store now; answers
    /// once they are in the engine.
    pub async fn reload(&self) -> Result<vip_api::Reloaded, vip_api::ApiError> {
        self.control.reload_now().await
    }
}

/// Starts the daemon. `vault` is the unlocked vault, when there is one
/// (needed for proxies with credentials and for named identities).
pub async fn start(
    config: DaemonConfig,
    vault: Option<Vault>,
) -> Result<DaemonHandle, DaemonError> {
    let DaemonConfig {
        data_dir,
        gateway: gateway_config,
        health,
        upkeep: upkeep_config,
        browser,
        api,
    } = config;
    let vault = vault.map(Arc::new);
    // First, so warnings of the start itself reach the events socket's ring.
    let events = Arc::new(vip_api::Events::new());
    vip_api::events::tap_logs(&events);
    let db = data_dir.join(DATABASE_FILE);
    let store = Store::open(&db)?;
    let pool =
        PoolSnapshot::new(store.engine_pool()?).map_err(|e| DaemonError::Pool(e.to_string()))?;
    let credentials = Arc::new(VaultCredentials::new(vault.clone(), data_dir.clone()));
    let missing = credentials.refresh(&store, pool.proxies());
    if missing > 0 {
        tracing::warn!(
            missing,
            "credentials unreadable: those proxies connect without a login"
        );
    }
    let now = vip_gateway::now();
    let loaded = rotations::read(&store)?;
    let active_name = loaded.active_name.clone();
    let mut sticky = HashMap::new();
    for config in &loaded.configs {
        sticky.insert(config.id, store.load_sticky(config.id)?);
    }
    let mut engine = Engine::build(
        pool,
        HealthSettings::default(),
        RuntimeCopy::default(),
        loaded.configs,
        sticky,
        now,
    );
    rotations::activate(&mut engine, &loaded.active);
    for (id, state) in store.load_breakers()? {
        engine.restore_breaker(id, state, now);
    }
    let pool_size = engine.pool().len();
    let writer = UsageWriter::start(&db, UsageWriterConfig::default())?;
    let labels = Arc::new(crate::sink::Labels::default());
    let sink = Arc::new(StoreSink::new(
        writer.sender(),
        events.clone(),
        labels.clone(),
    ));
    let blocklist = gateway_config.settings.blocklist.clone();
    let gateway = Arc::new(Gateway::new(
        engine,
        credentials.clone(),
        sink.clone(),
        gateway_config.settings,
    ));
    let shared = gateway
        .listen(
            gateway_config.listen,
            ListenerSpec {
                assignment: Assignment::Active {
                    group: None,
                    country: None,
                },
                tab: None,
                auth: gateway_config.client_auth.clone(),
                budget: None,
            },
        )
        .await?;
    tracing::info!(
        "gateway on {} (HTTP and SOCKS5), {pool_size} proxies, rotation: {active_name}",
        shared.addr
    );
    let browsing = Arc::new(Browsing::new(
        gateway.clone(),
        &db,
        credentials.clone(),
        browser,
        events.clone(),
        labels,
    )?);
    let api_listener = tokio::net::TcpListener::bind(api.listen)
        .await
        .map_err(|source| DaemonError::Bind {
            what: "control API",
            addr: api.listen,
            source,
        })?;
    let api_addr = api_listener
        .local_addr()
        .map_err(DaemonError::io("reading the control API's address"))?;
    gateway.protect_port(api_addr.port());
    let token = vip_api::write_files(&data_dir, api_addr)
        .map_err(DaemonError::io("writing the API token"))?;
    tracing::info!(
        "control API on {api_addr} (token in {})",
        data_dir.join(vip_api::TOKEN_FILE).display()
    );

    let mut access = vip_api::Access::new(token, api_addr.port());
    access.limits = api.rate_limits.clone();
    access.events = events.clone();
    let tracker = TaskTracker::new();
    let cancel = CancellationToken::new();
    let upkeep_stop = CancellationToken::new();
    let (tx, rx) = std::sync::mpsc::channel::<UpkeepMsg>();
    let upkeep = {
        let upkeep = Upkeep {
            store,
            gateway: gateway.clone(),
            sink: sink.clone(),
            credentials: credentials.clone(),
            config: upkeep_config,
        };
        let stop = upkeep_stop.clone();
        tracker.spawn_blocking(move || upkeep.run(rx, stop))
    };
    let checks = Arc::new(crate::jobs::Checks::new(
        gateway.clone(),
        browsing.clone(),
        credentials.clone(),
        sink.clone(),
        health
            .as_ref()
            .map(|h| h.settings.clone())
            .unwrap_or_default(),
        tracker.clone(),
        cancel.clone(),
    ));
    let control = Arc::new(DaemonControl::new(browsing.clone(), tx.clone(), checks));
    tracker.spawn(vip_api::serve(
        api_listener,
        vip_api::router(control.clone(), access),
        cancel.clone().cancelled_owned(),
    ));
    spawn_browser_start(&tracker, &cancel, &browsing);
    spawn_autosave(&tracker, &cancel, &browsing);
    spawn_snapshots(&tracker, &cancel, &gateway, &browsing, events);
    if let Some(health) = health {
        tracker.spawn(crate::health::run(
            gateway.clone(),
            credentials,
            sink.clone(),
            health,
            tx,
            cancel.clone(),
        ));
    }
    Ok(DaemonHandle {
        gateway,
        browsing,
        control,
        tracker,
        _stop_on_drop: (
            cancel.clone().drop_guard(),
            upkeep_stop.clone().drop_guard(),
        ),
        cancel,
        upkeep_stop,
        upkeep,
        writer,
        sink,
        blocklist,
        data_dir,
        gateway_addr: shared.addr,
        api_addr,
    })
}

/// Starts the default browser now, so the first tab opens fast.
fn spawn_browser_start(
    tracker: &TaskTracker,
    cancel: &CancellationToken,
    browsing: &Arc<Browsing>,
) {
    let (browsing, cancel) = (browsing.clone(), cancel.clone());
    tracker.spawn(async move {
        let started = tokio::select! {
            _ = cancel.cancelled() => return,
            started = browsing.start() => started,
        };
        match started {
            Ok(Some(devtools)) => tracing::info!("browser running; DevTools at {devtools}"),
            Ok(None) if browsing.disabled() => tracing::info!("browser off (--no-browser)"),
            Ok(None) => tracing::info!("browser running"),
            Err(e) => tracing::warn!("browser not started: {e}"),
        }
    });
}

/// Once a second while a socket reads events: the traffic snapshot
/// (bytes per second each way, totals, open connections) and the tabs'
/// navigations.
fn spawn_snapshots(
    tracker: &TaskTracker,
    cancel: &CancellationToken,
    gateway: &Arc<Gateway>,
    browsing: &Arc<Browsing>,
    events: Arc<vip_api::Events>,
) {
    let (gateway, browsing, cancel) = (gateway.clone(), browsing.clone(), cancel.clone());
    tracker.spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut before = (gateway.traffic(), std::time::Instant::now());
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = every.tick() => {}
            }
            let (now, at) = (gateway.traffic(), std::time::Instant::now());
            let secs = at.duration_since(before.1).as_secs_f64().max(1e-3);
            let rate = |a: u64, b: u64| (a.saturating_sub(b) as f64 / secs).round() as u64;
            if events.watched() {
                events.snapshot(serde_json::json!({
                    "up_bps": rate(now.up, before.0.up),
                    "down_bps": rate(now.down, before.0.down),
                    "up_total": now.up,
                    "down_total": now.down,
                    "active_connections": now.active,
                }));
                browsing.note_navigations().await;
            }
            before = (now, at);
        }
    });
}

/// Saves named identities' storage every [`AUTOSAVE`].
fn spawn_autosave(tracker: &TaskTracker, cancel: &CancellationToken, browsing: &Arc<Browsing>) {
    let (browsing, cancel) = (browsing.clone(), cancel.clone());
    tracker.spawn(async move {
        let mut every = tokio::time::interval(AUTOSAVE);
        every.tick().await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = every.tick() => browsing.autosave().await,
            }
        }
    });
}
