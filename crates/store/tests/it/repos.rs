//! Repositories: rotation configs (one active per group, validated by the
//! engine), rules in priority order, sticky wildcard lookup, sticky
//! mappings saved and loaded with their scopes, usage
//! statistics, rotation events, breakers, weights and maintenance that
//! deletes exactly what is older than the retention.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use vip_engine::{
    BreakerState, ConfigId, CountryCode, ProxyId, RotationEvent, RotationKey, RotationReason,
    StickyMapping, StickyScope, Timestamp,
};
use vip_store::repo::proxies::NewProxy;
use vip_store::repo::stats::UsageEvent;
use vip_store::{Store, StoreError, now_ms};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("vip.db")).unwrap();
    (dir, store)
}

fn proxy(store: &Store, host: &str, group: Option<&str>, weight: u8) -> i64 {
    let p = NewProxy {
        host: host.into(),
        port: 8080,
        group: group.map(str::to_string),
        weight: Some(weight),
        ..NewProxy::default()
    };
    match store.add_proxy(None, &p).unwrap() {
        vip_store::repo::proxies::AddOutcome::Added(id) => id,
        other => panic!("{other:?}"),
    }
}

#[test]
fn activating_a_config_deactivates_the_previous_one_in_its_group() {
    let (_d, store) = store();
    let a = store
        .create_rotation(&json!({"name": "a", "strategy": "round-robin", "target_group": "res"}))
        .unwrap();
    let b = store
        .create_rotation(&json!({"name": "b", "strategy": "random", "target_group": "res"}))
        .unwrap();
    let c = store
        .create_rotation(&json!({"name": "c", "strategy": "fastest"}))
        .unwrap();
    assert_eq!(store.activate_rotation(a).unwrap(), None);
    assert_eq!(store.activate_rotation(c).unwrap(), None);
    assert_eq!(store.activate_rotation(b).unwrap(), Some(a));
    assert_eq!(store.active_rotation(Some("res")).unwrap().unwrap().id, b);
    assert_eq!(store.active_rotation(None).unwrap().unwrap().id, c);
    assert!(!store.find_rotation("a").unwrap().is_active);
    // The index itself forbids two active configs in one group.
    let err = store
        .conn()
        .execute(
            "UPDATE rotation_configs SET is_active = 1 WHERE id = ?1",
            [a],
        )
        .unwrap_err();
    assert!(err.to_string().contains("UNIQUE"), "{err}");
    // Invalid documents never reach the table.
    let err = store.create_rotation(&json!({"name": "x", "strategy": "weighted", "strategy_config": {"weights": {"1": 300}}})).unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid { field, .. } if field == "strategy_config.weights.1"),
        "{err}"
    );
    let err = store
        .create_rotation(&json!({"name": "a", "strategy": "random"}))
        .unwrap_err();
    assert!(err.to_string().contains("named \"a\" exists"));
}

#[test]
fn rules_are_validated_and_listed_by_priority_and_the_config_loads() {
    let (_d, store) = store();
    let id = store
        .create_rotation(&json!({"name": "r", "strategy": "custom-rules"}))
        .unwrap();
    let low = store.add_rule(id, &json!({"name": "low", "priority": 1, "conditions": [], "actions": [{"type": "direct"}]})).unwrap();
    let high = store
        .add_rule(id, &json!({"name": "high", "priority": 9, "conditions": [{"field": "domain", "operator": "ends_with", "value": ".de"}], "actions": [{"type": "use_country", "value": "DE"}]}))
        .unwrap();
    let err = store.add_rule(id, &json!({"conditions": [{"field": "hour", "operator": "contains", "value": "1"}], "actions": [{"type": "block"}]})).unwrap_err();
    assert!(
        err.to_string().contains("contains needs a text field"),
        "{err}"
    );
    let rules = store.list_rules(id).unwrap();
    assert_eq!(
        rules.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![high, low]
    );
    let config = store.engine_rotation(id).unwrap();
    assert_eq!(config.rules.len(), 2);
    assert_eq!(config.rules[0].name, "high");
}

#[test]
fn sticky_lookup_prefers_exact_then_the_closest_wildcard() {
    let (_d, store) = store();
    let cfg = store
        .create_rotation(&json!({"name": "s", "strategy": "sticky-session"}))
        .unwrap();
    let (p1, p2, p3) = (
        proxy(&store, "a.example", None, 50),
        proxy(&store, "b.example", None, 50),
        proxy(&store, "c.example", None, 50),
    );
    let future = now_ms() + 60_000;
    store
        .upsert_sticky(
            vip_engine::ConfigId(cfg as u64),
            "*.example.com",
            p1,
            future,
        )
        .unwrap();
    store
        .upsert_sticky(
            vip_engine::ConfigId(cfg as u64),
            "*.shop.example.com",
            p2,
            future,
        )
        .unwrap();
    store
        .upsert_sticky(
            vip_engine::ConfigId(cfg as u64),
            "exact.shop.example.com",
            p3,
            future,
        )
        .unwrap();
    store
        .upsert_sticky(
            vip_engine::ConfigId(cfg as u64),
            "*.old.test",
            p3,
            now_ms() - 1,
        )
        .unwrap();
    let find = |d: &str| store.find_sticky(cfg, d).unwrap().map(|m| m.proxy_id);
    assert_eq!(find("exact.shop.example.com"), Some(p3));
    assert_eq!(find("x.shop.example.com"), Some(p2));
    assert_eq!(find("shop.example.com"), Some(p2));
    assert_eq!(find("WWW.Example.com."), Some(p1));
    assert_eq!(find("example.com"), Some(p1));
    assert_eq!(find("example.org"), None);
    assert_eq!(
        find("a.old.test"),
        None,
        "expired mappings are not returned"
    );
    let m = store
        .find_sticky(cfg, "x.shop.example.com")
        .unwrap()
        .unwrap();
    store.record_sticky_use(m.id, Some(future + 1000)).unwrap();
    let m = store
        .find_sticky(cfg, "x.shop.example.com")
        .unwrap()
        .unwrap();
    assert_eq!((m.uses, m.expires_at), (1, future + 1000));
    assert_eq!(store.cleanup_expired_sticky(now_ms()).unwrap(), 1);
}

#[test]
fn sticky_mappings_round_trip_with_their_scopes() {
    let (_d, store) = store();
    let cfg = store
        .create_rotation(&json!({"name": "s", "strategy": "sticky-session"}))
        .unwrap();
    let (p1, p2, p3) = (
        proxy(&store, "a.example", Some("res"), 50),
        proxy(&store, "b.example", None, 50),
        proxy(&store, "c.example", None, 50),
    );
    let at = |ms: i64| Timestamp::from_millis(now_ms() + ms);
    let mapping =
        |group: Option<&str>, country: Option<&str>, key: &str, proxy: i64| StickyMapping {
            scope: StickyScope {
                group: group.map(str::to_string),
                country: country.map(|c| CountryCode::parse(c).unwrap()),
            },
            key: key.into(),
            proxy: ProxyId(proxy as u64),
            created: at(0),
            expires: at(60_000),
            uses: 3,
        };
    // One domain in three scopes, and a repeat of one scope (dropped).
    let saved = vec![
        mapping(None, None, "shop.test", p1),
        mapping(None, Some("DE"), "shop.test", p2),
        mapping(Some("res"), Some("DE"), "shop.test", p3),
        mapping(None, Some("DE"), "shop.test", p3),
    ];
    store
        .save_sticky(vip_engine::ConfigId(cfg as u64), &saved)
        .unwrap();
    let mut loaded = store.load_sticky(vip_engine::ConfigId(cfg as u64)).unwrap();
    loaded.sort_by(|a, b| a.scope.cmp(&b.scope));
    let mut want = saved[..3].to_vec();
    want.sort_by(|a, b| a.scope.cmp(&b.scope));
    assert_eq!(loaded, want);
    // Saving again replaces them.
    store
        .save_sticky(vip_engine::ConfigId(cfg as u64), &saved[..1])
        .unwrap();
    assert_eq!(
        store.load_sticky(vip_engine::ConfigId(cfg as u64)).unwrap(),
        saved[..1].to_vec()
    );
}

#[test]
fn usage_statistics_aggregate_by_hour_with_success_rate_and_p95() {
    let (_d, store) = store();
    let now = now_ms();
    let mut events = Vec::new();
    for i in 0..100 {
        events.push(UsageEvent {
            proxy: vip_engine::ProxyId(1_u64),
            at_ms: now - (i % 2) * 3_600_000,
            ok: i % 4 != 0,
            error_kind: if i % 4 == 0 {
                Some("proxy_timeout")
            } else {
                None
            },
            latency_ms: Some(if i < 95 { 10.0 } else { 500.0 }),
            bytes_sent: 10,
            bytes_received: 100,
            tally: None,
        });
    }
    events.push(UsageEvent {
        proxy: vip_engine::ProxyId(2_u64),
        at_ms: now - 48 * 3_600_000,
        ok: true,
        error_kind: None,
        latency_ms: None,
        bytes_sent: 1,
        bytes_received: 1,
        tally: None,
    });
    // Attempt events count apart: no request, no bytes.
    for (i, (event, fault)) in [
        ("failover", Some("proxy_reset")),
        ("failover", Some("proxy_reset")),
        ("failover", Some("proxy_timeout")),
        ("hedge_won", None),
    ]
    .into_iter()
    .enumerate()
    {
        let tally = vip_store::usage::Tally { event, fault };
        events.insert(
            i * 20,
            UsageEvent::tally(vip_engine::ProxyId(1), now, tally),
        );
    }
    store.record_usage(&events[..50]).unwrap();
    store.record_usage(&events[50..]).unwrap();
    let stats = store.usage_stats(None, 24).unwrap();
    assert_eq!(stats.len(), 1, "proxy 2's event is older than 24 h");
    let s = &stats[0];
    assert_eq!(
        (s.total_requests, s.successful_requests, s.failed_requests),
        (100, 75, 25)
    );
    assert!((s.success_rate - 0.75).abs() < 1e-9);
    assert_eq!((s.bytes_sent, s.bytes_received), (1000, 10_000));
    assert_eq!(s.error_counts.get("proxy_timeout"), Some(&25));
    let counted: Vec<(&str, u64)> = s
        .event_counts
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        counted,
        [
            ("failover:proxy_reset", 2),
            ("failover:proxy_timeout", 1),
            ("hedge_won", 1)
        ]
    );
    assert!((s.avg_latency_ms.unwrap() - 34.5).abs() < 1e-9);
    let p95 = s.p95_latency_ms.unwrap();
    assert!((9.0..=13.0).contains(&p95), "p95 {p95}");
    assert_eq!(store.usage_stats(Some(2), 72).unwrap()[0].total_requests, 1);
}

#[test]
fn events_breakers_weights_and_maintenance() {
    let (_d, store) = store();
    let now = now_ms();
    let ev = |at: i64, reason| RotationEvent {
        rotation: ConfigId(1),
        key: RotationKey::Domain("a.com".into()),
        previous: Some(ProxyId(1)),
        new: Some(ProxyId(2)),
        reason,
        rule: None,
        at: Timestamp::from_millis(at),
    };
    store
        .log_events(&[
            ev(now - 10 * 86_400_000, RotationReason::Failure),
            ev(now, RotationReason::TtlExpired),
        ])
        .unwrap();
    let recent = store.recent_events(10).unwrap();
    assert_eq!(
        recent.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
        vec!["ttl_expired", "failure"]
    );
    let p = proxy(&store, "a.example", Some("g"), 30);
    let q = proxy(&store, "b.example", Some("g"), 10);
    let r = proxy(&store, "c.example", Some("g"), 0);
    let state = BreakerState::Open {
        until: Timestamp::from_millis(now + 1000),
        trips: 1,
    };
    store.save_breaker(ProxyId(p as u64), &state).unwrap();
    assert_eq!(
        store.load_breakers().unwrap(),
        vec![(ProxyId(p as u64), state)]
    );
    store
        .save_breaker(ProxyId(p as u64), &BreakerState::default())
        .unwrap();
    assert!(store.load_breakers().unwrap().is_empty());
    let changes = store.normalize_weights(Some("g")).unwrap();
    assert_eq!(
        changes.iter().map(|c| c.2).collect::<Vec<_>>(),
        vec![75, 25, 0]
    );
    assert_eq!(
        store
            .proxies_by_weight("g")
            .unwrap()
            .iter()
            .map(|x| x.id)
            .collect::<Vec<_>>(),
        vec![p, q, r]
    );
    let err = store.set_weights(&[(p, 40), (9999, 5)]).unwrap_err();
    assert!(err.to_string().contains("proxy 9999 does not exist"));
    assert_eq!(
        store.get_proxy(p).unwrap().weight,
        75,
        "a failed batch changes nothing"
    );
    // Maintenance: stats rows older than 7 days and events older than 3 days.
    store
        .record_usage(&[
            UsageEvent {
                proxy: vip_engine::ProxyId(p as u64),
                at_ms: now - 8 * 86_400_000,
                ok: true,
                error_kind: None,
                latency_ms: None,
                bytes_sent: 0,
                bytes_received: 0,
                tally: None,
            },
            UsageEvent {
                proxy: vip_engine::ProxyId(p as u64),
                at_ms: now - 6 * 86_400_000,
                ok: true,
                error_kind: None,
                latency_ms: None,
                bytes_sent: 0,
                bytes_received: 0,
                tally: None,
            },
            UsageEvent {
                proxy: vip_engine::ProxyId(p as u64),
                at_ms: now,
                ok: true,
                error_kind: None,
                latency_ms: None,
                bytes_sent: 0,
                bytes_received: 0,
                tally: None,
            },
        ])
        .unwrap();
    store.log_activity("info", "test", "hello", None).unwrap();
    let report = store.maintenance(7, 3, true).unwrap();
    assert_eq!(
        (
            report.stats_deleted,
            report.events_deleted,
            report.activity_deleted
        ),
        (1, 1, 0)
    );
    assert_eq!(
        store.usage_stats(Some(p), 24 * 30).unwrap()[0].total_requests,
        2
    );
    assert_eq!(store.recent_events(10).unwrap().len(), 1);
}

#[test]
fn configs_and_rules_are_stored_in_the_engines_canonical_form() {
    let (_dir, store) = store();
    let doc = serde_json::json!({
        "name": "canon", "strategy": "custom-rules",
        "common_config": {"interval": 60000},
        "strategy_config": {"fallbackStrategy": "fastest"},
        "rules": [{
            "name": "de", "priority": 5, "conditionLogic": "OR", "stopOnMatch": true,
            "conditions": [{"field": "domain", "operator": "ends_with", "value": ".de"}],
            "actions": [{"action": "use_country", "value": "DE"}]
        }]
    });
    let id = store.create_rotation(&doc).unwrap();
    let added = serde_json::json!({"actions": [{"type": "block"}]});
    store.add_rule(id, &added).unwrap();
    let stored = store.rotation_document(id).unwrap();
    let rules = stored["rules"].as_array().unwrap();
    // The aliases and the defaults are the engine parser's.
    assert_eq!(rules[0]["condition_logic"], "or");
    assert_eq!(rules[0]["stop_on_match"], true);
    assert_eq!(rules[0]["enabled"], true);
    assert_eq!(rules[0]["actions"][0]["type"], "use_country");
    assert_eq!(rules[1]["name"], "");
    assert_eq!(rules[1]["priority"], 0);
    assert_eq!(rules[1]["condition_logic"], "and");
    assert_eq!(stored["strategy"], "custom-rules");
    // The settings are written out whole, defaults included.
    assert_eq!(stored["common_config"]["interval"], 60000);
    assert_eq!(stored["common_config"]["failureThreshold"], 3);
    assert_eq!(
        stored["strategy_config"],
        serde_json::json!({"fallbackStrategy": "fastest",
            "fallbackConfig": {"tolerance": 0.1, "toleranceMs": 5}})
    );
    // What is stored loads again, as the same rules.
    let config = store.engine_rotation(id).unwrap();
    assert_eq!(config.rules.len(), 2);
}

/// An active config is not deleted; an inactive one goes with its rules.
#[test]
fn only_inactive_configs_are_deleted_and_their_rules_go_with_them() {
    let (_dir, store) = store();
    let doc = serde_json::json!({"name": "a", "strategy": "round-robin",
        "rules": [{"conditions": [], "actions": [{"type": "direct"}]}]});
    let a = store.create_rotation(&doc).unwrap();
    let b = store
        .create_rotation(&serde_json::json!({"name": "b", "strategy": "random"}))
        .unwrap();
    store.activate_rotation(a).unwrap();
    let refused = store.delete_rotation(a).unwrap_err().to_string();
    assert!(refused.contains("is active"), "{refused}");
    store.activate_rotation(b).unwrap();
    store.delete_rotation(a).unwrap();
    assert!(store.find_rotation("a").is_err());
    let rules: i64 = store
        .conn()
        .query_row("SELECT COUNT(*) FROM proxy_rotation_rules", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rules, 0);
    assert!(matches!(
        store.delete_rotation(a),
        Err(vip_store::StoreError::NotFound { .. })
    ));
}

/// The country a group's enabled proxies share: measured exits over
/// configured countries, disabled proxies left out, none when they differ.
#[test]
fn the_common_exit_country_prefers_measured_exits() {
    use vip_store::repo::proxies::ProxyPatch;
    let (_d, store) = store();
    let set = |id: i64, country: &str| {
        let patch = ProxyPatch {
            country: Some(country.into()),
            ..ProxyPatch::default()
        };
        store.update_proxy(id, &patch).unwrap();
    };
    let a = proxy(&store, "10.0.0.1", Some("g"), 50);
    let b = proxy(&store, "10.0.0.2", Some("g"), 50);
    let other = proxy(&store, "10.0.0.3", Some("h"), 50);
    set(a, "DE");
    set(b, "de");
    set(other, "FR");
    assert_eq!(
        store.common_exit_country(Some("g")).unwrap().as_deref(),
        Some("DE")
    );
    assert_eq!(store.common_exit_country(None).unwrap(), None, "DE and FR");
    let measured = |id: i64, cc: &str| {
        let id = vip_engine::ProxyId(id as u64);
        store
            .record_check(id, Some("up"), Some(1.0), (None, Some(cc)), now_ms())
            .unwrap();
    };
    measured(a, "JP");
    assert_eq!(
        store.common_exit_country(Some("g")).unwrap(),
        None,
        "JP and DE"
    );
    measured(b, "JP");
    assert_eq!(
        store.common_exit_country(Some("g")).unwrap().as_deref(),
        Some("JP")
    );
    let off = ProxyPatch {
        enabled: Some(false),
        ..ProxyPatch::default()
    };
    store.update_proxy(other, &off).unwrap();
    measured(a, "JP");
    assert_eq!(
        store.common_exit_country(None).unwrap().as_deref(),
        Some("JP"),
        "FR is disabled"
    );
}

/// Usage over time: hour and day buckets of one proxy or the pool; an hour
/// without traffic is absent, not filled.
#[test]
fn usage_series_sum_hours_into_buckets_and_leave_gaps_empty() {
    let (_dir, store) = store();
    let hour = 3_600_000i64;
    let day0 = 1_765_000_800_000i64 - 1_765_000_800_000i64 % (24 * hour);
    let event = |proxy: u64, at: i64, ok: bool, latency: f64| UsageEvent {
        proxy: vip_engine::ProxyId(proxy),
        at_ms: at,
        ok,
        error_kind: (!ok).then_some("proxy_refused"),
        latency_ms: ok.then_some(latency),
        bytes_sent: 10,
        bytes_received: 100,
        tally: None,
    };
    store
        .record_usage(&[
            event(1, day0 + 60_000, true, 10.0),
            event(1, day0 + 120_000, true, 30.0),
            event(2, day0 + 180_000, false, 0.0),
            // Hour 1 has nothing; hour 2 has one of proxy 1's.
            event(1, day0 + 2 * hour + 5, false, 0.0),
        ])
        .unwrap();
    let one = store
        .usage_series(Some(1), day0, day0 + 24 * hour, hour)
        .unwrap();
    assert_eq!(one.len(), 2, "{one:?}");
    assert_eq!((one[0].start, one[0].total, one[0].ok), (day0, 2, 2));
    assert_eq!(one[0].avg_latency_ms, Some(20.0));
    assert_eq!(
        (one[1].start, one[1].failed, one[1].avg_latency_ms),
        (day0 + 2 * hour, 1, None)
    );
    let pool = store
        .usage_series(None, day0, day0 + 24 * hour, hour)
        .unwrap();
    assert_eq!(
        (pool[0].total, pool[0].failed, pool[0].bytes_received),
        (3, 1, 300)
    );
    let days = store
        .usage_series(None, day0, day0 + 24 * hour, 24 * hour)
        .unwrap();
    assert_eq!((days.len(), days[0].start, days[0].total), (1, day0, 4));
    assert!(store.usage_series(None, day0, day0 + hour, 60_000).is_err());
    assert!(
        store
            .usage_series(Some(1), day0 + 3 * hour, day0 + 4 * hour, hour)
            .unwrap()
            .is_empty()
    );
}
