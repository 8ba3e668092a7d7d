//! # vip-daemon
//!
//! The daemon `vip serve` runs, as a library: [`start`] builds store →
//! vault credentials → engine → gateway → browser → control API in one
//! place and returns a [`DaemonHandle`]; [`DaemonHandle::shutdown`] drains
//! them all within a grace period and says what, if anything, could not be
//! saved. Tests start it in-process on a temporary data directory with
//! port-0 listeners.
//!
//! Every task runs on one `TaskTracker`; one `CancellationToken` stops the
//! services (API, health checks, autosave), and the upkeep thread, the one
//! writer of engine state, stops last so its final save sees the drained
//! gateway.
//!
//! - `settings`: file, environment and flags, validated once, with
//!   where each value came from (`vip config show`), and turned into a
//!   [`DaemonConfig`]; `inputs`: the files they name, loaded and checked;
//! - `config`: [`DaemonConfig`] and one sub-config per component;
//! - `sink`: usage records to the batched writer, rotation events buffered;
//! - `credentials`: the pool's logins decrypted once per change;
//! - `rotations`: stored configs read outside the engine lock, and which
//!   are active;
//! - `upkeep`: reloads (asked for, or noticed through `PRAGMA data_version`),
//!   health reports and state saves on one thread;
//! - `persist`: what a save writes;
//! - `health`: the periodic health-check rounds; `checks`: on-demand ones
//!   (CLI); `jobs`: the ones the API asks for, one or many as a job;
//! - `control`: the control API's view of the daemon;
//! - `shutdown`: the drain and its report;
//! - `browse`: identities, tabs and sessions;
//! - `standalone`: `vip gateway`, a gateway over upstreams given as
//!   arguments, with no database.

mod browse;
mod checks;
mod config;
mod control;
mod credentials;
mod error;
mod health;
pub mod inputs;
mod jobs;
mod persist;
mod rotations;
pub mod settings;
mod shutdown;
mod sink;
pub mod standalone;
mod start;
mod upkeep;

pub use browse::{ExitGeo, GeoPolicy};
pub use checks::check_stored;
pub use config::{
    ApiConfig, BrowserConfig, DaemonConfig, GatewayConfig, HealthConfig, Retention, UpkeepConfig,
};
pub use error::DaemonError;
pub use shutdown::ShutdownReport;
pub use start::{DaemonHandle, start};

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
