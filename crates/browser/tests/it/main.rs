//! Integration tests of the browser crate, one binary (one link) for all:
//! each module drives real headless Chromium through its own gateway.
//! Separate files linked as separate binaries made ~30 copies of every
//! dependency; see CONTRIBUTING.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod contexts;
mod fingerprint;
mod lies;
mod privacy;
mod sites;
mod storage;
