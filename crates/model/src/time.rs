//! Time as a value. The engine never reads a clock: every call that depends on
//! time takes a [`Timestamp`] from the caller, so tests use fixed instants and
//! the same inputs always give the same decisions.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC). Persistable and totally ordered.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp `ms` milliseconds after the Unix epoch.
    pub const fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// `self + d`, saturating at the end of time.
    pub fn after(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_ms(d)))
    }

    /// How long after `earlier` this is; zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// Local wall-clock fields at a fixed UTC offset: ISO weekday (Monday = 1
    /// … Sunday = 7), hour (0–23) and minute (0–59).
    pub fn local_fields(self, utc_offset_minutes: i32) -> LocalTime {
        let local_ms = self
            .0
            .saturating_add(i64::from(utc_offset_minutes) * 60_000);
        let days = local_ms.div_euclid(86_400_000);
        let ms_of_day = local_ms.rem_euclid(86_400_000);
        // 1970-01-01 was a Thursday (ISO weekday 4).
        let weekday = ((days + 3).rem_euclid(7) + 1) as u8;
        let minute_of_day = (ms_of_day / 60_000) as u16;
        LocalTime {
            weekday,
            hour: (minute_of_day / 60) as u8,
            minute: (minute_of_day % 60) as u8,
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Wall-clock fields of a [`Timestamp`] at some UTC offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    /// ISO weekday: Monday = 1 … Sunday = 7.
    pub weekday: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
}

impl LocalTime {
    /// Minutes since local midnight.
    pub fn minute_of_day(self) -> u16 {
        u16::from(self.hour) * 60 + u16::from(self.minute)
    }
}

/// A duration in whole milliseconds, saturating.
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekday_and_hour_follow_the_offset() {
        // 2026-11-22 05:30 UTC is a Sunday.
        let t = Timestamp::from_millis(1_795_325_400_000);
        assert_eq!(
            t.local_fields(0),
            LocalTime {
                weekday: 7,
                hour: 5,
                minute: 30
            }
        );
        // UTC-6 is still Saturday evening.
        assert_eq!(
            t.local_fields(-360),
            LocalTime {
                weekday: 6,
                hour: 23,
                minute: 30
            }
        );
    }

    #[test]
    fn since_never_goes_negative() {
        let a = Timestamp::from_millis(10);
        let b = Timestamp::from_millis(5);
        assert_eq!(a.since(b), Duration::from_millis(5));
        assert_eq!(b.since(a), Duration::ZERO);
        assert_eq!(a.after(Duration::from_millis(7)).as_millis(), 17);
    }
}
