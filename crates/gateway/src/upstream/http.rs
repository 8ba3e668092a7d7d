//! HTTP proxies: the CONNECT handshake with Basic authentication, and the
//! request head used to forward plain HTTP in absolute form.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Login, UpstreamStream, io_fault};
use crate::error::DialError;
use crate::target::Target;

const MAX_REPLY: usize = 16 * 1024;

/// `Proxy-Authorization: Basic ...\r\n`, or nothing.
pub fn auth_header(login: Option<&Login>) -> String {
    login.map_or_else(String::new, |(u, p)| {
        format!(
            "Proxy-Authorization: Basic {}\r\n",
            STANDARD.encode(format!("{}:{}", u.expose(), p.expose()))
        )
    })
}

/// Asks the proxy itself something it answers without reaching out
/// (`OPTIONS *`): any HTTP answer but a 407 means it is alive and takes
/// our credentials.
pub async fn ask(
    stream: &mut UpstreamStream,
    proxy: &str,
    login: Option<&Login>,
) -> Result<(), DialError> {
    let head = format!(
        "OPTIONS * HTTP/1.1\r\nHost: {proxy}\r\n{}Connection: close\r\n\r\n",
        auth_header(login)
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| io_fault(proxy, e))?;
    let mut got = Vec::new();
    let mut chunk = [0u8; 512];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 16 * 1024 {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| io_fault(proxy, e))?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    if got.is_empty() {
        return Err(DialError::Reset {
            proxy: proxy.into(),
        });
    }
    let status = std::str::from_utf8(&got[..got.len().min(12)])
        .ok()
        .filter(|s| s.starts_with("HTTP/1."))
        .and_then(|s| s.get(9..12)?.parse::<u16>().ok());
    match status {
        Some(401 | 407) => Err(DialError::Auth {
            proxy: proxy.into(),
        }),
        Some(_) => Ok(()),
        None => Err(DialError::Protocol {
            proxy: proxy.into(),
            detail: "its answer is not HTTP".into(),
        }),
    }
}

/// Sends CONNECT and reads the reply head; returns bytes after it.
pub async fn connect(
    stream: &mut UpstreamStream,
    proxy: &str,
    login: Option<&Login>,
    target: &Target,
) -> Result<Vec<u8>, DialError> {
    let request = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{}\r\n",
        auth_header(login)
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| io_fault(proxy, e))?;
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_REPLY {
            return Err(DialError::Protocol {
                proxy: proxy.into(),
                detail: "CONNECT reply head longer than 16 KiB".into(),
            });
        }
        let mut chunk = [0u8; 2048];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| io_fault(proxy, e))?;
        if n == 0 {
            return Err(DialError::Reset {
                proxy: proxy.into(),
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let status = match response.parse(&buf[..head_end]) {
        Ok(httparse::Status::Complete(_)) => response.code.unwrap_or(0),
        _ => {
            return Err(DialError::Protocol {
                proxy: proxy.into(),
                detail: "the CONNECT reply is not HTTP".into(),
            });
        }
    };
    let reason = response.reason.unwrap_or("").to_string();
    match status {
        200..=299 => Ok(buf[head_end..].to_vec()),
        // Some proxies (tinyproxy) answer 401 instead of 407.
        401 | 407 => Err(DialError::Auth {
            proxy: proxy.into(),
        }),
        500 | 502..=504 => Err(DialError::Origin {
            proxy: proxy.into(),
            target: target.to_string(),
            detail: format!("{status} {reason}"),
        }),
        _ => Err(DialError::Protocol {
            proxy: proxy.into(),
            detail: format!("CONNECT answered {status} {reason}"),
        }),
    }
}

/// The lower-cased tokens of every `Connection` header: the hop-by-hop
/// headers the client named, and `upgrade` or `close`.
fn connection_tokens(headers: &[(String, Vec<u8>)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| {
            String::from_utf8_lossy(value)
                .to_ascii_lowercase()
                .split(',')
                .map(|t| t.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// The protocol a client asks to switch to (`Connection: upgrade` with an
/// `Upgrade` header, as a WebSocket handshake sends), if any.
pub fn upgrade_requested(headers: &[(String, Vec<u8>)]) -> Option<&[u8]> {
    upgrade_in(&connection_tokens(headers), headers)
}

/// [`upgrade_requested`] with the `Connection` tokens already read.
fn upgrade_in<'a>(tokens: &[String], headers: &'a [(String, Vec<u8>)]) -> Option<&'a [u8]> {
    if !tokens.iter().any(|t| t == "upgrade") {
        return None;
    }
    headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("upgrade"))
        .map(|(_, value)| value.as_slice())
}

/// Rewrites a plain-HTTP request head for the next hop: absolute form for
/// an HTTP proxy (`to_proxy`), origin form for a tunnel. Hop-by-hop and
/// proxy headers are dropped, with any header the client's `Connection`
/// names (RFC 9110 §7.6.1); the connection is left persistent (HTTP/1.1's
/// default) when `keep`, else `Connection: close` is set, or `Connection:
/// Upgrade` with the client's `Upgrade` when it asked to switch protocols;
/// the proxy's Basic auth is added when forwarding.
pub fn forward_head(
    method: &str,
    target: &Target,
    path: &str,
    headers: &[(String, Vec<u8>)],
    to_proxy: bool,
    login: Option<&Login>,
    keep: bool,
) -> Vec<u8> {
    let uri = if to_proxy {
        let default = if target.port == 80 {
            target.host.clone()
        } else {
            target.to_string()
        };
        format!(
            "http://{}{path}",
            if target.host.contains(':') && target.port == 80 {
                format!("[{}]", target.host)
            } else {
                default
            }
        )
    } else {
        path.to_string()
    };
    let mut out = format!("{method} {uri} HTTP/1.1\r\n").into_bytes();
    let mut has_host = false;
    let named = connection_tokens(headers);
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if named.contains(&lower)
            || matches!(
                lower.as_str(),
                "proxy-authorization"
                | "proxy-connection"
                | "connection"
                | "keep-alive"
                | "te"
                | "upgrade"
                // Answered by the gateway itself (see inbound/forward.rs).
                | "expect"
            )
        {
            continue;
        }
        has_host |= lower == "host";
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !has_host {
        out.extend_from_slice(format!("Host: {target}\r\n").as_bytes());
    }
    match upgrade_in(&named, headers) {
        Some(protocol) => {
            out.extend_from_slice(b"Upgrade: ");
            out.extend_from_slice(protocol);
            out.extend_from_slice(b"\r\nConnection: Upgrade\r\n");
        }
        None if keep => {}
        None => out.extend_from_slice(b"Connection: close\r\n"),
    }
    if to_proxy {
        out.extend_from_slice(auth_header(login).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}
