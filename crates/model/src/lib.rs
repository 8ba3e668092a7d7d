//! # vip-model
//!
//! The types every crate shares and nothing else: identifiers that say what
//! they identify, time as a value and where it comes from, the proxy's
//! protocol and country, and `Secret`, a string that never prints. No I/O
//! beyond reading the system clock in [`SystemClock`]; every crate may
//! depend on it, so the gateway and the test fixtures need not link the
//! store.
//!
//! - `ids`: `ProxyId`, `ConfigId`, `TabId`, `RuleId`, `CredentialRef`;
//! - `time`: `Timestamp`, `LocalTime`;
//! - `clock`: `Clock`, `SystemClock`, `FixedClock`, `now_ms`;
//! - `proxy`: `Protocol`, `CountryCode` and their parse errors;
//! - `secret`: `Secret`;
//! - `assignment`: `Assignment`, where a listener's connections go.

pub mod assignment;
pub mod clock;
pub mod ids;
pub mod proxy;
pub mod secret;
pub mod time;

pub use assignment::Assignment;
pub use clock::{Clock, FixedClock, SystemClock, now_ms};
pub use ids::{ConfigId, CredentialRef, ProxyId, RuleId, TabId};
pub use proxy::{BadCountryCode, CountryCode, Protocol, UnknownProtocol};
pub use secret::Secret;
pub use time::{LocalTime, Timestamp};
