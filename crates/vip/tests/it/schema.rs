//! schemathesis (PyPI, pinned in `xtask/tools/python.lock`, installed by
//! `cargo xtask test`) against a live `vip serve` with its token: at least
//! 50 generated cases per operation of the served OpenAPI document, every
//! check on (no 5xx, every response matches its schema and status list,
//! schema-violating requests refused, requests without or with a wrong
//! token refused), plus its stateful phase. The rate limits are raised for
//! the run so the checks meet the routes rather than 429s; a value the
//! schema cannot express (an unparsable cookie file, a URL that is not
//! http) may be refused with 422.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

/// Where `cargo xtask test` installed the tools.
fn tools() -> PathBuf {
    let dir = std::env::var_os("VIP_PYTHON_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/python")
        });
    assert!(
        dir.join("schemathesis").is_dir(),
        "schemathesis is not installed in {}: run `cargo xtask test` (it installs the \
         versions pinned in xtask/tools/python.lock)",
        dir.display()
    );
    dir
}

// 426: the events socket answers a request that is no WebSocket handshake
// so, and schemathesis cannot make one.
const CONFIG: &str = r#"
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "412", "422", "426", "428", "429"]

[checks.missing_required_header]
expected-statuses = ["400", "401", "403", "406", "415", "422", "428"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_wrong_with_the_live_api() {
    let tools = tools();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Named identities need the vault; without it their routes are 503.
    assert!(vip(d, &["vault", "init"]).status.success());
    let listen = format!("127.0.0.1:{}", free_port());
    let mut args = serve_args(&listen);
    for class in [
        "other",
        "tabs-change",
        "tabs-read",
        "sessions-save-load",
        "proxies-create",
        "proxies-list",
        "proxies-delete",
        "proxies-import",
        "auth-failures",
    ] {
        args.push("--api-rate-limit".into());
        args.push(format!("{class}=1000000000"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemon = Daemon::start(d, &args, &[]).await;
    let endpoint = std::fs::read_to_string(d.join("api-endpoint")).unwrap();
    let token = std::fs::read_to_string(d.join("api-token")).unwrap();
    let config = d.join("schemathesis.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let work = d.to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([
                "-c",
                "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
                "--config-file",
            ])
            .arg(&config)
            .args(["--no-color", "run"])
            .arg(format!("http://{}/api/v1/openapi.json", endpoint.trim()))
            .args(["-H", &format!("Authorization: Bearer {}", token.trim())])
            .args(["--max-examples", "50", "--checks", "all", "--seed", "1"])
            // Health checks dial the proxies schemathesis stores (any
            // host it makes up): tests stay on loopback, so those
            // operations are left to crates/daemon/tests/it/checks.rs.
            .args(["--exclude-path-regex", "check$"])
            .args(["--workers", "1"])
            .env("PYTHONPATH", &tools)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(&work)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let tail: String = report
        .lines()
        .rev()
        .take(60)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(out.status.success(), "schemathesis found problems:\n{tail}");
    let spec: serde_json::Value = serde_json::from_str(&vip_api::spec_json()).unwrap();
    let operations: usize = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| !path.ends_with("check"))
        .map(|(_, item)| item.as_object().unwrap().len())
        .sum();
    // schemathesis leaves out the operation that serves the document (and
    // the checks are excluded, above).
    assert!(
        report.contains(&format!("Tested: {}", operations - 1)),
        "not every one of the {operations} operations was tested:\n{tail}"
    );
    let generated: usize = report
        .lines()
        .find_map(|l| l.trim().split_once(" generated, ")?.0.parse().ok())
        .unwrap_or(0);
    assert!(
        generated >= 50 * operations,
        "only {generated} cases:\n{tail}"
    );
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
}
