//! `DaemonError`: what can stop the daemon from starting. Each variant says
//! which part failed and carries its cause; none carries a secret.

use std::net::SocketAddr;

/// Why the daemon did not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The database could not be opened, migrated or read.
    #[error(transparent)]
    Store(#[from] vip_store::StoreError),
    /// The stored pool is not one the engine accepts.
    #[error("the stored proxy pool cannot be loaded: {0}")]
    Pool(String),
    /// A listener could not be bound.
    #[error("binding the {what} on {addr}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// Where.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The gateway refused a listener.
    #[error(transparent)]
    Gateway(#[from] vip_gateway::GatewayError),
    /// A file or thread of the daemon's own could not be made.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl DaemonError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
        let what = what.into();
        move |source| DaemonError::Io { what, source }
    }
}
