//! The gateway: shared state (engine, credentials, sink, settings), listeners
//! bound per identity or shared, and graceful shutdown. Listeners and
//! connections run on one `TaskTracker`; shutdown stops accepting, lets
//! connections finish within a grace period, then aborts the rest.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use vip_engine::{CredentialRef, Engine, TabId};
use vip_model::{Assignment, Secret};

use crate::error::GatewayError;
use crate::sink::EventSink;
use crate::upstream::Login;

/// Username and password local clients must present.
#[derive(Clone, Debug)]
pub struct ClientAuth {
    /// Username.
    pub username: String,
    /// Password.
    pub password: Secret,
}

/// One listener's identity and rules.
#[derive(Clone, Debug)]
pub struct ListenerSpec {
    /// Where connections go.
    pub assignment: Assignment,
    /// The tab (identity) this listener serves, for rules and events.
    pub tab: Option<TabId>,
    /// Client authentication; required on non-loopback addresses.
    pub auth: Option<ClientAuth>,
    /// This listener's time budget per request (`None`: the gateway's
    /// [`GatewaySettings::budget`]).
    pub budget: Option<Duration>,
}

/// Time limits and sizes.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    /// TCP connect to an upstream proxy.
    pub connect_timeout: Duration,
    /// Upstream handshake.
    pub handshake_timeout: Duration,
    /// How long a client may take to send its request head or greeting.
    pub client_timeout: Duration,
    /// Largest request head accepted.
    pub max_head: usize,
    /// A tunnel with no traffic either way for this long is closed; on plain
    /// HTTP a read or write that waits this long fails (a 504 when the
    /// upstream never answered).
    pub idle_timeout: Duration,
    /// Seed for the engine's RNG (0 = from the clock).
    pub seed: u64,
    /// Tracker blocking by host (tunnels) and URL (plain HTTP); `None` is off.
    pub blocklist: Option<Arc<vip_privacy::Blocklist>>,
    /// Trust for HTTPS upstream proxies.
    pub tls: crate::upstream::Tls,
    /// One client request's whole attempt sequence: to an established
    /// tunnel, or to the first byte of the upstream's answer.
    pub budget: Duration,
    /// Start a second attempt beside one that has not finished after this;
    /// `None`: the recent p95 of attempts (at least 150 ms).
    pub hedge_delay: Option<Duration>,
    /// A plain-HTTP request body up to this size is held so the request
    /// can go to another proxy; a larger one is sent once.
    pub replay_buffer: usize,
    /// Background probes of proxies whose breaker is open.
    pub recovery: crate::recovery::RecoverySettings,
    /// Reuse of plain-HTTP upstream connections.
    pub keep_alive: crate::keepalive::KeepAliveSettings,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            client_timeout: Duration::from_secs(15),
            max_head: 32 * 1024,
            idle_timeout: Duration::from_secs(600),
            seed: 0,
            blocklist: None,
            tls: crate::upstream::Tls::default(),
            budget: Duration::from_secs(5),
            hedge_delay: None,
            replay_buffer: 64 * 1024,
            recovery: crate::recovery::RecoverySettings::default(),
            keep_alive: crate::keepalive::KeepAliveSettings::default(),
        }
    }
}

/// Looks up a proxy's username and password at dial time.
pub trait Credentials: Send + Sync + 'static {
    /// The login for a credential reference, if available.
    fn login(&self, credential: CredentialRef) -> Option<Login>;
}

/// No credentials at all.
pub struct NoCredentials;

impl Credentials for NoCredentials {
    fn login(&self, _: CredentialRef) -> Option<Login> {
        None
    }
}

impl Credentials for HashMap<CredentialRef, Login> {
    fn login(&self, credential: CredentialRef) -> Option<Login> {
        self.get(&credential).cloned()
    }
}

pub(crate) struct EngineCell {
    pub engine: Engine,
    pub rng: SmallRng,
}

pub(crate) struct Shared {
    engine: Mutex<EngineCell>,
    pub credentials: Arc<dyn Credentials>,
    pub sink: Arc<dyn EventSink>,
    pub settings: GatewaySettings,
    /// Latency windows and the retry budget of the attempt sequences.
    pub attempts: crate::attempts::AttemptState,
    /// Idle plain-HTTP upstream connections.
    pub idle: crate::keepalive::IdlePool,
    /// Ports of vip's own listeners on this machine (the gateway's, the
    /// control API's, DevTools'), which tab traffic may not reach.
    own_ports: std::sync::RwLock<Vec<u16>>,
    /// Bytes each way and open client connections.
    pub traffic: crate::traffic::Traffic,
}

impl Shared {
    /// Whether `port` is one of vip's own listeners.
    pub fn is_own_port(&self, port: u16) -> bool {
        self.own_ports
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&port)
    }

    fn add_own_port(&self, port: u16) {
        let mut ports = self
            .own_ports
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !ports.contains(&port) {
            ports.push(port);
        }
    }

    /// Locks the engine. Never held across an await.
    pub fn engine(&self) -> MutexGuard<'_, EngineCell> {
        self.engine
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running listener.
#[derive(Debug)]
pub struct ListenerHandle {
    /// The bound address.
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl ListenerHandle {
    /// Stops accepting on this listener (open connections continue).
    pub fn close(&self) {
        self.stop.cancel();
    }
}

/// The gateway.
pub struct Gateway {
    shared: Arc<Shared>,
    tracker: TaskTracker,
    stop_accepting: CancellationToken,
    abort: CancellationToken,
    /// Whether the recovery probes were started.
    recovering: std::sync::atomic::AtomicBool,
}

impl Gateway {
    /// A gateway over `engine` (rotations already loaded).
    pub fn new(
        engine: Engine,
        credentials: Arc<dyn Credentials>,
        sink: Arc<dyn EventSink>,
        settings: GatewaySettings,
    ) -> Gateway {
        let seed = if settings.seed == 0 {
            vip_model::now_ms() as u64
        } else {
            settings.seed
        };
        let keep_alive = settings.keep_alive;
        let cell = EngineCell {
            engine,
            rng: SmallRng::seed_from_u64(seed),
        };
        Gateway {
            shared: Arc::new(Shared {
                engine: Mutex::new(cell),
                credentials,
                sink,
                settings,
                attempts: crate::attempts::AttemptState::default(),
                idle: crate::keepalive::IdlePool::new(keep_alive),
                own_ports: std::sync::RwLock::default(),
                traffic: crate::traffic::Traffic::default(),
            }),
            tracker: TaskTracker::new(),
            stop_accepting: CancellationToken::new(),
            abort: CancellationToken::new(),
            recovering: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Marks `port` on this machine as one of vip's own listeners (the
    /// control API, DevTools): tab traffic to it is refused, through a
    /// proxy as well as directly. The gateway's own listeners are marked
    /// as they start.
    pub fn protect_port(&self, port: u16) {
        self.shared.add_own_port(port);
    }

    /// Where a request of a listener with `spec` to `target` (`url` for
    /// plain HTTP) would go now and why, without counting, learning or
    /// dialling anything.
    pub fn explain(
        &self,
        spec: &ListenerSpec,
        target: &crate::Target,
        url: Option<&str>,
    ) -> crate::connect::Explained {
        crate::connect::explain(&self.shared, spec, target, url)
    }

    /// Bytes each way since the gateway started, and the client
    /// connections open now.
    pub fn traffic(&self) -> crate::traffic::TrafficTotals {
        self.shared.traffic.totals()
    }

    /// Runs `f` with the engine locked (config changes, persistence).
    pub fn with_engine<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        f(&mut self.shared.engine().engine)
    }

    /// Binds `addr` and serves `spec` on it.
    pub async fn listen(
        &self,
        addr: SocketAddr,
        spec: ListenerSpec,
    ) -> Result<ListenerHandle, GatewayError> {
        if !addr.ip().is_loopback() && spec.auth.is_none() {
            return Err(GatewayError::OpenProxy {
                addr: addr.to_string(),
            });
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| GatewayError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        self.serve(listener, spec)
    }

    /// Serves `spec` on an already bound listener.
    pub fn serve(
        &self,
        listener: TcpListener,
        spec: ListenerSpec,
    ) -> Result<ListenerHandle, GatewayError> {
        // Linux gives accepted sockets the listener's TCP_NODELAY, which
        // saves a system call per connection (see inbound::handle).
        let _ = socket2::SockRef::from(&listener).set_tcp_nodelay(true);
        let addr = listener.local_addr().map_err(|source| GatewayError::Bind {
            addr: "(bound)".into(),
            source,
        })?;
        if !addr.ip().is_loopback() && spec.auth.is_none() {
            return Err(GatewayError::OpenProxy {
                addr: addr.to_string(),
            });
        }
        // The first listener starts the recovery probes (they need a
        // runtime, and a gateway that serves nothing has nothing to probe
        // for); they end when the gateway stops accepting.
        if !self
            .recovering
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            self.tracker.spawn(crate::recovery::run(
                self.shared.clone(),
                self.stop_accepting.child_token(),
            ));
        }
        self.shared.add_own_port(addr.port());
        let stop = self.stop_accepting.child_token();
        let handle = ListenerHandle {
            addr,
            stop: stop.clone(),
        };
        let shared = self.shared.clone();
        let tracker = self.tracker.clone();
        let abort = self.abort.clone();
        let spec = Arc::new(spec);
        self.tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            tracker.spawn(crate::inbound::handle(stream, shared.clone(), spec.clone(), abort.clone(), stop.clone()));
                        }
                        // Out of file descriptors and the like: back off briefly.
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    },
                }
            }
        });
        Ok(handle)
    }

    /// Stops accepting, waits up to `grace` for open connections, then
    /// aborts the rest. Every finished connection has been reported.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop_accepting.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            self.abort.cancel();
            self.tracker.wait().await;
        }
    }
}
