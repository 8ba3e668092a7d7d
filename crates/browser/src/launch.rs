//! Starting Chromium: finding the binary, writing the profile's preferences
//! (WebRTC IP handling, no prediction or safe-browsing pings) and a
//! fontconfig file that limits fonts to a base set, the command line, and
//! reading the DevTools address it prints.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{BrowserError, WebRtcPolicy};

/// Names tried on `PATH`, in order.
const CANDIDATES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// The font families pages may see (when installed); everything else the
/// machine has is hidden, so font lists cannot tell two machines apart.
pub const BASE_FONTS: &[&str] = &[
    "DejaVu Sans",
    "DejaVu Serif",
    "DejaVu Sans Mono",
    "Liberation Sans",
    "Liberation Serif",
    "Liberation Mono",
    "Noto Sans",
    "Noto Serif",
    "Noto Sans Mono",
    "Noto Color Emoji",
];

/// Finds Chromium: an explicit path, then `VIP_CHROMIUM`, then `PATH`.
pub fn find_chromium(explicit: Option<&Path>) -> Result<PathBuf, BrowserError> {
    let env = std::env::var_os("VIP_CHROMIUM").map(PathBuf::from);
    find_chromium_in(explicit, env, &std::env::var_os("PATH").unwrap_or_default())
}

/// [`find_chromium`] with the environment passed in.
pub fn find_chromium_in(
    explicit: Option<&Path>,
    env: Option<PathBuf>,
    path: &std::ffi::OsStr,
) -> Result<PathBuf, BrowserError> {
    let mut tried = Vec::new();
    for candidate in explicit.map(Path::to_path_buf).into_iter().chain(env) {
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    for name in CANDIDATES {
        for dir in std::env::split_paths(path) {
            let full = dir.join(name);
            if full.is_file() {
                return Ok(full);
            }
        }
        tried.push(name.to_string());
    }
    Err(BrowserError::NotFound {
        tried: tried.join(", "),
    })
}

/// Whether a display is available (otherwise Chromium runs headless).
pub fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// How to launch.
#[derive(Clone, Debug)]
pub struct LaunchOptions {
    /// The Chromium binary.
    pub executable: PathBuf,
    /// Headless (no display) or with a window.
    pub headless: bool,
    /// Where Chromium keeps its profile (a fresh directory per run).
    pub user_data_dir: PathBuf,
    /// The listener the default context uses; it should refuse everything.
    pub default_proxy: SocketAddr,
    /// The WebRTC preference of this browser (identities needing another
    /// one run in a browser of their own).
    pub webrtc: WebRtcPolicy,
    /// DevTools port on 127.0.0.1 (0: a free one, only for us).
    pub devtools_port: u16,
    /// More switches (diagnostics, e.g. `--log-net-log=FILE`).
    pub extra_args: Vec<String>,
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn write_profile(options: &LaunchOptions) -> Result<PathBuf, BrowserError> {
    let io = |e: std::io::Error| BrowserError::Cdp(format!("writing the Chromium profile: {e}"));
    let default = options.user_data_dir.join("Default");
    std::fs::create_dir_all(&default).map_err(io)?;
    let prefs = json!({
        "webrtc": {
            "ip_handling_policy": options.webrtc.preference(),
            "multiple_routes_enabled": false,
            "nonproxied_udp_enabled": false,
        },
        "net": { "network_prediction_options": 2 },
        "safebrowsing": { "enabled": false },
        "search": { "suggest_enabled": false },
        "alternate_error_pages": { "enabled": false },
        "browser": { "check_default_browser": false },
        "translate": { "enabled": false },
    });
    std::fs::write(default.join("Preferences"), prefs.to_string()).map_err(io)?;
    let accept: String = BASE_FONTS
        .iter()
        .map(|f| {
            format!(
                "<acceptfont><pattern><patelt name=\"family\"><string>{f}</string></patelt></pattern></acceptfont>"
            )
        })
        .collect();
    let fonts = options.user_data_dir.join("fonts.conf");
    std::fs::write(
        &fonts,
        format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n<fontconfig>\
             <include ignore_missing=\"yes\">/etc/fonts/fonts.conf</include>\
             <selectfont>{accept}</selectfont><selectfont><rejectfont><pattern></pattern></rejectfont></selectfont></fontconfig>\n"
        ),
    )
    .map_err(io)?;
    Ok(fonts)
}

/// util-linux's `setpriv`, on every Debian system.
const SETPRIV: &str = "/usr/bin/setpriv";

/// The command that starts `executable`. Through `setpriv --pdeathsig
/// KILL` where the system has it: Chromium then gets SIGKILL when the
/// thread that started it ends (a runtime thread of `vip`, which lives as
/// long as the process), so a `vip` killed with SIGKILL leaves no browser
/// behind; setting the parent-death signal ourselves would need unsafe
/// code between fork and exec. `setpriv` execs Chromium in place, so the
/// child's pid is Chromium's.
fn command(executable: &Path) -> Command {
    if has_pdeathsig() && executable.is_file() {
        let mut cmd = Command::new(SETPRIV);
        cmd.args(["--pdeathsig", "KILL", "--"]).arg(executable);
        cmd
    } else {
        Command::new(executable)
    }
}

/// Whether this system's `setpriv` knows `--pdeathsig` (util-linux 2.33 and
/// later); asked once.
fn has_pdeathsig() -> bool {
    static KNOWN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KNOWN.get_or_init(|| {
        cfg!(target_os = "linux")
            && std::process::Command::new(SETPRIV)
                .arg("--help")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--pdeathsig"))
    })
}

/// The user agent `executable` sends with a display: Chrome's reduced
/// Linux agent for its major version (`chromium --version`).
async fn desktop_user_agent(executable: &Path) -> Option<String> {
    let out = tokio::process::Command::new(executable)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    let major = major_version(&String::from_utf8_lossy(&out.stdout))?;
    Some(format!(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36"
    ))
}

/// The major version in `Chromium 156.0.8078.114 built on ...`.
fn major_version(text: &str) -> Option<u32> {
    text.split_whitespace().find_map(|word| {
        word.split('.')
            .next()?
            .parse()
            .ok()
            .filter(|_| word.contains('.'))
    })
}

/// Starts Chromium; returns the process and its DevTools WebSocket URL.
pub async fn spawn(options: &LaunchOptions) -> Result<(Child, String), BrowserError> {
    let fonts = write_profile(options)?;
    let mut cmd = command(&options.executable);
    cmd.env("FONTCONFIG_FILE", &fonts)
        .arg(format!(
            "--user-data-dir={}",
            options.user_data_dir.display()
        ))
        .arg(format!("--remote-debugging-port={}", options.devtools_port))
        .arg("--remote-debugging-address=127.0.0.1")
        .arg(format!("--proxy-server=http://{}", options.default_proxy))
        // Loopback goes through the proxy too (Chromium exempts it by default).
        .arg("--proxy-bypass-list=<-loopback>")
        .arg(format!(
            "--force-webrtc-ip-handling-policy={}",
            options.webrtc.preference()
        ))
        .args([
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-breakpad",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--disable-quic",
            "--metrics-recording-only",
            "--dns-prefetch-disable",
            "--disable-features=OptimizationHints,OptimizationGuideModelDownloading,\
             Translate,MediaRouter,NetworkPrediction,AutofillServerCommunication,\
             InterestFeedContentSuggestions,CertificateTransparencyComponentUpdater",
            // No page of Chromium's own: every window belongs to an identity.
            "--no-startup-window",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if options.headless {
        // No GPU without a display: WebGL through SwiftShader (a browser
        // without WebGL would stand out).
        cmd.args(["--headless=new", "--enable-unsafe-swiftshader"]);
        // Headless Chromium names itself HeadlessChrome, and shared and
        // service workers take the browser's own agent (no override
        // reaches them before their first line): the agent of the same
        // Chromium with a display, for the whole browser.
        if let Some(agent) = desktop_user_agent(&options.executable).await {
            cmd.arg(format!("--user-agent={agent}"));
        }
    }
    if is_root() {
        cmd.arg("--no-sandbox");
    }
    cmd.args(&options.extra_args);
    let mut child = cmd.spawn().map_err(|e| {
        BrowserError::Cdp(format!("starting {}: {e}", options.executable.display()))
    })?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| BrowserError::Cdp("Chromium's stderr is not readable".into()))?;
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                return Some(url.trim().to_string());
            }
            if seen.len() < 20 {
                seen.push(line);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| {
        BrowserError::Cdp(format!(
            "Chromium did not open its DevTools endpoint (port {}); it said: {}",
            options.devtools_port,
            seen.join(" | ")
        ))
    })?;
    // Keep draining stderr so Chromium never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_major_version_is_read_from_the_version_line() {
        let m = super::major_version;
        assert_eq!(
            m("Chromium 156.0.8078.114 built on Debian GNU/Linux 12 (bookworm)"),
            Some(156)
        );
        assert_eq!(m("Google Chrome 131.0.6778.85 "), Some(131));
        assert_eq!(m("no version here"), None);
    }
}
