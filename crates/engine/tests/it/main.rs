//! Integration tests of the rotation engine, one binary (one link) for all.
//! Separate files linked as separate binaries made ~30 copies of every
//! dependency; see CONTRIBUTING.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod breaker;
mod common;
mod config;
mod distribution;
mod explain;
mod pool;
mod properties;
mod rebuild;
mod rules;
mod strategies_basic;
mod strategies_holding;
