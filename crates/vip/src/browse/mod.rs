//! The browser side of `vip serve`: identities, tabs and sessions behind
//! the control API. Each identity is a browser context with its own
//! gateway listener (its assignment) and fingerprint; named identities are
//! kept in the store (seed and storage sealed by the vault) and come back
//! with their cookies and local data; unnamed ones vanish with their last
//! tab. Chromium is launched lazily and again after a crash; identities
//! whose WebRTC policy needs another preference run in a browser of their
//! own.

mod assign;
mod session;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vip_api::{ApiError, AssignmentSpec, Identity, NewIdentity, OpenTab, SessionInfo, Status, Tab};
use vip_browser::{Browser, ContextId, IdentitySetup, LaunchOptions, Profile, TabId, WebRtcPolicy};
use vip_gateway::{Gateway, ListenerHandle, ListenerSpec};
use vip_store::Store;
use vip_store::vault::Vault;

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
    own_config: Option<vip_engine::ConfigId>,
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
    store: Mutex<Store>,
    vault: Option<Arc<Vault>>,
    options: BrowseOptions,
    refusing: std::net::SocketAddr,
    /// Bound, never listening: connections to it are refused at once.
    _refusing: tokio::net::TcpSocket,
    /// Where Chromium profiles (fresh per launch) live.
    profiles_dir: PathBuf,
    inner: tokio::sync::Mutex<Inner>,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Checks a URL the user asked for.
fn check_url(url: &str) -> Result<(), ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "url {url:?} is not an http or https address: give a full one like https://example.com/"
        ))
    };
    if url == "about:blank" {
        return Ok(());
    }
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
        || host.is_empty()
        || host.starts_with(':')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(())
}

impl Browsing {
    /// Browsing over `gateway`, with the store at `db`.
    pub fn new(
        gateway: Arc<Gateway>,
        db: &Path,
        vault: Option<Arc<Vault>>,
        options: BrowseOptions,
    ) -> anyhow::Result<Browsing> {
        let store = Store::open(db)?;
        store.close_tabs(None)?;
        // Chromium's own traffic (the default context, and pages a DevTools
        // client opens there) goes here and is refused.
        let refusing = tokio::net::TcpSocket::new_v4()?;
        refusing.bind("127.0.0.1:0".parse()?)?;
        let profiles_dir = db.parent().unwrap_or(Path::new(".")).join("browser");
        std::fs::create_dir_all(&profiles_dir)?;
        // Profiles left by a run that was killed (each run makes fresh ones).
        for entry in std::fs::read_dir(&profiles_dir)?.flatten() {
            if entry.file_name().to_string_lossy().starts_with("chromium-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(Browsing {
            profiles_dir,
            gateway,
            store: Mutex::new(store),
            vault,
            refusing: refusing.local_addr()?,
            _refusing: refusing,
            options,
            inner: tokio::sync::Mutex::default(),
        })
    }

    /// Whether the browser is off (`--no-browser`).
    pub fn disabled(&self) -> bool {
        self.options.disabled
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
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
            return Err(ApiError::unavailable(
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
            eprintln!("vip serve: Chromium had stopped; starting it again");
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
        inner.profiles.push(profile);
        let browser = Arc::new(browser);
        inner.browsers.insert(pref, browser.clone());
        Ok(browser)
    }

    fn release(&self, live: &Live) {
        live.listener.close();
        if let Some(id) = live.own_config {
            self.gateway.with_engine(|e| e.remove_rotation(id));
        }
    }

    fn vault(&self) -> Result<&Vault, ApiError> {
        self.vault.as_deref().ok_or_else(|| {
            ApiError::unavailable(
                "named identities keep their seed and cookies in the vault, which is locked: \
                 run `vip vault init` once, then start vip serve with the master password \
                 (VIP_MASTER_PASSWORD, the keychain, or the prompt)",
            )
        })
    }

    /// Stores a new named identity (after checking its assignment).
    fn create_named(
        &self,
        name: &str,
        spec: &AssignmentSpec,
        policy: WebRtcPolicy,
    ) -> Result<([u8; 32], i64), ApiError> {
        let vault = self.vault()?;
        let probe = assign::resolve(spec, &self.store(), &self.gateway, u64::MAX)?;
        if let Some(id) = probe.own_config {
            self.gateway.with_engine(|e| e.remove_rotation(id));
        }
        let seed = random_seed()?;
        let json = serde_json::to_string(spec).map_err(internal)?;
        let id = self
            .store()
            .create_identity(vault, name, &seed, &json, policy.as_str())
            .map_err(|e| match e {
                vip_store::StoreError::Invalid { .. } => ApiError::invalid(e.to_string()),
                e => internal(e),
            })?;
        Ok((seed, id))
    }

    /// The live identity for a request, made (or brought back) if needed.
    async fn identity(&self, inner: &mut Inner, req: &OpenTab) -> Result<Key, ApiError> {
        let webrtc = req
            .webrtc
            .as_deref()
            .map(WebRtcPolicy::parse)
            .transpose()
            .map_err(|e| ApiError::invalid(format!("webrtc: {e}")))?;
        let key = match (&req.identity, &req.shared_with) {
            (Some(name), _) => Key::Named(name.clone()),
            (None, Some(shared)) => Key::Anonymous(shared.clone()),
            (None, None) => {
                inner.counter += 1;
                Key::Anonymous(format!("a{}", inner.counter))
            }
        };
        if let Some(live) = inner.identities.get(&key) {
            if live.browser.is_alive() {
                if let Some(spec) = &req.assignment
                    && spec != &live.spec
                {
                    return Err(ApiError::conflict(format!(
                        "identity {} goes through {}, not {spec}: drop the assignment option or use another identity",
                        name_of(&key),
                        live.spec
                    )));
                }
                if webrtc.is_some_and(|w| w != live.webrtc) {
                    return Err(ApiError::conflict(format!(
                        "identity {} has WebRTC policy {}: drop --webrtc or use another identity",
                        name_of(&key),
                        live.webrtc.as_str()
                    )));
                }
                return Ok(key);
            }
            if let Some(live) = inner.identities.remove(&key) {
                self.release(&live);
            }
        }
        // Seed, assignment and storage: stored (named), new (named), or fresh.
        let (seed, spec, webrtc, record, storage) = match &key {
            Key::Named(name) => {
                let vault = self.vault()?;
                let found = self
                    .store()
                    .get_identity(vault, name)
                    .map_err(|e| match e {
                        vip_store::StoreError::Invalid { .. } => ApiError::invalid(e.to_string()),
                        e => internal(e),
                    })?;
                match found {
                    Some(r) => {
                        let spec: AssignmentSpec =
                            serde_json::from_str(&r.assignment).map_err(internal)?;
                        let policy = WebRtcPolicy::parse(&r.webrtc_policy).map_err(internal)?;
                        if req.assignment.as_ref().is_some_and(|a| a != &spec) {
                            return Err(ApiError::conflict(format!(
                                "identity {name} goes through {spec}: drop the assignment option or use another identity"
                            )));
                        }
                        if webrtc.is_some_and(|w| w != policy) {
                            return Err(ApiError::conflict(format!(
                                "identity {name} has WebRTC policy {}: drop --webrtc or use another identity",
                                policy.as_str()
                            )));
                        }
                        let seed: [u8; 32] = r.seed.as_slice().try_into().map_err(internal)?;
                        let storage = r
                            .storage
                            .as_deref()
                            .and_then(|s| serde_json::from_slice::<serde_json::Value>(s).ok());
                        (seed, spec, policy, Some(r.id), storage)
                    }
                    None => {
                        let Some(spec) = req.assignment.clone() else {
                            return Err(ApiError::not_found(format!(
                                "identity {name} does not exist: create it with `vip identity create {name}` \
                                 or give an assignment (--proxy, --group, --country, --rotation, --direct)"
                            )));
                        };
                        let policy = webrtc.unwrap_or_default();
                        let (seed, id) = self.create_named(name, &spec, policy)?;
                        (seed, spec, policy, Some(id), None)
                    }
                }
            }
            Key::Anonymous(_) => (
                random_seed()?,
                req.assignment.clone().unwrap_or_default(),
                webrtc.unwrap_or_default(),
                None,
                None,
            ),
        };
        inner.counter += 1;
        let resolved = assign::resolve(&spec, &self.store(), &self.gateway, inner.counter)?;
        let browser = self.browser(inner, webrtc).await?;
        let listener = self
            .gateway
            .listen(
                "127.0.0.1:0".parse().map_err(internal)?,
                ListenerSpec {
                    assignment: resolved.assignment.clone(),
                    tab: Some(vip_engine::TabId(inner.counter)),
                    auth: None,
                },
            )
            .await
            .map_err(internal)?;
        let profile = Profile::new(seed, resolved.country.as_deref(), webrtc);
        let timezone = profile.locale.timezone.to_string();
        let setup = IdentitySetup {
            profile,
            protect: true,
            blocklist: self.options.blocklist.clone(),
        };
        let context = match browser.new_context(listener.addr, setup).await {
            Ok(c) => c,
            Err(e) => {
                listener.close();
                return Err(ApiError::unavailable(e.to_string()));
            }
        };
        if let Some(storage) = &storage
            && let Err(e) = browser.import_storage(&context, storage).await
        {
            eprintln!("vip serve: restoring the storage of {}: {e}", name_of(&key));
        }
        inner.identities.insert(
            key.clone(),
            Live {
                browser,
                context,
                listener,
                spec,
                webrtc,
                country: resolved.country,
                timezone,
                proxy: resolved.proxy,
                own_config: resolved.own_config,
                record,
                origins: BTreeSet::new(),
                restored: storage,
                opening: 0,
            },
        );
        Ok(key)
    }

    fn view(&self, id: i64, tab: &LiveTab, live: &Live) -> Tab {
        let info = live.browser.tab(&tab.target);
        let crashed = !live.browser.is_alive() || info.as_ref().is_some_and(|i| i.crashed);
        Tab {
            id,
            identity: match &tab.key {
                Key::Named(n) => Some(n.clone()),
                Key::Anonymous(_) => None,
            },
            anonymous: match &tab.key {
                Key::Named(_) => None,
                Key::Anonymous(a) => Some(a.clone()),
            },
            url: info.as_ref().map(|i| i.url.clone()).unwrap_or_default(),
            assignment: live.spec.clone(),
            country: live.country.clone(),
            timezone: live.timezone.clone(),
            webrtc: live.webrtc.as_str().to_string(),
            blocked: info.map_or(0, |i| i.blocked),
            state: if crashed { "crashed" } else { "open" }.to_string(),
        }
    }

    /// Saves a named identity's storage (sealed); unnamed ones keep nothing.
    async fn save_storage(&self, live: &mut Live) -> Result<(), ApiError> {
        let Some(record) = live.record else {
            return Ok(());
        };
        if !live.browser.is_alive() {
            return Ok(());
        }
        let storage = live
            .browser
            .export_storage(&live.context, &live.origins, live.restored.as_ref())
            .await
            .map_err(|e| ApiError::unavailable(format!("reading the identity's storage: {e}")))?;
        let bytes = zeroize::Zeroizing::new(serde_json::to_vec(&storage).map_err(internal)?);
        self.store()
            .save_identity_storage(self.vault()?, record, &bytes)
            .map_err(internal)?;
        live.restored = Some(storage);
        Ok(())
    }

    /// Notes the origins a live identity's tabs show now.
    fn note_origins(inner: &mut Inner) {
        let Inner {
            tabs, identities, ..
        } = inner;
        for tab in tabs.values() {
            if let Some(live) = identities.get_mut(&tab.key)
                && let Some(origin) = live
                    .browser
                    .tab(&tab.target)
                    .and_then(|i| vip_browser::origin_of(&i.url))
            {
                live.origins.insert(origin);
            }
        }
    }

    /// Drops an identity with no tabs left (saving a named one's storage).
    async fn retire_if_unused(&self, inner: &mut Inner, key: &Key) {
        let opening = inner.identities.get(key).is_some_and(|l| l.opening > 0);
        if opening || inner.tabs.values().any(|t| &t.key == key) {
            return;
        }
        let Some(mut live) = inner.identities.remove(key) else {
            return;
        };
        if let Err(e) = self.save_storage(&mut live).await {
            eprintln!("vip serve: {}: {e}", name_of(key));
        }
        let _ = live.browser.dispose_context(&live.context).await;
        self.release(&live);
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
                    eprintln!("vip serve: saving {}: {e}", name_of(&key));
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
                    eprintln!("vip serve: {}: {e}", name_of(&key));
                }
                self.release(&live);
            }
        }
        for browser in inner.browsers.values() {
            browser.close().await;
        }
        inner.browsers.clear();
        let _ = self.store().close_tabs(None);
    }

    async fn open(&self, req: OpenTab) -> Result<Tab, ApiError> {
        check_url(&req.url)?;
        if let Some(name) = &req.identity
            && name.trim().is_empty()
        {
            return Err(ApiError::invalid("identity: the name is empty"));
        }
        // The lock is not held while the page loads, so listing and closing
        // tabs stay quick; `opening` keeps the identity from being retired.
        let (key, browser, context, spec, proxy) = {
            let mut inner = self.inner.lock().await;
            let key = self.identity(&mut inner, &req).await?;
            let live = inner
                .identities
                .get_mut(&key)
                .ok_or_else(|| internal("the identity vanished"))?;
            live.opening += 1;
            (
                key,
                live.browser.clone(),
                live.context.clone(),
                live.spec.clone(),
                live.proxy,
            )
        };
        let opened = browser.open(&context, &req.url, LOAD_WAIT).await;
        let mut inner = self.inner.lock().await;
        if let Some(live) = inner.identities.get_mut(&key) {
            live.opening -= 1;
        }
        let target = match opened {
            Ok(t) => t,
            Err(e) => {
                self.retire_if_unused(&mut inner, &key).await;
                return Err(ApiError::unavailable(format!("opening {}: {e}", req.url)));
            }
        };
        if !inner.identities.contains_key(&key) {
            let _ = browser.close_tab(&target).await;
            return Err(ApiError::unavailable(format!(
                "opening {}: the browser stopped meanwhile; try again",
                req.url
            )));
        }
        let spec_json = serde_json::to_string(&spec).map_err(internal)?;
        let id = self
            .store()
            .insert_tab(req.identity.as_deref(), &req.url, &spec_json, proxy)
            .map_err(internal)?;
        inner.tabs.insert(
            id,
            LiveTab {
                key: key.clone(),
                target,
            },
        );
        Self::note_origins(&mut inner);
        let tab = &inner.tabs[&id];
        Ok(self.view(id, tab, &inner.identities[&key]))
    }

    async fn list(&self) -> Vec<Tab> {
        let mut inner = self.inner.lock().await;
        Self::note_origins(&mut inner);
        // Tabs the user closed in the window are gone.
        let gone: Vec<i64> = inner
            .tabs
            .iter()
            .filter(|(_, t)| {
                inner.identities.get(&t.key).is_none_or(|l| {
                    l.browser.is_alive() && !l.browser.tabs().iter().any(|(id, _)| id == &t.target)
                })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(tab) = inner.tabs.remove(&id) {
                let _ = self.store().close_tabs(Some(id));
                self.retire_if_unused(&mut inner, &tab.key).await;
            }
        }
        let views: Vec<Tab> = inner
            .tabs
            .iter()
            .filter_map(|(id, t)| inner.identities.get(&t.key).map(|l| self.view(*id, t, l)))
            .collect();
        for v in &views {
            let _ = self.store().update_tab(v.id, &v.url, v.blocked);
        }
        views
    }

    async fn close(&self, id: i64) -> Result<(), ApiError> {
        let mut inner = self.inner.lock().await;
        Self::note_origins(&mut inner);
        let tab = inner.tabs.remove(&id).ok_or_else(|| {
            ApiError::not_found(format!("tab {id} is not open: see `vip tab list`"))
        })?;
        if let Some(live) = inner.identities.get(&tab.key) {
            if let Some(info) = live.browser.tab(&tab.target) {
                let _ = self.store().update_tab(id, &info.url, info.blocked);
            }
            let _ = live.browser.close_tab(&tab.target).await;
        }
        self.store().close_tabs(Some(id)).map_err(internal)?;
        self.retire_if_unused(&mut inner, &tab.key).await;
        Ok(())
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

impl vip_api::Control for Browsing {
    async fn status(&self) -> Status {
        self.status_now().await
    }

    async fn open_tab(&self, req: OpenTab) -> Result<Tab, ApiError> {
        self.open(req).await
    }

    async fn tabs(&self) -> Vec<Tab> {
        self.list().await
    }

    async fn close_tab(&self, id: i64) -> Result<(), ApiError> {
        self.close(id).await
    }

    async fn identities(&self) -> Result<Vec<Identity>, ApiError> {
        let stored = self.store().list_identities().map_err(internal)?;
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
                    name: r.name,
                })
            })
            .collect()
    }

    async fn create_identity(&self, req: NewIdentity) -> Result<Identity, ApiError> {
        let spec = req.assignment.unwrap_or_default();
        let policy = req
            .webrtc
            .as_deref()
            .map(WebRtcPolicy::parse)
            .transpose()
            .map_err(|e| ApiError::invalid(format!("webrtc: {e}")))?
            .unwrap_or_default();
        let _inner = self.inner.lock().await;
        self.create_named(&req.name, &spec, policy)?;
        Ok(Identity {
            name: req.name,
            assignment: spec,
            webrtc: policy.as_str().to_string(),
            saved_storage: false,
            open_tabs: 0,
        })
    }

    async fn delete_identity(&self, name: String) -> Result<(), ApiError> {
        let inner = self.inner.lock().await;
        let key = Key::Named(name.clone());
        let open = inner.tabs.values().filter(|t| t.key == key).count();
        if open > 0 {
            return Err(ApiError::conflict(format!(
                "identity {name} has {open} open tabs: close them first (`vip tab list`)"
            )));
        }
        self.store().delete_identity(&name).map_err(|e| match e {
            vip_store::StoreError::NotFound { .. } => ApiError::not_found(format!(
                "identity {name} does not exist: see `vip identity list`"
            )),
            e => internal(e),
        })
    }

    async fn save_session(&self, name: String) -> Result<SessionInfo, ApiError> {
        let tabs = self.list().await;
        session::save(&self.store(), &name, &tabs)
    }

    async fn load_session(&self, name: String) -> Result<Vec<Tab>, ApiError> {
        let requests = session::load(&self.store(), &name)?;
        let mut opened = Vec::new();
        for req in requests {
            opened.push(self.open(req).await?);
        }
        Ok(opened)
    }

    async fn sessions(&self) -> Result<Vec<SessionInfo>, ApiError> {
        session::list(&self.store())
    }
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn urls() {
        assert!(check_url("https://example.com/").is_ok());
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        assert!(check_url("about:blank").is_ok());
        for bad in [
            "example.com",
            "ftp://x.test/",
            "http://",
            "http:// x",
            "javascript:alert(1)",
            "file:///etc/passwd",
        ] {
            let err = check_url(bad).unwrap_err();
            assert!(err.message.contains("https://example.com/"), "{bad}: {err}");
            assert_eq!(err.status, 400);
        }
    }
}
