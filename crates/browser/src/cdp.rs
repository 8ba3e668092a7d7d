//! A small DevTools-protocol client: one WebSocket to the browser endpoint,
//! commands matched to replies by id, every event (of every flattened
//! session) handed to one channel in arrival order.
//!
//! We own the connection instead of using chromiumoxide's handler because
//! that handler resumes auto-attached frames and workers at once
//! (`Runtime.runIfWaitingForDebugger` as soon as they attach), before a
//! protection script could be installed; here the director decides when a
//! paused target may run. See ARCHITECTURE.md.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tungstenite::tokio::connect_async;
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::BrowserError;

/// How long one command may take before it is reported as hung.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// An event from the browser or one of its sessions.
#[derive(Clone, Debug)]
pub struct Event {
    /// `Domain.event`.
    pub method: String,
    /// The event's parameters.
    pub params: Value,
    /// The flattened session it came from (none: the browser session).
    pub session: Option<String>,
}

/// What Chromium answered to one command: its result, or the error
/// message it sent.
pub type Reply = Result<Value, Refused>;

/// A command Chromium refused, with its message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>;

/// A connection; cheap to clone.
#[derive(Clone)]
pub struct Cdp {
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
    next: Arc<AtomicU64>,
}

impl Cdp {
    /// Connects to `ws_url`; events go to the returned receiver, which ends
    /// when the browser goes away.
    pub async fn connect(
        ws_url: &str,
    ) -> Result<(Cdp, mpsc::UnboundedReceiver<Event>), BrowserError> {
        let (ws, _) = connect_async(ws_url)
            .await
            .map_err(|e| BrowserError::Cdp(format!("connecting to {ws_url}: {e}")))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        let (events_tx, events) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        tokio::spawn(async move {
            while let Some(text) = out_rx.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close(None).await;
        });
        let replies = pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(mut value) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if let Some(id) = value.get("id").and_then(Value::as_u64) {
                    let reply = match value.get_mut("error") {
                        Some(err) => Err(Refused(
                            err.get("message")
                                .and_then(Value::as_str)
                                .unwrap_or("unknown error")
                                .to_string(),
                        )),
                        None => Ok(value.get_mut("result").map(Value::take).unwrap_or_default()),
                    };
                    let waiter = replies.lock().ok().and_then(|mut p| p.remove(&id));
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(reply);
                    }
                } else if let Some(method) = value.get("method").and_then(Value::as_str) {
                    let event = Event {
                        method: method.to_string(),
                        session: value
                            .get("sessionId")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        params: value.get_mut("params").map(Value::take).unwrap_or_default(),
                    };
                    if events_tx.send(event).is_err() {
                        break;
                    }
                }
            }
            // The browser is gone: fail every waiting command.
            if let Ok(mut p) = replies.lock() {
                p.clear();
            }
        });
        Ok((
            Cdp {
                out,
                pending,
                next: Arc::new(AtomicU64::new(1)),
            },
            events,
        ))
    }

    /// Sends a command on the browser session.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.call_in(None, method, params).await
    }

    /// Sends a command on `session` (none: the browser session).
    pub async fn call_in(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, BrowserError> {
        let rx = self.send(session, method, params)?;
        match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(Refused(message)))) => Err(BrowserError::Command {
                method: method.to_string(),
                message,
            }),
            Ok(Err(_)) => Err(BrowserError::Gone),
            Err(_) => Err(BrowserError::Command {
                method: method.to_string(),
                message: format!("no reply within {COMMAND_TIMEOUT:?}"),
            }),
        }
    }

    /// Sends every command on `session` at once, in order (Chromium runs a
    /// session's commands in the order they arrive), then waits for all
    /// the replies: one round trip for the lot. Each reply is its own
    /// result.
    pub async fn call_all_in(
        &self,
        session: Option<&str>,
        commands: Vec<(&str, Value)>,
    ) -> Vec<Result<Value, BrowserError>> {
        let sent: Vec<_> = commands
            .into_iter()
            .map(|(method, params)| (method.to_string(), self.send(session, method, params)))
            .collect();
        let mut out = Vec::with_capacity(sent.len());
        for (method, rx) in sent {
            out.push(match rx {
                Err(e) => Err(e),
                Ok(rx) => match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
                    Ok(Ok(Ok(v))) => Ok(v),
                    Ok(Ok(Err(Refused(message)))) => Err(BrowserError::Command { method, message }),
                    Ok(Err(_)) => Err(BrowserError::Gone),
                    Err(_) => Err(BrowserError::Command {
                        method,
                        message: format!("no reply within {COMMAND_TIMEOUT:?}"),
                    }),
                },
            });
        }
        out
    }

    /// Sends a command without waiting for its reply (nothing is kept for
    /// it: the reply is dropped on arrival).
    pub fn fire(&self, session: Option<&str>, method: &str, params: Value) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let _ = self.out.send(message(id, session, method, params));
    }

    fn send(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<oneshot::Receiver<Reply>, BrowserError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| BrowserError::Gone)?
            .insert(id, tx);
        self.out
            .send(message(id, session, method, params))
            .map_err(|_| BrowserError::Gone)?;
        Ok(rx)
    }
}

/// One command as JSON text.
fn message(id: u64, session: Option<&str>, method: &str, params: Value) -> String {
    let mut message = json!({"id": id, "method": method, "params": params});
    if let Some(s) = session {
        message["sessionId"] = Value::String(s.to_string());
    }
    message.to_string()
}
