//! Draining the daemon. Each step gets what is left of one grace period,
//! so shutdown always completes, even when the store fails underneath it
//! (disk full, database locked or read-only, data directory removed): what
//! could not be written is counted in the [`ShutdownReport`] instead of
//! being waited for.
//!
//! Order: the services stop (API, health checks, autosave); named
//! identities' storage is saved and the browsers close; the gateway drains
//! its connections (every finished one reported to the usage writer); the
//! upkeep thread makes its last save; the usage writer commits what it
//! holds.

use std::time::{Duration, Instant};

use crate::start::DaemonHandle;

/// What shutting down did and did not manage.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Usage events the writer committed over the daemon's life.
    pub usage_written: u64,
    /// Tracker requests the gateway blocked.
    pub blocked: u64,
    /// Usage events dropped because the writer's queue was full.
    pub usage_dropped: u64,
    /// What could not be saved or did not finish in time, one line each.
    pub problems: Vec<String>,
    /// Tasks still running when the grace period ended.
    pub tasks_left: usize,
}

impl ShutdownReport {
    /// Whether everything was saved and every task ended.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.tasks_left == 0
    }

    /// The one-line summary `vip serve` prints when it stops.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} usage events written, {} tracker requests blocked",
            self.usage_written, self.blocked
        );
        if self.usage_dropped > 0 {
            s.push_str(&format!(
                ", {} usage events dropped (writer busy)",
                self.usage_dropped
            ));
        }
        s
    }
}

/// The time left of a grace period.
struct Deadline(Instant);

impl Deadline {
    fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Runs `step`, giving up when the grace period ends.
    async fn run<T>(
        &self,
        what: &str,
        problems: &mut Vec<String>,
        step: impl Future<Output = T>,
    ) -> Option<T> {
        match tokio::time::timeout(self.left(), step).await {
            Ok(v) => Some(v),
            Err(_) => {
                problems.push(format!("{what}: did not finish within the grace period"));
                None
            }
        }
    }
}

impl DaemonHandle {
    /// Stops everything within `grace` and reports what could not be saved.
    pub async fn shutdown(self, grace: Duration) -> ShutdownReport {
        let deadline = Deadline(Instant::now() + grace);
        let mut report = ShutdownReport::default();
        let mut problems = Vec::new();
        let problems = &mut problems;
        self.cancel.cancel();
        self.sink.events().close();
        // Up to half the grace period for identities, so the gateway and
        // the stores keep the rest.
        // Its own task: a store call inside it that blocks (a locked
        // database) must not stall this one.
        let browsing = self.browsing.clone();
        let closing = tokio::spawn(async move { browsing.shutdown().await });
        if tokio::time::timeout(grace / 2, closing).await.is_err() {
            problems.push(
                "named identities: storage not saved (the browser did not answer in time)".into(),
            );
        }
        for file in [vip_api::TOKEN_FILE, vip_api::ENDPOINT_FILE] {
            let _ = std::fs::remove_file(self.data_dir.join(file));
        }
        let drain = deadline.left().min(Duration::from_secs(5));
        self.gateway.shutdown(drain).await;
        self.upkeep_stop.cancel();
        match deadline
            .run("breakers and sticky mappings", problems, self.upkeep)
            .await
        {
            Some(Ok(unsaved)) => {
                if let Some(e) = unsaved.error {
                    problems.push(format!("breakers and sticky mappings not saved: {e}"));
                }
                if unsaved.events > 0 {
                    problems.push(format!("{} rotation events not saved", unsaved.events));
                }
            }
            Some(Err(e)) => problems.push(format!("the upkeep thread failed: {e}")),
            None => {}
        }
        report.usage_dropped = self.sink.dropped();
        report.blocked = self.blocklist.as_ref().map_or(0, |b| b.blocked());
        let sender = self.writer.sender();
        let before = self.writer.committed();
        // Everything the drained gateway reported is queued by now: a flush
        // answers after it is committed (or the writer has failed).
        let flushed = deadline
            .run(
                "usage statistics",
                problems,
                tokio::task::spawn_blocking(move || sender.flush()),
            )
            .await;
        match flushed {
            Some(Ok(Ok(total))) => report.usage_written = total,
            Some(Ok(Err(e @ vip_store::usage::FlushError::Failed { .. }))) => {
                report.usage_written = before;
                problems.push(format!("usage statistics: {e}"));
            }
            Some(_) => {
                report.usage_written = before;
                problems.push("usage statistics: the writer failed; recent usage not saved".into());
            }
            None => report.usage_written = before,
        }
        // Closing waits for every sender; tasks still holding one are past
        // the grace period, so the writer is closed in the background.
        let writer = self.writer;
        std::thread::spawn(move || {
            let _ = writer.close();
        });
        let summary = report.summary();
        let db = self.data_dir.join(vip_store::DATABASE_FILE);
        // Opening would make a new, empty database where the data
        // directory was removed.
        if db.exists() {
            let log = tokio::task::spawn_blocking(move || {
                vip_store::Store::open(&db).and_then(|s| {
                    s.log_activity("info", "serve", &format!("stopped: {summary}"), None)
                })
            });
            if let Some(Ok(Err(e))) = deadline.run("the activity log", problems, log).await {
                problems.push(format!("the activity log: {e}"));
            }
        } else {
            problems.push(format!(
                "the database {} was removed while vip serve ran: this run's usage ({} events), \
                 breakers, sticky mappings and rotation events are not kept",
                db.display(),
                report.usage_written
            ));
        }
        report.problems = std::mem::take(problems);
        self.tracker.close();
        if tokio::time::timeout(deadline.left(), self.tracker.wait())
            .await
            .is_err()
        {
            report.tasks_left = self.tracker.len();
        }
        report
    }
}
