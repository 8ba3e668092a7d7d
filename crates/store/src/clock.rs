//! The store's clock: wall-clock milliseconds since the Unix epoch, the unit
//! of every `*_at` column (from `vip-model`).

pub use vip_model::now_ms;
