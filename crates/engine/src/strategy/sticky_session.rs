//! Sticky sessions: the same proxy for a domain for a while. The key is the
//! registrable domain (public suffix list) or the exact host. Fixed pattern
//! mappings (`example.com`, `*.example.com`) come first; otherwise a learned
//! mapping lives for `ttl` (sliding or fixed). New keys go to their proxy on a
//! consistent-hash ring, so adding one proxy to n remaps about 1/(n+1) of new
//! keys and a dead proxy's keys spread over the rest. A mapping whose proxy
//! became unusable is remapped (a `failure` event); expired ones are swept
//! (`ttl_expired` events). Fallbacks are the next proxies clockwise.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{BuildCtx, PickCtx};
use crate::config::{Expiry, StickyConfig, StickyKey};
use crate::events::{RotationEvent, RotationKey, RotationReason};
use crate::health::ProxyView;
use crate::ids::{ConfigId, ProxyId};
use crate::index::{AvailSet, HashRing, Members, stable_hash};
use crate::pool::{PoolSnapshot, Slot};
use crate::proxy::CountryCode;
use crate::request::StickyOutcome;
use crate::time::Timestamp;

/// The part of the pool a sticky mapping was learned in: the group and
/// country of the strategy instance that made it. A rotation's base scope
/// is its target group (or the whole pool) with no country; a request
/// asking for a country, or a rule naming a group, narrows it. A mapping
/// is restored into the scope it came from, so a domain can map to one
/// proxy for requests from Germany and another for the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StickyScope {
    /// Group name, or none for every group.
    pub group: Option<String>,
    /// Exit country, or none for any.
    pub country: Option<CountryCode>,
}

/// One learned sticky mapping, as persisted in `sticky_session_mappings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StickyMapping {
    /// The scope it was learned in (filled in when the engine hands
    /// mappings out; ignored inside a strategy instance).
    #[serde(default)]
    pub scope: StickyScope,
    /// Host or registrable domain.
    pub key: String,
    /// The proxy it is mapped to.
    pub proxy: ProxyId,
    /// When the mapping was made.
    pub created: Timestamp,
    /// When it ends.
    pub expires: Timestamp,
    /// Selections served by it.
    pub uses: u64,
}

/// Checks a fixed mapping pattern: `host.name` or `*.host.name`.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), crate::config::Problem> {
    let rest = pattern.strip_prefix("*.").unwrap_or(pattern);
    let ok = !rest.is_empty()
        && !rest.starts_with('.')
        && !rest.ends_with('.')
        && !rest.contains("..")
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{pattern:?} is not a domain pattern: use \"example.com\" or \"*.example.com\""
        )
        .into())
    }
}

#[derive(Clone)]
pub(crate) struct StickySession {
    config: StickyConfig,
    set: AvailSet,
    cursor: usize,
    ring: HashRing,
    pins_exact: HashMap<String, ProxyId>,
    pins_wildcard: HashMap<String, ProxyId>,
    mappings: HashMap<String, StickyMapping>,
    expiry: BTreeSet<(Timestamp, String)>,
    forced_at: Option<Timestamp>,
    force_pending: bool,
}

impl StickySession {
    pub fn new(members: Members, config: &StickyConfig, b: &BuildCtx<'_>) -> StickySession {
        let ids: Vec<(Slot, ProxyId)> = members
            .slots()
            .iter()
            .map(|&s| (s, b.pool.proxy(s).id))
            .collect();
        let mut pins_exact = HashMap::new();
        let mut pins_wildcard = HashMap::new();
        for pin in &config.mappings {
            let pattern = pin.pattern.to_ascii_lowercase();
            match pattern.strip_prefix("*.") {
                Some(domain) => pins_wildcard.insert(domain.to_string(), pin.proxy_id),
                None => pins_exact.insert(pattern, pin.proxy_id),
            };
        }
        StickySession {
            config: config.clone(),
            set: AvailSet::new(members, None, |s| (b.view)(s).available),
            cursor: 0,
            ring: HashRing::new(&ids),
            pins_exact,
            pins_wildcard,
            mappings: HashMap::new(),
            expiry: BTreeSet::new(),
            forced_at: None,
            force_pending: false,
        }
    }

    fn key_for(&self, host: &str) -> String {
        match self.config.key_by {
            StickyKey::Host => host.to_string(),
            StickyKey::RegistrableDomain if host.parse::<IpAddr>().is_ok() => host.to_string(),
            StickyKey::RegistrableDomain => psl::domain_str(host).unwrap_or(host).to_string(),
        }
    }

    fn pin_for(&self, host: &str) -> Option<ProxyId> {
        if let Some(&id) = self.pins_exact.get(host) {
            return Some(id);
        }
        let mut rest = host;
        loop {
            if let Some(&id) = self.pins_wildcard.get(rest) {
                return Some(id);
            }
            rest = rest.split_once('.')?.1;
        }
    }

    fn usable(&self, ctx: &PickCtx<'_>, slot: Slot) -> bool {
        self.set.is_available(slot) && ctx.allows(slot)
    }

    /// Pushes usable proxies clockwise from `hash`, then round-robin if the
    /// ring walk ran out of budget (most of the scope unusable).
    fn ring_fill(&mut self, ctx: &PickCtx<'_>, hash: u64, out: &mut Vec<Slot>) {
        let budget = self.ring.walk_budget(ctx.want + 2);
        for slot in self.ring.walk(hash).take(budget) {
            if out.len() >= ctx.want {
                return;
            }
            if !out.contains(&slot) && self.usable(ctx, slot) {
                out.push(slot);
            }
        }
        if out.len() < ctx.want {
            let first_was_empty = out.is_empty();
            if let Some(pos) = self.set.walk(self.cursor, ctx.want, out, |s| ctx.allows(s))
                && first_was_empty
            {
                self.cursor = pos + 1;
            }
        }
    }

    fn remove_mapping(&mut self, key: &str) -> Option<StickyMapping> {
        let m = self.mappings.remove(key)?;
        self.expiry.remove(&(m.expires, m.key.clone()));
        Some(m)
    }

    fn insert_mapping(&mut self, m: StickyMapping) {
        while self.mappings.len() >= self.config.max_mappings.max(1) {
            let Some((_, oldest)) = self.expiry.pop_first() else {
                break;
            };
            self.mappings.remove(&oldest);
        }
        self.expiry.insert((m.expires, m.key.clone()));
        self.mappings.insert(m.key.clone(), m);
    }

    pub fn pick(&mut self, ctx: &mut PickCtx<'_>, out: &mut Vec<Slot>) {
        let now = ctx.now;
        if self.force_pending {
            self.force_pending = false;
            self.forced_at = Some(now);
        }
        if let Some(id) = self.pin_for(ctx.host)
            && let Some(slot) = ctx.pool.slot_of(id)
            && self.usable(ctx, slot)
        {
            out.push(slot);
            ctx.sticky = Some(StickyOutcome::Pinned);
            self.ring_fill(ctx, stable_hash(ctx.host.as_bytes(), 0), out);
            return;
        }
        let key = self.key_for(ctx.host);
        let hash = stable_hash(key.as_bytes(), 0);
        let existing = self.mappings.get(&key).cloned();
        let (stale, previous) = match &existing {
            Some(m) if m.expires <= now => (Some(RotationReason::TtlExpired), Some(m.proxy)),
            Some(m) if self.forced_at.is_some_and(|f| m.created < f) => {
                (Some(RotationReason::Manual), Some(m.proxy))
            }
            Some(m) => match ctx.pool.slot_of(m.proxy) {
                Some(slot) if self.usable(ctx, slot) => {
                    self.touch(&key, now);
                    out.push(slot);
                    ctx.sticky = Some(StickyOutcome::Hit);
                    self.ring_fill(ctx, hash, out);
                    return;
                }
                Some(slot) if self.set.is_available(slot) => {
                    // Only this request refuses it: serve another, keep the mapping.
                    ctx.sticky = Some(StickyOutcome::Remapped);
                    self.ring_fill(ctx, hash, out);
                    return;
                }
                _ => (Some(RotationReason::Failure), Some(m.proxy)),
            },
            None => (None, None),
        };
        self.ring_fill(ctx, hash, out);
        let Some(&chosen) = out.first() else { return };
        self.remove_mapping(&key);
        let new_id = ctx.id(chosen);
        if let (Some(reason), Some(prev)) = (stale, previous)
            && prev != new_id
        {
            let prev_slot = ctx.pool.slot_of(prev);
            match prev_slot {
                Some(p) => ctx.event(
                    RotationKey::Domain(key.clone()),
                    Some(p),
                    Some(chosen),
                    reason,
                ),
                None => ctx.events.push(RotationEvent {
                    rotation: ctx.rotation,
                    key: RotationKey::Domain(key.clone()),
                    previous: Some(prev),
                    new: Some(new_id),
                    reason,
                    rule: None,
                    at: now,
                }),
            }
        }
        ctx.sticky = Some(if stale.is_some() {
            StickyOutcome::Remapped
        } else {
            StickyOutcome::Miss
        });
        let expires = now.after(self.config.ttl);
        self.insert_mapping(StickyMapping {
            scope: StickyScope::default(),
            key,
            proxy: new_id,
            created: now,
            expires,
            uses: 1,
        });
    }

    fn touch(&mut self, key: &str, now: Timestamp) {
        let sliding = self.config.expiry == Expiry::Sliding;
        let ttl = self.config.ttl;
        let Some(m) = self.mappings.get_mut(key) else {
            return;
        };
        m.uses += 1;
        if sliding {
            let old = m.expires;
            m.expires = now.after(ttl).max(old);
            if m.expires != old {
                let k = m.key.clone();
                self.expiry.remove(&(old, k.clone()));
                self.expiry.insert((m.expires, k));
            }
        }
    }

    /// Removes mappings expired by `now`, reporting each.
    pub fn sweep(&mut self, now: Timestamp, rotation: ConfigId, events: &mut Vec<RotationEvent>) {
        while let Some((at, _)) = self.expiry.first() {
            if *at > now {
                break;
            }
            let Some((_, key)) = self.expiry.pop_first() else {
                break;
            };
            if let Some(m) = self.mappings.remove(&key) {
                events.push(RotationEvent {
                    rotation,
                    key: RotationKey::Domain(key),
                    previous: Some(m.proxy),
                    new: None,
                    reason: RotationReason::TtlExpired,
                    rule: None,
                    at: now,
                });
            }
        }
    }

    /// Learned mappings, for persistence.
    pub fn mappings(&self) -> impl Iterator<Item = &StickyMapping> {
        self.mappings.values()
    }

    /// Restores persisted mappings that have not expired and whose proxy is
    /// still in the pool.
    pub fn restore(
        &mut self,
        pool: &PoolSnapshot,
        mappings: impl IntoIterator<Item = StickyMapping>,
        now: Timestamp,
    ) {
        for m in mappings {
            if m.expires > now && pool.slot_of(m.proxy).is_some() {
                self.remove_mapping(&m.key);
                self.insert_mapping(m);
            }
        }
    }

    pub fn update(&mut self, slot: Slot, view: &ProxyView, _now: Timestamp) {
        self.set.set_available(slot, view.available);
    }

    pub fn members(&self) -> &Members {
        self.set.members()
    }

    pub fn force_rotation(&mut self) {
        self.force_pending = true;
    }
}
