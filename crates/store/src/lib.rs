//! # vip-store
//!
//! Everything Virtual IP Browser remembers, in one SQLite file (bundled
//! SQLite, WAL, foreign keys on, busy timeout): the proxy pool, rotation
//! configs and rules, sticky mappings, hourly usage statistics, rotation
//! events, circuit breakers, tabs, sessions, schedules and the activity log,
//! plus credentials encrypted by the [`vault`]. The store is the source of
//! truth after any restart or crash.
//!
//! [`Store::open`] applies pending migrations (backing the file up first);
//! repositories are methods on [`Store`] grouped by table in `repo/`;
//! [`usage::UsageWriter`] ingests usage events in batches on its own thread;
//! [`porting`] imports and exports proxy lists.

mod clock;
mod error;
pub mod migrate;
pub mod porting;
pub mod repo;
mod summary;
pub mod usage;
pub mod vault;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use clock::now_ms;
pub use error::{InvalidValue, StoreError};
pub use summary::Summary;

/// Result type of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "vip.db";

/// An open database. Not `Sync`: the shell keeps it behind one lock or on one
/// thread; the usage writer has its own connection.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Opens a connection with the pragmas every connection uses.
pub(crate) fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::open(path, e))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| StoreError::open(path, e))?;
    // WAL: readers never block the writer. synchronous=NORMAL in WAL mode
    // keeps every committed transaction across a process crash; only a power
    // loss can drop the last few.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA trusted_schema = OFF;",
    )
    .map_err(|e| StoreError::open(path, e))?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies pending
    /// migrations, backing the file up first when it already held data.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let store = Store::open_unmigrated(path)?;
        migrate::run_pending(&store.conn, &store.path)?;
        Ok(store)
    }

    /// Opens without migrating, for `vip db status` and `vip db migrate`.
    pub fn open_unmigrated(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        let conn = connect(&path)?;
        Ok(Store { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection, for repositories and tests.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Copies the live database to `dest` with SQLite's online backup.
    pub fn backup_to(&self, dest: impl AsRef<Path>) -> Result<()> {
        migrate::backup(&self.conn, dest.as_ref())
    }

    /// `PRAGMA data_version`: a number that changes whenever another
    /// connection commits to the database (this connection's own commits
    /// leave it alone). Reading it touches no table, so polling is cheap.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check`: `Ok(())` or the problems found.
    pub fn integrity_check(&self) -> Result<()> {
        let result: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(result))
        }
    }
}

/// Creates a directory readable only by the user.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}
