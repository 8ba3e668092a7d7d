//! Row tests for the strategies with preferences or memory: geographic,
//! sticky-session, failover and time-based, including their rotation events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::*;
use vip_engine::{
    CountryCode, ProxyId, RotationKey, RotationReason, SelectionRequest, StickyOutcome,
};

fn geo_pool() -> Vec<vip_engine::Proxy> {
    vec![
        p(1).country("DE").region("Bavaria"),
        p(2).country("DE").region("Berlin"),
        p(3).country("DE").region("Bavaria"),
        p(4).country("FR"),
        p(5).country("US"),
        p(6).country("NL"),
        p(7),
    ]
}

#[test]
fn geographic_prefers_countries_then_regions_and_never_excluded() {
    let json = r#"{"name":"g","strategy":"geographic","strategy_config":{
        "geographicPreferences":["DE","FR"],"excludeCountries":["US"],"preferredRegions":["bavaria"]}}"#;
    let mut h = Harness::new(geo_pool(), json);
    check(
        &mut h,
        &[
            // Bavaria first (rotating), then the rest of DE, then FR.
            row("a.com", Expect::Candidates(vec![1, 3, 2])),
            row("a.com", Expect::First(3)),
            row("a.com", Expect::First(1)),
            row("a.com", Expect::Candidates(vec![2, 4, 6])).exclude(&[1, 3]),
            row("a.com", Expect::Candidates(vec![4, 6, 7])).exclude(&[1, 2, 3]),
            row("a.com", Expect::Candidates(vec![6, 7])).exclude(&[1, 2, 3, 4]),
        ],
    );
    for _ in 0..50 {
        assert!(!h.pick("a.com").unwrap().candidates().contains(&ProxyId(5)));
    }
    check(
        &mut h,
        &[row("a.com", Expect::Error("held back by geographic")).exclude(&[1, 2, 3, 4, 6, 7])],
    );
    // Without fallback, only preferred countries are used.
    let json = r#"{"name":"g","strategy":"geographic","strategy_config":{"geographicPreferences":["FR"],"fallbackToAny":false}}"#;
    let mut h = Harness::new(geo_pool(), json);
    check(
        &mut h,
        &[
            row("a.com", Expect::Candidates(vec![4])),
            row("a.com", Expect::Error("held back")).exclude(&[4]),
        ],
    );
}

#[test]
fn request_country_narrows_any_strategy() {
    let mut h = Harness::strategy(geo_pool(), "round-robin");
    check(
        &mut h,
        &[
            row("a.com", Expect::Candidates(vec![1, 2, 3])).country("DE"),
            row("a.com", Expect::Candidates(vec![2, 3, 1])).country("DE"),
            row("a.com", Expect::Candidates(vec![4])).country("FR"),
            row(
                "a.com",
                Expect::Error("the pool in country JP has no enabled proxies"),
            )
            .country("JP"),
        ],
    );
}

#[test]
fn sticky_keeps_a_domain_on_one_proxy_and_shares_registrable_domains() {
    let mut h = Harness::strategy(plain(10), "sticky-session");
    let first = h.pick("www.example.co.uk").unwrap();
    assert_eq!(first.reason.sticky, Some(StickyOutcome::Miss));
    let p0 = first.first().unwrap();
    for host in ["www.example.co.uk", "img.example.co.uk", "EXAMPLE.co.uk."] {
        let sel = h.pick(host).unwrap();
        assert_eq!(sel.first(), Some(p0), "{host}");
        assert_eq!(sel.reason.sticky, Some(StickyOutcome::Hit));
        assert_eq!(sel.candidates().len(), 3, "fallbacks follow the ring");
    }
    // Many domains spread over the pool.
    let distinct: std::collections::BTreeSet<_> = (0..200)
        .map(|i| h.pick(&format!("site{i}.com")).unwrap().first().unwrap())
        .collect();
    assert!(distinct.len() >= 8, "{distinct:?}");
    // Caller exclusion serves another proxy but keeps the mapping.
    let now = h.now;
    let sel = h
        .select(vip_engine::SelectionRequest::new("example.co.uk", now).exclude(&[p0]))
        .unwrap();
    assert_ne!(sel.first(), Some(p0));
    assert_eq!(h.pick("example.co.uk").unwrap().first(), Some(p0));
}

#[test]
fn sticky_by_host_pins_wildcards_and_remaps_on_failure() {
    let json = r#"{"name":"s","strategy":"sticky-session","strategy_config":{
        "keyBy":"host","ttl":60000,"expiry":"fixed",
        "mappings":[{"pattern":"*.bank.example","proxyId":4},{"pattern":"exact.test","proxyId":2}]}}"#;
    let mut h = Harness::new(plain(6), json);
    for host in ["bank.example", "a.b.bank.example"] {
        let sel = h.pick(host).unwrap();
        assert_eq!(
            (sel.first(), sel.reason.sticky),
            (Some(ProxyId(4)), Some(StickyOutcome::Pinned)),
            "{host}"
        );
    }
    assert_eq!(h.pick("exact.test").unwrap().first(), Some(ProxyId(2)));
    assert_ne!(
        h.pick("sub.exact.test").unwrap().reason.sticky,
        Some(StickyOutcome::Pinned)
    );
    // Learned mapping; its proxy's breaker opens: remapped with a failure event.
    let mapped = h.pick("shop.test").unwrap().first().unwrap();
    h.fail(mapped.0, 5);
    let sel = h.pick("shop.test").unwrap();
    assert_ne!(sel.first(), Some(mapped));
    assert_eq!(sel.reason.sticky, Some(StickyOutcome::Remapped));
    assert_eq!(sel.events.len(), 1);
    let e = &sel.events[0];
    assert_eq!(
        (e.key.clone(), e.previous, e.reason),
        (
            RotationKey::Domain("shop.test".into()),
            Some(mapped),
            RotationReason::Failure
        )
    );
    let remapped = sel.first();
    assert_eq!(h.pick("shop.test").unwrap().first(), remapped);
    // Fixed expiry: 60 s after creation the sweep reports ttl_expired.
    h.advance(Duration::from_secs(30));
    h.pick("shop.test").unwrap();
    assert!(h.engine.sweep(h.now).is_empty());
    h.advance(Duration::from_secs(31));
    let expired = h.engine.sweep(h.now);
    assert_eq!(
        expired.len(),
        2,
        "shop.test and sub.exact.test: {expired:?}"
    );
    let shop = expired
        .iter()
        .find(|e| e.key == RotationKey::Domain("shop.test".into()))
        .unwrap();
    assert_eq!(
        (shop.reason, shop.previous, shop.new),
        (RotationReason::TtlExpired, remapped, None)
    );
    assert_eq!(
        h.pick("shop.test").unwrap().reason.sticky,
        Some(StickyOutcome::Miss)
    );
}

#[test]
fn sticky_sliding_expiry_extends_on_use_and_mappings_persist() {
    let json = r#"{"name":"s","strategy":"sticky-session","strategy_config":{"ttl":60000}}"#;
    let mut h = Harness::new(plain(5), json);
    let id = h.pick("a.com").unwrap().first();
    for _ in 0..5 {
        h.advance(Duration::from_secs(50));
        assert_eq!(
            h.pick("a.com").unwrap().reason.sticky,
            Some(StickyOutcome::Hit)
        );
    }
    assert!(h.engine.sweep(h.now).is_empty());
    let saved = h.engine.sticky_mappings(h.rotation);
    assert_eq!(saved.len(), 1);
    assert_eq!((saved[0].key.as_str(), Some(saved[0].proxy)), ("a.com", id));
    // A fresh engine restores the mapping even if the ring would say otherwise.
    let mut fresh = Harness::new(plain(5), json);
    fresh.now = h.now;
    let mut moved = saved.clone();
    moved[0].proxy = ProxyId(if id == Some(ProxyId(1)) { 2 } else { 1 });
    fresh
        .engine
        .restore_sticky_mappings(fresh.rotation, moved.clone(), fresh.now);
    assert_eq!(fresh.pick("a.com").unwrap().first(), Some(moved[0].proxy));
}

#[test]
fn sticky_mappings_keep_their_scope_across_pool_changes_and_restarts() {
    let json = r#"{"name":"s","strategy":"sticky-session","strategy_config":{"ttl":600000}}"#;
    let pool = || {
        vec![
            p(1).country("DE"),
            p(2).country("DE"),
            p(3).country("FR"),
            p(4).country("FR"),
            p(5).country("FR"),
        ]
    };
    let de = CountryCode::parse("DE").unwrap();
    let mut h = Harness::new(pool(), json);
    // A host that maps to one proxy for requests from Germany and another
    // for the rest (the base ring spans all five proxies).
    let (host, german, anywhere) = ["a.com", "b.com", "c.com", "d.com", "e.com", "f.com"]
        .into_iter()
        .map(|host| {
            let german = in_country(&mut h, host, de).first().unwrap();
            (host, german, h.pick(host).unwrap().first().unwrap())
        })
        .find(|(_, german, anywhere)| german != anywhere)
        .expect("some host maps differently in the two scopes");

    let saved = h.engine.sticky_mappings(h.rotation);
    let scopes: Vec<_> = saved
        .iter()
        .filter(|m| m.key == host)
        .map(|m| m.scope.country)
        .collect();
    assert_eq!(scopes.len(), 2, "{saved:?}");
    assert!(
        scopes.contains(&Some(de)) && scopes.contains(&None),
        "{saved:?}"
    );

    let hit = |s: vip_engine::Selection| (s.first(), s.reason.sticky);
    let kept = |h: &mut Harness| {
        assert_eq!(
            hit(in_country(h, host, de)),
            (Some(german), Some(StickyOutcome::Hit))
        );
        assert_eq!(
            hit(h.pick(host).unwrap()),
            (Some(anywhere), Some(StickyOutcome::Hit))
        );
    };
    // A pool change (a new proxy) keeps each mapping in its scope.
    let mut bigger = pool();
    bigger.push(p(6).country("DE"));
    h.engine
        .set_pool(vip_engine::PoolSnapshot::new(bigger).unwrap(), h.now);
    kept(&mut h);
    // So does a restart: a fresh engine restores both.
    let saved = h.engine.sticky_mappings(h.rotation);
    let mut fresh = Harness::new(pool(), json);
    fresh.now = h.now;
    fresh
        .engine
        .restore_sticky_mappings(fresh.rotation, saved, fresh.now);
    kept(&mut fresh);
}

/// A selection for `host` asking for exit `country`.
fn in_country(h: &mut Harness, host: &str, country: CountryCode) -> vip_engine::Selection {
    let now = h.now;
    h.select(SelectionRequest {
        preferred_country: Some(country),
        ..SelectionRequest::new(host, now)
    })
    .unwrap()
}

#[test]
fn failover_uses_the_order_fails_over_and_returns_after_successes() {
    let json = r#"{"name":"f","strategy":"failover","strategy_config":{"failoverOrder":[3,1],"returnAfterSuccesses":2}}"#;
    let mut h = Harness::new(vec![p(1), p(2).weight(90), p(3), p(4).weight(10)], json);
    let sel = h.pick("a.com").unwrap();
    assert_eq!(sel.candidates(), vec![ProxyId(3), ProxyId(1), ProxyId(2)]);
    assert_eq!(sel.events[0].reason, RotationReason::Startup);
    h.fail(3, 5);
    let sel = h.pick("a.com").unwrap();
    assert_eq!(sel.first(), Some(ProxyId(1)));
    assert_eq!(
        (sel.events[0].previous, sel.events[0].reason),
        (Some(ProxyId(3)), RotationReason::Failure)
    );
    // Breaker cooldown (30 s) passes: 3 is half-open but has no successes yet.
    h.advance(Duration::from_secs(31));
    check(&mut h, &[row("a.com", Expect::First(1))]);
    h.checked_ok(3, 10);
    check(&mut h, &[row("a.com", Expect::First(1))]);
    h.checked_ok(3, 10);
    let sel = h.pick("a.com").unwrap();
    assert_eq!(sel.first(), Some(ProxyId(3)));
    assert_eq!(sel.events[0].reason, RotationReason::Recovered);
    // Manual rotation moves to the next in order.
    h.engine.rotate_now(h.rotation).unwrap();
    let sel = h.pick("a.com").unwrap();
    assert_eq!(
        (sel.first(), sel.events[0].reason),
        (Some(ProxyId(1)), RotationReason::Manual)
    );
}

#[test]
fn time_based_holds_for_the_interval_and_the_request_budget() {
    let json = r#"{"name":"t","strategy":"time-based","common_config":{"interval":60000}}"#;
    let mut h = Harness::new(plain(3), json);
    check(
        &mut h,
        &[
            row("a.com", Expect::First(1)).at(0),
            row("b.com", Expect::First(1)).at(59_000),
            row("b.com", Expect::First(2)).at(60_000),
            row("b.com", Expect::First(2)).at(119_999),
            row("b.com", Expect::First(3)).at(120_000),
        ],
    );
    let json = r#"{"name":"t","strategy":"time-based","common_config":{"maxRequestsPerProxy":2}}"#;
    let mut h = Harness::new(plain(3), json);
    assert_eq!(h.firsts("a.com", 7), vec![1, 1, 2, 2, 3, 3, 1]);
}

#[test]
fn time_based_windows_jitter_and_failure() {
    // Rotation only 09:00-17:00 on weekdays (START is Monday 00:00 UTC).
    let json = r#"{"name":"t","strategy":"time-based","common_config":{"interval":60000},
        "strategy_config":{"scheduleWindows":[{"days":["mon","tue","wed","thu","fri"],"start":"09:00","end":"17:00"}]}}"#;
    let mut h = Harness::new(plain(3), json);
    let hour = 3_600_000;
    check(
        &mut h,
        &[
            row("a.com", Expect::First(1)).at(0),
            row("a.com", Expect::First(1)).at(2 * hour),
            row("a.com", Expect::First(2)).at(9 * hour),
            row("a.com", Expect::First(2)).at(9 * hour + 30_000),
            row("a.com", Expect::First(3)).at(9 * hour + 61_000),
            row("a.com", Expect::First(3)).at(18 * hour),
        ],
    );
    // Outside the window a failed proxy is still replaced at once.
    h.fail(3, 5);
    let sel = h.pick("a.com").unwrap();
    assert_eq!(sel.first(), Some(ProxyId(1)));
    assert_eq!(sel.events[0].reason, RotationReason::Failure);
    // Jitter spreads the interval within ±50%.
    let json = r#"{"name":"t","strategy":"time-based","common_config":{"interval":100000},"strategy_config":{"jitter":0.5}}"#;
    let mut h = Harness::new(plain(2), json);
    h.pick("a.com").unwrap();
    let mut held_ms = 0;
    while h.pick("a.com").unwrap().first() == Some(ProxyId(1)) {
        h.advance(Duration::from_secs(1));
        held_ms += 1000;
        assert!(held_ms <= 151_000, "held longer than interval + jitter");
    }
    assert!(held_ms >= 49_000, "rotated after {held_ms} ms");
}
