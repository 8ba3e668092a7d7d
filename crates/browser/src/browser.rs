//! A running Chromium and its identities. Every target of our contexts
//! (tab, out-of-process frame, dedicated/shared/service worker) is attached
//! paused (`waitForDebuggerOnStart`); the director installs the identity's
//! overrides and protection script, then lets it run — so no page script
//! runs unprotected. See `director.rs` for the event side.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Child;
use tokio::sync::watch;

use crate::cdp::Cdp;
use crate::launch::{self, LaunchOptions};
use crate::profile::{BrowserFacts, Profile};
use crate::{BrowserError, director};

/// A browser context (one identity).
pub type ContextId = String;
/// A tab (its target id).
pub type TabId = String;

/// How an identity's pages are treated.
#[derive(Clone, Debug)]
pub struct IdentitySetup {
    /// Its fingerprint.
    pub profile: Profile,
    /// Install the fingerprint protection (off only for measuring it).
    pub protect: bool,
    /// URL-level tracker blocking inside its pages.
    pub blocklist: Option<Arc<vip_privacy::Blocklist>>,
}

/// What a tab looks like now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TabInfo {
    /// Its context.
    pub context: ContextId,
    /// Top-level URL.
    pub url: String,
    /// Requests blocked in it.
    pub blocked: u64,
    /// Its renderer crashed.
    pub crashed: bool,
}

#[derive(Debug)]
pub(crate) struct ContextState {
    pub setup: Arc<IdentitySetup>,
    /// Origins its tabs' top-level documents came from.
    pub origins: std::collections::BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Page,
    Frame,
    Worker,
}

#[derive(Clone, Debug)]
pub(crate) struct SessionState {
    pub context: ContextId,
    pub tab: Option<TabId>,
    pub kind: Kind,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct TabState {
    pub context: ContextId,
    pub session: Option<String>,
    pub url: String,
    pub loads: u64,
    /// Its overrides and protection are in place.
    pub ready: bool,
    pub blocked: u64,
    pub crashed: bool,
    pub gone: bool,
    /// A helper page (storage export/import), not a user's tab.
    pub hidden: bool,
    /// A URL this tab's document is served from locally (never fetched).
    pub fulfil: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub contexts: HashMap<ContextId, ContextState>,
    pub sessions: HashMap<String, SessionState>,
    pub tabs: HashMap<TabId, TabState>,
    /// Contexts of the browser's own (reading its facts), whose pages run.
    pub internal: std::collections::HashSet<String>,
    /// The session that sets up each attached worker, by target: a
    /// service worker is attached twice (to the browser and to its page),
    /// and is set up once per start.
    pub workers: HashMap<String, WorkerSetup>,
}

/// How far one worker's set-up is.
#[derive(Debug, Default)]
pub(crate) struct WorkerSetup {
    /// The session that sets it up.
    pub session: String,
    /// Whether that session has set it up and let it run.
    pub ready: bool,
    /// Its other sessions, let run only once it is set up: a second
    /// session's `runIfWaitingForDebugger` would start the worker before
    /// its overrides and protection are in place.
    pub held: Vec<String>,
}

/// What the director and the API share.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub alive: AtomicBool,
    pub facts: Mutex<BrowserFacts>,
    /// Bumped on every tab change, so waiters can re-check.
    pub changed: watch::Sender<u64>,
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// A running Chromium.
pub struct Browser {
    pub(crate) cdp: Cdp,
    pub(crate) shared: Arc<Shared>,
    child: tokio::sync::Mutex<Option<Child>>,
    devtools: String,
}

impl Browser {
    /// Launches Chromium with the project's switches and starts directing it.
    pub async fn launch(options: &LaunchOptions) -> Result<Browser, BrowserError> {
        let (child, url) = launch::spawn(options).await?;
        let (cdp, events) = Cdp::connect(&url).await?;
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            alive: AtomicBool::new(true),
            facts: Mutex::default(),
            changed: watch::channel(0).0,
        });
        tokio::spawn(director::run(cdp.clone(), shared.clone(), events));
        cdp.call(
            "Target.setAutoAttach",
            json!({"autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true}),
        )
        .await?;
        cdp.call("Target.setDiscoverTargets", json!({"discover": true}))
            .await?;
        let browser = Browser {
            cdp,
            shared,
            child: tokio::sync::Mutex::new(Some(child)),
            devtools: url,
        };
        let facts = browser.read_facts().await?;
        *browser
            .shared
            .facts
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = facts;
        Ok(browser)
    }

    /// The DevTools WebSocket URL (for the user's own tools).
    pub fn devtools_url(&self) -> &str {
        &self.devtools
    }

    /// Whether Chromium is still there.
    pub fn is_alive(&self) -> bool {
        self.shared.alive.load(Ordering::Acquire)
    }

    /// The real user agent and client hints, from a throwaway page of a
    /// throwaway context. Client hints need a secure context, so the page
    /// is `http://127.0.0.1/`, served by a one-shot local stand-in proxy
    /// (nothing leaves the machine).
    async fn read_facts(&self) -> Result<BrowserFacts, BrowserError> {
        let stand_in = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| BrowserError::Cdp(format!("binding a local port: {e}")))?;
        let proxy = stand_in
            .local_addr()
            .map_err(|e| BrowserError::Cdp(e.to_string()))?;
        let serve = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = stand_in.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                });
            }
        });
        let context = self
            .cdp
            .call(
                "Target.createBrowserContext",
                json!({"disposeOnDetach": true, "proxyServer": format!("http://{proxy}"), "proxyBypassList": "<-loopback>"}),
            )
            .await?;
        let context = context["browserContextId"].clone();
        if let Some(id) = context.as_str() {
            self.shared.state().internal.insert(id.to_string());
        }
        let target = self
            .cdp
            .call(
                "Target.createTarget",
                json!({"url": "http://127.0.0.1/", "browserContextId": context}),
            )
            .await?;
        let target = target["targetId"].clone();
        let session = self
            .cdp
            .call(
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .await?;
        let session = session["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for _ in 0..100 {
            let ready = self
                .evaluate_in(&session, "location.href + ' ' + document.readyState")
                .await?;
            if ready.as_str() == Some("http://127.0.0.1/ complete") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let value = self
            .evaluate_in(
                &session,
                "(async () => ({ua: navigator.userAgent, screen: [screen.width, screen.height], data: await navigator.userAgentData.getHighEntropyValues(['architecture','bitness','fullVersionList','platformVersion','model','wow64'])}))()",
            )
            .await?;
        let _ = self
            .cdp
            .call(
                "Target.disposeBrowserContext",
                json!({"browserContextId": context}),
            )
            .await;
        serve.abort();
        Ok(BrowserFacts {
            user_agent: value["ua"]
                .as_str()
                .unwrap_or_default()
                .replace("HeadlessChrome", "Chrome"),
            ua_data: value["data"].clone(),
            screen: (
                dimension(&value["screen"][0]),
                dimension(&value["screen"][1]),
            ),
        })
    }

    /// A new isolated context (an identity) whose traffic goes to `proxy`
    /// (its gateway listener).
    pub async fn new_context(
        &self,
        proxy: std::net::SocketAddr,
        setup: IdentitySetup,
    ) -> Result<ContextId, BrowserError> {
        let reply = self
            .cdp
            .call(
                "Target.createBrowserContext",
                json!({
                    "disposeOnDetach": false,
                    "proxyServer": format!("http://{proxy}"),
                    "proxyBypassList": "<-loopback>",
                }),
            )
            .await?;
        let id = reply["browserContextId"]
            .as_str()
            .ok_or_else(|| BrowserError::Cdp("createBrowserContext returned no id".into()))?
            .to_string();
        self.shared.state().contexts.insert(
            id.clone(),
            ContextState {
                setup: Arc::new(setup),
                origins: Default::default(),
            },
        );
        Ok(id)
    }

    /// The origins a context's top-level documents came from (helper pages
    /// only ever visit origins already kept).
    pub fn visited_origins(&self, context: &ContextId) -> std::collections::BTreeSet<String> {
        self.shared
            .state()
            .contexts
            .get(context)
            .map(|c| c.origins.clone())
            .unwrap_or_default()
    }

    /// Disposes a context: its tabs close and its storage is gone.
    pub async fn dispose_context(&self, context: &ContextId) -> Result<(), BrowserError> {
        let result = self
            .cdp
            .call(
                "Target.disposeBrowserContext",
                json!({"browserContextId": context}),
            )
            .await;
        let mut state = self.shared.state();
        state.contexts.remove(context);
        state.tabs.retain(|_, t| &t.context != context);
        state.sessions.retain(|_, s| &s.context != context);
        drop(state);
        self.shared.bump();
        result.map(|_| ())
    }

    /// Every cookie of a context.
    pub async fn cookies(&self, context: &ContextId) -> Result<Value, BrowserError> {
        let reply = self
            .cdp
            .call("Storage.getCookies", json!({"browserContextId": context}))
            .await?;
        Ok(reply["cookies"].clone())
    }

    /// Puts cookies (as [`Browser::cookies`] returned them) into a context.
    pub async fn set_cookies(
        &self,
        context: &ContextId,
        cookies: &Value,
    ) -> Result<(), BrowserError> {
        let list: Vec<Value> = cookies
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        let mut c = c.clone();
                        if let Some(o) = c.as_object_mut() {
                            // getCookies' output fields that setCookies refuses.
                            for k in [
                                "size",
                                "session",
                                "priority",
                                "sameParty",
                                "sourceScheme",
                                "sourcePort",
                                "partitionKeyOpaque",
                            ] {
                                o.remove(k);
                            }
                            if o.get("expires")
                                .and_then(Value::as_f64)
                                .is_some_and(|e| e < 0.0)
                            {
                                o.remove("expires");
                            }
                        }
                        c
                    })
                    .collect()
            })
            .unwrap_or_default();
        if list.is_empty() {
            return Ok(());
        }
        self.cdp
            .call(
                "Storage.setCookies",
                json!({"cookies": list, "browserContextId": context}),
            )
            .await
            .map(|_| ())
    }

    /// Closes Chromium (killing it if it does not exit within 5 s).
    pub async fn close(&self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.cdp.call("Browser.close", json!({})),
        )
        .await;
        if let Some(mut child) = self.child.lock().await.take()
            && tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
        {
            let _ = child.kill().await;
        }
        self.shared.alive.store(false, Ordering::Release);
    }
}

/// A screen dimension the page reported (0 when it reported none).
fn dimension(v: &Value) -> u32 {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}
