//! `vip serve` wiring: load the pool, rotation configs, breakers and sticky
//! mappings from the store into an engine; run the gateway's shared listener
//! with the active rotation; send usage to the batched writer and rotation
//! events to the store; pick up changes other `vip` commands make (a cheap
//! fingerprint query every two seconds); on Ctrl-C or SIGTERM drain the
//! gateway, then flush events, breakers, sticky mappings and usage. It also
//! runs the browser side (`browse`), its control API, and saves named
//! identities' storage every two minutes and on the way out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use vip_engine::{
    ConfigId, CredentialRef, Engine, HealthSettings, PoolSnapshot, RotationConfig, RotationEvent,
    StrategyName,
};
use vip_gateway::health::{CheckReport, CheckSettings, ClockWatch, Hysteresis, check};
use vip_gateway::{
    Assignment, ClientAuth, ConnectionRecord, Credentials, EventSink, Gateway, GatewaySettings,
    ListenerSpec,
};
use vip_store::usage::{UsageEvent, UsageSender, UsageWriter, UsageWriterConfig};
use vip_store::vault::{Secret, Vault};
use vip_store::{DATABASE_FILE, Store};

/// The engine id under which the pool's active config is loaded; the shared
/// listener always uses it, so activation needs no listener change.
pub const ACTIVE: ConfigId = ConfigId(0);

/// How often named identities' cookies and local data are saved while
/// their tabs are open.
const AUTOSAVE: Duration = Duration::from_secs(120);

/// Usage to the batched writer, rotation events buffered for the store.
struct StoreSink {
    usage: UsageSender,
    events: Mutex<Vec<RotationEvent>>,
    dropped: AtomicU64,
}

impl EventSink for StoreSink {
    fn connection(&self, r: ConnectionRecord) {
        let Some(proxy) = r.proxy else { return };
        let event = UsageEvent {
            proxy_id: proxy.0 as i64,
            at_ms: r.finished_at.as_millis(),
            ok: r.ok,
            error_kind: r.failure.map(vip_engine::FailureKind::as_str),
            latency_ms: r.connect_latency.map(|d| d.as_secs_f64() * 1000.0),
            bytes_sent: r.bytes_up,
            bytes_received: r.bytes_down,
        };
        if !matches!(self.usage.try_send(event), Ok(true)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn rotation(&self, events: Vec<RotationEvent>) {
        if let Ok(mut buf) = self.events.lock() {
            buf.extend(events);
        }
    }
}

/// Credentials decrypted from the vault on first use, then kept in memory
/// (zeroized when dropped).
struct VaultCredentials {
    store: Mutex<Store>,
    vault: Option<Arc<Vault>>,
    cache: Mutex<HashMap<CredentialRef, (Secret, Secret)>>,
}

impl Credentials for VaultCredentials {
    fn login(&self, credential: CredentialRef) -> Option<(Secret, Secret)> {
        let mut cache = self.cache.lock().ok()?;
        if let Some(l) = cache.get(&credential) {
            return Some(l.clone());
        }
        let vault = self.vault.as_ref()?;
        let store = self.store.lock().ok()?;
        let c = store.get_credential(vault, credential.0 as i64).ok()?;
        let login = (c.username, c.password);
        cache.insert(credential, login.clone());
        Some(login)
    }
}

/// Loads every stored rotation config plus the active one under [`ACTIVE`];
/// returns its name and stored id. `previous` is the stored id the shared
/// listener ran before: when another config has become active, the shared
/// listener starts from that config's own sticky mappings instead of
/// keeping the previous one's.
fn load_rotations(
    store: &Store,
    engine: &mut Engine,
    previous: Option<ConfigId>,
) -> anyhow::Result<(String, Option<ConfigId>)> {
    let now = vip_gateway::now();
    let mut active_name = "built-in round-robin over the whole pool".to_string();
    let mut active = RotationConfig::new(ACTIVE.0, StrategyName::RoundRobin, None);
    let mut active_id = None;
    let mut loaded = Vec::new();
    for record in store.list_rotations()? {
        let config = store.engine_rotation(record.id)?;
        if record.is_active && record.target_group.is_none() {
            active = config.clone();
            active.id = ACTIVE;
            active_id = Some(config.id);
            active_name = format!("{} ({})", record.name, record.strategy);
        }
        loaded.push(config.id);
        engine.set_rotation(config, now);
    }
    let switched = active_id != previous;
    if switched {
        engine.remove_rotation(ACTIVE);
    }
    engine.set_rotation(active, now);
    if let Some(id) = active_id.filter(|_| switched) {
        let own = engine.sticky_mappings(id);
        engine.restore_sticky_mappings(ACTIVE, own, now);
    }
    for id in engine.rotation_ids() {
        if id != ACTIVE && !loaded.contains(&id) {
            engine.remove_rotation(id);
        }
    }
    Ok((active_name, active_id))
}

/// Saves rotation events, breakers and sticky mappings. `active` is the
/// stored config the shared listener runs as [`ACTIVE`]: its mappings are
/// stored under that config's id, shared by both copies.
fn save_state(
    store: &Store,
    gateway: &Gateway,
    sink: &StoreSink,
    active: Option<ConfigId>,
) -> anyhow::Result<()> {
    let events = sink
        .events
        .lock()
        .map(|mut e| std::mem::take(&mut *e))
        .unwrap_or_default();
    if !events.is_empty() {
        store.log_events(&events)?;
    }
    let (breakers, sticky) = gateway.with_engine(|e| {
        let ids = e.rotation_ids();
        (
            e.breaker_states(),
            ids.into_iter()
                .filter(|id| *id != ACTIVE)
                .map(|id| {
                    // The shared listener's mappings first: where both
                    // copies mapped a domain, its mapping is kept.
                    let mut mappings = match Some(id) == active {
                        true => e.sticky_mappings(ACTIVE),
                        false => Vec::new(),
                    };
                    mappings.extend(e.sticky_mappings(id));
                    (id, mappings)
                })
                .collect::<Vec<_>>(),
        )
    });
    for (id, state) in &breakers {
        store.save_breaker(*id, state)?;
    }
    store.conn().execute(
        &format!(
            "DELETE FROM circuit_breakers WHERE proxy_id NOT IN ({})",
            breakers
                .iter()
                .map(|(id, _)| id.0.to_string())
                .chain(std::iter::once("-1".into()))
                .collect::<Vec<_>>()
                .join(",")
        ),
        [],
    )?;
    for (id, mappings) in sticky {
        store.save_sticky(id.0 as i64, &mappings)?;
    }
    Ok(())
}

/// Options of `vip serve`.
pub struct ServeOptions {
    /// Shared listener address.
    pub listen: SocketAddr,
    /// Client authentication for the shared listener.
    pub client_auth: Option<ClientAuth>,
    /// How often to look for changes made by other commands.
    pub reload_every: Duration,
    /// Tracker blocking, when on.
    pub blocklist: Option<Arc<vip_privacy::Blocklist>>,
    /// Periodic health checks and their round length, when on.
    pub checks: Option<(CheckSettings, Duration)>,
    /// Trust for HTTPS upstream proxies.
    pub tls: vip_gateway::upstream::Tls,
    /// The browser.
    pub browse: crate::browse::BrowseOptions,
    /// Where the control API listens.
    pub api_listen: SocketAddr,
}

/// What the health task tells the upkeep thread.
enum HealthMsg {
    Report(CheckReport),
    ClockJump,
}

/// One round of checks per `every`, staggered evenly with jitter, at most
/// `settings.concurrency` at once; results go to the engine at once and to
/// the upkeep thread for the store. A wall-clock jump starts a fresh round.
async fn health_loop(
    gateway: Arc<Gateway>,
    credentials: Arc<VaultCredentials>,
    settings: CheckSettings,
    every: Duration,
    tx: std::sync::mpsc::Sender<HealthMsg>,
) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(vip_store::now_ms() as u64);
    let mut watch = ClockWatch::new(every + Duration::from_secs(30));
    let limit = Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1)));
    let mut running = tokio::task::JoinSet::new();
    loop {
        let pool = gateway.with_engine(|e| e.pool().clone());
        // Disabled proxies are checked too, so users can see when one recovers.
        let proxies: Vec<vip_engine::Proxy> = pool.proxies().to_vec();
        let step = every / (proxies.len().max(1) as u32);
        for proxy in proxies {
            tokio::time::sleep(step.mul_f64(rng.random_range(0.5..1.5))).await;
            while running.try_join_next().is_some() {}
            if watch.jumped() {
                let _ = tx.send(HealthMsg::ClockJump);
                break;
            }
            let (gateway, credentials, settings, tx, limit) = (
                gateway.clone(),
                credentials.clone(),
                settings.clone(),
                tx.clone(),
                limit.clone(),
            );
            running.spawn(async move {
                let Ok(_permit) = limit.acquire_owned().await else {
                    return;
                };
                let login = proxy.credential.and_then(|c| credentials.login(c));
                let report = check(&proxy, login.as_ref(), &settings).await;
                let result = if report.ok {
                    Ok(report.latency.unwrap_or_default())
                } else {
                    Err(report.failure.unwrap_or(vip_engine::FailureKind::Local))
                };
                gateway.with_engine(|e| {
                    e.observe(
                        vip_gateway::now(),
                        vip_engine::Feedback::Checked {
                            proxy: proxy.id,
                            result,
                        },
                    )
                });
                let _ = tx.send(HealthMsg::Report(report));
            });
        }
        if step.is_zero() {
            tokio::time::sleep(every.max(Duration::from_secs(1))).await;
        }
    }
}

/// Runs until Ctrl-C or SIGTERM.
pub fn run(data_dir: &Path, options: ServeOptions, vault: Option<Vault>) -> anyhow::Result<()> {
    let vault = vault.map(Arc::new);
    let db: PathBuf = data_dir.join(DATABASE_FILE);
    let store = Store::open(&db)?;
    let mut engine = Engine::new(
        PoolSnapshot::new(store.engine_pool()?)?,
        HealthSettings::default(),
    );
    let now = vip_gateway::now();
    for (id, state) in store.load_breakers()? {
        engine.restore_breaker(id, state, now);
    }
    let (active_name, mut active) = load_rotations(&store, &mut engine, None)?;
    for id in engine.rotation_ids().into_iter().filter(|id| *id != ACTIVE) {
        let mappings = store.load_sticky(id.0 as i64)?;
        if Some(id) == active {
            engine.restore_sticky_mappings(ACTIVE, mappings.clone(), now);
        }
        engine.restore_sticky_mappings(id, mappings, now);
    }
    let pool_size = engine.pool().len();
    let writer = UsageWriter::start(&db, UsageWriterConfig::default())?;
    let sink = Arc::new(StoreSink {
        usage: writer.sender(),
        events: Mutex::new(Vec::new()),
        dropped: AtomicU64::new(0),
    });
    let credentials = Arc::new(VaultCredentials {
        store: Mutex::new(Store::open(&db)?),
        vault: vault.clone(),
        cache: Mutex::new(HashMap::new()),
    });
    let settings = GatewaySettings {
        blocklist: options.blocklist.clone(),
        tls: options.tls.clone(),
        ..GatewaySettings::default()
    };
    let gateway = Arc::new(Gateway::new(
        engine,
        credentials.clone(),
        sink.clone(),
        settings,
    ));
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let handle = runtime.block_on(gateway.listen(
        options.listen,
        ListenerSpec {
            assignment: Assignment::Rotation(ACTIVE),
            tab: None,
            auth: options.client_auth.clone(),
        },
    ))?;
    eprintln!(
        "vip serve: gateway on {} (HTTP and SOCKS5), {pool_size} proxies, rotation: {active_name}",
        handle.addr
    );
    let browsing = Arc::new(crate::browse::Browsing::new(
        gateway.clone(),
        &db,
        vault.clone(),
        options.browse.clone(),
    )?);
    let api_listener = runtime
        .block_on(tokio::net::TcpListener::bind(options.api_listen))
        .with_context(|| format!("binding the control API on {}", options.api_listen))?;
    let api_addr = api_listener.local_addr()?;
    let token = vip_api::write_files(data_dir, api_addr).context("writing the API token")?;
    let api_stop = tokio_util::sync::CancellationToken::new();
    let api = {
        let stop = api_stop.clone();
        runtime.spawn(vip_api::serve(
            api_listener,
            vip_api::router(browsing.clone(), token),
            async move { stop.cancelled().await },
        ))
    };
    eprintln!(
        "vip serve: control API on {api_addr} (token in {})",
        data_dir.join(vip_api::TOKEN_FILE).display()
    );
    {
        let browsing = browsing.clone();
        runtime.spawn(async move {
            match browsing.start().await {
                Ok(Some(devtools)) => {
                    eprintln!("vip serve: browser running; DevTools at {devtools}")
                }
                Ok(None) if browsing.disabled() => {
                    eprintln!("vip serve: browser off (--no-browser)")
                }
                Ok(None) => eprintln!("vip serve: browser running"),
                Err(e) => eprintln!("vip serve: browser not started: {e}"),
            }
        });
    }
    let autosave = {
        let browsing = browsing.clone();
        runtime.spawn(async move {
            let mut every = tokio::time::interval(AUTOSAVE);
            every.tick().await;
            loop {
                every.tick().await;
                browsing.autosave().await;
            }
        })
    };
    let (health_tx, health_rx) = std::sync::mpsc::channel::<HealthMsg>();
    let health = options.checks.clone().map(|(settings, every)| {
        runtime.spawn(health_loop(
            gateway.clone(),
            credentials.clone(),
            settings,
            every,
            health_tx.clone(),
        ))
    });
    drop(health_tx);
    let stop = Arc::new(AtomicBool::new(false));
    let upkeep = {
        let (stop, gateway, sink) = (stop.clone(), gateway.clone(), sink.clone());
        let every = options.reload_every;
        let mut hysteresis = Hysteresis::new(2, 3);
        std::thread::Builder::new()
            .name("vip-upkeep".into())
            .spawn(move || -> anyhow::Result<()> {
                let mut seen = store.config_fingerprint()?;
                let mut last_tick = Instant::now();
                while !stop.load(Ordering::Acquire) {
                    // Health reports are drained often; the change fingerprint and
                    // the state save run once per `every` (both read or write SQLite).
                    std::thread::sleep(every.min(Duration::from_millis(250)));
                    while let Ok(msg) = health_rx.try_recv() {
                        match msg {
                            HealthMsg::ClockJump => hysteresis.forgive(),
                            HealthMsg::Report(r) => {
                                let status = hysteresis.record(r.proxy, r.ok).map(|s| s.as_str());
                                let latency =
                                    r.latency.filter(|_| r.ok).map(|d| d.as_secs_f64() * 1000.0);
                                let ip = r.exit_ip.map(|i| i.to_string());
                                let exit = (ip.as_deref(), r.exit_country.as_deref());
                                store.record_check(
                                    r.proxy.0 as i64,
                                    status,
                                    latency,
                                    exit,
                                    vip_store::now_ms(),
                                )?;
                            }
                        }
                    }
                    if last_tick.elapsed() < every {
                        continue;
                    }
                    last_tick = Instant::now();
                    let current = store.config_fingerprint()?;
                    if current != seen {
                        seen = current;
                        let pool = PoolSnapshot::new(store.engine_pool()?)?;
                        let (name, now_active) = gateway.with_engine(|e| {
                            e.set_pool(pool, vip_gateway::now());
                            load_rotations(&store, e, active)
                        })?;
                        active = now_active;
                        eprintln!("vip serve: configuration reloaded; rotation: {name}");
                    }
                    save_state(&store, &gateway, &sink, active)?;
                }
                save_state(&store, &gateway, &sink, active)
            })?
    };
    runtime.block_on(wait_for_signal());
    eprintln!("vip serve: draining");
    autosave.abort();
    let _ = runtime.block_on(autosave);
    runtime.block_on(browsing.shutdown());
    api_stop.cancel();
    let _ = runtime.block_on(api);
    for file in [vip_api::TOKEN_FILE, vip_api::ENDPOINT_FILE] {
        let _ = std::fs::remove_file(data_dir.join(file));
    }
    if let Some(task) = health {
        task.abort();
        let _ = runtime.block_on(task);
    }
    runtime.block_on(gateway.shutdown(Duration::from_secs(5)));
    stop.store(true, Ordering::Release);
    let saved = upkeep
        .join()
        .map_err(|_| anyhow::anyhow!("the upkeep thread panicked"))?;
    let dropped = sink.dropped.load(Ordering::Relaxed);
    drop(sink);
    // Browsing holds the gateway (and so the usage sender) too.
    drop(browsing);
    drop(gateway);
    let committed = writer.close()?;
    saved?;
    let blocked = options.blocklist.as_ref().map_or(0, |b| b.blocked());
    let summary = format!(
        "{committed} usage events written, {blocked} tracker requests blocked{}",
        if dropped > 0 {
            format!(", {dropped} usage events dropped (writer busy)")
        } else {
            String::new()
        }
    );
    Store::open(&db)?.log_activity("info", "serve", &format!("stopped: {summary}"), None)?;
    eprintln!("vip serve: stopped; {summary}");
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
