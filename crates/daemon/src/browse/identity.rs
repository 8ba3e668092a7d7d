//! Identities of `vip serve`: resolving a tab request to a live identity
//! (an existing one, a stored named one brought back with its storage, a new
//! named one stored under the vault, or a fresh unnamed one), and retiring
//! one when its last tab closes (a named one's storage saved first).

use std::collections::BTreeSet;

use vip_api::{ApiError, AssignmentSpec, OpenTab};
use vip_browser::{IdentitySetup, Profile, WebRtcPolicy};
use vip_gateway::ListenerSpec;
use vip_store::vault::Vault;

use super::exit::GeoPolicy;
use super::{Browsing, Inner, Key, Live, assign, internal, name_of, random_seed};

fn vault_locked() -> ApiError {
    ApiError::unavailable(
        "named identities keep their seed and cookies in the vault, which is locked: \
         run `vip vault init` once, then start vip serve with the master password \
         (VIP_MASTER_PASSWORD, the keychain, or the prompt)",
    )
}

impl Browsing {
    pub(super) fn release(&self, live: &Live) {
        live.listener.close();
        let tab = live.engine_tab;
        self.labels.remove(tab);
        self.gateway.with_engine(|e| e.forget_tab(tab));
    }

    /// The vault named identities are sealed with (unlocked again when it
    /// was made after the daemon started).
    pub(super) async fn vault(&self) -> Result<std::sync::Arc<Vault>, ApiError> {
        let credentials = self.credentials.clone();
        self.on_store(move |s| credentials.current_vault(s))
            .await?
            .ok_or_else(vault_locked)
    }

    /// Stores a new named identity (after checking its assignment).
    pub(super) async fn create_named(
        &self,
        name: &str,
        spec: &AssignmentSpec,
        policy: WebRtcPolicy,
        geo: Option<GeoPolicy>,
    ) -> Result<([u8; 32], i64), ApiError> {
        let vault = self.vault().await?;
        // Refuse a bad assignment before storing anything.
        self.resolve(spec).await?;
        let seed = random_seed()?;
        let json = serde_json::to_string(spec).map_err(internal)?;
        let name = name.to_string();
        let created = self
            .on_store(move |s| {
                let id = s.create_identity(&vault, &name, &seed, &json, policy.as_str())?;
                if let Some(g) = geo {
                    s.set_identity_geo(id, Some(g.as_str()))?;
                }
                Ok::<_, vip_store::StoreError>(id)
            })
            .await?;
        let id = created.map_err(|e| match e {
            // The name is taken: a conflict with what exists, not bad input.
            vip_store::StoreError::Invalid { .. } if e.to_string().contains("already exists") => {
                ApiError::conflict(format!("{e}: see `vip identity list`"))
            }
            vip_store::StoreError::Invalid { .. } => ApiError::invalid(e.to_string()),
            e => internal(e),
        })?;
        Ok((seed, id))
    }

    /// What `spec` means now (it reads the store off the async workers).
    pub(super) async fn resolve(
        &self,
        spec: &AssignmentSpec,
    ) -> Result<assign::Resolved, ApiError> {
        let (spec, gateway) = (spec.clone(), self.gateway.clone());
        self.on_store(move |s| assign::resolve(&spec, s, &gateway))
            .await?
    }

    /// The live identity for a request, made (or brought back) if needed.
    pub(super) async fn identity(&self, inner: &mut Inner, req: &OpenTab) -> Result<Key, ApiError> {
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
        let asked_geo = super::exit::requested(req.geo.as_deref())?;
        // Seed, assignment and storage: stored (named), new (named), or fresh.
        let (seed, spec, webrtc, record, storage, geo) = match &key {
            Key::Named(name) => {
                let vault = self.vault().await?;
                let wanted = name.clone();
                let found = self
                    .on_store(move |s| s.get_identity(&vault, &wanted))
                    .await?
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
                        let geo = r.geo_policy.as_deref().and_then(GeoPolicy::parse);
                        if asked_geo.is_some() && asked_geo != geo {
                            return Err(ApiError::conflict(format!(
                                "identity {name} has geo policy {}: drop --geo or use another identity",
                                geo.map_or("default", GeoPolicy::as_str)
                            )));
                        }
                        (seed, spec, policy, Some(r.id), storage, geo)
                    }
                    None => {
                        let Some(spec) = req.assignment.clone() else {
                            return Err(ApiError::not_found(format!(
                                "identity {name} does not exist: create it with `vip identity create {name}` \
                                 or give an assignment (--proxy, --group, --country, --rotation, --direct)"
                            )));
                        };
                        let policy = webrtc.unwrap_or_default();
                        let (seed, id) = self.create_named(name, &spec, policy, asked_geo).await?;
                        (seed, spec, policy, Some(id), None, asked_geo)
                    }
                }
            }
            Key::Anonymous(_) => (
                random_seed()?,
                req.assignment.clone().unwrap_or_default(),
                webrtc.unwrap_or_default(),
                None,
                None,
                asked_geo,
            ),
        };
        inner.counter += 1;
        let mut resolved = self.resolve(&spec).await?;
        let mut zone = None;
        // Rotating identities follow where their proxies were last
        // measured to exit, unless the policy says configured.
        let policy = geo.unwrap_or(self.options.exit.policy);
        if policy != GeoPolicy::Configured && resolved.measured.is_some() {
            resolved.country = resolved.measured.take();
        }
        if let Some(proxy) = resolved.proxy {
            let exit = self
                .exit_country(proxy, resolved.country.take(), geo)
                .await?;
            resolved.country = exit.country;
            zone = exit.zone;
        }
        let browser = self.browser(inner, webrtc).await?;
        let listener = self
            .gateway
            .listen(
                "127.0.0.1:0".parse().map_err(internal)?,
                ListenerSpec {
                    assignment: resolved.assignment.clone(),
                    tab: Some(vip_engine::TabId(inner.counter)),
                    auth: None,
                    budget: None,
                },
            )
            .await
            .map_err(internal)?;
        let mut profile = Profile::new(seed, resolved.country.as_deref(), webrtc);
        if let Some(zone) = zone {
            profile.locale.timezone = zone;
        }
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
            tracing::warn!(identity = %name_of(&key), "restoring the identity's storage: {e}");
        }
        self.labels
            .set(vip_engine::TabId(inner.counter), name_of(&key));
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
                engine_tab: vip_engine::TabId(inner.counter),
                record,
                origins: BTreeSet::new(),
                restored: storage,
                opening: 0,
            },
        );
        Ok(key)
    }

    /// Saves a named identity's storage (sealed); unnamed ones keep nothing.
    pub(super) async fn save_storage(&self, live: &mut Live) -> Result<(), ApiError> {
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
        let vault = self.vault().await?;
        self.on_store(move |s| s.save_identity_storage(&vault, record, &bytes))
            .await?
            .map_err(internal)?;
        live.restored = Some(storage);
        Ok(())
    }

    /// Drops an identity with no tabs left (saving a named one's storage).
    pub(super) async fn retire_if_unused(&self, inner: &mut Inner, key: &Key) {
        let opening = inner.identities.get(key).is_some_and(|l| l.opening > 0);
        if opening || inner.tabs.values().any(|t| &t.key == key) {
            return;
        }
        let Some(mut live) = inner.identities.remove(key) else {
            return;
        };
        if let Err(e) = self.save_storage(&mut live).await {
            tracing::warn!(identity = %name_of(key), "saving the identity's storage: {e}");
        }
        let _ = live.browser.dispose_context(&live.context).await;
        self.release(&live);
    }
}
