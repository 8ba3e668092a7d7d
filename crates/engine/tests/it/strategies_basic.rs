//! Row tests for the strategies that pick without holding state across
//! requests: round-robin, random, weighted, fastest, least-used and
//! failure-aware, plus target groups, exclusions and disabled proxies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::*;
use vip_engine::{Feedback, ProxyId, RotationReason};

#[test]
fn round_robin_cycles_and_skips_excluded_disabled_and_broken() {
    let mut h = Harness::strategy(vec![p(1), p(2).disabled(), p(3), p(4)], "round-robin");
    check(
        &mut h,
        &[
            row("a.com", Expect::Candidates(vec![1, 3, 4])),
            row("a.com", Expect::First(3)),
            row("a.com", Expect::First(4)),
            row("a.com", Expect::First(1)),
            row("a.com", Expect::Candidates(vec![4, 1])).exclude(&[3]),
            row(
                "a.com",
                Expect::Error("all 3 proxies of the pool are excluded"),
            )
            .exclude(&[1, 3, 4]),
        ],
    );
    h.fail(3, 5);
    check(
        &mut h,
        &[
            row("a.com", Expect::First(1)),
            row("a.com", Expect::First(4)),
            row("a.com", Expect::First(1)),
        ],
    );
}

#[test]
fn target_group_limits_every_strategy_to_its_group() {
    let pool = || vec![p(1).group("a"), p(2).group("b"), p(3).group("a"), p(4)];
    for strategy in [
        "round-robin",
        "random",
        "weighted",
        "fastest",
        "least-used",
        "geographic",
        "sticky-session",
        "failover",
        "failure-aware",
        "custom-rules",
    ] {
        let json = format!(r#"{{"name":"t","strategy":"{strategy}","target_group":"a"}}"#);
        let mut h = Harness::new(pool(), &json);
        for _ in 0..20 {
            let sel = h.pick("x.org").unwrap();
            for id in sel.candidates() {
                assert!(
                    id == ProxyId(1) || id == ProxyId(3),
                    "{strategy} returned {id}"
                );
            }
        }
    }
    let mut h = Harness::new(
        pool(),
        r#"{"name":"t","strategy":"round-robin","target_group":"zzz"}"#,
    );
    check(
        &mut h,
        &[row(
            "x.org",
            Expect::Error("group \"zzz\" has no enabled proxies"),
        )],
    );
}

#[test]
fn random_returns_only_the_eligible_one() {
    let mut h = Harness::strategy(plain(5), "random");
    check(
        &mut h,
        &[
            row("a.com", Expect::Candidates(vec![4])).exclude(&[1, 2, 3, 5]),
            row("a.com", Expect::OneOf(vec![1, 2, 3, 4, 5])),
        ],
    );
    let seen: std::collections::BTreeSet<u64> = h.firsts("a.com", 200).into_iter().collect();
    assert_eq!(seen.len(), 5, "all proxies drawn over 200 picks: {seen:?}");
}

#[test]
fn weighted_never_picks_weight_zero_and_honours_overrides() {
    let pool = vec![p(1).weight(0), p(2).weight(50), p(3).weight(50)];
    let mut h = Harness::strategy(pool.clone(), "weighted");
    assert!(!h.firsts("a.com", 500).contains(&1));
    check(
        &mut h,
        &[row("a.com", Expect::Error("weight 0 is never picked")).exclude(&[2, 3])],
    );
    // The config's weights override the pool's: only proxy 1 has weight now.
    let mut h = Harness::new(
        pool,
        r#"{"name":"w","strategy":"weighted","strategy_config":{"weights":{"1":100,"2":0,"3":0}}}"#,
    );
    assert!(h.firsts("a.com", 100).iter().all(|&id| id == 1));
}

#[test]
fn fastest_prefers_low_latency_without_flapping() {
    let mut h = Harness::new(
        plain(4),
        r#"{"name":"f","strategy":"fastest","strategy_config":{"tolerance":0.1,"toleranceMs":1}}"#,
    );
    h.checked_ok(1, 50);
    h.checked_ok(2, 10);
    h.checked_ok(3, 30);
    check(&mut h, &[row("a.com", Expect::Candidates(vec![2, 3, 1]))]);
    // 3 becomes slightly faster than 2 (within tolerance): stay on 2.
    h.checked_ok(3, 9);
    for _ in 0..10 {
        h.checked_ok(3, 9);
    }
    check(&mut h, &[row("a.com", Expect::First(2))]);
    // 2 degrades well past the tolerance: switch to 3 with a scheduled event.
    for _ in 0..10 {
        h.checked_ok(2, 80);
    }
    let sel = h.pick("a.com").unwrap();
    assert_eq!(sel.first(), Some(ProxyId(3)));
    assert_eq!(sel.events.len(), 1);
    assert_eq!(sel.events[0].reason, RotationReason::Scheduled);
    assert_eq!(sel.events[0].previous, Some(ProxyId(2)));
    // Unmeasured proxy 4 comes last.
    check(&mut h, &[row("a.com", Expect::Candidates(vec![3, 1, 2]))]);
}

#[test]
fn least_used_follows_active_connections_then_recent_requests() {
    let mut h = Harness::strategy(plain(3), "least-used");
    check(&mut h, &[row("a.com", Expect::Candidates(vec![1, 2, 3]))]);
    h.feed(Feedback::Attempt { proxy: ProxyId(1) });
    h.feed(Feedback::Attempt { proxy: ProxyId(2) });
    check(&mut h, &[row("a.com", Expect::Candidates(vec![3, 1, 2]))]);
    // 3 gets a connection too; all have one active. 1 and 2 finish theirs,
    // but 1 had more recent requests.
    h.feed(Feedback::Attempt { proxy: ProxyId(3) });
    h.feed(Feedback::Attempt { proxy: ProxyId(1) });
    h.feed(Feedback::Closed { proxy: ProxyId(1) });
    h.feed(Feedback::Closed { proxy: ProxyId(1) });
    h.feed(Feedback::Closed { proxy: ProxyId(2) });
    check(&mut h, &[row("a.com", Expect::Candidates(vec![2, 1, 3]))]);
    // Recent counts decay: after many half-lives only active counts matter.
    h.advance(Duration::from_secs(3600));
    h.feed(Feedback::Attempt { proxy: ProxyId(2) });
    check(&mut h, &[row("a.com", Expect::First(1))]);
}

#[test]
fn failure_aware_avoids_recent_failures_and_benches_at_threshold() {
    let mut h = Harness::new(
        plain(3),
        r#"{"name":"fa","strategy":"failure-aware","common_config":{"failureThreshold":3,"cooldownPeriod":120000}}"#,
    );
    // Clean proxies take turns.
    assert_eq!(h.firsts("a.com", 3), vec![1, 2, 3]);
    h.fail(1, 1);
    h.feed(Feedback::Attempt { proxy: ProxyId(1) });
    h.feed(Feedback::Connected {
        proxy: ProxyId(1),
        latency: Duration::from_millis(5),
    });
    // One recent failure: 1 goes behind the clean ones.
    check(
        &mut h,
        &[
            row("a.com", Expect::Candidates(vec![2, 3, 1])),
            row("a.com", Expect::Candidates(vec![3, 2, 1])),
        ],
    );
    // Three quick failures on 2 reach the threshold: benched for 120 s.
    h.fail(2, 1);
    h.feed(Feedback::Connected {
        proxy: ProxyId(2),
        latency: Duration::from_millis(5),
    });
    h.fail(2, 2);
    h.feed(Feedback::Connected {
        proxy: ProxyId(2),
        latency: Duration::from_millis(5),
    });
    check(&mut h, &[row("a.com", Expect::Candidates(vec![3, 1]))]);
    check(
        &mut h,
        &[row("a.com", Expect::Error("benched for cooldownPeriod")).exclude(&[1, 3])],
    );
    // After the cooldown 2 is back; after enough half-lives everyone is clean.
    h.advance(Duration::from_secs(121));
    let c = h.pick("a.com").unwrap().candidates();
    assert!(c.contains(&ProxyId(2)), "{c:?}");
    h.advance(Duration::from_secs(600));
    let firsts = h.firsts("a.com", 3);
    let mut sorted = firsts.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 2, 3], "clean proxies rotate: {firsts:?}");
}

#[test]
fn tab_rotation_events_report_startup_and_changes() {
    let mut h = Harness::strategy(plain(2), "round-robin");
    let now = h.now;
    let req = vip_engine::SelectionRequest::new("a.com", now).tab(vip_engine::TabId(9));
    let first = h.select(req).unwrap();
    assert_eq!(first.events.len(), 1);
    assert_eq!(first.events[0].reason, RotationReason::Startup);
    let second = h.select(req).unwrap();
    assert_eq!(second.events[0].previous, first.first());
    assert_eq!(second.events[0].reason, RotationReason::Scheduled);
    // Tab's proxy broke: the change is a failure.
    h.fail(second.first().unwrap().0, 5);
    let third = h.select(req).unwrap();
    assert_eq!(third.events[0].reason, RotationReason::Failure);
}
