//! The `vip` binary end to end, on a real data directory: a short session
//! (import, list, create and activate a rotation), the documented exit codes,
//! and the promise that imported passwords appear nowhere in plaintext: not
//! in the database file, its WAL, standard error, or any `--json` output.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

const MASTER: &str = "cli test master password";

fn vip(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_vip"))
        .args(args)
        .env("VIP_DATA_DIR", dir)
        .env("VIP_MASTER_PASSWORD", MASTER)
        .env_remove("VIP_NEW_MASTER_PASSWORD")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn passwords_never_appear_in_files_logs_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let passwords: Vec<String> = (0..20)
        .map(|i| format!("Pw{i:02}-x7Q9-unique-{}", i * 7919))
        .collect();
    let mut list = String::new();
    for (i, pw) in passwords.iter().enumerate() {
        match i % 3 {
            0 => list.push_str(&format!("user{i}:{pw}@10.1.0.{i}:8080\n")),
            1 => list.push_str(&format!("10.1.0.{i}:8080:user{i}:{pw}\n")),
            _ => list.push_str(&format!("socks5://user{i}:{pw}@10.1.0.{i}:1080\n")),
        }
    }
    let file = dir.path().join("list.txt");
    std::fs::write(&file, &list).unwrap();
    // Holding a connection keeps the WAL file on disk (the last connection to
    // close would checkpoint and delete it), so its bytes can be checked too.
    let held = vip_store::Store::open(dir.path().join(vip_store::DATABASE_FILE)).unwrap();
    let mut seen = Vec::new();
    let import = vip(
        dir.path(),
        &["proxy", "import", file.to_str().unwrap(), "--json"],
    );
    assert!(import.status.success(), "{}", text(&import));
    let report: serde_json::Value = serde_json::from_slice(&import.stdout).unwrap();
    assert_eq!(report["imported"], 20);
    seen.push(text(&import));
    for args in [
        &["proxy", "list", "--json"][..],
        &["proxy", "list"],
        &["stats", "--json"],
        &["events", "--json"],
        &["vault", "status", "--json"],
        &["db", "status", "--json"],
        &["proxy", "export"],
        &["proxy", "export", "--format", "csv"],
        &["proxy", "export", "--format", "pac"],
        &["vault", "rotate-key", "--json"],
    ] {
        let o = vip(dir.path(), args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        seen.push(text(&o));
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path != file {
            files.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    let wal = files
        .iter()
        .find(|(p, _)| p.to_string_lossy().ends_with("vip.db-wal"))
        .expect("the WAL is checked too");
    assert!(wal.1.len() > 4096, "the WAL holds the import's pages");
    drop(held);
    for pw in &passwords {
        for out in &seen {
            assert!(!out.contains(pw.as_str()), "password in output: {out}");
        }
        for (path, bytes) in &files {
            assert!(!contains(bytes, pw), "password in {}", path.display());
        }
    }
    // With the explicit flag, export does reveal them (and only then).
    let with = vip(dir.path(), &["proxy", "export", "--with-credentials"]);
    assert!(passwords.iter().all(|pw| text(&with).contains(pw.as_str())));
}

#[test]
fn a_short_session_and_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "1.2.3.4:8080\nalice:pw@5.6.7.8:3128\nnot a proxy\n").unwrap();
    let o = vip(dir.path(), &["proxy", "import", list.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "some entries invalid: {}",
        text(&o)
    );
    assert!(text(&o).contains("line 3: invalid: missing port"));
    let o = vip(dir.path(), &["proxy", "list"]);
    assert!(text(&o).contains("5.6.7.8") && text(&o).contains("yes"));
    let config = dir.path().join("rr.json");
    std::fs::write(&config, r#"{"name":"rr","strategy":"round-robin"}"#).unwrap();
    let o = vip(
        dir.path(),
        &["rotation", "create", config.to_str().unwrap(), "--activate"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = vip(
        dir.path(),
        &[
            "rotation",
            "create",
            "--name",
            "w",
            "--strategy",
            "weighted",
            "--group",
            "res",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = vip(
        dir.path(),
        &["rotation", "create", "--name", "x", "--strategy", "zigzag"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("unknown strategy \"zigzag\""),
        "{}",
        text(&o)
    );
    let o = vip(dir.path(), &["rotation", "list", "--json"]);
    let configs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            configs[0]["name"].as_str(),
            configs[0]["is_active"].as_bool()
        ),
        (Some("rr"), Some(true))
    );
    assert_eq!(
        (
            configs[1]["strategy"].as_str(),
            configs[1]["target_group"].as_str()
        ),
        (Some("weighted"), Some("res"))
    );
    let o = vip(
        dir.path(),
        &[
            "proxy",
            "set",
            "1",
            "--country",
            "fr",
            "--disable",
            "--tag",
            "dc",
            "--json",
        ],
    );
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            p["country"].as_str(),
            p["enabled"].as_bool(),
            p["tags"][0].as_str()
        ),
        (Some("FR"), Some(false), Some("dc"))
    );
    let o = vip(dir.path(), &["proxy", "set", "1", "--country", "France"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("country: \"France\" is not a country code"),
        "{}",
        text(&o)
    );
    // 2: invalid input, naming the path.
    std::fs::write(
        &config,
        r#"{"name":"w","strategy":"weighted","strategy_config":{"weights":{"1":101}}}"#,
    )
    .unwrap();
    let o = vip(
        dir.path(),
        &["rotation", "create", config.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("strategy_config.weights.1"),
        "{}",
        text(&o)
    );
    let o = vip(dir.path(), &["proxy", "rm", "999"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("proxy 999 does not exist"));
    // 4: wrong master password, nothing changed.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_vip"))
        .args(["proxy", "export", "--with-credentials"])
        .env("VIP_DATA_DIR", dir.path())
        .env("VIP_MASTER_PASSWORD", "not the password")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4));
    assert!(text(&o).contains("wrong master password"));
    // An import past the progress-bar threshold (1,000 entries) succeeds off a
    // terminal, where the bar is hidden; the bar itself is not asserted here.
    let big: String = (0..1500)
        .map(|i| format!("10.9.{}.{}:8080\n", i / 250, i % 250))
        .collect();
    std::fs::write(&list, big).unwrap();
    let o = vip(
        dir.path(),
        &["proxy", "import", list.to_str().unwrap(), "--json"],
    );
    assert!(o.status.success());
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["imported"], 1500);
}

#[test]
fn config_show_names_each_source_and_bad_settings_stop_serve() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "[health]\ninterval = 30\n[gateway]\nclient_auth = \"u:cfg-secret\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vip"))
        .args([
            "config",
            "show",
            "--json",
            "--config",
            file.to_str().unwrap(),
        ])
        .env("VIP_DATA_DIR", dir.path())
        .env("VIP_UPKEEP_POLL_MS", "500")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("cfg-secret"), "{text}");
    let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
    let row = |key: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(row("health.interval")["value"], "30");
    assert_eq!(
        row("health.interval")["source"],
        format!("file {}", file.display())
    );
    assert_eq!(row("upkeep.poll_ms")["value"], "500");
    assert_eq!(row("upkeep.poll_ms")["source"], "env VIP_UPKEEP_POLL_MS");
    assert_eq!(row("shutdown.grace")["source"], "default");
    assert_eq!(row("gateway.client_auth")["value"], "***");

    // Each source's mistake stops `vip serve` with exit code 2, naming it.
    std::fs::write(&file, "[health]\nintervall = 30\n").unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 3] = [
        (
            &["--config", file.to_str().unwrap()],
            &[],
            "unknown setting \"health.intervall\"",
        ),
        (
            &["--grace", "0"],
            &[],
            "flag --grace: shutdown.grace = \"0\": use a whole number of seconds from 1 to 600",
        ),
        (
            &[],
            &[("VIP_HEALTH_INTERVAL", "soon")],
            "env VIP_HEALTH_INTERVAL: health.interval = \"soon\"",
        ),
    ];
    for (args, env, needle) in cases {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vip"));
        cmd.arg("serve").args(args).env("VIP_DATA_DIR", dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
