//! Health checks: TCP connect to the proxy, the proxy's own handshake and
//! authentication, and an HTTP GET through the proxy to the check URL (a
//! configured one, or [`DEFAULT_CHECK_URL`]), each stage with its own
//! timeout; only a completed request through the proxy is up, and a
//! failure names the stage it happened in. A body that is an IP
//! address is the proxy's exit IP. [`Hysteresis`] turns results into up/down
//! only after several in a row, and [`ClockWatch`] notices wall-clock jumps
//! (suspend/resume) so a burst of failures right after one is re-checked
//! instead of marking every proxy down.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use vip_engine::{FailureKind, Proxy, ProxyId};

use crate::error::DialError;
use crate::target::Target;
use crate::upstream::{self, Login, Mode, Timeouts, forward_head};

/// A MaxMind-format (GeoIP2/GeoLite2 Country or City, DB-IP, ...) database
/// for the exit IP's country.
pub struct GeoDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GeoDb")
    }
}

#[derive(serde::Deserialize)]
struct GeoRecord {
    country: Option<GeoCountry>,
    /// City databases only.
    location: Option<GeoLocation>,
}

#[derive(serde::Deserialize)]
struct GeoLocation {
    time_zone: Option<String>,
}

#[derive(serde::Deserialize)]
struct GeoCountry {
    iso_code: Option<String>,
}

impl GeoDb {
    /// Reads a database from bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoDb, crate::InputError> {
        maxminddb::Reader::from_source(bytes)
            .map(|reader| GeoDb { reader })
            .map_err(|e| crate::InputError::NotGeoDb(e.to_string()))
    }

    /// Reads a database file; errors name the file.
    pub fn open(path: &std::path::Path) -> Result<GeoDb, crate::InputError> {
        let in_file = |why: String| crate::InputError::File {
            path: path.to_path_buf(),
            why,
        };
        let bytes = std::fs::read(path).map_err(|e| in_file(e.to_string()))?;
        GeoDb::from_bytes(bytes).map_err(|e| in_file(e.to_string()))
    }

    /// The ISO country code of an address, when the database knows it.
    pub fn country(&self, ip: IpAddr) -> Option<String> {
        self.record(ip)?.country?.iso_code
    }

    /// The IANA timezone of an address, when the database is a City one
    /// and knows it.
    pub fn time_zone(&self, ip: IpAddr) -> Option<String> {
        self.record(ip)?.location?.time_zone
    }

    fn record(&self, ip: IpAddr) -> Option<GeoRecord> {
        let found = self.reader.lookup(ip).ok()?;
        found.decode().ok()?
    }
}

/// The check URL when none is configured: an endpoint that answers 204
/// and exists to tell whether a network path works.
pub const DEFAULT_CHECK_URL: &str = "http://connectivitycheck.gstatic.com/generate_204";

/// What to check and how long to wait.
#[derive(Clone, Debug)]
pub struct CheckSettings {
    /// `http://host[:port]/path` fetched through the proxy; `None`:
    /// [`DEFAULT_CHECK_URL`].
    pub url: Option<String>,
    /// Limit for each stage.
    pub timeout: Duration,
    /// Checks running at once.
    pub concurrency: usize,
    /// Trust for HTTPS upstream proxies.
    pub tls: crate::upstream::Tls,
    /// Geolocation of exit IPs, when configured.
    pub geo: Option<Arc<GeoDb>>,
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            url: None,
            timeout: Duration::from_secs(10),
            concurrency: 256,
            tls: crate::upstream::Tls::default(),
            geo: None,
        }
    }
}

/// The outcome of one check. Serialized as `vip proxy check --json` and
/// the API print it: durations in milliseconds, the proxy as `id`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CheckReport {
    /// The proxy.
    #[serde(rename = "id")]
    pub proxy: ProxyId,
    /// Whether every stage passed.
    pub ok: bool,
    /// TCP connect time.
    #[serde(rename = "connect_ms", serialize_with = "millis")]
    pub connect: Option<Duration>,
    /// Connect + handshake (+ request) time, the latency fed to the engine.
    #[serde(rename = "latency_ms", serialize_with = "millis")]
    pub latency: Option<Duration>,
    /// HTTP status of the check URL.
    pub http_status: Option<u16>,
    /// The exit IP, when the check URL answers with one.
    pub exit_ip: Option<IpAddr>,
    /// The exit IP's country, from the configured database.
    pub exit_country: Option<String>,
    /// The exit IP's timezone, from a City database.
    pub exit_timezone: Option<String>,
    /// Failure kind, when it failed.
    pub failure: Option<FailureKind>,
    /// The stage that failed: `connect`, `handshake`, `request` or
    /// `answer`.
    pub stage: Option<&'static str>,
    /// What failed, for people.
    pub error: Option<String>,
}

fn millis<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_some(&d.map(|d| d.as_secs_f64() * 1000.0))
}

fn failed(
    proxy: ProxyId,
    connect: Option<Duration>,
    stage: &'static str,
    e: &DialError,
) -> CheckReport {
    CheckReport {
        stage: Some(stage),
        proxy,
        ok: false,
        connect,
        latency: None,
        http_status: None,
        exit_ip: None,
        exit_country: None,
        exit_timezone: None,
        failure: Some(e.kind()),
        error: Some(e.to_string()),
    }
}

fn parse_url(url: &str) -> Result<(Target, String), crate::InputError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        crate::InputError::Target(format!("check URL {url:?} must start with http://"))
    })?;
    let split = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let target = Target::parse_authority(authority, Some(80))?;
    Ok((
        target,
        if path.is_empty() {
            "/".into()
        } else {
            path.to_string()
        },
    ))
}

/// Checks one proxy.
pub async fn check(proxy: &Proxy, login: Option<&Login>, settings: &CheckSettings) -> CheckReport {
    let id = proxy.id;
    let addr = if proxy.host.contains(':') {
        format!("[{}]:{}", proxy.host, proxy.port)
    } else {
        format!("{}:{}", proxy.host, proxy.port)
    };
    let started = Instant::now();
    let connect = match tokio::time::timeout(settings.timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => started.elapsed(),
        Ok(Err(source)) => {
            return failed(
                id,
                None,
                "connect",
                &DialError::Connect {
                    proxy: addr,
                    source,
                },
            );
        }
        Err(_) => {
            return failed(
                id,
                None,
                "connect",
                &DialError::Timeout {
                    proxy: addr,
                    stage: "connect",
                },
            );
        }
    };
    let url = settings.url.as_deref().unwrap_or(DEFAULT_CHECK_URL);
    let (target, path) = match parse_url(url) {
        Ok(x) => x,
        Err(e) => {
            return failed(
                id,
                Some(connect),
                "request",
                &DialError::Unusable {
                    proxy: addr,
                    detail: e.to_string(),
                },
            );
        }
    };
    let timeouts = Timeouts {
        connect: settings.timeout,
        handshake: settings.timeout,
    };
    let started = Instant::now();
    let mut dialed = match upstream::dial(
        proxy,
        login,
        &target,
        Mode::Forward,
        timeouts,
        &settings.tls,
    )
    .await
    {
        Ok(d) => d,
        Err(e) => return failed(id, Some(connect), "handshake", &e),
    };
    let head = forward_head(
        "GET",
        &target,
        &path,
        &[("User-Agent".into(), b"vip-health-check".to_vec())],
        dialed.forwarding,
        login,
        false,
    );
    let exchange = async {
        dialed.stream.write_all(&head).await?;
        let mut body = dialed.leftover.clone();
        let mut chunk = [0u8; 4096];
        while body.len() < 64 * 1024 {
            let n = dialed.stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(body)
    };
    let response = match tokio::time::timeout(settings.timeout, exchange).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return failed(id, Some(connect), "request", &upstream::io_fault(&addr, e));
        }
        Err(_) => {
            return failed(
                id,
                Some(connect),
                "request",
                &DialError::Timeout {
                    proxy: addr,
                    stage: "check request",
                },
            );
        }
    };
    let latency = started.elapsed();
    if response.is_empty() {
        return failed(
            id,
            Some(connect),
            "answer",
            &DialError::Reset { proxy: addr },
        );
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let (status, body_at) = match parsed.parse(&response) {
        Ok(httparse::Status::Complete(n)) => (parsed.code.unwrap_or(0), n),
        _ => {
            return failed(
                id,
                Some(connect),
                "answer",
                &DialError::Protocol {
                    proxy: addr,
                    detail: "the check URL's reply is not HTTP".into(),
                },
            );
        }
    };
    let exit_ip = std::str::from_utf8(&response[body_at..])
        .ok()
        .and_then(|b| b.trim().parse::<IpAddr>().ok());
    let ok = (200..300).contains(&status);
    CheckReport {
        proxy: id,
        ok,
        connect: Some(connect),
        latency: Some(latency),
        http_status: Some(status),
        exit_country: exit_ip.and_then(|ip| settings.geo.as_ref()?.country(ip)),
        exit_timezone: exit_ip.and_then(|ip| settings.geo.as_ref()?.time_zone(ip)),
        exit_ip,
        failure: (!ok).then_some(if status == 407 || (status == 401 && dialed.forwarding) {
            FailureKind::ProxyAuth
        } else {
            FailureKind::OriginUnreachable
        }),
        stage: (!ok).then_some("answer"),
        error: (!ok).then(|| format!("proxy {addr}: the check URL answered {status}")),
    }
}

/// Checks many proxies, at most `settings.concurrency` at once (and no
/// more than the open-file limit allows), calling `done` after each;
/// reports come back in input order.
pub async fn check_all(
    proxies: Vec<(Proxy, Option<Login>)>,
    settings: &CheckSettings,
    done: impl Fn(&CheckReport) + Send + Sync + 'static,
) -> Vec<CheckReport> {
    let (mut rx, _running) = check_each(proxies, settings);
    let mut out = Vec::new();
    while let Some((i, report)) = rx.recv().await {
        done(&report);
        out.push((i, report));
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Starts checking `proxies` (as [`check_all`]) and hands each report, with
/// its input index, to the receiver as it finishes. Dropping the returned
/// set stops the checks still running.
pub fn check_each(
    proxies: Vec<(Proxy, Option<Login>)>,
    settings: &CheckSettings,
) -> (
    tokio::sync::mpsc::UnboundedReceiver<(usize, CheckReport)>,
    tokio::task::JoinSet<()>,
) {
    let limit = Arc::new(Semaphore::new(settings.concurrency.clamp(1, fd_budget())));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut set = tokio::task::JoinSet::new();
    for (i, (proxy, login)) in proxies.into_iter().enumerate() {
        let (limit, settings, tx) = (limit.clone(), settings.clone(), tx.clone());
        set.spawn(async move {
            let Ok(_permit) = limit.acquire_owned().await else {
                return;
            };
            let report = check(&proxy, login.as_ref(), &settings).await;
            let _ = tx.send((i, report));
        });
    }
    (rx, set)
}

/// How many checks may run at once under the open-file limit (each holds
/// one socket, two for a moment): the soft limit is first raised to the
/// hard one, and a margin is kept for everything else.
pub fn fd_budget() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    let mut soft = lim.current;
    if let (Some(cur), Some(max)) = (lim.current, lim.maximum)
        && cur < max
        && setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(max),
                maximum: Some(max),
            },
        )
        .is_ok()
    {
        soft = Some(max);
    }
    let soft = soft.map_or(usize::MAX, |s| usize::try_from(s).unwrap_or(usize::MAX));
    (soft.saturating_sub(256) / 2).max(16)
}

/// Up or down, as stored in `proxies.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Passing.
    Up,
    /// Failing.
    Down,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Down => "down",
        }
    }
}

/// Changes a proxy's status only after `up_after` passes or `down_after`
/// failures in a row.
#[derive(Debug)]
pub struct Hysteresis {
    up_after: u32,
    down_after: u32,
    state: HashMap<ProxyId, (Option<Status>, i64)>,
}

impl Hysteresis {
    /// New, with the thresholds.
    pub fn new(up_after: u32, down_after: u32) -> Hysteresis {
        Hysteresis {
            up_after: up_after.max(1),
            down_after: down_after.max(1),
            state: HashMap::new(),
        }
    }

    /// Records a result; returns the new status when it changed.
    pub fn record(&mut self, proxy: ProxyId, ok: bool) -> Option<Status> {
        let (status, streak) = self.state.entry(proxy).or_insert((None, 0));
        *streak = match (ok, *streak) {
            (true, s) if s > 0 => s + 1,
            (true, _) => 1,
            (false, s) if s < 0 => s - 1,
            (false, _) => -1,
        };
        let next = if *streak >= i64::from(self.up_after) {
            Some(Status::Up)
        } else if -*streak >= i64::from(self.down_after) {
            Some(Status::Down)
        } else {
            None
        };
        match next {
            Some(n) if *status != Some(n) => {
                *status = Some(n);
                Some(n)
            }
            _ => None,
        }
    }

    /// Forgets failure streaks (after a clock jump), keeping statuses.
    pub fn forgive(&mut self) {
        for (_, streak) in self.state.values_mut() {
            *streak = (*streak).max(0);
        }
    }
}

/// Notices wall-clock jumps: the wall clock moving much further than the
/// monotonic clock between two looks means the machine slept or the clock
/// was set.
#[derive(Debug)]
pub struct ClockWatch {
    wall: SystemTime,
    mono: Instant,
    tolerance: Duration,
}

impl ClockWatch {
    /// Starts watching.
    pub fn new(tolerance: Duration) -> ClockWatch {
        ClockWatch {
            wall: SystemTime::now(),
            mono: Instant::now(),
            tolerance,
        }
    }

    /// Whether the clocks disagreed by more than the tolerance since the last look.
    pub fn jumped(&mut self) -> bool {
        let (wall, mono) = (SystemTime::now(), Instant::now());
        let wall_delta = wall.duration_since(self.wall).unwrap_or(Duration::ZERO);
        let mono_delta = mono.duration_since(self.mono);
        let backwards = wall < self.wall;
        self.wall = wall;
        self.mono = mono;
        backwards || wall_delta.saturating_sub(mono_delta) > self.tolerance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hysteresis_needs_streaks() {
        let mut h = Hysteresis::new(2, 3);
        let p = ProxyId(1);
        assert_eq!(h.record(p, true), None);
        assert_eq!(h.record(p, true), Some(Status::Up));
        assert_eq!(h.record(p, false), None);
        assert_eq!(h.record(p, false), None);
        h.forgive();
        assert_eq!(h.record(p, false), None);
        assert_eq!(h.record(p, false), None);
        assert_eq!(h.record(p, false), Some(Status::Down));
        assert_eq!(h.record(p, false), None);
        assert_eq!(h.record(p, true), None);
        assert_eq!(h.record(p, true), Some(Status::Up));
    }
}
