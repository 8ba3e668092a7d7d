//! Request bodies on the plain-HTTP path: framed by Content-Length or chunked
//! encoding (copied chunk by chunk, trailers included), sent upstream while
//! the upstream is watched. An upstream may answer before it has the whole
//! body. An error answer, or one that closes the connection (an origin
//! refusing an upload, say, which then stops reading), is taken as soon as
//! its head is complete, so the client gets it at once instead of both
//! sides waiting on each other; the client's unsent rest is then read and
//! dropped before closing ([`linger`]), since closing on unread bytes
//! resets the connection and may destroy the answer. Any other early answer
//! means the upstream still wants the body (RFC 9112 §9.5): the body goes
//! on while the answer is kept, up to [`EARLY_ANSWER_CAP`]. Interim `1xx`
//! heads that arrive meanwhile are left for the answer reader, which skips
//! them.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::answer::{MAX_RESPONSE_HEAD, interim};

/// How the request's body is framed.
#[derive(Clone, Copy)]
pub(super) enum Framing {
    Length(u64),
    Chunked,
}

/// How sending the body ended.
pub(super) enum Sent {
    /// The whole body went upstream: (bytes sent, client bytes read past it).
    Whole(u64, Vec<u8>),
    /// The upstream answered before taking all of it, or stopped taking it.
    Cut,
    /// The client went away or sent a malformed body.
    Failed(BodyError),
}

/// How much of an early answer (one that does not stop the body) is kept
/// while the body goes on; beyond it the body is cut so that an upstream
/// streaming a large answer is not held up by the gateway.
pub(super) const EARLY_ANSWER_CAP: usize = 256 * 1024;

/// What the upstream's answer so far (`buf`) means for the body still
/// being sent.
#[derive(Debug, PartialEq)]
enum Early {
    /// No final head yet (nothing, part of a head, or interim heads).
    Nothing,
    /// A final answer that is no error and keeps the connection: the
    /// upstream still reads the body.
    GoOn,
    /// An error answer, one that closes the connection, or one that can't
    /// be read: stop sending.
    Stop,
}

fn early(buf: &[u8]) -> Early {
    let mut at = 0;
    while let Some(end) = buf[at..].windows(4).position(|w| w == b"\r\n\r\n") {
        if !interim(&buf[at..]) {
            return judge(&buf[at..at + end + 4]);
        }
        at += end + 4;
    }
    if buf.len() > MAX_RESPONSE_HEAD {
        // More than any head may be (the answer reader refuses it).
        return Early::Stop;
    }
    Early::Nothing
}

/// Judges one complete final head.
fn judge(head: &[u8]) -> Early {
    let mut headers = [httparse::EMPTY_HEADER; 96];
    let mut parsed = httparse::Response::new(&mut headers);
    if !matches!(parsed.parse(head), Ok(httparse::Status::Complete(_))) {
        return Early::Stop;
    }
    let tokens: String = parsed
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",");
    let closes = if parsed.version == Some(0) {
        !tokens.contains("keep-alive")
    } else {
        tokens.split(',').any(|t| t.trim() == "close")
    };
    match parsed.code {
        Some(status) if status < 400 && !closes => Early::GoOn,
        _ => Early::Stop,
    }
}

/// Sends the body from `client` (after `carry`) to the upstream while
/// reading whatever the upstream says into `answer`.
pub(super) async fn send<C, U>(
    carry: Vec<u8>,
    client: &mut C,
    upstream: &mut U,
    framing: Framing,
    answer: &mut Vec<u8>,
) -> Sent
where
    C: AsyncRead + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    if early(answer) == Early::Stop {
        return Sent::Cut;
    }
    let (mut up_read, mut up_write) = tokio::io::split(upstream);
    let copy = async {
        match framing {
            Framing::Length(n) => copy_exact(carry, client, &mut up_write, n)
                .await
                .map(|c| (n, c)),
            Framing::Chunked => copy_chunked(carry, client, &mut up_write).await,
        }
    };
    tokio::pin!(copy);
    let mut upstream_open = true;
    loop {
        answer.reserve(4096);
        tokio::select! {
            // The body first: an answer that follows the whole body is the
            // normal case, not an early one.
            biased;
            done = &mut copy => {
                return match done {
                    Ok((n, rest)) => Sent::Whole(n, rest),
                    Err(BodyError::Upstream) => Sent::Cut,
                    Err(e) => Sent::Failed(e),
                };
            }
            got = up_read.read_buf(answer), if upstream_open => match got {
                Ok(n) if n > 0 => match early(answer) {
                    Early::Stop => return Sent::Cut,
                    Early::GoOn if answer.len() > EARLY_ANSWER_CAP => return Sent::Cut,
                    _ => {}
                },
                // The upstream finished sending (or failed): only the body
                // is left to watch; the answer reader sees what it said.
                _ => upstream_open = false,
            },
        }
    }
}

/// After an answer that cut the request body short: reads and drops what
/// the client still sends until it ends, pauses for 5 s, 30 s have passed
/// or the listener (`drain`) or gateway (`abort`) stops, so that closing
/// does not reset the connection under the answer (the client may not have
/// read it yet).
pub(super) async fn linger<C: AsyncRead + Unpin>(
    client: &mut C,
    abort: &CancellationToken,
    drain: &CancellationToken,
) {
    const PAUSE: Duration = Duration::from_secs(5);
    const AT_MOST: Duration = Duration::from_secs(30);
    let until = tokio::time::Instant::now() + AT_MOST;
    let mut sink = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            got = tokio::time::timeout(PAUSE, client.read(&mut sink)) => match got {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            },
            _ = tokio::time::sleep_until(until) => return,
            _ = abort.cancelled() => return,
            _ = drain.cancelled() => return,
        }
    }
}

/// Why copying a request body stopped: the client went away (nothing more
/// to do), or the upstream stopped taking it (its answer may already be
/// waiting, e.g. an origin that replies before reading the whole body).
pub(super) enum BodyError {
    Client,
    Malformed(&'static str),
    Upstream,
}

/// Copies exactly `n` bytes from `from` (after `carry`) to `to`; returns the
/// bytes of `carry` not used.
async fn copy_exact<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    carry: Vec<u8>,
    from: &mut R,
    to: &mut W,
    mut n: u64,
) -> Result<Vec<u8>, BodyError> {
    let used = carry.len().min(n as usize);
    to.write_all(&carry[..used])
        .await
        .map_err(|_| BodyError::Upstream)?;
    n -= used as u64;
    // Made only when `carry` does not hold it all (a chunk reader calls
    // this once per chunk).
    let mut buf = Vec::new();
    while n > 0 {
        if buf.is_empty() {
            buf = vec![0u8; 16 * 1024];
        }
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
async fn line<R: AsyncRead + Unpin>(buf: &mut Vec<u8>, from: &mut R) -> Result<Vec<u8>, BodyError> {
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
        buf.reserve(4096);
        let n = from.read_buf(buf).await.map_err(|_| BodyError::Client)?;
        if n == 0 {
            return Err(BodyError::Client);
        }
    }
}

/// Copies a chunked request body (chunks, last chunk, trailers) from `carry`
/// and `from` to `to`; returns (bytes copied, bytes of `carry` left over).
async fn copy_chunked<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    mut buf: Vec<u8>,
    from: &mut R,
    to: &mut W,
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

/// Copies the rest of an answer's body from the upstream to the client:
/// `body_len` bytes (less what came with the head, already passed on),
/// chunk by chunk to the last chunk (the head's leftover included), or to
/// the upstream's close. Returns the bytes copied and
/// whether the upstream is left exactly at the answer's end (nothing read
/// past it, not closed): only then may the connection carry another
/// request.
pub(super) async fn answer_body<U, C>(
    upstream: &mut U,
    client: &mut C,
    reply: &super::answer::Response,
) -> std::io::Result<(u64, bool)>
where
    U: AsyncRead + Unpin,
    C: AsyncWrite + Unpin,
{
    if reply.chunked {
        // The head's leftover goes through the chunk reader with the rest.
        return match copy_chunked(reply.body_start.clone(), upstream, client).await {
            Ok((n, rest)) => Ok((n, rest.is_empty())),
            Err(_) => Err(std::io::Error::other("the chunked answer broke off")),
        };
    }
    match reply.body_len {
        Some(n) => {
            let start = reply.body_start.len() as u64;
            let remaining = n.saturating_sub(start);
            let copied = tokio::io::copy(&mut upstream.take(remaining), client).await?;
            Ok((copied, start <= n && copied == remaining))
        }
        None => Ok((tokio::io::copy(upstream, client).await?, false)),
    }
}

#[cfg(test)]
mod tests;
