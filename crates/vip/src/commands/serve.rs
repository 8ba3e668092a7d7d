//! `vip serve`: its settings (defaults, configuration file, environment,
//! flags; `vip_daemon::settings`) turned into the daemon's config, the vault
//! opened when the pool or named identities need it, and the daemon run
//! until a signal. Also `vip config show`.

use std::process::ExitCode;
use std::time::Duration;

use vip_daemon::settings::{Settings, Source};

use super::InvalidInput;
use super::gateway::{blocklist, client_auth_arg, proxy_tls};
use crate::cli::{BlockingArgs, ServeArgs};
use crate::output;

/// The flags given on the command line, as (setting, value) pairs.
fn flags(args: &ServeArgs) -> Vec<(&'static str, String)> {
    let b = &args.browser;
    let mut flags: Vec<(&'static str, String)> = [
        ("gateway.listen", args.listen.clone()),
        ("gateway.client_auth", args.client_auth.clone()),
        (
            "gateway.proxy_ca",
            args.proxy_ca.as_ref().map(|p| p.display().to_string()),
        ),
        ("health.interval", args.check_interval.clone()),
        ("health.check_url", args.check_url.clone()),
        (
            "health.geoip",
            args.geoip.as_ref().map(|p| p.display().to_string()),
        ),
        ("health.timeout", args.check_timeout.clone()),
        ("health.concurrency", args.check_concurrency.clone()),
        (
            "browser.chromium",
            b.chromium.as_ref().map(|p| p.display().to_string()),
        ),
        ("browser.devtools_port", b.devtools_port.clone()),
        ("api.listen", b.api_listen.clone()),
        ("upkeep.poll_ms", args.poll_ms.clone()),
        ("upkeep.save_ms", args.save_ms.clone()),
        ("shutdown.grace", args.grace.clone()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let on = |given: bool, key: &'static str, value: &str, flags: &mut Vec<_>| {
        if given {
            flags.push((key, value.to_string()));
        }
    };
    on(
        args.blocking.no_blocking,
        "blocking.enabled",
        "false",
        &mut flags,
    );
    on(b.no_browser, "browser.enabled", "false", &mut flags);
    on(b.headless, "browser.headless", "true", &mut flags);
    let lists = &args.blocking.filter_lists;
    on(
        !lists.is_empty(),
        "blocking.filter_lists",
        &lists
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
        &mut flags,
    );
    on(
        !args.blocking.allow_domains.is_empty(),
        "blocking.allow_domains",
        &args.blocking.allow_domains.join(","),
        &mut flags,
    );
    flags
}

fn load(
    config: Option<&std::path::Path>,
    flags: &[(&'static str, String)],
) -> anyhow::Result<Settings> {
    Settings::load(config, std::env::vars(), flags).map_err(|e| InvalidInput(e.to_string()).into())
}

/// The daemon's config from the settings (the files they name are loaded
/// here, so a missing one is refused before anything starts).
fn daemon_config(
    ctx: &super::Ctx,
    s: &Settings,
) -> anyhow::Result<(vip_daemon::DaemonConfig, Duration)> {
    let secs = |k: &str| Duration::from_secs(s.number(k).unwrap_or_default());
    let millis = |k: &str| Duration::from_millis(s.number(k).unwrap_or_default());
    let api_listen = s
        .addr("api.listen")
        .ok_or_else(|| InvalidInput("api.listen is not set".into()))?;
    if !api_listen.ip().is_loopback() {
        return Err(InvalidInput(format!(
            "api.listen {api_listen} ({}): the control API is plain HTTP and stays on this machine; use a 127.0.0.1 address",
            s.source("api.listen")
        ))
        .into());
    }
    let tls = proxy_tls(s.path("gateway.proxy_ca").as_deref())?;
    let blocking = BlockingArgs {
        filter_lists: s
            .list("blocking.filter_lists")
            .into_iter()
            .map(Into::into)
            .collect(),
        allow_domains: s.list("blocking.allow_domains"),
        no_blocking: !s.flag("blocking.enabled"),
    };
    let blocklist = blocklist(&blocking, "vip serve")?;
    let interval = secs("health.interval");
    let health = if interval.is_zero() {
        None
    } else {
        Some(vip_daemon::HealthConfig {
            settings: vip_gateway::health::CheckSettings {
                url: s.text("health.check_url"),
                timeout: secs("health.timeout"),
                concurrency: s.number("health.concurrency").unwrap_or(8) as usize,
                tls: tls.clone(),
                geo: super::check::geo_db(s.path("health.geoip").as_deref())?,
            },
            every: interval,
        })
    };
    let config = vip_daemon::DaemonConfig {
        data_dir: ctx.data_dir.clone(),
        gateway: vip_daemon::GatewayConfig {
            listen: s
                .addr("gateway.listen")
                .ok_or_else(|| InvalidInput("gateway.listen is not set".into()))?,
            client_auth: client_auth_arg(s.text("gateway.client_auth").as_deref())?,
            blocklist: blocklist.clone(),
            tls,
        },
        health,
        upkeep: vip_daemon::UpkeepConfig {
            poll_every: millis("upkeep.poll_ms"),
            save_within: millis("upkeep.save_ms"),
        },
        browser: vip_daemon::BrowserConfig {
            disabled: !s.flag("browser.enabled"),
            chromium: s.path("browser.chromium"),
            headless: s.flag("browser.headless"),
            devtools_port: s.number("browser.devtools_port").map(|p| p as u16),
            blocklist,
        },
        api: vip_daemon::ApiConfig { listen: api_listen },
    };
    Ok((config, secs("shutdown.grace")))
}

pub fn serve(ctx: &super::Ctx, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = load(args.config.as_deref(), &flags(&args))?;
    let (config, grace) = daemon_config(ctx, &settings)?;
    let store = ctx.store()?;
    let needs_vault = store
        .list_proxies(None)?
        .iter()
        .any(|p| p.credential_id.is_some());
    let vault = if needs_vault {
        Some(crate::master::open_vault(&store, &ctx.data_dir, false)?)
    } else if vip_store::vault::Vault::is_initialized(store.conn())? {
        // Only named identities need it: without the password they are refused.
        match crate::master::open_vault(&store, &ctx.data_dir, false) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!("vault locked ({e}); named identities are unavailable");
                None
            }
        }
    } else {
        None
    };
    drop(store);
    crate::serve::run(config, vault, grace)
}

/// `vip config show`.
pub fn show(config: Option<&std::path::Path>, json: bool) -> anyhow::Result<ExitCode> {
    let settings = load(config, &[])?;
    let rows = settings.rows();
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(k, v, source)| {
                serde_json::json!({
                    "key": k.name, "value": v.map(|v| v.shown()),
                    "source": source.to_string(), "env": vip_daemon::settings::env_name(k.name),
                    "flag": k.flag, "about": k.help,
                })
            })
            .collect();
        output::json(&list);
    } else {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|(k, v, source)| {
                vec![
                    k.name.to_string(),
                    v.map_or_else(|| "-".into(), |v| v.shown()),
                    match (v, source) {
                        (None, Source::Default) => "unset".into(),
                        _ => source.to_string(),
                    },
                    k.help.to_string(),
                ]
            })
            .collect();
        output::table(&["KEY", "VALUE", "SOURCE", "ABOUT"], &table);
    }
    Ok(ExitCode::SUCCESS)
}
