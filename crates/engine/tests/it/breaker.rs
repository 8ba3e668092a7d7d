//! Circuit breakers through the engine: trips on consecutive failures and on
//! failure rate, half-opens after the cooldown with limited probes, closes
//! after successes, re-opens with a doubled cooldown, ignores faults that are
//! not the proxy's, and persists and restores as a plain value.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::*;
use vip_engine::{BreakerPhase, BreakerState, FailureKind, Feedback, HealthSettings, ProxyId};

fn phase(h: &Harness, id: u64) -> BreakerPhase {
    h.engine.status(ProxyId(id)).unwrap().breaker.phase()
}

#[test]
fn consecutive_failures_open_then_probe_then_close() {
    let mut h = Harness::strategy(plain(2), "round-robin");
    h.fail(1, 4);
    assert_eq!(phase(&h, 1), BreakerPhase::Closed);
    h.feed(Feedback::Attempt { proxy: ProxyId(1) });
    let t = h
        .engine
        .observe(
            h.now,
            Feedback::Failed {
                proxy: ProxyId(1),
                kind: FailureKind::ProxyTimeout,
            },
        )
        .unwrap();
    assert_eq!((t.from, t.to), (BreakerPhase::Closed, BreakerPhase::Open));
    assert_eq!(
        t.state.open_until(),
        Some(h.now.after(Duration::from_secs(30)))
    );
    check(
        &mut h,
        &[
            row("a.com", Expect::Candidates(vec![2])),
            row("a.com", Expect::Error("open circuit breakers")).exclude(&[2]),
        ],
    );
    // Cooldown over: half-open, one probe at a time.
    h.advance(Duration::from_secs(30));
    check(&mut h, &[row("a.com", Expect::First(1)).exclude(&[2])]);
    assert_eq!(phase(&h, 1), BreakerPhase::HalfOpen);
    h.feed(Feedback::Attempt { proxy: ProxyId(1) });
    check(
        &mut h,
        &[row("a.com", Expect::Error("1 with open circuit breakers")).exclude(&[2])],
    );
    h.feed(Feedback::Connected {
        proxy: ProxyId(1),
        latency: Duration::from_millis(3),
    });
    h.feed(Feedback::Closed { proxy: ProxyId(1) });
    assert_eq!(phase(&h, 1), BreakerPhase::HalfOpen);
    h.feed(Feedback::Attempt { proxy: ProxyId(1) });
    let t = h.engine.observe(
        h.now,
        Feedback::Connected {
            proxy: ProxyId(1),
            latency: Duration::from_millis(3),
        },
    );
    assert_eq!(t.map(|t| t.to), Some(BreakerPhase::Closed));
}

#[test]
fn failed_probe_reopens_with_a_longer_cooldown() {
    let mut h = Harness::strategy(plain(2), "round-robin");
    h.fail(1, 5);
    h.advance(Duration::from_secs(30));
    h.pick("a.com").unwrap();
    h.fail(1, 1);
    let state = h.engine.status(ProxyId(1)).unwrap().breaker;
    assert_eq!(
        state.open_until(),
        Some(h.now.after(Duration::from_secs(60)))
    );
    h.advance(Duration::from_secs(59));
    check(
        &mut h,
        &[row("a.com", Expect::Error("open circuit breakers")).exclude(&[2])],
    );
    h.advance(Duration::from_secs(1));
    check(&mut h, &[row("a.com", Expect::First(1)).exclude(&[2])]);
}

#[test]
fn failure_rate_over_the_window_trips_and_other_faults_do_not_count() {
    let mut h = Harness::strategy(plain(2), "round-robin");
    // Origin and client failures never count against the proxy.
    for kind in [
        FailureKind::OriginUnreachable,
        FailureKind::OriginDns,
        FailureKind::Client,
        FailureKind::Local,
    ] {
        for _ in 0..10 {
            h.feed(Feedback::Attempt { proxy: ProxyId(1) });
            h.feed(Feedback::Failed {
                proxy: ProxyId(1),
                kind,
            });
        }
    }
    assert_eq!(phase(&h, 1), BreakerPhase::Closed);
    assert_eq!(h.engine.status(ProxyId(1)).unwrap().failures, 0);
    // Alternating success/failure: never 5 in a row, but 50% over 20 requests.
    for i in 0..20 {
        h.advance(Duration::from_millis(100));
        if i % 2 == 0 {
            h.checked_ok(1, 5);
        } else {
            h.fail(1, 1);
        }
    }
    assert_eq!(phase(&h, 1), BreakerPhase::Open);
    // Old outcomes leave the window: a fresh proxy with spread-out failures stays closed.
    let mut h = Harness::strategy(plain(1), "round-robin");
    for _ in 0..30 {
        h.checked_ok(1, 5);
        h.fail(1, 1);
        h.advance(Duration::from_secs(61));
    }
    assert_eq!(phase(&h, 1), BreakerPhase::Closed);
}

#[test]
fn breaker_state_round_trips_through_persistence() {
    let mut h = Harness::strategy(plain(2), "round-robin");
    h.fail(2, 5);
    let saved = h.engine.breaker_states();
    assert_eq!(saved.len(), 1);
    let json = serde_json::to_string(&saved[0].1).unwrap();
    let restored: BreakerState = serde_json::from_str(&json).unwrap();
    let mut fresh = Harness::strategy(plain(2), "round-robin");
    fresh.now = h.now;
    assert!(
        fresh
            .engine
            .restore_breaker(ProxyId(2), restored, fresh.now)
    );
    check(
        &mut fresh,
        &[
            row("a.com", Expect::Candidates(vec![1])),
            row("a.com", Expect::Candidates(vec![1])),
        ],
    );
    fresh.advance(Duration::from_secs(31));
    check(&mut fresh, &[row("a.com", Expect::OneOf(vec![1, 2]))]);
    assert_eq!(phase(&fresh, 2), BreakerPhase::HalfOpen);
}

#[test]
fn breaker_settings_are_configurable() {
    let mut settings = HealthSettings::default();
    settings.breaker.consecutive_failures = 2;
    settings.breaker.half_open_probes = 2;
    let mut h = Harness::with_settings(
        plain(2),
        r#"{"name":"t","strategy":"round-robin"}"#,
        settings,
    );
    h.fail(1, 2);
    assert_eq!(phase(&h, 1), BreakerPhase::Open);
    h.advance(Duration::from_secs(30));
    h.pick("a.com").unwrap();
    h.feed(Feedback::Attempt { proxy: ProxyId(1) });
    check(&mut h, &[row("a.com", Expect::First(1)).exclude(&[2])]);
    h.feed(Feedback::Attempt { proxy: ProxyId(1) });
    check(
        &mut h,
        &[row("a.com", Expect::Error("open circuit breakers")).exclude(&[2])],
    );
}

#[test]
fn a_passing_check_while_open_starts_probing_at_once() {
    let mut h = Harness::strategy(plain(2), "round-robin");
    h.fail(1, 5);
    assert_eq!(phase(&h, 1), BreakerPhase::Open);
    // A failing check changes nothing; a passing one half-opens long
    // before the cooldown ends, and a second closes.
    let checked = |ok: bool| Feedback::Checked {
        proxy: ProxyId(1),
        result: if ok {
            Ok(Duration::from_millis(2))
        } else {
            Err(FailureKind::ProxyRefused)
        },
    };
    h.feed(checked(false));
    assert_eq!(phase(&h, 1), BreakerPhase::Open);
    h.advance(Duration::from_secs(1));
    h.feed(checked(true));
    assert_eq!(phase(&h, 1), BreakerPhase::HalfOpen);
    h.feed(checked(true));
    assert_eq!(phase(&h, 1), BreakerPhase::Closed);
}

#[test]
fn phase_names_are_their_serialized_form() {
    use vip_engine::BreakerPhase;
    for phase in [
        BreakerPhase::Closed,
        BreakerPhase::Open,
        BreakerPhase::HalfOpen,
    ] {
        assert_eq!(serde_json::to_value(phase).unwrap(), phase.as_str());
    }
}
