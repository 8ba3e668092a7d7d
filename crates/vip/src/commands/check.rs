//! `vip proxy check`: which proxies, the vault, a progress bar and the
//! table; the checks and their recording are `vip_daemon::check_stored`.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::ProgressBar;
use vip_gateway::health::CheckSettings;

use super::{Ctx, InvalidInput};
use crate::{master, output};

/// How to check, from the command line.
pub struct CheckOptions<'a> {
    pub url: Option<String>,
    pub timeout: u64,
    pub concurrency: usize,
    pub geoip: Option<&'a std::path::Path>,
}

pub fn run(
    ctx: &Ctx,
    ids: &[i64],
    all: bool,
    options: CheckOptions<'_>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let CheckOptions {
        url,
        timeout,
        concurrency,
        geoip,
    } = options;
    if ids.is_empty() && !all {
        return Err(InvalidInput("give proxy ids, or --all".into()).into());
    }
    let store = ctx.store()?;
    let pool = store.engine_pool()?;
    let chosen: Vec<_> = if all {
        pool
    } else {
        let mut out = Vec::new();
        for id in ids {
            let wanted = u64::try_from(*id).ok().map(vip_engine::ProxyId);
            let p = pool
                .iter()
                .find(|p| Some(p.id) == wanted)
                .ok_or_else(|| InvalidInput(format!("proxy {id} does not exist")))?;
            out.push(p.clone());
        }
        out
    };
    let vault = if chosen.iter().any(|p| p.credential.is_some()) {
        Some(master::open_vault(&store, &ctx.data_dir, false)?)
    } else {
        None
    };
    let settings = CheckSettings {
        url,
        timeout: Duration::from_secs(timeout.max(1)),
        concurrency,
        tls: vip_gateway::upstream::Tls::default(),
        geo: geo_db(geoip)?,
    };
    let bar = ProgressBar::new(chosen.len() as u64);
    let ticker = bar.clone();
    let runtime = tokio::runtime::Runtime::new()?;
    let reports = runtime.block_on(vip_daemon::check_stored(
        &store,
        vault,
        chosen,
        &settings,
        move |_| ticker.inc(1),
    ))?;
    bar.finish_and_clear();
    let failed = reports.iter().filter(|r| !r.ok).count();
    if json {
        let v: Vec<_> = reports
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.proxy.0, "ok": r.ok,
                    "connect_ms": r.connect.map(|d| d.as_secs_f64() * 1000.0),
                    "latency_ms": r.latency.map(|d| d.as_secs_f64() * 1000.0),
                    "http_status": r.http_status, "exit_ip": r.exit_ip, "exit_country": r.exit_country,
                    "failure": r.failure.map(vip_engine::FailureKind::as_str), "error": r.error,
                })
            })
            .collect();
        output::json(&v);
    } else {
        let rows: Vec<Vec<String>> = reports
            .iter()
            .map(|r| {
                vec![
                    r.proxy.0.to_string(),
                    if r.ok { "up".into() } else { "down".into() },
                    output::opt(
                        r.connect
                            .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0)),
                    ),
                    output::opt(
                        r.latency
                            .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0)),
                    ),
                    output::opt(r.http_status),
                    output::opt(r.exit_ip),
                    r.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        output::table(
            &[
                "ID",
                "RESULT",
                "CONNECT MS",
                "LATENCY MS",
                "HTTP",
                "EXIT IP",
                "ERROR",
            ],
            &rows,
        );
    }
    Ok(if failed > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Opens `--geoip`, when given.
pub fn geo_db(
    path: Option<&std::path::Path>,
) -> anyhow::Result<Option<std::sync::Arc<vip_gateway::health::GeoDb>>> {
    path.map(|p| {
        vip_gateway::health::GeoDb::open(p)
            .map(std::sync::Arc::new)
            .map_err(|e| InvalidInput(format!("--geoip {e}")).into())
    })
    .transpose()
}
