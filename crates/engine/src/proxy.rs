//! The proxy model: what the engine knows about one upstream proxy. Static
//! facts (address, protocol, country, weight, group) come from the store; the
//! health fields are the starting point the engine's runtime state grows from.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::{CredentialRef, ProxyId};
use crate::time::Timestamp;

/// The protocol spoken to the upstream proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP proxy (CONNECT and absolute-form requests).
    Http,
    /// HTTP proxy reached over TLS.
    Https,
    /// SOCKS4 (IPv4 addresses only; names resolved by the caller).
    Socks4,
    /// SOCKS4a (host names sent to the proxy).
    Socks4a,
    /// SOCKS5 (host names sent to the proxy, optional username/password).
    Socks5,
}

impl Protocol {
    /// Every protocol, in a stable order.
    pub const ALL: [Protocol; 5] = [
        Protocol::Http,
        Protocol::Https,
        Protocol::Socks4,
        Protocol::Socks4a,
        Protocol::Socks5,
    ];

    /// The URL scheme name.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Socks4 => "socks4",
            Protocol::Socks4a => "socks4a",
            Protocol::Socks5 => "socks5",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Protocol::ALL
            .into_iter()
            .find(|p| p.as_str() == lower)
            .ok_or_else(|| {
                format!(
                    "unknown proxy protocol {s:?}: use one of http, https, socks4, socks4a, socks5"
                )
            })
    }
}

/// An ISO 3166-1 alpha-2 country code, stored upper-case.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses two ASCII letters in any case.
    pub fn parse(s: &str) -> Result<CountryCode, String> {
        match s.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => Ok(CountryCode([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
            ])),
            _ => Err(format!(
                "{s:?} is not a country code: use two letters (ISO 3166-1 alpha-2), e.g. \"US\" or \"DE\""
            )),
        }
    }

    /// The code as a `&str`, e.g. `"DE"`.
    pub fn as_str(&self) -> &str {
        // Invariant: built only from two ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CountryCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CountryCode::parse(s)
    }
}

impl Serialize for CountryCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CountryCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

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
