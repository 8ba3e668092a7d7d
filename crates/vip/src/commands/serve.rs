//! `vip serve`: its settings (defaults, configuration file, environment,
//! flags; `vip_daemon::settings`) turned into the daemon's config, the vault
//! opened when the pool or named identities need it, and the daemon run
//! until a signal. Also `vip config show`.

use std::process::ExitCode;
use vip_daemon::settings::Settings;

use super::InvalidInput;
use crate::cli::ServeArgs;
use crate::output;

fn load(
    config: Option<&std::path::Path>,
    flags: &[(&'static str, String)],
) -> anyhow::Result<Settings> {
    Settings::load(config, std::env::vars(), flags).map_err(|e| InvalidInput(e.to_string()).into())
}

pub fn serve(ctx: &super::Ctx, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = load(args.config.as_deref(), &args.flags)?;
    let served = settings.daemon_config(ctx.data_dir.clone())?;
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
    crate::serve::run(served.config, vault, served.grace)
}

/// `vip config show`.
pub fn show(config: Option<&std::path::Path>, json: bool) -> anyhow::Result<ExitCode> {
    let columns = [
        ("KEY", "key"),
        ("VALUE", "value"),
        ("SOURCE", "source"),
        ("ABOUT", "about"),
    ];
    output::records(&load(config, &[])?.shown(), json, &columns);
    Ok(ExitCode::SUCCESS)
}
