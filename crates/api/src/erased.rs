//! [`Control`] behind a trait object, so the handlers (and their OpenAPI
//! paths) are plain functions rather than generic over the daemon.

use std::future::Future;
use std::pin::Pin;

use crate::check_types::*;
use crate::explain_types::*;
use crate::history_types::*;
use crate::porting_types::*;
use crate::problem::ApiError;
use crate::proxy_types::*;
use crate::rotation_types::*;
use crate::server::Control;
use crate::types::*;

type Fut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Res<'a, T> = Fut<'a, Result<T, ApiError>>;

/// [`Control`] with boxed futures.
pub(crate) trait Dyn: Send + Sync {
    fn status(&self) -> Fut<'_, Status>;
    fn open_tab(&self, req: OpenTab) -> Res<'_, Tab>;
    fn tabs(&self) -> Fut<'_, Vec<Tab>>;
    fn close_tab(&self, id: i64) -> Res<'_, ()>;
    fn save_session(&self, name: String) -> Res<'_, SessionInfo>;
    fn load_session(&self, name: String) -> Res<'_, Vec<Tab>>;
    fn sessions(&self) -> Res<'_, Vec<SessionInfo>>;
    fn identities(&self) -> Res<'_, Vec<Identity>>;
    fn create_identity(&self, req: NewIdentity) -> Res<'_, Identity>;
    fn delete_identity(&self, name: String) -> Res<'_, ()>;
    fn cookies(&self, name: String, format: String) -> Res<'_, CookieFile>;
    fn add_cookies(&self, name: String, upload: CookieUpload) -> Res<'_, CookieReport>;
    fn reload(&self) -> Res<'_, Reloaded>;
    fn proxies(&self, q: ProxyQuery) -> Res<'_, ProxyList>;
    fn proxy(&self, id: i64) -> Res<'_, ProxyView>;
    fn add_proxy(&self, body: NewProxyBody) -> Res<'_, ProxyView>;
    fn update_proxy(&self, id: i64, if_match: String, change: ProxyChange) -> Res<'_, ProxyView>;
    fn delete_proxy(&self, id: i64, if_match: Option<String>) -> Res<'_, ()>;
    fn record(&self, entry: Activity) -> Fut<'_, ()>;
    fn explain(&self, req: ExplainRequest) -> Res<'_, Explanation>;
    fn check_proxy(&self, id: i64) -> Res<'_, CheckResult>;
    fn import_proxies(&self, body: ImportBody) -> Res<'_, ImportResult>;
    fn rotations(&self) -> Res<'_, Vec<RotationView>>;
    fn usage(&self, proxy: Option<i64>, q: SeriesQuery) -> Res<'_, UsageSeries>;
    fn rotation_events(&self, limit: u32) -> Res<'_, Vec<RotationEventView>>;
    fn rotation(&self, key: String) -> Res<'_, RotationView>;
    fn create_rotation(&self, doc: serde_json::Value) -> Res<'_, RotationView>;
    fn replace_rotation(&self, key: String, doc: serde_json::Value) -> Res<'_, RotationView>;
    fn delete_rotation(&self, key: String) -> Res<'_, i64>;
    fn activate_rotation(&self, key: String) -> Res<'_, RotationView>;
    fn export_proxies(&self, q: ExportQuery) -> Res<'_, String>;
    fn bulk_proxies(&self, change: BulkChange) -> Res<'_, BulkResult>;
    fn start_check(&self, req: CheckRequest) -> Res<'_, Job>;
    fn job(&self, id: i64) -> Res<'_, Job>;
    fn cancel_job(&self, id: i64) -> Res<'_, Job>;
    fn breaker(&self, id: i64) -> Res<'_, BreakerView>;
    fn reset_breaker(&self, id: i64) -> Res<'_, BreakerView>;
    fn metrics(&self) -> Res<'_, String>;
}

impl<C: Control> Dyn for C {
    fn status(&self) -> Fut<'_, Status> {
        Box::pin(Control::status(self))
    }
    fn open_tab(&self, req: OpenTab) -> Res<'_, Tab> {
        Box::pin(Control::open_tab(self, req))
    }
    fn tabs(&self) -> Fut<'_, Vec<Tab>> {
        Box::pin(Control::tabs(self))
    }
    fn close_tab(&self, id: i64) -> Res<'_, ()> {
        Box::pin(Control::close_tab(self, id))
    }
    fn save_session(&self, name: String) -> Res<'_, SessionInfo> {
        Box::pin(Control::save_session(self, name))
    }
    fn load_session(&self, name: String) -> Res<'_, Vec<Tab>> {
        Box::pin(Control::load_session(self, name))
    }
    fn sessions(&self) -> Res<'_, Vec<SessionInfo>> {
        Box::pin(Control::sessions(self))
    }
    fn identities(&self) -> Res<'_, Vec<Identity>> {
        Box::pin(Control::identities(self))
    }
    fn create_identity(&self, req: NewIdentity) -> Res<'_, Identity> {
        Box::pin(Control::create_identity(self, req))
    }
    fn delete_identity(&self, name: String) -> Res<'_, ()> {
        Box::pin(Control::delete_identity(self, name))
    }
    fn cookies(&self, name: String, format: String) -> Res<'_, CookieFile> {
        Box::pin(Control::cookies(self, name, format))
    }
    fn add_cookies(&self, name: String, upload: CookieUpload) -> Res<'_, CookieReport> {
        Box::pin(Control::add_cookies(self, name, upload))
    }
    fn reload(&self) -> Res<'_, Reloaded> {
        Box::pin(Control::reload(self))
    }
    fn proxies(&self, q: ProxyQuery) -> Res<'_, ProxyList> {
        Box::pin(Control::proxies(self, q))
    }
    fn proxy(&self, id: i64) -> Res<'_, ProxyView> {
        Box::pin(Control::proxy(self, id))
    }
    fn add_proxy(&self, body: NewProxyBody) -> Res<'_, ProxyView> {
        Box::pin(Control::add_proxy(self, body))
    }
    fn update_proxy(&self, id: i64, if_match: String, change: ProxyChange) -> Res<'_, ProxyView> {
        Box::pin(Control::update_proxy(self, id, if_match, change))
    }
    fn delete_proxy(&self, id: i64, if_match: Option<String>) -> Res<'_, ()> {
        Box::pin(Control::delete_proxy(self, id, if_match))
    }
    fn record(&self, entry: Activity) -> Fut<'_, ()> {
        Box::pin(Control::record(self, entry))
    }
    fn explain(&self, req: ExplainRequest) -> Res<'_, Explanation> {
        Box::pin(Control::explain(self, req))
    }
    fn usage(&self, proxy: Option<i64>, q: SeriesQuery) -> Res<'_, UsageSeries> {
        Box::pin(Control::usage(self, proxy, q))
    }
    fn rotation_events(&self, limit: u32) -> Res<'_, Vec<RotationEventView>> {
        Box::pin(Control::rotation_events(self, limit))
    }
    fn rotations(&self) -> Res<'_, Vec<RotationView>> {
        Box::pin(Control::rotations(self))
    }
    fn rotation(&self, key: String) -> Res<'_, RotationView> {
        Box::pin(Control::rotation(self, key))
    }
    fn create_rotation(&self, doc: serde_json::Value) -> Res<'_, RotationView> {
        Box::pin(Control::create_rotation(self, doc))
    }
    fn replace_rotation(&self, key: String, doc: serde_json::Value) -> Res<'_, RotationView> {
        Box::pin(Control::replace_rotation(self, key, doc))
    }
    fn delete_rotation(&self, key: String) -> Res<'_, i64> {
        Box::pin(Control::delete_rotation(self, key))
    }
    fn activate_rotation(&self, key: String) -> Res<'_, RotationView> {
        Box::pin(Control::activate_rotation(self, key))
    }
    fn import_proxies(&self, body: ImportBody) -> Res<'_, ImportResult> {
        Box::pin(Control::import_proxies(self, body))
    }
    fn export_proxies(&self, q: ExportQuery) -> Res<'_, String> {
        Box::pin(Control::export_proxies(self, q))
    }
    fn bulk_proxies(&self, change: BulkChange) -> Res<'_, BulkResult> {
        Box::pin(Control::bulk_proxies(self, change))
    }
    fn check_proxy(&self, id: i64) -> Res<'_, CheckResult> {
        Box::pin(Control::check_proxy(self, id))
    }
    fn start_check(&self, req: CheckRequest) -> Res<'_, Job> {
        Box::pin(Control::start_check(self, req))
    }
    fn job(&self, id: i64) -> Res<'_, Job> {
        Box::pin(Control::job(self, id))
    }
    fn cancel_job(&self, id: i64) -> Res<'_, Job> {
        Box::pin(Control::cancel_job(self, id))
    }
    fn breaker(&self, id: i64) -> Res<'_, BreakerView> {
        Box::pin(Control::breaker(self, id))
    }
    fn reset_breaker(&self, id: i64) -> Res<'_, BreakerView> {
        Box::pin(Control::reset_breaker(self, id))
    }
    fn metrics(&self) -> Res<'_, String> {
        Box::pin(Control::metrics(self))
    }
}
