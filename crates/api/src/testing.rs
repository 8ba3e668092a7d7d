//! A [`Control`] for tests and benchmarks of the API's own layers (checks,
//! limits, the events socket) where no daemon is behind it: it counts
//! every call; status, tabs, saving a session and metrics answer, the rest
//! is refused with 503. Not part of the API's contract.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::problem::ApiError;
use crate::proxy_types::*;
use crate::server::Control;
use crate::types::*;

/// Counts its calls; answers the cheap reads, refuses the rest (503).
#[derive(Debug, Default)]
pub struct Refuser {
    calls: AtomicUsize,
}

impl Refuser {
    /// Calls so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }

    fn no<T>(&self) -> Result<T, ApiError> {
        self.count();
        Err(ApiError::unavailable("refused by the test control"))
    }
}

impl Control for Refuser {
    async fn status(&self) -> Status {
        self.count();
        Status {
            browser: "off".into(),
            tabs: 0,
            devtools: None,
        }
    }
    async fn open_tab(&self, _: OpenTab) -> Result<Tab, ApiError> {
        self.no()
    }
    async fn tabs(&self) -> Vec<Tab> {
        self.count();
        Vec::new()
    }
    async fn close_tab(&self, _: i64) -> Result<(), ApiError> {
        self.no()
    }
    async fn save_session(&self, name: String) -> Result<SessionInfo, ApiError> {
        self.count();
        Ok(SessionInfo {
            name,
            tabs: 0,
            saved_at: 0,
        })
    }
    async fn load_session(&self, _: String) -> Result<Vec<Tab>, ApiError> {
        self.no()
    }
    async fn sessions(&self) -> Result<Vec<SessionInfo>, ApiError> {
        self.no()
    }
    async fn identities(&self) -> Result<Vec<Identity>, ApiError> {
        self.no()
    }
    async fn create_identity(&self, _: NewIdentity) -> Result<Identity, ApiError> {
        self.no()
    }
    async fn delete_identity(&self, _: String) -> Result<(), ApiError> {
        self.no()
    }
    async fn cookies(&self, _: String, _: String) -> Result<CookieFile, ApiError> {
        self.no()
    }
    async fn add_cookies(&self, _: String, _: CookieUpload) -> Result<CookieReport, ApiError> {
        self.no()
    }
    async fn reload(&self) -> Result<Reloaded, ApiError> {
        self.no()
    }
    async fn proxies(&self, _: ProxyQuery) -> Result<ProxyList, ApiError> {
        self.no()
    }
    async fn proxy(&self, _: i64) -> Result<ProxyView, ApiError> {
        self.no()
    }
    async fn add_proxy(&self, _: NewProxyBody) -> Result<ProxyView, ApiError> {
        self.no()
    }
    async fn update_proxy(&self, _: i64, _: String, _: ProxyChange) -> Result<ProxyView, ApiError> {
        self.no()
    }
    async fn metrics(&self) -> Result<String, ApiError> {
        self.count();
        Ok(String::new())
    }
    async fn record(&self, _: Activity) {}
    async fn explain(&self, _: crate::ExplainRequest) -> Result<crate::Explanation, ApiError> {
        self.no()
    }
    async fn usage(
        &self,
        _: Option<i64>,
        _: crate::SeriesQuery,
    ) -> Result<crate::UsageSeries, ApiError> {
        self.no()
    }
    async fn rotation_events(&self, _: u32) -> Result<Vec<crate::RotationEventView>, ApiError> {
        self.no()
    }
    async fn rotations(&self) -> Result<Vec<crate::RotationView>, ApiError> {
        self.no()
    }
    async fn rotation(&self, _: String) -> Result<crate::RotationView, ApiError> {
        self.no()
    }
    async fn create_rotation(&self, _: serde_json::Value) -> Result<crate::RotationView, ApiError> {
        self.no()
    }
    async fn replace_rotation(
        &self,
        _: String,
        _: serde_json::Value,
    ) -> Result<crate::RotationView, ApiError> {
        self.no()
    }
    async fn delete_rotation(&self, _: String) -> Result<i64, ApiError> {
        self.no()
    }
    async fn activate_rotation(&self, _: String) -> Result<crate::RotationView, ApiError> {
        self.no()
    }
    async fn import_proxies(&self, _: crate::ImportBody) -> Result<crate::ImportResult, ApiError> {
        self.no()
    }
    async fn export_proxies(&self, _: crate::ExportQuery) -> Result<String, ApiError> {
        self.no()
    }
    async fn bulk_proxies(&self, _: crate::BulkChange) -> Result<crate::BulkResult, ApiError> {
        self.no()
    }
    async fn check_proxy(&self, _: i64) -> Result<crate::CheckResult, ApiError> {
        self.no()
    }
    async fn start_check(&self, _: crate::CheckRequest) -> Result<crate::Job, ApiError> {
        self.no()
    }
    async fn job(&self, _: i64) -> Result<crate::Job, ApiError> {
        self.no()
    }
    async fn cancel_job(&self, _: i64) -> Result<crate::Job, ApiError> {
        self.no()
    }
    async fn breaker(&self, _: i64) -> Result<crate::BreakerView, ApiError> {
        self.no()
    }
    async fn reset_breaker(&self, _: i64) -> Result<crate::BreakerView, ApiError> {
        self.no()
    }
    async fn delete_proxy(&self, _: i64, _: Option<String>) -> Result<(), ApiError> {
        self.no()
    }
}
