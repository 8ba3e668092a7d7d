//! Rotation config validation: unknown and ill-typed fields are rejected with
//! the JSON path and what was expected; good documents parse to the right
//! strategy settings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use vip_engine::config::{Expiry, StickyKey};
use vip_engine::{ConfigError, RotationConfig, StrategyConfig, StrategyName};

fn err(json: &str) -> ConfigError {
    RotationConfig::from_json(json).expect_err(json)
}

#[test]
fn invalid_documents_name_the_path_and_the_expectation() {
    let cases = [
        ("{", "(document)", "not valid JSON"),
        (
            r#"{"strategy":"random"}"#,
            "(document)",
            "missing field `name`",
        ),
        (
            r#"{"name":"x","strategy":"zigzag"}"#,
            "strategy",
            "unknown variant `zigzag`",
        ),
        (
            r#"{"name":"x","strategy":"random","colour":1}"#,
            "colour",
            "unknown field `colour`",
        ),
        (
            r#"{"name":"x","strategy":"random","common_config":{"interval":"5m"}}"#,
            "common_config.interval",
            "invalid type: string \"5m\", expected u64",
        ),
        (
            r#"{"name":"x","strategy":"random","common_config":{"failureTreshold":3}}"#,
            "common_config.failureTreshold",
            "unknown field `failureTreshold`",
        ),
        (
            r#"{"name":"x","strategy":"random","common_config":{"failureThreshold":0}}"#,
            "common_config.failureThreshold",
            "at least 1",
        ),
        (
            r#"{"name":"x","strategy":"random","common_config":{"maxAttempts":40}}"#,
            "common_config.maxAttempts",
            "use 1 to 16",
        ),
        (
            r#"{"name":"x","strategy":"random","strategy_config":{"weights":{}}}"#,
            "strategy_config.weights",
            "unknown field `weights`",
        ),
        (
            r#"{"name":"x","strategy":"weighted","strategy_config":{"weights":{"7":150}}}"#,
            "strategy_config.weights.7",
            "weight 150 is out of range",
        ),
        (
            r#"{"name":"x","strategy":"weighted","strategy_config":{"weights":{"seven":10}}}"#,
            "strategy_config.weights.seven",
            "is not a proxy id",
        ),
        (
            r#"{"name":"x","strategy":"weighted","strategy_config":{"weights":{"7":-1}}}"#,
            "strategy_config.weights.7",
            "expected u8",
        ),
        (
            r#"{"name":"x","strategy":"geographic","strategy_config":{"geographicPreferences":["Germany"]}}"#,
            "strategy_config.geographicPreferences[0]",
            "not a country code",
        ),
        (
            r#"{"name":"x","strategy":"geographic","strategy_config":{"geographicPreferences":["DE"],"excludeCountries":["de"]}}"#,
            "strategy_config.excludeCountries",
            "both preferred and excluded",
        ),
        (
            r#"{"name":"x","strategy":"sticky-session","strategy_config":{"expiry":"forever"}}"#,
            "strategy_config.expiry",
            "unknown variant `forever`",
        ),
        (
            r#"{"name":"x","strategy":"sticky-session","strategy_config":{"mappings":[{"pattern":"a..b","proxyId":1}]}}"#,
            "strategy_config.mappings[0].pattern",
            "not a domain pattern",
        ),
        (
            r#"{"name":"x","strategy":"time-based"}"#,
            "common_config",
            "needs \"interval\"",
        ),
        (
            r#"{"name":"x","strategy":"time-based","common_config":{"interval":1000},"strategy_config":{"jitter":0.9}}"#,
            "strategy_config.jitter",
            "0 to 0.5",
        ),
        (
            r#"{"name":"x","strategy":"time-based","common_config":{"interval":1000},"strategy_config":{"scheduleWindows":[{"start":"25:00","end":"10:00"}]}}"#,
            "strategy_config.scheduleWindows[0].start",
            "not a time of day",
        ),
        (
            r#"{"name":"x","strategy":"time-based","common_config":{"interval":1000},"strategy_config":{"scheduleWindows":[{"days":["funday"],"start":"09:00","end":"10:00"}]}}"#,
            "strategy_config.scheduleWindows[0].days",
            "not a weekday",
        ),
        (
            r#"{"name":"x","strategy":"fastest","strategy_config":{"tolerance":-1}}"#,
            "strategy_config.tolerance",
            "out of range",
        ),
        (
            r#"{"name":"x","strategy":"custom-rules","strategy_config":{"fallbackStrategy":"custom"}}"#,
            "strategy_config.fallbackStrategy",
            "cannot fall back to itself",
        ),
        (
            r#"{"name":"x","strategy":"custom-rules","strategy_config":{"fallbackStrategy":"weighted","fallbackConfig":{"weights":{"1":101}}}}"#,
            "strategy_config.fallbackConfig.weights.1",
            "out of range",
        ),
        (
            r#"{"name":"x","strategy":"random","rules":[{"actions":"block"}]}"#,
            "rules[0].actions",
            "expected a sequence",
        ),
        (
            r#"{"name":" ","strategy":"random"}"#,
            "name",
            "must not be empty",
        ),
    ];
    for (json, path, message) in cases {
        match err(json) {
            ConfigError::Field {
                path: got_path,
                message: got,
            } => {
                assert_eq!(got_path, path, "{json}: {got}");
                assert!(
                    got.contains(message),
                    "{json}\n  got: {got}\n  want: {message}"
                );
            }
            other => panic!("{json}: expected a field error, got {other}"),
        }
    }
}

#[test]
fn valid_documents_parse_into_strategy_settings() {
    let c = RotationConfig::from_json(
        r#"{"id":4,"name":"eu","strategy":"sticky_session","target_group":"residential",
            "common_config":{"interval":300000,"maxRequestsPerProxy":100,"failureThreshold":3,"cooldownPeriod":60000},
            "strategy_config":{"ttl":600000,"expiry":"fixed","keyBy":"host"}}"#,
    )
    .unwrap();
    assert_eq!(c.target_group.as_deref(), Some("residential"));
    assert_eq!(c.common.interval, Some(Duration::from_secs(300)));
    assert_eq!(c.common.cooldown_period, Duration::from_secs(60));
    match &c.strategy {
        StrategyConfig::StickySession(s) => {
            assert_eq!(
                (s.ttl, s.expiry, s.key_by),
                (Duration::from_secs(600), Expiry::Fixed, StickyKey::Host)
            );
        }
        other => panic!("{other:?}"),
    }
    for name in StrategyName::ALL {
        let extra = if name == StrategyName::TimeBased {
            r#","common_config":{"interval":1000}"#
        } else {
            ""
        };
        let json = format!(r#"{{"name":"n","strategy":"{}"{extra}}}"#, name.as_str());
        let parsed = RotationConfig::from_json(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed.strategy.name(), name);
        assert_eq!(StrategyName::parse(name.as_str()), Ok(name));
    }
    let custom = RotationConfig::from_json(
        r#"{"name":"c","strategy":"custom","strategy_config":{"fallbackStrategy":"least-used"}}"#,
    )
    .unwrap();
    assert_eq!(custom.strategy.picker().name(), StrategyName::LeastUsed);
    assert!(
        StrategyName::parse("nope")
            .unwrap_err()
            .to_string()
            .contains("round-robin")
    );
}

/// Every strategy's settings, written in canonical form and read back,
/// are the same settings; the canonical form writes defaults out.
#[test]
fn canonical_strategy_and_common_settings_read_back_the_same() {
    let docs = [
        ("round-robin", "{}"),
        ("random", "{}"),
        ("least-used", "{}"),
        ("failure-aware", "{}"),
        ("weighted", r#"{"weights": {"3": 70, "12": 0}}"#),
        ("fastest", r#"{"tolerance": 0.25}"#),
        (
            "geographic",
            r#"{"geographicPreferences": ["DE", "fr"], "excludeCountries": ["US"], "preferredRegions": ["Bavaria"], "fallbackToAny": false}"#,
        ),
        (
            "sticky-session",
            r#"{"ttl": 5000, "expiry": "fixed", "keyBy": "host", "mappings": [{"pattern": "*.example.com", "proxyId": 2}], "maxMappings": 10}"#,
        ),
        (
            "failover",
            r#"{"failoverOrder": [4, 2], "returnAfterSuccesses": 9}"#,
        ),
        (
            "time-based",
            r#"{"jitter": 0.2, "scheduleWindows": [{"days": ["Monday", "7"], "start": "22:30", "end": "06:00"}, {"start": "00:00", "end": "24:00"}]}"#,
        ),
        (
            "custom-rules",
            r#"{"fallbackStrategy": "sticky-session", "fallbackConfig": {"ttl": 999}}"#,
        ),
    ];
    for (strategy, settings) in docs {
        let doc = format!(
            r#"{{"name": "c", "strategy": "{strategy}", "strategy_config": {settings},
                "common_config": {{"interval": 60000, "failureThreshold": 5, "utcOffsetMinutes": -90}}}}"#
        );
        let first = RotationConfig::from_json(&doc).unwrap();
        let canonical = serde_json::json!({
            "name": "c",
            "strategy": strategy,
            "strategy_config": first.strategy.to_value(),
            "common_config": serde_json::to_value(&first.common).unwrap(),
        });
        let again = RotationConfig::from_value(&canonical)
            .unwrap_or_else(|e| panic!("{strategy}: {canonical}: {e}"));
        assert_eq!(again.strategy, first.strategy, "{strategy}: {canonical}");
        assert_eq!(again.common, first.common, "{strategy}");
        // Written out again, the canonical form does not change.
        assert_eq!(again.strategy.to_value(), first.strategy.to_value());
    }
    let sticky = RotationConfig::from_json(r#"{"name": "s", "strategy": "sticky-session"}"#)
        .unwrap()
        .strategy
        .to_value();
    assert_eq!(
        sticky["ttl"], 1_800_000,
        "defaults are written out: {sticky}"
    );
    assert_eq!(sticky["keyBy"], "registrable-domain");
}
