//! `proxies`: the pool. Adding checks every field and finds duplicates by
//! protocol, host, port and a keyed fingerprint of the username (so two
//! sessions of one provider gateway are distinct proxies). Weight changes,
//! batch updates and normalisation run in one transaction each.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use vip_engine::{CountryCode, HealthSnapshot, Protocol, Proxy, ProxyId};

use super::credentials::insert_credential;
use crate::vault::{Secret, Vault, VaultError};
use crate::{Result, Store, StoreError, now_ms};

/// A proxy to add.
#[derive(Clone, Debug, Default)]
pub struct NewProxy {
    /// Protocol; `None` means http.
    pub protocol: Option<Protocol>,
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Username, when the proxy needs one.
    pub username: Option<Secret>,
    /// Password (with a username).
    pub password: Option<Secret>,
    /// ISO 3166-1 alpha-2 exit country.
    pub country: Option<String>,
    /// Exit region.
    pub region: Option<String>,
    /// Exit city.
    pub city: Option<String>,
    /// 0–100; `None` means 50.
    pub weight: Option<u8>,
    /// Rotation group.
    pub group: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Disabled proxies are kept but never selected.
    pub disabled: bool,
}

/// A stored proxy (never with its secrets).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProxyRecord {
    /// Row id.
    pub id: i64,
    /// Protocol.
    pub protocol: Protocol,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Vault credential id, when it has credentials.
    pub credential_id: Option<i64>,
    /// Exit country.
    pub country: Option<String>,
    /// Exit region.
    pub region: Option<String>,
    /// Exit city.
    pub city: Option<String>,
    /// Weight 0–100.
    pub weight: u8,
    /// Rotation group.
    pub group: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Enabled for selection.
    pub enabled: bool,
    /// unknown, up or down.
    pub status: String,
    /// Last measured latency.
    pub latency_ms: Option<f64>,
    /// Exit IP seen by the last health check.
    pub exit_ip: Option<String>,
    /// When the last health check ran (ms).
    pub last_checked_at: Option<i64>,
    /// Country of the exit IP, from a MaxMind-format database.
    pub exit_country: Option<String>,
    /// Created (ms).
    pub created_at: i64,
    /// Last changed (ms).
    pub updated_at: i64,
}

/// Changes to a stored proxy; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProxyPatch {
    /// New exit country (`Some("")` clears it).
    pub country: Option<String>,
    /// New region (`Some("")` clears it).
    pub region: Option<String>,
    /// New city (`Some("")` clears it).
    pub city: Option<String>,
    /// New group (`Some("")` clears it).
    pub group: Option<String>,
    /// New weight.
    pub weight: Option<u8>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Replace the tags.
    pub tags: Option<Vec<String>>,
}

/// What adding a proxy did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "id", rename_all = "snake_case")]
pub enum AddOutcome {
    /// Stored under this id.
    Added(i64),
    /// Already present under this id; nothing changed.
    Duplicate(i64),
}

pub(crate) const COLUMNS: &str = "id, protocol, host, port, credential_id, country, region, city, weight, rotation_group, \
                       tags, enabled, status, latency_ms, created_at, updated_at, exit_ip, last_checked_at, exit_country";

pub(crate) fn record(r: &Row<'_>) -> rusqlite::Result<ProxyRecord> {
    let protocol: String = r.get(1)?;
    let tags: String = r.get(10)?;
    Ok(ProxyRecord {
        id: r.get(0)?,
        protocol: protocol.parse().unwrap_or(Protocol::Http),
        host: r.get(2)?,
        port: r.get(3)?,
        credential_id: r.get(4)?,
        country: r.get(5)?,
        region: r.get(6)?,
        city: r.get(7)?,
        weight: r.get(8)?,
        group: r.get(9)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        enabled: r.get(11)?,
        status: r.get(12)?,
        latency_ms: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        exit_ip: r.get(16)?,
        last_checked_at: r.get(17)?,
        exit_country: r.get(18)?,
    })
}

/// Checks a host name or address: non-empty, no spaces or URL syntax.
pub fn check_host(host: &str) -> Result<(), crate::InvalidValue> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.is_empty() {
        return Err("missing host".into());
    }
    if bare.len() > 253 {
        return Err("host is longer than 253 characters".into());
    }
    if let Some(c) = bare
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')))
    {
        return Err(
            format!("host {host:?} contains {c:?}; use a host name or an IP address").into(),
        );
    }
    Ok(())
}

impl NewProxy {
    fn validate(&self) -> Result<()> {
        check_host(&self.host).map_err(|m| StoreError::invalid("host", m.0))?;
        if self.port == 0 {
            return Err(StoreError::invalid(
                "port",
                "0 is not a port: use 1 to 65535",
            ));
        }
        if let Some(w) = self.weight.filter(|w| *w > 100) {
            return Err(StoreError::invalid(
                "weight",
                format!("{w} is out of range: use 0 to 100"),
            ));
        }
        if let Some(c) = &self.country {
            CountryCode::parse(c).map_err(|m| StoreError::invalid("country", m.to_string()))?;
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(StoreError::invalid(
                "username",
                "a password was given without a username",
            ));
        }
        Ok(())
    }
}

/// Adds a proxy on `conn` inside the caller's transaction.
pub(crate) fn insert_proxy(
    conn: &Connection,
    vault: Option<&Vault>,
    p: &NewProxy,
) -> Result<AddOutcome> {
    p.validate()?;
    let protocol = p.protocol.unwrap_or(Protocol::Http);
    let host = p.host.to_ascii_lowercase();
    let fingerprint = match (&p.username, vault) {
        (Some(_), None) => return Err(VaultError::NotInitialized.into()),
        (Some(u), Some(v)) => v.fingerprint(u.expose()),
        (None, _) => String::new(),
    };
    let existing: Option<i64> = conn
        .query_row(
            "SELECT id FROM proxies WHERE protocol = ?1 AND host = ?2 AND port = ?3 AND credential_fingerprint = ?4",
            params![protocol.as_str(), host, p.port, fingerprint],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = existing {
        return Ok(AddOutcome::Duplicate(id));
    }
    let credential_id = match (&p.username, vault) {
        (Some(u), Some(v)) => {
            let empty = Secret::default();
            Some(insert_credential(
                conn,
                v,
                u,
                p.password.as_ref().unwrap_or(&empty),
                None,
            )?)
        }
        _ => None,
    };
    let now = now_ms();
    conn.execute(
        "INSERT INTO proxies (protocol, host, port, credential_id, credential_fingerprint, country, region, city,
             weight, rotation_group, tags, enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
        params![
            protocol.as_str(),
            host,
            p.port,
            credential_id,
            fingerprint,
            p.country.as_ref().map(|c| c.to_ascii_uppercase()),
            p.region,
            p.city,
            p.weight.unwrap_or(50),
            p.group.as_ref().filter(|g| !g.is_empty()),
            serde_json::to_string(&p.tags).unwrap_or_else(|_| "[]".into()),
            !p.disabled,
            now,
        ],
    )?;
    Ok(AddOutcome::Added(conn.last_insert_rowid()))
}

impl Store {
    /// Adds one proxy (credentials go to the vault) in one transaction.
    pub fn add_proxy(&self, vault: Option<&Vault>, p: &NewProxy) -> Result<AddOutcome> {
        let tx = self.conn().unchecked_transaction()?;
        let outcome = insert_proxy(&tx, vault, p)?;
        tx.commit()?;
        Ok(outcome)
    }

    /// One proxy.
    pub fn get_proxy(&self, id: i64) -> Result<ProxyRecord> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM proxies WHERE id = ?1"),
                [id],
                record,
            )
            .optional()?
            .ok_or_else(|| StoreError::not_found("proxy", id))
    }

    /// Every proxy, or those of one group, by id.
    pub fn list_proxies(&self, group: Option<&str>) -> Result<Vec<ProxyRecord>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {COLUMNS} FROM proxies WHERE ?1 IS NULL OR rotation_group = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([group], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The one country the enabled proxies of `group` (the whole pool for
    /// `None`) exit in, taking each proxy's last measured exit over its
    /// configured country; `None` when they differ or one has neither.
    /// One query: no proxy rows are read out.
    pub fn common_exit_country(&self, group: Option<&str>) -> Result<Option<String>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT DISTINCT upper(COALESCE(exit_country, country)) FROM proxies
             WHERE enabled = 1 AND (?1 IS NULL OR rotation_group = ?1) LIMIT 2",
        )?;
        let found: Vec<Option<String>> = stmt
            .query_map([group], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(match found.as_slice() {
            [Some(c)] => Some(c.clone()),
            _ => None,
        })
    }

    /// A group's proxies, heaviest first.
    pub fn proxies_by_weight(&self, group: &str) -> Result<Vec<ProxyRecord>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {COLUMNS} FROM proxies WHERE rotation_group = ?1 ORDER BY weight DESC, id"
        ))?;
        let rows = stmt.query_map([group], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes a proxy with its credential and statistics.
    pub fn remove_proxy(&self, id: i64) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        let credential: Option<Option<i64>> = tx
            .query_row(
                "SELECT credential_id FROM proxies WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(credential) = credential else {
            return Err(StoreError::not_found("proxy", id));
        };
        tx.execute("DELETE FROM proxy_usage_stats WHERE proxy_id = ?1", [id])?;
        tx.execute("DELETE FROM proxies WHERE id = ?1", [id])?;
        if let Some(c) = credential {
            tx.execute("DELETE FROM encrypted_credentials WHERE id = ?1", [c])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Applies a patch to one proxy after checking it.
    pub fn update_proxy(&self, id: i64, patch: &ProxyPatch) -> Result<ProxyRecord> {
        if let Some(c) = patch.country.as_deref().filter(|c| !c.is_empty()) {
            CountryCode::parse(c).map_err(|m| StoreError::invalid("country", m.to_string()))?;
        }
        if let Some(w) = patch.weight.filter(|w| *w > 100) {
            return Err(StoreError::invalid(
                "weight",
                format!("{w} is out of range: use 0 to 100"),
            ));
        }
        let current = self.get_proxy(id)?;
        let pick = |new: &Option<String>, old: Option<String>| match new {
            Some(v) if v.is_empty() => None,
            Some(v) => Some(v.clone()),
            None => old,
        };
        self.conn().execute(
            "UPDATE proxies SET country = ?1, region = ?2, city = ?3, rotation_group = ?4, weight = ?5, enabled = ?6,
                 tags = ?7, updated_at = ?8 WHERE id = ?9",
            params![
                pick(&patch.country, current.country).map(|c| c.to_ascii_uppercase()),
                pick(&patch.region, current.region),
                pick(&patch.city, current.city),
                pick(&patch.group, current.group),
                patch.weight.unwrap_or(current.weight),
                patch.enabled.unwrap_or(current.enabled),
                serde_json::to_string(patch.tags.as_ref().unwrap_or(&current.tags)).unwrap_or_else(|_| "[]".into()),
                now_ms(),
                id,
            ],
        )?;
        self.get_proxy(id)
    }

    /// Records a health check: latency and exit IP when measured, the status
    /// when the caller's hysteresis changed it. Does not touch `updated_at`
    /// (checks are not configuration changes).
    pub fn record_check(
        &self,
        proxy: ProxyId,
        status: Option<&str>,
        latency_ms: Option<f64>,
        exit: (Option<&str>, Option<&str>),
        at: i64,
    ) -> Result<()> {
        let (exit_ip, exit_country) = exit;
        let id = proxy.0 as i64;
        if let Some(s) = status.filter(|s| !matches!(*s, "up" | "down" | "unknown")) {
            return Err(StoreError::invalid(
                "status",
                format!("{s:?}: use up, down or unknown"),
            ));
        }
        self.conn().execute(
            "UPDATE proxies SET status = COALESCE(?1, status), latency_ms = COALESCE(?2, latency_ms),
                 exit_ip = COALESCE(?3, exit_ip), last_checked_at = ?4, exit_country = COALESCE(?6, exit_country) WHERE id = ?5",
            params![status, latency_ms, exit_ip, at, id, exit_country],
        )?;
        Ok(())
    }

    /// Sets one proxy's weight.
    pub fn set_weight(&self, id: i64, weight: u8) -> Result<()> {
        self.set_weights(&[(id, weight)])
    }

    /// Sets several weights in one transaction: all or none.
    pub fn set_weights(&self, weights: &[(i64, u8)]) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        for &(id, w) in weights {
            if w > 100 {
                return Err(StoreError::invalid(
                    format!("weight of proxy {id}"),
                    format!("{w} is out of range: use 0 to 100"),
                ));
            }
            let n = tx.execute(
                "UPDATE proxies SET weight = ?1, updated_at = ?2 WHERE id = ?3",
                params![w, now_ms(), id],
            )?;
            if n == 0 {
                return Err(StoreError::not_found("proxy", id));
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Scales a group's weights to sum to 100 (largest remainder), never
    /// turning a positive weight into 0 (so with more than 100 weighted
    /// proxies the sum exceeds 100). All zero: equal shares. Returns
    /// (id, old, new) per proxy.
    pub fn normalize_weights(&self, group: Option<&str>) -> Result<Vec<(i64, u8, u8)>> {
        let proxies = self.list_proxies(group)?;
        if proxies.is_empty() {
            return Err(StoreError::invalid(
                "group",
                format!("{} has no proxies", group.unwrap_or("the pool")),
            ));
        }
        let total: u32 = proxies.iter().map(|p| u32::from(p.weight)).sum();
        let shares: Vec<f64> = proxies
            .iter()
            .map(|p| {
                if total == 0 {
                    100.0 / proxies.len() as f64
                } else {
                    f64::from(p.weight) * 100.0 / f64::from(total)
                }
            })
            .collect();
        let mut new: Vec<u32> = shares.iter().map(|s| s.floor() as u32).collect();
        let mut order: Vec<usize> = (0..shares.len()).collect();
        order.sort_by(|&a, &b| {
            (shares[b] - shares[b].floor()).total_cmp(&(shares[a] - shares[a].floor()))
        });
        let mut missing = 100u32.saturating_sub(new.iter().sum());
        for &i in &order {
            if missing == 0 {
                break;
            }
            new[i] += 1;
            missing -= 1;
        }
        for (i, p) in proxies.iter().enumerate() {
            if (p.weight > 0 || total == 0) && new[i] == 0 {
                new[i] = 1;
            }
        }
        let changes: Vec<(i64, u8, u8)> = proxies
            .iter()
            .zip(&new)
            .map(|(p, &n)| (p.id, p.weight, n.min(100) as u8))
            .collect();
        self.set_weights(
            &changes
                .iter()
                .map(|&(id, _, n)| (id, n))
                .collect::<Vec<_>>(),
        )?;
        Ok(changes)
    }

    /// A cheap fingerprint of everything the running engine loads (pool,
    /// configs, rules): it changes whenever another command edits them.
    pub fn config_fingerprint(&self) -> Result<String> {
        Ok(self.conn().query_row(
            "SELECT (SELECT COUNT(*) || ':' || COALESCE(MAX(updated_at), 0) || ':' || COALESCE(MAX(id), 0) FROM proxies)
                 || '|' || (SELECT COUNT(*) || ':' || COALESCE(MAX(updated_at), 0) || ':' || COALESCE(SUM(is_active * id), 0) FROM rotation_configs)
                 || '|' || (SELECT COUNT(*) || ':' || COALESCE(MAX(id), 0) FROM proxy_rotation_rules)",
            [],
            |r| r.get(0),
        )?)
    }

    /// The pool as the engine sees it (no secrets: a credential reference).
    pub fn engine_pool(&self) -> Result<Vec<Proxy>> {
        Ok(self
            .list_proxies(None)?
            .into_iter()
            .map(|r| Proxy {
                id: ProxyId(r.id as u64),
                protocol: r.protocol,
                host: r.host,
                port: r.port,
                credential: r.credential_id.map(|c| vip_engine::CredentialRef(c as u64)),
                country: r
                    .country
                    .as_deref()
                    .and_then(|c| CountryCode::parse(c).ok()),
                region: r.region,
                city: r.city,
                weight: r.weight,
                group: r.group,
                tags: r.tags,
                enabled: r.enabled,
                health: HealthSnapshot {
                    latency_ewma: r
                        .latency_ms
                        .map(|ms| std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0)),
                    ..HealthSnapshot::default()
                },
            })
            .collect())
    }
}
