//! Integration tests of the store, one binary (one link) for all, each on
//! a real SQLite file.
//! Separate files linked as separate binaries made ~30 copies of every
//! dependency; see CONTRIBUTING.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browsing;
mod import;
mod migrations;
mod pages;
mod repos;
mod usage;
mod vault;
