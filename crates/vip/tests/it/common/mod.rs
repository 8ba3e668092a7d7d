//! Running the `vip` binary in tests: one-shot commands and a `vip serve`
//! daemon in its own data directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const MASTER: &str = "serve test master password";

/// Runs `vip ARGS` with the data directory and master password set.
pub fn vip(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vip"))
        .args(args)
        .env("VIP_DATA_DIR", dir)
        .env("VIP_MASTER_PASSWORD", MASTER)
        .output()
        .unwrap()
}

/// `vip ARGS --json`, parsed; panics with stderr on failure.
pub fn vip_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = vip(dir, &all);
    assert!(
        out.status.success(),
        "vip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A free loopback port.
/// Imports the proxy list `text` with `vip proxy import`.
pub fn import_list(dir: &Path, text: &str) {
    let list = dir.join("list.txt");
    std::fs::write(&list, text).unwrap();
    let out = vip(dir, &["proxy", "import", list.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates the rotation config `json` with the CLI and makes it active.
pub fn activate(dir: &Path, json: &str) {
    let config = dir.join("config.json");
    std::fs::write(&config, json).unwrap();
    let out = vip(
        dir,
        &["rotation", "create", config.to_str().unwrap(), "--activate"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `vip serve` flags for a quiet daemon: the shared listener on `listen`,
/// no browser, no blocking, no health checks, the API on a free port.
pub fn serve_args(listen: &str) -> Vec<String> {
    [
        "--listen",
        listen,
        "--no-browser",
        "--no-blocking",
        "--check-interval",
        "0",
        "--api-listen",
        "127.0.0.1:0",
    ]
    .map(String::from)
    .to_vec()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `vip serve`.
pub struct Daemon {
    pub child: Child,
    pub dir: PathBuf,
}

impl Daemon {
    /// Starts `vip serve ARGS` and waits until its control API is up.
    pub async fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let _ = std::fs::remove_file(dir.join("api-endpoint"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vip"));
        cmd.arg("serve")
            .args(args)
            .env("VIP_DATA_DIR", dir)
            .env("VIP_MASTER_PASSWORD", MASTER)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let started = Instant::now();
        while !dir.join("api-endpoint").exists() {
            if let Some(status) = child.try_wait().unwrap() {
                let mut log = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
                panic!("vip serve exited early ({status}): {log}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "vip serve did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Daemon {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// SIGTERM, then waits; returns the exit status and what it printed.
    pub async fn stop(mut self) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let stopped = Instant::now();
        let exit = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                stopped.elapsed() < Duration::from_secs(30),
                "vip serve did not stop"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut log = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut log).unwrap();
        (exit, log)
    }
}

/// Waits (at most 20 s) until `check` holds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
