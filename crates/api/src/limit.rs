//! Rate limits per principal and route class (GCRA by `governor`): one
//! bucket per (class, principal), never per address (every client here is
//! 127.0.0.1), so two principals never share one. The defaults per minute
//! follow the product's channel table; a request over its class's limit is
//! a 429 with `Retry-After`, `RateLimit-Policy` and `RateLimit`. After
//! [`FAILED_AUTH_PER_MINUTE`] failed authentications in a minute, requests
//! that fail authentication get 429 for a minute instead of 401. Time comes
//! from a [`LimitClock`], which tests move by hand.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// Failed authentications in a minute after which they get 429 (by
/// default; the [`AUTH_FAILURES`] override sets it).
pub const FAILED_AUTH_PER_MINUTE: u32 = 20;
/// The override name of the failed-authentication threshold.
pub const AUTH_FAILURES: &str = "auth-failures";
/// How long requests failing authentication get 429 after that.
pub const LOCKOUT: Duration = Duration::from_secs(60);

/// Route classes and their default requests per minute per principal;
/// `other` is every route [`class_of`] does not name.
pub const CLASSES: &[(&str, u32)] = &[
    ("proxies-create", 10),
    ("proxies-import", 10),
    ("proxies-delete", 20),
    ("proxies-check", 20),
    ("rotation-activate", 10),
    ("proxies-list", 100),
    ("tabs-change", 50),
    ("tabs-read", 100),
    ("fingerprint", 20),
    ("webrtc", 30),
    ("tracker-blocking", 30),
    ("privacy-stats", 120),
    ("sessions-save-load", 10),
    ("auth-launch", 10),
    ("other", 100),
];

/// The class of a request by its method and matched route template.
pub fn class_of(method: &str, route: &str) -> &'static str {
    let write = method != "GET" && method != "HEAD";
    match (write, route) {
        (true, "/api/v1/tabs") | (true, "/api/v1/tabs/{id}") => "tabs-change",
        (false, r) if r.starts_with("/api/v1/tabs") => "tabs-read",
        (true, "/api/v1/sessions/{name}") | (true, "/api/v1/sessions/{name}/load") => {
            "sessions-save-load"
        }
        (true, "/api/v1/proxies") => "proxies-create",
        (true, "/api/v1/proxies/{id}") if method == "DELETE" => "proxies-delete",
        (true, "/api/v1/proxies:import") => "proxies-import",
        (true, "/api/v1/rotations/{id}/activate") => "rotation-activate",
        (true, "/api/v1/proxies:check") | (true, "/api/v1/proxies/{id}/check") => "proxies-check",
        (false, "/api/v1/proxies") => "proxies-list",
        (true, "/auth/launch") | (false, "/auth/launch") => "auth-launch",
        _ => "other",
    }
}

/// The clock the limits read: real, or moved by hand in tests.
#[derive(Clone, Debug)]
pub struct LimitClock {
    start: Instant,
    offset: Arc<AtomicU64>,
    fake: bool,
}

impl LimitClock {
    /// The machine's monotonic clock.
    pub fn real() -> LimitClock {
        LimitClock {
            start: Instant::now(),
            offset: Arc::default(),
            fake: false,
        }
    }

    /// A clock that stands still until [`LimitClock::advance`].
    pub fn fake() -> LimitClock {
        LimitClock {
            fake: true,
            ..LimitClock::real()
        }
    }

    /// Moves the clock on (every clone sees it).
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.offset.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Clock for LimitClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let real = if self.fake {
            0
        } else {
            u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
        };
        Nanos::from(real.saturating_add(self.offset.load(Ordering::Relaxed)))
    }
}

type Bucket =
    RateLimiter<String, HashMapStateStore<String>, LimitClock, StateInformationMiddleware>;

/// The answer for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Its class.
    pub class: &'static str,
    /// The class's requests per minute.
    pub limit: u32,
    /// Requests left now.
    pub remaining: u32,
    /// Refused: seconds until the next is allowed.
    pub retry_after: Option<u64>,
}

impl Verdict {
    /// `RateLimit-Policy` (IETF draft): the class's quota per 60 s.
    pub fn policy_header(&self) -> String {
        format!("\"{}\";q={};w=60", self.class, self.limit)
    }

    /// `RateLimit`: what is left, and when the next request is allowed.
    pub fn state_header(&self) -> String {
        format!(
            "\"{}\";r={};t={}",
            self.class,
            self.remaining,
            self.retry_after.unwrap_or(0)
        )
    }
}

/// Every class's buckets and the failed-authentication guard.
pub struct Limits {
    clock: LimitClock,
    buckets: HashMap<&'static str, (u32, Bucket)>,
    failed: RateLimiter<
        governor::state::NotKeyed,
        governor::state::InMemoryState,
        LimitClock,
        governor::middleware::NoOpMiddleware<Nanos>,
    >,
    locked_until: Mutex<Option<Nanos>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits").finish_non_exhaustive()
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

fn seconds_until(from: Nanos, to: Nanos) -> u64 {
    let wait = Duration::from(to.duration_since(from));
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl Limits {
    /// The default limits on `clock`, with `overrides` per class.
    pub fn new(clock: LimitClock, overrides: &HashMap<String, u32>) -> Limits {
        let buckets = CLASSES
            .iter()
            .map(|&(class, n)| {
                let n = overrides.get(class).copied().unwrap_or(n);
                let bucket = RateLimiter::hashmap_with_clock(per_minute(n), clock.clone())
                    .with_middleware::<StateInformationMiddleware>();
                (class, (n, bucket))
            })
            .collect();
        Limits {
            failed: RateLimiter::direct_with_clock(
                per_minute(
                    overrides
                        .get(AUTH_FAILURES)
                        .copied()
                        .unwrap_or(FAILED_AUTH_PER_MINUTE),
                ),
                clock.clone(),
            ),
            clock,
            buckets,
            locked_until: Mutex::new(None),
        }
    }

    /// Takes one request of `principal` in `class` (unknown classes count
    /// as `other`).
    pub fn check(&self, class: &'static str, principal: &str) -> Verdict {
        let Some((class, (limit, bucket))) = self
            .buckets
            .get_key_value(class)
            .or_else(|| self.buckets.get_key_value("other"))
        else {
            return Verdict {
                class,
                limit: 0,
                remaining: 0,
                retry_after: None,
            };
        };
        let key = principal.to_string();
        match bucket.check_key(&key) {
            Ok(snapshot) => Verdict {
                class,
                limit: *limit,
                remaining: snapshot.remaining_burst_capacity(),
                retry_after: None,
            },
            Err(not_until) => Verdict {
                class,
                limit: *limit,
                remaining: 0,
                retry_after: Some(
                    seconds_until(self.clock.now(), not_until.earliest_possible()).max(1),
                ),
            },
        }
    }

    /// A request failed authentication: seconds to refuse such requests
    /// for, when too many failed in the last minute.
    pub fn failed_auth(&self) -> Option<u64> {
        let now = self.clock.now();
        let mut locked = self.locked_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = *locked {
            if until > now {
                return Some(seconds_until(now, until));
            }
            *locked = None;
        }
        if self.failed.check().is_err() {
            let until = now + LOCKOUT;
            *locked = Some(until);
            return Some(seconds_until(now, until));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_allows_its_quota_per_minute_and_principals_never_share() {
        let clock = LimitClock::fake();
        let limits = Limits::new(clock.clone(), &HashMap::new());
        for &(class, n) in CLASSES {
            for i in 0..n {
                let v = limits.check(class, "cli");
                assert_eq!(v.retry_after, None, "{class} request {}", i + 1);
                assert_eq!(v.remaining, n - i - 1, "{class}");
            }
            let over = limits.check(class, "cli");
            assert_eq!(over.class, class);
            let wait = over.retry_after.expect("over the quota");
            assert!((1..=60).contains(&wait), "{class}: {wait}");
            assert_eq!(
                limits.check(class, "dashboard").retry_after,
                None,
                "{class}"
            );
            clock.advance(Duration::from_secs(60) / n);
            assert_eq!(
                limits.check(class, "cli").retry_after,
                None,
                "{class} refilled"
            );
        }
    }

    #[test]
    fn a_class_can_be_set_and_unknown_classes_count_as_other() {
        let overrides = HashMap::from([("sessions-save-load".to_string(), 2)]);
        let limits = Limits::new(LimitClock::fake(), &overrides);
        assert!(
            limits
                .check("sessions-save-load", "p")
                .retry_after
                .is_none()
        );
        assert!(
            limits
                .check("sessions-save-load", "p")
                .retry_after
                .is_none()
        );
        let v = limits.check("sessions-save-load", "p");
        assert_eq!(v.retry_after, Some(30));
        assert_eq!(v.policy_header(), "\"sessions-save-load\";q=2;w=60");
        assert_eq!(v.state_header(), "\"sessions-save-load\";r=0;t=30");
        assert_eq!(limits.check("no-such", "p").class, "other");
    }

    #[test]
    fn failed_authentications_lock_out_for_a_minute() {
        let clock = LimitClock::fake();
        let limits = Limits::new(clock.clone(), &HashMap::new());
        for _ in 0..FAILED_AUTH_PER_MINUTE {
            assert_eq!(limits.failed_auth(), None);
        }
        assert_eq!(limits.failed_auth(), Some(60));
        clock.advance(Duration::from_secs(59));
        assert_eq!(limits.failed_auth(), Some(1));
        clock.advance(Duration::from_secs(2));
        assert_eq!(limits.failed_auth(), None);
    }

    #[test]
    fn routes_fall_in_their_classes() {
        assert_eq!(class_of("POST", "/api/v1/tabs"), "tabs-change");
        assert_eq!(class_of("DELETE", "/api/v1/tabs/{id}"), "tabs-change");
        assert_eq!(class_of("GET", "/api/v1/tabs"), "tabs-read");
        assert_eq!(
            class_of("POST", "/api/v1/sessions/{name}"),
            "sessions-save-load"
        );
        assert_eq!(
            class_of("POST", "/api/v1/sessions/{name}/load"),
            "sessions-save-load"
        );
        assert_eq!(class_of("GET", "/api/v1/sessions"), "other");
        assert_eq!(class_of("GET", "/api/v1/status"), "other");
        assert_eq!(class_of("POST", "/api/v1/proxies"), "proxies-create");
        assert_eq!(class_of("GET", "/api/v1/proxies"), "proxies-list");
        assert_eq!(class_of("DELETE", "/api/v1/proxies/{id}"), "proxies-delete");
        assert_eq!(class_of("PATCH", "/api/v1/proxies/{id}"), "other");
    }
}
