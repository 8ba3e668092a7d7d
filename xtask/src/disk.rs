//! Room on disk for a test build. A full disk shows up late and badly: the
//! linker dies with SIGBUS halfway through the workspace. So `cargo xtask
//! test` looks first: when the target directory's file system is short, it
//! clears the target directory (only build products live there) and stops
//! with a clear message if that is still not enough.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

const GIB: u64 = 1 << 30;
/// A cold `cargo xtask test` writes about 1.1 GiB (ARCHITECTURE.md has the
/// figure); below this much free space the target directory is cleared.
const CLEAN_BELOW: u64 = 4 * GIB;
/// Below this much after clearing, the build is not started at all.
const REFUSE_BELOW: u64 = 3 * GIB / 2;

/// Where cargo puts build products for this workspace.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .join("target"),
    }
}

/// Free bytes on the file system holding `path` (or its nearest existing
/// ancestor), from POSIX `df -Pk`.
fn free_bytes(path: &Path) -> anyhow::Result<u64> {
    let existing = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let out = Command::new("df")
        .arg("-Pk")
        .arg(existing)
        .output()
        .context("could not run df to check free disk space")?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_df(&text).with_context(|| format!("could not read df's answer for {existing:?}: {text}"))
}

/// The "Available" column of `df -P` output's second line, in KiB, as bytes.
fn parse_df(text: &str) -> Option<u64> {
    let line = text.lines().nth(1)?;
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

/// Makes sure a test build has room, clearing the target directory if not.
pub fn ensure_room() -> anyhow::Result<()> {
    let target = target_dir();
    let free = free_bytes(&target)?;
    if free >= CLEAN_BELOW {
        return Ok(());
    }
    if target.exists() {
        eprintln!(
            "xtask: only {} free for {}; clearing it so the build has room",
            gib(free),
            target.display()
        );
        crate::run(crate::cargo().args(["clean", "--target-dir"]).arg(&target))?;
    }
    let free = free_bytes(&target)?;
    if free < REFUSE_BELOW {
        bail!(
            "only {} free on the disk holding {}; a test build needs about {}. \
             Free some space, or set CARGO_TARGET_DIR to a disk with room.",
            gib(free),
            target.display(),
            gib(REFUSE_BELOW)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_df;

    #[test]
    fn reads_the_available_column() {
        let text = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n\
                    /dev/vda         264000000 91000000  3200000      97% /\n";
        assert_eq!(parse_df(text), Some(3_200_000 * 1024));
        assert_eq!(parse_df("Filesystem\n"), None);
        assert_eq!(parse_df(""), None);
    }
}
