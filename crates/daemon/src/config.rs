//! What the daemon is started with: one `DaemonConfig` made of one
//! sub-config per component, each handed to its component by value. The
//! binary builds it from flags; a test builds it directly (port 0
//! listeners, a temporary data directory).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use vip_gateway::health::CheckSettings;
use vip_gateway::{ClientAuth, GatewaySettings};

pub use crate::browse::BrowseOptions as BrowserConfig;

/// The whole daemon's configuration.
pub struct DaemonConfig {
    /// Where the database, the API token and browser profiles live.
    pub data_dir: PathBuf,
    /// The shared gateway listener and its upstream settings.
    pub gateway: GatewayConfig,
    /// Periodic health checks (`None`: off).
    pub health: Option<HealthConfig>,
    /// Change detection and state persistence.
    pub upkeep: UpkeepConfig,
    /// The browser.
    pub browser: BrowserConfig,
    /// The control API.
    pub api: ApiConfig,
}

impl DaemonConfig {
    /// A daemon on `data_dir` with both listeners on 127.0.0.1 port 0, no
    /// browser, no health checks and no tracker blocking: for tests,
    /// benchmarks and embedding (set what else you need).
    pub fn local(data_dir: impl Into<PathBuf>) -> DaemonConfig {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        DaemonConfig {
            data_dir: data_dir.into(),
            gateway: GatewayConfig {
                listen: any_port,
                client_auth: None,
                settings: GatewaySettings::default(),
            },
            health: None,
            upkeep: UpkeepConfig::default(),
            browser: BrowserConfig {
                disabled: true,
                chromium: None,
                headless: true,
                devtools_port: None,
                blocklist: None,
                exit: crate::ExitGeo::default(),
            },
            api: ApiConfig {
                listen: any_port,
                rate_limits: Default::default(),
            },
        }
    }
}

/// The gateway's shared listener and its settings (timeouts, limits,
/// tracker blocking, trust for HTTPS upstreams).
pub struct GatewayConfig {
    /// Shared listener address.
    pub listen: SocketAddr,
    /// Client authentication for the shared listener.
    pub client_auth: Option<ClientAuth>,
    /// Timeouts, limits, tracker blocking and upstream TLS of every listener.
    pub settings: GatewaySettings,
}

/// Periodic health checks.
pub struct HealthConfig {
    /// How each check is made.
    pub settings: CheckSettings,
    /// The length of one round over the whole pool.
    pub every: Duration,
}

/// How the daemon notices changes made by other processes and saves its
/// state.
#[derive(Clone, Debug)]
pub struct UpkeepConfig {
    /// How often the database is asked whether another process changed it
    /// (a `PRAGMA data_version` read; changes made through the control API
    /// apply at once).
    pub poll_every: Duration,
    /// How long a breaker or sticky-mapping change may wait before it is
    /// written (changes are batched).
    pub save_within: Duration,
    /// What the daily pruning keeps (`None`: nothing is pruned).
    pub retention: Option<Retention>,
}

impl Default for UpkeepConfig {
    fn default() -> Self {
        UpkeepConfig {
            poll_every: Duration::from_millis(250),
            save_within: Duration::from_millis(100),
            retention: None,
        }
    }
}

/// How much history the store keeps: pruned a minute after start and
/// then every day, as `vip db maintenance` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Days of hourly usage statistics.
    pub stats_days: u32,
    /// Days of rotation events and activity.
    pub events_days: u32,
}

/// The control API.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Where it listens (loopback only).
    pub listen: SocketAddr,
    /// Requests per minute per route class, where not the default.
    pub rate_limits: std::collections::HashMap<String, u32>,
}
