//! `cargo xtask`: project automation that must work on a brand-new machine.
//!
//! - `cargo xtask test`: install the Debian packages the test suites need
//!   (only those missing; `apt-get update` once first) and the pinned
//!   PyPI tools of `xtask/tools/python.lock` into the target directory
//!   (`tools.rs`), then `cargo fmt
//!   --check`, `cargo clippy --all-targets -D warnings`, and every test.
//!   It first makes sure the disk has room for the build (`disk.rs`); under
//!   `CI` it builds without incremental state, which a clean clone can't
//!   reuse and which would double the target directory.
//! - `cargo xtask bench engine`: run the engine's criterion benchmarks and
//!   print a table of median times per strategy and pool size.
//! - `cargo xtask bench store`: usage-ingestion throughput into SQLite.
//! - `cargo xtask bench privacy`: cost of one tracker-blocking decision.
//! - `cargo xtask bench gateway`: the gateway against tinyproxy, privoxy and
//!   squid as a hop in front of the same upstream; then under faults (added
//!   latency per faulty first candidate, keep-alive reuse, `vip proxy
//!   check --all` over 10,000 local proxies).
//! - `cargo xtask bench api`: the control API's checks against a bare router.
//! - `cargo xtask bench daemon`: selection latency while the daemon reloads
//!   a 100,000-proxy pool with 200 rules, and what learning an exit costs.

mod bench;
mod disk;
mod packages;
mod tools;

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

/// Debian packages the test suites need: real upstream proxies for the
/// gateway's tests (privoxy for upstream keep-alive, which tinyproxy lacks), EasyList/EasyPrivacy for tracker blocking, Chromium for
/// the browser's, the public suffix list its fingerprint seeds use, and a
/// font outside the base set (the font test shows it stays hidden), and a
/// virtual X display with a key sender (a tab opened with Ctrl+T).
const TEST_PACKAGES: &[&str] = &[
    "tinyproxy",
    "microsocks",
    "privoxy",
    "webext-ublock-origin-chromium",
    "chromium",
    "publicsuffix",
    "fonts-dejavu-core",
    "fonts-dejavu-extra",
    "procps",
    "xvfb",
    "xdotool",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["test", rest @ ..] => test(rest),
        ["bench", rest @ ..] => bench::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask test [-- TEST-FILTER...]\n       cargo xtask bench engine [--quick] | store | privacy | gateway | browser | daemon | api"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command, failing with its name if it does not succeed.
pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: $ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// `cargo` for the build steps of `test`: without incremental state on CI.
fn build_cargo() -> Command {
    let mut cmd = cargo();
    if std::env::var_os("CI").is_some() {
        cmd.env("CARGO_INCREMENTAL", "0");
    }
    cmd
}

fn has_cargo_subcommand(name: &str) -> bool {
    cargo()
        .args([name, "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn test(filters: &[&str]) -> anyhow::Result<()> {
    packages::ensure(TEST_PACKAGES)?;
    if !has_cargo_subcommand("fmt") || !has_cargo_subcommand("clippy") {
        run(Command::new("rustup").args(["component", "add", "rustfmt", "clippy"]))?;
    }
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    disk::ensure_room()?;
    run(build_cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    let python_tools = tools::python()?;
    let filters: Vec<&str> = filters.iter().copied().filter(|f| *f != "--").collect();
    if has_cargo_subcommand("nextest") {
        run(build_cargo()
            .env("VIP_PYTHON_TOOLS", &python_tools)
            .args([
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--no-fail-fast",
            ])
            .args(&filters))?;
    } else {
        run(build_cargo()
            .env("VIP_PYTHON_TOOLS", &python_tools)
            .args(["test", "--workspace", "--locked", "--no-fail-fast"])
            .args(&filters))?;
    }
    Ok(())
}
