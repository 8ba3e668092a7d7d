//! Validated settings turned into the daemon's [`DaemonConfig`]: the files
//! they name (filter lists, TLS roots, GeoIP) are loaded here, so a missing
//! one is refused before anything starts.

use std::path::PathBuf;
use std::time::Duration;

use super::Settings;
use crate::inputs::{self, BadInput, Blocking};
use vip_gateway::GatewaySettings;

use crate::{
    ApiConfig, BrowserConfig, DaemonConfig, ExitGeo, GatewayConfig, GeoPolicy, HealthConfig,
    Retention, UpkeepConfig,
};

/// What `vip serve` runs with: the daemon's config and the grace period of
/// its drain.
pub struct Served {
    /// The daemon's configuration.
    pub config: DaemonConfig,
    /// How long draining may take.
    pub grace: Duration,
}

impl Settings {
    /// The tracker-blocking settings.
    pub fn blocking(&self) -> Blocking {
        Blocking {
            filter_lists: self
                .list("blocking.filter_lists")
                .into_iter()
                .map(Into::into)
                .collect(),
            allow_domains: self.list("blocking.allow_domains"),
            off: !self.flag("blocking.enabled"),
        }
    }

    /// `api.rate_limits`: CLASS=N per minute, each class known.
    fn rate_limits(&self) -> Result<std::collections::HashMap<String, u32>, BadInput> {
        let mut out = std::collections::HashMap::new();
        for item in self.list("api.rate_limits") {
            let known = || {
                let mut names: Vec<&str> = vip_api::limit::CLASSES.iter().map(|c| c.0).collect();
                names.push(vip_api::limit::AUTH_FAILURES);
                names.join(", ")
            };
            let bad = |why: String| {
                BadInput::new(
                    format!(
                        "api.rate_limits {item:?} ({})",
                        self.source("api.rate_limits")
                    ),
                    why,
                )
            };
            let Some((class, n)) = item.split_once('=') else {
                return Err(bad("write CLASS=N, for example tabs-change=50".into()));
            };
            let class = class.trim();
            if class != vip_api::limit::AUTH_FAILURES
                && !vip_api::limit::CLASSES.iter().any(|c| c.0 == class)
            {
                return Err(bad(format!(
                    "unknown class {class:?}: use one of {}",
                    known()
                )));
            }
            let n: u32 = n
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=1_000_000_000).contains(n))
                .ok_or_else(|| bad("N is requests per minute, 1 to 1000000000".into()))?;
            out.insert(class.to_string(), n);
        }
        Ok(out)
    }

    /// The daemon's config on `data_dir`, with every file loaded.
    pub fn daemon_config(&self, data_dir: PathBuf) -> Result<Served, BadInput> {
        let secs = |k: &str| Duration::from_secs(self.number(k).unwrap_or_default());
        let millis = |k: &str| Duration::from_millis(self.number(k).unwrap_or_default());
        let days = |k: &str| self.number(k).map_or(30, |d| d as u32);
        let addr = |k: &str| {
            self.addr(k).ok_or_else(|| {
                BadInput::new(k, "is not set; give an address such as 127.0.0.1:8898")
            })
        };
        let api_listen = addr("api.listen")?;
        if !api_listen.ip().is_loopback() {
            return Err(BadInput::new(
                format!("api.listen {api_listen} ({})", self.source("api.listen")),
                "the control API is plain HTTP and stays on this machine; use a 127.0.0.1 address",
            ));
        }
        let rate_limits = self.rate_limits()?;
        let tls = inputs::upstream_tls(self.path("gateway.proxy_ca").as_deref())?;
        let blocklist = self.blocking().load("vip serve")?;
        let interval = secs("health.interval");
        let checks = vip_gateway::health::CheckSettings {
            url: self.text("health.check_url"),
            timeout: secs("health.timeout"),
            concurrency: self.number("health.concurrency").unwrap_or(8) as usize,
            tls: tls.clone(),
            geo: inputs::geo_db(self.path("health.geoip").as_deref())?,
        };
        let policy_text = self.text("browser.geo_policy").unwrap_or_default();
        let policy = GeoPolicy::parse(&policy_text).ok_or_else(|| {
            BadInput::new(
                format!(
                    "browser.geo_policy {policy_text:?} ({})",
                    self.source("browser.geo_policy")
                ),
                "use measured, configured or strict",
            )
        })?;
        let exit = ExitGeo {
            policy,
            max_age: secs("browser.exit_max_age"),
            check: Some(checks.clone()),
        };
        let health = (!interval.is_zero()).then(|| HealthConfig {
            settings: checks,
            every: interval,
        });
        let config = DaemonConfig {
            data_dir,
            gateway: GatewayConfig {
                listen: addr("gateway.listen")?,
                client_auth: inputs::client_auth(self.text("gateway.client_auth").as_deref())?,
                settings: GatewaySettings {
                    connect_timeout: secs("gateway.connect_timeout"),
                    handshake_timeout: secs("gateway.handshake_timeout"),
                    client_timeout: secs("gateway.client_timeout"),
                    idle_timeout: secs("gateway.idle_timeout"),
                    max_head: self.number("gateway.max_head_kib").unwrap_or(32) as usize * 1024,
                    budget: millis("gateway.request_budget_ms"),
                    hedge_delay: self
                        .number("gateway.hedge_delay_ms")
                        .map(Duration::from_millis),
                    replay_buffer: self.number("gateway.replay_buffer_kib").unwrap_or(64) as usize
                        * 1024,
                    keep_alive: vip_gateway::KeepAliveSettings {
                        per_proxy: self.number("gateway.upstream_keepalive").unwrap_or(8) as usize,
                        idle: secs("gateway.upstream_idle"),
                        ..vip_gateway::KeepAliveSettings::default()
                    },
                    recovery: vip_gateway::RecoverySettings {
                        url: self.text("health.check_url"),
                        ..vip_gateway::RecoverySettings::default()
                    },
                    blocklist: blocklist.clone(),
                    tls,
                    ..GatewaySettings::default()
                },
            },
            health,
            upkeep: UpkeepConfig {
                poll_every: millis("upkeep.poll_ms"),
                save_within: millis("upkeep.save_ms"),
                retention: Some(Retention {
                    stats_days: days("retention.stats_days"),
                    events_days: days("retention.events_days"),
                }),
            },
            browser: BrowserConfig {
                disabled: !self.flag("browser.enabled"),
                chromium: self.path("browser.chromium"),
                headless: self.flag("browser.headless"),
                devtools_port: self.number("browser.devtools_port").map(|p| p as u16),
                blocklist,
                exit,
            },
            api: ApiConfig {
                listen: api_listen,
                rate_limits,
            },
        };
        Ok(Served {
            config,
            grace: secs("shutdown.grace"),
        })
    }
}
