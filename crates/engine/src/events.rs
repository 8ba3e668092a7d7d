//! Rotation events: the engine's report that the proxy chosen for some key
//! changed, with the previous and new proxy and why. The shell writes them to
//! the `rotation_events` table; the engine only decides them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{ConfigId, ProxyId, RuleId, TabId};
use crate::time::Timestamp;

/// What the chosen proxy belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum RotationKey {
    /// The proxy a tab's requests go through.
    Tab(TabId),
    /// A sticky-session mapping (host or registrable domain).
    Domain(String),
    /// The proxy a holding strategy (time-based, failover, fastest) holds.
    Held,
}

impl fmt::Display for RotationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RotationKey::Tab(t) => write!(f, "{t}"),
            RotationKey::Domain(d) => write!(f, "domain {d}"),
            RotationKey::Held => f.write_str("held proxy"),
        }
    }
}

/// Why the proxy changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationReason {
    /// The strategy moved on as designed (interval, request count, order).
    Scheduled,
    /// The previous proxy became unusable.
    Failure,
    /// A user asked for a rotation.
    Manual,
    /// First choice for this key since the engine started.
    Startup,
    /// A custom rule chose the proxy.
    RuleTriggered,
    /// A sticky mapping's time ran out.
    TtlExpired,
    /// A preferred proxy proved healthy again (failover returning).
    Recovered,
}

impl RotationReason {
    /// The snake_case name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationReason::Scheduled => "scheduled",
            RotationReason::Failure => "failure",
            RotationReason::Manual => "manual",
            RotationReason::Startup => "startup",
            RotationReason::RuleTriggered => "rule_triggered",
            RotationReason::TtlExpired => "ttl_expired",
            RotationReason::Recovered => "recovered",
        }
    }
}

/// One change of the proxy chosen for a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationEvent {
    /// The rotation config that made the choice.
    pub rotation: ConfigId,
    /// What the proxy is chosen for.
    pub key: RotationKey,
    /// The proxy before, if any.
    pub previous: Option<ProxyId>,
    /// The proxy now, if any (none when a mapping expired).
    pub new: Option<ProxyId>,
    /// Why.
    pub reason: RotationReason,
    /// The rule behind a `rule_triggered` change.
    pub rule: Option<RuleId>,
    /// When.
    pub at: Timestamp,
}
