//! Bodies of the many-proxies routes: an import (any list format) with a
//! verdict per line, an export, and bulk changes.

use serde::{Deserialize, Serialize};

/// A list to import, and what every entry gets where it says nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// The list: one proxy per line (`host:port`,
    /// `scheme://user:pass@host:port`, `host:port:user:pass`, ...), CSV
    /// with a header, FoxyProxy JSON or Clash YAML (detected).
    #[schema(min_length = 1, pattern = r"\S")]
    pub text: String,
    /// Rotation group.
    #[serde(default)]
    pub group: Option<String>,
    /// Exit country (two letters).
    #[serde(default)]
    pub country: Option<String>,
    /// Region.
    #[serde(default)]
    pub region: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// Weight 0 to 100.
    #[serde(default, deserialize_with = "crate::types::opt_whole")]
    #[schema(maximum = 100)]
    pub weight: Option<u8>,
    /// Tags added to every entry.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Store every entry disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// What happened to one line or entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineVerdict {
    /// `imported`, `duplicate` or `invalid`.
    pub verdict: String,
    /// Line (or entry) number, from 1.
    pub at: u64,
    /// The new or existing proxy.
    pub id: Option<i64>,
    /// Why it was refused, and how to fix it.
    pub reason: Option<String>,
}

/// The outcome of an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportResult {
    /// The detected format: lines, csv, foxy_proxy or clash.
    pub format: String,
    /// What `at` counts: line or entry.
    pub unit: String,
    /// Entries stored.
    pub imported: u64,
    /// Entries already stored.
    pub duplicates: u64,
    /// Entries refused.
    pub invalid: u64,
    /// Every verdict, in input order.
    pub verdicts: Vec<LineVerdict>,
}

/// What an export holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// urls (default), csv or pac. Logins are never exported through the
    /// API (`vip proxy export --with-credentials` on this machine can).
    pub format: Option<String>,
    /// Only this group.
    pub group: Option<String>,
}

/// A change to many proxies at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkChange {
    /// The proxies (1 to 10,000).
    #[schema(min_items = 1, max_items = 10000)]
    pub ids: Vec<i64>,
    /// delete, enable, disable or assign-group.
    #[schema(pattern = "^(delete|enable|disable|assign-group)$")]
    pub action: String,
    /// The group for assign-group (empty: no group).
    #[serde(default)]
    pub group: Option<String>,
}

/// What a bulk change did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BulkResult {
    /// Proxies changed (or deleted).
    pub affected: u64,
    /// Ids that are not stored (nothing done for them).
    pub missing: Vec<i64>,
}
