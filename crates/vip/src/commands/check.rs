//! `vip proxy check`: which proxies, the vault, a progress bar and the
//! table; the checks and their recording are `vip_daemon::check_stored`.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use vip_gateway::health::CheckSettings;

use super::{Ctx, InvalidInput};
use crate::cli::CheckArgs;
use crate::{master, output};

pub fn run(ctx: &Ctx, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let CheckArgs {
        ids,
        all,
        url,
        timeout,
        concurrency,
        geoip,
        out,
    } = args;
    if ids.is_empty() && !all {
        return Err(InvalidInput("give proxy ids, or --all".into()).into());
    }
    let store = ctx.store()?;
    let pool = store.engine_pool()?;
    let chosen: Vec<_> = if all {
        pool
    } else {
        let mut out = Vec::new();
        for id in &ids {
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
        concurrency: concurrency as usize,
        tls: vip_gateway::upstream::Tls::default(),
        geo: vip_daemon::inputs::geo_db(geoip.as_deref())?,
    };
    let total = chosen.len();
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} checked · {msg} · {elapsed_precise}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let counts = std::cell::Cell::new((0usize, 0usize));
    let ticker = bar.clone();
    let runtime = tokio::runtime::Runtime::new()?;
    let reports = runtime.block_on(vip_daemon::check_stored(
        &store,
        vault,
        chosen,
        &settings,
        |r| {
            let (up, down) = counts.get();
            let (up, down) = if r.ok { (up + 1, down) } else { (up, down + 1) };
            counts.set((up, down));
            ticker.set_message(format!("{up} up, {down} down, {} left", total - up - down));
            ticker.inc(1);
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    ))?;
    bar.finish_and_clear();
    if reports.len() < total {
        eprintln!(
            "interrupted: {} of {total} checked (their results are saved)",
            reports.len()
        );
    }
    let failed = reports.iter().filter(|r| !r.ok).count();
    output::records(
        &reports,
        out.json,
        &[
            ("ID", "id"),
            ("RESULT", "ok|up"),
            ("CONNECT MS", "connect_ms|0"),
            ("LATENCY MS", "latency_ms|0"),
            ("HTTP", "http_status"),
            ("STAGE", "stage"),
            ("EXIT IP", "exit_ip"),
            ("ERROR", "error"),
        ],
    );
    Ok(if failed > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
