//! The selection request the shell asks with, the answer (first choice plus
//! ordered fallbacks, or direct/block, with the reason), and the typed error
//! that says why nothing was eligible.

use thiserror::Error;

use crate::config::StrategyName;
use crate::events::RotationEvent;
use crate::ids::{ConfigId, ProxyId, RuleId, TabId};
use crate::proxy::CountryCode;
use crate::time::Timestamp;

/// One question to the engine: which proxy for this connection?
#[derive(Clone, Copy, Debug)]
pub struct SelectionRequest<'a> {
    /// Target host (any case; a trailing dot is ignored).
    pub host: &'a str,
    /// Full URL when known (plain HTTP), for URL and path rules.
    pub url: Option<&'a str>,
    /// The tab (or client key) asking.
    pub tab: Option<TabId>,
    /// Proxies the caller refuses (e.g. ones that just failed this request).
    pub exclude: &'a [ProxyId],
    /// Restrict to this exit country.
    pub preferred_country: Option<CountryCode>,
    /// Restrict to this rotation group (on top of the config's own).
    pub group: Option<&'a str>,
    /// The current time.
    pub now: Timestamp,
}

impl<'a> SelectionRequest<'a> {
    /// A request for `host` at `now` with nothing else set.
    pub fn new(host: &'a str, now: Timestamp) -> SelectionRequest<'a> {
        SelectionRequest {
            host,
            url: None,
            tab: None,
            exclude: &[],
            preferred_country: None,
            group: None,
            now,
        }
    }

    /// Sets the full URL.
    pub fn url(mut self, url: &'a str) -> Self {
        self.url = Some(url);
        self
    }

    /// Sets the tab.
    pub fn tab(mut self, tab: TabId) -> Self {
        self.tab = Some(tab);
        self
    }

    /// Sets the excluded proxies.
    pub fn exclude(mut self, exclude: &'a [ProxyId]) -> Self {
        self.exclude = exclude;
        self
    }

    /// Restricts to a country.
    pub fn country(mut self, country: CountryCode) -> Self {
        self.preferred_country = Some(country);
        self
    }
}

/// Where the connection goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Through `first`; on failure try `fallbacks` in order.
    Proxy {
        /// First choice.
        first: ProxyId,
        /// Further candidates, best first, all distinct.
        fallbacks: Vec<ProxyId>,
    },
    /// A rule said: connect without a proxy.
    Direct,
    /// A rule said: refuse the connection.
    Block,
}

/// How a sticky-session strategy answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StickyOutcome {
    /// An existing mapping was used.
    Hit,
    /// A new mapping was made.
    Miss,
    /// A fixed pattern mapping was used.
    Pinned,
    /// The mapped proxy was unusable; a new one was chosen.
    Remapped,
}

/// Why this answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// The strategy that picked (the fallback strategy under custom rules).
    pub strategy: StrategyName,
    /// The rule that decided or matched first, if any.
    pub rule: Option<RuleId>,
    /// Sticky-session detail.
    pub sticky: Option<StickyOutcome>,
}

/// The engine's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The config that decided (the active one, for `select_active`).
    pub rotation: ConfigId,
    /// Where to go.
    pub route: Route,
    /// Why.
    pub reason: Reason,
    /// Rotation events this selection caused.
    pub events: Vec<RotationEvent>,
}

impl Selection {
    /// The first choice, when the route is a proxy.
    pub fn first(&self) -> Option<ProxyId> {
        match &self.route {
            Route::Proxy { first, .. } => Some(*first),
            _ => None,
        }
    }

    /// First choice and fallbacks in order (empty for direct/block).
    pub fn candidates(&self) -> Vec<ProxyId> {
        match &self.route {
            Route::Proxy { first, fallbacks } => std::iter::once(*first)
                .chain(fallbacks.iter().copied())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Why no proxy could be chosen.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SelectError {
    /// The rotation id is not loaded.
    #[error("{0} is not loaded; create or activate it first")]
    UnknownRotation(ConfigId),
    /// The scope has no enabled proxies at all.
    #[error("{scope} has no enabled proxies: add or enable proxies there, or target another group")]
    EmptyScope {
        /// Which part of the pool.
        scope: String,
    },
    /// Every proxy in scope was excluded by the caller or by rules.
    #[error("all {candidates} proxies of {scope} are excluded by the caller or by rules")]
    AllExcluded {
        /// Which part of the pool.
        scope: String,
        /// How many there were.
        candidates: usize,
    },
    /// Every proxy in scope has an open circuit breaker.
    #[error(
        "all {candidates} proxies of {scope} have open circuit breakers; the soonest reopens at {retry_at}"
    )]
    AllBreakersOpen {
        /// Which part of the pool.
        scope: String,
        /// How many there were.
        candidates: usize,
        /// When the first breaker lets probes through.
        retry_at: Timestamp,
    },
    /// A mix of reasons left nothing.
    #[error("no proxy of {scope} is usable: {detail}")]
    NoneEligible {
        /// Which part of the pool.
        scope: String,
        /// Excluded by caller or rules.
        excluded: usize,
        /// Breakers open or probes busy.
        unavailable: usize,
        /// Refused by the strategy itself (weight 0, benched, excluded country).
        held_back: usize,
        /// The counts in words, with what the strategy holds back.
        detail: String,
    },
    /// A rule pinned a proxy that cannot be used.
    #[error("rule {rule} uses {proxy}, which {why}")]
    RuleProxyUnusable {
        /// The rule.
        rule: RuleId,
        /// The proxy.
        proxy: ProxyId,
        /// Why it cannot be used.
        why: &'static str,
    },
}
