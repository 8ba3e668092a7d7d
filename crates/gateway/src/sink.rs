//! Where the gateway reports what happened: one record per attempt through a
//! proxy (failed attempts included) and the engine's rotation events. The
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
    /// A rotation learned or replaced a sticky mapping.
    fn sticky_changed(&self, rotation: vip_engine::ConfigId) {
        let _ = rotation;
    }
}

/// Discards everything.
pub struct NullSink;

impl EventSink for NullSink {
    fn connection(&self, _: ConnectionRecord) {}
    fn rotation(&self, _: Vec<RotationEvent>) {}
}
