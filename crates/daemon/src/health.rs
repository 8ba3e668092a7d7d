//! Periodic health checks: one round over the pool per `every`, staggered
//! evenly with jitter, at most `concurrency` checks at once. Each result
//! goes to the engine at once (a breaker transition it causes to the sink)
//! and to the upkeep thread for the store. A
//! wall-clock jump (suspend and resume) starts a fresh round. Ends when the
//! daemon's token is cancelled.

use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use vip_gateway::health::{ClockWatch, check};
use vip_gateway::{Credentials, EventSink, Gateway};

use crate::config::HealthConfig;
use crate::credentials::VaultCredentials;
use crate::sink::StoreSink;
use crate::upkeep::UpkeepMsg;

/// Runs rounds of checks until `cancel`.
pub(crate) async fn run(
    gateway: Arc<Gateway>,
    credentials: Arc<VaultCredentials>,
    sink: Arc<StoreSink>,
    config: HealthConfig,
    tx: Sender<UpkeepMsg>,
    cancel: CancellationToken,
) {
    let HealthConfig { settings, every } = config;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(vip_store::now_ms() as u64);
    let mut watch = ClockWatch::new(every + Duration::from_secs(30));
    let limit = Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1)));
    let mut running = tokio::task::JoinSet::new();
    let sleep = |d: Duration| {
        let cancel = cancel.clone();
        async move {
            tokio::select! {
                _ = cancel.cancelled() => false,
                _ = tokio::time::sleep(d) => true,
            }
        }
    };
    'rounds: loop {
        let pool = gateway.with_engine(|e| e.pool().clone());
        // Disabled proxies are checked too, so users can see when one recovers.
        let proxies: Vec<vip_engine::Proxy> = pool.proxies().to_vec();
        let step = every / (proxies.len().max(1) as u32);
        for proxy in proxies {
            if !sleep(step.mul_f64(rng.random_range(0.5..1.5))).await {
                break 'rounds;
            }
            while running.try_join_next().is_some() {}
            if watch.jumped() {
                let _ = tx.send(UpkeepMsg::ClockJump);
                break;
            }
            let (gateway, credentials, sink, settings, tx, limit) = (
                gateway.clone(),
                credentials.clone(),
                sink.clone(),
                settings.clone(),
                tx.clone(),
                limit.clone(),
            );
            let span = tracing::debug_span!("check", proxy = proxy.id.0);
            running.spawn(
                async move {
                    let Ok(_permit) = limit.acquire_owned().await else {
                        return;
                    };
                    let login = proxy.credential.and_then(|c| credentials.login(c));
                    let report = check(&proxy, login.as_ref(), &settings).await;
                    let result = if report.ok {
                        Ok(report.latency.unwrap_or_default())
                    } else {
                        Err(report.failure.unwrap_or(vip_engine::FailureKind::Local))
                    };
                    tracing::debug!(ok = report.ok, outcome = ?report.failure, "checked");
                    let transition = gateway.with_engine(|e| {
                        e.observe(
                            vip_gateway::now(),
                            vip_engine::Feedback::Checked {
                                proxy: proxy.id,
                                result,
                            },
                        )
                    });
                    if let Some(t) = transition {
                        sink.breaker(t);
                    }
                    let _ = tx.send(UpkeepMsg::Health(report));
                }
                .instrument(span),
            );
        }
        if step.is_zero() && !sleep(every.max(Duration::from_secs(1))).await {
            break;
        }
    }
    running.abort_all();
    while running.join_next().await.is_some() {}
}
