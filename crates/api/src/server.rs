//! The axum router: bearer-token check on every route, JSON in and out,
//! errors as `{"error": "..."}` with their status. The token and endpoint
//! files are written with mode 0600.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::types::*;

/// The token file in the data directory.
pub const TOKEN_FILE: &str = "api-token";
/// The file holding the API's address.
pub const ENDPOINT_FILE: &str = "api-endpoint";

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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(json!({"error": self.message}))).into_response()
    }
}

/// Compares in time independent of where the strings differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authorize(State(token): State<Arc<String>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same(given.as_bytes(), token.as_bytes()) {
        next.run(request).await
    } else {
        ApiError {
            status: 401,
            message: "missing or wrong token: read it from the data directory's api-token file"
                .into(),
        }
        .into_response()
    }
}

/// The router over `control`, guarded by `token`.
pub fn router<C: Control>(control: Arc<C>, token: String) -> Router {
    Router::new()
        .route("/v1/status", get(status::<C>))
        .route("/v1/tabs", get(tabs::<C>).post(open_tab::<C>))
        .route("/v1/tabs/{id}", axum::routing::delete(close_tab::<C>))
        .route("/v1/sessions", get(sessions::<C>))
        .route(
            "/v1/identities",
            get(identities::<C>).post(create_identity::<C>),
        )
        .route(
            "/v1/identities/{name}",
            axum::routing::delete(delete_identity::<C>),
        )
        .route(
            "/v1/identities/{name}/cookies",
            get(cookies::<C>).post(add_cookies::<C>),
        )
        .route("/v1/sessions/{name}", post(save_session::<C>))
        .route("/v1/sessions/{name}/load", post(load_session::<C>))
        .route("/v1/reload", post(reload::<C>))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(control)
        .layer(middleware::from_fn_with_state(Arc::new(token), authorize))
}

/// A route that does not exist gets the same JSON error as every other
/// refusal.
async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route {method} {}: the routes are under /v1 (status, tabs, identities, sessions, reload)",
        uri.path()
    ))
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: 405,
        message: format!("{} does not take {method}", uri.path()),
    }
}

async fn status<C: Control>(State(c): State<Arc<C>>) -> Json<Status> {
    Json(c.status().await)
}

async fn tabs<C: Control>(State(c): State<Arc<C>>) -> Json<Vec<Tab>> {
    Json(c.tabs().await)
}

async fn open_tab<C: Control>(
    State(c): State<Arc<C>>,
    body: Result<Json<OpenTab>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Tab>, ApiError> {
    let Json(req) =
        body.map_err(|e| ApiError::invalid(format!("request body: {}", e.body_text())))?;
    c.open_tab(req).await.map(Json)
}

async fn close_tab<C: Control>(
    State(c): State<Arc<C>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::invalid(format!("tab id {id:?} is not a number: see `vip tab list`"))
    })?;
    c.close_tab(id).await?;
    Ok(Json(json!({"closed": id})))
}

async fn identities<C: Control>(State(c): State<Arc<C>>) -> Result<Json<Vec<Identity>>, ApiError> {
    c.identities().await.map(Json)
}

async fn create_identity<C: Control>(
    State(c): State<Arc<C>>,
    body: Result<Json<NewIdentity>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Identity>, ApiError> {
    let Json(req) =
        body.map_err(|e| ApiError::invalid(format!("request body: {}", e.body_text())))?;
    c.create_identity(req).await.map(Json)
}

async fn delete_identity<C: Control>(
    State(c): State<Arc<C>>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    c.delete_identity(name.clone()).await?;
    Ok(Json(json!({"deleted": name})))
}

#[derive(serde::Deserialize)]
struct FormatQuery {
    format: Option<String>,
}

async fn cookies<C: Control>(
    State(c): State<Arc<C>>,
    UrlPath(name): UrlPath<String>,
    query: Result<axum::extract::Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CookieFile>, ApiError> {
    let axum::extract::Query(q) =
        query.map_err(|e| ApiError::invalid(format!("query: {}", e.body_text())))?;
    let format = q.format.unwrap_or_else(|| "netscape".into());
    c.cookies(name, format).await.map(Json)
}

async fn add_cookies<C: Control>(
    State(c): State<Arc<C>>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<CookieUpload>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<CookieReport>, ApiError> {
    let Json(upload) =
        body.map_err(|e| ApiError::invalid(format!("request body: {}", e.body_text())))?;
    c.add_cookies(name, upload).await.map(Json)
}

async fn sessions<C: Control>(State(c): State<Arc<C>>) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    c.sessions().await.map(Json)
}

async fn save_session<C: Control>(
    State(c): State<Arc<C>>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<SessionInfo>, ApiError> {
    c.save_session(name).await.map(Json)
}

async fn load_session<C: Control>(
    State(c): State<Arc<C>>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Vec<Tab>>, ApiError> {
    c.load_session(name).await.map(Json)
}

async fn reload<C: Control>(State(c): State<Arc<C>>) -> Result<Json<Reloaded>, ApiError> {
    c.reload().await.map(Json)
}

/// Writes a fresh random token and the API's address into `data_dir`, both
/// readable only by the user; returns the token.
pub fn write_files(data_dir: &Path, addr: SocketAddr) -> std::io::Result<String> {
    use rand::TryRngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(std::io::Error::other)?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&data_dir.join(TOKEN_FILE), &token)?;
    write_private(&data_dir.join(ENDPOINT_FILE), &addr.to_string())?;
    Ok(token)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
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
