//! `Assignment`: where the connections of a gateway listener (a tab's
//! identity, or the shared listener) go: a rotation config, the config the
//! engine has active for a group (within a country), one proxy, or no
//! proxy at all.

use crate::{ConfigId, CountryCode, ProxyId};

/// Where a listener's connections go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assignment {
    /// Chosen by this rotation config.
    Rotation(ConfigId),
    /// Chosen by the config the engine has active for `group` (`None`: the
    /// whole pool; see `Engine::select_active`), within `country` when set.
    /// Activating another config changes what it runs at once.
    Active {
        /// The rotation group asked for.
        group: Option<String>,
        /// The exit country asked for.
        country: Option<CountryCode>,
    },
    /// Always this proxy.
    Pinned(ProxyId),
    /// Without a proxy (explicitly asked for; never a fallback).
    Direct,
}
