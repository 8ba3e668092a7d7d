//! `POST /rotation:explain`: where a request of a tab, of an assignment,
//! or of the pool's active rotation would go now, and why — the gateway's
//! own decision path (`Gateway::explain`: own-port and tracker checks,
//! then the engine's selection as a dry run), with the proxies it names
//! described from the engine's pool and runtime state.

use vip_api::{ApiError, AssignmentSpec, ExplainRequest, Explanation, ProxyBrief, RotationBrief};
use vip_engine::{Engine, ProxyId, Route, StickyOutcome};
use vip_gateway::{Explained, ListenerSpec, Target};

use super::Browsing;

/// Most unavailable proxies listed.
const UNAVAILABLE_LISTED: usize = 20;

/// `target` as the gateway would see it: host, port, and the URL for
/// plain HTTP.
fn parse_target(target: &str) -> Result<(Target, Option<String>), ApiError> {
    let bad = |why: &str| {
        ApiError::invalid(format!("target {target:?} {why}"))
            .at("/target")
            .hint("give a URL like https://shop.example/cart or a host like shop.example:443")
    };
    let target = target.trim();
    let (scheme, rest) = match target.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, target),
    };
    let default_port = match scheme.as_deref() {
        None | Some("https") | Some("wss") => 443,
        Some("http") | Some("ws") => 80,
        Some(_) => return Err(bad("is not http, https, ws or wss")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| bad("has an unclosed ["))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse()
            .map_err(|_| bad("has a port that is not 1-65535"))?,
    };
    if host.is_empty() || port == 0 || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("names no host"));
    }
    let url = matches!(scheme.as_deref(), Some("http")).then(|| target.to_string());
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    Ok((Target { host, port }, url))
}

fn brief(engine: &Engine, id: ProxyId) -> Option<ProxyBrief> {
    let p = engine.pool().get(id)?;
    let status = engine.status(id);
    Some(ProxyBrief {
        id: p.id.0 as i64,
        protocol: p.protocol.to_string(),
        host: p.host.clone(),
        port: p.port,
        country: p.country.as_ref().map(|c| c.as_str().to_string()),
        group: p.group.clone(),
        enabled: p.enabled,
        breaker: status
            .as_ref()
            .map_or(vip_engine::BreakerPhase::Closed, |s| s.breaker.phase())
            .as_str()
            .to_string(),
        latency_ms: status
            .and_then(|s| s.latency_ewma)
            .map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0),
    })
}

fn named(p: &ProxyBrief) -> String {
    let country = p
        .country
        .as_deref()
        .map(|c| format!(", {c}"))
        .unwrap_or_default();
    format!(
        "proxy {} ({} {}:{}{country})",
        p.id, p.protocol, p.host, p.port
    )
}

impl Browsing {
    pub(crate) async fn explain(&self, req: ExplainRequest) -> Result<Explanation, ApiError> {
        let (target, url) = parse_target(&req.target)?;
        let (assignment, tab, whose) = match (req.tab, &req.assignment) {
            (Some(id), _) => {
                let (spec, engine_tab) = {
                    let inner = self.inner.lock().await;
                    let tab = inner.tabs.get(&id).ok_or_else(|| {
                        ApiError::not_found(format!("tab {id} is not open: see `vip tab list`"))
                            .at("/tab")
                    })?;
                    let live = inner.identities.get(&tab.key).ok_or_else(|| {
                        ApiError::not_found(format!("tab {id} is closing")).at("/tab")
                    })?;
                    (live.spec.clone(), live.engine_tab)
                };
                let resolved = self.resolve(&spec).await?;
                (resolved.assignment, Some(engine_tab), format!("tab {id}"))
            }
            (None, Some(spec)) => {
                let resolved = self.resolve(spec).await.map_err(|e| e.at("/assignment"))?;
                (resolved.assignment, None, "this assignment".to_string())
            }
            (None, None) => {
                let resolved = self.resolve(&AssignmentSpec::Default).await?;
                (resolved.assignment, None, "the pool".to_string())
            }
        };
        let spec = ListenerSpec {
            assignment,
            tab,
            auth: None,
            budget: None,
        };
        let verdict = self.gateway.explain(&spec, &target, url.as_deref());
        let place = format!("{}:{}", target.host, target.port);
        let mut out = Explanation {
            outcome: String::new(),
            host: target.host.clone(),
            port: target.port,
            rotation: None,
            strategy: None,
            rule: None,
            sticky: None,
            first: None,
            fallbacks: Vec::new(),
            unavailable: Vec::new(),
            unavailable_total: 0,
            summary: String::new(),
        };
        self.gateway.with_engine(|engine| {
            let unavailable = engine.unavailable();
            out.unavailable_total = unavailable.len() as u64;
            out.unavailable = unavailable
                .iter()
                .take(UNAVAILABLE_LISTED)
                .filter_map(|id| brief(engine, *id))
                .collect();
            let (outcome, summary) = match verdict {
                Explained::Own => (
                    "own-port",
                    format!("{place} is one of vip's own listeners: a tab's request to it is refused"),
                ),
                Explained::Tracker => (
                    "blocked-tracker",
                    format!("{place} is refused as a tracker by the filter lists (EasyList/EasyPrivacy); allowlist the domain to let it through"),
                ),
                Explained::Direct => (
                    "direct",
                    format!("{place} goes without a proxy: {whose} is assigned direct"),
                ),
                Explained::Pinned(id) => {
                    out.first = brief(engine, id);
                    let name = out.first.as_ref().map_or(format!("proxy {}", id.0), named);
                    ("proxy", format!("{place} goes through {name}: {whose} is pinned to it, with no fallback"))
                }
                Explained::Refused(e) => (
                    "no-proxy",
                    format!("{place} would be refused: {e}"),
                ),
                Explained::Selected(s) => {
                    let name = engine
                        .rotation_name(s.rotation)
                        .map_or_else(|| "built-in round-robin".to_string(), str::to_string);
                    out.rotation = Some(RotationBrief {
                        id: s.rotation.0 as i64,
                        name: name.clone(),
                    });
                    out.strategy = Some(s.reason.strategy.as_str().to_string());
                    out.rule = s.reason.rule.map(|r| r.0 as i64);
                    out.sticky = s.reason.sticky.map(|k| {
                        match k {
                            StickyOutcome::Hit => "hit",
                            StickyOutcome::Miss => "miss",
                            StickyOutcome::Pinned => "pinned",
                            StickyOutcome::Remapped => "remapped",
                        }
                        .to_string()
                    });
                    let by = match (out.rule, s.reason.strategy) {
                        (Some(r), _) => format!("rule {r} of rotation {name:?}"),
                        (None, vip_engine::StrategyName::CustomRules) => {
                            format!("the fallback strategy of rotation {name:?} (no rule matched)")
                        }
                        (None, strategy) => format!("{} in rotation {name:?}", strategy.as_str()),
                    };
                    match s.route {
                        Route::Direct => ("direct", format!("{place} goes without a proxy: {by} says direct")),
                        Route::Block => ("blocked-by-rule", format!("{place} is refused: {by} blocks it")),
                        Route::Proxy { first, fallbacks } => {
                            out.first = brief(engine, first);
                            out.fallbacks = fallbacks.iter().filter_map(|id| brief(engine, *id)).collect();
                            let name = out.first.as_ref().map_or(format!("proxy {}", first.0), named);
                            let sticky = match out.sticky.as_deref() {
                                Some("hit") => ", kept by its sticky mapping",
                                Some("miss") => ", which a real request would make its sticky mapping",
                                Some("remapped") => ", replacing a sticky mapping whose proxy is unusable",
                                _ => "",
                            };
                            let then = match out.fallbacks.len() {
                                0 => "no fallback".to_string(),
                                1 => "1 fallback if it fails".to_string(),
                                n => format!("{n} fallbacks if it fails"),
                            };
                            ("proxy", format!("{place} goes through {name}, chosen by {by}{sticky}; {then}"))
                        }
                    }
                }
            };
            out.outcome = outcome.to_string();
            out.summary = summary;
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::parse_target;

    #[test]
    fn targets_are_read_as_the_gateway_sees_them() {
        let (t, url) = parse_target("https://Shop.Example./cart?x=1").unwrap();
        assert_eq!((t.host.as_str(), t.port, url), ("shop.example", 443, None));
        let (t, url) = parse_target("http://a.test:8080/p").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("a.test", 8080));
        assert_eq!(url.as_deref(), Some("http://a.test:8080/p"));
        let (t, _) = parse_target("a.test").unwrap();
        assert_eq!(t.port, 443);
        let (t, _) = parse_target("[::1]:9").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9));
        for bad in [
            "ftp://a.test/",
            "a.test:0",
            "a.test:99999",
            "https:///x",
            "[::1",
        ] {
            let e = parse_target(bad).unwrap_err();
            assert_eq!(
                (e.status, e.pointer.as_deref()),
                (422, Some("/target")),
                "{bad}"
            );
        }
    }
}
