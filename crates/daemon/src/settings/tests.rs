//! Settings: precedence of the sources, and the precise error for an
//! unknown key, a wrong type and an out-of-range value in each source.

#![allow(clippy::unwrap_used)]

use super::{Settings, SettingsError, Source};

fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn error(result: Result<Settings, SettingsError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn flags_beat_env_beat_the_file_beat_defaults() {
    let (_dir, path) = file(
        "[health]\ninterval = 30\ntimeout = 20\nconcurrency = 50\n[gateway]\nclient_auth = \"u:file-secret\"\n",
    );
    let s = Settings::load(
        Some(&path),
        env(&[
            ("VIP_HEALTH_TIMEOUT", "25"),
            ("VIP_HEALTH_CONCURRENCY", "60"),
            ("HOME", "/x"),
        ]),
        &[("health.concurrency", "70".into())],
    )
    .unwrap();
    assert_eq!(s.number("health.interval"), Some(30));
    assert_eq!(s.source("health.interval"), Source::File(path.clone()));
    assert_eq!(s.number("health.timeout"), Some(25));
    assert_eq!(
        s.source("health.timeout"),
        Source::Env("VIP_HEALTH_TIMEOUT".into())
    );
    assert_eq!(s.number("health.concurrency"), Some(70));
    assert_eq!(
        s.source("health.concurrency"),
        Source::Flag("--check-concurrency")
    );
    assert_eq!(s.number("shutdown.grace"), Some(10));
    assert_eq!(s.source("shutdown.grace"), Source::Default);
    assert_eq!(
        s.text("gateway.client_auth").as_deref(),
        Some("u:file-secret")
    );
    // Shown, a secret is only stars.
    let shown: Vec<String> = s
        .rows()
        .iter()
        .filter_map(|(_, v, _)| v.map(|v| v.shown()))
        .collect();
    assert!(
        shown.iter().all(|v| !v.contains("file-secret")),
        "{shown:?}"
    );
    assert!(shown.contains(&"***".to_string()));
}

#[test]
fn a_missing_file_that_was_named_is_an_error() {
    let e = error(Settings::load(
        Some(std::path::Path::new("/nonexistent/vip.toml")),
        env(&[]),
        &[],
    ));
    assert!(e.contains("/nonexistent/vip.toml"), "{e}");
}

#[test]
fn each_source_names_what_is_wrong() {
    let (_dir, path) = file("[health]\nintervall = 5\n");
    let e = error(Settings::load(Some(&path), env(&[]), &[]));
    assert!(
        e.contains(&path.display().to_string()) && e.contains("\"health.intervall\""),
        "{e}"
    );
    assert!(
        e.contains("health.interval,"),
        "the section's keys are listed: {e}"
    );

    let (_dir, path) = file("[health]\ninterval = \"soon\"\n");
    let e = error(Settings::load(Some(&path), env(&[]), &[]));
    assert!(
        e.contains("health.interval") && e.contains("from 0 to 86400"),
        "{e}"
    );

    let (_dir, path) = file("[shutdown]\ngrace = 900\n");
    let e = error(Settings::load(Some(&path), env(&[]), &[]));
    assert!(
        e.contains("shutdown.grace") && e.contains("900") && e.contains("from 1 to 600"),
        "{e}"
    );

    let (_dir, path) = file("gateway = 3\n");
    let e = error(Settings::load(Some(&path), env(&[]), &[]));
    assert!(e.contains("the sections gateway, blocking"), "{e}");

    let (_dir, path) = file("[gateway\n");
    let e = error(Settings::load(Some(&path), env(&[]), &[]));
    assert!(e.contains("not valid TOML"), "{e}");

    let e = error(Settings::load(None, env(&[("VIP_UPKEEP_POLL", "5")]), &[]));
    assert!(
        e.contains("env VIP_UPKEEP_POLL") && e.contains("VIP_UPKEEP_POLL_MS"),
        "{e}"
    );

    let e = error(Settings::load(
        None,
        env(&[("VIP_UPKEEP_POLL_MS", "5")]),
        &[],
    ));
    assert!(
        e.contains("VIP_UPKEEP_POLL_MS") && e.contains("from 10 to 60000"),
        "{e}"
    );

    let e = error(Settings::load(
        None,
        env(&[("VIP_API_LISTEN", "localhost")]),
        &[],
    ));
    assert!(
        e.contains("api.listen") && e.contains("127.0.0.1:8899"),
        "{e}"
    );

    let e = error(Settings::load(
        None,
        env(&[]),
        &[("shutdown.grace", "0".into())],
    ));
    assert!(
        e.contains("flag --grace") && e.contains("from 1 to 600"),
        "{e}"
    );

    let e = error(Settings::load(
        None,
        env(&[("VIP_GATEWAY_CLIENT_AUTH", "no-colon-secret")]),
        &[],
    ));
    assert!(
        e.contains("USER:PASS") && !e.contains("no-colon-secret"),
        "{e}"
    );
}

#[test]
fn other_programs_variables_are_left_alone() {
    let s = Settings::load(
        None,
        env(&[
            ("VIP_DATA_DIR", "/x"),
            ("VIP_MASTER_PASSWORD", "p"),
            ("VIP_CHROMIUM", "/c"),
            ("VIPER", "1"),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(s.number("upkeep.poll_ms"), Some(250));
}

#[test]
fn the_daemon_config_takes_every_setting_and_refuses_what_cannot_be_used() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        ("gateway.listen", "127.0.0.1:7001".to_string()),
        ("blocking.enabled", "false".into()),
        ("health.interval", "0".into()),
        ("browser.enabled", "false".into()),
        ("browser.devtools_port", "9333".into()),
        ("upkeep.poll_ms", "40".into()),
        ("shutdown.grace", "3".into()),
        ("gateway.connect_timeout", "2".into()),
        ("gateway.max_head_kib", "64".into()),
        ("retention.stats_days", "7".into()),
        ("api.rate_limits", "tabs-change=5, auth-failures=3".into()),
    ];
    let s = Settings::load(None, env(&[]), &flags).unwrap();
    let served = s.daemon_config(dir.path().into()).unwrap();
    let c = &served.config;
    assert_eq!(c.gateway.listen.port(), 7001);
    assert!(c.gateway.settings.blocklist.is_none() && c.health.is_none());
    assert_eq!(
        c.gateway.settings.connect_timeout,
        std::time::Duration::from_secs(2)
    );
    assert_eq!(c.gateway.settings.max_head, 64 * 1024);
    let kept = c.upkeep.retention.unwrap();
    assert_eq!((kept.stats_days, kept.events_days), (7, 30));
    assert!(c.browser.disabled);
    assert_eq!(c.browser.devtools_port, Some(9333));
    assert_eq!(c.upkeep.poll_every, std::time::Duration::from_millis(40));
    assert_eq!(served.grace, std::time::Duration::from_secs(3));
    assert_eq!(
        c.api.rate_limits,
        std::collections::HashMap::from([
            ("tabs-change".to_string(), 5),
            ("auth-failures".to_string(), 3)
        ])
    );

    let refused = |flags: &[(&'static str, String)]| {
        let s = Settings::load(None, env(&[]), flags).unwrap();
        match s.daemon_config(dir.path().into()) {
            Ok(_) => panic!("{flags:?} accepted"),
            Err(e) => e.to_string(),
        }
    };
    let e = refused(&[("browser.geo_policy", "guess".into())]);
    assert!(
        e.contains("browser.geo_policy \"guess\" (flag --geo-policy)")
            && e.contains("use measured, configured or strict"),
        "{e}"
    );
    for (bad, says) in [
        (
            "tabs=5",
            "unknown class \"tabs\": use one of proxies-create",
        ),
        ("tabs-change", "write CLASS=N"),
        ("tabs-change=0", "1 to 1000000000"),
        ("tabs-change=many", "1 to 1000000000"),
    ] {
        let e = refused(&[("api.rate_limits", bad.into())]);
        assert!(
            e.contains(&format!("api.rate_limits {bad:?} (flag --api-rate-limit)"))
                && e.contains(says),
            "{bad}: {e}"
        );
    }
    let e = refused(&[("api.listen", "0.0.0.0:8898".into())]);
    assert!(
        e.contains("api.listen 0.0.0.0:8898 (flag --api-listen)"),
        "{e}"
    );
    let missing = dir.path().join("no-such-list.txt").display().to_string();
    let e = refused(&[("blocking.filter_lists", missing.clone())]);
    assert!(
        e.starts_with("--filter-list") && e.contains(&missing),
        "{e}"
    );
    let e = refused(&[("gateway.proxy_ca", missing.clone())]);
    assert!(e.starts_with(&format!("--proxy-ca {missing}")), "{e}");
}
