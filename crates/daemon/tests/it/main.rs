//! The daemon in-process: started on a temporary data directory with
//! port-0 listeners, driven through its handle and its router, with real
//! upstream peers (microsocks) on loopback. One binary, a module per suite.

mod api;
mod attack;
mod browsing;
mod checks;
mod common;
mod events;
mod explain;
mod history;
mod lifecycle;
mod proxies;
mod rotations;
mod shutdown;
