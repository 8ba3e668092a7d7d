//! `DaemonControl`: what the control API drives. Tabs, identities and
//! sessions go to the browser side; a reload goes to the upkeep thread and
//! is answered once the new pool and configs are in the engine.

use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use vip_api::{
    ApiError, CookieFile, CookieReport, CookieUpload, Identity, NewIdentity, NewProxyBody, OpenTab,
    ProxyChange, ProxyList, ProxyQuery, ProxyView, Reloaded, SessionInfo, Status, Tab,
};

use crate::browse::Browsing;
use crate::upkeep::UpkeepMsg;

/// How long a reload may take before the caller is told it did not finish
/// (the upkeep thread may be inside a slow write).
const RELOAD_WAIT: Duration = Duration::from_secs(30);

/// The daemon as the control API sees it.
pub(crate) struct DaemonControl {
    browsing: Arc<Browsing>,
    upkeep: Sender<UpkeepMsg>,
    checks: Arc<crate::jobs::Checks>,
}

impl DaemonControl {
    pub fn new(
        browsing: Arc<Browsing>,
        upkeep: Sender<UpkeepMsg>,
        checks: Arc<crate::jobs::Checks>,
    ) -> DaemonControl {
        DaemonControl {
            browsing,
            upkeep,
            checks,
        }
    }

    /// Asks the upkeep thread to reload and waits for its answer.
    pub async fn reload_now(&self) -> Result<Reloaded, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if self.upkeep.send(UpkeepMsg::Reload(reply)).is_err() {
            return Err(ApiError::unavailable("the daemon is stopping"));
        }
        match tokio::time::timeout(RELOAD_WAIT, answer).await {
            Ok(Ok(Ok(done))) => Ok(done),
            Ok(Ok(Err(e))) => Err(ApiError::unavailable(format!(
                "reloading the configuration: {e}"
            ))),
            Ok(Err(_)) => Err(ApiError::unavailable("the daemon is stopping")),
            Err(_) => Err(ApiError::unavailable(
                "the reload did not finish within 30 s; vip serve applies it when it does",
            )),
        }
    }
}

impl vip_api::Control for DaemonControl {
    async fn status(&self) -> Status {
        self.browsing.status().await
    }

    async fn open_tab(&self, req: OpenTab) -> Result<Tab, ApiError> {
        self.browsing.open_tab(req).await
    }

    async fn tabs(&self) -> Vec<Tab> {
        self.browsing.tabs().await
    }

    async fn close_tab(&self, id: i64) -> Result<(), ApiError> {
        self.browsing.close_tab(id).await
    }

    async fn save_session(&self, name: String) -> Result<SessionInfo, ApiError> {
        self.browsing.save_session(name).await
    }

    async fn load_session(&self, name: String) -> Result<Vec<Tab>, ApiError> {
        self.browsing.load_session(name).await
    }

    async fn sessions(&self) -> Result<Vec<SessionInfo>, ApiError> {
        self.browsing.sessions().await
    }

    async fn identities(&self) -> Result<Vec<Identity>, ApiError> {
        self.browsing.identities().await
    }

    async fn create_identity(&self, req: NewIdentity) -> Result<Identity, ApiError> {
        self.browsing.create_identity(req).await
    }

    async fn delete_identity(&self, name: String) -> Result<(), ApiError> {
        self.browsing.delete_identity(name).await
    }

    async fn cookies(&self, name: String, format: String) -> Result<CookieFile, ApiError> {
        self.browsing.export_cookies(name, format).await
    }

    async fn add_cookies(
        &self,
        name: String,
        upload: CookieUpload,
    ) -> Result<CookieReport, ApiError> {
        self.browsing.import_cookies(name, upload).await
    }

    async fn reload(&self) -> Result<Reloaded, ApiError> {
        self.reload_now().await
    }

    async fn metrics(&self) -> Result<String, ApiError> {
        self.browsing.metrics().await
    }

    async fn usage(
        &self,
        proxy: Option<i64>,
        q: vip_api::SeriesQuery,
    ) -> Result<vip_api::UsageSeries, ApiError> {
        self.browsing.usage(proxy, q).await
    }

    async fn rotation_events(
        &self,
        limit: u32,
    ) -> Result<Vec<vip_api::RotationEventView>, ApiError> {
        self.browsing.rotation_events(limit).await
    }

    async fn rotations(&self) -> Result<Vec<vip_api::RotationView>, ApiError> {
        self.browsing.rotations().await
    }

    async fn rotation(&self, key: String) -> Result<vip_api::RotationView, ApiError> {
        self.browsing.rotation(key).await
    }

    // Rotation changes are in use when answered: the engine reloads first.
    async fn create_rotation(
        &self,
        doc: serde_json::Value,
    ) -> Result<vip_api::RotationView, ApiError> {
        let made = self.browsing.create_rotation(doc).await?;
        self.reload_now().await?;
        Ok(made)
    }

    async fn replace_rotation(
        &self,
        key: String,
        doc: serde_json::Value,
    ) -> Result<vip_api::RotationView, ApiError> {
        let changed = self.browsing.replace_rotation(key, doc).await?;
        self.reload_now().await?;
        Ok(changed)
    }

    async fn delete_rotation(&self, key: String) -> Result<i64, ApiError> {
        let gone = self.browsing.delete_rotation(key).await?;
        self.reload_now().await?;
        Ok(gone)
    }

    async fn activate_rotation(&self, key: String) -> Result<vip_api::RotationView, ApiError> {
        let active = self.browsing.activate_rotation(key).await?;
        self.reload_now().await?;
        Ok(active)
    }

    async fn import_proxies(
        &self,
        body: vip_api::ImportBody,
    ) -> Result<vip_api::ImportResult, ApiError> {
        let report = self.browsing.import_proxies(body).await?;
        self.reload_now().await?;
        Ok(report)
    }

    async fn export_proxies(&self, q: vip_api::ExportQuery) -> Result<String, ApiError> {
        self.browsing.export_proxies(q).await
    }

    async fn bulk_proxies(
        &self,
        change: vip_api::BulkChange,
    ) -> Result<vip_api::BulkResult, ApiError> {
        let done = self.browsing.bulk_proxies(change).await?;
        self.reload_now().await?;
        Ok(done)
    }

    async fn check_proxy(&self, id: i64) -> Result<vip_api::CheckResult, ApiError> {
        self.checks.check_one(id).await
    }

    async fn start_check(&self, req: vip_api::CheckRequest) -> Result<vip_api::Job, ApiError> {
        self.checks.start(req)
    }

    async fn job(&self, id: i64) -> Result<vip_api::Job, ApiError> {
        self.checks.job(id)
    }

    async fn cancel_job(&self, id: i64) -> Result<vip_api::Job, ApiError> {
        self.checks.cancel(id)
    }

    async fn breaker(&self, id: i64) -> Result<vip_api::BreakerView, ApiError> {
        self.checks.breaker(id)
    }

    async fn reset_breaker(&self, id: i64) -> Result<vip_api::BreakerView, ApiError> {
        self.checks.reset_breaker(id)
    }

    async fn explain(
        &self,
        req: vip_api::ExplainRequest,
    ) -> Result<vip_api::Explanation, ApiError> {
        self.browsing.explain(req).await
    }

    async fn record(&self, entry: vip_api::Activity) {
        self.browsing.record(entry).await;
    }

    async fn proxies(&self, q: ProxyQuery) -> Result<ProxyList, ApiError> {
        self.browsing.proxies(q).await
    }

    async fn proxy(&self, id: i64) -> Result<ProxyView, ApiError> {
        self.browsing.proxy(id).await
    }

    // A change is in use when it is answered: the pool is reloaded first.
    async fn add_proxy(&self, body: NewProxyBody) -> Result<ProxyView, ApiError> {
        let added = self.browsing.add_proxy(body).await?;
        self.reload_now().await?;
        Ok(added)
    }

    async fn update_proxy(
        &self,
        id: i64,
        if_match: String,
        change: ProxyChange,
    ) -> Result<ProxyView, ApiError> {
        let changed = self.browsing.update_proxy(id, if_match, change).await?;
        self.reload_now().await?;
        Ok(changed)
    }

    async fn delete_proxy(&self, id: i64, if_match: Option<String>) -> Result<(), ApiError> {
        self.browsing.delete_proxy(id, if_match).await?;
        self.reload_now().await.map(|_| ())
    }
}
