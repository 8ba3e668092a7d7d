//! Where the gateway reports what happened: one record per attempt through a
//! proxy (failed attempts included), what became of attempts in a request's
//! sequence (failovers, hedges, budgets), and the engine's rotation events. The
//! binary wires this to the store's batched usage writer; tests collect.

use std::time::Duration;

use vip_engine::{FailureKind, ProxyId, RotationEvent, Timestamp};

/// One connection (or failed attempt) through a proxy.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionRecord {
    /// The proxy, `None` for a rule's direct connection.
    pub proxy: Option<ProxyId>,
    /// Target host.
    pub target: String,
    /// Whether the tunnel came up.
    pub ok: bool,
    /// Why it failed.
    pub failure: Option<FailureKind>,
    /// Connect + handshake time.
    pub connect_latency: Option<Duration>,
    /// Bytes client → target.
    pub bytes_up: u64,
    /// Bytes target → client.
    pub bytes_down: u64,
    /// When it ended.
    pub finished_at: Timestamp,
}

/// What happened to one attempt in a request's attempt sequence, beyond
/// its own success or failure (which [`ConnectionRecord`] carries): counted
/// per proxy and fault class in the usage statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptEvent {
    /// It failed and the request went on to another candidate.
    Failover(FailureKind),
    /// It failed after the request may have reached the origin, and the
    /// request was not safe to send again: the client got the error.
    ReplayRefused(FailureKind),
    /// It failed and the pool-wide retry budget let no other attempt start.
    RetryBudget(FailureKind),
    /// It was still running when the request's time budget ran out.
    BudgetExpired,
    /// It won while another attempt was in flight beside it.
    HedgeWon,
    /// Another attempt beside it won; it was closed.
    HedgeLost,
    /// An idle keep-alive connection through it turned out closed; the
    /// request went out on a fresh one (not a failure of the proxy).
    StaleIdle,
}

impl AttemptEvent {
    /// The snake_case name in statistics.
    pub fn name(self) -> &'static str {
        match self {
            AttemptEvent::Failover(_) => "failover",
            AttemptEvent::ReplayRefused(_) => "replay_refused",
            AttemptEvent::RetryBudget(_) => "retry_budget",
            AttemptEvent::BudgetExpired => "budget_expired",
            AttemptEvent::HedgeWon => "hedge_won",
            AttemptEvent::HedgeLost => "hedge_lost",
            AttemptEvent::StaleIdle => "stale_idle",
        }
    }

    /// The fault class of the failure behind it, if any.
    pub fn fault(self) -> Option<FailureKind> {
        match self {
            AttemptEvent::Failover(k)
            | AttemptEvent::ReplayRefused(k)
            | AttemptEvent::RetryBudget(k) => Some(k),
            _ => None,
        }
    }
}

/// Receives the gateway's reports. Must not block.
pub trait EventSink: Send + Sync + 'static {
    /// A connection or attempt ended.
    fn connection(&self, record: ConnectionRecord);
    /// The engine reported rotation events.
    fn rotation(&self, events: Vec<RotationEvent>);
    /// A proxy's breaker changed phase (persist `transition.state`).
    fn breaker(&self, transition: vip_engine::BreakerTransition) {
        let _ = transition;
    }
    /// Something happened to an attempt through `proxy` (see
    /// [`AttemptEvent`]).
    fn attempt(&self, proxy: ProxyId, event: AttemptEvent, at: Timestamp) {
        let _ = (proxy, event, at);
    }
    /// A rotation learned or replaced a sticky mapping.
    fn sticky_changed(&self, rotation: vip_engine::ConfigId) {
        let _ = rotation;
    }
    /// The blocklist refused a request of `tab` (its listener's tab, if
    /// any) to `host`; `url` for plain HTTP, where the gateway sees it.
    fn blocked(&self, tab: Option<vip_engine::TabId>, host: &str, url: Option<&str>) {
        let _ = (tab, host, url);
    }
}

/// Discards everything.
pub struct NullSink;

impl EventSink for NullSink {
    fn connection(&self, _: ConnectionRecord) {}
    fn rotation(&self, _: Vec<RotationEvent>) {}
}
