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
    let columns = [
        ("PROXY", "proxy_id"),
        ("REQUESTS", "total_requests"),
        ("SUCCESS", "success_rate|%"),
        ("AVG MS", "avg_latency_ms|0"),
        ("P95 MS", "p95_latency_ms|0"),
        ("SENT", "bytes_sent"),
        ("RECEIVED", "bytes_received"),
        ("ERRORS", "error_counts|counts"),
        ("ATTEMPTS", "event_counts|counts"),
    ];
    let stats = ctx.store()?.usage_stats(proxy, hours)?;
    output::records(&stats, out.json, &columns);
    Ok(ExitCode::SUCCESS)
}

pub fn events(ctx: &Ctx, limit: usize, out: Output) -> anyhow::Result<ExitCode> {
    let columns = [
        ("AT (MS)", "created_at"),
        ("CONFIG", "config_id"),
        ("KIND", "key_kind"),
        ("KEY", "key_value"),
        ("FROM", "previous_proxy_id"),
        ("TO", "new_proxy_id"),
        ("REASON", "reason"),
    ];
    output::records(&ctx.store()?.recent_events(limit)?, out.json, &columns);
    Ok(ExitCode::SUCCESS)
}
