//! Integration tests of the `vip` binary, one binary (one link) for all.
//! Separate files linked as separate binaries made ~30 copies of every
//! dependency; see CONTRIBUTING.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browse;
mod cli;
mod common;
mod cookies;
mod display;
mod full;
mod gateway;
mod schema;
mod serve;
mod state;
