//! Pool snapshots and pool changes: invalid pools are refused with the
//! offending proxy named; replacing the pool keeps runtime state (breakers,
//! counters) and sticky mappings by proxy id, drops removed proxies and adds
//! new ones; the engine can move between threads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::*;
use vip_engine::{BreakerPhase, Engine, PoolError, PoolSnapshot, ProxyId, StickyOutcome};

#[test]
fn invalid_pools_name_the_proxy() {
    assert_eq!(
        PoolSnapshot::new(vec![p(1), p(1)]).unwrap_err(),
        PoolError::DuplicateId(ProxyId(1))
    );
    let err = PoolSnapshot::new(vec![p(1).weight(101)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "proxy 1 has weight 101; weights go from 0 (never picked) to 100"
    );
    let pool = PoolSnapshot::new(vec![p(1).group("a"), p(2).group("a").disabled(), p(3)]).unwrap();
    assert_eq!(
        (
            pool.len(),
            pool.enabled_in_group(Some("a")),
            pool.enabled_in_group(None)
        ),
        (3, 1, 2)
    );
}

#[test]
fn replacing_the_pool_keeps_state_by_id() {
    let json = r#"{"name":"s","strategy":"sticky-session","strategy_config":{"keyBy":"host"}}"#;
    let mut h = Harness::new(plain(4), json);
    let mapped = h.pick("keep.test").unwrap().first().unwrap();
    let broken = ProxyId(if mapped == ProxyId(1) { 2 } else { 1 });
    h.fail(broken.0, 5);
    h.feed(vip_engine::Feedback::Attempt { proxy: ProxyId(3) });
    // New pool: same proxies in another order, one removed, one added.
    let mut next: Vec<_> = plain(4)
        .into_iter()
        .rev()
        .filter(|p| p.id != ProxyId(4) || mapped == ProxyId(4))
        .collect();
    next.push(p(9));
    h.engine.set_pool(PoolSnapshot::new(next).unwrap(), h.now);
    let status = h.engine.status(broken).unwrap();
    assert_eq!(status.breaker.phase(), BreakerPhase::Open);
    assert_eq!(status.failures, 5);
    assert_eq!(h.engine.status(ProxyId(3)).unwrap().requests, 1);
    assert_eq!(h.engine.status(ProxyId(9)).unwrap().requests, 0);
    let sel = h.pick("keep.test").unwrap();
    assert_eq!(
        (sel.first(), sel.reason.sticky),
        (Some(mapped), Some(StickyOutcome::Hit))
    );
    for _ in 0..50 {
        let c = h
            .pick(&format!("n{}.test", h.now.as_millis()))
            .unwrap()
            .candidates();
        assert!(!c.contains(&broken));
        h.advance(Duration::from_millis(1));
    }
    // The breaker's deadline survives the swap too.
    h.advance(Duration::from_secs(31));
    let now = h.now;
    let only_broken: Vec<ProxyId> = [1, 2, 3, 4, 9]
        .into_iter()
        .map(ProxyId)
        .filter(|&id| id != broken)
        .collect();
    let sel = h
        .select(vip_engine::SelectionRequest::new("x.test", now).exclude(&only_broken))
        .unwrap();
    assert_eq!(sel.first(), Some(broken));
}

#[test]
fn engine_is_send_and_rotations_can_be_swapped() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Engine>();
    let mut h = Harness::strategy(plain(3), "round-robin");
    assert_eq!(h.engine.rotation_ids(), vec![h.rotation]);
    assert!(h.engine.remove_rotation(h.rotation));
    assert!(
        h.pick("a.com")
            .unwrap_err()
            .to_string()
            .contains("rotation config 1 is not loaded")
    );
}
