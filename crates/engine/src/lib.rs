//! # vip-engine
//!
//! The pure core of Virtual IP Browser: given a pool of upstream proxies and a
//! rotation config, decide which proxy each connection uses, with ordered
//! fallbacks, and learn from outcomes. Eleven strategies (round-robin,
//! random, weighted, fastest, least-used, geographic, sticky-session,
//! failover, time-based, failure-aware, custom rules), per-proxy circuit
//! breakers and rotation events.
//!
//! The crate does no I/O, reads no clock and draws no ambient randomness:
//! callers pass `now` ([`Timestamp`]) and an `&mut dyn RngCore`. Every
//! selection is O(log n) in the pool size (plus the caller's exclusions).
//!
//! Typical use: build a [`PoolSnapshot`], an [`Engine`] over it, load a
//! [`RotationConfig`] with [`Engine::set_rotation`], then call
//! [`Engine::select`] per connection and [`Engine::observe`] with each
//! [`Feedback`].

mod breaker;
pub mod config;
mod engine;
mod events;
mod health;
mod ids;
mod index;
mod pool;
mod proxy;
mod request;
mod rotation;
pub mod rules;
mod strategy;
mod time;

pub use breaker::{BreakerPhase, BreakerSettings, BreakerState, RollingWindow};
pub use config::{
    CommonConfig, ConfigError, RotationConfig, RotationDocument, StrategyConfig, StrategyName,
};
pub use engine::{BreakerTransition, Engine, RebuildStart, RuntimeCopy};
pub use events::{RotationEvent, RotationKey, RotationReason};
pub use health::{FailureKind, Fault, Feedback, HealthSettings, ProxyStatus};
pub use ids::{ConfigId, CredentialRef, ProxyId, RuleId, TabId};
pub use pool::{PoolError, PoolSnapshot};
pub use proxy::{CountryCode, HealthSnapshot, Protocol, Proxy};
pub use request::{Reason, Route, SelectError, Selection, SelectionRequest, StickyOutcome};
pub use rules::RuleSpec;
pub use strategy::sticky_session::{StickyMapping, StickyScope};
pub use time::{LocalTime, Timestamp};
