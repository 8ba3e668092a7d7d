//! The attempt sequence of one client request: candidates are tried in the
//! engine's order under one time budget, each attempt with a deadline that
//! follows its proxy's measured latency; an attempt that has not finished
//! by the hedge delay gets a second one started beside it (at most two in
//! flight), the first to finish wins and the other is closed. Every attempt
//! beyond the first is a retry, and retries are held to a pool-wide budget
//! so that a failing pool is not hammered. Whether a failed attempt may be
//! followed by another is the request's replay policy.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use vip_engine::{Feedback, PoolSnapshot, Proxy, ProxyId};

use crate::connect::{OpenError, observe};
use crate::error::DialError;
use crate::gateway::Shared;
use crate::sink::{AttemptEvent, ConnectionRecord};
use crate::upstream::Login;

/// An attempt's deadline never goes below this, whatever the proxy's
/// measured latency.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(300);
/// An attempt may take this many times its proxy's latency EWMA.
const LATENCY_FACTOR: u32 = 4;
/// The hedge delay never goes below this.
pub const MIN_HEDGE: Duration = Duration::from_millis(150);

/// How a request may be tried again.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Start a second attempt beside a slow one.
    pub hedge: bool,
    /// A request that may have reached the origin may be sent again
    /// (idempotent methods with a held body; tunnels send nothing first).
    pub replay_sent: bool,
    /// Which latency window the hedge delay comes from.
    pub kind: Window,
    /// The whole sequence's time budget.
    pub budget: Duration,
}

/// The two latency windows: tunnels (connect + handshake) and forwarded
/// plain HTTP (to the first byte of the answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// CONNECT, SOCKS and tunnelled plain HTTP.
    Handshake,
    /// Plain HTTP forwarded through an HTTP proxy.
    Answer,
}

/// Why one attempt failed, and whether the request may have reached the
/// origin.
#[derive(Debug)]
pub struct Failure {
    /// The failure, naming the proxy.
    pub error: DialError,
    /// Some of the request was written.
    pub sent: bool,
    /// No other proxy would do better (the origin's own answer).
    pub last: bool,
}

impl From<DialError> for Failure {
    fn from(error: DialError) -> Failure {
        let last = matches!(error, DialError::Origin { .. });
        Failure {
            error,
            sent: false,
            last,
        }
    }
}

/// What one attempt is given.
#[derive(Clone)]
pub struct Try {
    /// The proxy.
    pub proxy: Proxy,
    /// Its login.
    pub login: Option<Login>,
    /// For connect and handshake.
    pub handshake: Duration,
    /// The end of the request's budget.
    pub budget_end: Instant,
}

/// The winning attempt.
pub struct Won<T> {
    /// What the attempt made.
    pub value: T,
    /// Through which proxy.
    pub proxy: ProxyId,
    /// Its login.
    pub login: Option<Login>,
    /// Its connect + handshake latency.
    pub latency: Duration,
}

/// Attempts in flight: each ends with its proxy, its start and its result.
type Attempts<T> = JoinSet<(ProxyId, Instant, Result<(T, Duration), Failure>)>;

/// Recent latencies of one kind, for the hedge delay (its p95).
#[derive(Debug, Default)]
pub struct LatencyWindow {
    samples: VecDeque<u32>,
    p95: Option<Duration>,
    since: u32,
}

impl LatencyWindow {
    const SIZE: usize = 256;

    fn record(&mut self, d: Duration) {
        if self.samples.len() == Self::SIZE {
            self.samples.pop_front();
        }
        self.samples
            .push_back(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        self.since += 1;
        // Recomputed every few samples: the sort is cheap, not free.
        if self.p95.is_none() || self.since >= 16 {
            let mut v: Vec<u32> = self.samples.iter().copied().collect();
            v.sort_unstable();
            self.p95 = Some(Duration::from_micros(u64::from(
                v[(v.len() * 95 / 100).min(v.len() - 1)],
            )));
            self.since = 0;
        }
    }
}

/// The pool-wide retry budget: over the last ten seconds, retries may be
/// up to a share of the requests plus a small floor.
#[derive(Debug, Default)]
pub struct RetryBudget {
    /// (second, requests, retries) per ring slot.
    slots: [(u64, u32, u32); 10],
}

impl RetryBudget {
    /// Retries allowed per request over the window.
    const SHARE: f64 = 0.2;
    /// Retries always allowed over the window (ten a second, as Finagle's
    /// default budget has).
    const FLOOR: u32 = 100;

    fn slot(&mut self, now: u64) -> &mut (u64, u32, u32) {
        let slot = &mut self.slots[(now % 10) as usize];
        if slot.0 != now {
            *slot = (now, 0, 0);
        }
        slot
    }

    fn request(&mut self, now: u64) {
        self.slot(now).1 += 1;
    }

    fn try_retry(&mut self, now: u64) -> bool {
        let (mut requests, mut retries) = (0u32, 0u32);
        for &(second, q, r) in &self.slots {
            if now.saturating_sub(second) < 10 {
                requests += q;
                retries += r;
            }
        }
        let allowed = Self::FLOOR + (f64::from(requests) * Self::SHARE) as u32;
        if retries >= allowed {
            return false;
        }
        self.slot(now).2 += 1;
        true
    }
}

/// The gateway's shared attempt state.
#[derive(Debug, Default)]
pub struct AttemptState {
    handshakes: Mutex<LatencyWindow>,
    answers: Mutex<LatencyWindow>,
    budget: Mutex<RetryBudget>,
    started: std::sync::OnceLock<Instant>,
}

impl AttemptState {
    fn window(&self, kind: Window) -> &Mutex<LatencyWindow> {
        match kind {
            Window::Handshake => &self.handshakes,
            Window::Answer => &self.answers,
        }
    }

    fn second(&self) -> u64 {
        self.started.get_or_init(Instant::now).elapsed().as_secs()
    }

    /// Records how long a won attempt took.
    pub fn record(&self, kind: Window, d: Duration) {
        if let Ok(mut w) = self.window(kind).lock() {
            w.record(d);
        }
    }

    /// The hedge delay: the configured one, or the window's p95 (at least
    /// [`MIN_HEDGE`]).
    pub fn hedge_delay(&self, kind: Window, configured: Option<Duration>) -> Duration {
        configured.unwrap_or_else(|| {
            let p95 = self.window(kind).lock().ok().and_then(|w| w.p95);
            p95.unwrap_or(MIN_HEDGE).max(MIN_HEDGE)
        })
    }

    fn request(&self) {
        let now = self.second();
        if let Ok(mut b) = self.budget.lock() {
            b.request(now);
        }
    }

    fn try_retry(&self) -> bool {
        let now = self.second();
        self.budget
            .lock()
            .map(|mut b| b.try_retry(now))
            .unwrap_or(true)
    }
}

/// The deadline for one attempt through `proxy`: four times its latency
/// EWMA, at least [`MIN_ATTEMPT`], never past what is left of the budget
/// (nor past the configured handshake timeout).
fn attempt_deadline(shared: &Shared, proxy: ProxyId, left: Duration) -> Duration {
    let ewma = shared
        .engine()
        .engine
        .status(proxy)
        .and_then(|s| s.latency_ewma);
    let cap = left.min(shared.settings.connect_timeout + shared.settings.handshake_timeout);
    match ewma {
        Some(e) => (e * LATENCY_FACTOR).max(MIN_ATTEMPT).min(cap),
        None => cap,
    }
}

/// Runs the attempt sequence over `candidates`; `attempt` makes one
/// attempt's future (it must honour the deadlines it is given).
pub async fn race<T, F, Fut>(
    shared: &Arc<Shared>,
    candidates: Vec<ProxyId>,
    pool: &PoolSnapshot,
    target: &str,
    policy: Policy,
    attempt: F,
) -> Result<Won<T>, OpenError>
where
    T: Send + 'static,
    F: Fn(Try) -> Fut,
    Fut: Future<Output = Result<(T, Duration), Failure>> + Send + 'static,
{
    let state = &shared.attempts;
    state.request();
    let started = Instant::now();
    let budget = policy.budget;
    let budget_end = started + budget;
    let hedge_delay = state.hedge_delay(policy.kind, shared.settings.hedge_delay);
    let mut queue = candidates
        .into_iter()
        .filter_map(|id| pool.get(id).map(|p| (id, p.clone())))
        .peekable();
    let mut running: Attempts<T> = JoinSet::new();
    // (proxy, login) of attempts in flight, to report and hand back.
    let mut flying: Vec<(ProxyId, Option<Login>)> = Vec::new();
    let mut errors: Vec<DialError> = Vec::new();
    let mut stop = false;
    let mut denied = false;
    let mut hedge_at: Option<Instant> = None;
    let mut launched = 0usize;
    // The last failure, to count as a failover when another attempt follows.
    let mut last_failed: Option<(ProxyId, vip_engine::FailureKind)> = None;

    let launch = |running: &mut JoinSet<_>,
                  flying: &mut Vec<(ProxyId, Option<Login>)>,
                  queue: &mut dyn Iterator<Item = (ProxyId, Proxy)>|
     -> bool {
        let now = Instant::now();
        let left = budget_end.saturating_duration_since(now);
        if left.is_zero() {
            return false;
        }
        let Some((id, proxy)) = queue.next() else {
            return false;
        };
        let login = proxy.credential.and_then(|c| shared.credentials.login(c));
        observe(shared, Feedback::Attempt { proxy: id });
        let handshake = attempt_deadline(shared, id, left);
        let fut = attempt(Try {
            proxy,
            login: login.clone(),
            handshake,
            budget_end,
        });
        running.spawn(async move { (id, now, fut.await) });
        flying.push((id, login));
        true
    };

    if !launch(&mut running, &mut flying, &mut queue) {
        return Err(OpenError::Failed(errors));
    }
    launched += 1;
    if policy.hedge {
        hedge_at = Some(Instant::now() + hedge_delay);
    }
    loop {
        if running.is_empty() {
            if stop {
                break;
            }
            if queue.peek().is_some() && !state.try_retry() {
                if let Some((id, kind)) = last_failed {
                    tally(shared, id, AttemptEvent::RetryBudget(kind));
                }
                denied = true;
                break;
            }
            if !launch(&mut running, &mut flying, &mut queue) {
                break;
            }
            if let Some((id, kind)) = last_failed.take() {
                tally(shared, id, AttemptEvent::Failover(kind));
            }
            launched += 1;
            if policy.hedge {
                hedge_at = Some(Instant::now() + hedge_delay);
            }
            continue;
        }
        let hedge_now = hedge_at.filter(|_| running.len() == 1 && !stop);
        let hedge = async move {
            match hedge_now {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        // Biased, the budget first: an attempt whose own deadline is the
        // budget's end may finish in the same tick, and the request's budget
        // has then run out (counted as such, not as that attempt's failure).
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(budget_end.into()) => {
                running.abort_all();
                for (id, _) in flying.drain(..) {
                    let proxy = pool.get(id).map(crate::upstream::addr).unwrap_or_default();
                    let error = DialError::Timeout { proxy, stage: "the request's time budget" };
                    failed(shared, id, target, &error);
                    tally(shared, id, AttemptEvent::BudgetExpired);
                    errors.push(error);
                }
                return Err(OpenError::Budget { budget, errors });
            }
            done = running.join_next() => {
                let Some(Ok((id, began, result))) = done else { continue };
                let login = take(&mut flying, id);
                match result {
                    Ok((value, latency)) => {
                        observe(shared, Feedback::Connected { proxy: id, latency });
                        state.record(policy.kind, began.elapsed());
                        // A loser still in flight gets a short grace in the
                        // background (as long as the winner took, at least
                        // the attempt floor): one that finishes is closed at
                        // once, one that does not is closed and counted as
                        // timed out, so that a hanging proxy is found out
                        // (its breaker opens) and stops costing hedges.
                        if !running.is_empty() {
                            tally(shared, id, AttemptEvent::HedgeWon);
                            let mut losers = Vec::new();
                            for (loser, _) in &flying {
                                tally(shared, *loser, AttemptEvent::HedgeLost);
                                let name = pool.get(*loser).map(crate::upstream::addr).unwrap_or_default();
                                losers.push((*loser, name));
                            }
                            let grace = began.elapsed().max(MIN_ATTEMPT);
                            let (rest, shared, target) = (std::mem::take(&mut running), shared.clone(), target.to_string());
                            tokio::spawn(settle(rest, losers, shared, target, grace));
                        }
                        tracing::Span::current().record("proxy", id.0);
                        tracing::debug!(proxy = id.0, latency_ms = latency.as_millis() as u64, attempts = launched, "connected");
                        return Ok(Won { value, proxy: id, login, latency });
                    }
                    Err(failure) => {
                        failed(shared, id, target, &failure.error);
                        let kind = failure.error.kind();
                        let may_go_on = !failure.last && (policy.replay_sent || !failure.sent);
                        if !may_go_on {
                            stop = true;
                            if !failure.last {
                                tally(shared, id, AttemptEvent::ReplayRefused(kind));
                            }
                        }
                        errors.push(failure.error);
                        last_failed = Some((id, kind));
                        // The next attempt starts at once (beside one still
                        // in flight, if any); a hedge is re-armed from it.
                        hedge_at = None;
                        if !stop && !running.is_empty() {
                            // The request goes on with the one in flight.
                            tally(shared, id, AttemptEvent::Failover(kind));
                            last_failed = None;
                            if !state.try_retry() {
                                denied = true;
                            } else if launch(&mut running, &mut flying, &mut queue) {
                                launched += 1;
                            }
                        }
                    }
                }
            }
            _ = hedge => {
                hedge_at = None;
                if state.try_retry() {
                    if launch(&mut running, &mut flying, &mut queue) {
                        launched += 1;
                    }
                } else {
                    denied = true;
                }
            }
        }
    }
    if denied && !stop {
        return Err(OpenError::RetryBudget(errors));
    }
    Err(OpenError::Failed(errors))
}

/// Reports the outcomes of attempts that lost the race (`losers`: their
/// proxies and names); what they opened is dropped (closed) as they
/// finish, and those still running after `grace` are closed and reported
/// as timed out.
async fn settle<T: Send + 'static>(
    mut rest: Attempts<T>,
    mut losers: Vec<(ProxyId, String)>,
    shared: Arc<Shared>,
    target: String,
    grace: Duration,
) {
    let until = tokio::time::Instant::now() + grace;
    loop {
        tokio::select! {
            done = rest.join_next() => {
                let Some(done) = done else { return };
                let Ok((id, _, result)) = done else { continue };
                losers.retain(|(p, _)| *p != id);
                match result {
                    Ok((opened, latency)) => {
                        drop(opened);
                        observe(&shared, Feedback::Connected { proxy: id, latency });
                        observe(&shared, Feedback::Closed { proxy: id });
                    }
                    Err(failure) => failed(&shared, id, &target, &failure.error),
                }
            }
            _ = tokio::time::sleep_until(until) => {
                rest.abort_all();
                for (id, proxy) in losers {
                    let error = DialError::Timeout { proxy, stage: "a race another proxy won" };
                    failed(&shared, id, &target, &error);
                }
                return;
            }
        }
    }
}

fn take(flying: &mut Vec<(ProxyId, Option<Login>)>, id: ProxyId) -> Option<Login> {
    let i = flying.iter().position(|(p, _)| *p == id)?;
    flying.swap_remove(i).1
}

/// Counts an attempt event in the sink.
pub(crate) fn tally(shared: &Shared, proxy: ProxyId, event: AttemptEvent) {
    shared.sink.attempt(proxy, event, crate::now());
}

/// Reports a failed attempt to the engine and the sink.
fn failed(shared: &Shared, id: ProxyId, target: &str, e: &DialError) {
    let kind = e.kind();
    tracing::debug!(proxy = id.0, outcome = kind.as_str(), "attempt failed");
    observe(shared, Feedback::Failed { proxy: id, kind });
    shared.sink.connection(ConnectionRecord {
        proxy: Some(id),
        target: target.to_string(),
        ok: false,
        failure: Some(kind),
        connect_latency: None,
        bytes_up: 0,
        bytes_down: 0,
        finished_at: crate::now(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_budget_allows_a_share_of_requests_plus_a_floor() {
        let mut b = RetryBudget::default();
        for _ in 0..100 {
            b.request(5);
        }
        let allowed = (0..1000).filter(|_| b.try_retry(5)).count();
        assert_eq!(allowed, RetryBudget::FLOOR as usize + 20);
        assert!(!b.try_retry(5));
        // Ten seconds on, the window is empty again.
        assert!(b.try_retry(16));
    }

    #[test]
    fn the_hedge_delay_is_the_p95_and_never_below_the_floor() {
        let s = AttemptState::default();
        assert_eq!(s.hedge_delay(Window::Handshake, None), MIN_HEDGE);
        for ms in 1..=100u64 {
            s.record(Window::Handshake, Duration::from_millis(ms * 10));
        }
        let d = s.hedge_delay(Window::Handshake, None);
        assert!(
            d >= Duration::from_millis(900) && d <= Duration::from_millis(1000),
            "{d:?}"
        );
        assert_eq!(s.hedge_delay(Window::Answer, None), MIN_HEDGE);
        let fixed = Duration::from_millis(40);
        assert_eq!(s.hedge_delay(Window::Handshake, Some(fixed)), fixed);
    }
}
