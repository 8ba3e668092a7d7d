//! Where vip keeps its state: `--data-dir`, else `VIP_DATA_DIR` (both via
//! clap), else the platform data directory (XDG on Linux) plus `vip`.

use std::path::PathBuf;

/// Resolves the data directory without creating it.
pub fn resolve(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| dirs::data_dir().map(|d| d.join("vip")))
        .unwrap_or_else(|| PathBuf::from(".vip"))
}
