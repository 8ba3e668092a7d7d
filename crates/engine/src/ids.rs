//! Identifier newtypes, from `vip-model` (shared with every crate), so a
//! proxy id can never be passed where a tab id or rule id is expected.

pub use vip_model::ids::*;
