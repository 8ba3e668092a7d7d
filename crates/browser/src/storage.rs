//! An identity's storage as one JSON value: its cookies (from Chromium's
//! cookie store) and, per origin, localStorage and IndexedDB (read and
//! written by `storage.js` in a hidden page of that origin). This is what a
//! named identity keeps, sealed by the vault, across `vip serve` restarts.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::{Browser, BrowserError, ContextId};

const SCRIPT: &str = include_str!("storage.js");

/// The origin (`scheme://host[:port]`) of an http(s) URL.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

impl Browser {
    /// Exports a context's cookies and the local storage of `origins`,
    /// keeping `previous` entries of origins not visited now.
    pub async fn export_storage(
        &self,
        context: &ContextId,
        origins: &BTreeSet<String>,
        previous: Option<&Value>,
    ) -> Result<Value, BrowserError> {
        let cookies = self.cookies(context).await?;
        let mut saved = previous
            .and_then(|p| p.get("origins"))
            .cloned()
            .unwrap_or_else(|| json!({}));
        for origin in origins {
            let script = SCRIPT
                .replace("__VIP_MODE__", "\"export\"")
                .replace("__VIP_DATA__", "null");
            let data = self.at_origin(context, origin, &script).await?;
            saved[origin] = data;
        }
        Ok(json!({"cookies": cookies, "origins": saved}))
    }

    /// Restores what [`Browser::export_storage`] returned into a context.
    pub async fn import_storage(
        &self,
        context: &ContextId,
        storage: &Value,
    ) -> Result<(), BrowserError> {
        self.set_cookies(context, &storage["cookies"]).await?;
        if let Some(origins) = storage["origins"].as_object() {
            for (origin, data) in origins {
                let empty = data["localStorage"]
                    .as_object()
                    .is_none_or(|m| m.is_empty())
                    && data["indexedDB"].as_array().is_none_or(|a| a.is_empty());
                if empty || origin_of(origin).as_deref() != Some(origin.as_str()) {
                    continue;
                }
                let script = SCRIPT
                    .replace("__VIP_MODE__", "\"import\"")
                    .replace("__VIP_DATA__", &data.to_string());
                self.at_origin(context, origin, &script).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("http://User@A.test:8080/x?y"),
            Some("http://a.test:8080".into())
        );
        assert_eq!(origin_of("https://a.test"), Some("https://a.test".into()));
        assert_eq!(origin_of("about:blank"), None);
        assert_eq!(origin_of("file:///etc/passwd"), None);
    }
}
