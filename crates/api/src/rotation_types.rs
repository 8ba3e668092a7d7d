//! Bodies of the rotation routes: a stored rotation config in brief, and
//! with its whole document (the one `vip rotation validate` checks).

use serde::{Deserialize, Serialize};

/// A stored rotation config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotationView {
    /// Its id.
    pub id: i64,
    /// Its unique name.
    pub name: String,
    /// The strategy (kebab-case: round-robin, sticky-session, custom-rules, ...).
    pub strategy: String,
    /// The group it rotates in (none: the whole pool).
    pub target_group: Option<String>,
    /// Whether it is the active config of its group.
    pub is_active: bool,
    /// Created (ms since the epoch).
    pub created_at: i64,
    /// Last changed (ms since the epoch).
    pub updated_at: i64,
    /// The whole document in canonical form (name, strategy,
    /// target_group, common_config, strategy_config, rules), as
    /// `POST /api/v1/rotations` takes it.
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
}
