//! # vip-gateway
//!
//! The local proxy every tab (and any other client) talks to. Each listener
//! accepts HTTP proxy requests (CONNECT tunnels and absolute-form plain
//! HTTP) and SOCKS5, asks the rotation engine which upstream proxy to use,
//! dials it (HTTP CONNECT, SOCKS4, SOCKS4a, SOCKS5; credentials from the
//! vault at dial time; target host names sent on unresolved), fails over to
//! the next candidate on a proxy's fault under one time budget per request,
//! with hedged attempts and a pool-wide retry budget (plain HTTP only when
//! replaying the request is safe), relays bytes, and reports every
//! outcome back to the engine and to an [`EventSink`]. There is never a
//! silent direct connection: if nothing is eligible the client gets an error
//! that says why.

mod attempts;
mod connect;
mod error;
mod gateway;
pub mod health;
mod inbound;
mod keepalive;
mod recovery;
mod relay;
mod sink;
mod stall;
mod target;
mod traffic;
pub mod upstream;

pub use connect::Explained;
pub use error::{DialError, GatewayError, InputError};
pub use gateway::{
    ClientAuth, Credentials, Gateway, GatewaySettings, ListenerHandle, ListenerSpec, NoCredentials,
};
pub use keepalive::KeepAliveSettings;
pub use recovery::RecoverySettings;
pub use sink::{AttemptEvent, ConnectionRecord, EventSink, NullSink};
pub use target::Target;
pub use traffic::TrafficTotals;
pub use vip_model::Assignment;

/// The current wall-clock time as the engine's [`vip_engine::Timestamp`].
pub fn now() -> vip_engine::Timestamp {
    vip_engine::Timestamp::from_millis(vip_model::now_ms())
}
