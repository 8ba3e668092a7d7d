//! Integration tests of the gateway, one binary (one link) for all: real
//! Debian peers and in-process fault-injecting servers on loopback.
//! Separate files linked as separate binaries made ~30 copies of every
//! dependency; see CONTRIBUTING.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod blocking;
mod bodies;
mod client_auth;
mod failover;
mod faults;
mod health;
mod https;
mod keepalive;
mod names;
mod own;
mod peers;
mod socks4;
mod traffic;
mod upgrade;
