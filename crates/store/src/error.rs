//! The store's error type. Each variant says what went wrong and, where a
//! user can act, how to fix it. Secrets never appear in messages.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::vault::VaultError;

/// A value in an import entry or proxy that cannot be used: the message
/// says which and how to fix it (it becomes that entry's verdict, or a
/// [`StoreError::Invalid`] for the field).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl From<String> for InvalidValue {
    fn from(message: String) -> InvalidValue {
        InvalidValue(message)
    }
}

impl From<&str> for InvalidValue {
    fn from(message: &str) -> InvalidValue {
        InvalidValue(message.to_string())
    }
}

/// Everything that can go wrong in the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database could not be opened.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS reason.
        source: std::io::Error,
    },
    /// An applied migration's file changed since it ran.
    #[error(
        "migration {version} ({name}) was applied with checksum {applied} but this binary has {current}: \
         the migration file changed after it ran; restore it or restore the database from a backup"
    )]
    ChecksumMismatch {
        /// Migration number.
        version: u32,
        /// Migration name.
        name: String,
        /// Checksum recorded when applied.
        applied: String,
        /// Checksum of the embedded file.
        current: String,
    },
    /// The database has migrations this binary does not know.
    #[error(
        "the database is at schema version {database} but this binary knows only up to {binary}: \
         use a newer vip, or restore a backup made by this version"
    )]
    NewerDatabase {
        /// Highest version applied to the database.
        database: u32,
        /// Highest version this binary has.
        binary: u32,
    },
    /// A migration failed; nothing of it was applied.
    #[error("migration {version} ({name}) failed and was rolled back: {source}")]
    MigrationFailed {
        /// Migration number.
        version: u32,
        /// Migration name.
        name: String,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// A migration cannot be undone.
    #[error("migration {version} has no rollback file; restore a backup instead")]
    NoRollback {
        /// Migration number.
        version: u32,
    },
    /// `PRAGMA integrity_check` found problems.
    #[error("database integrity check failed: {0}")]
    Corrupt(String),
    /// A row was not found.
    #[error("{what} {id} does not exist")]
    NotFound {
        /// Kind of row, e.g. "proxy".
        what: &'static str,
        /// The id or name looked up.
        id: String,
    },
    /// Input that cannot be stored.
    #[error("{field}: {message}")]
    Invalid {
        /// The field or argument.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The credential vault refused.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl StoreError {
    pub(crate) fn open(path: &Path, source: rusqlite::Error) -> StoreError {
        StoreError::Open {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: &'static str, id: impl ToString) -> StoreError {
        StoreError::NotFound {
            what,
            id: id.to_string(),
        }
    }
}
