//! Bodies of `POST /api/v1/rotation:explain`: where a request would go
//! now, and why.

use serde::{Deserialize, Serialize};

use crate::types::AssignmentSpec;

/// A request to explain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// A full URL (`https://shop.example/cart`; for `http://` URLs the
    /// path counts for URL and path rules, as the gateway sees it) or
    /// `host[:port]` (port 443 if left out).
    pub target: String,
    /// Explain for this open tab: its identity's assignment, and what the
    /// engine remembers for it (sticky mappings, its current proxy).
    #[serde(default, deserialize_with = "crate::types::opt_whole")]
    pub tab: Option<i64>,
    /// Or for this assignment (default: the pool's active rotation). Not
    /// together with `tab`.
    #[serde(default)]
    pub assignment: Option<AssignmentSpec>,
}

/// A proxy as an explanation names it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProxyBrief {
    /// Proxy id.
    pub id: i64,
    /// http, https, socks4, socks4a or socks5.
    pub protocol: String,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Exit country, when known.
    pub country: Option<String>,
    /// Rotation group.
    pub group: Option<String>,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its circuit breaker: closed, open or half_open.
    pub breaker: String,
    /// Recent connect latency (EWMA), when measured.
    pub latency_ms: Option<f64>,
}

/// The rotation config that decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotationBrief {
    /// Config id (0: the built-in round-robin over the whole pool).
    pub id: i64,
    /// Its name.
    pub name: String,
}

/// Where a request would go now, and why. Nothing is learned by asking:
/// no cursor moves, no sticky mapping is made, nothing is counted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Explanation {
    /// `proxy` (through `first`, then `fallbacks`), `direct` (the
    /// assignment or a rule), `blocked-by-rule`, `blocked-tracker` (the
    /// filter lists), `own-port` (a tab may not reach vip's own listeners)
    /// or `no-proxy` (nothing eligible: `summary` says what the client
    /// would be told).
    pub outcome: String,
    /// The target host.
    pub host: String,
    /// The target port.
    pub port: u16,
    /// The rotation config that decided, when one did.
    pub rotation: Option<RotationBrief>,
    /// The strategy that picked (kebab-case name).
    pub strategy: Option<String>,
    /// The rule that decided or matched first.
    pub rule: Option<i64>,
    /// Sticky-session detail: hit, miss, pinned or remapped.
    pub sticky: Option<String>,
    /// The first choice.
    pub first: Option<ProxyBrief>,
    /// Further candidates in order, tried if the first fails.
    pub fallbacks: Vec<ProxyBrief>,
    /// Proxies of the pool that nothing would choose now (breaker open or
    /// disabled), at most 20.
    pub unavailable: Vec<ProxyBrief>,
    /// How many proxies of the pool are unavailable in all.
    pub unavailable_total: u64,
    /// The decision in one sentence.
    pub summary: String,
}
