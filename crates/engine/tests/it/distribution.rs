//! Statistical guarantees: weighted frequencies match weights (chi-square),
//! random is uniform, round-robin is exactly fair, and adding one proxy to
//! the sticky ring remaps at most 1/n + 5% of domains, all to the new proxy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use crate::common::*;
use vip_engine::{ProxyId, StickyOutcome};

/// Pearson's chi-square statistic of observed counts against expected shares.
fn chi_square(observed: &HashMap<u64, u64>, expected_share: &[(u64, f64)], total: u64) -> f64 {
    expected_share
        .iter()
        .map(|&(id, share)| {
            let e = share * total as f64;
            let o = *observed.get(&id).unwrap_or(&0) as f64;
            (o - e).powi(2) / e
        })
        .sum()
}

fn counts(ids: Vec<u64>) -> HashMap<u64, u64> {
    let mut map = HashMap::new();
    for id in ids {
        *map.entry(id).or_default() += 1;
    }
    map
}

#[test]
fn weighted_frequencies_pass_chi_square() {
    let pool = vec![
        p(1).weight(10),
        p(2).weight(20),
        p(3).weight(30),
        p(4).weight(40),
        p(5).weight(0),
    ];
    let mut h = Harness::strategy(pool, "weighted");
    let n = 20_000;
    let observed = counts(h.firsts("a.com", n));
    assert!(!observed.contains_key(&5));
    let stat = chi_square(
        &observed,
        &[(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)],
        n as u64,
    );
    // df = 3, p = 0.001 critical value.
    assert!(stat < 16.27, "chi-square {stat} for {observed:?}");
    // A sampler that ignored weights would fail the same check.
    let uniform: HashMap<u64, u64> = (1..=4).map(|id| (id, n as u64 / 4)).collect();
    assert!(
        chi_square(
            &uniform,
            &[(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)],
            n as u64
        ) > 16.27
    );
}

#[test]
fn random_is_uniform() {
    let mut h = Harness::strategy(plain(5), "random");
    let n = 10_000;
    let observed = counts(h.firsts("a.com", n));
    let stat = chi_square(
        &observed,
        &[(1, 0.2), (2, 0.2), (3, 0.2), (4, 0.2), (5, 0.2)],
        n as u64,
    );
    assert!(stat < 18.47, "chi-square {stat} for {observed:?}");
}

#[test]
fn round_robin_is_exactly_fair() {
    let mut h = Harness::strategy(plain(7), "round-robin");
    let observed = counts(h.firsts("a.com", 7_000));
    assert_eq!(observed.len(), 7);
    assert!(observed.values().all(|&c| c == 1_000), "{observed:?}");
}

fn sticky_map(proxies: u64, domains: usize) -> Vec<ProxyId> {
    let json = r#"{"name":"s","strategy":"sticky-session","strategy_config":{"keyBy":"host"}}"#;
    let mut h = Harness::new(plain(proxies), json);
    (0..domains)
        .map(|i| {
            let sel = h.pick(&format!("d{i}.example")).unwrap();
            assert_eq!(sel.reason.sticky, Some(StickyOutcome::Miss));
            sel.first().unwrap()
        })
        .collect()
}

#[test]
fn adding_a_proxy_remaps_about_one_in_n_domains() {
    for n in [5u64, 20, 100] {
        let domains = 10_000;
        let before = sticky_map(n, domains);
        let after = sticky_map(n + 1, domains);
        let moved: Vec<usize> = (0..domains).filter(|&i| before[i] != after[i]).collect();
        let fraction = moved.len() as f64 / domains as f64;
        let bound = 1.0 / (n + 1) as f64 + 0.05;
        assert!(
            fraction <= bound,
            "n={n}: {fraction} of domains moved, bound {bound}"
        );
        assert!(fraction > 0.0, "n={n}: the new proxy got no domains");
        assert!(
            moved.iter().all(|&i| after[i] == ProxyId(n + 1)),
            "n={n}: keys moved between old proxies"
        );
        // And the load is spread: no proxy holds more than 2.5x its share.
        let load = counts(after.iter().map(|p| p.0).collect());
        let max = *load.values().max().unwrap() as f64;
        assert!(
            max <= 2.5 * domains as f64 / (n + 1) as f64,
            "n={n}: max load {max}"
        );
    }
}
