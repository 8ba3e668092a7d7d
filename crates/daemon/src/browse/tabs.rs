//! Tabs of `vip serve`: opening one in its identity (the page loads
//! without holding up other requests), listing them with what the browser
//! knows now (URL, blocked requests, crashes), and closing them. Each
//! open, close and navigation is a `tab-update` event.

use serde_json::json;
use vip_api::{ApiError, OpenTab, Tab, Topic};

use super::{Browsing, Inner, Key, LOAD_WAIT, Live, LiveTab, internal};

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
    /// A `tab-update` event; remembers or forgets the tab's URL.
    fn tab_event(&self, action: &str, id: i64, tab: Option<&Tab>) {
        if let Ok(mut urls) = self.urls.lock() {
            match tab {
                Some(t) => urls.insert(id, t.url.clone()),
                None => urls.remove(&id),
            };
        }
        self.events.publish(
            Topic::TabUpdate,
            json!({ "action": action, "id": id, "tab": tab }),
        );
    }

    /// Tabs whose URL changed since last time are `navigated` events; when
    /// a window holds other tabs than we know (a person opened or closed
    /// one there), the tabs are listed again, which reports them.
    pub(crate) async fn note_navigations(&self) {
        let (now, stale): (Vec<(i64, Tab)>, bool) = {
            let inner = self.inner.lock().await;
            let stale = inner.identities.iter().any(|(key, live)| {
                let known = inner.tabs.values().filter(|t| &t.key == key).count();
                let there = live
                    .browser
                    .tabs()
                    .iter()
                    .filter(|(_, info)| info.context == live.context)
                    .count();
                live.opening == 0 && live.browser.is_alive() && known != there
            });
            let now = inner
                .tabs
                .iter()
                .filter_map(|(id, t)| {
                    let live = inner.identities.get(&t.key)?;
                    Some((*id, self.view(*id, t, live)))
                })
                .collect();
            (now, stale)
        };
        if stale {
            self.list().await;
        }
        let moved: Vec<(i64, Tab)> = match self.urls.lock() {
            Ok(urls) => now
                .into_iter()
                .filter(|(id, t)| urls.get(id).is_some_and(|u| *u != t.url))
                .collect(),
            Err(_) => return,
        };
        for (id, tab) in moved {
            self.tab_event("navigated", id, Some(&tab));
        }
    }

    pub(super) fn view(&self, id: i64, tab: &LiveTab, live: &Live) -> Tab {
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

    /// Notes the origins a live identity's tabs have shown.
    pub(super) fn note_origins(inner: &mut Inner) {
        for live in inner.identities.values_mut() {
            let seen = live.browser.visited_origins(&live.context);
            live.origins.extend(seen);
        }
    }

    pub(super) async fn open(&self, req: OpenTab) -> Result<Tab, ApiError> {
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
        let (name, url) = (req.identity.clone(), req.url.clone());
        let id = self
            .on_store(move |s| s.insert_tab(name.as_deref(), &url, &spec_json, proxy))
            .await?
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
        let view = self.view(id, tab, &inner.identities[&key]);
        self.tab_event("opened", id, Some(&view));
        Ok(view)
    }

    /// Tabs a person opened inside an identity's window (the new-tab
    /// button, Ctrl+T, a link with `target=_blank`, `window.open`) or a
    /// DevTools client made in its context are tabs of that identity:
    /// listed, saved with sessions, closed with it. The browser protected
    /// them before their first script (they are attached paused).
    async fn adopt(&self, inner: &mut Inner) {
        let known: std::collections::HashSet<_> =
            inner.tabs.values().map(|t| t.target.clone()).collect();
        let mut found = Vec::new();
        for (key, live) in &inner.identities {
            // A tab being opened is not listed yet, and not foreign.
            if live.opening > 0 {
                continue;
            }
            for (target, info) in live.browser.tabs() {
                if info.context == live.context && !known.contains(&target) {
                    let spec = serde_json::to_string(&live.spec).unwrap_or_default();
                    found.push((key.clone(), target, info.url, spec, live.proxy));
                }
            }
        }
        for (key, target, url, spec, proxy) in found {
            let name = match &key {
                Key::Named(n) => Some(n.clone()),
                Key::Anonymous(_) => None,
            };
            let stored = self
                .on_store(move |s| s.insert_tab(name.as_deref(), &url, &spec, proxy))
                .await;
            if let Ok(Ok(id)) = stored {
                tracing::info!(tab = id, "a tab opened in an identity's window joins it");
                inner.tabs.insert(id, LiveTab { key, target });
                if let Some(view) = inner
                    .tabs
                    .get(&id)
                    .and_then(|t| Some(self.view(id, t, inner.identities.get(&t.key)?)))
                {
                    self.tab_event("opened", id, Some(&view));
                }
            }
        }
    }

    pub(super) async fn list(&self) -> Vec<Tab> {
        let mut inner = self.inner.lock().await;
        Self::note_origins(&mut inner);
        self.adopt(&mut inner).await;
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
                self.tab_event("closed", id, None);
                let _ = self.on_store(move |s| s.close_tabs(Some(id))).await;
                self.retire_if_unused(&mut inner, &tab.key).await;
            }
        }
        let views: Vec<Tab> = inner
            .tabs
            .iter()
            .filter_map(|(id, t)| inner.identities.get(&t.key).map(|l| self.view(*id, t, l)))
            .collect();
        let seen: Vec<(i64, String, u64)> = views
            .iter()
            .map(|v| (v.id, v.url.clone(), v.blocked))
            .collect();
        let _ = self
            .on_store(move |s| {
                for (id, url, blocked) in seen {
                    let _ = s.update_tab(id, &url, blocked);
                }
            })
            .await;
        views
    }

    pub(super) async fn close(&self, id: i64) -> Result<(), ApiError> {
        let mut inner = self.inner.lock().await;
        Self::note_origins(&mut inner);
        let tab = inner.tabs.remove(&id).ok_or_else(|| {
            ApiError::not_found(format!("tab {id} is not open: see `vip tab list`"))
        })?;
        if let Some(live) = inner.identities.get(&tab.key) {
            if let Some(info) = live.browser.tab(&tab.target) {
                let _ = self
                    .on_store(move |s| s.update_tab(id, &info.url, info.blocked))
                    .await;
            }
            let _ = live.browser.close_tab(&tab.target).await;
        }
        self.tab_event("closed", id, None);
        self.on_store(move |s| s.close_tabs(Some(id)))
            .await?
            .map_err(internal)?;
        self.retire_if_unused(&mut inner, &tab.key).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    pub(super) fn urls() {
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
            assert_eq!(err.status, 422);
        }
    }
}
