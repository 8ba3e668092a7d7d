//! `Secret` lives in `vip-model` (every crate handles credentials); it is
//! re-exported here so the vault's API reads as before.

pub use vip_model::Secret;
