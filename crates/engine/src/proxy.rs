//! The proxy model: what the engine knows about one upstream proxy. Static
//! facts (address, protocol, country, weight, group) come from the store; the
//! health fields are the starting point the engine's runtime state grows from.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use vip_model::{CountryCode, Protocol};

use crate::ids::{CredentialRef, ProxyId};
use crate::time::Timestamp;

/// Health as last known (from the store or a previous run).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthSnapshot {
    /// Exponentially weighted moving average of connect latency.
    pub latency_ewma: Option<Duration>,
    /// Successful connections or checks, all time.
    pub successes: u64,
    /// Failed connections or checks that were the proxy's fault, all time.
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// When a health check last ran.
    pub last_check: Option<Timestamp>,
}

/// One upstream proxy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proxy {
    /// Store row id; stable across restarts.
    pub id: ProxyId,
    /// Protocol spoken to the proxy.
    pub protocol: Protocol,
    /// Host name or IP address of the proxy.
    pub host: String,
    /// TCP port of the proxy.
    pub port: u16,
    /// Vault reference for username/password; never the secret itself.
    pub credential: Option<CredentialRef>,
    /// Exit country, when known.
    pub country: Option<CountryCode>,
    /// Exit region (state, province), when known.
    pub region: Option<String>,
    /// Exit city, when known.
    pub city: Option<String>,
    /// Weight 0–100 for the weighted strategy; 0 is never picked there.
    pub weight: u8,
    /// Rotation group; rotation configs target one group or the whole pool.
    pub group: Option<String>,
    /// Free-form tags usable in rule conditions.
    pub tags: Vec<String>,
    /// Disabled proxies are never selected.
    pub enabled: bool,
    /// Last known health.
    pub health: HealthSnapshot,
}

impl Proxy {
    /// A minimal enabled HTTP proxy with weight 50 and no group, for building
    /// pools in code and tests.
    pub fn new(id: u64, host: &str, port: u16) -> Proxy {
        Proxy {
            id: ProxyId(id),
            protocol: Protocol::Http,
            host: host.to_string(),
            port,
            credential: None,
            country: None,
            region: None,
            city: None,
            weight: 50,
            group: None,
            tags: Vec::new(),
            enabled: true,
            health: HealthSnapshot::default(),
        }
    }
}
