//! A named identity's cookies in and out as files (Netscape `cookies.txt`
//! or JSON, `vip_browser::cookies`): from and into its browser context
//! while it has tabs open, else from and into its stored storage (sealed
//! by the vault), so nothing is lost when it next opens.

use serde_json::{Value, json};
use vip_api::{ApiError, CookieFile, CookieReport, CookieUpload};
use vip_browser::cookies::{self, CookieFormat, CookieVerdict};

use super::{Browsing, Key, internal};

fn no_such(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "identity {name} does not exist: see `vip identity list`"
    ))
}

/// Puts `new` into `list`, replacing cookies of the same name, domain
/// and path.
fn merge(list: &mut Vec<Value>, new: Vec<Value>) {
    let key = |c: &Value| (c["name"].clone(), c["domain"].clone(), c["path"].clone());
    for c in new {
        list.retain(|old| key(old) != key(&c));
        list.push(c);
    }
}

impl Browsing {
    /// The identity's cookies (DevTools' shape).
    async fn cookie_list(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        {
            let inner = self.inner.lock().await;
            if let Some(live) = inner.identities.get(&Key::Named(name.to_string())) {
                let list = live.browser.cookies(&live.context).await;
                let list = list.map_err(|e| ApiError::unavailable(e.to_string()))?;
                return Ok(list.as_array().cloned().unwrap_or_default());
            }
        }
        let vault = self.vault().await?;
        let wanted = name.to_string();
        let record = self
            .on_store(move |s| s.get_identity(&vault, &wanted))
            .await?
            .map_err(internal)?
            .ok_or_else(|| no_such(name))?;
        let storage: Value = match &record.storage {
            Some(bytes) => serde_json::from_slice(bytes).map_err(internal)?,
            None => json!({}),
        };
        Ok(storage["cookies"].as_array().cloned().unwrap_or_default())
    }

    /// `GET /api/v1/identities/{name}/cookies`.
    pub(crate) async fn export_cookies(
        &self,
        name: String,
        format: String,
    ) -> Result<CookieFile, ApiError> {
        let kind = CookieFormat::parse(&format)
            .ok_or_else(|| ApiError::invalid(format!("format {format:?}: use netscape or json")))?;
        let list = self.cookie_list(&name).await?;
        Ok(CookieFile {
            format: format!("{kind:?}").to_lowercase(),
            count: list.len(),
            text: cookies::render(&list, kind),
        })
    }

    /// `POST /api/v1/identities/{name}/cookies`: parses the file and adds what
    /// it holds; nothing is stored when the file is neither format.
    pub(crate) async fn import_cookies(
        &self,
        name: String,
        upload: CookieUpload,
    ) -> Result<CookieReport, ApiError> {
        let now = vip_store::now_ms() as f64 / 1000.0;
        let parsed =
            cookies::parse(&upload.text, now).map_err(|e| ApiError::invalid(e.to_string()))?;
        let count = |f: fn(&CookieVerdict) -> bool| parsed.verdicts.iter().filter(|v| f(v)).count();
        let report = CookieReport {
            format: format!("{:?}", parsed.format).to_lowercase(),
            imported: count(|v| matches!(v, CookieVerdict::Imported { .. })),
            expired: count(|v| matches!(v, CookieVerdict::Expired { .. })),
            invalid: count(|v| matches!(v, CookieVerdict::Invalid { .. })),
            verdicts: parsed
                .verdicts
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
                .collect(),
        };
        {
            let inner = self.inner.lock().await;
            if let Some(live) = inner.identities.get(&Key::Named(name.clone())) {
                let set = live
                    .browser
                    .set_cookies(&live.context, &Value::Array(parsed.cookies))
                    .await;
                set.map_err(|e| ApiError::unavailable(e.to_string()))?;
                return Ok(report);
            }
        }
        let vault = self.vault().await?;
        let wanted = name.clone();
        let new = parsed.cookies;
        let stored = self
            .on_store(move |s| {
                let Some(record) = s.get_identity(&vault, &wanted)? else {
                    return Ok(false);
                };
                let mut storage: Value = match &record.storage {
                    Some(bytes) => serde_json::from_slice(bytes).unwrap_or_else(|_| json!({})),
                    None => json!({}),
                };
                let mut list = storage["cookies"].as_array().cloned().unwrap_or_default();
                merge(&mut list, new);
                storage["cookies"] = Value::Array(list);
                let bytes =
                    zeroize::Zeroizing::new(serde_json::to_vec(&storage).unwrap_or_default());
                s.save_identity_storage(&vault, record.id, &bytes)?;
                Ok::<_, vip_store::StoreError>(true)
            })
            .await?
            .map_err(internal)?;
        if !stored {
            return Err(no_such(&name));
        }
        Ok(report)
    }
}
