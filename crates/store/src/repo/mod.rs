//! Repositories: the operations on each table, as methods on [`Store`],
//! one file per table family. Multi-row changes run in one transaction, so a
//! failure leaves nothing half-written.
//!
//! [`Store`]: crate::Store

pub mod activity;
pub mod breakers;
pub mod browsing;
pub mod credentials;
pub mod events;
pub mod identity_file;
pub mod maintenance;
pub mod proxies;
pub mod proxy_page;
pub mod rotation;
pub mod series;
pub mod stats;
pub mod sticky;
