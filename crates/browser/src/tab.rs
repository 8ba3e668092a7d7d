//! Tabs of a running browser: opening one (on `about:blank` first, then
//! navigating once its identity is in place), navigating, evaluating,
//! closing, crashing (fault drills), their state, and hidden helper pages
//! at an origin whose document is served locally.

use std::time::Duration;

use serde_json::{Value, json};

use crate::browser::TabState;
use crate::{Browser, BrowserError, ContextId, TabId, TabInfo};

impl Browser {
    /// Opens `url` in a new tab of `context`; returns once it has loaded
    /// (or `wait` has passed: slow pages keep loading). The tab starts on
    /// `about:blank` and navigates only once its identity is in place.
    pub async fn open(
        &self,
        context: &ContextId,
        url: &str,
        wait: Duration,
    ) -> Result<TabId, BrowserError> {
        if !self.shared.state().contexts.contains_key(context) {
            return Err(BrowserError::Cdp(format!("no browser context {context}")));
        }
        let reply = self
            .cdp
            .call(
                "Target.createTarget",
                json!({"url": "about:blank", "browserContextId": context}),
            )
            .await?;
        let tab = reply["targetId"]
            .as_str()
            .ok_or_else(|| BrowserError::Cdp("createTarget returned no id".into()))?
            .to_string();
        self.shared
            .state()
            .tabs
            .entry(tab.clone())
            .or_insert_with(|| TabState {
                context: context.clone(),
                ..TabState::default()
            });
        let ready = self
            .wait_for(&tab, wait, |t| t.ready || t.gone || t.crashed)
            .await;
        if !ready {
            return Err(BrowserError::Cdp(format!(
                "the new tab was not ready within {wait:?}"
            )));
        }
        self.navigate(&tab, url, wait).await?;
        Ok(tab)
    }

    /// Waits until `done` holds for the tab (or it is unknown); false on timeout.
    pub(crate) async fn wait_for(
        &self,
        tab: &TabId,
        wait: Duration,
        done: impl Fn(&TabState) -> bool,
    ) -> bool {
        let mut changed = self.shared.changed.subscribe();
        tokio::time::timeout(wait, async {
            loop {
                if self.shared.state().tabs.get(tab).is_none_or(&done) {
                    return;
                }
                if changed.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
        .is_ok()
    }

    /// Navigates a tab and waits for the load (at most `wait`).
    pub async fn navigate(
        &self,
        tab: &TabId,
        url: &str,
        wait: Duration,
    ) -> Result<(), BrowserError> {
        let (session, before) = self.session_of(tab)?;
        let reply = self
            .cdp
            .call_in(Some(&session), "Page.navigate", json!({"url": url}))
            .await?;
        if let Some(text) = reply["errorText"].as_str() {
            return Err(BrowserError::Cdp(format!("loading {url}: {text}")));
        }
        self.wait_for(tab, wait, |t| t.loads > before || t.gone || t.crashed)
            .await;
        Ok(())
    }

    pub(crate) fn session_of(&self, tab: &TabId) -> Result<(String, u64), BrowserError> {
        let state = self.shared.state();
        let t = state
            .tabs
            .get(tab)
            .ok_or_else(|| BrowserError::Cdp(format!("no tab {tab}")))?;
        let session = t
            .session
            .clone()
            .ok_or_else(|| BrowserError::Cdp(format!("tab {tab} is not attached")))?;
        Ok((session, t.loads))
    }

    /// Evaluates `expression` (promises awaited) in a tab's page.
    pub async fn evaluate(&self, tab: &TabId, expression: &str) -> Result<Value, BrowserError> {
        let (session, _) = self.session_of(tab)?;
        self.evaluate_in(&session, expression).await
    }

    pub(crate) async fn evaluate_in(
        &self,
        session: &str,
        expression: &str,
    ) -> Result<Value, BrowserError> {
        let reply = self
            .cdp
            .call_in(
                Some(session),
                "Runtime.evaluate",
                // As a person's action would be: a page may open a popup.
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true, "userGesture": true}),
            )
            .await?;
        if let Some(e) = reply.get("exceptionDetails") {
            let text = e["exception"]["description"]
                .as_str()
                .or(e["text"].as_str())
                .unwrap_or("exception");
            return Err(BrowserError::Cdp(format!("script failed: {text}")));
        }
        Ok(reply["result"]["value"].clone())
    }

    /// Runs `expression` in a hidden page of `context` at `origin`
    /// (`scheme://host[:port]`) whose document is served locally, so
    /// nothing is fetched: for reading and restoring an origin's storage.
    pub async fn at_origin(
        &self,
        context: &ContextId,
        origin: &str,
        expression: &str,
    ) -> Result<Value, BrowserError> {
        let url = format!("{origin}/.well-known/vip-storage");
        let reply = self
            .cdp
            .call(
                "Target.createTarget",
                json!({"url": "about:blank", "browserContextId": context, "background": true}),
            )
            .await?;
        let tab = reply["targetId"]
            .as_str()
            .ok_or_else(|| BrowserError::Cdp("createTarget returned no id".into()))?
            .to_string();
        {
            let mut state = self.shared.state();
            let t = state.tabs.entry(tab.clone()).or_insert_with(|| TabState {
                context: context.clone(),
                ..TabState::default()
            });
            t.hidden = true;
            t.fulfil = Some(url.clone());
        }
        let result = async {
            let wait = Duration::from_secs(10);
            if !self.wait_for(&tab, wait, |t| t.ready || t.gone).await {
                return Err(BrowserError::Cdp("the helper page was not ready".into()));
            }
            let (session, _) = self.session_of(&tab)?;
            self.cdp
                .call_in(
                    Some(&session),
                    "Fetch.enable",
                    json!({"patterns": [{"urlPattern": "*", "requestStage": "Request"}]}),
                )
                .await?;
            self.navigate(&tab, &url, wait).await?;
            self.evaluate_in(&session, expression).await
        }
        .await;
        let _ = self.close_tab(&tab).await;
        self.shared.state().tabs.remove(&tab);
        result
    }

    /// Closes a tab.
    pub async fn close_tab(&self, tab: &TabId) -> Result<(), BrowserError> {
        let result = self
            .cdp
            .call("Target.closeTarget", json!({"targetId": tab}))
            .await;
        if let Some(t) = self.shared.state().tabs.get_mut(tab) {
            t.gone = true;
        }
        self.shared.bump();
        result.map(|_| ())
    }

    /// A tab's state, if known.
    pub fn tab(&self, tab: &TabId) -> Option<TabInfo> {
        self.shared.state().tabs.get(tab).map(|t| TabInfo {
            context: t.context.clone(),
            url: t.url.clone(),
            blocked: t.blocked,
            crashed: t.crashed,
        })
    }

    /// The tabs still open.
    pub fn tabs(&self) -> Vec<(TabId, TabInfo)> {
        let state = self.shared.state();
        state
            .tabs
            .iter()
            .filter(|(_, t)| !t.gone && !t.hidden)
            .map(|(id, t)| {
                (
                    id.clone(),
                    TabInfo {
                        context: t.context.clone(),
                        url: t.url.clone(),
                        blocked: t.blocked,
                        crashed: t.crashed,
                    },
                )
            })
            .collect()
    }

    /// Crashes a tab's renderer (fault drills: other tabs must carry on).
    pub async fn crash_tab(&self, tab: &TabId) -> Result<(), BrowserError> {
        let (session, _) = self.session_of(tab)?;
        // The renderer dies before it can answer.
        self.cdp.fire(Some(&session), "Page.crash", json!({}));
        let crashed = self
            .wait_for(tab, Duration::from_secs(10), |t| t.crashed || t.gone)
            .await;
        if crashed {
            Ok(())
        } else {
            Err(BrowserError::Cdp("the tab did not crash".into()))
        }
    }
}
