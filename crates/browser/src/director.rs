//! The event side of the browser: sets up every attached target of our
//! contexts before it runs, judges every request of their pages (tracker
//! blocking by full URL, type and first-party context), and tracks tabs
//! (URL, loads, crashes, closes). Targets of other contexts run untouched.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::browser::{Kind, SessionState, Shared, TabState, WorkerSetup};
use crate::cdp::{Cdp, Event};

/// Runs until the browser's connection ends.
pub(crate) async fn run(cdp: Cdp, shared: Arc<Shared>, mut events: mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = events.recv().await {
        match event.method.as_str() {
            "Target.attachedToTarget" => attached(&cdp, &shared, &event),
            "Target.detachedFromTarget" => {
                if let Some(s) = event.params["sessionId"].as_str() {
                    let mut state = shared.state();
                    state.sessions.remove(s);
                    state.workers.retain(|_, by| by.session != s);
                }
            }
            "Target.targetDestroyed" => {
                // A closed tab is forgotten (waiters see it as done).
                let id = event.params["targetId"].as_str().unwrap_or_default();
                shared.state().workers.remove(id);
                let known = shared.state().tabs.remove(id).is_some();
                if known {
                    shared.bump();
                }
            }
            "Target.targetCrashed" => tab_update(&shared, &event.params["targetId"], |t| {
                t.crashed = true;
            }),
            "Inspector.targetCrashed" => {
                let tab = session_tab(&shared, event.session.as_deref());
                tab_update(&shared, &json!(tab), |t| t.crashed = true);
            }
            "Page.loadEventFired" => {
                let tab = session_tab(&shared, event.session.as_deref());
                tab_update(&shared, &json!(tab), |t| t.loads += 1);
            }
            "Page.frameNavigated" => {
                let frame = &event.params["frame"];
                if frame.get("parentId").is_none() {
                    let tab = session_tab(&shared, event.session.as_deref());
                    let url = frame["url"].as_str().unwrap_or_default().to_string();
                    note_origin(&shared, event.session.as_deref(), &url);
                    tab_update(&shared, &json!(tab), |t| t.url = url);
                }
            }
            "Fetch.requestPaused" => paused(&cdp, &shared, event),
            _ => {}
        }
    }
    shared.alive.store(false, Ordering::Release);
    {
        let mut state = shared.state();
        for tab in state.tabs.values_mut() {
            tab.crashed = true;
        }
    }
    shared.bump();
}

/// Remembers the origin a top-level document of an identity came from (its
/// storage is what a named identity keeps).
fn note_origin(shared: &Shared, session: Option<&str>, url: &str) {
    let Some(origin) = crate::storage::origin_of(url) else {
        return;
    };
    let mut state = shared.state();
    let context = session
        .and_then(|s| state.sessions.get(s))
        .map(|s| s.context.clone());
    if let Some(c) = context.and_then(|c| state.contexts.get_mut(&c)) {
        c.origins.insert(origin);
    }
}

fn session_tab(shared: &Shared, session: Option<&str>) -> Option<String> {
    let state = shared.state();
    session
        .and_then(|s| state.sessions.get(s))
        .and_then(|s| s.tab.clone())
}

fn tab_update(shared: &Shared, target: &Value, f: impl FnOnce(&mut TabState)) {
    let Some(id) = target.as_str() else { return };
    let found = shared.state().tabs.get_mut(id).map(f).is_some();
    if found {
        shared.bump();
    }
}

/// A new target (tab, frame, worker) is attached and paused.
fn attached(cdp: &Cdp, shared: &Arc<Shared>, event: &Event) {
    let p = &event.params;
    let session = p["sessionId"].as_str().unwrap_or_default().to_string();
    let info = &p["targetInfo"];
    let target = info["targetId"].as_str().unwrap_or_default().to_string();
    let kind = match info["type"].as_str().unwrap_or_default() {
        "page" => Some(Kind::Page),
        "iframe" => Some(Kind::Frame),
        "worker" | "shared_worker" | "service_worker" => Some(Kind::Worker),
        _ => None,
    };
    let parent = event.session.as_deref();
    let (context, tab) = {
        let mut state = shared.state();
        let context = info["browserContextId"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                parent
                    .and_then(|s| state.sessions.get(s))
                    .map(|s| s.context.clone())
            });
        let tab = match kind {
            Some(Kind::Page) => Some(target.clone()),
            _ => parent
                .and_then(|s| state.sessions.get(s))
                .and_then(|s| s.tab.clone()),
        };
        // A service worker a page starts is attached twice, to the browser
        // and to the page; any worker is set up by its first session, the
        // other lets it go once that is done.
        if kind == Some(Kind::Worker) {
            if let Some(first) = state.workers.get_mut(&target) {
                if first.ready {
                    cdp.fire(Some(&session), "Runtime.runIfWaitingForDebugger", json!({}));
                } else {
                    first.held.push(session);
                }
                return;
            }
            state.workers.insert(
                target.clone(),
                WorkerSetup {
                    session: session.clone(),
                    ..WorkerSetup::default()
                },
            );
        }
        match (context, kind.clone()) {
            (Some(c), Some(k)) if state.contexts.contains_key(&c) => {
                state.sessions.insert(
                    session.clone(),
                    SessionState {
                        context: c.clone(),
                        tab: tab.clone(),
                        kind: k,
                    },
                );
                if kind == Some(Kind::Page) {
                    let t = state
                        .tabs
                        .entry(target.clone())
                        .or_insert_with(|| TabState {
                            context: c.clone(),
                            ..TabState::default()
                        });
                    t.session = Some(session.clone());
                    t.url = info["url"].as_str().unwrap_or_default().to_string();
                }
                (Some(c), tab)
            }
            _ => (None, None),
        }
    };
    let Some(context) = context else {
        // A page outside every identity (a DevTools client's, an incognito
        // window's) is closed before it runs: it would have no proxy and no
        // protection. The browser's own pages, and anything that is not a
        // page (or a worker's second session), run.
        let raw = info["browserContextId"].as_str().unwrap_or_default();
        let own = shared.state().internal.contains(raw);
        if kind == Some(Kind::Page) && !own {
            tracing::warn!(
                "a page was opened outside every identity and is closed: open tabs with `vip tab open`"
            );
            cdp.fire(None, "Target.closeTarget", json!({"targetId": target}));
            return;
        }
        cdp.fire(Some(&session), "Runtime.runIfWaitingForDebugger", json!({}));
        release(cdp, shared, &target);
        return;
    };
    let (cdp, shared) = (cdp.clone(), shared.clone());
    tokio::spawn(async move {
        let page = kind == Some(Kind::Page);
        prepare(&cdp, &shared, &session, &context, kind).await;
        release(&cdp, &shared, &target);
        if page {
            tab_update(&shared, &json!(tab), |t| t.ready = true);
        }
        shared.bump();
    });
}

/// A worker's first session has set it up: its other sessions may let it
/// run too.
fn release(cdp: &Cdp, shared: &Shared, target: &str) {
    let held = match shared.state().workers.get_mut(target) {
        Some(w) => {
            w.ready = true;
            std::mem::take(&mut w.held)
        }
        None => return,
    };
    for session in held {
        cdp.fire(Some(&session), "Runtime.runIfWaitingForDebugger", json!({}));
    }
}

/// Overrides and protection for one paused target, which then runs.
/// Errors are ignored per command: not every target type supports every
/// domain.
async fn prepare(cdp: &Cdp, shared: &Shared, session: &str, context: &str, kind: Option<Kind>) {
    let Some(setup) = shared
        .state()
        .contexts
        .get(context)
        .map(|c| c.setup.clone())
    else {
        cdp.fire(Some(session), "Runtime.runIfWaitingForDebugger", json!({}));
        return;
    };
    let facts = shared.facts.lock().map(|f| f.clone()).unwrap_or_default();
    let profile = &setup.profile;
    let ua = profile.user_agent_override(&facts);
    let is_worker = kind == Some(Kind::Worker);
    let cores = json!({"hardwareConcurrency": profile.hardware_concurrency});
    let mut commands: Vec<(&str, Value)> = vec![(
        "Target.setAutoAttach",
        json!({"autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true}),
    )];
    if is_worker {
        commands.push(("Network.setUserAgentOverride", ua));
    } else {
        commands.extend([
            ("Page.enable", json!({})),
            ("Emulation.setUserAgentOverride", ua),
            (
                "Emulation.setTimezoneOverride",
                json!({"timezoneId": profile.locale.timezone}),
            ),
            (
                "Emulation.setLocaleOverride",
                json!({"locale": profile.locale.locale}),
            ),
        ]);
    }
    if setup.protect {
        commands.push(("Emulation.setHardwareConcurrencyOverride", cores));
    }
    if setup.blocklist.is_some() {
        commands.push((
            "Fetch.enable",
            json!({"patterns": [{"urlPattern": "*", "requestStage": "Request"}]}),
        ));
    }
    if setup.protect {
        let source = profile.script(&facts);
        commands.push(if is_worker {
            ("Runtime.evaluate", json!({"expression": source}))
        } else {
            (
                "Page.addScriptToEvaluateOnNewDocument",
                json!({"source": source}),
            )
        });
    }
    let run = ("Runtime.runIfWaitingForDebugger", json!({}));
    if is_worker {
        // A worker's commands that the browser answers (interception,
        // auto-attach) are waited for; the rest (its network agent too)
        // run on the worker's own thread, which takes them in order before
        // its script once let go, and answers nothing until then (a service
        // worker, attached twice, waits for both sessions): they are sent
        // with the go-ahead behind them, not waited for.
        let on_thread = |m: &str| {
            ["Runtime.", "Emulation.", "Network."]
                .iter()
                .any(|d| m.starts_with(d))
        };
        let (later, now): (Vec<_>, Vec<_>) = commands.into_iter().partition(|(m, _)| on_thread(m));
        if setup.blocklist.is_some() {
            let _ = cdp.call_all_in(Some(session), now).await;
        } else {
            send_in_order(cdp, session, now);
        }
        send_in_order(cdp, session, later);
        cdp.fire(Some(session), run.0, run.1);
        return;
    }
    // All sent at once, in this order (Chromium runs a session's commands
    // in the order they arrive), and waited for together: one round trip
    // instead of one per command before the target may run.
    let _ = cdp.call_all_in(Some(session), commands).await;
    cdp.fire(Some(session), run.0, run.1);
}

/// Sends `commands` on `session` in order, without waiting for replies.
fn send_in_order(cdp: &Cdp, session: &str, commands: Vec<(&str, Value)>) {
    for (method, params) in commands {
        cdp.fire(Some(session), method, params);
    }
}

/// adblock's request type for a CDP resource type.
fn request_type(resource: &str, main_frame: bool) -> &'static str {
    match resource {
        "Document" if main_frame => "main_frame",
        "Document" => "sub_frame",
        "Stylesheet" => "stylesheet",
        "Image" => "image",
        "Media" => "media",
        "Font" => "font",
        "Script" => "script",
        "XHR" | "Fetch" | "EventSource" => "xmlhttprequest",
        "Ping" | "CSPViolationReport" => "ping",
        "WebSocket" => "websocket",
        "Manifest" => "web_manifest",
        _ => "other",
    }
}

/// A request of one of our pages is paused before it leaves.
fn paused(cdp: &Cdp, shared: &Arc<Shared>, event: Event) {
    let p = &event.params;
    let id = p["requestId"].as_str().unwrap_or_default().to_string();
    let url = p["request"]["url"].as_str().unwrap_or_default().to_string();
    let resource = p["resourceType"].as_str().unwrap_or_default();
    let session = event.session.unwrap_or_default();
    let (setup, tab, page_url, main_frame) = {
        let state = shared.state();
        let Some(s) = state.sessions.get(&session) else {
            drop(state);
            cdp.fire(
                Some(&session),
                "Fetch.continueRequest",
                json!({"requestId": id}),
            );
            return;
        };
        let tab_state = s.tab.as_ref().and_then(|t| state.tabs.get(t));
        if tab_state.and_then(|t| t.fulfil.as_deref()) == Some(url.as_str()) {
            drop(state);
            cdp.fire(
                Some(&session),
                "Fetch.fulfillRequest",
                json!({"requestId": id, "responseCode": 200,
                       "responseHeaders": [{"name": "Content-Type", "value": "text/html"}],
                       "body": ""}),
            );
            return;
        }
        let setup = state.contexts.get(&s.context).map(|c| c.setup.clone());
        let page_url = s
            .tab
            .as_ref()
            .and_then(|t| state.tabs.get(t))
            .map(|t| t.url.clone())
            .unwrap_or_default();
        let main_frame = resource == "Document"
            && s.kind == Kind::Page
            && p["frameId"].as_str() == s.tab.as_deref();
        (setup, s.tab.clone(), page_url, main_frame)
    };
    let Some(setup) = setup else {
        cdp.fire(
            Some(&session),
            "Fetch.continueRequest",
            json!({"requestId": id}),
        );
        return;
    };
    if !main_frame && let Some(list) = &setup.blocklist {
        let source = if page_url.starts_with("http") {
            &page_url
        } else {
            &url
        };
        if list.check_request(&url, source, request_type(resource, false))
            == vip_privacy::Verdict::Block
        {
            cdp.fire(
                Some(&session),
                "Fetch.failRequest",
                json!({"requestId": id, "errorReason": "BlockedByClient"}),
            );
            tab_update(shared, &json!(tab), |t| t.blocked += 1);
            return;
        }
    }
    cdp.fire(
        Some(&session),
        "Fetch.continueRequest",
        json!({"requestId": id}),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_types() {
        assert_eq!(request_type("Document", false), "sub_frame");
        assert_eq!(request_type("Fetch", false), "xmlhttprequest");
    }
}
