//! Plain HTTP through the gateway, with client keep-alive. Each request goes
//! out on its own upstream connection (asked to close afterwards, so a
//! request can go to a different host or proxy than the one before), its
//! body framed by Content-Length; the response head is rewritten so the
//! client may keep its connection when the response length is known; the
//! body is copied by Content-Length (none for HEAD, 1xx, 204, 304) or to the
//! upstream's close. Request bodies are framed by Content-Length or chunked
//! encoding (copied chunk by chunk). An unknown response length or a client
//! asking to close ends the connection after that exchange.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::http::{Parsed, ReadOutcome, fail, read_request, respond};
use crate::connect::{self, Opened};
use crate::gateway::{ListenerSpec, Shared};
use crate::target::Target;
use crate::upstream::{Mode, UpstreamStream, forward_head};

const MAX_RESPONSE_HEAD: usize = 64 * 1024;

fn header<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// Splits `http://authority/path?query` into a target and origin-form path.
fn split_url(path: &str) -> Result<(Target, String), &'static str> {
    let Some(after) = path.strip_prefix("http://") else {
        return Err(if path.starts_with("https://") {
            "vip: use CONNECT for https:// URLs"
        } else {
            "vip: this is a proxy; send absolute-form requests (http://host/path) or CONNECT"
        });
    };
    let split = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(split);
    let tail = if tail.is_empty() {
        "/".to_string()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_string()
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let target = Target::parse_authority(authority, Some(80)).map_err(|_| "vip: bad URL host")?;
    Ok((target, tail))
}

/// Why copying a request body stopped: the client went away (nothing more
/// to do), or the upstream stopped taking it (its answer may already be
/// waiting, e.g. an origin that replies before reading the whole body).
enum BodyError {
    Client,
    Malformed(&'static str),
    Upstream,
}

/// Copies exactly `n` bytes from `from` (after `carry`) to `to`; returns the
/// bytes of `carry` not used.
async fn copy_exact(
    carry: Vec<u8>,
    from: &mut TcpStream,
    to: &mut UpstreamStream,
    mut n: u64,
) -> Result<Vec<u8>, BodyError> {
    let used = carry.len().min(n as usize);
    to.write_all(&carry[..used])
        .await
        .map_err(|_| BodyError::Upstream)?;
    n -= used as u64;
    let mut buf = vec![0u8; 16 * 1024];
    while n > 0 {
        let want = buf.len().min(n as usize);
        let got = from
            .read(&mut buf[..want])
            .await
            .map_err(|_| BodyError::Client)?;
        if got == 0 {
            return Err(BodyError::Client);
        }
        to.write_all(&buf[..got])
            .await
            .map_err(|_| BodyError::Upstream)?;
        n -= got as u64;
    }
    Ok(carry[used..].to_vec())
}

/// Takes one CRLF-terminated line from `buf`, reading more from `from`.
async fn line(buf: &mut Vec<u8>, from: &mut TcpStream) -> Result<Vec<u8>, BodyError> {
    loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            let rest = buf.split_off(i + 2);
            let mut line = std::mem::replace(buf, rest);
            line.truncate(i);
            return Ok(line);
        }
        if buf.len() > 8 * 1024 {
            return Err(BodyError::Malformed(
                "a chunk header line is longer than 8 KiB",
            ));
        }
        let mut chunk = [0u8; 4096];
        let n = from.read(&mut chunk).await.map_err(|_| BodyError::Client)?;
        if n == 0 {
            return Err(BodyError::Client);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Copies a chunked request body (chunks, last chunk, trailers) from `carry`
/// and `from` to `to`; returns (bytes copied, bytes of `carry` left over).
async fn copy_chunked(
    mut buf: Vec<u8>,
    from: &mut TcpStream,
    to: &mut UpstreamStream,
) -> Result<(u64, Vec<u8>), BodyError> {
    let mut total = 0u64;
    loop {
        let header = line(&mut buf, from).await?;
        let size_text = String::from_utf8_lossy(&header);
        let size = u64::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| BodyError::Malformed("a chunk size is not hexadecimal"))?;
        let mut out = header;
        out.extend_from_slice(b"\r\n");
        to.write_all(&out).await.map_err(|_| BodyError::Upstream)?;
        total += out.len() as u64;
        if size == 0 {
            loop {
                let mut trailer = line(&mut buf, from).await?;
                let last = trailer.is_empty();
                trailer.extend_from_slice(b"\r\n");
                to.write_all(&trailer)
                    .await
                    .map_err(|_| BodyError::Upstream)?;
                total += trailer.len() as u64;
                if last {
                    return Ok((total, buf));
                }
            }
        }
        buf = copy_exact(buf, from, to, size + 2).await?;
        total += size + 2;
    }
}

struct Response {
    head: Vec<u8>,
    body_start: Vec<u8>,
    body_len: Option<u64>,
    keep: bool,
}

/// Reads and rewrites the response head.
async fn response(
    upstream: &mut UpstreamStream,
    mut buf: Vec<u8>,
    head_only: bool,
    client_keep: bool,
) -> std::io::Result<Response> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err(std::io::Error::other("response head too large"));
        }
        let mut chunk = [0u8; 4096];
        let n = upstream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut headers = [httparse::EMPTY_HEADER; 96];
    let mut parsed = httparse::Response::new(&mut headers);
    if !matches!(parsed.parse(&buf[..end]), Ok(httparse::Status::Complete(_))) {
        return Err(std::io::Error::other("the response is not HTTP"));
    }
    let status = parsed.code.unwrap_or(502);
    let no_body = head_only || (100..200).contains(&status) || status == 204 || status == 304;
    let length = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()
        });
    let chunked = parsed.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && h.value.to_ascii_lowercase().ends_with(b"chunked")
    });
    let body_len = if no_body {
        Some(0)
    } else if chunked {
        None
    } else {
        length
    };
    let keep = client_keep && status != 101 && (no_body || chunked || length.is_some());
    let mut head = format!("HTTP/1.1 {status} {}\r\n", parsed.reason.unwrap_or("")).into_bytes();
    for h in parsed.headers.iter() {
        if matches!(
            h.name.to_ascii_lowercase().as_str(),
            "connection" | "keep-alive" | "proxy-connection"
        ) {
            continue;
        }
        head.extend_from_slice(h.name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(h.value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(if keep {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    Ok(Response {
        head,
        body_start: buf[end..].to_vec(),
        body_len,
        keep,
    })
}

/// Serves plain-HTTP requests on `client` until it closes or cannot be kept.
pub(super) async fn serve(
    mut client: TcpStream,
    first: Parsed,
    shared: &Arc<Shared>,
    spec: &ListenerSpec,
    abort: &CancellationToken,
) {
    let mut request = first;
    loop {
        if !request.authorized {
            return respond(
                &mut client,
                407,
                "Proxy Authentication Required",
                "vip: proxy authentication required",
                "Proxy-Authenticate: Basic realm=\"vip\"\r\n",
            )
            .await;
        }
        if request.method.eq_ignore_ascii_case("CONNECT") {
            return respond(
                &mut client,
                400,
                "Bad Request",
                "vip: send CONNECT on a new connection",
                "",
            )
            .await;
        }
        let (target, tail) = match split_url(&request.path) {
            Ok(x) => x,
            Err(why) => return respond(&mut client, 400, "Bad Request", why, "").await,
        };
        let chunked = header(&request.headers, "transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().ends_with(b"chunked"));
        let length = header(&request.headers, "content-length")
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
        let opened =
            match connect::open(shared, spec, &target, Some(&request.path), Mode::Forward).await {
                Ok(o) => o,
                Err(e) => return fail(&mut client, &e).await,
            };
        let (mut upstream, proxy, leftover, to_proxy, login) = match opened {
            Opened::Proxy {
                dialed,
                proxy,
                login,
            } => (
                dialed.stream,
                Some((proxy, dialed.latency)),
                dialed.leftover,
                dialed.forwarding,
                login,
            ),
            Opened::Direct(s) => (UpstreamStream::Tcp(s), None, Vec::new(), false, None),
        };
        let head = forward_head(
            &request.method,
            &target,
            &tail,
            &request.headers,
            to_proxy,
            login.as_ref(),
        );
        drop(login);
        let mut up = head.len() as u64;
        if upstream.write_all(&head).await.is_err() {
            connect::finished(shared, proxy, &target, 0, 0);
            return respond(
                &mut client,
                502,
                "Bad Gateway",
                "vip: the upstream closed the connection before taking the request",
                "",
            )
            .await;
        }
        let carry = std::mem::take(&mut request.rest);
        let body = if chunked {
            copy_chunked(carry, &mut client, &mut upstream).await
        } else {
            let n = length.unwrap_or(0);
            copy_exact(carry, &mut client, &mut upstream, n)
                .await
                .map(|c| (n, c))
        };
        // An upstream that stopped taking the body may have answered already:
        // pass its answer on, then close (the rest of the body is unread).
        let (carry, whole_body) = match body {
            Ok((n, c)) => {
                up += n;
                (c, true)
            }
            Err(BodyError::Upstream) => (Vec::new(), false),
            Err(BodyError::Client) => {
                connect::finished(shared, proxy, &target, up, 0);
                return;
            }
            Err(BodyError::Malformed(why)) => {
                connect::finished(shared, proxy, &target, up, 0);
                let text = format!("vip: the chunked request body is malformed: {why}");
                return respond(&mut client, 400, "Bad Request", &text, "").await;
            }
        };
        let keep_alive = request.keep_alive && whole_body;
        let head_only = request.method.eq_ignore_ascii_case("HEAD");
        let reply = match response(&mut upstream, leftover, head_only, keep_alive).await {
            Ok(r) => r,
            Err(e) => {
                connect::finished(shared, proxy, &target, up, 0);
                return respond(
                    &mut client,
                    502,
                    "Bad Gateway",
                    &format!("vip: the upstream's response was unusable: {e}"),
                    "",
                )
                .await;
            }
        };
        let mut down = (reply.head.len() + reply.body_start.len()) as u64;
        let mut ok = client.write_all(&reply.head).await.is_ok()
            && client.write_all(&reply.body_start).await.is_ok();
        if ok {
            let rest = async {
                match reply.body_len {
                    Some(n) => {
                        let remaining = n.saturating_sub(reply.body_start.len() as u64);
                        tokio::io::copy(&mut (&mut upstream).take(remaining), &mut client).await
                    }
                    None => tokio::io::copy(&mut upstream, &mut client).await,
                }
            };
            tokio::select! {
                r = rest => match r {
                    Ok(n) => down += n,
                    Err(_) => ok = false,
                },
                _ = abort.cancelled() => ok = false,
            }
        }
        connect::finished(shared, proxy, &target, up, down);
        if !(ok && reply.keep && keep_alive) {
            let _ = client.shutdown().await;
            return;
        }
        request = match Box::pin(read_request(&mut client, carry, shared, spec)).await {
            ReadOutcome::Request(r) => r,
            ReadOutcome::Reply(status, reason, body, extra) => {
                return respond(&mut client, status, reason, &body, extra).await;
            }
            ReadOutcome::Closed => return,
        };
    }
}
