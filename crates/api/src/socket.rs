//! `GET /api/v1/events`: the events WebSocket over [`crate::events`].
//!
//! A socket starts with a `hello` (this run's first `seq`, the last one,
//! the topics), then a `lagged` notice when events after `since` are gone,
//! then the events after `since`, then live events and, once a second,
//! the latest `snapshot`. The client changes its topics with
//! `{"op": "subscribe" | "unsubscribe", "topics": [...]}` (answered with
//! `subscribed`, or an `error` naming the field). Every message is an
//! envelope `{seq, ts, type, data}`. The server pings every
//! [`HEARTBEAT`]; a client not heard from for [`PATIENCE`] (pongs count),
//! or one that does not take a message within it, is closed. Browsers
//! cannot send a bearer header on a WebSocket, so the token may come as the
//! subprotocol `vip.bearer.<token>` beside `vip.v1` (the one the server
//! selects; the token is never echoed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::Query;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::events::{Envelope, Events, Gap, Stored, Subscription, Topic, Topics, now_ms};
use crate::problem::ApiError;

/// The subprotocol the server selects.
pub const PROTOCOL: &str = "vip.v1";
/// The prefix of the subprotocol that carries the token.
pub const BEARER_PROTOCOL: &str = "vip.bearer.";
/// How often the server pings.
pub const HEARTBEAT: Duration = Duration::from_secs(20);
/// How long a client may be silent, or take to accept a message.
pub const PATIENCE: Duration = Duration::from_secs(60);
/// Largest message a client may send.
const CLIENT_MESSAGE: usize = 64 * 1024;

/// Where the socket starts and what it carries.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Replay the kept events after this `seq` first (`0`: all kept).
    #[param(minimum = 0)]
    pub since: Option<i64>,
    /// Comma-separated topics (default: all): snapshot,
    /// proxy-status-change, breaker-transition, rotation, health-check,
    /// tab-update, tab-blocked-request, job-progress, log.
    #[param(
        pattern = r"^(snapshot|proxy-status-change|breaker-transition|rotation|health-check|tab-update|tab-blocked-request|job-progress|log)(,(snapshot|proxy-status-change|breaker-transition|rotation|health-check|tab-update|tab-blocked-request|job-progress|log))*$"
    )]
    pub topics: Option<String>,
}

const TOPICS_HINT: &str = "topics: snapshot, proxy-status-change, breaker-transition, rotation, \
                           health-check, tab-update, tab-blocked-request, job-progress, log";

fn parse_topics<'a>(
    names: impl Iterator<Item = &'a str>,
    pointer: impl Fn(usize) -> String,
) -> Result<Vec<Topic>, ApiError> {
    names
        .enumerate()
        .map(|(i, name)| {
            Topic::parse(name.trim()).ok_or_else(|| {
                ApiError::invalid(format!("{name:?} is not a topic"))
                    .at(pointer(i))
                    .hint(TOPICS_HINT)
            })
        })
        .collect()
}

/// Live events: a WebSocket (`ws://127.0.0.1:8898/api/v1/events`).
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventQuery),
    responses(
        (status = 101, description = "switched to the WebSocket: messages are envelopes \
            {seq, ts, type, data}; send {\"op\": \"subscribe\"|\"unsubscribe\", \"topics\": [...]}"),
        (status = 426, description = "not a WebSocket handshake", body = crate::problem::Problem,
            content_type = "application/problem+json")))]
pub(crate) async fn events(
    Extension(hub): Extension<Arc<Events>>,
    query: Result<Query<EventQuery>, axum::extract::rejection::QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::malformed(format!("query: {}", e.body_text()))
            .at("/query")
            .hint("parameters: since (a seq), topics (comma-separated)")
    })?;
    let since = match q.since {
        Some(s) if s < 0 => {
            return Err(ApiError::invalid(format!("since {s} is negative"))
                .at("/query/since")
                .hint("pass the seq of the last event you received, or 0 for all that are kept"));
        }
        s => s.map(|s| s.unsigned_abs()),
    };
    let topics = match q.topics.as_deref() {
        None => Topics::all(),
        Some(list) => {
            let mut set = Topics::none();
            for t in parse_topics(list.split(','), |_| "/query/topics".into())? {
                set.add(t);
            }
            set
        }
    };
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(426, format!("this is a WebSocket: {}", e.body_text())).hint(
            "open ws://<the API's address>/api/v1/events with subprotocols vip.v1 and \
             vip.bearer.<token> (or an Authorization header)",
        )
    })?;
    let sub = hub.subscribe(since).map_err(|last| {
        ApiError::invalid(format!(
            "since {} is past the last event ({last})",
            since.unwrap_or_default()
        ))
        .at("/query/since")
        .hint("pass the seq of the last event you received, or 0 for all that are kept")
    })?;
    Ok(upgrade
        .protocols([PROTOCOL])
        .max_message_size(CLIENT_MESSAGE)
        .max_write_buffer_size(4 << 20)
        .on_upgrade(move |socket| run(socket, hub, sub, topics))
        .into_response())
}

/// A control message: the envelope with the last event's `seq`.
fn notice(seq: u64, kind: &str, data: Value) -> Message {
    Message::Text(
        Envelope {
            seq,
            ts: now_ms(),
            kind,
            data: &data,
        }
        .text(),
    )
}

fn lagged(seq: u64, gap: Gap) -> Message {
    notice(
        seq,
        "lagged",
        json!({
            "after": gap.after,
            "resume": gap.resume,
            "missed": gap.missed,
            "hint": "events after `after` up to `resume` are gone; the store keeps rotation \
                     events and usage statistics for the whole time",
        }),
    )
}

/// Sends one message, giving up on a client that does not take it.
async fn send(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(PATIENCE, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// A client's `subscribe`/`unsubscribe`: the reply to send.
fn command(text: &str, topics: &mut Topics, seq: u64) -> Message {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Command {
        op: String,
        topics: Vec<String>,
    }
    let refused = |e: ApiError| notice(seq, "error", json!(e.problem()));
    let cmd: Command = match serde_json::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            return refused(
                ApiError::malformed(format!("the message cannot be read: {e}"))
                    .hint("send {\"op\": \"subscribe\" or \"unsubscribe\", \"topics\": [names]}"),
            );
        }
    };
    let named = match parse_topics(cmd.topics.iter().map(String::as_str), |i| {
        format!("/topics/{i}")
    }) {
        Ok(t) => t,
        Err(e) => return refused(e),
    };
    match cmd.op.as_str() {
        "subscribe" => named.into_iter().for_each(|t| topics.add(t)),
        "unsubscribe" => named.into_iter().for_each(|t| topics.remove(t)),
        other => {
            return refused(
                ApiError::invalid(format!("op {other:?} is not one the socket knows"))
                    .at("/op")
                    .hint("use subscribe or unsubscribe"),
            );
        }
    }
    notice(seq, "subscribed", json!({ "topics": topics.names() }))
}

fn event(e: &Stored) -> Message {
    Message::Text(e.text.clone())
}

async fn run(mut socket: WebSocket, hub: Arc<Events>, sub: Subscription, mut topics: Topics) {
    let Subscription {
        backlog,
        gap,
        mut last,
        mut live,
    } = sub;
    let hello = json!({
        "first": hub.base() + 1,
        "last": last,
        "topics": topics.names(),
        "heartbeat_seconds": HEARTBEAT.as_secs(),
    });
    if !send(&mut socket, notice(last, "hello", hello)).await {
        return;
    }
    if let Some(gap) = gap
        && !send(&mut socket, lagged(last, gap)).await
    {
        return;
    }
    for e in backlog.iter().filter(|e| topics.has(e.topic)) {
        if !send(&mut socket, event(e)).await {
            return;
        }
    }
    let mut snapshots = hub.watch_snapshot();
    snapshots.mark_unchanged();
    let mut closing = hub.watch_closing();
    let stopping = *closing.borrow_and_update();
    let mut ping = tokio::time::interval(HEARTBEAT);
    ping.tick().await;
    let mut heard = Instant::now();
    let bye = loop {
        if stopping {
            break Some((1001, "vip is stopping"));
        }
        let message = tokio::select! {
            r = live.recv() => match r {
                Ok(e) if e.seq <= last => continue,
                Ok(e) => {
                    last = e.seq;
                    if !topics.has(e.topic) {
                        continue;
                    }
                    event(&e)
                }
                Err(RecvError::Lagged(n)) => lagged(last, Gap {
                    after: last,
                    resume: last + n + 1,
                    missed: Some(n),
                }),
                Err(RecvError::Closed) => break Some((1001, "vip is stopping")),
            },
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break Some((1001, "vip is stopping"));
                }
                let latest: Option<Utf8Bytes> = snapshots.borrow_and_update().clone();
                match latest {
                    Some(text) if topics.has(Topic::Snapshot) => Message::Text(text),
                    _ => continue,
                }
            }
            m = socket.recv() => {
                heard = Instant::now();
                match m {
                    Some(Ok(Message::Text(text))) => command(text.as_str(), &mut topics, last),
                    Some(Ok(Message::Binary(_))) => notice(last, "error", json!(
                        ApiError::malformed("binary messages are not taken")
                            .hint("send commands as JSON text").problem())),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(_)) => continue,
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > PATIENCE {
                    break Some((1001, "no pong within the heartbeat's patience"));
                }
                Message::Ping(Default::default())
            }
            _ = closing.changed() => break Some((1001, "vip is stopping")),
        };
        if !send(&mut socket, message).await {
            break None;
        }
    };
    if let Some((code, reason)) = bye {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = send(&mut socket, Message::Close(Some(frame))).await;
    }
}
