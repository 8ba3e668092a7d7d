//! Loading the stored rotation configs into the engine. Everything that
//! reads SQLite or parses JSON happens in [`read`], outside the engine's
//! lock; [`plan`] decides what the next engine runs, also without a lock.
//!
//! The pool's active config (the one without a target group) is also run
//! under the reserved id [`ACTIVE`], which the shared listener and the
//! default identity assignment use, so activating another config needs no
//! listener change. Identities' own group rotations are not stored; a
//! reload keeps them.

use std::collections::HashMap;

use vip_engine::{ConfigId, RotationConfig, StickyMapping, StrategyName};
use vip_store::Store;

/// The engine id under which the pool's active config is loaded.
pub const ACTIVE: ConfigId = ConfigId(0);

/// The stored configs, read and parsed.
pub(crate) struct Loaded {
    configs: Vec<RotationConfig>,
    /// The pool's active config, copied under [`ACTIVE`].
    active: RotationConfig,
    /// Its stored id (`None`: the built-in round-robin).
    active_id: Option<ConfigId>,
    /// How the active rotation is shown to users.
    pub active_name: String,
}

/// Reads and parses every stored config (no engine lock held).
pub(crate) fn read(store: &Store) -> Result<Loaded, vip_store::StoreError> {
    let mut loaded = Loaded {
        configs: Vec::new(),
        active: RotationConfig::new(ACTIVE.0, StrategyName::RoundRobin, None),
        active_id: None,
        active_name: "built-in round-robin over the whole pool".to_string(),
    };
    for record in store.list_rotations()? {
        let config = store.engine_rotation(record.id)?;
        if record.is_active && record.target_group.is_none() {
            loaded.active = config.clone();
            loaded.active.id = ACTIVE;
            loaded.active_id = Some(config.id);
            loaded.active_name = format!("{} ({})", record.name, record.strategy);
        }
        loaded.configs.push(config);
    }
    Ok(loaded)
}

/// What the next engine runs.
pub(crate) struct Plan {
    /// Every config to load: the stored ones, the [`ACTIVE`] copy and the
    /// identities' own.
    pub configs: Vec<RotationConfig>,
    /// Sticky mappings to build each rotation with, by config id.
    pub sticky: HashMap<ConfigId, Vec<StickyMapping>>,
    /// Where each rotation's mappings learned during the rebuild come from
    /// (see `Engine::finish_rebuild`).
    pub sticky_from: HashMap<ConfigId, Option<ConfigId>>,
    /// The stored config the shared listener now runs.
    pub active_id: Option<ConfigId>,
}

/// Plans the next engine from `loaded` and what runs now (`running`
/// configs, their `sticky` mappings, and `previous`, the stored config the
/// shared listener ran). When another config has become active, the
/// shared listener starts from that config's own mappings instead of
/// keeping the previous one's.
pub(crate) fn plan(
    loaded: Loaded,
    running: &[RotationConfig],
    mut sticky: HashMap<ConfigId, Vec<StickyMapping>>,
    previous: Option<ConfigId>,
) -> Plan {
    let Loaded {
        mut configs,
        active,
        active_id,
        ..
    } = loaded;
    configs.push(active);
    configs.extend(
        running
            .iter()
            .filter(|c| crate::browse::is_identity_config(c.id))
            .cloned(),
    );
    let mut sticky_from = HashMap::new();
    if active_id != previous {
        match active_id.and_then(|id| sticky.get(&id).cloned()) {
            Some(own) => sticky.insert(ACTIVE, own),
            None => sticky.remove(&ACTIVE),
        };
        sticky_from.insert(ACTIVE, active_id);
    }
    Plan {
        configs,
        sticky,
        sticky_from,
        active_id,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use vip_engine::{
        ConfigId, ProxyId, RotationConfig, StickyMapping, StickyScope, StrategyName, Timestamp,
    };

    use super::{ACTIVE, Loaded, plan};

    fn loaded(ids: &[u64], active: Option<u64>) -> Loaded {
        let configs = ids
            .iter()
            .map(|id| RotationConfig::new(*id, StrategyName::RoundRobin, None))
            .collect();
        Loaded {
            configs,
            active: RotationConfig::new(ACTIVE.0, StrategyName::Random, None),
            active_id: active.map(ConfigId),
            active_name: String::new(),
        }
    }

    fn mapping(key: &str, proxy: u64) -> Vec<StickyMapping> {
        vec![StickyMapping {
            key: key.into(),
            proxy: ProxyId(proxy),
            created: Timestamp::from_millis(0),
            expires: Timestamp::from_millis(60_000),
            uses: 0,
            scope: StickyScope::default(),
        }]
    }

    fn ids(configs: &[RotationConfig]) -> Vec<u64> {
        let mut ids: Vec<u64> = configs.iter().map(|c| c.id.0).collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_reload_drops_configs_no_longer_stored_but_keeps_identities_own() {
        let identity = ConfigId((1 << 40) + 3);
        assert!(crate::browse::is_identity_config(identity));
        let running = vec![
            RotationConfig::new(1, StrategyName::RoundRobin, None),
            RotationConfig::new(2, StrategyName::RoundRobin, None),
            RotationConfig::new(identity.0, StrategyName::RoundRobin, Some("g")),
        ];
        // Config 2 deleted from the store: gone; the identity's own stays.
        let next = plan(
            loaded(&[1], Some(1)),
            &running,
            HashMap::new(),
            Some(ConfigId(1)),
        );
        assert_eq!(ids(&next.configs), vec![0, 1, identity.0]);
        assert_eq!(next.active_id, Some(ConfigId(1)));
        assert!(next.sticky_from.is_empty());
    }

    #[test]
    fn another_active_config_brings_its_own_mappings_to_the_shared_listener() {
        let sticky = HashMap::from([
            (ACTIVE, mapping("old", 1)),
            (ConfigId(2), mapping("own", 2)),
        ]);
        let next = plan(
            loaded(&[1, 2], Some(2)),
            &[],
            sticky.clone(),
            Some(ConfigId(1)),
        );
        assert_eq!(next.sticky[&ACTIVE][0].key, "own");
        assert_eq!(next.sticky_from[&ACTIVE], Some(ConfigId(2)));
        // Back to the built-in rotation: the shared listener starts empty.
        let next = plan(
            loaded(&[1, 2], None),
            &[],
            sticky.clone(),
            Some(ConfigId(2)),
        );
        assert!(!next.sticky.contains_key(&ACTIVE));
        assert_eq!(next.sticky_from[&ACTIVE], None);
        // Unchanged: the shared listener keeps its own.
        let next = plan(loaded(&[1, 2], Some(2)), &[], sticky, Some(ConfigId(2)));
        assert_eq!(next.sticky[&ACTIVE][0].key, "old");
    }
}
