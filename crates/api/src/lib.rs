//! # vip-api
//!
//! The local control API `vip serve` exposes on 127.0.0.1 and the client
//! the CLI uses. Every route is under `/api/v1`, declared together with
//! its OpenAPI operation; the document is committed as `openapi.json` and
//! printed by `vip api spec`. In front of every route, in this order: a
//! Host allowlist (421), the bearer token (401; the token file is random,
//! mode 0600, new on every start), cross-site checks on changes (415,
//! 403), and rate limits per principal and route class (429). Refusals are
//! RFC 9457 problem documents naming the field at fault and how to fix it.
//!
//! - `types`: request and response bodies; `proxy_types` those of the
//!   proxy routes, and their cursor;
//! - `explain_types`: the bodies of `POST /rotation:explain`;
//! - `check_types`, `check_routes`: health checks on demand, jobs,
//!   breakers;
//! - `porting_types`, `porting_routes`: import, export and bulk changes;
//! - `rotation_types`, `rotation_routes`: rotation configs;
//! - `history_types`, `history_routes`: usage over time, rotation events;
//! - `proxy_routes`: the proxy routes (ETag and `If-Match`);
//! - `problem`: [`ApiError`] and its problem document;
//! - `body`: the JSON body extractor that names the field at fault;
//! - `guard`: Host, token and cross-site checks, security headers;
//! - `limit`: rate limits per principal and route class;
//! - `events`: the event hub the daemon publishes into; `socket` the
//!   events WebSocket over it;
//! - `metrics`: `GET /metrics` (Prometheus text) and the API's counters;
//! - `spec`: what every operation of the OpenAPI document shares;
//! - `server`: the [`Control`] seam, the routes and their operations;
//! - `erased`: [`Control`] as a trait object for the handlers;
//! - `files`: the token and endpoint files;
//! - `client`: the blocking client for the CLI.
//! - `testing`: a control for the API's own tests and benchmarks.

pub mod body;
mod check_routes;
pub mod check_types;
pub mod client;
mod erased;
pub mod events;
pub mod explain_types;
pub mod files;
pub mod guard;
mod history_routes;
pub mod history_types;
pub mod limit;
pub mod metrics;
mod porting_routes;
pub mod porting_types;
pub mod problem;
mod proxy_routes;
pub mod proxy_types;
mod rotation_routes;
pub mod rotation_types;
pub mod server;
pub mod socket;
mod spec;
#[doc(hidden)]
pub mod testing;
pub mod types;

pub use check_types::*;
pub use client::Client;
pub use events::{Events, Topic};
pub use explain_types::*;
pub use files::{ENDPOINT_FILE, TOKEN_FILE, write_files};
pub use guard::Access;
pub use history_types::*;
pub use limit::LimitClock;
pub use porting_types::*;
pub use problem::{ApiError, Problem};
pub use proxy_types::*;
pub use rotation_types::*;
pub use server::{Control, router, serve, spec, spec_json};
pub use types::*;
