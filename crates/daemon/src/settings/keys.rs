//! Every setting `vip serve` reads, as one table: its key (`section.name`
//! in the file, `VIP_SECTION_NAME` in the environment), what values it
//! takes, its default and the flag that sets it. Parsing a value is one
//! function for all three sources, so a bad value gets the same message
//! wherever it came from.

use std::net::SocketAddr;
use std::path::PathBuf;

use vip_store::vault::Secret;

/// What a setting holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `host:port`, an IP address and a port.
    Addr,
    /// Free text.
    Text,
    /// Text that is never shown (`USER:PASS`).
    Secret,
    /// A file path.
    Path,
    /// true or false.
    Bool,
    /// A whole number in a range, with a unit for messages.
    Number {
        /// Smallest accepted.
        min: u64,
        /// Largest accepted.
        max: u64,
        /// "seconds", "milliseconds", ...
        unit: &'static str,
    },
    /// A list of texts (an array in the file, comma-separated elsewhere).
    List,
}

/// One setting.
#[derive(Debug)]
pub struct Key {
    /// `section.name`.
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// The default, as the file would write it (`None`: unset).
    pub default: Option<&'static str>,
    /// The `vip serve` flag that sets it.
    pub flag: &'static str,
    /// What it does, in a few words (`vip config show`).
    pub help: &'static str,
    /// What the flag's value is, in `vip serve --help` (empty: a switch).
    pub value: &'static str,
    /// The flag's help: what it does, in full (the default is added).
    pub usage: &'static str,
}

const fn number(min: u64, max: u64, unit: &'static str) -> Kind {
    Kind::Number { min, max, unit }
}

/// Every setting, in the order `vip config show` prints them.
pub const KEYS: &[Key] = &[
    Key {
        name: "gateway.listen",
        kind: Kind::Addr,
        default: Some("127.0.0.1:8899"),
        flag: "--listen",
        help: "the shared listener (HTTP and SOCKS5)",
        value: "ADDR",
        usage: "Shared listener address (HTTP and SOCKS5).",
    },
    Key {
        name: "gateway.client_auth",
        kind: Kind::Secret,
        default: None,
        flag: "--client-auth",
        help: "USER:PASS clients must give (required off loopback)",
        value: "USER:PASS",
        usage: "Require USER:PASS from clients (required for non-loopback addresses).",
    },
    Key {
        name: "gateway.proxy_ca",
        kind: Kind::Path,
        default: None,
        flag: "--proxy-ca",
        help: "PEM file of extra CAs for HTTPS upstream proxies",
        value: "PEM",
        usage: "PEM file of extra CA certificates trusted for HTTPS upstream proxies.",
    },
    Key {
        name: "gateway.connect_timeout",
        kind: number(1, 120, "seconds"),
        default: Some("5"),
        flag: "--connect-timeout",
        help: "TCP connect to an upstream proxy",
        value: "SECONDS",
        usage: "How long a TCP connect to an upstream proxy may take, 1 to 120 seconds.",
    },
    Key {
        name: "gateway.handshake_timeout",
        kind: number(1, 120, "seconds"),
        default: Some("10"),
        flag: "--handshake-timeout",
        help: "an upstream proxy's handshake",
        value: "SECONDS",
        usage: "How long an upstream proxy's handshake (CONNECT, SOCKS, TLS) may take, 1 to 120 seconds.",
    },
    Key {
        name: "gateway.request_budget_ms",
        kind: number(100, 600_000, "milliseconds"),
        default: Some("5000"),
        flag: "--request-budget",
        help: "one request's time budget over all attempts",
        value: "MS",
        usage: "Time budget of one client request, 100 to 600000 milliseconds: to an established tunnel, or to the first byte of the upstream's answer, over every attempt.",
    },
    Key {
        name: "gateway.hedge_delay_ms",
        kind: number(1, 600_000, "milliseconds"),
        default: None,
        flag: "--hedge-delay",
        help: "start a second attempt beside a slow one after",
        value: "MS",
        usage: "Start a second attempt beside one not finished after this many milliseconds, 1 to 600000 [default: the recent p95 of attempts, at least 150].",
    },
    Key {
        name: "gateway.replay_buffer_kib",
        kind: number(1, 65_536, "KiB"),
        default: Some("64"),
        flag: "--replay-buffer",
        help: "plain-HTTP bodies held for another proxy",
        value: "KIB",
        usage: "Plain-HTTP request bodies up to this many KiB (1 to 65536) are held so the request can go to another proxy when one fails; a larger body is sent once.",
    },
    Key {
        name: "gateway.upstream_keepalive",
        kind: number(0, 1024, "connections"),
        default: Some("8"),
        flag: "--upstream-keepalive",
        help: "idle plain-HTTP upstream connections kept per proxy",
        value: "N",
        usage: "Idle plain-HTTP upstream connections kept per proxy for reuse, 0 to 1024; 0 opens one upstream connection per request.",
    },
    Key {
        name: "gateway.upstream_idle",
        kind: number(1, 3600, "seconds"),
        default: Some("30"),
        flag: "--upstream-idle",
        help: "how long an idle upstream connection is kept",
        value: "SECONDS",
        usage: "How long an idle plain-HTTP upstream connection is kept for reuse, 1 to 3600 seconds (less when the origin says so in Keep-Alive).",
    },
    Key {
        name: "gateway.client_timeout",
        kind: number(1, 300, "seconds"),
        default: Some("15"),
        flag: "--client-timeout",
        help: "a client's request head or greeting",
        value: "SECONDS",
        usage: "How long a client may take to send its request head or SOCKS greeting, 1 to 300 seconds.",
    },
    Key {
        name: "gateway.idle_timeout",
        kind: number(1, 86_400, "seconds"),
        default: Some("600"),
        flag: "--idle-timeout",
        help: "a connection with no traffic is closed",
        value: "SECONDS",
        usage: "A tunnel with no traffic either way for this long is closed, 1 to 86400 seconds.",
    },
    Key {
        name: "gateway.max_head_kib",
        kind: number(1, 1_024, "KiB"),
        default: Some("32"),
        flag: "--max-head-kib",
        help: "largest request head accepted",
        value: "KIB",
        usage: "Largest request head a client may send, 1 to 1024 KiB.",
    },
    Key {
        name: "blocking.enabled",
        kind: Kind::Bool,
        default: Some("true"),
        flag: "--no-blocking",
        help: "tracker blocking",
        value: "",
        usage: "Turn tracker blocking off.",
    },
    Key {
        name: "blocking.filter_lists",
        kind: Kind::List,
        default: Some(""),
        flag: "--filter-list",
        help: "filter lists (empty: Debian's EasyList and EasyPrivacy)",
        value: "PATH",
        usage: "Filter list in Adblock Plus syntax (repeatable) [default: EasyList and EasyPrivacy from Debian's webext-ublock-origin-chromium, when installed].",
    },
    Key {
        name: "blocking.allow_domains",
        kind: Kind::List,
        default: Some(""),
        flag: "--allow-domain",
        help: "domains never blocked",
        value: "DOMAIN",
        usage: "Never block this domain or its subdomains (repeatable).",
    },
    Key {
        name: "health.interval",
        kind: number(0, 86_400, "seconds"),
        default: Some("60"),
        flag: "--check-interval",
        help: "seconds between health-check rounds (0: off)",
        value: "SECONDS",
        usage: "Seconds between health-check rounds, 0 to 86400 (0 turns them off).",
    },
    Key {
        name: "health.check_url",
        kind: Kind::Text,
        default: None,
        flag: "--check-url",
        help: "http:// URL fetched through each proxy",
        value: "URL",
        usage: "http:// URL the periodic health checks fetch through each proxy (without it they only test that the proxy accepts connections).",
    },
    Key {
        name: "health.geoip",
        kind: Kind::Path,
        default: None,
        flag: "--geoip",
        help: "MaxMind-format database for exit countries",
        value: "MMDB",
        usage: "MaxMind-format database for the exit IP's country in health checks.",
    },
    Key {
        name: "health.timeout",
        kind: number(1, 300, "seconds"),
        default: Some("10"),
        flag: "--check-timeout",
        help: "limit for each stage of a check",
        value: "SECONDS",
        usage: "Limit for each stage of a health check, 1 to 300 seconds.",
    },
    Key {
        name: "health.concurrency",
        kind: number(1, 10_000, "checks"),
        default: Some("256"),
        flag: "--check-concurrency",
        help: "checks at once",
        value: "N",
        usage: "Health checks at once, 1 to 10000.",
    },
    Key {
        name: "browser.enabled",
        kind: Kind::Bool,
        default: Some("true"),
        flag: "--no-browser",
        help: "run Chromium for vip tab",
        value: "",
        usage: "Start no browser: gateway and API only (`vip tab` is refused).",
    },
    Key {
        name: "browser.chromium",
        kind: Kind::Path,
        default: None,
        flag: "--chromium",
        help: "the Chromium binary (else VIP_CHROMIUM, then PATH)",
        value: "PATH",
        usage: "The Chromium binary [default: VIP_CHROMIUM, else chromium, chromium-browser or google-chrome on PATH].",
    },
    Key {
        name: "browser.headless",
        kind: Kind::Bool,
        default: Some("false"),
        flag: "--headless",
        help: "headless even with a display",
        value: "",
        usage: "Run Chromium headless even when a display is available.",
    },
    Key {
        name: "browser.devtools_port",
        kind: number(1, 65_535, "port"),
        default: None,
        flag: "--devtools-port",
        help: "DevTools on 127.0.0.1:PORT for your tools",
        value: "PORT",
        usage: "Expose Chromium's DevTools endpoint on 127.0.0.1:PORT for your own tools (Playwright connectOverCDP, Puppeteer); off by default. Tabs they drive keep their identities' protections; open new tabs with `vip tab open` (pages opened outside an identity are refused).",
    },
    Key {
        name: "browser.geo_policy",
        kind: Kind::Text,
        default: Some("measured"),
        flag: "--geo-policy",
        help: "what a pinned identity's timezone follows",
        value: "POLICY",
        usage: "What the timezone and languages of an identity pinned to one proxy follow: measured (the exit measured through the proxy, else its configured country), configured (its configured country) or strict (refuse the tab when the two differ or the exit cannot be measured).",
    },
    Key {
        name: "browser.exit_max_age",
        kind: number(0, 604_800, "seconds"),
        default: Some("3600"),
        flag: "--exit-max-age",
        help: "oldest health check whose exit is reused",
        value: "SECONDS",
        usage: "The oldest health check whose exit country is reused before an identity's first page; older ones are measured again, 0 to 604800 seconds.",
    },
    Key {
        name: "api.listen",
        kind: Kind::Addr,
        default: Some("127.0.0.1:8898"),
        flag: "--api-listen",
        help: "the control API (loopback only)",
        value: "ADDR",
        usage: "Address of the control API `vip tab` and `vip session` use (its token is written to the data directory, readable only by you).",
    },
    Key {
        name: "api.rate_limits",
        kind: Kind::List,
        default: Some(""),
        flag: "--api-rate-limit",
        help: "requests per minute of a route class",
        value: "CLASS=N",
        usage: "Requests per minute per caller for a class of control API routes, as CLASS=N (repeatable): proxies-create, proxies-import, proxies-delete, proxies-check, rotation-activate, proxies-list, tabs-change, tabs-read, fingerprint, webrtc, tracker-blocking, privacy-stats, sessions-save-load, auth-launch, other, and auth-failures (failed authentications after which they get 429 for a minute).",
    },
    Key {
        name: "upkeep.poll_ms",
        kind: number(10, 60_000, "milliseconds"),
        default: Some("250"),
        flag: "--poll-ms",
        help: "how often changes made by other means are looked for",
        value: "MS",
        usage: "How often changes made by other means than `vip` commands are looked for, 10 to 60000 ms.",
    },
    Key {
        name: "upkeep.save_ms",
        kind: number(10, 60_000, "milliseconds"),
        default: Some("100"),
        flag: "--save-ms",
        help: "how long a breaker or sticky change may wait to be saved",
        value: "MS",
        usage: "How long a breaker or sticky-mapping change may wait before it is saved, 10 to 60000 ms.",
    },
    Key {
        name: "retention.stats_days",
        kind: number(1, 3_650, "days"),
        default: Some("30"),
        flag: "--keep-stats-days",
        help: "hourly usage statistics kept",
        value: "DAYS",
        usage: "How many days of hourly usage statistics are kept (pruned daily), 1 to 3650.",
    },
    Key {
        name: "retention.events_days",
        kind: number(1, 3_650, "days"),
        default: Some("30"),
        flag: "--keep-events-days",
        help: "rotation events and activity kept",
        value: "DAYS",
        usage: "How many days of rotation events and activity are kept (pruned daily), 1 to 3650.",
    },
    Key {
        name: "shutdown.grace",
        kind: number(1, 600, "seconds"),
        default: Some("10"),
        flag: "--grace",
        help: "how long draining may take",
        value: "SECONDS",
        usage: "How long draining may take after Ctrl-C or SIGTERM, 1 to 600 seconds.",
    },
];

/// The setting called `name`.
pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The sections, for telling a typo in a known section from someone
/// else's variable.
pub fn sections() -> impl Iterator<Item = &'static str> {
    let mut seen: Vec<&'static str> = Vec::new();
    KEYS.iter().filter_map(move |k| {
        let section = k.name.split('.').next().unwrap_or(k.name);
        (!seen.contains(&section)).then(|| {
            seen.push(section);
            section
        })
    })
}

/// The environment variable of a setting: `VIP_HEALTH_INTERVAL`.
pub fn env_name(name: &str) -> String {
    format!("VIP_{}", name.replace('.', "_").to_ascii_uppercase())
}

/// A parsed value.
#[derive(Clone, Debug)]
pub enum Value {
    /// `Kind::Addr`.
    Addr(SocketAddr),
    /// `Kind::Text`.
    Text(String),
    /// `Kind::Secret`.
    Secret(Secret),
    /// `Kind::Path`.
    Path(PathBuf),
    /// `Kind::Bool`.
    Bool(bool),
    /// `Kind::Number`.
    Number(u64),
    /// `Kind::List`.
    List(Vec<String>),
}

impl Value {
    /// How `vip config show` prints it (secrets as `***`).
    pub fn shown(&self) -> String {
        match self {
            Value::Addr(a) => a.to_string(),
            Value::Text(t) => t.clone(),
            Value::Secret(_) => "***".into(),
            Value::Path(p) => p.display().to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::List(l) => l.join(","),
        }
    }
}

/// What a kind accepts, for messages.
pub fn accepted(kind: Kind) -> String {
    match kind {
        Kind::Addr => "an IP address and port such as 127.0.0.1:8899".into(),
        Kind::Text => "text".into(),
        Kind::Secret => "USER:PASS".into(),
        Kind::Path => "a file path".into(),
        Kind::Bool => "true or false".into(),
        Kind::Number { min, max, unit } => format!("a whole number of {unit} from {min} to {max}"),
        Kind::List => "a list of texts".into(),
    }
}

/// A value a kind does not take; says what it does take.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("use {0}")]
pub(crate) struct Rejected(pub String);

/// Parses `text` as `kind`; the error says what is accepted.
pub(crate) fn parse(kind: Kind, text: &str) -> Result<Value, Rejected> {
    let bad = || Rejected(accepted(kind));
    Ok(match kind {
        Kind::Addr => Value::Addr(text.trim().parse().map_err(|_| bad())?),
        Kind::Text => Value::Text(text.to_string()),
        Kind::Secret => {
            if !text.contains(':') {
                return Err(bad());
            }
            Value::Secret(Secret::new(text))
        }
        Kind::Path if text.trim().is_empty() => return Err(bad()),
        Kind::Path => Value::Path(PathBuf::from(text)),
        Kind::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::Bool(true),
            "false" | "0" | "no" | "off" => Value::Bool(false),
            _ => return Err(bad()),
        },
        Kind::Number { min, max, .. } => {
            let n: u64 = text.trim().parse().map_err(|_| bad())?;
            if n < min || n > max {
                return Err(bad());
            }
            Value::Number(n)
        }
        Kind::List => Value::List(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        ),
    })
}
