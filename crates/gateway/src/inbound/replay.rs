//! Plain HTTP that may go to another proxy: a request whose body is held
//! (none, or a `Content-Length` body up to the replay buffer) is one
//! attempt per candidate — dial, send the request, read the answer's head —
//! so a failure before the answer (refused, reset, closed, a hang past the
//! budget, a malformed answer) or an answer that is the proxy's own (a 407,
//! a proxy's error page) moves on to the next candidate. A request that may
//! have reached the origin is sent again only when its method is idempotent
//! (RFC 9110 §9.2.2), and only then is it hedged; any other request goes
//! again only if no byte of it was written.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::answer::{Response, response};
use crate::attempts::{Failure, Policy, Try, Window, race};
use crate::connect::OpenError;
use crate::error::DialError;
use crate::gateway::Shared;
use crate::keepalive::Key;
use crate::sink::AttemptEvent;
use crate::stall::Stall;
use crate::target::Target;
use crate::upstream::{self, Mode, UpstreamStream, forward_head, io_fault};

/// Methods that may be sent twice (RFC 9110 §9.2.2).
pub(super) fn idempotent(method: &str) -> bool {
    ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

/// One request, held whole so it can be sent more than once.
pub(super) struct Held {
    pub method: String,
    pub target: Target,
    pub tail: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub head_only: bool,
    pub keep_alive: bool,
    pub upgrade: bool,
}

/// What the winning attempt hands back: the upstream, the answer's head,
/// the bytes written upstream.
pub(super) struct Answered {
    pub upstream: Stall<UpstreamStream>,
    pub reply: Response,
    pub up: u64,
    /// The upstream talks to an HTTP proxy in forward mode.
    pub forwarding: bool,
}

/// Reads a `Content-Length` body of `n` bytes (at most the replay buffer)
/// from the client: `carry` first. Returns the body and what follows it.
pub(super) async fn hold_body(
    client: &mut TcpStream,
    mut carry: Vec<u8>,
    n: usize,
    idle: Duration,
) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut from = Stall::new(client, idle);
    while carry.len() < n {
        carry.reserve(n - carry.len());
        if from.read_buf(&mut carry).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    let rest = carry.split_off(n);
    Ok((carry, rest))
}

/// Sends `held` through the candidates until one answers as the origin.
/// `reuse`: the tab whose idle connections may carry it (`None`: dial
/// every attempt).
pub(super) async fn send(
    shared: &Arc<Shared>,
    candidates: Vec<vip_engine::ProxyId>,
    pool: &vip_engine::PoolSnapshot,
    budget: Duration,
    held: Arc<Held>,
    reuse: Option<Option<vip_engine::TabId>>,
) -> Result<(Answered, vip_engine::ProxyId, Duration), OpenError> {
    let again = idempotent(&held.method);
    let policy = Policy {
        hedge: again,
        replay_sent: again,
        kind: Window::Answer,
        budget,
    };
    // A pooled connection may have been closed just as the request goes
    // out: only a request that may be sent twice takes one.
    let reuse = reuse.filter(|_| again && !held.upgrade && shared.idle.enabled());
    let won = race(shared, candidates, pool, &held.target.host, policy, |t| {
        let key = reuse.map(|tab| Key {
            tab,
            proxy: t.proxy.id,
            origin: held.target.to_string(),
        });
        attempt(t, held.clone(), shared.clone(), key)
    })
    .await?;
    Ok((won.value, won.proxy, won.latency))
}

/// How an exchange on one connection failed: `fresh` when nothing came
/// back (on a reused connection: the keep-alive race).
struct Broke {
    failure: Failure,
    fresh: bool,
}

/// Sends the request on `upstream` and reads the answer's head.
async fn exchange(
    upstream: &mut Stall<UpstreamStream>,
    leftover: Vec<u8>,
    head: &[u8],
    held: &Held,
    name: &str,
    budget_end: std::time::Instant,
) -> Result<Response, Broke> {
    let sent = |error: DialError, fresh: bool| Broke {
        failure: Failure {
            error,
            sent: true,
            last: false,
        },
        fresh,
    };
    let work = async {
        upstream
            .write_all(head)
            .await
            .map_err(|e| sent(io_fault(name, e), true))?;
        upstream
            .write_all(&held.body)
            .await
            .map_err(|e| sent(io_fault(name, e), true))?;
        response(
            &mut *upstream,
            leftover,
            held.head_only,
            held.keep_alive,
            held.upgrade,
        )
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::TimedOut => sent(
                DialError::Timeout {
                    proxy: name.to_string(),
                    stage: "answer",
                },
                false,
            ),
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe => sent(
                DialError::Reset {
                    proxy: name.to_string(),
                },
                true,
            ),
            _ => sent(
                DialError::Protocol {
                    proxy: name.to_string(),
                    detail: format!("its answer is unusable: {e}"),
                },
                false,
            ),
        })
    };
    match tokio::time::timeout_at(budget_end.into(), work).await {
        Ok(r) => r,
        Err(_) => Err(sent(
            DialError::Timeout {
                proxy: name.to_string(),
                stage: "answer",
            },
            false,
        )),
    }
}

async fn attempt(
    t: Try,
    held: Arc<Held>,
    shared: Arc<Shared>,
    reuse: Option<Key>,
) -> Result<(Answered, Duration), Failure> {
    let name = upstream::addr(&t.proxy);
    let idle = shared.settings.idle_timeout;
    let keep = shared.idle.enabled();
    // An idle connection first; one that turns out closed before anything
    // came back is the keep-alive race, not the proxy's fault: dial.
    if let Some(pooled) = reuse.as_ref().and_then(|k| shared.idle.take(k)) {
        let head = forward_head(
            &held.method,
            &held.target,
            &held.tail,
            &held.headers,
            pooled.forwarding,
            t.login.as_ref(),
            keep,
        );
        let mut upstream = Stall::new(pooled.stream, idle);
        match exchange(&mut upstream, Vec::new(), &head, &held, &name, t.budget_end).await {
            Ok(reply) => {
                return judge(upstream, reply, &head, &held, name, pooled.forwarding)
                    .map(|a| (a, pooled.latency));
            }
            Err(broke) if broke.fresh => {
                tracing::debug!(proxy = t.proxy.id.0, "idle connection was closed; dialling");
                crate::attempts::tally(&shared, t.proxy.id, AttemptEvent::StaleIdle);
            }
            Err(broke) => return Err(broke.failure),
        }
    }
    let timeouts = upstream::Timeouts {
        connect: shared.settings.connect_timeout.min(t.handshake),
        handshake: t.handshake,
    };
    let dial = upstream::dial(
        &t.proxy,
        t.login.as_ref(),
        &held.target,
        Mode::Forward,
        timeouts,
        &shared.settings.tls,
    );
    let dialed = match tokio::time::timeout(t.handshake, dial).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => {
            return Err(DialError::Timeout {
                proxy: name,
                stage: "handshake",
            }
            .into());
        }
    };
    let latency = dialed.latency;
    let forwarding = dialed.forwarding;
    let head = forward_head(
        &held.method,
        &held.target,
        &held.tail,
        &held.headers,
        forwarding,
        t.login.as_ref(),
        keep,
    );
    let mut upstream = Stall::new(dialed.stream, idle);
    let reply = exchange(
        &mut upstream,
        dialed.leftover,
        &head,
        &held,
        &name,
        t.budget_end,
    )
    .await
    .map_err(|b| b.failure)?;
    judge(upstream, reply, &head, &held, name, forwarding).map(|a| (a, latency))
}

/// What a proxy's own answer (`reply.proxy_page`) means: its credentials
/// were refused (401, 407), or it could not reach the origin.
pub(super) fn proxy_page_error(reply: &Response, name: String, target: &Target) -> DialError {
    if matches!(reply.status, 401 | 407) {
        DialError::Auth { proxy: name }
    } else {
        DialError::Origin {
            proxy: name,
            target: target.to_string(),
            detail: format!("it answered {} itself", reply.status),
        }
    }
}

/// Takes an answer as the origin's, or as the proxy's own (a failure).
fn judge(
    upstream: Stall<UpstreamStream>,
    reply: Response,
    head: &[u8],
    held: &Held,
    name: String,
    forwarding: bool,
) -> Result<Answered, Failure> {
    if forwarding && reply.proxy_page {
        return Err(Failure {
            error: proxy_page_error(&reply, name, &held.target),
            sent: true,
            last: false,
        });
    }
    Ok(Answered {
        upstream,
        reply,
        up: (head.len() + held.body.len()) as u64,
        forwarding,
    })
}
