//! From a target to an open upstream connection: ask the engine (or use the
//! listener's pinned proxy) for candidates ([`plan`]), then run the attempt
//! sequence over them ([`crate::attempts::race`]: one time budget, adaptive
//! per-attempt deadlines, hedging, the retry budget), reporting every
//! attempt to the engine and the sink; it stops at the first success or at
//! a failure that is the origin's fault (another proxy would see the same).

use std::sync::Arc;

use tokio::net::TcpStream;
use vip_engine::{Feedback, ProxyId, Route, SelectError, SelectionRequest, StickyOutcome};

use crate::attempts::{Failure, Policy, Window, race};
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
    /// The request's time budget ran out.
    Budget {
        /// The budget.
        budget: std::time::Duration,
        /// What each attempt ended with.
        errors: Vec<DialError>,
    },
    /// The pool-wide retry budget allowed no further attempt.
    RetryBudget(Vec<DialError>),
    /// A direct connection failed.
    Direct(std::io::Error),
    /// Tab traffic to one of vip's own listeners (the control API,
    /// DevTools, the gateway itself) on this machine.
    Own {
        /// The port asked for.
        port: u16,
    },
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
            OpenError::Failed(errors) if errors.is_empty() => {
                "no upstream proxy was left to try".into()
            }
            OpenError::Failed(errors) => {
                format!("every upstream attempt failed: {}", list(errors))
            }
            OpenError::Budget { budget, errors } => format!(
                "no upstream answered within the request's time budget of {} ms: {}",
                budget.as_millis(),
                list(errors)
            ),
            OpenError::RetryBudget(errors) => format!(
                "the pool-wide retry budget is spent (too many retries in the last 10 s), so no other proxy was tried: {}",
                list(errors)
            ),
            OpenError::Direct(e) => format!("direct connection failed: {e}"),
            OpenError::Own { port } => format!(
                "port {port} on this machine is one of vip's own listeners (control API, \
                 DevTools or gateway), which pages in a tab may not reach"
            ),
        }
    }

    /// Whether no upstream answered in time: the budget ran out, or every
    /// attempt timed out.
    pub fn timed_out(&self) -> bool {
        match self {
            OpenError::Budget { .. } => true,
            OpenError::Failed(e) => {
                !e.is_empty() && e.iter().all(|e| matches!(e, DialError::Timeout { .. }))
            }
            _ => false,
        }
    }

    /// Whether the last failure was the origin's.
    pub fn origin_fault(&self) -> bool {
        matches!(self, OpenError::Failed(e) if e.last().is_some_and(|e| matches!(e, DialError::Origin { .. })))
    }
}

fn list(errors: &[DialError]) -> String {
    let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

/// Whether `host` names this machine (a loopback or unspecified address,
/// `localhost` or a name under it).
fn is_local(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => local_ip(ip),
        Err(_) => {
            let h = host.trim_end_matches('.').to_ascii_lowercase();
            h == "localhost" || h.ends_with(".localhost")
        }
    }
}

fn local_ip(ip: std::net::IpAddr) -> bool {
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6.to_canonical(),
        v4 => v4,
    };
    ip.is_loopback() || ip.is_unspecified()
}

/// Tab traffic to `target` would reach one of vip's own listeners.
fn own(shared: &Shared, target: &Target) -> bool {
    shared.is_own_port(target.port) && is_local(&target.host)
}

async fn direct(shared: &Shared, target: &Target, tab: bool) -> Result<Opened, OpenError> {
    // A tab's name is resolved here and the checked address dialled, so a
    // name that resolves to this machine cannot reach vip's listeners.
    let resolve = tokio::net::lookup_host((target.host.as_str(), target.port));
    let addrs: Vec<std::net::SocketAddr> =
        match tokio::time::timeout(shared.settings.connect_timeout, resolve).await {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => return Err(OpenError::Direct(e)),
            Err(_) => return Err(OpenError::Direct(std::io::ErrorKind::TimedOut.into())),
        };
    if tab && shared.is_own_port(target.port) && addrs.iter().any(|a| local_ip(a.ip())) {
        return Err(OpenError::Own { port: target.port });
    }
    let connect = TcpStream::connect(&addrs[..]);
    match tokio::time::timeout(shared.settings.connect_timeout, connect).await {
        Ok(Ok(s)) => Ok(Opened::Direct(s)),
        Ok(Err(e)) => Err(OpenError::Direct(e)),
        Err(_) => Err(OpenError::Direct(std::io::ErrorKind::TimedOut.into())),
    }
}

/// Where a request goes: directly, or through these candidates.
pub enum Planned {
    /// No proxy (assignment or rule); whether for a tab.
    Direct(bool),
    /// The candidates in order, the pool they are in, and the request's
    /// time budget (the listener's, else the gateway's).
    Proxies(
        Vec<ProxyId>,
        Arc<vip_engine::PoolSnapshot>,
        std::time::Duration,
    ),
}

/// The engine's answer for `assignment` (`None`: direct or pinned, no
/// selection); `dry` explains instead, learning nothing.
fn choose(
    cell: &mut crate::gateway::EngineCell,
    assignment: &Assignment,
    mut req: SelectionRequest<'_>,
    dry: bool,
) -> Option<Result<vip_engine::Selection, SelectError>> {
    let (engine, rng) = (&mut cell.engine, &mut cell.rng);
    Some(match assignment {
        Assignment::Direct | Assignment::Pinned(_) => return None,
        Assignment::Rotation(config) if dry => engine.explain(*config, &req, rng),
        Assignment::Rotation(config) => engine.select(*config, &req, rng),
        Assignment::Active { group, country } => {
            req.preferred_country = *country;
            if dry {
                engine.explain_active(group.as_deref(), &req, rng)
            } else {
                engine.select_active(group.as_deref(), &req, rng)
            }
        }
    })
}

/// Where a request would go, and why (`Gateway::explain`).
#[derive(Debug)]
pub enum Explained {
    /// A tab's request to one of vip's own listeners: refused.
    Own,
    /// The blocklist refuses it as a tracker.
    Tracker,
    /// The assignment says: no proxy.
    Direct,
    /// The assignment pins this proxy.
    Pinned(ProxyId),
    /// The engine's answer (a rule may say direct or block).
    Selected(vip_engine::Selection),
    /// Nothing is eligible: what the client would be told.
    Refused(SelectError),
}

/// [`plan`] as an explanation: the same checks in the same order, counting
/// nothing and learning nothing.
pub(crate) fn explain(
    shared: &Shared,
    spec: &ListenerSpec,
    target: &Target,
    url: Option<&str>,
) -> Explained {
    if spec.tab.is_some() && own(shared, target) {
        return Explained::Own;
    }
    if let Some(list) = &shared.settings.blocklist
        && list.verdict(&target.host, url) == vip_privacy::Verdict::Block
    {
        return Explained::Tracker;
    }
    let mut req = SelectionRequest::new(&target.host, crate::now());
    req.url = url;
    req.tab = spec.tab;
    let mut cell = shared.engine();
    match (
        choose(&mut cell, &spec.assignment, req, true),
        &spec.assignment,
    ) {
        (None, Assignment::Pinned(id)) => Explained::Pinned(*id),
        (None, _) => Explained::Direct,
        (Some(Ok(selection)), _) => Explained::Selected(selection),
        (Some(Err(e)), _) => Explained::Refused(e),
    }
}

/// Judges `target` by the blocklist and asks the engine for candidates.
pub fn plan(
    shared: &Arc<Shared>,
    spec: &ListenerSpec,
    target: &Target,
    url: Option<&str>,
) -> Result<Planned, OpenError> {
    if spec.tab.is_some() && own(shared, target) {
        return Err(OpenError::Own { port: target.port });
    }
    if let Some(list) = &shared.settings.blocklist {
        let verdict = match url {
            Some(u) => list.check_url(&target.host, u),
            None => list.check_host(&target.host),
        };
        if verdict == vip_privacy::Verdict::Block {
            shared.sink.blocked(spec.tab, &target.host, url);
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
        let selection = choose(cell, &spec.assignment, req, false);
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
    Ok(match candidates {
        Some(c) => Planned::Proxies(c, pool, spec.budget.unwrap_or(shared.settings.budget)),
        None => Planned::Direct(spec.tab.is_some()),
    })
}

/// Opens a path to `target` for a listener: a tunnel (or, in forward mode
/// through an HTTP proxy, a connection to the proxy).
pub async fn open(
    shared: &Arc<Shared>,
    spec: &ListenerSpec,
    target: &Target,
    url: Option<&str>,
    mode: Mode,
) -> Result<Opened, OpenError> {
    open_planned(shared, plan(shared, spec, target, url)?, target, mode).await
}

/// [`open`] for candidates already planned.
pub async fn open_planned(
    shared: &Arc<Shared>,
    planned: Planned,
    target: &Target,
    mode: Mode,
) -> Result<Opened, OpenError> {
    let (candidates, pool, budget) = match planned {
        Planned::Direct(tab) => return direct(shared, target, tab).await,
        Planned::Proxies(c, pool, budget) => (c, pool, budget),
    };
    // Nothing reaches the origin before a tunnel is up, so a tunnel may
    // always be tried again and hedged. Forward mode sends the request
    // right after: the caller's replay rules apply (this is for a request
    // whose body is not held, which is sent once).
    let policy = Policy {
        hedge: mode == Mode::Tunnel,
        replay_sent: mode == Mode::Tunnel,
        kind: Window::Handshake,
        budget,
    };
    let won = race(shared, candidates, &pool, &target.host, policy, |t| {
        let (target, tls) = (target.clone(), shared.settings.tls.clone());
        let timeouts = upstream::Timeouts {
            connect: shared.settings.connect_timeout.min(t.handshake),
            handshake: t.handshake,
        };
        async move {
            let dial = upstream::dial(&t.proxy, t.login.as_ref(), &target, mode, timeouts, &tls);
            let name = upstream::addr(&t.proxy);
            match tokio::time::timeout(t.handshake, dial).await {
                Ok(Ok(d)) => {
                    let latency = d.latency;
                    Ok((d, latency))
                }
                Ok(Err(e)) => Err(Failure::from(e)),
                Err(_) => Err(Failure::from(DialError::Timeout {
                    proxy: name,
                    stage: "handshake",
                })),
            }
        }
    })
    .await?;
    Ok(Opened::Proxy {
        dialed: won.value,
        proxy: won.proxy,
        login: won.login,
    })
}

/// Feeds an outcome to the engine; a breaker transition it causes goes to
/// the sink (the daemon persists it).
pub(crate) fn observe(shared: &Shared, feedback: Feedback) {
    let transition = shared.engine().engine.observe(crate::now(), feedback);
    if let Some(t) = transition {
        shared.sink.breaker(t);
    }
}

/// Reports a finished connection to the engine and the sink, and counts
/// its bytes in the traffic totals.
pub fn finished(
    shared: &Shared,
    opened_proxy: Option<(ProxyId, std::time::Duration)>,
    target: &Target,
    up: u64,
    down: u64,
) {
    shared.traffic.add(up, down);
    report(shared, opened_proxy, target, up, down);
}

/// [`finished`] for a connection that sent `before` (up, down) itself and
/// then `relayed`, which the relay counted as it went.
pub fn finished_relayed(
    shared: &Shared,
    opened_proxy: Option<(ProxyId, std::time::Duration)>,
    target: &Target,
    before: (u64, u64),
    relayed: (u64, u64),
) {
    shared.traffic.add(before.0, before.1);
    let (up, down) = (before.0 + relayed.0, before.1 + relayed.1);
    report(shared, opened_proxy, target, up, down);
}

fn report(
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
