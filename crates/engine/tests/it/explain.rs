//! `explain` answers what `select` would, and learns nothing: round-robin's
//! cursor does not move, sticky-session makes no mapping, a tab's proxy is
//! not remembered, no rotation events; the real selection afterwards is
//! the one that was explained.

use crate::common::*;
use vip_engine::{SelectionRequest, StickyOutcome, TabId};

#[test]
fn explaining_round_robin_does_not_move_its_cursor() {
    let mut h = Harness::strategy(plain(4), "round-robin");
    let req = SelectionRequest::new("a.test", h.now);
    let explained: Vec<_> = (0..5)
        .map(|_| h.engine.explain(h.rotation, &req, &mut h.rng).unwrap())
        .collect();
    assert!(explained.iter().all(|e| e.first() == explained[0].first()));
    let real = h.engine.select(h.rotation, &req, &mut h.rng).unwrap();
    assert_eq!(real.first(), explained[0].first());
    assert_eq!(real.candidates(), explained[0].candidates());
    let next = h.engine.select(h.rotation, &req, &mut h.rng).unwrap();
    assert_ne!(next.first(), real.first(), "the real selections rotate");
}

#[test]
fn explaining_sticky_session_makes_no_mapping_and_no_events() {
    let mut h = Harness::strategy(plain(10), "sticky-session");
    let req = SelectionRequest::new("shop.test", h.now).tab(TabId(9));
    for _ in 0..3 {
        let e = h.engine.explain(h.rotation, &req, &mut h.rng).unwrap();
        assert_eq!(
            e.reason.sticky,
            Some(StickyOutcome::Miss),
            "no mapping was kept"
        );
        assert!(e.events.is_empty());
    }
    assert!(h.engine.sticky_mappings(h.rotation).is_empty());
    let real = h.engine.select(h.rotation, &req, &mut h.rng).unwrap();
    assert_eq!(real.reason.sticky, Some(StickyOutcome::Miss));
    assert!(
        !real.events.is_empty(),
        "the real one tells the tab's start"
    );
    // Now the explanation is the mapping's hit, and it stays one.
    let e = h.engine.explain(h.rotation, &req, &mut h.rng).unwrap();
    assert_eq!(e.reason.sticky, Some(StickyOutcome::Hit));
    assert_eq!(e.first(), real.first());
    assert_eq!(h.engine.sticky_mappings(h.rotation).len(), 1);
}

#[test]
fn explaining_the_active_config_uses_the_same_one_select_active_does() {
    let mut h = Harness::strategy(plain(3), "round-robin");
    h.engine.set_active(None, Some(h.rotation));
    let req = SelectionRequest::new("a.test", h.now);
    let e = h.engine.explain_active(None, &req, &mut h.rng).unwrap();
    assert_eq!(e.rotation, h.rotation);
    let real = h.engine.select_active(None, &req, &mut h.rng).unwrap();
    assert_eq!(real.first(), e.first());
}
