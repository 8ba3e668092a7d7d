//! `vip proxy ...`: add, import (with per-entry verdicts and a progress bar
//! past a thousand entries), export, list, remove, weights.

use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use vip_store::porting::{self, ExportFormat, ImportDefaults, Verdict};
use vip_store::repo::proxies::{AddOutcome, NewProxy, ProxyPatch, ProxyRecord};

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
        ProxyCommand::List { group, out } => list(ctx, group.as_deref(), out.json),
        ProxyCommand::Set {
            id,
            country,
            region,
            city,
            group,
            weight,
            tags,
            enable,
            disable,
            out,
        } => {
            let patch = ProxyPatch {
                country,
                region,
                city,
                group,
                weight,
                enabled: if enable {
                    Some(true)
                } else if disable {
                    Some(false)
                } else {
                    None
                },
                tags,
            };
            let record = ctx.store()?.update_proxy(id, &patch)?;
            if out.json {
                output::json(&record);
            } else {
                output::table(&HEADERS, &[row(&record)]);
            }
            Ok(ExitCode::SUCCESS)
        }
        ProxyCommand::Check {
            ids,
            all,
            url,
            timeout,
            concurrency,
            geoip,
            out,
        } => super::check::run(
            ctx,
            &ids,
            all,
            super::check::CheckOptions {
                url,
                timeout,
                concurrency,
                geoip: geoip.as_deref(),
            },
            out.json,
        ),
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
            if out.json {
                let v: Vec<_> = changes
                    .iter()
                    .map(|(id, old, new)| serde_json::json!({"id": id, "old": old, "new": new}))
                    .collect();
                output::json(&v);
            } else {
                let rows: Vec<Vec<String>> = changes
                    .iter()
                    .map(|(id, old, new)| vec![id.to_string(), old.to_string(), new.to_string()])
                    .collect();
                output::table(&["ID", "OLD", "NEW"], &rows);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn apply_attrs(p: &mut NewProxy, attrs: &ProxyAttrs) {
    if attrs.country.is_some() {
        p.country.clone_from(&attrs.country);
    }
    p.region = attrs.region.clone().or(p.region.take());
    p.city = attrs.city.clone().or(p.city.take());
    p.group = attrs.group.clone().or(p.group.take());
    p.weight = attrs.weight.or(p.weight);
    p.tags.extend(attrs.tags.iter().cloned());
    p.disabled |= attrs.disabled;
}

fn add(ctx: &Ctx, text: &str, attrs: &ProxyAttrs, json: bool) -> anyhow::Result<ExitCode> {
    let mut proxy =
        porting::parse_line(text).map_err(|e| InvalidInput(format!("{text:?}: {e}")))?;
    apply_attrs(&mut proxy, attrs);
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
    let defaults = ImportDefaults {
        group: attrs.group.clone(),
        country: attrs.country.clone(),
        tags: attrs.tags.clone(),
    };
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
    if json {
        output::json(&report);
    } else {
        for v in &report.verdicts {
            match v {
                Verdict::Imported { at, id } => {
                    println!("{} {at}: imported as proxy {id}", report.unit)
                }
                Verdict::Duplicate { at, id } => {
                    println!("{} {at}: duplicate of proxy {id}", report.unit)
                }
                Verdict::Invalid { at, reason } => {
                    println!("{} {at}: invalid: {reason}", report.unit)
                }
            }
        }
        println!(
            "{} format: {} imported, {} duplicate, {} invalid",
            format!("{:?}", report.format).to_lowercase(),
            report.imported,
            report.duplicates,
            report.invalid
        );
    }
    let _ = store.log_activity(
        "info",
        "import",
        &format!(
            "imported {} proxies ({} duplicate, {} invalid)",
            report.imported, report.duplicates, report.invalid
        ),
        None,
    );
    Ok(if report.invalid > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
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
            write_private(path, text.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
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

fn list(ctx: &Ctx, group: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let proxies = ctx.store()?.list_proxies(group)?;
    if json {
        output::json(&proxies);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = proxies.iter().map(row).collect();
    output::table(
        &[
            "ID", "PROTOCOL", "HOST", "PORT", "AUTH", "COUNTRY", "GROUP", "WEIGHT", "ENABLED",
            "STATUS",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

const HEADERS: [&str; 10] = [
    "ID", "PROTOCOL", "HOST", "PORT", "AUTH", "COUNTRY", "GROUP", "WEIGHT", "ENABLED", "STATUS",
];

fn row(p: &ProxyRecord) -> Vec<String> {
    vec![
        p.id.to_string(),
        p.protocol.to_string(),
        p.host.clone(),
        p.port.to_string(),
        if p.credential_id.is_some() {
            "yes".into()
        } else {
            "no".into()
        },
        output::opt(p.country.as_ref()),
        output::opt(p.group.as_ref()),
        p.weight.to_string(),
        if p.enabled { "yes".into() } else { "no".into() },
        p.status.clone(),
    ]
}
