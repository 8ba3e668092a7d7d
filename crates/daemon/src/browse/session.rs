//! Saved sessions: the open tabs with their URLs, identities, assignments
//! and WebRTC policies, as JSON in the `sessions` table. Unnamed identities
//! are saved by key, so tabs that shared one share one again after a load
//! (a fresh one: unnamed identities keep nothing).

use serde::{Deserialize, Serialize};
use vip_api::{ApiError, AssignmentSpec, OpenTab, SessionInfo, Tab};
use vip_store::{Store, StoreError};

#[derive(Serialize, Deserialize)]
struct Saved {
    url: String,
    identity: Option<String>,
    anonymous: Option<String>,
    assignment: AssignmentSpec,
    webrtc: String,
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { .. } => ApiError::not_found(format!("{e}: see `vip session list`")),
        StoreError::Invalid { .. } => ApiError::invalid(e.to_string()),
        e => super::internal(e),
    }
}

/// Saves `tabs` as session `name` (replacing one of that name).
pub fn save(store: &Store, name: &str, tabs: &[Tab]) -> Result<SessionInfo, ApiError> {
    let saved: Vec<Saved> = tabs
        .iter()
        .map(|t| Saved {
            url: t.url.clone(),
            identity: t.identity.clone(),
            anonymous: t.anonymous.clone(),
            assignment: t.assignment.clone(),
            webrtc: t.webrtc.clone(),
        })
        .collect();
    let json = serde_json::to_string(&saved).map_err(super::internal)?;
    store.save_session(name, &json).map_err(store_error)?;
    Ok(SessionInfo {
        name: name.to_string(),
        tabs: saved.len(),
        saved_at: vip_store::now_ms(),
    })
}

/// The tab requests that restore session `name`.
pub fn load(store: &Store, name: &str) -> Result<Vec<OpenTab>, ApiError> {
    let json = store.load_session(name).map_err(store_error)?;
    let saved: Vec<Saved> = serde_json::from_str(&json)
        .map_err(|e| super::internal(format!("session {name} is unreadable: {e}")))?;
    // A new key per load, so a session loaded twice makes two identities.
    let load_id = vip_store::now_ms();
    Ok(saved
        .into_iter()
        .map(|s| OpenTab {
            geo: None,
            url: s.url,
            assignment: Some(s.assignment),
            webrtc: Some(s.webrtc),
            shared_with: s
                .anonymous
                .filter(|_| s.identity.is_none())
                .map(|a| format!("{name}@{load_id}/{a}")),
            identity: s.identity,
        })
        .collect())
}

/// Every saved session.
pub fn list(store: &Store) -> Result<Vec<SessionInfo>, ApiError> {
    Ok(store
        .list_sessions()
        .map_err(store_error)?
        .into_iter()
        .map(|(name, tabs, saved_at)| SessionInfo {
            name,
            tabs: serde_json::from_str::<Vec<serde_json::Value>>(&tabs).map_or(0, |v| v.len()),
            saved_at,
        })
        .collect())
}
