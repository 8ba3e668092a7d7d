//! `vip gateway`: a gateway over an in-memory pool built from upstream
//! arguments, for quick use and benchmarking. No database: the upstreams'
//! credentials live only in this process, and usage is not recorded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use vip_engine::{
    ConfigId, CountryCode, CredentialRef, Engine, HealthSettings, PoolSnapshot, Protocol, Proxy,
    RotationConfig, StrategyName,
};
use vip_gateway::{Assignment, Gateway, GatewaySettings, ListenerSpec, NullSink};

use crate::inputs::{self, BadInput, Blocking};

/// What a standalone gateway runs with.
#[derive(Clone, Debug)]
pub struct StandaloneConfig {
    /// Where it listens.
    pub listen: SocketAddr,
    /// The upstreams, in any `vip proxy add` form.
    pub upstreams: Vec<String>,
    /// The rotation strategy's name.
    pub strategy: String,
    /// `USER:PASS` clients must give.
    pub client_auth: Option<String>,
    /// Extra CA certificates for HTTPS upstreams.
    pub proxy_ca: Option<std::path::PathBuf>,
    /// How upstreams are tried for one request.
    pub attempts: Attempts,
    /// Tracker blocking.
    pub blocking: Blocking,
}

/// The attempt settings of the gateway (`vip gateway` flags).
#[derive(Clone, Copy, Debug)]
pub struct Attempts {
    /// One request's time budget.
    pub budget: Duration,
    /// A fixed hedge delay (`None`: adaptive).
    pub hedge_delay: Option<Duration>,
    /// Request bodies held for replay, in bytes.
    pub replay_buffer: usize,
    /// Idle plain-HTTP upstream connections kept per proxy (0: none).
    pub keep_alive: usize,
    /// How long an idle upstream connection is kept.
    pub keep_idle: Duration,
}

/// A running standalone gateway.
pub struct Standalone {
    gateway: Gateway,
    blocklist: Option<Arc<vip_privacy::Blocklist>>,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The strategy it rotates by.
    pub strategy: StrategyName,
}

impl Standalone {
    /// Checks the arguments, builds the pool and listens.
    pub async fn start(config: StandaloneConfig) -> Result<Standalone, BadInput> {
        let strategy =
            StrategyName::parse(&config.strategy).map_err(|e| BadInput::new("--strategy", e))?;
        let mut proxies = Vec::new();
        let mut logins = HashMap::new();
        for (i, text) in config.upstreams.iter().enumerate() {
            let parsed = vip_store::porting::parse_line(text)
                .map_err(|e| BadInput::new(format!("--upstream {text:?}"), e))?;
            let id = i as u64 + 1;
            let mut proxy = Proxy::new(id, &parsed.host, parsed.port);
            proxy.protocol = parsed.protocol.unwrap_or(Protocol::Http);
            proxy.country = parsed
                .country
                .as_deref()
                .and_then(|c| CountryCode::parse(c).ok());
            if let Some(user) = parsed.username {
                proxy.credential = Some(CredentialRef(id));
                let pass = parsed.password.unwrap_or_default();
                logins.insert(CredentialRef(id), (user, pass));
            }
            proxies.push(proxy);
        }
        let auth = inputs::client_auth(config.client_auth.as_deref())?;
        let tls = inputs::upstream_tls(config.proxy_ca.as_deref())?;
        let blocklist = config.blocking.load("vip gateway")?;
        let pool = PoolSnapshot::new(proxies).map_err(|e| BadInput::new("--upstream", e))?;
        let mut rotation = RotationConfig::new(1, strategy, None);
        if strategy == StrategyName::TimeBased {
            rotation.common.interval = Some(Duration::from_secs(60));
        }
        let mut engine = Engine::new(pool, HealthSettings::default());
        engine.set_rotation(rotation, vip_gateway::now());
        let settings = GatewaySettings {
            tls,
            blocklist: blocklist.clone(),
            budget: config.attempts.budget,
            hedge_delay: config.attempts.hedge_delay,
            replay_buffer: config.attempts.replay_buffer,
            keep_alive: vip_gateway::KeepAliveSettings {
                per_proxy: config.attempts.keep_alive,
                idle: config.attempts.keep_idle,
                ..vip_gateway::KeepAliveSettings::default()
            },
            ..GatewaySettings::default()
        };
        let gateway = Gateway::new(engine, Arc::new(logins), Arc::new(NullSink), settings);
        let spec = ListenerSpec {
            assignment: Assignment::Rotation(ConfigId(1)),
            tab: None,
            auth,
            budget: None,
        };
        let handle = gateway
            .listen(config.listen, spec)
            .await
            .map_err(|e| BadInput::new(format!("--listen {}", config.listen), e))?;
        Ok(Standalone {
            gateway,
            blocklist,
            addr: handle.addr,
            strategy,
        })
    }

    /// Drains open connections for up to `grace`; says how many requests
    /// were blocked.
    pub async fn shutdown(self, grace: Duration) {
        match &self.blocklist {
            Some(list) => tracing::info!(
                "vip gateway: draining ({} requests blocked)",
                list.blocked()
            ),
            None => tracing::info!("vip gateway: draining"),
        }
        self.gateway.shutdown(grace).await;
    }
}
