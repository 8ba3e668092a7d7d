//! Schema migrations: numbered SQL files embedded in the binary, each applied
//! in one transaction and recorded in `schema_migrations` with its SHA-256.
//! Before pending migrations run on a database that already holds data, the
//! file is backed up with SQLite's online backup. An applied migration whose
//! file changed, or a database newer than the binary, is refused. Most
//! migrations have a rollback file, so `migrate_to` can also go down.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

use crate::{Result, StoreError, now_ms};

/// One embedded migration.
#[derive(Debug)]
pub struct Migration {
    /// 1, 2, 3, … in order.
    pub version: u32,
    /// File name without number and extension.
    pub name: &'static str,
    /// The forward SQL.
    pub up: &'static str,
    /// The rollback SQL, when the migration can be undone.
    pub down: Option<&'static str>,
}

macro_rules! migration {
    ($version:literal, $file:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            up: include_str!(concat!("../migrations/", $file, "_", $name, ".sql")),
            down: Some(include_str!(concat!(
                "../migrations/",
                $file,
                "_",
                $name,
                ".down.sql"
            ))),
        }
    };
}

/// Every migration this binary knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001", "proxies_and_vault"),
    migration!(2, "0002", "rotation"),
    migration!(3, "0003", "usage_and_activity"),
    migration!(4, "0004", "tabs_sessions_schedules"),
    migration!(5, "0005", "health"),
    migration!(6, "0006", "identities"),
    migration!(7, "0007", "sticky_scopes"),
    migration!(8, "0008", "identity_geo"),
    migration!(9, "0009", "attempt_events"),
    migration!(10, "0010", "proxy_listing"),
];

/// The newest schema version this binary knows.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// SHA-256 of a migration's SQL, hex.
pub fn checksum(sql: &str) -> String {
    let digest = Sha256::digest(sql.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A migration recorded as applied.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    /// Version.
    pub version: u32,
    /// Name.
    pub name: String,
    /// Checksum recorded when applied.
    pub checksum: String,
    /// When (ms since the epoch).
    pub applied_at: i64,
}

/// Where the schema stands.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// Highest applied version (0 for an empty database).
    pub current: u32,
    /// Highest version this binary knows.
    pub latest: u32,
    /// Applied migrations.
    pub applied: Vec<Applied>,
    /// Versions and names still to apply.
    pub pending: Vec<(u32, String)>,
}

fn ensure_table(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT    NOT NULL,
             checksum   TEXT    NOT NULL,
             applied_at INTEGER NOT NULL
         );",
    )?;
    Ok(())
}

fn applied(conn: &Connection) -> Result<Vec<Applied>> {
    ensure_table(conn)?;
    let mut stmt = conn.prepare(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Applied {
            version: r.get(0)?,
            name: r.get(1)?,
            checksum: r.get(2)?,
            applied_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Reads the schema status, refusing a changed migration or a newer database.
pub fn status(conn: &Connection) -> Result<Status> {
    let applied = applied(conn)?;
    let latest = latest_version();
    for a in &applied {
        let Some(m) = MIGRATIONS.iter().find(|m| m.version == a.version) else {
            return Err(StoreError::NewerDatabase {
                database: a.version,
                binary: latest,
            });
        };
        let current = checksum(m.up);
        if current != a.checksum {
            return Err(StoreError::ChecksumMismatch {
                version: a.version,
                name: a.name.clone(),
                applied: a.checksum.clone(),
                current,
            });
        }
    }
    let current = applied.last().map_or(0, |a| a.version);
    let pending = MIGRATIONS
        .iter()
        .filter(|m| m.version > current)
        .map(|m| (m.version, m.name.to_string()))
        .collect();
    Ok(Status {
        current,
        latest,
        applied,
        pending,
    })
}

/// Applies every pending migration; returns the versions applied.
pub fn run_pending(conn: &Connection, db_path: &Path) -> Result<Vec<u32>> {
    migrate_to(conn, db_path, latest_version())
}

/// Moves the schema up or down to `target`, one transaction per migration.
/// Backs the database up first when it holds applied migrations.
pub fn migrate_to(conn: &Connection, db_path: &Path, target: u32) -> Result<Vec<u32>> {
    let status = status(conn)?;
    if target > status.latest {
        return Err(StoreError::invalid(
            "target version",
            format!("{target} is beyond the newest migration {}", status.latest),
        ));
    }
    if target == status.current {
        return Ok(Vec::new());
    }
    if status.current > 0 {
        backup(conn, &backup_path(db_path, status.current))?;
    }
    let mut done = Vec::new();
    if target > status.current {
        for m in MIGRATIONS
            .iter()
            .filter(|m| m.version > status.current && m.version <= target)
        {
            let tx = conn.unchecked_transaction()?;
            let fail = |source| StoreError::MigrationFailed {
                version: m.version,
                name: m.name.into(),
                source,
            };
            tx.execute_batch(m.up).map_err(fail)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
                params![m.version, m.name, checksum(m.up), now_ms()],
            )
            .map_err(fail)?;
            tx.commit().map_err(fail)?;
            done.push(m.version);
        }
    } else {
        for m in MIGRATIONS
            .iter()
            .rev()
            .filter(|m| m.version > target && m.version <= status.current)
        {
            let down = m
                .down
                .ok_or(StoreError::NoRollback { version: m.version })?;
            let tx = conn.unchecked_transaction()?;
            let fail = |source| StoreError::MigrationFailed {
                version: m.version,
                name: m.name.into(),
                source,
            };
            tx.execute_batch(down).map_err(fail)?;
            tx.execute(
                "DELETE FROM schema_migrations WHERE version = ?1",
                [m.version],
            )
            .map_err(fail)?;
            tx.commit().map_err(fail)?;
            done.push(m.version);
        }
    }
    Ok(done)
}

fn backup_path(db_path: &Path, version: u32) -> PathBuf {
    let name = db_path
        .file_name()
        .map_or("vip.db".into(), |n| n.to_string_lossy().into_owned());
    db_path.with_file_name(format!("{name}.v{version}-{}.bak", now_ms()))
}

/// Copies the live database to `dest` with the online backup API.
pub fn backup(conn: &Connection, dest: &Path) -> Result<()> {
    let io = |e| StoreError::Io {
        path: dest.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let mut target = Connection::open(dest).map_err(|e| StoreError::open(dest, e))?;
    let backup = rusqlite::backup::Backup::new(conn, &mut target).map_err(io)?;
    backup
        .run_to_completion(512, Duration::ZERO, None)
        .map_err(io)?;
    Ok(())
}
