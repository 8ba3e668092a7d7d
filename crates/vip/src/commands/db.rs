//! `vip db ...`, `vip stats`, `vip events`: schema status and migrations,
//! backups, retention, and the read-only views of statistics and events.

use std::process::ExitCode;

use vip_store::{DATABASE_FILE, Store, migrate};

use super::Ctx;
use crate::cli::{DbCommand, Output};
use crate::output;

pub fn run(ctx: &Ctx, cmd: DbCommand) -> anyhow::Result<ExitCode> {
    let path = ctx.data_dir.join(DATABASE_FILE);
    match cmd {
        DbCommand::Status(out) => {
            let store = Store::open_unmigrated(&path)?;
            let status = migrate::status(store.conn())?;
            if out.json {
                output::json(&serde_json::json!({"path": path, "status": status}));
            } else {
                println!("database: {}", path.display());
                println!(
                    "schema version: {} (this binary knows {})",
                    status.current, status.latest
                );
                for a in &status.applied {
                    println!("  applied {:>4} {}", a.version, a.name);
                }
                for (v, name) in &status.pending {
                    println!("  pending {v:>4} {name}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Migrate { to } => {
            let store = Store::open_unmigrated(&path)?;
            let target = to.unwrap_or_else(migrate::latest_version);
            let done = migrate::migrate_to(store.conn(), &path, target)?;
            if done.is_empty() {
                println!("schema already at version {target}");
            } else {
                println!("migrated through {done:?}; schema now at version {target}");
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Backup { path: dest } => {
            ctx.store()?.backup_to(&dest)?;
            println!("backed up to {}", dest.display());
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Maintenance {
            stats_days,
            events_days,
            vacuum,
            out,
        } => {
            let report = ctx.store()?.maintenance(stats_days, events_days, vacuum)?;
            if out.json {
                output::json(&report);
            } else {
                println!(
                    "deleted {} statistics rows, {} rotation events, {} activity entries, {} expired sticky mappings{}",
                    report.stats_deleted,
                    report.events_deleted,
                    report.activity_deleted,
                    report.sticky_deleted,
                    if report.vacuumed { "; vacuumed" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn stats(ctx: &Ctx, proxy: Option<i64>, hours: u32, out: Output) -> anyhow::Result<ExitCode> {
    let stats = ctx.store()?.usage_stats(proxy, hours)?;
    if out.json {
        output::json(&stats);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = stats
        .iter()
        .map(|s| {
            vec![
                s.proxy_id.to_string(),
                s.total_requests.to_string(),
                format!("{:.1}%", s.success_rate * 100.0),
                output::opt(s.avg_latency_ms.map(|v| format!("{v:.0}"))),
                output::opt(s.p95_latency_ms.map(|v| format!("{v:.0}"))),
                s.bytes_sent.to_string(),
                s.bytes_received.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "PROXY", "REQUESTS", "SUCCESS", "AVG MS", "P95 MS", "SENT", "RECEIVED",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

pub fn events(ctx: &Ctx, limit: usize, out: Output) -> anyhow::Result<ExitCode> {
    let events = ctx.store()?.recent_events(limit)?;
    if out.json {
        output::json(&events);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.created_at.to_string(),
                output::opt(e.config_id),
                format!("{} {}", e.key_kind, e.key_value.as_deref().unwrap_or("")),
                output::opt(e.previous_proxy_id),
                output::opt(e.new_proxy_id),
                e.reason.clone(),
            ]
        })
        .collect();
    output::table(&["AT (MS)", "CONFIG", "KEY", "FROM", "TO", "REASON"], &rows);
    Ok(ExitCode::SUCCESS)
}
