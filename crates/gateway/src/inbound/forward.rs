//! Plain HTTP through the gateway, with client keep-alive. Each request goes
//! out on an upstream connection of its own choosing (the engine picks a
//! proxy per request), taken from the idle pool when one to the same
//! origin through the same proxy is waiting ([`crate::keepalive`]) and put
//! back after an answer read to its end; its
//! body framed by Content-Length; the response head is rewritten so the
//! client may keep its connection when the response length is known; the
//! body is copied by Content-Length (none for HEAD, 1xx, 204, 304) or to the
//! upstream's close. Request bodies are sent by [`super::body`] (which also
//! catches an upstream answering early) and the answer is read by
//! [`super::answer`]; `Expect: 100-continue` is answered here. An unknown
//! response length, a body cut short or a client asking to close ends the
//! connection after that exchange; a draining gateway closes it between
//! requests. A request that asks to upgrade (a WebSocket handshake) and gets
//! `101 Switching Protocols` becomes a two-way relay, like a tunnel.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use std::time::Duration;

use vip_engine::ProxyId;

use super::answer::{Response, response};
use super::body::{self, BodyError, Framing, Sent};
use super::http::{Parsed, ReadOutcome, fail, read_request, respond};
use super::replay;
use crate::connect::{self, Opened};

use crate::gateway::{ListenerSpec, Shared};
use crate::keepalive::{Idle, Key};
use crate::stall::Stall;
use crate::target::Target;
use crate::upstream::{Mode, UpstreamStream, forward_head, upgrade_requested};

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

/// What one exchange with the upstream left: the answer's head read, the
/// body (if any) sent.
struct Exchanged {
    upstream: Stall<UpstreamStream>,
    proxy: Option<(ProxyId, Duration)>,
    reply: Response,
    up: u64,
    /// Client bytes past this request (the next request's start).
    carry: Vec<u8>,
    /// The request body was read whole (the connection may be kept).
    whole_body: bool,
    /// The upstream talks to an HTTP proxy in forward mode.
    forwarding: bool,
}

/// A request sent once: directly, or with a body that is not held (chunked,
/// or larger than the replay buffer). It may go to another proxy only when
/// the proxy provably never received it (the connection failed). `None`:
/// the client was answered (or is gone) and the connection ends.
#[allow(clippy::too_many_arguments)]
async fn once(
    client: &mut TcpStream,
    request: &mut Parsed,
    shared: &Arc<Shared>,
    planned: connect::Planned,
    target: &Target,
    tail: &str,
    expects: bool,
    head_only: bool,
    upgrade_asked: bool,
) -> Option<Exchanged> {
    let chunked = header(&request.headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().ends_with(b"chunked"));
    let length = header(&request.headers, "content-length")
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
    let opened = match connect::open_planned(shared, planned, target, Mode::Forward).await {
        Ok(o) => o,
        Err(e) => {
            fail(client, &e).await;
            return None;
        }
    };
    let (upstream, proxy, leftover, to_proxy, login) = match opened {
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
    let idle = shared.settings.idle_timeout;
    let mut upstream = Stall::new(upstream, idle);
    let head = forward_head(
        &request.method,
        target,
        tail,
        &request.headers,
        to_proxy,
        login.as_ref(),
        proxy.is_some() && shared.idle.enabled(),
    );
    drop(login);
    let mut up = head.len() as u64;
    if upstream.write_all(&head).await.is_err() {
        connect::finished(shared, proxy, target, 0, 0);
        respond(
            client,
            502,
            "Bad Gateway",
            "vip: the upstream closed the connection before taking the request",
            "",
        )
        .await;
        return None;
    }
    let carry = std::mem::take(&mut request.rest);
    let framing = if chunked {
        Some(Framing::Chunked)
    } else {
        length.filter(|&n| n > 0).map(Framing::Length)
    };
    let mut answer = leftover;
    let (carry, whole_body) = match framing {
        None => (carry, true),
        Some(framing) => {
            if expects
                && client
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                    .await
                    .is_err()
            {
                connect::finished(shared, proxy, target, up, 0);
                return None;
            }
            let mut from = Stall::new(&mut *client, idle);
            match body::send(carry, &mut from, &mut upstream, framing, &mut answer).await {
                Sent::Whole(n, rest) => {
                    up += n;
                    (rest, true)
                }
                // The upstream answered early or stopped taking the body:
                // pass its answer on, then close (the rest is unread).
                Sent::Cut => (Vec::new(), false),
                Sent::Failed(BodyError::Malformed(why)) => {
                    connect::finished(shared, proxy, target, up, 0);
                    let text = format!("vip: the chunked request body is malformed: {why}");
                    respond(client, 400, "Bad Request", &text, "").await;
                    return None;
                }
                Sent::Failed(_) => {
                    connect::finished(shared, proxy, target, up, 0);
                    return None;
                }
            }
        }
    };
    let keep_alive = request.keep_alive && whole_body;
    let upgrade = whole_body && upgrade_asked;
    let reply = match response(&mut upstream, answer, head_only, keep_alive, upgrade).await {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            connect::finished(shared, proxy, target, up, 0);
            let text = format!("vip: the upstream sent no answer ({e})");
            respond(client, 504, "Gateway Timeout", &text, "").await;
            return None;
        }
        Err(e) => {
            connect::finished(shared, proxy, target, up, 0);
            let text = format!("vip: the upstream's response was unusable: {e}");
            respond(client, 502, "Bad Gateway", &text, "").await;
            return None;
        }
    };
    // A proxy's own answer (a 407, its error page) is never passed on as
    // the origin's: the request went out once and cannot go again (its
    // body was not held), so the client learns which proxy refused it.
    if let Some((id, _)) = proxy.filter(|_| to_proxy && reply.proxy_page) {
        connect::finished(shared, proxy, target, up, 0);
        let name = shared
            .engine()
            .engine
            .pool()
            .get(id)
            .map(crate::upstream::addr)
            .unwrap_or_default();
        let error = replay::proxy_page_error(&reply, name.clone(), target);
        let kind = error.kind();
        crate::attempts::tally(shared, id, crate::sink::AttemptEvent::ReplayRefused(kind));
        let text = format!(
            "vip: proxy {name} answered {} itself; the request's body was streamed (chunked, or larger than the replay buffer), so it was not sent again through another proxy",
            reply.status
        );
        respond(client, 502, "Bad Gateway", &text, "").await;
        return None;
    }
    Some(Exchanged {
        upstream,
        proxy,
        reply,
        up,
        carry,
        whole_body,
        forwarding: to_proxy,
    })
}

/// Serves plain-HTTP requests on `client` until it closes or cannot be kept.
pub(super) async fn serve(
    mut client: TcpStream,
    first: Parsed,
    shared: &Arc<Shared>,
    spec: &ListenerSpec,
    abort: &CancellationToken,
    drain: &CancellationToken,
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
        let planned = match connect::plan(shared, spec, &target, Some(&request.path)) {
            Ok(p) => p,
            Err(e) => return fail(&mut client, &e).await,
        };
        let idle = shared.settings.idle_timeout;
        let head_only = request.method.eq_ignore_ascii_case("HEAD");
        // The gateway answers `Expect: 100-continue` itself (the header is
        // not passed on), so the client sends at once. An HTTP/1.0
        // client's expectation is ignored (RFC 9110 10.1.1).
        let expects = request.http11
            && header(&request.headers, "expect")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
        let upgrade_asked = upgrade_requested(&request.headers).is_some();
        let held_len = match length {
            Some(n) if !chunked && n <= shared.settings.replay_buffer as u64 => Some(n as usize),
            None if !chunked => Some(0),
            _ => None,
        };
        let exchanged = match (planned, held_len) {
            (connect::Planned::Proxies(candidates, pool, budget), Some(n)) => {
                // Held whole: may go to the next proxy (see `replay`).
                let mut carry = std::mem::take(&mut request.rest);
                if n > 0 {
                    if expects
                        && client
                            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                            .await
                            .is_err()
                    {
                        return;
                    }
                    match replay::hold_body(&mut client, carry, n, idle).await {
                        Ok((body, rest)) => {
                            carry = rest;
                            request.rest = body;
                        }
                        Err(_) => return,
                    }
                }
                let held = Arc::new(replay::Held {
                    method: request.method.clone(),
                    target: target.clone(),
                    tail: tail.clone(),
                    headers: std::mem::take(&mut request.headers),
                    body: std::mem::take(&mut request.rest),
                    head_only,
                    keep_alive: request.keep_alive,
                    upgrade: upgrade_asked,
                });
                match replay::send(shared, candidates, &pool, budget, held, Some(spec.tab)).await {
                    Ok((answered, proxy, latency)) => Exchanged {
                        upstream: answered.upstream,
                        proxy: Some((proxy, latency)),
                        reply: answered.reply,
                        up: answered.up,
                        carry,
                        whole_body: true,
                        forwarding: answered.forwarding,
                    },
                    Err(e) => return fail(&mut client, &e).await,
                }
            }
            (planned, _) => {
                match once(
                    &mut client,
                    &mut request,
                    shared,
                    planned,
                    &target,
                    &tail,
                    expects,
                    head_only,
                    upgrade_asked,
                )
                .await
                {
                    Some(x) => x,
                    None => return,
                }
            }
        };
        let Exchanged {
            mut upstream,
            proxy,
            reply,
            mut up,
            carry,
            whole_body,
            forwarding,
        } = exchanged;
        let keep_alive = request.keep_alive && whole_body;
        // What came with the head goes on at once, but no further than the
        // body's end; a chunked body's start is read by the chunk reader;
        // after a switch of protocols it is the new protocol's.
        let start = match (reply.upgraded, reply.chunked, reply.body_len) {
            (true, _, _) | (false, false, None) => &reply.body_start[..],
            (false, true, _) => &[][..],
            (false, false, Some(n)) => &reply.body_start[..reply.body_start.len().min(n as usize)],
        };
        let mut down = (reply.head.len() + start.len()) as u64;
        let mut ok =
            client.write_all(&reply.head).await.is_ok() && client.write_all(start).await.is_ok();
        if reply.upgraded {
            // A WebSocket (or other) protocol from here on: what the client
            // sent past the request goes first, then both ways until done.
            let mut upstream = upstream.into_inner();
            if ok && (carry.is_empty() || upstream.write_all(&carry).await.is_ok()) {
                up += carry.len() as u64;
                let relayed =
                    crate::relay::relay(client, upstream, abort, idle, &shared.traffic).await;
                return connect::finished_relayed(shared, proxy, &target, (up, down), relayed);
            }
            return connect::finished(shared, proxy, &target, up, down);
        }
        // Whether the upstream connection ended exactly at this answer's
        // end (it may then carry another request).
        let mut at_end = false;
        if ok {
            let mut to = Stall::new(&mut client, idle);
            let rest = super::body::answer_body(&mut upstream, &mut to, &reply);
            tokio::select! {
                r = rest => match r {
                    Ok((n, clean)) => {
                        down += n;
                        at_end = clean;
                    }
                    Err(_) => ok = false,
                },
                _ = abort.cancelled() => ok = false,
            }
        }
        connect::finished(shared, proxy, &target, up, down);
        if let Some((id, latency)) = proxy.filter(|_| ok && at_end && whole_body && reply.reusable)
        {
            let key = Key {
                tab: spec.tab,
                proxy: id,
                origin: target.to_string(),
            };
            let stream = upstream.into_inner();
            shared.idle.put(
                key,
                Idle {
                    stream,
                    latency,
                    forwarding,
                },
                reply.keep_for,
            );
        }
        if !(ok && reply.keep && keep_alive) {
            let _ = client.shutdown().await;
            if !whole_body {
                body::linger(&mut client, abort, drain).await;
            }
            return;
        }
        // Between requests a draining gateway closes the connection (clients
        // retry an idle keep-alive connection that closed); a request
        // already begun is served.
        let idle = carry.is_empty();
        let next = tokio::select! {
            r = Box::pin(read_request(&mut client, carry, shared, spec)) => r,
            _ = drain.cancelled(), if idle => return,
            _ = abort.cancelled() => return,
        };
        request = match next {
            ReadOutcome::Request(r) => r,
            ReadOutcome::Reply(status, reason, body, extra) => {
                return respond(&mut client, status, reason, &body, extra).await;
            }
            ReadOutcome::Closed => return,
        };
    }
}
