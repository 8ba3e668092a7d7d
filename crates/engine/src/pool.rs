//! The immutable pool snapshot: every proxy once, plus the indexes strategies
//! need to build their own structures (by id, by group, by country). A
//! snapshot is rebuilt whenever the pool changes and shared behind an `Arc`;
//! selection state lives elsewhere and survives rebuilds by proxy id.

use std::collections::HashMap;

use thiserror::Error;

use crate::ids::ProxyId;
use crate::proxy::{CountryCode, Proxy};

/// Index of a proxy inside one snapshot. Never leaves the crate: slots change
/// between snapshots, ids do not.
pub(crate) type Slot = u32;

/// Why a pool could not be built.
#[derive(Debug, Error, PartialEq)]
pub enum PoolError {
    /// Two proxies share an id.
    #[error("{0} appears twice in the pool; each proxy needs its own id")]
    DuplicateId(ProxyId),
    /// A weight outside 0–100.
    #[error("{id} has weight {weight}; weights go from 0 (never picked) to 100")]
    WeightOutOfRange {
        /// The proxy.
        id: ProxyId,
        /// The rejected weight.
        weight: u8,
    },
    /// More proxies than slots.
    #[error("the pool has {0} proxies; at most 4,294,967,295 are supported")]
    TooLarge(usize),
}

/// A subset of the pool a strategy instance draws from: the enabled proxies of
/// one rotation group (or all groups) and optionally one country.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Scope {
    /// Interned group ([`PoolSnapshot::group_key`]); `None` is every group.
    pub group: Option<GroupKey>,
    pub country: Option<CountryCode>,
}

/// An interned rotation group name. Names the pool does not know map to
/// [`GroupKey::UNKNOWN`], a group with no members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct GroupKey(u32);

impl GroupKey {
    pub const UNKNOWN: GroupKey = GroupKey(u32::MAX);
}

/// Every proxy of the pool with lookup indexes. Cheap to share, never mutated.
#[derive(Debug, Default)]
pub struct PoolSnapshot {
    proxies: Vec<Proxy>,
    by_id: HashMap<ProxyId, Slot>,
    /// Group names by key, and keys by name.
    group_names: Vec<String>,
    group_keys: HashMap<String, GroupKey>,
    /// Each slot's group.
    slot_group: Vec<Option<GroupKey>>,
    /// Enabled proxies per group key, ascending slot order.
    by_group: Vec<Vec<Slot>>,
    /// Enabled proxies per country, ascending slot order.
    by_country: HashMap<CountryCode, Vec<Slot>>,
    /// All enabled proxies, ascending slot order.
    enabled: Vec<Slot>,
}

impl PoolSnapshot {
    /// Builds the snapshot, checking ids are unique and weights in range.
    pub fn new(proxies: Vec<Proxy>) -> Result<PoolSnapshot, PoolError> {
        if u32::try_from(proxies.len()).is_err() {
            return Err(PoolError::TooLarge(proxies.len()));
        }
        let mut snapshot = PoolSnapshot {
            by_id: HashMap::with_capacity(proxies.len()),
            ..PoolSnapshot::default()
        };
        for (index, proxy) in proxies.iter().enumerate() {
            let slot = index as Slot;
            if proxy.weight > 100 {
                return Err(PoolError::WeightOutOfRange {
                    id: proxy.id,
                    weight: proxy.weight,
                });
            }
            if snapshot.by_id.insert(proxy.id, slot).is_some() {
                return Err(PoolError::DuplicateId(proxy.id));
            }
            let group = proxy.group.as_ref().map(|name| snapshot.intern(name));
            snapshot.slot_group.push(group);
            if !proxy.enabled {
                continue;
            }
            snapshot.enabled.push(slot);
            if let Some(GroupKey(g)) = group {
                snapshot.by_group[g as usize].push(slot);
            }
            if let Some(country) = proxy.country {
                snapshot.by_country.entry(country).or_default().push(slot);
            }
        }
        snapshot.proxies = proxies;
        Ok(snapshot)
    }

    /// Number of proxies, enabled or not.
    pub fn len(&self) -> usize {
        self.proxies.len()
    }

    /// True when the pool has no proxies at all.
    pub fn is_empty(&self) -> bool {
        self.proxies.is_empty()
    }

    /// The proxy with this id.
    pub fn get(&self, id: ProxyId) -> Option<&Proxy> {
        self.slot_of(id).map(|slot| self.proxy(slot))
    }

    /// Every proxy in pool order.
    pub fn proxies(&self) -> &[Proxy] {
        &self.proxies
    }

    /// Number of enabled proxies in a group (or in the whole pool for `None`).
    pub fn enabled_in_group(&self, group: Option<&str>) -> usize {
        match group {
            None => self.enabled.len(),
            Some(g) => self.group_members(self.group_key(g)).len(),
        }
    }

    fn intern(&mut self, name: &str) -> GroupKey {
        if let Some(&key) = self.group_keys.get(name) {
            return key;
        }
        let key = GroupKey(self.group_names.len() as u32);
        self.group_names.push(name.to_string());
        self.group_keys.insert(name.to_string(), key);
        self.by_group.push(Vec::new());
        key
    }

    /// The name of an interned group (none for [`GroupKey::UNKNOWN`]).
    pub(crate) fn group_name(&self, key: GroupKey) -> Option<&str> {
        self.group_names.get(key.0 as usize).map(String::as_str)
    }

    pub(crate) fn group_key(&self, name: &str) -> GroupKey {
        self.group_keys
            .get(name)
            .copied()
            .unwrap_or(GroupKey::UNKNOWN)
    }

    pub(crate) fn slot_group(&self, slot: Slot) -> Option<GroupKey> {
        self.slot_group[slot as usize]
    }

    fn group_members(&self, key: GroupKey) -> &[Slot] {
        self.by_group.get(key.0 as usize).map_or(&[], Vec::as_slice)
    }

    /// A readable name for a scope, for error messages.
    pub(crate) fn describe(&self, scope: &Scope) -> String {
        let group = scope.group.map(|GroupKey(g)| {
            self.group_names
                .get(g as usize)
                .map_or("(unknown)".to_string(), |n| format!("group {n:?}"))
        });
        match (group, scope.country) {
            (Some(g), Some(c)) => format!("{g} in country {c}"),
            (Some(g), None) => g,
            (None, Some(c)) => format!("the pool in country {c}"),
            (None, None) => "the pool".to_string(),
        }
    }

    pub(crate) fn slot_of(&self, id: ProxyId) -> Option<Slot> {
        self.by_id.get(&id).copied()
    }

    pub(crate) fn proxy(&self, slot: Slot) -> &Proxy {
        &self.proxies[slot as usize]
    }

    /// Enabled members of a scope, ascending slot order.
    pub(crate) fn members(&self, scope: &Scope) -> Vec<Slot> {
        let base: &[Slot] = match (scope.group, scope.country) {
            (Some(g), _) => self.group_members(g),
            (None, Some(c)) => self.by_country.get(&c).map_or(&[], Vec::as_slice),
            (None, None) => &self.enabled,
        };
        match (scope.group, scope.country) {
            (Some(_), Some(c)) => base
                .iter()
                .copied()
                .filter(|&s| self.proxy(s).country == Some(c))
                .collect(),
            _ => base.to_vec(),
        }
    }

    /// Whether `slot` belongs to `scope`.
    pub(crate) fn in_scope(&self, slot: Slot, scope: &Scope) -> bool {
        let p = self.proxy(slot);
        p.enabled
            && scope.group.is_none_or(|g| self.slot_group(slot) == Some(g))
            && scope.country.is_none_or(|c| p.country == Some(c))
    }
}
