//! What every request passes, in this order, before any route sees it:
//! its `Host` is one of the API's own names (else 421: DNS rebinding),
//! it carries the bearer token (compared in constant time; else 401, or
//! 429 after too many failures), and a mutation is JSON from no other
//! origin (a body or content type, when sent, `application/json` else
//! 415; `Origin`, when sent,
//! the API's own and `Sec-Fetch-Site`, when sent, `same-origin` or `none`,
//! else 403). Then the route's rate limit per principal and class
//! ([`crate::limit`]). Every response, refusals included, carries the
//! security headers; there is no CORS.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::limit::{LimitClock, Limits, class_of};
use crate::problem::ApiError;

/// How long a request may take before it is answered 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(110);

/// Who may call the API and from where.
#[derive(Clone)]
pub struct Access {
    /// The bearer token.
    pub token: String,
    /// The port the API listens on (its `Host` names carry it).
    pub port: u16,
    /// Further `Host` values accepted (`name:port`), configured explicitly.
    pub hosts: Vec<String>,
    /// Requests per minute per route class, where not the default.
    pub limits: HashMap<String, u32>,
    /// The rate limits' clock.
    pub clock: LimitClock,
    /// The hub the events socket reads (the daemon publishes into it).
    pub events: Arc<crate::events::Events>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("token", &"***")
            .field("port", &self.port)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// The defaults for `token` on `port`: loopback names only, default
    /// limits, the real clock.
    pub fn new(token: impl Into<String>, port: u16) -> Access {
        Access {
            token: token.into(),
            port,
            hosts: Vec::new(),
            limits: HashMap::new(),
            clock: LimitClock::real(),
            events: Arc::default(),
        }
    }
}

/// Who a request is, once authenticated (one bucket each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal(pub String);

/// The checks' state, shared by every request.
pub(crate) struct Guard {
    token: Vec<u8>,
    hosts: Vec<String>,
    limits: Limits,
    events: Arc<crate::events::Events>,
    pub(crate) metrics: Arc<crate::metrics::ApiMetrics>,
}

impl Guard {
    pub(crate) fn new(access: &Access) -> Guard {
        let port = access.port;
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        hosts.extend(access.hosts.iter().map(|h| h.to_ascii_lowercase()));
        Guard {
            token: access.token.as_bytes().to_vec(),
            hosts,
            limits: Limits::new(access.clock.clone(), &access.limits),
            events: access.events.clone(),
            metrics: Arc::default(),
        }
    }

    fn host<'a>(&self, headers: &'a HeaderMap) -> Result<&'a str, ApiError> {
        let given = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if self.hosts.iter().any(|h| h.eq_ignore_ascii_case(given)) {
            return Ok(given);
        }
        Err(
            ApiError::new(421, format!("this API does not answer for host {given:?}")).hint(
                format!(
                    "call it as http://{}/ (a page of another site must not reach it)",
                    self.hosts[0]
                ),
            ),
        )
    }

    /// The bearer token, or on a WebSocket handshake (a browser cannot
    /// send the header there) the subprotocol `vip.bearer.<token>`.
    fn authenticated(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let offered = || {
            headers
                .get_all(header::SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .find_map(|p| p.trim().strip_prefix(crate::socket::BEARER_PROTOCOL))
        };
        let given = match bearer {
            Some(b) => b,
            None if upgrade(headers) => offered().unwrap_or(""),
            None => "",
        };
        bool::from(given.as_bytes().ct_eq(&self.token))
    }
}

/// Whether the request asks for a WebSocket.
fn upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// A mutation must be JSON, from the API's own origin; so must a
/// WebSocket handshake (a page of another site must not read the events).
fn cross_site(method: &Method, headers: &HeaderMap, host: &str) -> Result<(), ApiError> {
    if upgrade(headers) {
        return own_origin(headers, host);
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    // Without a body there is nothing to smuggle: a cross-site page's
    // bodiless request still carries its Origin (below).
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || headers.contains_key(header::TRANSFER_ENCODING);
    if (media.is_some() || has_body) && media.as_deref() != Some("application/json") {
        return Err(ApiError::new(
            415,
            format!(
                "a {method} must have Content-Type: application/json (got {})",
                media.as_deref().unwrap_or("none")
            ),
        )
        .hint(
            "send the body as JSON with Content-Type: application/json (an empty change sends {})",
        ));
    }
    own_origin(headers, host)
}

/// `Origin` and `Sec-Fetch-Site`, when sent, are the API's own.
fn own_origin(headers: &HeaderMap, host: &str) -> Result<(), ApiError> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = format!("http://{host}");
        if !origin.as_bytes().eq_ignore_ascii_case(own.as_bytes()) {
            return Err(ApiError::new(
                403,
                format!(
                    "a request from origin {:?} is refused: only {own} may change things or open the events socket",
                    String::from_utf8_lossy(origin.as_bytes())
                ),
            ));
        }
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if site != "same-origin" && site != "none" {
            return Err(ApiError::new(
                403,
                format!("a change or events socket from a {site:?} page is refused"),
            )
            .hint("call the API from the CLI, a script or the dashboard"));
        }
    }
    Ok(())
}

/// The headers on every response.
fn secure(response: &mut Response) {
    const HEADERS: &[(&str, &str)] = &[
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
             require-trusted-types-for 'script'",
        ),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
    ];
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers.insert(*name, HeaderValue::from_static(value));
    }
}

/// Host, authentication and cross-site checks, then the route.
pub(crate) async fn guard(
    State(g): State<Arc<Guard>>,
    mut request: Request,
    next: Next,
) -> Response {
    let checked = (|| {
        let headers = request.headers();
        let host = g.host(headers)?;
        if !g.authenticated(headers) {
            let locked = g.limits.failed_auth();
            let mut e = ApiError::new(
                if locked.is_some() { 429 } else { 401 },
                "missing or wrong token",
            )
            .hint("send Authorization: Bearer <the api-token file of vip's data directory>");
            e.retry_after = locked;
            return Err(e);
        }
        cross_site(request.method(), headers, host)
    })();
    let mut response = match checked {
        Err(e) => e.into_response(),
        Ok(()) => {
            request
                .extensions_mut()
                .insert(Principal("cli-token".into()));
            request
                .extensions_mut()
                .insert(crate::metrics::Registry(g.metrics.clone()));
            request.extensions_mut().insert(g.events.clone());
            // A handler that panics (a bug: input must never make one) is
            // answered 500 instead of dropping the connection unanswered;
            // the panic itself is in the log.
            let run = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
                next.run(request),
            ));
            match tokio::time::timeout(REQUEST_TIMEOUT, run).await {
                Ok(Ok(response)) => response,
                Ok(Err(_)) => ApiError::internal(
                    "the request failed inside vip serve (a bug): its log has the panic",
                )
                .hint("report it with the log lines around the panic")
                .into_response(),
                Err(_) => ApiError::unavailable("the request took too long and was given up")
                    .hint("try again; see `vip serve`'s log for what it waited on")
                    .into_response(),
            }
        }
    };
    secure(&mut response);
    response
}

/// The matched route's rate limit for the request's principal.
pub(crate) async fn limit(State(g): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let principal = request
        .extensions()
        .get::<Principal>()
        .map(|p| p.0.clone())
        .unwrap_or_default();
    let verdict = g
        .limits
        .check(class_of(request.method().as_str(), &route), &principal);
    let class = verdict.class;
    let mut response = match verdict.retry_after {
        Some(wait) => {
            let mut e = ApiError::new(
                429,
                format!(
                    "too many requests of class {} ({} a minute): wait {wait} s",
                    verdict.class, verdict.limit
                ),
            )
            .hint("wait, or do many at once with a bulk call (for example `vip proxy import` for many proxies)");
            e.retry_after = Some(wait);
            e.into_response()
        }
        None => next.run(request).await,
    };
    g.metrics.count(class, response.status().as_u16());
    let headers = response.headers_mut();
    for (name, value) in [
        ("ratelimit-policy", verdict.policy_header()),
        ("ratelimit", verdict.state_header()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    response
}
