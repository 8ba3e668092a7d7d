//! What the engine learns from traffic and health checks: feedback events in,
//! per-proxy runtime state (breaker, latency EWMA, counters, decaying scores)
//! kept up to date, and the read-only view strategies key their indexes on.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::breaker::{BreakerSettings, BreakerState};
use crate::ids::ProxyId;
use crate::proxy::HealthSnapshot;
use crate::time::{Timestamp, duration_ms};

/// Whose fault a failure was. Only the proxy's own faults count against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The upstream proxy misbehaved: try another proxy.
    Proxy,
    /// The origin refused or failed; another proxy would likely see the same.
    Origin,
    /// The local client went away or sent nonsense.
    Client,
    /// Our own side failed (resources, bugs).
    Local,
}

/// How an attempt through a proxy failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// TCP connection to the proxy refused.
    ProxyRefused,
    /// Connecting to the proxy, or its handshake, timed out.
    ProxyTimeout,
    /// The proxy spoke the protocol wrongly or replied with garbage.
    ProxyProtocol,
    /// The proxy rejected our credentials.
    ProxyAuth,
    /// The proxy reset or closed the connection mid-stream.
    ProxyReset,
    /// The proxy reported the origin unreachable or refused.
    OriginUnreachable,
    /// The proxy could not resolve the origin's name.
    OriginDns,
    /// The client disconnected or sent an invalid request.
    Client,
    /// A local error (out of file descriptors, internal bug).
    Local,
}

impl FailureKind {
    /// The snake_case name used in statistics (`error_counts`).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::ProxyRefused => "proxy_refused",
            FailureKind::ProxyTimeout => "proxy_timeout",
            FailureKind::ProxyProtocol => "proxy_protocol",
            FailureKind::ProxyAuth => "proxy_auth",
            FailureKind::ProxyReset => "proxy_reset",
            FailureKind::OriginUnreachable => "origin_unreachable",
            FailureKind::OriginDns => "origin_dns",
            FailureKind::Client => "client",
            FailureKind::Local => "local",
        }
    }

    /// Whose fault this was.
    pub fn fault(self) -> Fault {
        match self {
            FailureKind::ProxyRefused
            | FailureKind::ProxyTimeout
            | FailureKind::ProxyProtocol
            | FailureKind::ProxyAuth
            | FailureKind::ProxyReset => Fault::Proxy,
            FailureKind::OriginUnreachable | FailureKind::OriginDns => Fault::Origin,
            FailureKind::Client => Fault::Client,
            FailureKind::Local => Fault::Local,
        }
    }
}

/// An outcome the shell reports back. Every `Attempt` is ended by exactly
/// one `Failed` or `Closed` (with an optional `Connected` in between).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Feedback {
    /// A connection through `proxy` starts (first choice or fallback).
    Attempt {
        /// The proxy.
        proxy: ProxyId,
    },
    /// The tunnel through `proxy` is up after `latency` (connect + handshake).
    Connected {
        /// The proxy.
        proxy: ProxyId,
        /// Connect and handshake time.
        latency: Duration,
    },
    /// The attempt failed and ended.
    Failed {
        /// The proxy.
        proxy: ProxyId,
        /// What went wrong.
        kind: FailureKind,
    },
    /// A connection that had connected is finished.
    Closed {
        /// The proxy.
        proxy: ProxyId,
    },
    /// A health check finished (not paired with `Attempt`).
    Checked {
        /// The proxy.
        proxy: ProxyId,
        /// Latency on success, failure kind otherwise.
        result: Result<Duration, FailureKind>,
    },
}

impl Feedback {
    /// The proxy this feedback is about.
    pub fn proxy(&self) -> ProxyId {
        match *self {
            Feedback::Attempt { proxy }
            | Feedback::Connected { proxy, .. }
            | Feedback::Failed { proxy, .. }
            | Feedback::Closed { proxy }
            | Feedback::Checked { proxy, .. } => proxy,
        }
    }
}

/// A count that halves every `half_life`, stored in forward-decay form so that
/// counts updated at different times compare without touching every entry.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct DecayingCount {
    value: f64,
    at: Timestamp,
}

impl DecayingCount {
    pub fn value_at(&self, now: Timestamp, half_life: Duration) -> f64 {
        let elapsed = now.since(self.at).as_secs_f64();
        self.value * (-elapsed / half_life.as_secs_f64().max(1e-3)).exp2()
    }

    pub fn add(&mut self, now: Timestamp, half_life: Duration, amount: f64) {
        self.value = self.value_at(now, half_life) + amount;
        self.at = now.max(self.at);
    }

    /// log2(value) + t/half_life: ordering by this key orders by the current
    /// value at any common instant. Zero counts sort first.
    pub fn forward_key(&self, half_life: Duration) -> f64 {
        if self.value <= 0.0 {
            return f64::NEG_INFINITY;
        }
        let hl = duration_ms(half_life).max(1) as f64;
        self.value.log2() + self.at.as_millis() as f64 / hl
    }

    /// When the value will have decayed below `threshold`.
    pub fn below_at(&self, threshold: f64, half_life: Duration) -> Timestamp {
        if self.value <= threshold || threshold <= 0.0 {
            return self.at;
        }
        let halvings = (self.value / threshold).log2();
        self.at.after(half_life.mul_f64(halvings.min(1e6)))
    }
}

/// Engine-wide tuning of feedback handling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HealthSettings {
    /// Weight of the newest latency sample in the EWMA (0–1).
    pub latency_alpha: f64,
    /// Half-life of the recent-request count used by least-used.
    #[serde(with = "crate::config::millis")]
    pub request_half_life: Duration,
    /// Half-life of the failure score used by failure-aware.
    #[serde(with = "crate::config::millis")]
    pub failure_half_life: Duration,
    /// Circuit breaker settings, shared by every proxy.
    pub breaker: BreakerSettings,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            latency_alpha: 0.3,
            request_half_life: Duration::from_secs(60),
            failure_half_life: Duration::from_secs(60),
            breaker: BreakerSettings::default(),
        }
    }
}

/// A proxy's runtime state inside the engine.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProxyRuntime {
    pub breaker: BreakerState,
    pub latency_ewma_us: Option<f64>,
    pub successes: u64,
    pub failures: u64,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    pub active: u32,
    pub requests: u64,
    pub recent_requests: DecayingCount,
    pub failure_score: DecayingCount,
    pub last_check: Option<Timestamp>,
}

impl ProxyRuntime {
    pub fn from_snapshot(h: &HealthSnapshot) -> ProxyRuntime {
        ProxyRuntime {
            latency_ewma_us: h.latency_ewma.map(|d| d.as_secs_f64() * 1e6),
            successes: h.successes,
            failures: h.failures,
            consecutive_failures: h.consecutive_failures,
            last_check: h.last_check,
            ..ProxyRuntime::default()
        }
    }

    pub fn record_latency(&mut self, alpha: f64, latency: Duration) {
        let sample = latency.as_secs_f64() * 1e6;
        self.latency_ewma_us = Some(match self.latency_ewma_us {
            None => sample,
            Some(old) => old + alpha.clamp(0.0, 1.0) * (sample - old),
        });
    }

    pub fn status(&self, id: ProxyId, enabled: bool, settings: &HealthSettings) -> ProxyStatus {
        ProxyStatus {
            id,
            enabled,
            available: enabled && self.breaker.allows(&settings.breaker),
            breaker: self.breaker,
            latency_ewma: self
                .latency_ewma_us
                .map(|us| Duration::from_secs_f64(us / 1e6)),
            successes: self.successes,
            failures: self.failures,
            consecutive_failures: self.consecutive_failures,
            consecutive_successes: self.consecutive_successes,
            active_connections: self.active,
            requests: self.requests,
            last_check: self.last_check,
        }
    }
}

/// A read-only view of one proxy's runtime state.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyStatus {
    /// The proxy.
    pub id: ProxyId,
    /// Enabled in the pool.
    pub enabled: bool,
    /// Enabled and its breaker lets traffic through.
    pub available: bool,
    /// Breaker state.
    pub breaker: BreakerState,
    /// Connect latency EWMA.
    pub latency_ewma: Option<Duration>,
    /// Successes, all time.
    pub successes: u64,
    /// Proxy-fault failures, all time.
    pub failures: u64,
    /// Proxy-fault failures since the last success.
    pub consecutive_failures: u32,
    /// Successes since the last proxy-fault failure.
    pub consecutive_successes: u32,
    /// Connections in progress.
    pub active_connections: u32,
    /// Attempts started, all time.
    pub requests: u64,
    /// Last health check.
    pub last_check: Option<Timestamp>,
}

/// What strategies key their indexes on; built per change notification.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProxyView {
    pub available: bool,
    pub latency_us: Option<f64>,
    pub active: u32,
    pub recent_key: f64,
    pub failure_score: DecayingCount,
    pub consecutive_successes: u32,
}
