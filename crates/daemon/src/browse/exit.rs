//! Where a pinned identity really exits: before its first page the
//! proxy's exit country is taken from a health check no older than
//! `max_age`, or measured now through the proxy (the check URL's answer is
//! the exit IP, the GeoIP database names its country). The identity's
//! timezone, locale and languages follow it under the `measured` policy
//! (the configured country when nothing can be measured, with a warning);
//! `configured` keeps the proxy's configured country; `strict` refuses a
//! tab whose measured and configured countries differ, or that cannot be
//! measured.

use std::time::Duration;

use vip_api::ApiError;
use vip_gateway::Credentials;
use vip_gateway::health::CheckSettings;

use super::Browsing;

/// Which country an identity's timezone and languages follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GeoPolicy {
    /// The measured exit; the configured country when it cannot be measured.
    #[default]
    Measured,
    /// The proxy's configured country.
    Configured,
    /// The measured exit, which must agree with the configured country.
    Strict,
}

/// The policy a request names, checked (`None`: none asked for).
pub(super) fn requested(text: Option<&str>) -> Result<Option<GeoPolicy>, ApiError> {
    text.map(|t| {
        GeoPolicy::parse(t).ok_or_else(|| {
            ApiError::invalid(format!("geo {t:?}: use measured, configured or strict"))
        })
    })
    .transpose()
}

impl GeoPolicy {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            GeoPolicy::Measured => "measured",
            GeoPolicy::Configured => "configured",
            GeoPolicy::Strict => "strict",
        }
    }

    /// Parses `measured`, `configured` or `strict`.
    pub fn parse(text: &str) -> Option<GeoPolicy> {
        match text {
            "measured" => Some(GeoPolicy::Measured),
            "configured" => Some(GeoPolicy::Configured),
            "strict" => Some(GeoPolicy::Strict),
            _ => None,
        }
    }
}

/// Where an identity looks like it is.
pub(super) struct Exit {
    /// The country its languages follow.
    pub country: Option<String>,
    /// Its own timezone, when a City database named one.
    pub zone: Option<String>,
}

/// How exits are learned.
#[derive(Clone, Debug, Default)]
pub struct ExitGeo {
    /// What the country follows.
    pub policy: GeoPolicy,
    /// The oldest health check whose exit is reused.
    pub max_age: Duration,
    /// How a check is made now (`None`, or one without a URL or GeoIP
    /// database: nothing can be measured).
    pub check: Option<CheckSettings>,
}

impl Browsing {
    /// The country a tab pinned to `proxy` (configured in `configured`)
    /// looks like it is in, by `policy` (the identity's, else vip serve's).
    pub(super) async fn exit_country(
        &self,
        proxy: i64,
        configured: Option<String>,
        policy: Option<GeoPolicy>,
    ) -> Result<Exit, ApiError> {
        let policy = policy.unwrap_or(self.options.exit.policy);
        if policy == GeoPolicy::Configured {
            return Ok(Exit {
                country: configured,
                zone: None,
            });
        }
        let (measured, zone) = self.measure(proxy).await?;
        let country = self.judge(proxy, policy, configured, measured)?;
        // The zone belongs to the measured country only.
        let zone = zone.filter(|_| country.is_some());
        Ok(Exit { country, zone })
    }

    fn judge(
        &self,
        proxy: i64,
        policy: GeoPolicy,
        configured: Option<String>,
        measured: Option<String>,
    ) -> Result<Option<String>, ApiError> {
        let name = |c: &Option<String>| c.clone().unwrap_or_else(|| "none".into());
        match (policy, measured) {
            (GeoPolicy::Strict, Some(m)) if configured.as_ref().is_some_and(|c| c != &m) => {
                Err(ApiError::conflict(format!(
                    "proxy {proxy} is configured in {} but exits in {m}: fix its country with \
                     `vip proxy set {proxy} --country {m}`, or use another proxy",
                    name(&configured)
                )))
            }
            (_, Some(m)) => {
                if configured.as_ref().is_some_and(|c| c != &m) {
                    tracing::warn!(
                        proxy,
                        "proxy {proxy} is configured in {} but exits in {m}; the identity follows {m}",
                        name(&configured)
                    );
                }
                Ok(Some(m))
            }
            (GeoPolicy::Strict, None) => Err(ApiError::unavailable(format!(
                "the exit of proxy {proxy} cannot be measured (the geo policy is strict): set \
                 health.check_url and health.geoip, and check that the proxy works"
            ))),
            (_, None) => {
                tracing::warn!(
                    proxy,
                    "the exit of proxy {proxy} cannot be measured; the identity follows its configured country ({})",
                    name(&configured)
                );
                Ok(configured)
            }
        }
    }

    /// The exit country of `proxy` (a recent check's, or one measured now
    /// and recorded) and, when measured now with a City database, its
    /// timezone.
    async fn measure(&self, proxy: i64) -> Result<(Option<String>, Option<String>), ApiError> {
        let max_age = i64::try_from(self.options.exit.max_age.as_millis()).unwrap_or(i64::MAX);
        let record = self
            .on_store(move |s| s.get_proxy(proxy))
            .await?
            .map_err(super::internal)?;
        let fresh = record
            .last_checked_at
            .is_some_and(|at| vip_store::now_ms().saturating_sub(at) <= max_age);
        if fresh && record.exit_country.is_some() {
            return Ok((record.exit_country, None));
        }
        let Some(settings) = self
            .options
            .exit
            .check
            .as_ref()
            .filter(|c| c.url.is_some() && c.geo.is_some())
        else {
            // An older measurement is better than none.
            return Ok((record.exit_country, None));
        };
        let Some(target) = self
            .gateway
            .with_engine(|e| e.pool().get(vip_engine::ProxyId(proxy as u64)).cloned())
        else {
            return Ok((record.exit_country, None));
        };
        let login = target.credential.and_then(|c| self.credentials.login(c));
        let report = vip_gateway::health::check(&target, login.as_ref(), settings).await;
        let zone = report.exit_timezone.clone();
        let (ip, country) = (
            report.exit_ip.map(|i| i.to_string()),
            report.exit_country.clone(),
        );
        let latency = report.latency.map(|d| d.as_secs_f64() * 1000.0);
        let status = Some(if report.ok { "up" } else { "down" });
        let recorded_country = country.clone();
        let _ = self
            .on_store(move |s| {
                s.record_check(
                    report.proxy,
                    status,
                    latency,
                    (ip.as_deref(), recorded_country.as_deref()),
                    vip_store::now_ms(),
                )
            })
            .await;
        Ok((country, zone))
    }
}
