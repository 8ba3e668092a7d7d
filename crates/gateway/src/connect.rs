//! From a target to an open upstream connection: ask the engine (or use the
//! listener's pinned proxy), dial each candidate in order, report every
//! attempt to the engine and the sink, stop at the first success or at a
//! failure that is the origin's fault (another proxy would see the same).

use std::sync::Arc;

use tokio::net::TcpStream;
use vip_engine::{Feedback, ProxyId, Route, SelectError, SelectionRequest, StickyOutcome};

use crate::error::DialError;
use crate::gateway::{ListenerSpec, Shared};
use crate::sink::ConnectionRecord;
use crate::target::Target;
use crate::upstream::{self, Dialed, Login, Mode};
use vip_model::Assignment;

/// An open path to the target.
pub enum Opened {
    /// Through a proxy.
    Proxy {
        /// The connection.
        dialed: Dialed,
        /// The proxy.
        proxy: ProxyId,
        /// Its login, for forwarded plain HTTP.
        login: Option<Login>,
    },
    /// Directly (assignment or rule said so).
    Direct(TcpStream),
}

/// Why no path could be opened.
pub enum OpenError {
    /// A rule blocks the target.
    Blocked,
    /// The filter lists block the target as a tracker.
    Tracker,
    /// Nothing was eligible.
    NoProxy(SelectError),
    /// Every candidate failed (or the origin refused through one).
    Failed(Vec<DialError>),
    /// A direct connection failed.
    Direct(std::io::Error),
}

impl OpenError {
    /// A one-line explanation for the client.
    pub fn explain(&self) -> String {
        match self {
            OpenError::Blocked => "blocked by a rotation rule".into(),
            OpenError::Tracker => {
                "blocked as a tracker by the filter lists (EasyList/EasyPrivacy); allowlist the domain to permit it".into()
            }
            OpenError::NoProxy(e) => format!("no upstream proxy can be used: {e}"),
            OpenError::Failed(errors) => {
                let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
                format!("every upstream attempt failed: {}", parts.join("; "))
            }
            OpenError::Direct(e) => format!("direct connection failed: {e}"),
        }
    }

    /// Whether the last failure was the origin's.
    pub fn origin_fault(&self) -> bool {
        matches!(self, OpenError::Failed(e) if e.last().is_some_and(|e| matches!(e, DialError::Origin { .. })))
    }
}

async fn direct(shared: &Shared, target: &Target) -> Result<Opened, OpenError> {
    let connect = TcpStream::connect((target.host.as_str(), target.port));
    match tokio::time::timeout(shared.settings.connect_timeout, connect).await {
        Ok(Ok(s)) => Ok(Opened::Direct(s)),
        Ok(Err(e)) => Err(OpenError::Direct(e)),
        Err(_) => Err(OpenError::Direct(std::io::ErrorKind::TimedOut.into())),
    }
}

/// Opens a path to `target` for a listener.
pub async fn open(
    shared: &Arc<Shared>,
    spec: &ListenerSpec,
    target: &Target,
    url: Option<&str>,
    mode: Mode,
) -> Result<Opened, OpenError> {
    if let Some(list) = &shared.settings.blocklist {
        let verdict = match url {
            Some(u) => list.check_url(&target.host, u),
            None => list.check_host(&target.host),
        };
        if verdict == vip_privacy::Verdict::Block {
            return Err(OpenError::Tracker);
        }
    }
    let now = crate::now();
    let (candidates, pool) = {
        let mut cell = shared.engine();
        let cell = &mut *cell;
        let mut req = SelectionRequest::new(&target.host, now);
        req.url = url;
        req.tab = spec.tab;
        let selection = match &spec.assignment {
            Assignment::Direct => None,
            Assignment::Pinned(_) => None,
            Assignment::Rotation(config) => Some(cell.engine.select(*config, &req, &mut cell.rng)),
            Assignment::Active { group, country } => {
                req.preferred_country = *country;
                Some(
                    cell.engine
                        .select_active(group.as_deref(), &req, &mut cell.rng),
                )
            }
        };
        let candidates = match (selection, &spec.assignment) {
            (None, Assignment::Pinned(id)) => Some(vec![*id]),
            (None, _) => None,
            (Some(selection), _) => {
                let selection = selection.map_err(OpenError::NoProxy)?;
                if !selection.events.is_empty() {
                    shared.sink.rotation(selection.events.clone());
                }
                if matches!(
                    selection.reason.sticky,
                    Some(StickyOutcome::Miss | StickyOutcome::Remapped)
                ) {
                    shared.sink.sticky_changed(selection.rotation);
                }
                match selection.route {
                    Route::Direct => None,
                    Route::Block => return Err(OpenError::Blocked),
                    Route::Proxy { .. } => Some(selection.candidates()),
                }
            }
        };
        (candidates, cell.engine.pool().clone())
    };
    let Some(candidates) = candidates else {
        return direct(shared, target).await;
    };
    let mut errors = Vec::new();
    for id in candidates {
        let Some(proxy) = pool.get(id) else { continue };
        let login = proxy.credential.and_then(|c| shared.credentials.login(c));
        observe(shared, Feedback::Attempt { proxy: id });
        match upstream::dial(
            proxy,
            login.as_ref(),
            target,
            mode,
            shared.settings.timeouts(),
            &shared.settings.tls,
        )
        .await
        {
            Ok(dialed) => {
                tracing::Span::current().record("proxy", id.0);
                tracing::debug!(
                    proxy = id.0,
                    latency_ms = dialed.latency.as_millis() as u64,
                    "connected"
                );
                observe(
                    shared,
                    Feedback::Connected {
                        proxy: id,
                        latency: dialed.latency,
                    },
                );
                return Ok(Opened::Proxy {
                    dialed,
                    proxy: id,
                    login,
                });
            }
            Err(e) => {
                let kind = e.kind();
                tracing::debug!(proxy = id.0, outcome = kind.as_str(), "attempt failed");
                observe(shared, Feedback::Failed { proxy: id, kind });
                shared.sink.connection(ConnectionRecord {
                    proxy: Some(id),
                    target: target.host.clone(),
                    ok: false,
                    failure: Some(kind),
                    connect_latency: None,
                    bytes_up: 0,
                    bytes_down: 0,
                    finished_at: crate::now(),
                });
                let origin = matches!(e, DialError::Origin { .. });
                errors.push(e);
                if origin {
                    break;
                }
            }
        }
    }
    Err(OpenError::Failed(errors))
}

/// Feeds an outcome to the engine; a breaker transition it causes goes to
/// the sink (the daemon persists it).
fn observe(shared: &Shared, feedback: Feedback) {
    let transition = shared.engine().engine.observe(crate::now(), feedback);
    if let Some(t) = transition {
        shared.sink.breaker(t);
    }
}

/// Reports a finished connection to the engine and the sink.
pub fn finished(
    shared: &Shared,
    opened_proxy: Option<(ProxyId, std::time::Duration)>,
    target: &Target,
    up: u64,
    down: u64,
) {
    if let Some((id, _)) = opened_proxy {
        observe(shared, Feedback::Closed { proxy: id });
    }
    tracing::debug!(up, down, outcome = "ok", "closed");
    shared.sink.connection(ConnectionRecord {
        proxy: opened_proxy.map(|(id, _)| id),
        target: target.host.clone(),
        ok: true,
        failure: None,
        connect_latency: opened_proxy.map(|(_, l)| l),
        bytes_up: up,
        bytes_down: down,
        finished_at: crate::now(),
    });
}
