//! HTTP proxy requests: `CONNECT host:port` opens a tunnel; absolute-form
//! `GET http://host/path` is forwarded (one request per upstream connection,
//! `Connection: close`). Origin-form requests, `https://` absolute URLs,
//! oversized or malformed heads and slow clients get a clear error response.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::splice;
use crate::connect;
use crate::gateway::{ListenerSpec, Shared};
use crate::target::Target;
use crate::upstream::Mode;

enum HeadError {
    Closed,
    TooLarge,
    Slow,
}

async fn read_head(
    stream: &mut TcpStream,
    initial: Vec<u8>,
    max: usize,
    shared: &Shared,
) -> Result<(Vec<u8>, usize), HeadError> {
    let mut buf = initial;
    let read = async {
        loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(i + 4);
            }
            if buf.len() >= max {
                return Err(HeadError::TooLarge);
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Err(HeadError::Closed),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    match tokio::time::timeout(shared.settings.client_timeout, read).await {
        Err(_) => Err(HeadError::Slow),
        Ok(Err(e)) => Err(e),
        Ok(Ok(end)) => Ok((buf, end)),
    }
}

pub(super) async fn respond(
    stream: &mut TcpStream,
    status: u16,
    reason: &str,
    body: &str,
    extra: &str,
) {
    let text = format!("{body}\n");
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{text}",
        text.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn authorized(spec: &ListenerSpec, headers: &[httparse::Header<'_>]) -> bool {
    let Some(auth) = &spec.auth else { return true };
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", auth.username, auth.password.expose()))
    );
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("proxy-authorization") && h.value == expected.as_bytes()
    })
}

/// A parsed request, owning only what is needed after parsing, so the read
/// buffer and header table are gone before the relay starts.
pub(super) struct Parsed {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub authorized: bool,
    /// HTTP/1.1 without `Connection: close` (or 1.0 with keep-alive).
    pub keep_alive: bool,
    /// HTTP/1.1 or later (an HTTP/1.0 client's `Expect` is ignored).
    pub http11: bool,
    /// Bytes the client sent after the head (start of a body or tunnel data).
    pub rest: Vec<u8>,
}

pub(super) enum ReadOutcome {
    Request(Parsed),
    Reply(u16, &'static str, String, &'static str),
    Closed,
}

pub(super) async fn read_request(
    stream: &mut TcpStream,
    initial: Vec<u8>,
    shared: &Shared,
    spec: &ListenerSpec,
) -> ReadOutcome {
    let (buf, head_len) = match read_head(stream, initial, shared.settings.max_head, shared).await {
        Ok(x) => x,
        Err(HeadError::Closed) => return ReadOutcome::Closed,
        Err(HeadError::TooLarge) => {
            return ReadOutcome::Reply(
                431,
                "Request Header Fields Too Large",
                "vip: the request head is too large".into(),
                "",
            );
        }
        Err(HeadError::Slow) => {
            return ReadOutcome::Reply(
                408,
                "Request Timeout",
                "vip: the request head took too long".into(),
                "",
            );
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 96];
    let mut request = httparse::Request::new(&mut headers);
    let parsed = matches!(
        request.parse(&buf[..head_len]),
        Ok(httparse::Status::Complete(_))
    );
    let (Some(method), Some(path), true) = (request.method, request.path, parsed) else {
        return ReadOutcome::Reply(400, "Bad Request", "vip: malformed HTTP request".into(), "");
    };
    let connection = request
        .headers
        .iter()
        .filter(|h| {
            h.name.eq_ignore_ascii_case("connection")
                || h.name.eq_ignore_ascii_case("proxy-connection")
        })
        .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",");
    let keep_alive = match request.version {
        Some(1) => !connection.contains("close"),
        _ => connection.contains("keep-alive"),
    };
    ReadOutcome::Request(Parsed {
        keep_alive,
        http11: request.version == Some(1),
        method: method.to_string(),
        path: path.to_string(),
        authorized: authorized(spec, request.headers),
        headers: request
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect(),
        rest: buf[head_len..].to_vec(),
    })
}

/// Serves one HTTP proxy request, whose first bytes are `carry`.
pub async fn serve(
    mut stream: TcpStream,
    carry: Vec<u8>,
    shared: &Arc<Shared>,
    spec: &ListenerSpec,
    abort: &CancellationToken,
    drain: &CancellationToken,
) {
    // Boxed so the read buffer and header table are freed before the relay.
    let request = match Box::pin(read_request(&mut stream, carry, shared, spec)).await {
        ReadOutcome::Request(r) => r,
        ReadOutcome::Reply(status, reason, body, extra) => {
            return respond(&mut stream, status, reason, &body, extra).await;
        }
        ReadOutcome::Closed => return,
    };
    if !request.authorized {
        return respond(
            &mut stream,
            407,
            "Proxy Authentication Required",
            "vip: proxy authentication required",
            "Proxy-Authenticate: Basic realm=\"vip\"\r\n",
        )
        .await;
    }
    let Parsed {
        method,
        path,
        headers,
        rest,
        keep_alive,
        http11,
        ..
    } = request;
    if method.eq_ignore_ascii_case("CONNECT") {
        let target = match Target::parse_authority(&path, None) {
            Ok(t) => t,
            Err(e) => {
                return respond(
                    &mut stream,
                    400,
                    "Bad Request",
                    &format!("vip: bad CONNECT target: {e}"),
                    "",
                )
                .await;
            }
        };
        match connect::open(shared, spec, &target, None, Mode::Tunnel).await {
            Ok(opened) => {
                if stream
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    splice(stream, opened, rest, shared, &target, abort).await;
                }
            }
            Err(e) => fail(&mut stream, &e).await,
        }
        return;
    }
    let first = Parsed {
        method,
        path,
        headers,
        authorized: true,
        keep_alive,
        http11,
        rest,
    };
    // Boxed: tunnels should not carry the plain-HTTP path's larger state.
    Box::pin(super::forward::serve(
        stream, first, shared, spec, abort, drain,
    ))
    .await;
}

pub(super) async fn fail(stream: &mut TcpStream, e: &connect::OpenError) {
    match e {
        connect::OpenError::Blocked
        | connect::OpenError::Tracker
        | connect::OpenError::Own { .. } => {
            respond(
                stream,
                403,
                "Forbidden",
                &format!("vip: {}", e.explain()),
                "",
            )
            .await
        }
        // No upstream answered in time: a gateway timeout, not a bad one.
        _ if e.timed_out() => {
            respond(
                stream,
                504,
                "Gateway Timeout",
                &format!("vip: {}", e.explain()),
                "",
            )
            .await
        }
        _ => {
            respond(
                stream,
                502,
                "Bad Gateway",
                &format!("vip: {}", e.explain()),
                "",
            )
            .await
        }
    }
}
