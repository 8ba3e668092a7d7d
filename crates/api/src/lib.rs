//! # vip-api
//!
//! The local control API `vip serve` exposes on 127.0.0.1 and the client
//! the CLI uses. Every request carries `Authorization: Bearer <token>`; the
//! token is random, written to the data directory readable only by the
//! user, and replaced on every start. The routes are versioned under `/v1`
//! and kept to what the CLI needs now; the [`Control`] trait is the seam a
//! later dashboard grows from.
//!
//! - `types`: request and response bodies;
//! - `server`: the axum router, token check and files;
//! - `client`: the blocking client for the CLI.

pub mod client;
pub mod server;
pub mod types;

pub use client::Client;
pub use server::{Control, ENDPOINT_FILE, TOKEN_FILE, router, serve, write_files};
pub use types::*;
