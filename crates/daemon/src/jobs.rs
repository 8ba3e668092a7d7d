//! Health checks the API asks for: one proxy now, or many as a job whose
//! progress goes to the events socket (`job-progress`, and a
//! `health-check` per result). Each result is learned by the engine (a
//! breaker transition it causes goes to the sink: persisted and
//! published), stored with the status it shows (someone asked, so no
//! hysteresis), and a status change is published. Breakers can be looked
//! at and reset. Jobs stop with the daemon; finished ones are kept (the
//! last 100) for `GET /api/v1/jobs/{id}`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use vip_api::{ApiError, BreakerView, CheckRequest, CheckResult, Job, Topic};
use vip_engine::{BreakerPhase, BreakerState, Feedback, Proxy, ProxyId};
use vip_gateway::health::{CheckReport, CheckSettings, check, check_each};
use vip_gateway::{Credentials, EventSink, Gateway};

use crate::browse::Browsing;
use crate::credentials::VaultCredentials;
use crate::sink::StoreSink;

/// Finished jobs kept for lookups.
const KEPT: usize = 100;

/// What the check routes need.
pub(crate) struct Checks {
    pub gateway: Arc<Gateway>,
    pub browsing: Arc<Browsing>,
    pub credentials: Arc<VaultCredentials>,
    pub sink: Arc<StoreSink>,
    pub settings: CheckSettings,
    pub tracker: TaskTracker,
    pub cancel: CancellationToken,
    jobs: Mutex<BTreeMap<i64, (Job, CancellationToken)>>,
}

fn result(r: &CheckReport) -> CheckResult {
    CheckResult {
        id: r.proxy.0 as i64,
        ok: r.ok,
        connect_ms: r.connect.map(|d| d.as_secs_f64() * 1000.0),
        latency_ms: r.latency.filter(|_| r.ok).map(|d| d.as_secs_f64() * 1000.0),
        http_status: r.http_status,
        exit_ip: r.exit_ip.map(|i| i.to_string()),
        exit_country: r.exit_country.clone(),
        exit_timezone: r.exit_timezone.clone(),
        failure: r.failure.map(|f| f.as_str().to_string()),
        stage: r.stage.map(str::to_string),
        error: r.error.clone(),
    }
}

fn unknown(id: i64) -> ApiError {
    ApiError::not_found(format!("proxy {id} does not exist: see `vip proxy list`"))
}

impl Checks {
    pub fn new(
        gateway: Arc<Gateway>,
        browsing: Arc<Browsing>,
        credentials: Arc<VaultCredentials>,
        sink: Arc<StoreSink>,
        settings: CheckSettings,
        tracker: TaskTracker,
        cancel: CancellationToken,
    ) -> Checks {
        Checks {
            gateway,
            browsing,
            credentials,
            sink,
            settings,
            tracker,
            cancel,
            jobs: Mutex::default(),
        }
    }

    fn pooled(&self, id: i64) -> Option<Proxy> {
        let id = ProxyId(u64::try_from(id).ok()?);
        self.gateway.with_engine(|e| e.pool().get(id).cloned())
    }

    /// The engine, the store and the socket learn one result.
    async fn learn(&self, r: &CheckReport) -> Result<CheckResult, ApiError> {
        let outcome = if r.ok {
            Ok(r.latency.unwrap_or_default())
        } else {
            Err(r.failure.unwrap_or(vip_engine::FailureKind::Local))
        };
        let feedback = Feedback::Checked {
            proxy: r.proxy,
            result: outcome,
        };
        if let Some(t) = self
            .gateway
            .with_engine(|e| e.observe(vip_gateway::now(), feedback))
        {
            self.sink.breaker(t);
        }
        let before = self.browsing.record_check(r.clone()).await?;
        let out = result(r);
        let events = self.sink.events();
        events.publish(Topic::HealthCheck, json!(out));
        let now = if r.ok { "up" } else { "down" };
        if before != now {
            events.publish(
                Topic::ProxyStatusChange,
                json!({ "proxy": out.id, "status": now }),
            );
        }
        Ok(out)
    }

    pub async fn check_one(&self, id: i64) -> Result<CheckResult, ApiError> {
        let proxy = self.pooled(id).ok_or_else(|| unknown(id))?;
        let login = proxy.credential.and_then(|c| self.credentials.login(c));
        let report = check(&proxy, login.as_ref(), &self.settings).await;
        self.learn(&report).await
    }

    fn update(&self, id: i64, f: impl FnOnce(&mut Job)) -> Option<Job> {
        let mut jobs = self.jobs.lock().ok()?;
        let (job, _) = jobs.get_mut(&id)?;
        f(job);
        Some(job.clone())
    }

    pub fn start(self: &Arc<Self>, req: CheckRequest) -> Result<Job, ApiError> {
        let proxies: Vec<Proxy> = match (&req.ids, &req.group) {
            (Some(ids), _) => ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    self.pooled(*id)
                        .ok_or_else(|| unknown(*id).at(format!("/ids/{i}")))
                })
                .collect::<Result<_, _>>()?,
            (None, group) => self.gateway.with_engine(|e| {
                e.pool()
                    .proxies()
                    .iter()
                    .filter(|p| group.is_none() || p.group == *group)
                    .cloned()
                    .collect()
            }),
        };
        let cancel = self.cancel.child_token();
        let job = {
            let mut jobs = self.jobs.lock().map_err(|_| ApiError::internal("jobs"))?;
            let id = jobs.keys().next_back().map_or(1, |k| k + 1);
            let job = Job {
                id,
                kind: "proxy-check".into(),
                state: "running".into(),
                total: proxies.len() as u64,
                done: 0,
                ok: 0,
                failed: 0,
                started_at: vip_store::now_ms(),
                finished_at: None,
            };
            jobs.insert(id, (job.clone(), cancel.clone()));
            while jobs.len() > KEPT {
                let Some(old) = jobs
                    .iter()
                    .find(|(_, (j, _))| j.state != "running")
                    .map(|(k, _)| *k)
                else {
                    break;
                };
                jobs.remove(&old);
            }
            job
        };
        let (me, id) = (self.clone(), job.id);
        self.sink.events().publish(Topic::JobProgress, json!(job));
        self.tracker
            .spawn(async move { me.run(id, proxies, cancel).await });
        Ok(job)
    }

    async fn run(&self, id: i64, proxies: Vec<Proxy>, cancel: CancellationToken) {
        let batch = proxies
            .into_iter()
            .map(|p| {
                let login = p.credential.and_then(|c| self.credentials.login(c));
                (p, login)
            })
            .collect();
        let (mut rx, running) = check_each(batch, &self.settings);
        let cancelled = loop {
            let report = tokio::select! {
                _ = cancel.cancelled() => break true,
                next = rx.recv() => match next {
                    Some((_, r)) => r,
                    None => break false,
                },
            };
            let learned = self.learn(&report).await;
            let ok = learned.as_ref().is_ok_and(|r| r.ok);
            let job = self.update(id, |j| {
                j.done += 1;
                if ok {
                    j.ok += 1;
                } else {
                    j.failed += 1;
                }
            });
            if let Some(job) = job {
                let last = learned.ok();
                self.sink
                    .events()
                    .publish(Topic::JobProgress, json!({ "job": job, "result": last }));
            }
        };
        drop(running);
        let state = if cancelled { "cancelled" } else { "finished" };
        if let Some(job) = self.update(id, |j| {
            j.state = state.into();
            j.finished_at = Some(vip_store::now_ms());
        }) {
            self.sink
                .events()
                .publish(Topic::JobProgress, json!({ "job": job }));
        }
    }

    pub fn job(&self, id: i64) -> Result<Job, ApiError> {
        self.update(id, |_| {}).ok_or_else(|| {
            ApiError::not_found(format!(
                "job {id} is not known: jobs are kept until vip serve stops (the last {KEPT})"
            ))
        })
    }

    pub fn cancel(&self, id: i64) -> Result<Job, ApiError> {
        let token = self
            .jobs
            .lock()
            .ok()
            .and_then(|j| j.get(&id).map(|(_, t)| t.clone()));
        token
            .ok_or_else(|| self.job(id).err().unwrap_or_else(|| unknown(id)))?
            .cancel();
        self.job(id)
    }

    pub fn breaker(&self, id: i64) -> Result<BreakerView, ApiError> {
        let pid = ProxyId(u64::try_from(id).map_err(|_| unknown(id))?);
        let status = self
            .gateway
            .with_engine(|e| e.status(pid))
            .ok_or_else(|| unknown(id))?;
        Ok(BreakerView {
            id,
            phase: status.breaker.phase().as_str().to_string(),
            available: status.available,
            consecutive_failures: status.consecutive_failures,
            open_until: status.breaker.open_until().map(|t| t.as_millis()),
            successes: status.successes,
            failures: status.failures,
        })
    }

    pub fn reset_breaker(&self, id: i64) -> Result<BreakerView, ApiError> {
        let pid = ProxyId(u64::try_from(id).map_err(|_| unknown(id))?);
        let closed = BreakerState::default();
        // Read and reset under one lock, so no transition falls between.
        let from = self
            .gateway
            .with_engine(|e| {
                let from = e.status(pid)?.breaker.phase();
                e.restore_breaker(pid, closed, vip_gateway::now());
                Some(from)
            })
            .ok_or_else(|| unknown(id))?;
        if from != BreakerPhase::Closed {
            self.sink.breaker(vip_engine::BreakerTransition {
                proxy: pid,
                from,
                to: BreakerPhase::Closed,
                state: closed,
                at: vip_gateway::now(),
            });
        }
        self.breaker(id)
    }
}
