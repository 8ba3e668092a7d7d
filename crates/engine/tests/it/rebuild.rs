//! The stepwise rebuild (begin, copy in chunks, build with no lock, finish)
//! ends in the same engine as `set_pool` + `set_rotation` would, including
//! what happened between its first and last step: breaker transitions,
//! sticky mappings learned, tab assignments.

use vip_engine::{
    ConfigId, Engine, PoolSnapshot, ProxyId, RotationConfig, RuntimeCopy, SelectionRequest,
    StrategyName, TabId,
};

use crate::common::*;

const STICKY: &str = r#"{"name":"s","strategy":"sticky-session"}"#;

/// Runs the four steps with `during` called between copying and swapping,
/// as traffic would be.
fn rebuild(h: &mut Harness, proxies: Vec<vip_engine::Proxy>, during: impl FnOnce(&mut Harness)) {
    let start = h.engine.begin_rebuild();
    let mut copy = RuntimeCopy::default();
    // Small chunks: the copy is interleaved with traffic in real use.
    while !h.engine.copy_runtime(&mut copy, 7) {}
    during(h);
    let next = Engine::build(
        PoolSnapshot::new(proxies).unwrap(),
        start.settings,
        copy,
        start.configs,
        start.sticky,
        h.now,
    );
    let _old = h.engine.finish_rebuild(next, h.now);
}

#[test]
fn a_rebuild_keeps_what_happened_while_it_ran() {
    let mut h = Harness::new(plain(40), STICKY);
    h.fail(3, 5);
    let before = h.pick("before.example").unwrap().first().unwrap();
    let tab = SelectionRequest::new("tab.example", h.now).tab(TabId(9));
    let tab_proxy = h.select(tab).unwrap().first().unwrap();
    let mut during_mapping = None;
    let mut pool = plain(40);
    pool.retain(|p| p.id != ProxyId(40));
    pool.push(p(41));
    rebuild(&mut h, pool, |h| {
        // Between the copy and the swap: a breaker opens and a mapping is
        // learned; both must survive into the new engine.
        h.fail(5, 5);
        during_mapping = Some(h.pick("during.example").unwrap().first().unwrap());
    });
    assert!(
        !h.engine.status(ProxyId(3)).unwrap().available,
        "copied breaker"
    );
    assert!(
        !h.engine.status(ProxyId(5)).unwrap().available,
        "breaker opened during the rebuild"
    );
    assert!(h.engine.status(ProxyId(41)).unwrap().available);
    assert!(h.engine.status(ProxyId(40)).is_none());
    assert_eq!(h.pick("before.example").unwrap().first().unwrap(), before);
    assert_eq!(h.pick("during.example").unwrap().first(), during_mapping);
    let mappings = h.engine.sticky_mappings(h.rotation);
    assert!(
        mappings.iter().any(|m| m.key == "during.example"),
        "{mappings:?}"
    );
    // The tab's last proxy is still known: the same tab keeps it.
    let tab = SelectionRequest::new("tab.example", h.now).tab(TabId(9));
    assert_eq!(h.select(tab).unwrap().first().unwrap(), tab_proxy);
}

#[test]
fn a_rebuild_and_set_pool_agree() {
    let configs = [
        r#"{"name":"rr","strategy":"round-robin"}"#,
        r#"{"name":"w","strategy":"weighted"}"#,
        STICKY,
        r#"{"name":"f","strategy":"fastest"}"#,
    ];
    for config in configs {
        let mut a = Harness::new(plain(30), config);
        let mut b = Harness::new(plain(30), config);
        for h in [&mut a, &mut b] {
            h.fail(2, 5);
            h.checked_ok(4, 20);
            h.checked_ok(6, 90);
            let _ = h.firsts("x.example", 5);
        }
        let mut pool = plain(35);
        pool.retain(|p| p.id != ProxyId(7));
        let now = a.now;
        a.engine
            .set_pool(PoolSnapshot::new(pool.clone()).unwrap(), now);
        rebuild(&mut b, pool, |_| {});
        for host in ["x.example", "y.example", "z.example"] {
            assert_eq!(a.firsts(host, 12), b.firsts(host, 12), "{config}: {host}");
        }
    }
}

#[test]
fn the_engine_knows_which_config_is_active_for_each_group() {
    let mut proxies = plain(4);
    proxies[2] = p(3).group("g");
    proxies[3] = p(4).group("g");
    let mut h = Harness::new(proxies, r#"{"name":"pool","strategy":"round-robin"}"#);
    let now = h.now;
    h.engine.set_rotation(
        RotationConfig::new(2, StrategyName::Failover, Some("g")),
        now,
    );
    let req = SelectionRequest::new("a.example", now);
    // Nothing active: the built-in rotation decides, for the pool and for
    // a group (narrowed to it).
    let s = h.engine.select_active(None, &req, &mut h.rng).unwrap();
    assert_eq!(s.rotation, Engine::BUILT_IN);
    let s = h.engine.select_active(Some("g"), &req, &mut h.rng).unwrap();
    assert_eq!(s.rotation, Engine::BUILT_IN);
    assert!([3, 4].contains(&s.first().unwrap().0));
    // The pool's active config; a group's own active config wins for it.
    h.engine.set_active(None, Some(ConfigId(1)));
    h.engine.set_active(Some("g"), Some(ConfigId(2)));
    assert_eq!(h.engine.active(Some("g")), Some(ConfigId(2)));
    let s = h.engine.select_active(None, &req, &mut h.rng).unwrap();
    assert_eq!(s.rotation, ConfigId(1));
    let s = h.engine.select_active(Some("g"), &req, &mut h.rng).unwrap();
    assert_eq!((s.rotation, s.first().unwrap().0), (ConfigId(2), 3));
    // A group with no members is refused, naming it.
    let err = h
        .engine
        .select_active(Some("none"), &req, &mut h.rng)
        .unwrap_err();
    assert!(err.to_string().contains("none"), "{err}");
    // Cleared: back to the built-in rotation; the built-in one is never
    // among the loaded configs.
    h.engine.set_active(None, None);
    let s = h.engine.select_active(None, &req, &mut h.rng).unwrap();
    assert_eq!(s.rotation, Engine::BUILT_IN);
    assert_eq!(h.engine.rotation_ids(), vec![ConfigId(1), ConfigId(2)]);
}
