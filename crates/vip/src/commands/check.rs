//! `vip proxy check`: which proxies, the vault, a progress bar and the
//! table; the checks and their recording are `vip_daemon::check_stored`.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::ProgressBar;
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
        concurrency,
        tls: vip_gateway::upstream::Tls::default(),
        geo: vip_daemon::inputs::geo_db(geoip.as_deref())?,
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
    output::records(
        &reports,
        out.json,
        &[
            ("ID", "id"),
            ("RESULT", "ok|up"),
            ("CONNECT MS", "connect_ms|0"),
            ("LATENCY MS", "latency_ms|0"),
            ("HTTP", "http_status"),
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
