//! Bodies of the proxy routes: a stored proxy as the API shows it (never
//! its login, only whether it has one), a page of them, the query that asks
//! for a page, a new proxy and a change to one.

use serde::{Deserialize, Serialize};

/// A stored proxy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProxyView {
    /// Its id.
    pub id: i64,
    /// `http`, `https`, `socks4`, `socks4a` or `socks5`.
    pub protocol: String,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Whether it has a login (kept sealed in the vault, never shown).
    pub has_login: bool,
    /// Configured exit country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Configured region.
    pub region: Option<String>,
    /// Configured city.
    pub city: Option<String>,
    /// Weight 0 to 100.
    pub weight: u8,
    /// Rotation group.
    pub group: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Used for selection.
    pub enabled: bool,
    /// `unknown`, `up` or `down`.
    pub status: String,
    /// Last measured latency (ms).
    pub latency_ms: Option<f64>,
    /// Exit address seen by the last health check.
    pub exit_ip: Option<String>,
    /// Country of that exit.
    pub exit_country: Option<String>,
    /// When it was last checked (ms since the epoch).
    pub last_checked_at: Option<i64>,
    /// Created (ms since the epoch).
    pub created_at: i64,
    /// Last changed (ms since the epoch).
    pub updated_at: i64,
}

/// One page of proxies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProxyList {
    /// The proxies.
    pub items: Vec<ProxyView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The order of a proxy page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProxyOrder {
    /// The order they were added.
    #[default]
    Id,
    /// By host, then port.
    Host,
    /// Fastest first (unmeasured last).
    Latency,
}

/// `GET /api/v1/proxies` query.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProxyQuery {
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Only this status.
    #[param(pattern = "^(unknown|up|down)$")]
    pub status: Option<String>,
    /// Only this rotation group.
    pub group: Option<String>,
    /// Only this country (measured exit, else configured).
    pub country: Option<String>,
    /// Only proxies with this tag.
    pub tag: Option<String>,
    /// Only hosts containing this text.
    pub q: Option<String>,
    /// Only enabled (true) or disabled (false) ones.
    pub enabled: Option<bool>,
    /// The order.
    #[param(inline)]
    pub sort: Option<ProxyOrder>,
    /// Largest first.
    pub desc: Option<bool>,
}

/// `POST /api/v1/proxies`.
#[derive(Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProxyBody {
    /// `http` (default), `https`, `socks4`, `socks4a` or `socks5`.
    #[serde(default)]
    #[schema(pattern = "^(http|https|socks4|socks4a|socks5)$")]
    pub protocol: Option<String>,
    /// Host name or address.
    #[schema(min_length = 1, max_length = 253)]
    pub host: String,
    /// Port.
    #[schema(minimum = 1, maximum = 65535)]
    #[serde(deserialize_with = "crate::types::whole")]
    pub port: u16,
    /// Login name (sealed in the vault).
    #[serde(default)]
    pub username: Option<String>,
    /// Password (sealed in the vault; never shown again).
    #[serde(default)]
    pub password: Option<String>,
    /// Exit country (ISO 3166-1 alpha-2).
    #[serde(default)]
    pub country: Option<String>,
    /// Rotation group.
    #[serde(default)]
    pub group: Option<String>,
    /// Weight 0 to 100 (default 50).
    #[serde(default, deserialize_with = "crate::types::opt_whole")]
    #[schema(maximum = 100)]
    pub weight: Option<u8>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Stored but not used for selection.
    #[serde(default)]
    pub disabled: bool,
}

/// The login never appears in `Debug` output.
impl std::fmt::Debug for NewProxyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewProxyBody")
            .field("protocol", &self.protocol)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username.as_ref().map(|_| "***"))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// `PATCH /api/v1/proxies/{id}`: absent fields stay; `""` clears a text.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyChange {
    /// Exit country.
    #[serde(default)]
    pub country: Option<String>,
    /// Region.
    #[serde(default)]
    pub region: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// Rotation group.
    #[serde(default)]
    pub group: Option<String>,
    /// Weight 0 to 100.
    #[serde(default, deserialize_with = "crate::types::opt_whole")]
    #[schema(maximum = 100)]
    pub weight: Option<u8>,
    /// Used for selection.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Replaces the tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// A proxy with the version it is at (its `ETag`).
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned {
    /// The proxy.
    pub proxy: ProxyView,
    /// Its entity tag.
    pub etag: String,
}

/// A weight over 100, refused before anything else is looked at.
pub(crate) fn check_weight(weight: Option<u8>) -> Result<(), crate::ApiError> {
    match weight {
        Some(w) if w > 100 => Err(
            crate::ApiError::invalid(format!("weight {w} is out of range"))
                .at("/weight")
                .hint("use 0 (never chosen) to 100"),
        ),
        _ => Ok(()),
    }
}

impl ProxyView {
    /// The entity tag of this state of the proxy (strong: any field that
    /// changes changes it).
    pub fn etag(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        serde_json::to_string(self).unwrap_or_default().hash(&mut h);
        format!("\"{:016x}\"", h.finish())
    }
}

/// Where a page ended, as the opaque `cursor` text: the order it was taken
/// in, the last row's sort key and its id.
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor {
    /// The order of the pages.
    pub order: ProxyOrder,
    /// Largest first.
    pub desc: bool,
    /// The last row's key: a number, or a text.
    pub key: CursorKey,
    /// The last row's id.
    pub id: i64,
}

/// A cursor's sort key.
#[derive(Clone, Debug, PartialEq)]
pub enum CursorKey {
    /// A numeric key.
    Number(f64),
    /// A text key.
    Text(String),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Cursor {
    /// The cursor text.
    pub fn encode(&self) -> String {
        let order = match self.order {
            ProxyOrder::Id => "i",
            ProxyOrder::Host => "h",
            ProxyOrder::Latency => "l",
        };
        let key = match &self.key {
            CursorKey::Number(n) => format!("n{}", hex(&n.to_be_bytes())),
            CursorKey::Text(t) => format!("t{}", hex(t.as_bytes())),
        };
        format!("{order}{}.{key}.{}", u8::from(self.desc), self.id)
    }

    /// Reads a cursor text; `None` when it is not one.
    pub fn decode(text: &str) -> Option<Cursor> {
        let mut parts = text.split('.');
        let (head, key, id) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || head.len() != 2 {
            return None;
        }
        let order = match &head[..1] {
            "i" => ProxyOrder::Id,
            "h" => ProxyOrder::Host,
            "l" => ProxyOrder::Latency,
            _ => return None,
        };
        let desc = match &head[1..] {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        let key = match key.split_at_checked(1)? {
            ("n", h) => CursorKey::Number(f64::from_be_bytes(unhex(h)?.try_into().ok()?)),
            ("t", h) => CursorKey::Text(String::from_utf8(unhex(h)?).ok()?),
            _ => return None,
        };
        Some(Cursor {
            order,
            desc,
            key,
            id: id.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_nonsense_is_no_cursor() {
        for c in [
            Cursor {
                order: ProxyOrder::Id,
                desc: false,
                key: CursorKey::Number(41.0),
                id: 41,
            },
            Cursor {
                order: ProxyOrder::Latency,
                desc: true,
                key: CursorKey::Number(1e300),
                id: 7,
            },
            Cursor {
                order: ProxyOrder::Host,
                desc: false,
                key: CursorKey::Text("é.proxy:00080".into()),
                id: 3,
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        for bad in [
            "",
            "x0.n00.1",
            "i2.n00.1",
            "i0.nzz.1",
            "i0.n0011.1",
            "i0.t80.1",
            "i0.n0000000000000000.x",
            "i0.t61.1.2",
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
