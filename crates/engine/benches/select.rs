//! Selection cost per strategy at 1k, 10k and 100k proxies, feedback
//! (`observe`) cost, and custom rules with 20 and 200 rules. Run with
//! `cargo xtask bench engine` for a table, or `cargo bench -p vip-engine`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use vip_engine::{
    ConfigId, CountryCode, Engine, FailureKind, Feedback, HealthSettings, PoolSnapshot, Proxy,
    ProxyId, RotationConfig, SelectionRequest, StrategyName, Timestamp,
};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const COUNTRIES: [&str; 20] = [
    "US", "DE", "FR", "GB", "NL", "JP", "BR", "CA", "AU", "IT", "ES", "SE", "PL", "IN", "SG", "KR",
    "MX", "CH", "NO", "FI",
];
const START: i64 = 1_767_571_200_000;

fn pool(n: usize) -> PoolSnapshot {
    let proxies = (0..n)
        .map(|i| {
            let mut p = Proxy::new(i as u64 + 1, "10.0.0.1", 8080);
            p.country = Some(CountryCode::parse(COUNTRIES[i % COUNTRIES.len()]).unwrap());
            p.region = Some(format!("r{}", i % 7));
            p.group = Some(format!("g{}", i % 4));
            p.weight = (i % 100) as u8 + 1;
            p
        })
        .collect();
    PoolSnapshot::new(proxies).unwrap()
}

fn config_json(name: StrategyName) -> String {
    let extra = match name {
        StrategyName::Geographic => {
            r#","strategy_config":{"geographicPreferences":["DE","FR"],"excludeCountries":["US"],"preferredRegions":["r3"]}"#
        }
        StrategyName::TimeBased => r#","common_config":{"interval":60000}"#,
        _ => "",
    };
    format!(
        r#"{{"id":1,"name":"bench","strategy":"{}"{extra}}}"#,
        name.as_str()
    )
}

/// An engine over `n` proxies with measured latencies and a few failures.
fn engine(n: usize, config: RotationConfig) -> Engine {
    let now = Timestamp::from_millis(START);
    let mut engine = Engine::new(pool(n), HealthSettings::default());
    for i in 0..n as u64 {
        let latency = Duration::from_micros(20_000 + (i * 7919) % 180_000);
        engine.observe(
            now,
            Feedback::Checked {
                proxy: ProxyId(i + 1),
                result: Ok(latency),
            },
        );
    }
    for i in (0..n as u64).step_by(50) {
        engine.observe(
            now,
            Feedback::Attempt {
                proxy: ProxyId(i + 1),
            },
        );
        engine.observe(
            now,
            Feedback::Failed {
                proxy: ProxyId(i + 1),
                kind: FailureKind::ProxyReset,
            },
        );
    }
    engine.set_rotation(config, now);
    engine
}

fn hosts() -> Vec<String> {
    (0..1024).map(|i| format!("site{i}.example.com")).collect()
}

/// Measures one selection per iteration, cycling hosts and advancing the
/// clock by 1 ms each time.
fn selections(b: &mut criterion::Bencher<'_>, engine: &mut Engine, hosts: &[String]) {
    let mut rng = SmallRng::seed_from_u64(1);
    let mut i = 0usize;
    b.iter(|| {
        i += 1;
        let now = Timestamp::from_millis(START + i as i64);
        let req = SelectionRequest::new(&hosts[i % hosts.len()], now);
        black_box(engine.select(ConfigId(1), &req, &mut rng).unwrap());
    })
}

fn bench_select(c: &mut Criterion) {
    let hosts = hosts();
    let mut group = c.benchmark_group("select");
    for name in StrategyName::ALL {
        for n in SIZES {
            let config = RotationConfig::from_json(&config_json(name)).unwrap();
            let mut engine = engine(n, config);
            group.bench_with_input(BenchmarkId::new(name.as_str(), n), &n, |b, _| {
                selections(b, &mut engine, &hosts)
            });
        }
    }
    group.finish();
}

fn bench_observe(c: &mut Criterion) {
    let mut group = c.benchmark_group("observe");
    for name in [
        StrategyName::RoundRobin,
        StrategyName::LeastUsed,
        StrategyName::Fastest,
        StrategyName::FailureAware,
    ] {
        let n = 100_000;
        let config = RotationConfig::from_json(&config_json(name)).unwrap();
        let mut engine = engine(n, config);
        let mut i = 0u64;
        group.bench_with_input(BenchmarkId::new(name.as_str(), n), &n, |b, _| {
            b.iter(|| {
                i += 1;
                let now = Timestamp::from_millis(START + i as i64);
                let proxy = ProxyId(i * 7919 % n as u64 + 1);
                engine.observe(now, Feedback::Attempt { proxy });
                engine.observe(
                    now,
                    Feedback::Connected {
                        proxy,
                        latency: Duration::from_millis(40),
                    },
                );
                black_box(engine.observe(now, Feedback::Closed { proxy }));
            })
        });
    }
    group.finish();
}

/// `count` rules, none of which match the benchmark hosts except the last,
/// mixing operators so evaluation walks every rule.
fn rules_config(count: usize) -> RotationConfig {
    let mut rules = Vec::new();
    for i in 0..count {
        let (field, op, value) = match i % 5 {
            0 => ("domain", "ends_with", format!("\".shop{i}.test\"")),
            1 => (
                "domain",
                "matches_regex",
                format!("\"^api{i}\\\\.[a-z]+\\\\.test$\""),
            ),
            2 => ("url", "contains", format!("\"/checkout{i}\"")),
            3 => (
                "domain",
                "in_list",
                format!("[\"a{i}.test\",\"b{i}.test\"]"),
            ),
            _ => ("hour", "greater_than", "23".to_string()),
        };
        rules.push(format!(
            r#"{{"id":{i},"priority":{i},"conditions":[{{"field":"{field}","operator":"{op}","value":{value}}}],"actions":[{{"type":"use_country","value":"DE"}}]}}"#
        ));
    }
    let json = format!(
        r#"{{"id":1,"name":"rules","strategy":"custom-rules","rules":[{}]}}"#,
        rules.join(",")
    );
    RotationConfig::from_json(&json).unwrap()
}

fn bench_rules(c: &mut Criterion) {
    let hosts = hosts();
    let mut group = c.benchmark_group("rules");
    for count in [20, 200] {
        let mut engine = engine(100_000, rules_config(count));
        group.bench_with_input(
            BenchmarkId::new("custom-rules-100k", count),
            &count,
            |b, _| selections(b, &mut engine, &hosts),
        );
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_select, bench_observe, bench_rules
}
criterion_main!(benches);
