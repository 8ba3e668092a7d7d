//! The command line, as clap types. Every user-facing command and flag is
//! declared here so `vip --help` is the complete manual.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vip_daemon::settings::{KEYS, Kind};

const AFTER_HELP: &str = "\
Exit codes: 0 success; 1 failure at run time (I/O, database); 2 invalid input
(arguments, files, configs, unknown ids); 3 finished, but some entries were
invalid (import) or failed (proxy check); 4 vault locked (no or wrong master
password).

Master password (for credentials): the OS keychain entry made by
`vip vault init --keychain`, else VIP_MASTER_PASSWORD, else a prompt.";

/// Virtual IP Browser: a privacy browser with serious proxy management.
///
/// Run without a command to see the version, data directory and commands.
#[derive(Debug, Parser)]
#[command(name = "vip", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// Where vip keeps its database [default: the platform data directory,
    /// e.g. ~/.local/share/vip].
    #[arg(long, global = true, env = "VIP_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// What `vip serve` and `vip gateway` log: error, warn, info, debug or
    /// trace, or a RUST_LOG-style filter such as `info,vip_daemon=debug`
    /// [default: RUST_LOG, else info].
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,

    /// How log lines look: readable text, or one JSON object per line for
    /// log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The command to run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Time, level, message and fields.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output switch shared by read commands.
#[derive(Debug, Args, Clone, Copy)]
pub struct Output {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the rotation strategies and what each does.
    Strategies(Output),
    /// Manage the proxy pool.
    #[command(subcommand)]
    Proxy(ProxyCommand),
    /// Manage rotation configs and their rules.
    #[command(subcommand)]
    Rotation(RotationCommand),
    /// Usage statistics per proxy over recent hours: requests, success,
    /// latency, bytes, errors by kind, and what became of attempts through
    /// it (failover:KIND, replay_refused:KIND, retry_budget:KIND,
    /// budget_expired, hedge_won, hedge_lost, stale_idle).
    Stats {
        /// Only this proxy.
        #[arg(long)]
        proxy: Option<i64>,
        /// How many hours back, the current one included.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        #[command(flatten)]
        out: Output,
    },
    /// Recent rotation events (which proxy changed, when, why).
    Events {
        /// How many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        out: Output,
    },
    /// Database upkeep: schema status, migrations, backups, retention.
    #[command(subcommand)]
    Db(DbCommand),
    /// The credential vault.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Browser tabs of the running `vip serve`: each in an identity with its
    /// own proxy assignment, storage, fingerprint and WebRTC policy.
    #[command(subcommand)]
    Tab(TabCommand),
    /// Named identities of `vip serve`: each keeps its fingerprint seed,
    /// assignment, WebRTC policy, cookies and local data (sealed in the vault).
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Saved sets of tabs (URLs, identities, assignments) of `vip serve`.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Run the daemon: the gateway on --listen (HTTP and SOCKS5) using the
    /// active rotation config of the whole pool, with usage statistics and
    /// rotation events written to the database; Chromium for `vip tab`
    /// (unless --no-browser); the control API the CLI uses. Changes made
    /// with other `vip` commands apply before they return; changes made by
    /// other means within 250 ms. Breakers and sticky mappings are saved
    /// within 100 ms of changing. Ctrl-C or SIGTERM drains it within 10 s
    /// (named identities' cookies and local data are saved); exit code 1
    /// says something could not be saved, and the log says what. A second
    /// signal exits at once. Logs go to standard error (--log-level,
    /// --log-format json).
    Serve(ServeArgs),
    /// The control API `vip serve` runs on 127.0.0.1:8898 (--api-listen):
    /// REST and JSON under /api/v1, `Authorization: Bearer <token>` from the
    /// data directory's api-token file.
    #[command(subcommand)]
    Api(ApiCommand),
    /// The effective settings of `vip serve`: every key of the
    /// configuration file, its value and where it came from (default, file,
    /// environment).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run a foreground gateway over upstreams given on the command line (no
    /// database): an HTTP and SOCKS5 proxy on ADDR that sends every
    /// connection through the upstreams, rotated by STRATEGY, and blocks
    /// trackers as `vip serve` does. Ctrl-C stops it.
    Gateway {
        /// Address to listen on (loopback unless --client-auth is set).
        #[arg(long, default_value = "127.0.0.1:8899")]
        listen: std::net::SocketAddr,
        /// An upstream proxy (repeatable): host:port, user:pass@host:port,
        /// scheme://user:pass@host:port, ...
        #[arg(long = "upstream", required = true)]
        upstreams: Vec<String>,
        /// Rotation strategy.
        #[arg(long, default_value = "round-robin")]
        strategy: String,
        /// Require USER:PASS from clients (required for non-loopback addresses).
        #[arg(long, value_name = "USER:PASS")]
        client_auth: Option<String>,
        /// PEM file of extra CA certificates trusted for HTTPS upstream proxies.
        #[arg(long, value_name = "PEM")]
        proxy_ca: Option<PathBuf>,
        #[command(flatten)]
        attempts: AttemptArgs,
        #[command(flatten)]
        blocking: BlockingArgs,
    },
}

/// How `vip gateway` tries upstreams for one client request.
#[derive(Debug, Clone, clap::Args)]
pub struct AttemptArgs {
    /// Time budget of one client request, in milliseconds (100 to 600000):
    /// to an established tunnel, or to the first byte of the upstream's
    /// answer, over every attempt.
    #[arg(long, value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub request_budget: u64,
    /// Start a second attempt beside one not finished after this many
    /// milliseconds (1 to 600000) [default: the recent p95 of attempts, at
    /// least 150].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub hedge_delay: Option<u64>,
    /// Plain-HTTP request bodies up to this many KiB (1 to 65536) are held,
    /// so the request can go to another proxy when one fails; a larger
    /// body is sent once.
    #[arg(long, value_name = "KIB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub replay_buffer: u64,
    /// Idle plain-HTTP upstream connections kept per proxy for reuse (0 to
    /// 1024); 0 opens one upstream connection per request.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(0..=1024))]
    pub upstream_keepalive: u64,
    /// How long an idle plain-HTTP upstream connection is kept, in seconds
    /// (1 to 3600; less when the origin says so in Keep-Alive).
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub upstream_idle: u64,
}

/// Options of `vip serve`: `--config FILE` and one flag per setting of
/// `vip_daemon::settings::KEYS`, so every setting has a flag, a key in the
/// configuration file and an environment variable (`vip config show` lists
/// them), and a flag wins over both.
#[derive(Debug, Clone, Default)]
pub struct ServeArgs {
    /// The configuration file.
    pub config: Option<PathBuf>,
    /// The flags given, as (setting, value) pairs.
    pub flags: Vec<(&'static str, String)>,
}

const CONFIG_HELP: &str =
    "The configuration file [default: $XDG_CONFIG_HOME/vip/config.toml, when it exists]";

impl clap::Args for ServeArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let config = clap::Arg::new("config")
            .long("config")
            .value_name("FILE")
            .value_parser(clap::value_parser!(PathBuf))
            .help(CONFIG_HELP);
        KEYS.iter().fold(cmd.arg(config), |cmd, key| {
            let arg = clap::Arg::new(key.name).long(key.flag.trim_start_matches("--"));
            let usage = key.usage.trim_end_matches('.');
            let arg = match (key.kind, key.default) {
                (Kind::Bool, _) => arg.action(clap::ArgAction::SetTrue).help(usage),
                (Kind::List, _) => arg.action(clap::ArgAction::Append).help(usage),
                (_, Some(d)) => arg.help(format!("{usage} [default: {d}]")),
                (_, None) => arg.help(usage),
            };
            cmd.arg(if key.value.is_empty() {
                arg
            } else {
                arg.value_name(key.value)
            })
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for ServeArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Vec::new();
        for key in KEYS {
            let value = match key.kind {
                // A switch sets the opposite of what its name negates.
                Kind::Bool => m
                    .get_flag(key.name)
                    .then(|| (!key.flag.starts_with("--no-")).to_string()),
                _ => m
                    .get_many::<String>(key.name)
                    .map(|v| v.cloned().collect::<Vec<_>>().join(",")),
            };
            flags.extend(value.map(|v| (key.name, v)));
        }
        let config = m.get_one::<PathBuf>("config").cloned();
        Ok(ServeArgs { config, flags })
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// Where an identity's traffic goes (at most one; default: the active
/// rotation config), and its WebRTC policy.
#[derive(Debug, Args, Clone)]
#[group(multiple = false)]
pub struct AssignArgs {
    /// Always through this proxy.
    #[arg(long, value_name = "ID")]
    pub proxy: Option<i64>,
    /// Rotated within this proxy group.
    #[arg(long, value_name = "G")]
    pub group: Option<String>,
    /// Through proxies of this country (two letters); timezone and
    /// languages follow it.
    #[arg(long, value_name = "CC")]
    pub country: Option<String>,
    /// By this rotation config (name or id).
    #[arg(long, value_name = "CONFIG")]
    pub rotation: Option<String>,
    /// Without any proxy (your own address).
    #[arg(long)]
    pub direct: bool,
}

/// `vip identity ...`.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Make a named identity (default: through the active rotation config).
    Create {
        /// 1-64 letters, digits, '-', '_' or '.'.
        name: String,
        #[command(flatten)]
        assign: AssignArgs,
        /// WebRTC policy: disable, disable_non_proxied_udp (default),
        /// default_public_interface_only, default.
        #[arg(long, value_name = "POLICY")]
        webrtc: Option<String>,
        /// What its timezone and languages follow when it is pinned to a
        /// proxy: measured, configured or strict [default: vip serve's
        /// --geo-policy].
        #[arg(long, value_name = "POLICY")]
        geo: Option<String>,
    },
    /// The named identities.
    List(Output),
    /// Delete a named identity with no open tabs (its cookies and data go too).
    Rm {
        /// Its name.
        name: String,
    },
    /// Write a named identity (seed, assignment, WebRTC policy, cookies and
    /// local data as last saved) to FILE, sealed under the master
    /// password: it opens on another machine with that password.
    Export {
        /// Its name.
        name: String,
        /// The file to write (created readable only by you).
        file: PathBuf,
    },
    /// Add the identity in a file `vip identity export` wrote (opened with
    /// the master password, or VIP_FILE_PASSWORD when the exporting
    /// machine's differs). Nothing is stored when the file does not open.
    Import {
        /// The file ("-" for standard input).
        file: PathBuf,
        /// Store it under this name instead of its own.
        #[arg(long = "as", value_name = "NAME")]
        rename: Option<String>,
    },
    /// A named identity's cookies out as a file, or a file's cookies in
    /// (Netscape cookies.txt or the JSON cookie extensions export).
    #[command(subcommand)]
    Cookies(CookiesCommand),
}

/// `vip identity cookies ...`.
#[derive(Debug, Subcommand)]
pub enum CookiesCommand {
    /// Write the identity's cookies (its open browser's, else its saved ones).
    Export {
        /// The identity.
        name: String,
        /// netscape (cookies.txt) or json.
        #[arg(long, value_enum, default_value_t = CookieKind::Netscape)]
        format: CookieKind,
        /// Write here instead of standard output (created readable only by you).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Add the cookies of a file (format detected; each line or entry gets a
    /// verdict, expired cookies are left out). Exit code 3 when a line was
    /// not a cookie.
    Import {
        /// The identity.
        name: String,
        /// The file ("-" for standard input).
        file: PathBuf,
        #[command(flatten)]
        out: Output,
    },
}

/// Cookie file formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CookieKind {
    /// Netscape cookies.txt.
    Netscape,
    /// A JSON array, as cookie extensions write it.
    Json,
}

/// `vip tab ...`.
#[derive(Debug, Subcommand)]
pub enum TabCommand {
    /// Open URL in a tab. Without --identity the tab gets a fresh identity
    /// (gone with its last tab). A named identity (see `vip identity`) keeps
    /// its fingerprint, assignment, cookies and local data across restarts;
    /// an unknown name is created when an assignment is given.
    Open {
        /// http:// or https:// address.
        url: String,
        /// A named identity.
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
        #[command(flatten)]
        assign: AssignArgs,
        /// WebRTC policy of a new identity: disable, disable_non_proxied_udp
        /// (default), default_public_interface_only, default.
        #[arg(long, value_name = "POLICY")]
        webrtc: Option<String>,
        /// Geo policy of a new identity: measured, configured or strict
        /// [default: vip serve's --geo-policy].
        #[arg(long, value_name = "POLICY")]
        geo: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// The open tabs.
    List(Output),
    /// Close a tab (an unnamed identity's last tab takes its storage with it).
    Close {
        /// Tab id from `vip tab list`.
        id: i64,
    },
}

/// `vip session ...`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Save the open tabs as NAME (replacing a session of that name).
    Save {
        /// Session name.
        name: String,
    },
    /// Open a saved session's tabs in their identities and assignments.
    Load {
        /// Session name.
        name: String,
        #[command(flatten)]
        out: Output,
    },
    /// The saved sessions.
    List(Output),
}

/// Tracker blocking options.
#[derive(Debug, Args, Clone, Default)]
pub struct BlockingArgs {
    /// Filter list in Adblock Plus syntax (repeatable) [default: EasyList and
    /// EasyPrivacy from Debian's webext-ublock-origin-chromium, when installed].
    #[arg(long = "filter-list", value_name = "PATH")]
    pub filter_lists: Vec<PathBuf>,
    /// Never block this domain or its subdomains (repeatable).
    #[arg(long = "allow-domain", value_name = "DOMAIN")]
    pub allow_domains: Vec<String>,
    /// Turn tracker blocking off.
    #[arg(long, conflicts_with = "filter_lists")]
    pub no_blocking: bool,
}

/// `vip proxy ...`
#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// Add one proxy: host:port, host:port:user:pass, user:pass@host:port or
    /// scheme://user:pass@host:port (scheme http, https, socks4, socks4a, socks5).
    Add {
        /// The proxy.
        proxy: String,
        #[command(flatten)]
        attrs: ProxyAttrs,
        #[command(flatten)]
        out: Output,
    },
    /// Import a list (format detected: one proxy per line in any `add`
    /// format, CSV with a header, FoxyProxy JSON, Clash YAML). Every entry
    /// gets a verdict; bad entries never stop the rest.
    Import {
        /// The file ("-" for standard input).
        file: PathBuf,
        #[command(flatten)]
        attrs: ProxyAttrs,
        #[command(flatten)]
        out: Output,
    },
    /// Export the pool.
    Export {
        /// urls, csv or pac.
        #[arg(long, value_enum, default_value_t = ExportKind::Urls)]
        format: ExportKind,
        /// Include usernames and passwords (urls and csv only).
        #[arg(long)]
        with_credentials: bool,
        /// Only this group.
        #[arg(long)]
        group: Option<String>,
        /// Write here instead of standard output (created readable only by you).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// List proxies.
    List {
        /// Only this group.
        #[arg(long)]
        group: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Change a proxy's country, region, city, group, weight, tags, or
    /// enable/disable it ("" clears a text field).
    Set(SetArgs),
    /// Check proxies now: TCP connect, the proxy's handshake and
    /// authentication, and an HTTP GET through each (--url, or a built-in
    /// generate_204 URL); only a completed request is up, a failure names
    /// its stage. Results are stored as they finish (Ctrl-C keeps them).
    /// Exit code 3 when any check failed.
    Check(CheckArgs),
    /// Remove proxies (with their credentials and statistics).
    Rm {
        /// Proxy ids.
        #[arg(required = true)]
        ids: Vec<i64>,
    },
    /// Set a proxy's weight (0–100; 0 is never picked by weighted rotation).
    Weight {
        /// Proxy id.
        id: i64,
        /// New weight.
        weight: u8,
    },
    /// Scale a group's weights to sum to 100.
    NormalizeWeights {
        /// The group (default: the whole pool).
        #[arg(long)]
        group: Option<String>,
        #[command(flatten)]
        out: Output,
    },
}

/// Where a proxy exits and which group it rotates in ("" clears a field
/// in `vip proxy set`).
#[derive(Debug, Args, Clone, Default)]
pub struct Place {
    /// Exit country (ISO 3166-1 alpha-2).
    #[arg(long)]
    pub country: Option<String>,
    /// Exit region.
    #[arg(long)]
    pub region: Option<String>,
    /// Exit city.
    #[arg(long)]
    pub city: Option<String>,
    /// Rotation group.
    #[arg(long)]
    pub group: Option<String>,
}

/// Attributes for added or imported proxies.
#[derive(Debug, Args, Clone, Default)]
pub struct ProxyAttrs {
    #[command(flatten)]
    pub place: Place,
    /// Weight 0–100 (default 50).
    #[arg(long)]
    pub weight: Option<u8>,
    /// Tag (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Add it disabled.
    #[arg(long)]
    pub disabled: bool,
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportKind {
    /// scheme://[user:pass@]host:port per line.
    Urls,
    /// CSV with a header.
    Csv,
    /// Proxy auto-config script.
    Pac,
}

/// `vip rotation ...`
#[derive(Debug, Subcommand)]
pub enum RotationCommand {
    /// List rotation configs.
    List(Output),
    /// Create a config from a JSON file (see `vip rotation validate`), or
    /// from --name and --strategy with default settings.
    Create {
        /// The JSON file ("-" for standard input).
        #[arg(required_unless_present_all = ["name", "strategy"], conflicts_with_all = ["name", "strategy", "group"])]
        file: Option<PathBuf>,
        /// Name of a config made from flags.
        #[arg(long, requires = "strategy")]
        name: Option<String>,
        /// Strategy of a config made from flags (see `vip strategies`).
        #[arg(long, requires = "name")]
        strategy: Option<String>,
        /// Target group of a config made from flags (default: the whole pool).
        #[arg(long)]
        group: Option<String>,
        /// Make it the active config of its group.
        #[arg(long)]
        activate: bool,
        #[command(flatten)]
        out: Output,
    },
    /// Show a config with its rules.
    Show {
        /// Name or id.
        config: String,
        #[command(flatten)]
        out: Output,
    },
    /// Make a config the active one of its target group.
    Activate {
        /// Name or id.
        config: String,
    },
    /// Check a rotation config JSON file without storing it; errors name the
    /// JSON path (or rule and field) and how to fix it.
    Validate {
        /// The JSON file ("-" for standard input).
        file: PathBuf,
        #[command(flatten)]
        out: Output,
    },
    /// Custom rules of a config.
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Where a request to TARGET would go now, and why: the rotation
    /// config, strategy, rule and sticky mapping that decide, the first
    /// choice and the fallbacks (asks the running `vip serve`; nothing is
    /// learned or counted by asking).
    Explain {
        /// A URL (https://shop.example/cart) or host[:port].
        target: String,
        /// For this open tab (its identity's assignment and stickiness).
        #[arg(long, value_name = "ID", conflicts_with_all = ["proxy", "group", "country", "rotation", "direct"])]
        tab: Option<i64>,
        #[command(flatten)]
        assign: AssignArgs,
        #[command(flatten)]
        out: Output,
    },
}

/// `vip rotation rule ...`
#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Add a rule from a JSON file, e.g. {"name":"DE","priority":10,
    /// "conditions":[{"field":"domain","operator":"ends_with","value":".de"}],
    /// "actions":[{"type":"use_country","value":"DE"}]}.
    Add {
        /// Config name or id.
        config: String,
        /// The rule JSON file ("-" for standard input).
        file: PathBuf,
        #[command(flatten)]
        out: Output,
    },
    /// List a config's rules in evaluation order.
    List {
        /// Config name or id.
        config: String,
        #[command(flatten)]
        out: Output,
    },
}

/// `vip config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every setting, its value and its source (secrets as ***).
    Show {
        /// The configuration file [default: $XDG_CONFIG_HOME/vip/config.toml,
        /// when it exists].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        out: Output,
    },
}

/// `vip api ...`
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Print the API's OpenAPI 3.1 document (the committed openapi.json).
    Spec,
}

/// `vip db ...`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Schema version, applied and pending migrations.
    Status(Output),
    /// Apply pending migrations (or move to a version with --to).
    Migrate {
        /// Target version (down uses rollback files).
        #[arg(long)]
        to: Option<u32>,
    },
    /// Copy the database to PATH with SQLite's online backup.
    Backup {
        /// Destination file.
        path: PathBuf,
    },
    /// Delete old statistics, events and expired sticky mappings.
    Maintenance {
        /// Keep hourly statistics this many days.
        #[arg(long, default_value_t = 30)]
        stats_days: u32,
        /// Keep rotation events and activity this many days.
        #[arg(long, default_value_t = 30)]
        events_days: u32,
        /// Also VACUUM the file.
        #[arg(long)]
        vacuum: bool,
        #[command(flatten)]
        out: Output,
    },
}

/// `vip vault ...`
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create the vault under a master password.
    Init {
        /// Also store the master password in the OS keychain.
        #[arg(long)]
        keychain: bool,
    },
    /// Whether a vault exists, its keys and KDF settings.
    Status(Output),
    /// New data key; re-encrypt every credential in one transaction.
    RotateKey(Output),
    /// Change the master password (new one from VIP_NEW_MASTER_PASSWORD or a prompt).
    ChangePassword,
}

/// `vip proxy check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Proxy ids (or --all).
    pub ids: Vec<i64>,
    /// Check every proxy.
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
    /// http:// URL fetched through each proxy (after its own handshake and
    /// authentication); an IP-address body is recorded as the exit IP
    /// [default: http://connectivitycheck.gstatic.com/generate_204].
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds allowed for each stage (connect, handshake, request).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
    /// Checks at once (also held under the open-file limit).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub concurrency: u64,
    /// MaxMind-format database (GeoLite2/GeoIP2 Country or City) for the exit IP's country.
    #[arg(long, value_name = "MMDB")]
    pub geoip: Option<PathBuf>,
    #[command(flatten)]
    pub out: Output,
}

/// `vip proxy set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// Proxy id.
    pub id: i64,
    #[command(flatten)]
    pub place: Place,
    /// Weight 0–100.
    #[arg(long)]
    pub weight: Option<u8>,
    /// Replace the tags (repeatable).
    #[arg(long = "tag")]
    pub tags: Option<Vec<String>>,
    /// Enable it.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Disable it (kept, never selected).
    #[arg(long)]
    pub disable: bool,
    #[command(flatten)]
    pub out: Output,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    #[test]
    fn serve_flags_become_settings() {
        let cli = Cli::try_parse_from([
            "vip",
            "serve",
            "--no-browser",
            "--headless",
            "--filter-list",
            "a",
            "--filter-list",
            "b",
            "--grace",
            "5",
            "--config",
            "c.toml",
        ])
        .unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.config.as_deref(), Some(std::path::Path::new("c.toml")));
        let flags: Vec<(&str, &str)> = args.flags.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            flags,
            [
                ("blocking.filter_lists", "a,b"),
                ("browser.enabled", "false"),
                ("browser.headless", "true"),
                ("shutdown.grace", "5"),
            ]
        );
    }
}
