//! Request and response bodies of the control API (JSON).

use serde::{Deserialize, Serialize};

/// Where an identity's traffic goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    deny_unknown_fields,
    from = "RawAssignment"
)]
pub enum AssignmentSpec {
    /// The active rotation config (the default).
    #[default]
    Default,
    /// Always this proxy.
    Proxy {
        /// Proxy id.
        id: i64,
    },
    /// Rotated within a proxy group.
    Group {
        /// Group name.
        group: String,
    },
    /// Rotated within one exit country.
    Country {
        /// ISO 3166-1 alpha-2 code.
        country: String,
    },
    /// By a stored rotation config (name or id).
    Rotation {
        /// Config name or id.
        config: String,
    },
    /// Without a proxy (explicitly).
    Direct,
}

/// [`AssignmentSpec`] as read: every variant a struct, so unknown fields
/// are refused for the field-less kinds too (serde lets them through on a
/// unit variant), and ids written as whole floats (`7.0`, valid JSON
/// Schema integers) are taken.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawAssignment {
    Default {},
    Proxy {
        #[serde(deserialize_with = "whole")]
        id: i64,
    },
    Group {
        group: String,
    },
    Country {
        country: String,
    },
    Rotation {
        config: String,
    },
    Direct {},
}

impl From<RawAssignment> for AssignmentSpec {
    fn from(raw: RawAssignment) -> AssignmentSpec {
        match raw {
            RawAssignment::Default {} => AssignmentSpec::Default,
            RawAssignment::Proxy { id } => AssignmentSpec::Proxy { id },
            RawAssignment::Group { group } => AssignmentSpec::Group { group },
            RawAssignment::Country { country } => AssignmentSpec::Country { country },
            RawAssignment::Rotation { config } => AssignmentSpec::Rotation { config },
            RawAssignment::Direct {} => AssignmentSpec::Direct,
        }
    }
}

/// A whole number, also when written as a float with no fraction (a JSON
/// Schema integer), within `T`'s range.
pub(crate) fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    let n = serde_json::Number::deserialize(d)?;
    let int = n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= -(2f64.powi(63)) && *f < 2f64.powi(63))
            .map(|f| f as i64)
    });
    int.and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number in range")))
}

/// [`whole`] for an optional field (`null` or absent is `None`).
pub(crate) fn opt_whole<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    #[derive(Deserialize)]
    struct W<T: TryFrom<i64>>(#[serde(deserialize_with = "whole")] T);
    Ok(Option::<W<T>>::deserialize(d)?.map(|w| w.0))
}

impl std::fmt::Display for AssignmentSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AssignmentSpec::Default => write!(f, "active rotation"),
            AssignmentSpec::Proxy { id } => write!(f, "proxy {id}"),
            AssignmentSpec::Group { group } => write!(f, "group {group}"),
            AssignmentSpec::Country { country } => write!(f, "country {country}"),
            AssignmentSpec::Rotation { config } => write!(f, "rotation {config}"),
            AssignmentSpec::Direct => write!(f, "direct"),
        }
    }
}

/// `POST /api/v1/tabs`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenTab {
    /// What to load (http or https).
    #[schema(min_length = 1, max_length = 8192)]
    pub url: String,
    /// A named identity (created on first use); none: a fresh one.
    #[serde(default)]
    pub identity: Option<String>,
    /// Where its traffic goes (for a new identity; an existing named one
    /// keeps its own and refuses a different one).
    #[serde(default)]
    pub assignment: Option<AssignmentSpec>,
    /// WebRTC policy for a new identity.
    #[serde(default)]
    #[schema(value_type = Option<WebRtc>)]
    pub webrtc: Option<String>,
    /// Unnamed identities sharing a key share one context (session restore).
    #[serde(default)]
    pub shared_with: Option<String>,
    /// Geo policy of a new identity: measured, configured or strict
    /// (default: vip serve's).
    #[serde(default)]
    #[schema(value_type = Option<Geo>)]
    pub geo: Option<String>,
}

/// A tab as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tab {
    /// Tab id.
    pub id: i64,
    /// Identity name (none: unnamed).
    pub identity: Option<String>,
    /// The unnamed identity's key (tabs with the same key share it).
    pub anonymous: Option<String>,
    /// Current URL.
    pub url: String,
    /// Where its traffic goes.
    pub assignment: AssignmentSpec,
    /// The country its timezone and languages follow, if known.
    pub country: Option<String>,
    /// Its timezone.
    pub timezone: String,
    /// WebRTC policy.
    #[schema(value_type = WebRtc)]
    pub webrtc: String,
    /// Requests blocked in it.
    pub blocked: u64,
    /// `open` or `crashed`.
    pub state: String,
}

/// A saved session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// Its name.
    pub name: String,
    /// How many tabs.
    pub tabs: usize,
    /// When it was saved (ms since the epoch).
    pub saved_at: i64,
}

/// `GET /api/v1/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Status {
    /// `running`, `off` (`--no-browser`), or why it is not running.
    pub browser: String,
    /// Open tabs.
    pub tabs: usize,
    /// The DevTools endpoint, when `--devtools-port` is set.
    pub devtools: Option<String>,
}

/// `POST /api/v1/reload`: what the daemon runs after reading the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reloaded {
    /// The active rotation of the whole pool, as `vip serve` shows it.
    pub rotation: String,
    /// Proxies whose login the daemon cannot read (its vault is locked, or
    /// was made or re-keyed under a password it cannot find).
    #[serde(default)]
    pub unreadable_logins: usize,
}

/// `POST /api/v1/identities`: a named identity made ahead of its first tab.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIdentity {
    /// Its name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Where its traffic goes (default: the active rotation).
    #[serde(default)]
    pub assignment: Option<AssignmentSpec>,
    /// WebRTC policy (default: disable_non_proxied_udp).
    #[serde(default)]
    #[schema(value_type = Option<WebRtc>)]
    pub webrtc: Option<String>,
    /// Geo policy: measured, configured or strict (default: vip serve's).
    #[serde(default)]
    #[schema(value_type = Option<Geo>)]
    pub geo: Option<String>,
}

/// A named identity as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    /// Its name.
    pub name: String,
    /// Where its traffic goes.
    pub assignment: AssignmentSpec,
    /// WebRTC policy.
    #[schema(value_type = WebRtc)]
    pub webrtc: String,
    /// Whether cookies and local data are saved.
    pub saved_storage: bool,
    /// Tabs open in it now.
    pub open_tabs: usize,
    /// Its own geo policy (none: vip serve's).
    #[serde(default)]
    #[schema(value_type = Option<Geo>)]
    pub geo: Option<String>,
}

/// `GET /api/v1/identities/{name}/cookies?format=netscape|json`: a named
/// identity's cookies as a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CookieFile {
    /// `netscape` or `json`.
    pub format: String,
    /// How many cookies.
    pub count: usize,
    /// The file.
    pub text: String,
}

/// `POST /api/v1/identities/{name}/cookies`: a cookie file (either format,
/// detected) to add to a named identity.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CookieUpload {
    /// The file's text.
    pub text: String,
}

/// What a cookie upload did: one verdict per line or entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CookieReport {
    /// The detected format.
    pub format: String,
    /// Cookies added (or replacing one of the same name, domain and path).
    pub imported: usize,
    /// Cookies past their expiry, not added.
    pub expired: usize,
    /// Lines or entries that are not cookies.
    pub invalid: usize,
    /// `{"verdict": "imported"|"expired"|"invalid", "at": N, ...}` each.
    #[schema(value_type = Vec<Object>)]
    pub verdicts: Vec<serde_json::Value>,
}

/// One line per verdict (numbered by line for cookies.txt, by entry for
/// JSON), then the totals.
impl std::fmt::Display for CookieReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = if self.format == "json" {
            "entry"
        } else {
            "line"
        };
        for v in &self.verdicts {
            let at = &v["at"];
            match v["verdict"].as_str() {
                Some("imported") => {
                    writeln!(f, "{unit} {at}: imported {} for {}", v["name"], v["domain"])?
                }
                Some("expired") => writeln!(f, "{unit} {at}: expired, left out: {}", v["name"])?,
                _ => writeln!(
                    f,
                    "{unit} {at}: invalid: {}",
                    v["reason"].as_str().unwrap_or("?")
                )?,
            }
        }
        write!(
            f,
            "{} format: {} imported, {} expired, {} invalid",
            self.format, self.imported, self.expired, self.invalid
        )
    }
}

/// One change request as the activity log keeps it (never a body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Who asked (`cli-token`, or a dashboard session).
    pub principal: String,
    /// The method.
    pub method: String,
    /// The route template (`/api/v1/proxies/{id}`).
    pub route: String,
    /// The path asked for (`/api/v1/proxies/7`).
    pub target: String,
    /// The status it was answered with.
    pub status: u16,
}

/// A WebRTC policy, as the API names it (the schema's enum; the bodies
/// carry the name).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebRtc {
    /// No WebRTC at all (the API removed from pages).
    Disable,
    /// Only through the proxy (the default).
    DisableNonProxiedUdp,
    /// The public interface only.
    DefaultPublicInterfaceOnly,
    /// Chromium's default.
    Default,
}

/// A geo policy: what an identity's timezone and languages follow.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Geo {
    /// The exit measured through the proxy, else its configured country.
    Measured,
    /// The proxy's configured country.
    Configured,
    /// Refuse the tab when measured and configured differ.
    Strict,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_refuses_unknown_fields_and_takes_whole_floats() {
        let read = |s: &str| serde_json::from_str::<AssignmentSpec>(s);
        assert_eq!(
            read(r#"{"kind": "direct"}"#).unwrap(),
            AssignmentSpec::Direct
        );
        assert_eq!(
            read(r#"{"kind": "proxy", "id": 7.0}"#).unwrap(),
            AssignmentSpec::Proxy { id: 7 }
        );
        for bad in [
            r#"{"kind": "direct", "x": 1}"#,
            r#"{"kind": "default", "id": 1}"#,
            r#"{"kind": "proxy", "id": 7.5}"#,
            r#"{"kind": "proxy", "id": 1e300}"#,
            r#"{"kind": "teleport"}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        let back = serde_json::to_value(AssignmentSpec::Proxy { id: 3 }).unwrap();
        assert_eq!(back, serde_json::json!({"kind": "proxy", "id": 3}));
    }
}
