//! The upstream's answer on the plain-HTTP path: its final head is read
//! (interim heads dropped), hop-by-hop headers are removed, and the client
//! is told whether the connection stays open, which needs a known length.
//! A `101 Switching Protocols` is final and passed on only when the client
//! asked to upgrade; the exchange then becomes a two-way relay.

use tokio::io::AsyncReadExt;

pub(super) const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Whether the response head at the start of `head` is an interim `1xx`
/// other than `101 Switching Protocols` (which is final).
pub(super) fn interim(head: &[u8]) -> bool {
    head.starts_with(b"HTTP/1.")
        && head.get(9) == Some(&b'1')
        && head.get(9..12) != Some(&b"101"[..])
}

pub(super) struct Response {
    pub head: Vec<u8>,
    pub body_start: Vec<u8>,
    pub body_len: Option<u64>,
    pub keep: bool,
    /// The upstream switched protocols as the client asked: relay both ways.
    pub upgraded: bool,
    /// The status code.
    pub status: u16,
    /// The answer is a proxy's own, not the origin's: a 407, or an error
    /// page (4xx, 5xx) that names a proxy (`Proxy-Status`, `X-Squid-Error`,
    /// or a `Server` that is forward-proxy software: tinyproxy answers
    /// wrong credentials with its own 401). Only meaningful from an HTTP
    /// proxy the request was forwarded to.
    pub proxy_page: bool,
    /// The body is chunked (copied chunk by chunk to its last one).
    pub chunked: bool,
    /// The upstream keeps the connection after this answer (HTTP/1.1
    /// without `Connection: close`, or HTTP/1.0 with `keep-alive`) and its
    /// end can be found: it may carry another request.
    pub reusable: bool,
    /// How long the upstream says it keeps an idle connection
    /// (`Keep-Alive: timeout=N`, less a second for the trip).
    pub keep_for: Option<std::time::Duration>,
}

/// The `Keep-Alive: timeout=N` of an answer, less a second.
fn keep_alive_timeout(headers: &[httparse::Header<'_>]) -> Option<std::time::Duration> {
    let h = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("keep-alive"))?;
    let text = String::from_utf8_lossy(h.value).to_ascii_lowercase();
    let secs = text.split(',').find_map(|p| {
        p.trim()
            .strip_prefix("timeout=")?
            .trim()
            .parse::<u64>()
            .ok()
    })?;
    Some(std::time::Duration::from_secs(secs.saturating_sub(1)))
}

/// `Server` values of proxy software whose error pages name themselves.
const PROXY_SERVERS: &[&str] = &[
    "tinyproxy",
    "squid",
    "privoxy",
    "3proxy",
    "ccproxy",
    "polipo",
    "mitmproxy",
    "gost",
    "mihomo",
    "clash",
    "dante",
    "haproxy",
    "envoy",
    "apache traffic server",
    "varnish",
];

fn names_a_proxy(headers: &[httparse::Header<'_>]) -> bool {
    headers.iter().any(|h| {
        let name = h.name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(h.value).to_ascii_lowercase();
        name == "proxy-status"
            || name == "x-squid-error"
            || (name == "server" && PROXY_SERVERS.iter().any(|p| value.contains(p)))
    })
}

/// Reads and rewrites the final response head; interim `1xx` heads (other
/// than 101) are dropped: the gateway answers `Expect: 100-continue` itself.
pub(super) async fn response<U: tokio::io::AsyncRead + Unpin>(
    upstream: &mut U,
    mut buf: Vec<u8>,
    head_only: bool,
    client_keep: bool,
    upgrade_asked: bool,
) -> std::io::Result<Response> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if !interim(&buf) {
                break i + 4;
            }
            buf.drain(..i + 4);
            continue;
        }
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err(std::io::Error::other("response head too large"));
        }
        buf.reserve(4096);
        if upstream.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 96];
    let mut parsed = httparse::Response::new(&mut headers);
    if !matches!(parsed.parse(&buf[..end]), Ok(httparse::Status::Complete(_))) {
        return Err(std::io::Error::other("the response is not HTTP"));
    }
    let status = parsed.code.unwrap_or(502);
    let proxy_page = status == 407 || (status >= 400 && names_a_proxy(parsed.headers));
    let upgraded = status == 101;
    if upgraded && !upgrade_asked {
        return Err(std::io::Error::other(
            "it switched protocols (101) though the client asked for no upgrade",
        ));
    }
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
    let tokens: Vec<String> = parsed
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| {
            String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .split(',')
                .map(|t| t.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let persistent = if parsed.version == Some(0) {
        tokens.iter().any(|t| t == "keep-alive")
    } else {
        !tokens.iter().any(|t| t == "close")
    };
    let reusable = persistent && !upgraded && (no_body || chunked || length.is_some());
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
    head.extend_from_slice(if upgraded {
        b"Connection: Upgrade\r\n\r\n"
    } else if keep {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    Ok(Response {
        head,
        body_start: buf[end..].to_vec(),
        body_len,
        keep,
        upgraded,
        status,
        proxy_page,
        chunked: chunked && !no_body,
        reusable,
        keep_for: keep_alive_timeout(parsed.headers),
    })
}
