//! `cargo xtask bench engine`: runs the engine's criterion benchmarks and
//! prints one table of median nanoseconds per selection, by strategy and pool
//! size, read back from criterion's `estimates.json` files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

pub fn run(args: &[&str]) -> anyhow::Result<()> {
    match args {
        ["engine", rest @ ..] => engine(rest.contains(&"--quick")),
        ["store"] => crate::run(crate::cargo().args([
            "bench",
            "-p",
            "vip-store",
            "--bench",
            "ingest",
            "--locked",
        ])),
        ["privacy"] => {
            crate::run(crate::cargo().args([
                "bench",
                "-p",
                "vip-privacy",
                "--bench",
                "blocklist",
                "--locked",
            ]))?;
            table_for("blocklist")
        }
        ["gateway"] => {
            crate::packages::ensure(&["tinyproxy", "microsocks", "privoxy", "squid", "procps"])?;
            crate::run(crate::cargo().args(["build", "--release", "--locked", "-p", "vip"]))?;
            let bin = target_dir().join("release").join("vip");
            crate::run(
                crate::cargo()
                    .args([
                        "bench",
                        "-p",
                        "vip-gateway",
                        "--bench",
                        "peers",
                        "--bench",
                        "faults",
                        "--locked",
                    ])
                    .env("VIP_BIN", bin),
            )
        }
        ["daemon"] => crate::run(crate::cargo().args([
            "bench",
            "-p",
            "vip-daemon",
            "--bench",
            "reload",
            "--bench",
            "exit",
            "--locked",
        ])),
        ["api"] => {
            crate::run(
                crate::cargo().args(["bench", "-p", "vip-api", "--bench", "guard", "--locked"]),
            )?;
            crate::run(
                crate::cargo().args(["bench", "-p", "vip-api", "--bench", "events", "--locked"]),
            )?;
            crate::run(crate::cargo().args([
                "bench",
                "-p",
                "vip-daemon",
                "--bench",
                "proxies",
                "--locked",
            ]))
        }
        ["browser"] => {
            crate::packages::ensure(&[
                "chromium",
                "webext-ublock-origin-chromium",
                "publicsuffix",
            ])?;
            crate::run(crate::cargo().args([
                "bench",
                "-p",
                "vip-browser",
                "--bench",
                "tabs",
                "--locked",
            ]))
        }
        _ => {
            bail!(
                "usage: cargo xtask bench engine [--quick] | store | privacy | gateway | browser | daemon | api"
            )
        }
    }
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        })
}

fn engine(quick: bool) -> anyhow::Result<()> {
    let mut cmd = crate::cargo();
    cmd.args([
        "bench",
        "-p",
        "vip-engine",
        "--bench",
        "select",
        "--locked",
        "--",
    ]);
    if quick {
        cmd.args(["--warm-up-time", "0.3", "--measurement-time", "1"]);
    }
    crate::run(&mut cmd)?;
    let root = target_dir().join("criterion");
    let mut table: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    collect(&root, &root, &mut table)?;
    table.retain(|row, _| !row.starts_with("blocklist"));
    print_table(&table);
    Ok(())
}

/// Prints the criterion results of one group.
fn table_for(group: &str) -> anyhow::Result<()> {
    let root = target_dir().join("criterion");
    let mut table: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    collect(&root, &root, &mut table)?;
    table.retain(|row, _| row.starts_with(group) || row == group);
    print_table(&table);
    Ok(())
}

/// Finds `<group>/<function>/<parameter>/new/estimates.json` files.
fn collect(
    root: &Path,
    dir: &Path,
    table: &mut BTreeMap<String, BTreeMap<String, f64>>,
) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        let estimates = path.join("new").join("estimates.json");
        if estimates.is_file() {
            let rel: Vec<String> = path
                .strip_prefix(root)?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if rel.len() < 2 || rel.first().is_some_and(|g| g == "report") {
                continue;
            }
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&estimates)?)?;
            let median = json["median"]["point_estimate"]
                .as_f64()
                .unwrap_or(f64::NAN);
            let column = rel.last().cloned().unwrap_or_default();
            let row = rel[..rel.len() - 1].join("/");
            table.entry(row).or_default().insert(column, median);
        } else {
            collect(root, &path, table)?;
        }
    }
    Ok(())
}

fn print_table(table: &BTreeMap<String, BTreeMap<String, f64>>) {
    let mut columns: Vec<&String> = table.values().flat_map(|r| r.keys()).collect();
    columns.sort_by_key(|c| (c.parse::<u64>().unwrap_or(u64::MAX), c.to_string()));
    columns.dedup();
    print!("| {:<34} |", "benchmark (median ns)");
    for c in &columns {
        print!(" {c:>9} |");
    }
    println!();
    print!("|{}|", "-".repeat(36));
    for _ in &columns {
        print!("{}:|", "-".repeat(10));
    }
    println!();
    for (row, values) in table {
        print!("| {row:<34} |");
        for c in &columns {
            match values.get(*c) {
                Some(v) => print!(" {v:>9.1} |"),
                None => print!(" {:>9} |", "-"),
            }
        }
        println!();
    }
}
