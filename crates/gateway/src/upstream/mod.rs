//! Upstream dialers: connect to the proxy, then open a tunnel to the target
//! with HTTP CONNECT (Basic auth), SOCKS4, SOCKS4a or SOCKS5 (username and
//! password). Target host names are sent to the proxy unresolved; a SOCKS4
//! proxy, which only takes IPv4 addresses, is refused for host names rather
//! than resolving them locally. Connect and handshake have their own
//! timeouts.

mod http;
mod socks;
mod tls;

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::time::timeout;
use vip_engine::{Protocol, Proxy};
use vip_model::Secret;

pub use http::{forward_head, upgrade_requested};
pub use tls::{Tls, UpstreamStream};

use crate::error::DialError;
use crate::target::Target;

/// Time limits for one attempt.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// TCP connect to the proxy.
    pub connect: Duration,
    /// The proxy handshake (including the proxy's own connect to the target).
    pub handshake: Duration,
}

/// A username and password for the proxy.
pub type Login = (Secret, Secret);

/// How the connection to the target will be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A byte tunnel to the target.
    Tunnel,
    /// Plain HTTP: through an HTTP proxy the request is forwarded in
    /// absolute form (no tunnel); other proxies tunnel.
    Forward,
}

/// An open connection through a proxy.
#[derive(Debug)]
pub struct Dialed {
    /// The stream, positioned after the handshake.
    pub stream: UpstreamStream,
    /// Bytes the proxy sent after its handshake reply (to pass on).
    pub leftover: Vec<u8>,
    /// Connect + handshake time.
    pub latency: Duration,
    /// True when the stream talks to the HTTP proxy in forward mode.
    pub forwarding: bool,
}

/// TCP connect to the proxy at `name` within `t`.
async fn connect(name: &str, t: Duration) -> Result<TcpStream, DialError> {
    match timeout(t, TcpStream::connect(name)).await {
        Err(_) => Err(DialError::Timeout {
            proxy: name.to_string(),
            stage: "connect",
        }),
        Ok(Err(source)) => Err(DialError::Connect {
            proxy: name.to_string(),
            source,
        }),
        Ok(Ok(s)) => Ok(s),
    }
}

/// A proxy's `host:port` as dialled and named in errors (IPv6 bracketed).
pub(crate) fn addr(proxy: &Proxy) -> String {
    if proxy.host.contains(':') {
        format!("[{}]:{}", proxy.host, proxy.port)
    } else {
        format!("{}:{}", proxy.host, proxy.port)
    }
}

/// Connects through `proxy` to `target` (TLS first for HTTPS proxies).
pub async fn dial(
    proxy: &Proxy,
    login: Option<&Login>,
    target: &Target,
    mode: Mode,
    t: Timeouts,
    tls: &Tls,
) -> Result<Dialed, DialError> {
    let name = addr(proxy);
    if proxy.protocol == Protocol::Socks4 && target.ip().is_none_or(|ip| !ip.is_ipv4()) {
        return Err(DialError::Unusable {
            proxy: name,
            detail: format!(
                "SOCKS4 takes only IPv4 addresses and {} would need a local DNS lookup; use socks4a",
                target.host
            ),
        });
    }
    if proxy.credential.is_some() && login.is_none() {
        return Err(DialError::Unusable {
            proxy: name,
            detail: "its credentials are not available (vault locked?)".into(),
        });
    }
    let started = Instant::now();
    let tcp = connect(&name, t.connect).await?;
    let _ = tcp.set_nodelay(true);
    let forwarding =
        mode == Mode::Forward && matches!(proxy.protocol, Protocol::Http | Protocol::Https);
    let handshake = async {
        let mut stream = if proxy.protocol == Protocol::Https {
            let tls_stream =
                tls.connect(&proxy.host, tcp)
                    .await
                    .map_err(|e| DialError::Protocol {
                        proxy: name.clone(),
                        detail: format!("TLS handshake failed: {e}"),
                    })?;
            UpstreamStream::Tls(Box::new(tls_stream))
        } else {
            UpstreamStream::Tcp(tcp)
        };
        let leftover = match proxy.protocol {
            Protocol::Http | Protocol::Https if forwarding => Vec::new(),
            Protocol::Http | Protocol::Https => {
                http::connect(&mut stream, &name, login, target).await?
            }
            Protocol::Socks4 | Protocol::Socks4a => {
                socks::connect4(&mut stream, &name, login, target).await?;
                Vec::new()
            }
            Protocol::Socks5 => {
                socks::connect5(&mut stream, &name, login, target).await?;
                Vec::new()
            }
        };
        Ok::<_, DialError>((stream, leftover))
    };
    let (stream, leftover) = match timeout(t.handshake, handshake).await {
        Err(_) => {
            return Err(DialError::Timeout {
                proxy: name,
                stage: "handshake",
            });
        }
        Ok(r) => r?,
    };
    Ok(Dialed {
        stream,
        leftover,
        latency: started.elapsed(),
        forwarding,
    })
}

/// Whether `proxy` is alive and speaks its protocol, without asking it to
/// reach anything: the SOCKS5 greeting and authentication; for HTTP(S)
/// proxies a request to the proxy itself; for SOCKS4 a TCP connect. Each
/// stage within `t`. Returns the time taken.
pub async fn probe(
    proxy: &Proxy,
    login: Option<&Login>,
    t: Duration,
    tls: &Tls,
) -> Result<Duration, DialError> {
    let name = addr(proxy);
    let started = Instant::now();
    let tcp = connect(&name, t).await?;
    let talk = async {
        let mut stream = if proxy.protocol == Protocol::Https {
            let s = tls
                .connect(&proxy.host, tcp)
                .await
                .map_err(|e| DialError::Protocol {
                    proxy: name.clone(),
                    detail: format!("TLS handshake failed: {e}"),
                })?;
            UpstreamStream::Tls(Box::new(s))
        } else {
            UpstreamStream::Tcp(tcp)
        };
        match proxy.protocol {
            Protocol::Socks5 => socks::greet5(&mut stream, &name, login).await,
            Protocol::Http | Protocol::Https => http::ask(&mut stream, &name, login).await,
            Protocol::Socks4 | Protocol::Socks4a => Ok(()),
        }
    };
    match timeout(t, talk).await {
        Err(_) => Err(DialError::Timeout {
            proxy: name,
            stage: "handshake",
        }),
        Ok(r) => r.map(|()| started.elapsed()),
    }
}

/// Maps an I/O error during a handshake to the proxy's fault.
pub fn io_fault(proxy: &str, e: std::io::Error) -> DialError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::BrokenPipe => DialError::Reset {
            proxy: proxy.to_string(),
        },
        _ => DialError::Protocol {
            proxy: proxy.to_string(),
            detail: e.to_string(),
        },
    }
}
