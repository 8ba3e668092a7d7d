//! The router: every route under `/api/v1`, declared with its OpenAPI
//! operation (`utoipa`), so a route cannot exist without its spec; the
//! checks of [`crate::guard`] in front of all of them; JSON in and out,
//! refusals as problem documents.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{Method, Uri};
use axum::{Json, Router, middleware};
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::body::Body;
use crate::check_types::*;
use crate::erased::Dyn;
use crate::explain_types::*;
use crate::guard::{self, Access, Guard};
use crate::history_types::*;
use crate::porting_types::*;
use crate::problem::ApiError;
use crate::proxy_types::*;
use crate::rotation_types::*;
use crate::spec::Common;
use crate::types::*;

/// Largest request body on most routes.
pub const BODY_LIMIT: usize = 1 << 20;
/// Largest request body of an import.
pub const IMPORT_LIMIT: usize = 16 << 20;

/// What the API drives; `vip serve` implements it.
pub trait Control: Send + Sync + 'static {
    /// Browser and tab summary.
    fn status(&self) -> impl Future<Output = Status> + Send;
    /// Opens a tab.
    fn open_tab(&self, req: OpenTab) -> impl Future<Output = Result<Tab, ApiError>> + Send;
    /// Open tabs.
    fn tabs(&self) -> impl Future<Output = Vec<Tab>> + Send;
    /// Closes a tab.
    fn close_tab(&self, id: i64) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Saves the open tabs as a session.
    fn save_session(
        &self,
        name: String,
    ) -> impl Future<Output = Result<SessionInfo, ApiError>> + Send;
    /// Opens a saved session's tabs.
    fn load_session(&self, name: String)
    -> impl Future<Output = Result<Vec<Tab>, ApiError>> + Send;
    /// Saved sessions.
    fn sessions(&self) -> impl Future<Output = Result<Vec<SessionInfo>, ApiError>> + Send;
    /// Named identities.
    fn identities(&self) -> impl Future<Output = Result<Vec<Identity>, ApiError>> + Send;
    /// Makes a named identity.
    fn create_identity(
        &self,
        req: NewIdentity,
    ) -> impl Future<Output = Result<Identity, ApiError>> + Send;
    /// Deletes a named identity with no open tabs (seed and storage gone).
    fn delete_identity(&self, name: String) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// A named identity's cookies as a file (`format`: netscape or json).
    fn cookies(
        &self,
        name: String,
        format: String,
    ) -> impl Future<Output = Result<CookieFile, ApiError>> + Send;
    /// Adds the cookies of a file to a named identity.
    fn add_cookies(
        &self,
        name: String,
        upload: CookieUpload,
    ) -> impl Future<Output = Result<CookieReport, ApiError>> + Send;
    /// Loads the pool and rotation configs from the store now; answers
    /// once they are in use (the CLI calls it after every change it writes).
    fn reload(&self) -> impl Future<Output = Result<Reloaded, ApiError>> + Send;
    /// One page of stored proxies.
    fn proxies(&self, q: ProxyQuery) -> impl Future<Output = Result<ProxyList, ApiError>> + Send;
    /// One stored proxy.
    fn proxy(&self, id: i64) -> impl Future<Output = Result<ProxyView, ApiError>> + Send;
    /// Stores a proxy (409 when the same one is stored) and puts it to use.
    fn add_proxy(
        &self,
        body: NewProxyBody,
    ) -> impl Future<Output = Result<ProxyView, ApiError>> + Send;
    /// Changes a proxy if it is still at `if_match` (its ETag; 412 if not).
    fn update_proxy(
        &self,
        id: i64,
        if_match: String,
        change: ProxyChange,
    ) -> impl Future<Output = Result<ProxyView, ApiError>> + Send;
    /// The daemon's gauges in the Prometheus text format (`# HELP`,
    /// `# TYPE` and sample lines).
    fn metrics(&self) -> impl Future<Output = Result<String, ApiError>> + Send;
    /// Writes one change request to the activity log (called after the
    /// answer, off the request's path).
    fn record(&self, entry: Activity) -> impl Future<Output = ()> + Send;
    /// Usage over time of a proxy (or the pool), from the store.
    fn usage(
        &self,
        proxy: Option<i64>,
        q: SeriesQuery,
    ) -> impl Future<Output = Result<UsageSeries, ApiError>> + Send;
    /// Recent rotation events, newest first.
    fn rotation_events(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RotationEventView>, ApiError>> + Send;
    /// Stored rotation configs.
    fn rotations(&self) -> impl Future<Output = Result<Vec<RotationView>, ApiError>> + Send;
    /// One rotation config (id or name).
    fn rotation(&self, key: String) -> impl Future<Output = Result<RotationView, ApiError>> + Send;
    /// Stores a rotation config document.
    fn create_rotation(
        &self,
        doc: Value,
    ) -> impl Future<Output = Result<RotationView, ApiError>> + Send;
    /// Replaces a rotation config's document.
    fn replace_rotation(
        &self,
        key: String,
        doc: Value,
    ) -> impl Future<Output = Result<RotationView, ApiError>> + Send;
    /// Deletes an inactive rotation config; returns its id.
    fn delete_rotation(&self, key: String) -> impl Future<Output = Result<i64, ApiError>> + Send;
    /// Activates a rotation config for its group.
    fn activate_rotation(
        &self,
        key: String,
    ) -> impl Future<Output = Result<RotationView, ApiError>> + Send;
    /// Imports a list of proxies (a verdict per entry) and puts them to use.
    fn import_proxies(
        &self,
        body: ImportBody,
    ) -> impl Future<Output = Result<ImportResult, ApiError>> + Send;
    /// The stored proxies as a list, without logins.
    fn export_proxies(
        &self,
        q: ExportQuery,
    ) -> impl Future<Output = Result<String, ApiError>> + Send;
    /// Changes or deletes many proxies at once, in use when answered.
    fn bulk_proxies(
        &self,
        change: BulkChange,
    ) -> impl Future<Output = Result<BulkResult, ApiError>> + Send;
    /// Checks one proxy now (stored, learned by the engine, published).
    fn check_proxy(&self, id: i64) -> impl Future<Output = Result<CheckResult, ApiError>> + Send;
    /// Starts checking many proxies in the background.
    fn start_check(&self, req: CheckRequest) -> impl Future<Output = Result<Job, ApiError>> + Send;
    /// A job's progress.
    fn job(&self, id: i64) -> impl Future<Output = Result<Job, ApiError>> + Send;
    /// Cancels a running job.
    fn cancel_job(&self, id: i64) -> impl Future<Output = Result<Job, ApiError>> + Send;
    /// A proxy's circuit breaker.
    fn breaker(&self, id: i64) -> impl Future<Output = Result<BreakerView, ApiError>> + Send;
    /// Closes a proxy's circuit breaker.
    fn reset_breaker(&self, id: i64) -> impl Future<Output = Result<BreakerView, ApiError>> + Send;
    /// Where a request would go now and why, learning nothing.
    fn explain(
        &self,
        req: ExplainRequest,
    ) -> impl Future<Output = Result<Explanation, ApiError>> + Send;
    /// Deletes a proxy (if still at `if_match`, when given).
    fn delete_proxy(
        &self,
        id: i64,
        if_match: Option<String>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

pub(crate) type Ctl = Arc<dyn Dyn>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vip control API",
        description = "The local control API of Virtual IP Browser. Every request needs \
                       `Authorization: Bearer <token>` (the api-token file in vip's data \
                       directory) and a Host of the API's own; changes need \
                       `Content-Type: application/json` and no foreign Origin. Refusals are \
                       RFC 9457 problem documents.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(crate::problem::Problem))
)]
struct Doc;

/// The routes with their operations, before state and checks.
fn routes() -> OpenApiRouter<Ctl> {
    OpenApiRouter::with_openapi(Doc::openapi())
        .routes(routes!(status))
        .routes(routes!(tabs, open_tab))
        .routes(routes!(close_tab))
        .routes(routes!(identities, create_identity))
        .routes(routes!(delete_identity))
        .routes({
            // A cookie file may be large: the import limit, not the default.
            let (schemas, paths, method) = routes!(cookies, add_cookies);
            (
                schemas,
                paths,
                method.layer(DefaultBodyLimit::max(IMPORT_LIMIT)),
            )
        })
        .routes(routes!(sessions))
        .routes(routes!(save_session))
        .routes(routes!(load_session))
        .routes(routes!(reload))
        .routes(routes!(
            crate::proxy_routes::list,
            crate::proxy_routes::create
        ))
        .routes(routes!(
            crate::proxy_routes::get,
            crate::proxy_routes::change,
            crate::proxy_routes::delete
        ))
        .routes(routes!(crate::socket::events))
        .routes(routes!(explain))
        .routes(routes!(crate::history_routes::proxy_stats))
        .routes(routes!(crate::history_routes::usage))
        .routes(routes!(crate::history_routes::rotation_events))
        .routes(routes!(
            crate::rotation_routes::list,
            crate::rotation_routes::create
        ))
        .routes(routes!(
            crate::rotation_routes::get,
            crate::rotation_routes::replace,
            crate::rotation_routes::delete
        ))
        .routes(routes!(crate::rotation_routes::activate))
        .routes({
            let (schemas, paths, method) = routes!(crate::porting_routes::import);
            (
                schemas,
                paths,
                method.layer(DefaultBodyLimit::max(IMPORT_LIMIT)),
            )
        })
        .routes(routes!(crate::porting_routes::export))
        .routes(routes!(crate::porting_routes::bulk))
        .routes(routes!(crate::check_routes::check_one))
        .routes(routes!(crate::check_routes::check_many))
        .routes(routes!(
            crate::check_routes::job,
            crate::check_routes::cancel_job
        ))
        .routes(routes!(crate::check_routes::breaker))
        .routes(routes!(crate::check_routes::reset_breaker))
        .routes(routes!(openapi))
        .routes(routes!(crate::metrics::metrics))
}

/// The OpenAPI document of the routes (what `openapi.json` holds).
pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = routes().split_for_parts().1;
    utoipa::Modify::modify(&Common, &mut doc);
    doc
}

/// The spec as committed: pretty JSON with a final newline.
pub fn spec_json() -> String {
    let mut text = spec().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// The router over `control`, behind the checks `access` sets.
pub fn router<C: Control>(control: Arc<C>, access: Access) -> Router {
    let guard = Arc::new(Guard::new(&access));
    let control: Ctl = control;
    let (router, _) = routes().split_for_parts();
    router
        .route_layer(middleware::from_fn_with_state(guard.clone(), guard::limit))
        .route_layer(middleware::from_fn_with_state(control.clone(), audit))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(control)
        .layer(middleware::from_fn_with_state(guard, guard::guard))
}

/// Every change a principal asks for (answered, refused or limited) goes
/// to the activity log: who, which route, what it named, the status.
async fn audit(
    State(c): State<Ctl>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let method = request.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let principal = request
        .extensions()
        .get::<guard::Principal>()
        .map(|p| p.0.clone())
        .unwrap_or_default();
    let target = request.uri().path().to_string();
    let response = next.run(request).await;
    let entry = Activity {
        principal,
        method: method.to_string(),
        route,
        target,
        status: response.status().as_u16(),
    };
    tokio::spawn(async move { c.record(entry).await });
    response
}

/// A route that does not exist gets a problem document like any refusal.
async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {method} {}", uri.path()))
        .hint("the routes are under /api/v1; GET /api/v1/openapi.json lists them")
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(405, format!("{} does not take {method}", uri.path()))
        .hint("GET /api/v1/openapi.json lists each route's methods")
}

pub(crate) fn number(what: &str, text: &str, list: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::malformed(format!("{what} {text:?} is not a number"))
            .at(format!("/path/{what}"))
            .hint(format!("see `{list}`"))
    })
}

/// The browser and how many tabs are open.
#[utoipa::path(get, path = "/api/v1/status", tag = "status",
    responses((status = 200, body = Status)))]
async fn status(State(c): State<Ctl>) -> Json<Status> {
    Json(c.status().await)
}

/// Open tabs.
#[utoipa::path(get, path = "/api/v1/tabs", tag = "tabs",
    responses((status = 200, body = Vec<Tab>)))]
async fn tabs(State(c): State<Ctl>) -> Json<Vec<Tab>> {
    Json(c.tabs().await)
}

/// Opens a tab in a named or a fresh identity.
#[utoipa::path(post, path = "/api/v1/tabs", tag = "tabs", request_body = OpenTab,
    responses((status = 200, body = Tab)))]
async fn open_tab(State(c): State<Ctl>, Body(req): Body<OpenTab>) -> Result<Json<Tab>, ApiError> {
    c.open_tab(req).await.map(Json)
}

/// Closes a tab.
#[utoipa::path(delete, path = "/api/v1/tabs/{id}", tag = "tabs",
    params(("id" = i64, Path, description = "tab id")),
    responses((status = 200, body = Object, example = json!({"closed": 7}))))]
async fn close_tab(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = number("id", &id, "vip tab list")?;
    c.close_tab(id).await?;
    Ok(Json(json!({"closed": id})))
}

/// Named identities.
#[utoipa::path(get, path = "/api/v1/identities", tag = "identities",
    responses((status = 200, body = Vec<Identity>)))]
async fn identities(State(c): State<Ctl>) -> Result<Json<Vec<Identity>>, ApiError> {
    c.identities().await.map(Json)
}

/// Makes a named identity ahead of its first tab.
#[utoipa::path(post, path = "/api/v1/identities", tag = "identities", request_body = NewIdentity,
    responses((status = 200, body = Identity)))]
async fn create_identity(
    State(c): State<Ctl>,
    Body(req): Body<NewIdentity>,
) -> Result<Json<Identity>, ApiError> {
    c.create_identity(req).await.map(Json)
}

/// Deletes a named identity with no open tabs (its seed and storage too).
#[utoipa::path(delete, path = "/api/v1/identities/{name}", tag = "identities",
    params(("name" = String, Path, description = "identity name")),
    responses((status = 200, body = Object, example = json!({"deleted": "alice"}))))]
async fn delete_identity(
    State(c): State<Ctl>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    c.delete_identity(name.clone()).await?;
    Ok(Json(json!({"deleted": name})))
}

/// `?format=` of the cookie export.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FormatQuery {
    /// `netscape` (cookies.txt, the default) or `json`.
    #[param(pattern = "^(netscape|json)$")]
    format: Option<String>,
}

/// A named identity's cookies as a file.
#[utoipa::path(get, path = "/api/v1/identities/{name}/cookies", tag = "identities",
    params(("name" = String, Path, description = "identity name"), FormatQuery),
    responses((status = 200, body = CookieFile)))]
async fn cookies(
    State(c): State<Ctl>,
    UrlPath(name): UrlPath<String>,
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CookieFile>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::malformed(format!("query: {}", e.body_text()))
            .at("/query")
            .hint("the only parameter is format=netscape or format=json")
    })?;
    let format = q.format.unwrap_or_else(|| "netscape".into());
    c.cookies(name, format).await.map(Json)
}

/// Adds the cookies of a file (cookies.txt or extension JSON) to a named
/// identity, with a verdict per line or entry.
#[utoipa::path(post, path = "/api/v1/identities/{name}/cookies", tag = "identities",
    params(("name" = String, Path, description = "identity name")),
    request_body = CookieUpload,
    responses((status = 200, body = CookieReport)))]
async fn add_cookies(
    State(c): State<Ctl>,
    UrlPath(name): UrlPath<String>,
    Body(upload): Body<CookieUpload>,
) -> Result<Json<CookieReport>, ApiError> {
    c.add_cookies(name, upload).await.map(Json)
}

/// Saved sessions.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions",
    responses((status = 200, body = Vec<SessionInfo>)))]
async fn sessions(State(c): State<Ctl>) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    c.sessions().await.map(Json)
}

/// Saves the open tabs as a session.
#[utoipa::path(post, path = "/api/v1/sessions/{name}", tag = "sessions",
    params(("name" = String, Path, description = "session name")),
    responses((status = 200, body = SessionInfo)))]
async fn save_session(
    State(c): State<Ctl>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<SessionInfo>, ApiError> {
    c.save_session(name).await.map(Json)
}

/// Opens a saved session's tabs.
#[utoipa::path(post, path = "/api/v1/sessions/{name}/load", tag = "sessions",
    params(("name" = String, Path, description = "session name")),
    responses((status = 200, body = Vec<Tab>)))]
async fn load_session(
    State(c): State<Ctl>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Vec<Tab>>, ApiError> {
    c.load_session(name).await.map(Json)
}

/// Loads the pool and rotation configs from the store now; answers once
/// they are in use.
#[utoipa::path(post, path = "/api/v1/reload", tag = "status",
    responses((status = 200, body = Reloaded)))]
async fn reload(State(c): State<Ctl>) -> Result<Json<Reloaded>, ApiError> {
    c.reload().await.map(Json)
}

/// Where a request would go now, and why: the rotation config, strategy,
/// rule and sticky mapping that decide, the first choice and the
/// fallbacks, the proxies nothing would choose. Nothing is learned or
/// counted by asking.
#[utoipa::path(post, path = "/api/v1/rotation:explain", tag = "rotation",
    request_body = ExplainRequest,
    responses((status = 200, body = Explanation)))]
async fn explain(
    State(c): State<Ctl>,
    Body(req): Body<ExplainRequest>,
) -> Result<Json<Explanation>, ApiError> {
    if req.tab.is_some() && req.assignment.is_some() {
        return Err(ApiError::invalid("give a tab or an assignment, not both")
            .at("/assignment")
            .hint("a tab is explained with its identity's assignment"));
    }
    if req.target.trim().is_empty() {
        return Err(ApiError::invalid("target is empty")
            .at("/target")
            .hint("give a URL like https://shop.example/ or a host like shop.example:443"));
    }
    c.explain(req).await.map(Json)
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "status",
    responses((status = 200, body = Object, description = "the OpenAPI 3.1 document")))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(spec())
}

/// Serves `router` on `listener` until `stop` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await
}
