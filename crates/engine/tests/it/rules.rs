//! Custom rules: every operator on every kind of field, AND/OR, priorities,
//! stop_on_match, and every action, through the same row helper.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use vip_engine::{ProxyId, RotationReason, RuleId};

fn pool() -> Vec<vip_engine::Proxy> {
    vec![
        p(1).country("DE").group("res").tag("residential"),
        p(2).country("DE").group("dc").tag("datacenter"),
        p(3).country("US").group("res").tag("residential"),
        p(4).country("FR").group("dc").tag("datacenter"),
    ]
}

/// A custom-rules config (fallback round-robin, one candidate) with `rules`.
fn rules_config(rules: &str) -> String {
    format!(
        r#"{{"name":"r","strategy":"custom-rules","common_config":{{"maxAttempts":1}},"rules":{rules}}}"#
    )
}

/// One rule using `proxy 4` when the condition holds; else round-robin.
fn one(field: &str, op: &str, value: &str) -> Harness {
    let rules = format!(
        r#"[{{"id":1,"conditions":[{{"field":"{field}","operator":"{op}","value":{value}}}],"actions":[{{"type":"use_proxy","value":4}}]}}]"#
    );
    Harness::new(pool(), &rules_config(&rules))
}

#[test]
fn string_operators_on_domain_url_and_path() {
    let hit = Expect::First(4);
    let miss = || Expect::OneOf(vec![1, 2, 3]);
    let cases: Vec<(Harness, Vec<Row>)> = vec![
        (
            one("domain", "equals", r#""Shop.Example""#),
            vec![
                row("shop.example", hit.clone()),
                row("x.shop.example", miss()),
            ],
        ),
        (
            one("domain", "not_equals", r#""shop.example""#),
            vec![
                row("shop.example", miss()),
                row("other.example", hit.clone()),
            ],
        ),
        (
            one("domain", "contains", r#""shop""#),
            vec![row("myshop.com", hit.clone()), row("store.com", miss())],
        ),
        (
            one("domain", "starts_with", r#""api.""#),
            vec![row("api.x.com", hit.clone()), row("x.api.com", miss())],
        ),
        (
            one("domain", "ends_with", r#"".de""#),
            vec![row("zeit.de", hit.clone()), row("zeit.de.com", miss())],
        ),
        (
            one(
                "domain",
                "matches_regex",
                r#""^(www\\.)?bank[0-9]+\\.com$""#,
            ),
            vec![row("www.bank42.com", hit.clone()), row("bank.com", miss())],
        ),
        (
            one("domain", "in_list", r#"["a.com","b.com"]"#),
            vec![row("b.com", hit.clone()), row("c.com", miss())],
        ),
        (
            one("domain", "not_in_list", r#"["a.com","b.com"]"#),
            vec![row("b.com", miss()), row("c.com", hit.clone())],
        ),
        (
            one("url", "contains", r#""/checkout""#),
            vec![
                row("x.com", hit.clone()).url("http://x.com/checkout?id=1"),
                row("x.com", miss()).url("http://x.com/cart"),
                row("x.com", miss()),
            ],
        ),
        (
            one("path", "starts_with", r#""/api/""#),
            vec![
                row("x.com", hit.clone()).url("http://x.com/api/v1?q=/api/"),
                row("x.com", miss()).url("http://x.com/?next=/api/"),
            ],
        ),
    ];
    for (mut h, rows) in cases {
        check(&mut h, &rows);
    }
}

#[test]
fn numeric_operators_on_tab_hour_and_weekday() {
    // START is Monday 00:00 UTC.
    let hour = 3_600_000;
    let hit = Expect::First(4);
    let miss = || Expect::OneOf(vec![1, 2, 3]);
    let cases: Vec<(Harness, Vec<Row>)> = vec![
        (
            one("tab", "equals", "7"),
            vec![
                row("a.com", hit.clone()).tab(7),
                row("a.com", miss()).tab(8),
                row("a.com", miss()),
            ],
        ),
        (
            one("tab", "not_equals", "7"),
            vec![
                row("a.com", miss()).tab(7),
                row("a.com", hit.clone()).tab(8),
            ],
        ),
        (
            one("tab", "in_list", "[1,2,3]"),
            vec![
                row("a.com", hit.clone()).tab(2),
                row("a.com", miss()).tab(5),
            ],
        ),
        (
            one("tab", "not_in_list", "[1,2,3]"),
            vec![
                row("a.com", miss()).tab(2),
                row("a.com", hit.clone()).tab(5),
            ],
        ),
        (
            one("hour", "greater_than", "17"),
            vec![
                row("a.com", hit.clone()).at(18 * hour),
                row("a.com", miss()).at(17 * hour),
            ],
        ),
        (
            one("hour", "less_than", "9"),
            vec![
                row("a.com", hit.clone()).at(8 * hour),
                row("a.com", miss()).at(9 * hour),
            ],
        ),
        (
            one("weekday", "in_list", r#"["sat","sun"]"#),
            vec![
                row("a.com", hit.clone()).at(5 * 24 * hour),
                row("a.com", miss()).at(0),
            ],
        ),
        (
            one("weekday", "equals", "1"),
            vec![
                row("a.com", hit.clone()).at(0),
                row("a.com", miss()).at(24 * hour),
            ],
        ),
    ];
    for (mut h, rows) in cases {
        check(&mut h, &rows);
    }
    // Local time follows utcOffsetMinutes: 23:00 UTC Monday is Tuesday 01:00 at UTC+2.
    let rules = r#"[{"id":1,"conditions":[{"field":"weekday","operator":"equals","value":"tue"},{"field":"hour","operator":"equals","value":1}],"actions":[{"type":"use_proxy","value":4}]}]"#;
    let json = format!(
        r#"{{"name":"r","strategy":"custom-rules","common_config":{{"utcOffsetMinutes":120}},"rules":{rules}}}"#
    );
    let mut h = Harness::new(pool(), &json);
    check(&mut h, &[row("a.com", Expect::First(4)).at(23 * hour)]);
}

#[test]
fn proxy_conditions_filter_candidates() {
    let rules = r#"[
        {"id":1,"conditions":[{"field":"domain","operator":"ends_with","value":"bank.com"},
                              {"field":"tag","operator":"equals","value":"datacenter"}],
         "actions":[{"type":"exclude_proxy"}]},
        {"id":2,"conditions":[{"field":"domain","operator":"equals","value":"fr.example"},
                              {"field":"proxy_country","operator":"not_equals","value":"fr"}],
         "actions":[{"type":"exclude_proxy"}]},
        {"id":3,"conditions":[{"field":"domain","operator":"equals","value":"g.example"},
                              {"field":"proxy_group","operator":"in_list","value":["res"]}],
         "actions":[{"type":"exclude_proxy"}]}]"#;
    let json = format!(r#"{{"name":"r","strategy":"custom-rules","rules":{rules}}}"#);
    let mut h = Harness::new(pool(), &json);
    for _ in 0..4 {
        check(
            &mut h,
            &[
                row("my.bank.com", Expect::OneOf(vec![1, 3])),
                row("fr.example", Expect::Candidates(vec![4])),
                row("g.example", Expect::OneOf(vec![2, 4])),
            ],
        );
    }
}

#[test]
fn actions_priority_logic_and_stop_on_match() {
    let rules = r#"[
        {"id":1,"priority":1,"conditions":[{"field":"domain","operator":"ends_with","value":".de"}],"actions":[{"type":"use_country","value":"DE"}]},
        {"id":2,"priority":50,"conditions":[{"field":"domain","operator":"equals","value":"blocked.test"}],"actions":[{"type":"block"}]},
        {"id":3,"priority":50,"conditions":[{"field":"domain","operator":"equals","value":"local.test"}],"actions":[{"type":"direct"}]},
        {"id":4,"priority":40,"conditions":[{"field":"domain","operator":"equals","value":"dc.test"}],"actions":[{"type":"use_proxy_group","value":"dc"}]},
        {"id":5,"priority":30,"condition_logic":"or","conditions":[{"field":"domain","operator":"equals","value":"x.de"},{"field":"domain","operator":"equals","value":"y.test"}],
         "actions":[{"type":"exclude_proxy","value":[1]},{"type":"exclude_country","value":"US"}],"stop_on_match":true},
        {"id":6,"priority":20,"conditions":[{"field":"domain","operator":"equals","value":"sticky.test"}],"actions":[{"type":"skip_rotation"}]},
        {"id":7,"priority":10,"enabled":false,"conditions":[],"actions":[{"type":"block"}]},
        {"id":8,"priority":45,"conditions":[{"field":"domain","operator":"equals","value":"ghost.test"}],"actions":[{"type":"use_proxy","value":99}]}
    ]"#;
    let mut h = Harness::new(pool(), &rules_config(rules));
    check(
        &mut h,
        &[
            row("blocked.test", Expect::Block),
            row("local.test", Expect::Direct),
            row("zeit.de", Expect::First(1)),
            row("zeit.de", Expect::First(2)),
            row("dc.test", Expect::OneOf(vec![2, 4])),
            // Rule 5 excludes 1 and the US and stops, so rule 1 (DE) never runs.
            row("x.de", Expect::OneOf(vec![2, 4])),
            row("y.test", Expect::OneOf(vec![2, 4])),
            row(
                "ghost.test",
                Expect::Error("rule 8 uses proxy 99, which is not in the pool"),
            ),
        ],
    );
    // skip_rotation keeps the tab's proxy while other hosts rotate it.
    let now = h.now;
    let tab = |host| vip_engine::SelectionRequest::new(host, now).tab(vip_engine::TabId(1));
    let held = h.select(tab("other.test")).unwrap().first();
    assert_eq!(h.select(tab("sticky.test")).unwrap().first(), held);
    assert_eq!(h.select(tab("sticky.test")).unwrap().first(), held);
    assert_ne!(h.select(tab("other.test")).unwrap().first(), held);
    // A rule-chosen change of a tab's proxy is a rule_triggered event naming the rule.
    let sel = h
        .select(vip_engine::SelectionRequest::new("zeit.de", now).tab(vip_engine::TabId(1)))
        .unwrap();
    assert_eq!(sel.reason.rule, Some(RuleId(1)));
    assert_eq!(sel.events[0].reason, RotationReason::RuleTriggered);
    assert_eq!(sel.events[0].rule, Some(RuleId(1)));
    assert!(matches!(sel.first(), Some(ProxyId(1 | 2))));
}

#[test]
fn invalid_rules_name_the_rule_field_and_problem() {
    let cases = [
        (
            r#"{"id":3,"name":"n","conditions":[{"field":"colour","operator":"equals","value":"x"}],"actions":[{"type":"block"}]}"#,
            "rule 3 \"n\": conditions[0].field: unknown field \"colour\"",
        ),
        (
            r#"{"id":3,"conditions":[{"field":"domain","operator":"greater_than","value":3}],"actions":[{"type":"block"}]}"#,
            "rule 3: conditions[0].operator: greater_than needs a numeric field",
        ),
        (
            r#"{"id":3,"conditions":[{"field":"hour","operator":"contains","value":"1"}],"actions":[{"type":"block"}]}"#,
            "conditions[0].operator: contains needs a text field",
        ),
        (
            r#"{"id":3,"conditions":[{"field":"hour","operator":"equals","value":24}],"actions":[{"type":"block"}]}"#,
            "conditions[0].value: 24 is out of range",
        ),
        (
            r#"{"id":3,"conditions":[{"field":"domain","operator":"matches_regex","value":"(unclosed"}],"actions":[{"type":"block"}]}"#,
            "conditions[0].value: invalid regular expression",
        ),
        (
            r#"{"id":3,"conditions":[{"field":"domain","operator":"matches_regex","value":"\\w{1000}{1000}"}],"actions":[{"type":"block"}]}"#,
            "invalid regular expression",
        ),
        (
            r#"{"id":3,"conditions":[{"field":"domain","operator":"in_list","value":[]}],"actions":[{"type":"block"}]}"#,
            "the list is empty",
        ),
        (
            r#"{"id":3,"conditions":[{"field":"domain","operator":"like","value":"x"}],"actions":[{"type":"block"}]}"#,
            "unknown operator \"like\"",
        ),
        (
            r#"{"id":3,"conditions":[],"actions":[{"type":"teleport"}]}"#,
            "actions[0]: unknown action \"teleport\"",
        ),
        (
            r#"{"id":3,"conditions":[],"actions":[{"type":"use_country","value":"Germany"}]}"#,
            "\"Germany\" is not a country code",
        ),
        (
            r#"{"id":3,"conditions":[],"actions":[]}"#,
            "actions: a rule needs at least one action",
        ),
        (
            r#"{"id":3,"conditions":[],"actions":[{"type":"block"},{"type":"direct"}]}"#,
            "more than one deciding action",
        ),
        (
            r#"{"id":3,"conditions":[{"field":"tag","operator":"equals","value":"dc"}],"actions":[{"type":"block"}]}"#,
            "only action is exclude_proxy",
        ),
    ];
    for (rule, expected) in cases {
        let json = rules_config(&format!("[{rule}]"));
        let err = vip_engine::RotationConfig::from_json(&json)
            .expect_err(rule)
            .to_string();
        assert!(
            err.contains(expected),
            "{rule}\n  got: {err}\n  want: {expected}"
        );
    }
}
