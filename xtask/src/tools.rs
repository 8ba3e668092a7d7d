//! Pinned PyPI tools a test needs (schemathesis), installed into the
//! target directory from `xtask/tools/python.lock` (every package at an
//! exact version, installed without resolving anything else), and again
//! only when the lock changes. The tests find them through
//! `VIP_PYTHON_TOOLS`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// The lock file, next to this crate.
fn lock() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tools")
        .join("python.lock")
}

/// Installs the locked tools (if not already) and returns their directory.
pub fn python() -> anyhow::Result<PathBuf> {
    let dir = crate::bench::target_dir().join("tools").join("python");
    let wanted = std::fs::read_to_string(lock()).context("reading xtask/tools/python.lock")?;
    let stamp = dir.join(".installed-lock");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    crate::run(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-input",
                "--target",
            ])
            .arg(&dir)
            .arg("-r")
            .arg(lock()),
    )?;
    std::fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(dir)
}
