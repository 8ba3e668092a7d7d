//! An identity's assignment as the user wrote it → what the gateway
//! listener does and which country its timezone and languages follow. The
//! pool, a group or a country run the engine's active config for them
//! (`Assignment::Active`); unknown proxies, groups, countries and configs
//! are refused with what to look at.

use vip_api::{ApiError, AssignmentSpec};
use vip_engine::{ConfigId, CountryCode, ProxyId};
use vip_gateway::{Assignment, Gateway};
use vip_store::Store;

/// A resolved assignment.
pub struct Resolved {
    /// What the listener does.
    pub assignment: Assignment,
    /// The country the identity looks like it is in (for a pinned proxy,
    /// its configured country).
    pub country: Option<String>,
    /// The pinned proxy.
    pub proxy: Option<i64>,
    /// For a pool, group or rotation: the one country its proxies were
    /// last measured to exit in (health checks; configured where never
    /// measured), if they share one.
    pub measured: Option<String>,
}

/// The one country all proxies in `proxies` share, if they do.
fn common_country<'a>(
    mut countries: impl Iterator<Item = Option<&'a CountryCode>>,
) -> Option<String> {
    let first = countries.next()??;
    countries
        .all(|c| c == Some(first))
        .then(|| first.to_string())
}

/// Resolves `spec`.
pub fn resolve(
    spec: &AssignmentSpec,
    store: &Store,
    gateway: &Gateway,
) -> Result<Resolved, ApiError> {
    let pool = gateway.with_engine(|e| e.pool().clone());
    let enabled = || pool.proxies().iter().filter(|p| p.enabled);
    let plain = |assignment, country| Resolved {
        assignment,
        country,
        proxy: None,
        measured: None,
    };
    let active = |group: Option<&str>, country: Option<CountryCode>| Assignment::Active {
        group: group.map(str::to_string),
        country,
    };
    Ok(match spec {
        AssignmentSpec::Default => Resolved {
            measured: store.common_exit_country(None).map_err(super::internal)?,
            ..plain(
                active(None, None),
                common_country(enabled().map(|p| p.country.as_ref())),
            )
        },
        AssignmentSpec::Direct => plain(Assignment::Direct, None),
        AssignmentSpec::Proxy { id } => {
            let proxy = u64::try_from(*id)
                .ok()
                .and_then(|i| pool.get(ProxyId(i)))
                .ok_or_else(|| {
                    ApiError::not_found(format!("proxy {id} does not exist: see `vip proxy list`"))
                })?;
            // The configured country; where it really exits is learned
            // before the first page (`exit.rs`).
            let record = store.get_proxy(*id).map_err(super::internal)?;
            let country = record
                .country
                .or_else(|| proxy.country.map(|c| c.to_string()));
            Resolved {
                assignment: Assignment::Pinned(proxy.id),
                country,
                proxy: Some(*id),
                measured: None,
            }
        }
        AssignmentSpec::Country { country } => {
            let code = CountryCode::parse(country).map_err(|e| {
                ApiError::invalid(format!(
                    "country {country:?}: {e} (use a two-letter code like DE)"
                ))
            })?;
            if !enabled().any(|p| p.country == Some(code)) {
                return Err(ApiError::not_found(format!(
                    "no enabled proxy is in country {code}: see `vip proxy list`"
                )));
            }
            plain(active(None, Some(code)), Some(code.to_string()))
        }
        AssignmentSpec::Group { group } => {
            let members: Vec<_> = enabled()
                .filter(|p| p.group.as_deref() == Some(group))
                .collect();
            if members.is_empty() {
                return Err(ApiError::not_found(format!(
                    "no enabled proxy is in group {group:?}: see `vip proxy list`"
                )));
            }
            // The group's own active config, else the pool's narrowed to
            // the group (the engine decides which, at each connection).
            Resolved {
                measured: store
                    .common_exit_country(Some(group))
                    .map_err(super::internal)?,
                ..plain(
                    active(Some(group), None),
                    common_country(members.iter().map(|p| p.country.as_ref())),
                )
            }
        }
        AssignmentSpec::Rotation { config } => {
            let record = store.find_rotation(config).map_err(|_| {
                ApiError::not_found(format!(
                    "rotation config {config:?} does not exist: see `vip rotation list`"
                ))
            })?;
            let group = record.target_group.as_deref();
            let countries = enabled()
                .filter(|p| group.is_none() || p.group.as_deref() == group)
                .map(|p| p.country.as_ref());
            Resolved {
                measured: store.common_exit_country(group).map_err(super::internal)?,
                ..plain(
                    Assignment::Rotation(ConfigId(record.id as u64)),
                    common_country(countries),
                )
            }
        }
    })
}
