//! Gateway errors, classified by whose fault they are, because that decides
//! what happens next: a proxy's fault opens its breaker and moves on to the
//! next candidate; an origin's fault goes back to the client unchanged; a
//! local problem skips the candidate without blaming it.

use std::io;

use thiserror::Error;
use vip_engine::FailureKind;

/// Why dialling a target through an upstream proxy failed.
#[derive(Debug, Error)]
pub enum DialError {
    /// TCP connect to the proxy failed.
    #[error("cannot connect to proxy {proxy}: {source}")]
    Connect {
        /// The proxy address.
        proxy: String,
        /// The OS error.
        source: io::Error,
    },
    /// Connecting or the handshake took too long.
    #[error("proxy {proxy} timed out during {stage}")]
    Timeout {
        /// The proxy address.
        proxy: String,
        /// connect or handshake.
        stage: &'static str,
    },
    /// The proxy refused our credentials.
    #[error("proxy {proxy} rejected the credentials")]
    Auth {
        /// The proxy address.
        proxy: String,
    },
    /// The proxy could not reach the target.
    #[error("proxy {proxy} could not reach {target}: {detail}")]
    Origin {
        /// The proxy address.
        proxy: String,
        /// The target.
        target: String,
        /// What the proxy said.
        detail: String,
    },
    /// The proxy answered with something that is not the protocol.
    #[error("proxy {proxy} broke the protocol: {detail}")]
    Protocol {
        /// The proxy address.
        proxy: String,
        /// What was wrong.
        detail: String,
    },
    /// The proxy closed or reset the connection during the handshake.
    #[error("proxy {proxy} closed the connection during the handshake")]
    Reset {
        /// The proxy address.
        proxy: String,
    },
    /// This proxy cannot serve the request without a local problem being
    /// solved (a SOCKS4 proxy and a host name, missing credentials, an
    /// unsupported protocol).
    #[error("proxy {proxy} cannot be used: {detail}")]
    Unusable {
        /// The proxy address.
        proxy: String,
        /// Why.
        detail: String,
    },
}

impl DialError {
    /// The engine's failure kind, which carries the fault.
    pub fn kind(&self) -> FailureKind {
        match self {
            DialError::Connect { source, .. }
                if source.kind() == io::ErrorKind::ConnectionRefused =>
            {
                FailureKind::ProxyRefused
            }
            DialError::Connect { .. } => FailureKind::ProxyReset,
            DialError::Timeout { .. } => FailureKind::ProxyTimeout,
            DialError::Auth { .. } => FailureKind::ProxyAuth,
            DialError::Origin { .. } => FailureKind::OriginUnreachable,
            DialError::Protocol { .. } => FailureKind::ProxyProtocol,
            DialError::Reset { .. } => FailureKind::ProxyReset,
            DialError::Unusable { .. } => FailureKind::Local,
        }
    }
}

/// Errors setting up the gateway.
#[derive(Debug, Error)]
pub enum GatewayError {
    /// Binding a listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// A non-loopback listener without client authentication.
    #[error(
        "refusing to listen on {addr} without client authentication: the gateway must never be an open proxy; configure a username and password or bind 127.0.0.1"
    )]
    OpenProxy {
        /// The address.
        addr: String,
    },
}

/// Input the gateway was given that it cannot use: files of trust roots
/// and geolocation, target addresses. Each says what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A PEM file whose certificates do not parse.
    #[error("cannot read the PEM certificates: {0}")]
    Pem(String),
    /// A PEM file with no certificate in it.
    #[error("no certificate in the PEM file")]
    NoCertificate,
    /// Bytes that are not a MaxMind-format database.
    #[error("not a MaxMind database: {0}")]
    NotGeoDb(String),
    /// A file that could not be read or used.
    #[error("{path}: {why}", path = .path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A target that is not `host:port`.
    #[error("{0}")]
    Target(String),
}
