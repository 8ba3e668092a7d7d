//! Property tests: whatever the pool, config, breaker states and exclusions,
//! no strategy returns an excluded, disabled, out-of-group, out-of-country,
//! open-breaker or zero-weight proxy, candidates are distinct and within the
//! attempt budget, and an error comes only when no eligible proxy exists.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use proptest::prelude::*;
use vip_engine::{CountryCode, ProxyId, SelectionRequest, StrategyName};

#[derive(Clone, Debug)]
struct Spec {
    enabled: bool,
    group: Option<&'static str>,
    country: Option<&'static str>,
    weight: u8,
    broken: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::bool::weighted(0.85),
        prop::sample::select(vec![None, Some("a"), Some("b")]),
        prop::sample::select(vec![None, Some("DE"), Some("FR"), Some("US")]),
        prop_oneof![Just(0u8), 1u8..=100],
        prop::bool::weighted(0.2),
    )
        .prop_map(|(enabled, group, country, weight, broken)| Spec {
            enabled,
            group,
            country,
            weight,
            broken,
        })
}

#[derive(Clone, Debug)]
struct Ask {
    host: u8,
    exclude: Vec<u64>,
    country: Option<&'static str>,
}

fn ask(n: usize) -> impl Strategy<Value = Ask> {
    (
        0u8..6,
        prop::collection::vec(1..=n as u64, 0..n.min(8) + 1),
        prop::sample::select(vec![None, None, Some("DE"), Some("US")]),
    )
        .prop_map(|(host, exclude, country)| Ask {
            host,
            exclude,
            country,
        })
}

fn case() -> impl Strategy<Value = (Vec<Spec>, usize, Option<&'static str>, Vec<Ask>)> {
    prop::collection::vec(spec(), 1..40).prop_flat_map(|specs| {
        let n = specs.len();
        (
            Just(specs),
            0..StrategyName::ALL.len(),
            prop::sample::select(vec![None, Some("a")]),
            prop::collection::vec(ask(n), 1..12),
        )
    })
}

fn config(name: StrategyName, group: Option<&str>) -> String {
    let common = match name {
        StrategyName::TimeBased => r#","common_config":{"interval":1000,"maxRequestsPerProxy":2}"#,
        _ => "",
    };
    let group = group
        .map(|g| format!(r#","target_group":"{g}""#))
        .unwrap_or_default();
    format!(
        r#"{{"name":"p","strategy":"{}"{common}{group}}}"#,
        name.as_str()
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_an_ineligible_proxy_and_never_an_error_while_one_is_eligible(
        (specs, strategy, group, asks) in case()
    ) {
        let name = StrategyName::ALL[strategy];
        let proxies: Vec<_> = specs.iter().enumerate().map(|(i, s)| {
            let mut proxy = p(i as u64 + 1).weight(s.weight);
            proxy.enabled = s.enabled;
            if let Some(g) = s.group { proxy = proxy.group(g); }
            if let Some(c) = s.country { proxy = proxy.country(c); }
            proxy
        }).collect();
        let mut h = Harness::new(proxies, &config(name, group));
        for (i, s) in specs.iter().enumerate() {
            if s.broken { h.fail(i as u64 + 1, 5); }
        }
        for (step, a) in asks.iter().enumerate() {
            let host = format!("h{}.example", a.host);
            let exclude: Vec<ProxyId> = a.exclude.iter().map(|&id| ProxyId(id)).collect();
            let mut req = SelectionRequest::new(&host, h.now).exclude(&exclude);
            if let Some(c) = a.country { req = req.country(CountryCode::parse(c).unwrap()); }
            let eligible = |id: ProxyId| {
                let s = &specs[id.0 as usize - 1];
                s.enabled && !s.broken && !a.exclude.contains(&id.0)
                    && (group.is_none() || s.group == group)
                    && (a.country.is_none() || s.country == a.country)
                    && (name != StrategyName::Weighted || s.weight > 0)
            };
            let any_eligible = (1..=specs.len() as u64).any(|id| eligible(ProxyId(id)));
            match h.select(req) {
                Ok(sel) => {
                    let c = sel.candidates();
                    prop_assert!(!c.is_empty() && c.len() <= 3, "{name} step {step}: {c:?}");
                    for id in &c {
                        prop_assert!(eligible(*id), "{name} step {step}: ineligible {id} in {c:?}");
                    }
                    let mut d = c.clone(); d.sort(); d.dedup();
                    prop_assert_eq!(d.len(), c.len());
                }
                Err(e) => prop_assert!(!any_eligible, "{name} step {step}: {e} although one is eligible"),
            }
            h.advance(std::time::Duration::from_millis(400));
        }
    }
}
