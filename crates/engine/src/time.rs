//! Time as a value, from `vip-model`. The engine never reads a clock:
//! every call that depends on time takes a [`Timestamp`] from the caller,
//! so tests use fixed instants and the same inputs always give the same
//! decisions.

pub use vip_model::time::*;
