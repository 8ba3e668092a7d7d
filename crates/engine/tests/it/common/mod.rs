//! Shared test helpers: a pool builder, a harness that owns an engine, a
//! seeded RNG and a fixed clock, and the one `check` helper that runs rows of
//! request → expected decision and names the failing row.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use vip_engine::{
    ConfigId, CountryCode, Engine, FailureKind, Feedback, HealthSettings, PoolSnapshot, Proxy,
    ProxyId, RotationConfig, Route, SelectError, Selection, SelectionRequest, TabId, Timestamp,
};

/// 2026-01-05 00:00 UTC, a Monday.
pub const START_MS: i64 = 1_767_571_200_000;

/// Builds a proxy: `p(1).country("DE").group("res")`.
pub fn p(id: u64) -> Proxy {
    Proxy::new(id, &format!("10.0.0.{id}"), 8000 + id as u16)
}

/// Builder methods for test proxies.
pub trait ProxyExt {
    fn country(self, c: &str) -> Proxy;
    fn region(self, r: &str) -> Proxy;
    fn group(self, g: &str) -> Proxy;
    fn weight(self, w: u8) -> Proxy;
    fn tag(self, t: &str) -> Proxy;
    fn disabled(self) -> Proxy;
}

impl ProxyExt for Proxy {
    fn country(mut self, c: &str) -> Proxy {
        self.country = Some(CountryCode::parse(c).unwrap());
        self
    }
    fn region(mut self, r: &str) -> Proxy {
        self.region = Some(r.to_string());
        self
    }
    fn group(mut self, g: &str) -> Proxy {
        self.group = Some(g.to_string());
        self
    }
    fn weight(mut self, w: u8) -> Proxy {
        self.weight = w;
        self
    }
    fn tag(mut self, t: &str) -> Proxy {
        self.tags.push(t.to_string());
        self
    }
    fn disabled(mut self) -> Proxy {
        self.enabled = false;
        self
    }
}

/// Proxies 1..=n with no attributes.
pub fn plain(n: u64) -> Vec<Proxy> {
    (1..=n).map(p).collect()
}

/// An engine with one rotation (id 1), a seeded RNG and a settable clock.
pub struct Harness {
    pub engine: Engine,
    pub rng: SmallRng,
    pub now: Timestamp,
    pub rotation: ConfigId,
}

impl Harness {
    /// `config` is a rotation config JSON document; `id` defaults to 1.
    pub fn new(proxies: Vec<Proxy>, config: &str) -> Harness {
        Harness::with_settings(proxies, config, HealthSettings::default())
    }

    pub fn with_settings(proxies: Vec<Proxy>, config: &str, settings: HealthSettings) -> Harness {
        let pool = PoolSnapshot::new(proxies).expect("valid pool");
        let mut config =
            RotationConfig::from_json(config).unwrap_or_else(|e| panic!("config: {e}"));
        if config.id == ConfigId(0) {
            config.id = ConfigId(1);
        }
        let rotation = config.id;
        let now = Timestamp::from_millis(START_MS);
        let mut engine = Engine::new(pool, settings);
        engine.set_rotation(config, now);
        Harness {
            engine,
            rng: SmallRng::seed_from_u64(7),
            now,
            rotation,
        }
    }

    /// A config with default settings for a strategy name.
    pub fn strategy(proxies: Vec<Proxy>, strategy: &str) -> Harness {
        Harness::new(
            proxies,
            &format!(r#"{{"name":"t","strategy":"{strategy}"}}"#),
        )
    }

    pub fn at(&mut self, ms_after_start: i64) {
        self.now = Timestamp::from_millis(START_MS + ms_after_start);
    }

    pub fn advance(&mut self, d: Duration) {
        self.now = self.now.after(d);
    }

    pub fn select(&mut self, req: SelectionRequest<'_>) -> Result<Selection, SelectError> {
        self.engine.select(self.rotation, &req, &mut self.rng)
    }

    pub fn pick(&mut self, host: &str) -> Result<Selection, SelectError> {
        let now = self.now;
        self.select(SelectionRequest::new(host, now))
    }

    /// First choices of `n` selections for `host`.
    pub fn firsts(&mut self, host: &str, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| self.pick(host).unwrap().first().unwrap().0)
            .collect()
    }

    pub fn feed(&mut self, fb: Feedback) {
        let now = self.now;
        self.engine.observe(now, fb);
    }

    /// `times` attempts through `id` that fail with the proxy's fault.
    pub fn fail(&mut self, id: u64, times: u32) {
        for _ in 0..times {
            self.feed(Feedback::Attempt { proxy: ProxyId(id) });
            self.feed(Feedback::Failed {
                proxy: ProxyId(id),
                kind: FailureKind::ProxyRefused,
            });
        }
    }

    /// A health check of `id` that succeeded after `ms` milliseconds.
    pub fn checked_ok(&mut self, id: u64, ms: u64) {
        self.feed(Feedback::Checked {
            proxy: ProxyId(id),
            result: Ok(Duration::from_millis(ms)),
        });
    }
}

/// What a row expects.
#[derive(Clone, Debug)]
pub enum Expect {
    /// This first choice.
    First(u64),
    /// Exactly this candidate list (first + fallbacks).
    Candidates(Vec<u64>),
    /// One of these as the first choice.
    OneOf(Vec<u64>),
    /// Direct route.
    Direct,
    /// Block route.
    Block,
    /// An error whose message contains this text.
    Error(&'static str),
}

/// One request and what it should produce.
#[derive(Clone, Debug)]
pub struct Row {
    pub host: &'static str,
    pub url: Option<&'static str>,
    pub tab: Option<u64>,
    pub exclude: Vec<u64>,
    pub country: Option<&'static str>,
    /// Milliseconds after the start; `None` keeps the harness clock.
    pub at_ms: Option<i64>,
    pub expect: Expect,
}

/// A row for `host` expecting `expect`.
pub fn row(host: &'static str, expect: Expect) -> Row {
    Row {
        host,
        url: None,
        tab: None,
        exclude: Vec::new(),
        country: None,
        at_ms: None,
        expect,
    }
}

impl Row {
    pub fn url(mut self, url: &'static str) -> Row {
        self.url = Some(url);
        self
    }
    pub fn tab(mut self, tab: u64) -> Row {
        self.tab = Some(tab);
        self
    }
    pub fn exclude(mut self, ids: &[u64]) -> Row {
        self.exclude = ids.to_vec();
        self
    }
    pub fn country(mut self, c: &'static str) -> Row {
        self.country = Some(c);
        self
    }
    pub fn at(mut self, ms: i64) -> Row {
        self.at_ms = Some(ms);
        self
    }
}

/// Runs every row in order against the harness and checks its outcome.
pub fn check(h: &mut Harness, rows: &[Row]) {
    for (i, r) in rows.iter().enumerate() {
        if let Some(ms) = r.at_ms {
            h.at(ms);
        }
        let exclude: Vec<ProxyId> = r.exclude.iter().map(|&id| ProxyId(id)).collect();
        let mut req = SelectionRequest::new(r.host, h.now).exclude(&exclude);
        if let Some(url) = r.url {
            req = req.url(url);
        }
        if let Some(tab) = r.tab {
            req = req.tab(TabId(tab));
        }
        if let Some(c) = r.country {
            req = req.country(CountryCode::parse(c).unwrap());
        }
        let got = h.select(req);
        let ok = match (&r.expect, &got) {
            (Expect::First(id), Ok(sel)) => sel.first() == Some(ProxyId(*id)),
            (Expect::Candidates(ids), Ok(sel)) => {
                sel.candidates() == ids.iter().map(|&i| ProxyId(i)).collect::<Vec<_>>()
            }
            (Expect::OneOf(ids), Ok(sel)) => sel.first().is_some_and(|f| ids.contains(&f.0)),
            (Expect::Direct, Ok(sel)) => sel.route == Route::Direct,
            (Expect::Block, Ok(sel)) => sel.route == Route::Block,
            (Expect::Error(text), Err(e)) => e.to_string().contains(text),
            _ => false,
        };
        assert!(ok, "row {i} ({r:?}): expected {:?}, got {got:?}", r.expect);
        if let Ok(sel) = &got {
            let c = sel.candidates();
            for id in &r.exclude {
                assert!(
                    !c.contains(&ProxyId(*id)),
                    "row {i}: excluded {id} returned in {c:?}"
                );
            }
            let mut dedup = c.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(dedup.len(), c.len(), "row {i}: duplicate candidates {c:?}");
        }
    }
}
