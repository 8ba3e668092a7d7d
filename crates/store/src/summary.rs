//! The database at a glance, as `vip` with no command prints it: schema
//! version, pool size, the active rotation configs and the vault's state.

use std::path::PathBuf;

use serde::Serialize;

use crate::{Result, Store, migrate, vault::Vault};

/// The database at a glance.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The database file.
    pub path: PathBuf,
    /// Its schema version.
    pub schema_version: u32,
    /// Proxies in the pool.
    pub proxies: usize,
    /// Of which enabled.
    pub enabled: usize,
    /// Active rotation configs as "name (strategy, group)".
    pub active_rotations: Vec<String>,
    /// Whether the vault exists.
    pub vault_initialized: bool,
}

impl Store {
    /// The database at a glance.
    pub fn summary(&self) -> Result<Summary> {
        let proxies = self.list_proxies(None)?;
        let active_rotations = self
            .list_rotations()?
            .into_iter()
            .filter(|r| r.is_active)
            .map(|r| {
                let group = r.target_group.unwrap_or_else(|| "whole pool".into());
                format!("{} ({}, {group})", r.name, r.strategy)
            })
            .collect();
        Ok(Summary {
            path: self.path().to_path_buf(),
            schema_version: migrate::status(self.conn())?.current,
            proxies: proxies.len(),
            enabled: proxies.iter().filter(|p| p.enabled).count(),
            active_rotations,
            vault_initialized: Vault::status(self.conn())?.initialized,
        })
    }
}

/// One line per item.
impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "database: {} (schema version {})",
            self.path.display(),
            self.schema_version
        )?;
        writeln!(f, "proxies: {} ({} enabled)", self.proxies, self.enabled)?;
        let active = match self.active_rotations.as_slice() {
            [] => "none".to_string(),
            list => list.join(", "),
        };
        writeln!(f, "active rotation: {active}")?;
        let vault = if self.vault_initialized {
            "initialised"
        } else {
            "not initialised"
        };
        write!(f, "vault: {vault}")
    }
}
