//! Time-based rotation settings: the jitter and the weekly schedule windows
//! (`{"days": ["mon", ...], "start": "09:00", "end": "17:00"}`), with the
//! weekday and clock-time parsing shared by rule conditions.

use serde::Deserialize;

use super::{ConfigError, field_error, parse_part};

/// A weekly window (local time at `commonConfig.utcOffsetMinutes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleWindow {
    /// ISO weekdays (Monday = 1); empty means every day.
    pub days: Vec<u8>,
    /// Start, minutes after midnight.
    pub start_minute: u16,
    /// End (exclusive), minutes after midnight; before start wraps midnight.
    pub end_minute: u16,
}

impl ScheduleWindow {
    /// Whether a local time falls inside the window.
    pub fn contains(&self, weekday: u8, minute_of_day: u16) -> bool {
        let day_ok = self.days.is_empty() || self.days.contains(&weekday);
        let (s, e) = (self.start_minute, self.end_minute);
        day_ok
            && if s <= e {
                minute_of_day >= s && minute_of_day < e
            } else {
                minute_of_day >= s || minute_of_day < e
            }
    }
}

/// Time-based rotation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeBasedConfig {
    /// Random spread of each interval, as a fraction (0–0.5) of it.
    pub jitter: f64,
    /// Rotation happens only inside these windows; empty means always.
    pub schedule_windows: Vec<ScheduleWindow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWindow {
    #[serde(default)]
    days: Vec<String>,
    start: String,
    end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTimeBased {
    #[serde(default)]
    jitter: f64,
    #[serde(default)]
    schedule_windows: Vec<RawWindow>,
}

/// Parses and checks a time-based `strategy_config`.
pub(crate) fn parse_time_based(
    value: &serde_json::Value,
    path: &str,
) -> Result<TimeBasedConfig, ConfigError> {
    let raw: RawTimeBased = parse_part(value, path)?;
    if !(raw.jitter.is_finite() && (0.0..=0.5).contains(&raw.jitter)) {
        return Err(field_error(
            &format!("{path}.jitter"),
            format!(
                "{} is out of range: use a fraction from 0 to 0.5",
                raw.jitter
            ),
        ));
    }
    let mut windows = Vec::new();
    for (i, w) in raw.schedule_windows.iter().enumerate() {
        let at = format!("{path}.scheduleWindows[{i}]");
        let days = w
            .days
            .iter()
            .map(|d| parse_weekday(d).map_err(|m| field_error(&format!("{at}.days"), m)))
            .collect::<Result<Vec<_>, _>>()?;
        windows.push(ScheduleWindow {
            days,
            start_minute: parse_clock(&w.start)
                .map_err(|m| field_error(&format!("{at}.start"), m))?,
            end_minute: parse_clock(&w.end).map_err(|m| field_error(&format!("{at}.end"), m))?,
        });
    }
    Ok(TimeBasedConfig {
        jitter: raw.jitter,
        schedule_windows: windows,
    })
}

/// Parses `mon`…`sun` (any case, full names too) or `1`…`7` into an ISO weekday.
pub(crate) fn parse_weekday(s: &str) -> Result<u8, crate::config::Problem> {
    let lower = s.trim().to_ascii_lowercase();
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    if let Ok(n) = lower.parse::<u8>()
        && (1..=7).contains(&n)
    {
        return Ok(n);
    }
    NAMES
        .iter()
        .position(|n| lower.len() >= 3 && lower.starts_with(n))
        .map(|i| i as u8 + 1)
        .ok_or_else(|| {
            format!("{s:?} is not a weekday: use mon…sun or 1 (Monday)…7 (Sunday)").into()
        })
}

fn parse_clock(s: &str) -> Result<u16, crate::config::Problem> {
    let bad = || {
        crate::config::Problem(format!(
            "{s:?} is not a time of day: use HH:MM from 00:00 to 24:00"
        ))
    };
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// A time-based config in the JSON form [`parse_time_based`] reads.
pub(crate) fn time_based_value(c: &TimeBasedConfig) -> serde_json::Value {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let clock = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    let windows: Vec<serde_json::Value> = c
        .schedule_windows
        .iter()
        .map(|w| {
            let days: Vec<&str> = w
                .days
                .iter()
                .filter_map(|d| NAMES.get(usize::from(*d).wrapping_sub(1)).copied())
                .collect();
            serde_json::json!({"days": days, "start": clock(w.start_minute), "end": clock(w.end_minute)})
        })
        .collect();
    serde_json::json!({"jitter": c.jitter, "scheduleWindows": windows})
}
