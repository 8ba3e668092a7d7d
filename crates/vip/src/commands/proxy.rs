//! `vip proxy ...`: add, import (with per-entry verdicts and a progress bar
//! past a thousand entries), export, list, remove, weights.

use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use vip_store::porting::{self, ExportFormat, ImportDefaults};
use vip_store::repo::proxies::{AddOutcome, ProxyPatch};

use super::{Ctx, InvalidInput, read_input};
use crate::cli::{ExportKind, ProxyAttrs, ProxyCommand};
use crate::{master, output};

pub fn run(ctx: &Ctx, cmd: ProxyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ProxyCommand::Add { proxy, attrs, out } => add(ctx, &proxy, &attrs, out.json),
        ProxyCommand::Import { file, attrs, out } => import(ctx, &file, &attrs, out.json),
        ProxyCommand::Export {
            format,
            with_credentials,
            group,
            output,
        } => export(
            ctx,
            format,
            with_credentials,
            group.as_deref(),
            output.as_deref(),
        ),
        ProxyCommand::List { group, out } => {
            let proxies = ctx.store()?.list_proxies(group.as_deref())?;
            output::records(&proxies, out.json, COLUMNS);
            Ok(ExitCode::SUCCESS)
        }
        ProxyCommand::Set(args) => {
            let patch = ProxyPatch {
                enabled: (args.enable || args.disable).then_some(args.enable),
                country: args.place.country,
                region: args.place.region,
                city: args.place.city,
                group: args.place.group,
                weight: args.weight,
                tags: args.tags,
            };
            let record = ctx.store()?.update_proxy(args.id, &patch)?;
            if args.out.json {
                output::json(&record);
            } else {
                output::records(&[record], false, COLUMNS);
            }
            Ok(ExitCode::SUCCESS)
        }
        ProxyCommand::Check(args) => super::check::run(ctx, args),
        ProxyCommand::Rm { ids } => {
            let store = ctx.store()?;
            for id in &ids {
                store.remove_proxy(*id)?;
            }
            eprintln!(
                "removed {} prox{}",
                ids.len(),
                if ids.len() == 1 { "y" } else { "ies" }
            );
            Ok(ExitCode::SUCCESS)
        }
        ProxyCommand::Weight { id, weight } => {
            ctx.store()?.set_weight(id, weight)?;
            eprintln!("proxy {id}: weight {weight}");
            Ok(ExitCode::SUCCESS)
        }
        ProxyCommand::NormalizeWeights { group, out } => {
            let changes = ctx.store()?.normalize_weights(group.as_deref())?;
            let changes: Vec<_> = changes
                .iter()
                .map(|(id, old, new)| serde_json::json!({"id": id, "old": old, "new": new}))
                .collect();
            output::records(
                &changes,
                out.json,
                &[("ID", "id"), ("OLD", "old"), ("NEW", "new")],
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

impl ProxyAttrs {
    /// The flags as what every added or imported entry gets.
    fn defaults(&self) -> ImportDefaults {
        ImportDefaults {
            group: self.place.group.clone(),
            country: self.place.country.clone(),
            region: self.place.region.clone(),
            city: self.place.city.clone(),
            weight: self.weight,
            tags: self.tags.clone(),
            disabled: self.disabled,
        }
    }
}

fn add(ctx: &Ctx, text: &str, attrs: &ProxyAttrs, json: bool) -> anyhow::Result<ExitCode> {
    let mut proxy =
        porting::parse_line(text).map_err(|e| InvalidInput(format!("{text:?}: {e}")))?;
    attrs.defaults().apply(&mut proxy);
    let store = ctx.store()?;
    let vault = match proxy.username {
        Some(_) => Some(master::open_vault(&store, &ctx.data_dir, true)?),
        None => None,
    };
    let outcome = store.add_proxy(vault.as_ref(), &proxy)?;
    if json {
        output::json(&outcome);
    } else {
        match outcome {
            AddOutcome::Added(id) => println!("added proxy {id}"),
            AddOutcome::Duplicate(id) => println!("already present as proxy {id}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn import(
    ctx: &Ctx,
    file: &std::path::Path,
    attrs: &ProxyAttrs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let input = read_input(file)?;
    let parsed = porting::parse(&input);
    let store = ctx.store()?;
    let vault = if parsed.needs_vault() {
        Some(master::open_vault(&store, &ctx.data_dir, true)?)
    } else {
        None
    };
    let defaults = attrs.defaults();
    let total = parsed.entries.len();
    let bar = (total > 1000).then(|| {
        let bar = ProgressBar::new(total as u64);
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} entries {eta}") {
            bar.set_style(style);
        }
        bar
    });
    let report = porting::apply(&store, vault.as_ref(), parsed, &defaults, &mut |done, _| {
        if let Some(b) = &bar {
            b.set_position(done as u64);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(output::report(&report, json, report.invalid))
}

fn export(
    ctx: &Ctx,
    kind: ExportKind,
    with_credentials: bool,
    group: Option<&str>,
    dest: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    let format = match kind {
        ExportKind::Urls => ExportFormat::Urls,
        ExportKind::Csv => ExportFormat::Csv,
        ExportKind::Pac => ExportFormat::Pac,
    };
    let vault = if with_credentials && !matches!(format, ExportFormat::Pac) {
        Some(master::open_vault(&store, &ctx.data_dir, false)?)
    } else {
        None
    };
    let text = porting::export(&store, vault.as_ref(), format, with_credentials, group)?;
    match dest {
        Some(path) => {
            super::write_private(path, text.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The columns of `vip proxy list`.
const COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("PROTOCOL", "protocol"),
    ("HOST", "host"),
    ("PORT", "port"),
    ("AUTH", "credential_id|set"),
    ("COUNTRY", "country"),
    ("GROUP", "group"),
    ("WEIGHT", "weight"),
    ("ENABLED", "enabled"),
    ("STATUS", "status"),
];
