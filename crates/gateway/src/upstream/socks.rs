//! SOCKS clients: SOCKS5 (no authentication or username/password, host names
//! sent as domain names) and SOCKS4/4a (user id from the username; 4a sends
//! host names to the proxy).

use std::net::IpAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Login, UpstreamStream, io_fault};
use crate::error::DialError;
use crate::target::Target;

fn protocol(proxy: &str, detail: impl Into<String>) -> DialError {
    DialError::Protocol {
        proxy: proxy.into(),
        detail: detail.into(),
    }
}

/// SOCKS5 CONNECT.
/// The SOCKS5 greeting and, when the proxy asks for it, username and
/// password authentication: what a proxy answers without reaching out.
pub async fn greet5(
    s: &mut UpstreamStream,
    proxy: &str,
    login: Option<&Login>,
) -> Result<(), DialError> {
    let io = |e| io_fault(proxy, e);
    let greeting: &[u8] = if login.is_some() {
        &[5, 2, 0, 2]
    } else {
        &[5, 1, 0]
    };
    s.write_all(greeting).await.map_err(io)?;
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await.map_err(io)?;
    if choice[0] != 5 {
        return Err(protocol(
            proxy,
            format!("answered SOCKS version {} to a SOCKS5 greeting", choice[0]),
        ));
    }
    match (choice[1], login) {
        (0, _) => {}
        (2, Some((user, pass))) => {
            let (u, p) = (user.expose().as_bytes(), pass.expose().as_bytes());
            if u.len() > 255 || p.len() > 255 {
                return Err(DialError::Unusable {
                    proxy: proxy.into(),
                    detail: "username or password longer than 255 bytes".into(),
                });
            }
            let mut msg = vec![1, u.len() as u8];
            msg.extend_from_slice(u);
            msg.push(p.len() as u8);
            msg.extend_from_slice(p);
            s.write_all(&msg).await.map_err(io)?;
            let mut status = [0u8; 2];
            s.read_exact(&mut status).await.map_err(io)?;
            if status[1] != 0 {
                return Err(DialError::Auth {
                    proxy: proxy.into(),
                });
            }
        }
        (0xff, _) | (2, None) => {
            return Err(DialError::Auth {
                proxy: proxy.into(),
            });
        }
        (m, _) => {
            return Err(protocol(
                proxy,
                format!("chose unknown authentication method {m}"),
            ));
        }
    }
    Ok(())
}

pub async fn connect5(
    s: &mut UpstreamStream,
    proxy: &str,
    login: Option<&Login>,
    target: &Target,
) -> Result<(), DialError> {
    let io = |e| io_fault(proxy, e);
    greet5(s, proxy, login).await?;
    let mut req = vec![5, 1, 0];
    match target.ip() {
        Some(IpAddr::V4(ip)) => {
            req.push(1);
            req.extend_from_slice(&ip.octets());
        }
        Some(IpAddr::V6(ip)) => {
            req.push(4);
            req.extend_from_slice(&ip.octets());
        }
        None => {
            req.push(3);
            req.push(target.host.len() as u8);
            req.extend_from_slice(target.host.as_bytes());
        }
    }
    req.extend_from_slice(&target.port.to_be_bytes());
    s.write_all(&req).await.map_err(io)?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.map_err(io)?;
    if head[0] != 5 {
        return Err(protocol(
            proxy,
            format!("replied with SOCKS version {}", head[0]),
        ));
    }
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).await.map_err(io)?;
            usize::from(len[0]) + 2
        }
        t => {
            return Err(protocol(
                proxy,
                format!("replied with unknown address type {t}"),
            ));
        }
    };
    let mut skip = vec![0u8; rest];
    s.read_exact(&mut skip).await.map_err(io)?;
    let origin = |detail: &str| DialError::Origin {
        proxy: proxy.into(),
        target: target.to_string(),
        detail: detail.into(),
    };
    match head[1] {
        0 => Ok(()),
        3 => Err(origin("network unreachable")),
        4 => Err(origin("host unreachable (or not resolvable)")),
        5 => Err(origin("connection refused")),
        6 => Err(origin("TTL expired")),
        2 => Err(protocol(proxy, "connection not allowed by its ruleset")),
        code => Err(protocol(proxy, format!("failed with SOCKS5 reply {code}"))),
    }
}

/// SOCKS4 / SOCKS4a CONNECT (the caller checked SOCKS4 gets an IPv4 target).
pub async fn connect4(
    s: &mut UpstreamStream,
    proxy: &str,
    login: Option<&Login>,
    target: &Target,
) -> Result<(), DialError> {
    let io = |e| io_fault(proxy, e);
    let mut req = vec![4, 1];
    req.extend_from_slice(&target.port.to_be_bytes());
    let ip = match target.ip() {
        Some(IpAddr::V4(ip)) => Some(ip),
        _ => None,
    };
    req.extend_from_slice(&ip.map_or([0, 0, 0, 1], |ip| ip.octets()));
    if let Some((user, _)) = login {
        req.extend_from_slice(user.expose().as_bytes());
    }
    req.push(0);
    if ip.is_none() {
        req.extend_from_slice(target.host.as_bytes());
        req.push(0);
    }
    s.write_all(&req).await.map_err(io)?;
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).await.map_err(io)?;
    if reply[0] != 0 {
        return Err(protocol(
            proxy,
            format!("replied with SOCKS4 version byte {}", reply[0]),
        ));
    }
    match reply[1] {
        0x5a => Ok(()),
        0x5b => Err(DialError::Origin {
            proxy: proxy.into(),
            target: target.to_string(),
            detail: "request rejected or failed".into(),
        }),
        0x5c | 0x5d => Err(DialError::Auth {
            proxy: proxy.into(),
        }),
        code => Err(protocol(
            proxy,
            format!("failed with SOCKS4 reply {code:#x}"),
        )),
    }
}
