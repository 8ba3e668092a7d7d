//! The browser side of the daemon: identities, tabs and sessions behind
//! the control API. Each identity is a browser context with its own
//! gateway listener (its assignment) and fingerprint; named identities are
//! kept in the store (seed and storage sealed by the vault) and come back
//! with their cookies and local data; unnamed ones vanish with their last
//! tab. Chromium is launched lazily and again after a crash; identities
//! whose WebRTC policy needs another preference run in a browser of their
//! own.

mod assign;
mod cookies;
mod exit;
mod explain;
mod history;

mod identity;
mod porting;
mod proxies;
mod rotations;
mod session;
mod tabs;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::credentials::VaultCredentials;
pub use exit::{ExitGeo, GeoPolicy};
use vip_api::{ApiError, AssignmentSpec, Identity, NewIdentity, OpenTab, SessionInfo, Status, Tab};
use vip_browser::{Browser, ContextId, LaunchOptions, TabId, WebRtcPolicy};
use vip_gateway::{Gateway, ListenerHandle};
use vip_store::Store;

use crate::error::DaemonError;

/// How long opening a tab waits for its page.
const LOAD_WAIT: Duration = Duration::from_secs(30);

/// Browser settings of `vip serve`.
#[derive(Clone, Debug)]
pub struct BrowseOptions {
    /// Start no browser (`--no-browser`).
    pub disabled: bool,
    /// Chromium binary (else `VIP_CHROMIUM`, then `PATH`).
    pub chromium: Option<PathBuf>,
    /// Force headless (otherwise headless only without a display).
    pub headless: bool,
    /// Expose DevTools on 127.0.0.1:PORT.
    pub devtools_port: Option<u16>,
    /// URL-level tracker blocking in pages.
    pub blocklist: Option<Arc<vip_privacy::Blocklist>>,
    /// How a pinned identity's exit country is learned and used.
    pub exit: ExitGeo,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Named(String),
    Anonymous(String),
}

struct Live {
    browser: Arc<Browser>,
    context: ContextId,
    listener: ListenerHandle,
    spec: AssignmentSpec,
    webrtc: WebRtcPolicy,
    country: Option<String>,
    timezone: String,
    proxy: Option<i64>,
    /// The tab id its listener reports to the engine.
    engine_tab: vip_engine::TabId,
    /// The store row of a named identity.
    record: Option<i64>,
    /// Origins its tabs visited (their storage is kept for named ones).
    origins: BTreeSet<String>,
    /// What was restored (kept for origins not visited this time).
    restored: Option<serde_json::Value>,
    /// Tabs being opened in it right now.
    opening: usize,
}

struct LiveTab {
    key: Key,
    target: TabId,
}

#[derive(Default)]
struct Inner {
    browsers: HashMap<&'static str, Arc<Browser>>,
    profiles: Vec<tempfile::TempDir>,
    identities: HashMap<Key, Live>,
    tabs: BTreeMap<i64, LiveTab>,
    counter: u64,
    last_error: Option<String>,
}

/// Identities, tabs and sessions.
pub struct Browsing {
    gateway: Arc<Gateway>,
    store: Arc<Mutex<Store>>,
    credentials: Arc<VaultCredentials>,
    options: BrowseOptions,
    refusing: std::net::SocketAddr,
    /// Bound, never listening: connections to it are refused at once.
    _refusing: tokio::net::TcpSocket,
    /// Where Chromium profiles (fresh per launch) live.
    profiles_dir: PathBuf,
    inner: tokio::sync::Mutex<Inner>,
    /// Tab updates go out here.
    events: Arc<vip_api::Events>,
    /// Which identity each listener serves, for the gateway's events.
    labels: Arc<crate::sink::Labels>,
    /// Each open tab's URL when last looked at (navigations become events).
    urls: Mutex<HashMap<i64, String>>,
}

/// An error that is ours, not the caller's: logged with an id, and only
/// the id and a safe message go to the client (internal text can name
/// paths, SQL or other users' data).
/// The port of a DevTools URL (`ws://127.0.0.1:PORT/devtools/...`).
fn devtools_port_of(url: &str) -> Option<u16> {
    let rest = url.split("://").nth(1)?;
    let authority = rest.split('/').next()?;
    authority.rsplit(':').next()?.parse().ok()
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    use rand::TryRngCore;
    let id = rand::rngs::OsRng.try_next_u32().unwrap_or_default();
    let id = format!("{id:08x}");
    tracing::error!(error_id = %id, "internal error: {e}");
    ApiError::internal(format!(
        "internal error {id}: vip serve's log has the details (search for error_id={id})"
    ))
}

impl Browsing {
    /// Browsing over `gateway`, with the store at `db`.
    pub fn new(
        gateway: Arc<Gateway>,
        db: &Path,
        credentials: Arc<VaultCredentials>,
        options: BrowseOptions,
        events: Arc<vip_api::Events>,
        labels: Arc<crate::sink::Labels>,
    ) -> Result<Browsing, DaemonError> {
        let store = Store::open(db)?;
        store.close_tabs(None)?;
        // Chromium's own traffic (the default context, and pages a DevTools
        // client opens there) goes here and is refused.
        let refusing_what = "reserving the address Chromium's own traffic is refused at";
        let refusing = tokio::net::TcpSocket::new_v4().map_err(DaemonError::io(refusing_what))?;
        refusing
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .map_err(DaemonError::io(refusing_what))?;
        let profiles_dir = db.parent().unwrap_or(Path::new(".")).join("browser");
        let profiles_what = format!("preparing {}", profiles_dir.display());
        std::fs::create_dir_all(&profiles_dir).map_err(DaemonError::io(&profiles_what))?;
        // Profiles left by a run that was killed (each run makes fresh ones).
        let entries = std::fs::read_dir(&profiles_dir).map_err(DaemonError::io(&profiles_what))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("chromium-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(Browsing {
            profiles_dir,
            gateway,
            store: Arc::new(Mutex::new(store)),
            credentials,
            refusing: refusing
                .local_addr()
                .map_err(DaemonError::io(refusing_what))?,
            _refusing: refusing,
            options,
            inner: tokio::sync::Mutex::default(),
            events,
            labels,
            urls: Mutex::default(),
        })
    }

    /// Whether the browser is off (`--no-browser`).
    pub fn disabled(&self) -> bool {
        self.options.disabled
    }

    /// Runs `f` on the store on a blocking-pool thread, so a slow or locked
    /// database never stalls an async worker.
    pub(super) async fn on_store<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> R + Send + 'static,
    ) -> Result<R, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store.lock().unwrap_or_else(|p| p.into_inner())))
            .await
            .map_err(internal)
    }

    /// Starts the default browser now (so the first tab opens fast); a
    /// failure is reported and retried on the first tab.
    pub async fn start(&self) -> Result<Option<String>, ApiError> {
        if self.options.disabled {
            return Ok(None);
        }
        let mut inner = self.inner.lock().await;
        let browser = self.browser(&mut inner, WebRtcPolicy::default()).await?;
        Ok(self
            .options
            .devtools_port
            .map(|_| browser.devtools_url().to_string()))
    }

    /// The running browser for a WebRTC preference, launched if needed
    /// (again after a crash: the identities it carried are dropped).
    async fn browser(
        &self,
        inner: &mut Inner,
        policy: WebRtcPolicy,
    ) -> Result<Arc<Browser>, ApiError> {
        if self.options.disabled {
            // Not a passing outage but how vip serve was started: 409.
            return Err(ApiError::conflict(
                "the browser is off (vip serve --no-browser): restart vip serve without it",
            ));
        }
        let pref = policy.preference();
        if let Some(b) = inner.browsers.get(pref) {
            if b.is_alive() {
                return Ok(b.clone());
            }
            let dead = b.clone();
            inner.browsers.remove(pref);
            let gone: Vec<Key> = inner
                .identities
                .iter()
                .filter(|(_, l)| Arc::ptr_eq(&l.browser, &dead))
                .map(|(k, _)| k.clone())
                .collect();
            for key in gone {
                if let Some(live) = inner.identities.remove(&key) {
                    self.release(&live);
                }
                inner.tabs.retain(|_, t| t.key != key);
            }
            tracing::warn!("Chromium had stopped; starting it again");
        }
        let executable = vip_browser::find_chromium(self.options.chromium.as_deref())
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
        let profile = tempfile::Builder::new()
            .prefix("chromium-")
            .tempdir_in(&self.profiles_dir)
            .map_err(internal)?;
        // DevTools for the user's tools only on the main browser.
        let devtools_port = match policy.preference() == WebRtcPolicy::default().preference() {
            true => self.options.devtools_port.unwrap_or(0),
            false => 0,
        };
        let options = LaunchOptions {
            executable,
            headless: self.options.headless || !vip_browser::display_available(),
            user_data_dir: profile.path().to_path_buf(),
            default_proxy: self.refusing,
            webrtc: policy,
            devtools_port,
            extra_args: Vec::new(),
        };
        let browser = Browser::launch(&options).await.map_err(|e| {
            inner.last_error = Some(e.to_string());
            ApiError::unavailable(e.to_string())
        })?;
        inner.last_error = None;
        // Its DevTools port is out of every tab's reach, like the API's.
        if let Some(port) = devtools_port_of(browser.devtools_url()) {
            self.gateway.protect_port(port);
        }
        inner.profiles.push(profile);
        let browser = Arc::new(browser);
        inner.browsers.insert(pref, browser.clone());
        Ok(browser)
    }

    /// Saves the storage of named identities with open tabs (so a crash or
    /// a kill loses at most what changed since).
    pub async fn autosave(&self) {
        let mut inner = self.inner.lock().await;
        Self::note_origins(&mut inner);
        let keys: Vec<Key> = inner
            .identities
            .iter()
            .filter(|(_, l)| l.record.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(mut live) = inner.identities.remove(&key) {
                if let Err(e) = self.save_storage(&mut live).await {
                    tracing::warn!(identity = %name_of(&key), "saving the identity's storage: {e}");
                }
                inner.identities.insert(key, live);
            }
        }
    }

    /// Saves named identities' storage and closes the browsers.
    pub async fn shutdown(&self) {
        let mut inner = self.inner.lock().await;
        Self::note_origins(&mut inner);
        let keys: Vec<Key> = inner.identities.keys().cloned().collect();
        for key in keys {
            if let Some(mut live) = inner.identities.remove(&key) {
                if let Err(e) = self.save_storage(&mut live).await {
                    tracing::warn!(identity = %name_of(&key), "saving the identity's storage: {e}");
                }
                self.release(&live);
            }
        }
        for browser in inner.browsers.values() {
            browser.close().await;
        }
        inner.browsers.clear();
        let _ = self.on_store(|s| s.close_tabs(None)).await;
    }

    async fn status_now(&self) -> Status {
        let inner = self.inner.lock().await;
        let main = inner.browsers.get(WebRtcPolicy::default().preference());
        let browser = if self.options.disabled {
            "off".to_string()
        } else if main.is_some_and(|b| b.is_alive()) {
            "running".to_string()
        } else {
            inner
                .last_error
                .clone()
                .unwrap_or_else(|| "not running (starts with the first tab)".into())
        };
        Status {
            browser,
            tabs: inner.tabs.len(),
            devtools: self
                .options
                .devtools_port
                .and(main.map(|b| b.devtools_url().to_string())),
        }
    }
}

fn name_of(key: &Key) -> String {
    match key {
        Key::Named(n) => n.clone(),
        Key::Anonymous(a) => format!("(unnamed {a})"),
    }
}

fn random_seed() -> Result<[u8; 32], ApiError> {
    use rand::TryRngCore;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .map_err(internal)?;
    Ok(seed)
}

/// What the control API asks of the browser side.
impl Browsing {
    pub(crate) async fn status(&self) -> Status {
        self.status_now().await
    }

    pub(crate) async fn open_tab(&self, req: OpenTab) -> Result<Tab, ApiError> {
        self.open(req).await
    }

    pub(crate) async fn tabs(&self) -> Vec<Tab> {
        self.list().await
    }

    pub(crate) async fn close_tab(&self, id: i64) -> Result<(), ApiError> {
        self.close(id).await
    }

    pub(crate) async fn identities(&self) -> Result<Vec<Identity>, ApiError> {
        let stored = self
            .on_store(|s| s.list_identities())
            .await?
            .map_err(internal)?;
        let inner = self.inner.lock().await;
        stored
            .into_iter()
            .map(|r| {
                let key = Key::Named(r.name.clone());
                Ok(Identity {
                    assignment: serde_json::from_str(&r.assignment).map_err(internal)?,
                    webrtc: r.webrtc_policy,
                    saved_storage: r.has_storage,
                    open_tabs: inner.tabs.values().filter(|t| t.key == key).count(),
                    geo: r.geo_policy,
                    name: r.name,
                })
            })
            .collect()
    }

    pub(crate) async fn create_identity(&self, req: NewIdentity) -> Result<Identity, ApiError> {
        let spec = req.assignment.unwrap_or_default();
        let policy = req
            .webrtc
            .as_deref()
            .map(WebRtcPolicy::parse)
            .transpose()
            .map_err(|e| ApiError::invalid(format!("webrtc: {e}")))?
            .unwrap_or_default();
        let geo = exit::requested(req.geo.as_deref())?;
        let _inner = self.inner.lock().await;
        self.create_named(&req.name, &spec, policy, geo).await?;
        Ok(Identity {
            name: req.name,
            assignment: spec,
            webrtc: policy.as_str().to_string(),
            saved_storage: false,
            open_tabs: 0,
            geo: geo.map(|g| g.as_str().to_string()),
        })
    }

    pub(crate) async fn delete_identity(&self, name: String) -> Result<(), ApiError> {
        let inner = self.inner.lock().await;
        let key = Key::Named(name.clone());
        let open = inner.tabs.values().filter(|t| t.key == key).count();
        if open > 0 {
            return Err(ApiError::conflict(format!(
                "identity {name} has {open} open tabs: close them first (`vip tab list`)"
            )));
        }
        let deleting = name.clone();
        let deleted = self.on_store(move |s| s.delete_identity(&deleting)).await?;
        deleted.map_err(|e| match e {
            vip_store::StoreError::NotFound { .. } => ApiError::not_found(format!(
                "identity {name} does not exist: see `vip identity list`"
            )),
            e => internal(e),
        })
    }

    pub(crate) async fn save_session(&self, name: String) -> Result<SessionInfo, ApiError> {
        let tabs = self.list().await;
        self.on_store(move |s| session::save(s, &name, &tabs))
            .await?
    }

    pub(crate) async fn load_session(&self, name: String) -> Result<Vec<Tab>, ApiError> {
        let requests = self.on_store(move |s| session::load(s, &name)).await??;
        let mut opened = Vec::new();
        for req in requests {
            opened.push(self.open(req).await?);
        }
        Ok(opened)
    }

    pub(crate) async fn sessions(&self) -> Result<Vec<SessionInfo>, ApiError> {
        self.on_store(session::list).await?
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn internal_errors_send_an_id_not_the_text() {
        let e = super::internal("/home/someone/.local/share/vip/vip.db: disk I/O error");
        assert_eq!(e.status, 500);
        assert!(!e.message.contains("/home/someone"), "{e}");
        assert!(!e.message.contains("disk I/O"), "{e}");
        let id = e.message.split_whitespace().nth(2).unwrap_or_default();
        assert_eq!(id.len(), 9, "{e}");
        assert!(e.message.contains(&format!("error_id={}", &id[..8])), "{e}");
    }
}
