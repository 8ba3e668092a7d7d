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
pub(super) async fn send(
    shared: &Arc<Shared>,
    candidates: Vec<vip_engine::ProxyId>,
    pool: &vip_engine::PoolSnapshot,
    held: Arc<Held>,
) -> Result<(Answered, vip_engine::ProxyId, Duration), OpenError> {
    let again = idempotent(&held.method);
    let policy = Policy {
        hedge: again,
        replay_sent: again,
        kind: Window::Answer,
    };
    let idle = shared.settings.idle_timeout;
    let tls = shared.settings.tls.clone();
    let connect = shared.settings.connect_timeout;
    let won = race(shared, candidates, pool, &held.target.host, policy, |t| {
        attempt(t, held.clone(), tls.clone(), connect, idle)
    })
    .await?;
    Ok((won.value, won.proxy, won.latency))
}

async fn attempt(
    t: Try,
    held: Arc<Held>,
    tls: upstream::Tls,
    connect: Duration,
    idle: Duration,
) -> Result<(Answered, Duration), Failure> {
    let name = format!("{}:{}", t.proxy.host, t.proxy.port);
    let timeouts = upstream::Timeouts {
        connect: connect.min(t.handshake),
        handshake: t.handshake,
    };
    let dial = upstream::dial(
        &t.proxy,
        t.login.as_ref(),
        &held.target,
        Mode::Forward,
        timeouts,
        &tls,
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
    );
    let sent = |error: DialError| Failure {
        error,
        sent: true,
        last: false,
    };
    let mut upstream = Stall::new(dialed.stream, idle);
    let exchange = async {
        upstream
            .write_all(&head)
            .await
            .map_err(|e| sent(io_fault(&name, e)))?;
        upstream
            .write_all(&held.body)
            .await
            .map_err(|e| sent(io_fault(&name, e)))?;
        response(
            &mut upstream,
            dialed.leftover,
            held.head_only,
            held.keep_alive,
            held.upgrade,
        )
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::TimedOut => sent(DialError::Timeout {
                proxy: name.clone(),
                stage: "answer",
            }),
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe => sent(DialError::Reset {
                proxy: name.clone(),
            }),
            _ => sent(DialError::Protocol {
                proxy: name.clone(),
                detail: format!("its answer is unusable: {e}"),
            }),
        })
    };
    let reply = match tokio::time::timeout_at(t.budget_end.into(), exchange).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(sent(DialError::Timeout {
                proxy: name,
                stage: "answer",
            }));
        }
    };
    if forwarding && reply.proxy_page {
        return Err(sent(if matches!(reply.status, 401 | 407) {
            DialError::Auth { proxy: name }
        } else {
            DialError::Origin {
                proxy: name,
                target: held.target.to_string(),
                detail: format!("it answered {} itself", reply.status),
            }
        }));
    }
    let up = (head.len() + held.body.len()) as u64;
    Ok((
        Answered {
            upstream,
            reply,
            up,
        },
        latency,
    ))
}
