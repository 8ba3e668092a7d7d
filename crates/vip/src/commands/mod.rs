//! Command implementations: thin adapters that read input, call the store
//! or engine, and print a table or JSON. One file per command family.

mod check;
mod db;
mod gateway;
mod identity;
mod notify;
mod proxy;
mod rotation;
mod serve;
mod tab;
mod vault;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use vip_engine::StrategyName;
use vip_store::vault::VaultError;
use vip_store::{DATABASE_FILE, Store, StoreError};

use crate::cli::{Cli, Command};
use crate::{data_dir, output};

/// What a command needs from its environment.
pub struct Ctx {
    pub data_dir: PathBuf,
}

impl Ctx {
    /// Opens the database, applying pending migrations.
    pub fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(self.data_dir.join(DATABASE_FILE))?)
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Ctx {
        data_dir: data_dir::resolve(cli.data_dir),
    };
    let notify = cli
        .command
        .as_ref()
        .is_some_and(notify::changes_what_serve_runs);
    let result = dispatch(&ctx, cli.command);
    if notify {
        notify::reload_running_daemon(&ctx.data_dir);
    }
    result
}

fn dispatch(ctx: &Ctx, command: Option<Command>) -> anyhow::Result<ExitCode> {
    match command {
        None => {
            overview(ctx);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Strategies(out)) => {
            strategies(out.json);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Proxy(cmd)) => proxy::run(ctx, cmd),
        Some(Command::Rotation(cmd)) => rotation::run(ctx, cmd),
        Some(Command::Stats { proxy, hours, out }) => db::stats(ctx, proxy, hours, out),
        Some(Command::Events { limit, out }) => db::events(ctx, limit, out),
        Some(Command::Db(cmd)) => db::run(ctx, cmd),
        Some(Command::Vault(cmd)) => vault::run(ctx, cmd),
        Some(Command::Tab(cmd)) => tab::run(ctx, cmd),
        Some(Command::Session(cmd)) => tab::session(ctx, cmd),
        Some(Command::Identity(cmd)) => identity::run(ctx, cmd),
        Some(Command::Serve(args)) => serve::serve(ctx, args),
        Some(Command::Api(crate::cli::ApiCommand::Spec)) => {
            print!("{}", vip_api::spec_json());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Config(crate::cli::ConfigCommand::Show { config, out })) => {
            serve::show(config.as_deref(), out.json)
        }
        Some(Command::Gateway {
            listen,
            upstreams,
            strategy,
            client_auth,
            proxy_ca,
            attempts,
            blocking,
        }) => gateway::run(vip_daemon::standalone::StandaloneConfig {
            listen,
            upstreams,
            strategy,
            client_auth,
            proxy_ca,
            attempts: vip_daemon::standalone::Attempts {
                budget: Duration::from_millis(attempts.request_budget),
                hedge_delay: attempts.hedge_delay.map(Duration::from_millis),
                replay_buffer: attempts.replay_buffer as usize * 1024,
                keep_alive: attempts.upstream_keepalive as usize,
                keep_idle: Duration::from_secs(attempts.upstream_idle),
            },
            blocking: blocking.blocking(),
        }),
    }
}

/// Maps an error to the documented exit code.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(v) = cause.downcast_ref::<VaultError>() {
            return match v {
                VaultError::WrongPassword
                | VaultError::NoMasterSecret
                | VaultError::NotInitialized => 4,
                VaultError::WeakPassword | VaultError::AlreadyInitialized => 2,
                _ => 1,
            };
        }
        if let Some(s) = cause.downcast_ref::<StoreError>() {
            return store_exit_code(s);
        }
        if let Some(d) = cause.downcast_ref::<vip_daemon::DaemonError>() {
            return match d {
                vip_daemon::DaemonError::Store(s) => store_exit_code(s),
                _ => 1,
            };
        }
        if cause.downcast_ref::<InvalidInput>().is_some()
            || cause
                .downcast_ref::<vip_daemon::inputs::BadInput>()
                .is_some()
        {
            return 2;
        }
        if let Some(e) = cause.downcast_ref::<vip_api::ApiError>() {
            return if (400..500).contains(&e.status) { 2 } else { 1 };
        }
    }
    1
}

fn store_exit_code(s: &StoreError) -> u8 {
    match s {
        StoreError::Invalid { .. } | StoreError::NotFound { .. } => 2,
        StoreError::Vault(
            VaultError::WrongPassword | VaultError::NoMasterSecret | VaultError::NotInitialized,
        ) => 4,
        _ => 1,
    }
}

/// An input problem found by the CLI itself (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// Reads a file, or standard input for "-".
pub fn read_input(file: &Path) -> anyhow::Result<Vec<u8>> {
    if file == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        return Ok(buf);
    }
    std::fs::read(file)
        .map_err(|e| InvalidInput(format!("cannot read {}: {e}", file.display())).into())
}

/// Writes `bytes` to `path`, readable only by the user.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(|e| InvalidInput(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(bytes)?;
    Ok(())
}

/// Reads a JSON document from a file or standard input.
pub fn read_json(file: &Path) -> anyhow::Result<serde_json::Value> {
    let bytes = read_input(file)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| InvalidInput(format!("{}: not valid JSON: {e}", file.display())).into())
}

fn overview(ctx: &Ctx) {
    println!("vip {} — Virtual IP Browser", env!("CARGO_PKG_VERSION"));
    println!("data directory: {}", ctx.data_dir.display());
    match ctx.store().and_then(|s| Ok(s.summary()?)) {
        Ok(summary) => println!("{summary}"),
        Err(e) => println!("database: unavailable: {e:#}"),
    }
    match vip_api::Client::from_data_dir(&ctx.data_dir)
        .and_then(|c| c.get::<vip_api::Status>("/api/v1/status"))
    {
        Ok(s) => println!(
            "vip serve: running; browser: {}; {} tabs open",
            s.browser, s.tabs
        ),
        Err(_) => println!("vip serve: not running (start it with `vip serve`)"),
    }
    println!();
    println!("commands:");
    let cli = <Cli as clap::CommandFactory>::command();
    for cmd in cli.get_subcommands() {
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        // Up to the first full stop or colon: `vip COMMAND --help` has the rest.
        let about = about.split([':', '.']).next().unwrap_or_default();
        println!("  vip {:<12} {about}", cmd.get_name());
    }
    println!();
    println!("`vip --help` and `vip COMMAND --help` describe every option.");
}

fn strategies(json: bool) {
    let list: Vec<_> = StrategyName::ALL
        .iter()
        .map(|n| serde_json::json!({ "name": n.as_str(), "description": n.description() }))
        .collect();
    output::records(
        &list,
        json,
        &[("STRATEGY", "name"), ("DESCRIPTION", "description")],
    );
}
