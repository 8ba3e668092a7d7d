//! # vip-browser
//!
//! Chromium only renders: this crate finds it, launches it as a person's
//! browser (no automation switches, no traffic of its own), and opens tabs in
//! isolated browser contexts whose traffic goes to a gateway listener. The
//! default context is pointed at a listener that refuses everything, so
//! nothing Chromium does on its own leaves outside the gateway. QUIC is off
//! (it would bypass the proxy) and loopback is not exempt from the proxy.
//!
//! This is the foundation of the browser issue: identities with fingerprint
//! protection, WebRTC policy, URL-level blocking and sessions build on it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chromiumoxide::BrowserConfig;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams,
};
use chromiumoxide::{Browser as Cdp, Page};
use futures_util::StreamExt;
use thiserror::Error;
use tokio::task::JoinHandle;

/// Names tried on `PATH`, in order.
const CANDIDATES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// What can go wrong with the browser.
#[derive(Debug, Error)]
pub enum BrowserError {
    /// No Chromium was found.
    #[error(
        "no Chromium found ({tried}): install it (Debian: apt-get install chromium) or set VIP_CHROMIUM to its path"
    )]
    NotFound {
        /// Where we looked.
        tried: String,
    },
    /// Chromium could not be started or answered wrongly.
    #[error("Chromium failed: {0}")]
    Cdp(String),
}

impl From<chromiumoxide::error::CdpError> for BrowserError {
    fn from(e: chromiumoxide::error::CdpError) -> Self {
        BrowserError::Cdp(e.to_string())
    }
}

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
}

/// A running Chromium.
pub struct Browser {
    cdp: Cdp,
    events: JoinHandle<()>,
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Browser {
    /// Launches Chromium with the project's switches.
    pub async fn launch(options: &LaunchOptions) -> Result<Browser, BrowserError> {
        let mut config = BrowserConfig::builder()
            .chrome_executable(&options.executable)
            .user_data_dir(&options.user_data_dir)
            .disable_default_args();
        config = if options.headless {
            config.new_headless_mode()
        } else {
            config.with_head()
        };
        if is_root() {
            config = config.no_sandbox();
        }
        for arg in [
            "no-first-run",
            "no-default-browser-check",
            "disable-background-networking",
            "disable-component-update",
            "disable-sync",
            "disable-default-apps",
            "disable-breakpad",
            "disable-domain-reliability",
            "disable-client-side-phishing-detection",
            "disable-quic",
            "disable-gpu",
            "metrics-recording-only",
            "dns-prefetch-disable",
        ] {
            config = config.arg(arg);
        }
        // An argument without values is passed as `--{text}`, so `key=value` works.
        for arg in [
            format!("proxy-server=http://{}", options.default_proxy),
            "proxy-bypass-list=<-loopback>".to_string(),
            "disable-features=OptimizationHints,OptimizationGuideModelDownloading,Translate,MediaRouter,NetworkPrediction,AutofillServerCommunication".to_string(),
            "force-webrtc-ip-handling-policy=disable_non_proxied_udp".to_string(),
        ] {
            config = config.arg(arg);
        }
        let config = config.build().map_err(BrowserError::Cdp)?;
        let (cdp, mut handler) = Cdp::launch(config).await?;
        let events = tokio::spawn(async move {
            while let Some(Ok(())) = handler.next().await.map(|r| r.map(|_| ())) {}
        });
        Ok(Browser { cdp, events })
    }

    /// A new isolated context whose traffic goes to `proxy` (a gateway listener).
    pub async fn new_context(&self, proxy: SocketAddr) -> Result<BrowserContextId, BrowserError> {
        let params = CreateBrowserContextParams::builder()
            .dispose_on_detach(true)
            .proxy_server(format!("http://{proxy}"))
            .proxy_bypass_list("<-loopback>")
            .build();
        Ok(self.cdp.create_browser_context(params).await?)
    }

    /// Opens `url` in a new tab of `context` and waits for it to load.
    pub async fn open(&self, context: &BrowserContextId, url: &str) -> Result<Page, BrowserError> {
        let params = CreateTargetParams::builder()
            .url(url)
            .browser_context_id(context.clone())
            .build()
            .map_err(BrowserError::Cdp)?;
        let page = self.cdp.new_page(params).await?;
        page.wait_for_navigation().await?;
        Ok(page)
    }

    /// Closes Chromium.
    pub async fn close(mut self) -> Result<(), BrowserError> {
        self.cdp.close().await?;
        let _ = self.cdp.wait().await;
        self.events.abort();
        Ok(())
    }
}
