//! The per-proxy circuit breaker, as a plain value that can be persisted and
//! restored. Closed counts failures (consecutive, and a rate over a rolling
//! window with a minimum request count); Open refuses traffic until a
//! deadline that backs off on repeated trips; HalfOpen lets a limited number
//! of probes through and closes after enough successes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::{Timestamp, duration_ms};

/// When a breaker trips and how it recovers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct BreakerSettings {
    /// Open after this many failures in a row.
    pub consecutive_failures: u32,
    /// Open when the failure rate over `window` reaches this (0–1)…
    pub failure_rate: f64,
    /// …with at least this many requests in the window.
    pub min_requests: u32,
    /// Length of the rolling window.
    #[serde(with = "crate::config::millis")]
    pub window: Duration,
    /// How long an open breaker waits before letting probes through.
    #[serde(with = "crate::config::millis")]
    pub cooldown: Duration,
    /// Upper bound for the cooldown, which doubles on every failed probe.
    #[serde(with = "crate::config::millis")]
    pub max_cooldown: Duration,
    /// Concurrent probes allowed while half-open.
    pub half_open_probes: u32,
    /// Successful probes needed to close again.
    pub close_after: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            consecutive_failures: 5,
            failure_rate: 0.5,
            min_requests: 20,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(600),
            half_open_probes: 1,
            close_after: 2,
        }
    }
}

const BUCKETS: usize = 6;

/// Success and failure counts over a rolling window of six buckets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollingWindow {
    /// (bucket number, successes, failures) per ring position.
    buckets: [(i64, u32, u32); BUCKETS],
}

impl RollingWindow {
    fn bucket_ms(window: Duration) -> i64 {
        (duration_ms(window) / BUCKETS as i64).max(1)
    }

    fn record(&mut self, now: Timestamp, window: Duration, ok: bool) {
        let index = now.as_millis().div_euclid(Self::bucket_ms(window));
        let bucket = &mut self.buckets[index.rem_euclid(BUCKETS as i64) as usize];
        if bucket.0 != index {
            *bucket = (index, 0, 0);
        }
        if ok {
            bucket.1 = bucket.1.saturating_add(1);
        } else {
            bucket.2 = bucket.2.saturating_add(1);
        }
    }

    /// (successes, failures) within the window ending at `now`.
    fn totals(&self, now: Timestamp, window: Duration) -> (u32, u32) {
        let index = now.as_millis().div_euclid(Self::bucket_ms(window));
        self.buckets
            .iter()
            .filter(|b| b.0 > index - BUCKETS as i64 && b.0 <= index)
            .fold((0u32, 0u32), |(s, f), b| {
                (s.saturating_add(b.1), f.saturating_add(b.2))
            })
    }
}

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BreakerState {
    /// Traffic flows; failures are counted.
    Closed {
        /// Failures since the last success.
        consecutive_failures: u32,
        /// Recent outcomes.
        window: RollingWindow,
    },
    /// No traffic until `until`.
    Open {
        /// When probes may start.
        until: Timestamp,
        /// Trips in a row; the cooldown doubles with each.
        trips: u32,
    },
    /// A few probes may pass; their outcome decides.
    HalfOpen {
        /// Probes handed out and not yet answered.
        in_flight: u32,
        /// Successful probes so far.
        successes: u32,
        /// Trips in a row so far.
        trips: u32,
    },
}

impl Default for BreakerState {
    fn default() -> Self {
        BreakerState::Closed {
            consecutive_failures: 0,
            window: RollingWindow::default(),
        }
    }
}

/// The coarse phase of a breaker, for events and display.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerPhase {
    /// Traffic flows.
    Closed,
    /// No traffic.
    Open,
    /// Probing.
    HalfOpen,
}

impl BreakerPhase {
    /// The snake_case name (`closed`, `open`, `half_open`), as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerPhase::Closed => "closed",
            BreakerPhase::Open => "open",
            BreakerPhase::HalfOpen => "half_open",
        }
    }
}

impl BreakerState {
    /// The coarse phase.
    pub fn phase(&self) -> BreakerPhase {
        match self {
            BreakerState::Closed { .. } => BreakerPhase::Closed,
            BreakerState::Open { .. } => BreakerPhase::Open,
            BreakerState::HalfOpen { .. } => BreakerPhase::HalfOpen,
        }
    }

    /// Whether a new request may be sent through now.
    pub fn allows(&self, settings: &BreakerSettings) -> bool {
        match *self {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen { in_flight, .. } => in_flight < settings.half_open_probes,
        }
    }

    /// The deadline of an open breaker.
    pub fn open_until(&self) -> Option<Timestamp> {
        match *self {
            BreakerState::Open { until, .. } => Some(until),
            _ => None,
        }
    }

    /// Moves an open breaker whose deadline passed to half-open.
    pub fn tick(&mut self, now: Timestamp) {
        if let BreakerState::Open { until, trips } = *self
            && now >= until
        {
            *self = BreakerState::HalfOpen {
                in_flight: 0,
                successes: 0,
                trips,
            };
        }
    }

    /// A request starts; takes a probe slot when half-open.
    pub fn on_attempt(&mut self) {
        if let BreakerState::HalfOpen { in_flight, .. } = self {
            *in_flight = in_flight.saturating_add(1);
        }
    }

    /// Records an outcome. `probe` is false for health checks, which never
    /// held a probe slot.
    pub fn on_outcome(
        &mut self,
        settings: &BreakerSettings,
        now: Timestamp,
        ok: bool,
        probe: bool,
    ) {
        self.tick(now);
        match self {
            BreakerState::Closed {
                consecutive_failures,
                window,
            } => {
                window.record(now, settings.window, ok);
                if ok {
                    *consecutive_failures = 0;
                    return;
                }
                *consecutive_failures = consecutive_failures.saturating_add(1);
                let (s, f) = window.totals(now, settings.window);
                let total = s + f;
                let rate_trip = total >= settings.min_requests.max(1)
                    && f64::from(f) / f64::from(total) >= settings.failure_rate;
                if *consecutive_failures >= settings.consecutive_failures.max(1) || rate_trip {
                    *self = open(settings, now, 0);
                }
            }
            // A health check or recovery probe that passed while open is
            // evidence the proxy is back: probing starts now rather than at
            // the end of a cooldown that may have doubled many times.
            BreakerState::Open { trips, .. } if ok && !probe => {
                *self = BreakerState::HalfOpen {
                    in_flight: 0,
                    successes: 1,
                    trips: *trips,
                };
                if settings.close_after.max(1) <= 1 {
                    *self = BreakerState::default();
                }
            }
            BreakerState::Open { .. } => {}
            BreakerState::HalfOpen {
                in_flight,
                successes,
                trips,
            } => {
                if probe {
                    *in_flight = in_flight.saturating_sub(1);
                }
                if !ok {
                    let trips = trips.saturating_add(1);
                    *self = open(settings, now, trips);
                    return;
                }
                *successes += 1;
                if *successes >= settings.close_after.max(1) {
                    *self = BreakerState::default();
                }
            }
        }
    }

    /// A request that held a probe slot ended without a verdict.
    pub fn on_abandoned(&mut self) {
        if let BreakerState::HalfOpen { in_flight, .. } = self {
            *in_flight = in_flight.saturating_sub(1);
        }
    }
}

fn open(settings: &BreakerSettings, now: Timestamp, trips: u32) -> BreakerState {
    let factor = 1u32 << trips.min(16);
    let cooldown = settings
        .cooldown
        .saturating_mul(factor)
        .min(settings.max_cooldown);
    BreakerState::Open {
        until: now.after(cooldown),
        trips,
    }
}
