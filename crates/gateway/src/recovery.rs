//! Recovery without waiting for clients: a proxy whose breaker is open (or
//! half-open with no probe out) is probed in the background every few
//! seconds, with jitter and bounded concurrency, so a restarted upstream
//! carries traffic again within seconds of coming back whether or not
//! clients are sending. With a check URL a probe is a health check through
//! the proxy (a proxy that completes its own handshake and answers, even
//! if the target is out of its reach, is alive); without one it is
//! [`crate::upstream::probe`], which asks nothing of the outside world. A passing probe half-opens the
//! breaker (the engine's rule for checks), a second closes it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use vip_engine::{BreakerState, Fault, Feedback, ProxyId};

use crate::connect::observe;
use crate::gateway::Shared;
use crate::health::{CheckSettings, check};

/// How open breakers are probed.
#[derive(Clone, Debug)]
pub struct RecoverySettings {
    /// Checked through the proxy (`None`: the health check's default).
    pub url: Option<String>,
    /// A proxy is probed about this often while open (±25 %).
    pub every: Duration,
    /// Each stage of a probe.
    pub timeout: Duration,
    /// Probes at once.
    pub concurrency: usize,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        RecoverySettings {
            url: None,
            every: Duration::from_secs(2),
            timeout: Duration::from_secs(3),
            concurrency: 16,
        }
    }
}

/// Probes until `stop`.
pub(crate) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let settings = shared.settings.recovery.clone();
    let check_settings = CheckSettings {
        url: settings.url.clone(),
        timeout: settings.timeout,
        concurrency: 1,
        tls: shared.settings.tls.clone(),
        geo: None,
    };
    let limit = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut next_probe: HashMap<ProxyId, Instant> = HashMap::new();
    let mut probing = tokio::task::JoinSet::new();
    let tick = (settings.every / 4).max(Duration::from_millis(100));
    let mut rng = rand::rngs::SmallRng::seed_from_u64(vip_model::now_ms() as u64);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(tick) => {}
        }
        while probing.try_join_next().is_some() {}
        // Idle keep-alive connections past their limit or closed by their
        // peer let go of their sockets.
        shared.idle.sweep();
        let waiting: Vec<ProxyId> = {
            let cell = shared.engine();
            cell.engine
                .breaker_states()
                .into_iter()
                .filter(|(_, state)| match state {
                    BreakerState::Open { .. } => true,
                    BreakerState::HalfOpen { in_flight, .. } => *in_flight == 0,
                    BreakerState::Closed { .. } => false,
                })
                .map(|(id, _)| id)
                .collect()
        };
        let now = Instant::now();
        next_probe.retain(|id, _| waiting.contains(id));
        for id in waiting {
            if next_probe.get(&id).is_some_and(|at| *at > now) {
                continue;
            }
            let jitter = rng.random_range(0.75..1.25);
            next_probe.insert(id, now + settings.every.mul_f64(jitter));
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                break;
            };
            let Some(proxy) = shared.engine().engine.pool().get(id).cloned() else {
                continue;
            };
            let (shared, check_settings) = (shared.clone(), check_settings.clone());
            probing.spawn(async move {
                let _permit = permit;
                let login = proxy.credential.and_then(|c| shared.credentials.login(c));
                let result = if check_settings.url.is_some() {
                    let report = check(&proxy, login.as_ref(), &check_settings).await;
                    match report.failure {
                        None => Ok(report.latency.unwrap_or_default()),
                        // It spoke its protocol and answered: alive.
                        Some(kind) if kind.fault() != Fault::Proxy => {
                            Ok(report.connect.unwrap_or_default())
                        }
                        Some(kind) => Err(kind),
                    }
                } else {
                    let t = check_settings.timeout;
                    crate::upstream::probe(&proxy, login.as_ref(), t, &check_settings.tls)
                        .await
                        .map_err(|e| e.kind())
                };
                tracing::debug!(proxy = id.0, ok = result.is_ok(), "recovery probe");
                observe(&shared, Feedback::Checked { proxy: id, result });
            });
        }
    }
    probing.abort_all();
}
