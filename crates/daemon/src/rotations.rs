//! Loading the stored rotation configs into the engine. Everything that
//! reads SQLite or parses JSON happens in [`read`], outside the engine's
//! lock; [`apply`] only hands the parsed configs to the engine.
//!
//! The pool's active config (the one without a target group) is also run
//! under the reserved id [`ACTIVE`], which the shared listener and the
//! default identity assignment use, so activating another config needs no
//! listener change.

use vip_engine::{ConfigId, Engine, RotationConfig, StrategyName};
use vip_store::Store;

/// The engine id under which the pool's active config is loaded.
pub const ACTIVE: ConfigId = ConfigId(0);

/// The stored configs, read and parsed.
pub(crate) struct Loaded {
    configs: Vec<RotationConfig>,
    /// The pool's active config, copied under [`ACTIVE`].
    active: RotationConfig,
    /// Its stored id (`None`: the built-in round-robin).
    pub active_id: Option<ConfigId>,
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

/// Puts `loaded` into the engine, removing configs no longer stored.
/// `previous` is the stored id the shared listener ran before: when
/// another config has become active, the shared listener starts from that
/// config's own sticky mappings instead of keeping the previous one's.
/// Returns the stored id now active.
pub(crate) fn apply(
    engine: &mut Engine,
    loaded: Loaded,
    previous: Option<ConfigId>,
) -> Option<ConfigId> {
    let now = vip_gateway::now();
    let ids: Vec<ConfigId> = loaded.configs.iter().map(|c| c.id).collect();
    for config in loaded.configs {
        engine.set_rotation(config, now);
    }
    let switched = loaded.active_id != previous;
    if switched {
        engine.remove_rotation(ACTIVE);
    }
    engine.set_rotation(loaded.active, now);
    if let Some(id) = loaded.active_id.filter(|_| switched) {
        let own = engine.sticky_mappings(id);
        engine.restore_sticky_mappings(ACTIVE, own, now);
    }
    for id in engine.rotation_ids() {
        if id != ACTIVE && !ids.contains(&id) && !crate::browse::is_identity_config(id) {
            engine.remove_rotation(id);
        }
    }
    loaded.active_id
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use vip_engine::{
        ConfigId, Engine, HealthSettings, PoolSnapshot, RotationConfig, StrategyName,
    };

    use super::{ACTIVE, Loaded, apply};

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

    #[test]
    fn a_reload_drops_configs_no_longer_stored_but_keeps_identities_own() {
        let pool = PoolSnapshot::new(Vec::new()).unwrap();
        let mut engine = Engine::new(pool, HealthSettings::default());
        let identity = ConfigId((1 << 40) + 3);
        assert!(crate::browse::is_identity_config(identity));
        engine.set_rotation(
            RotationConfig::new(identity.0, StrategyName::RoundRobin, Some("g")),
            vip_gateway::now(),
        );
        let active = apply(&mut engine, loaded(&[1, 2], Some(1)), None);
        assert_eq!(active, Some(ConfigId(1)));
        assert_eq!(
            engine.rotation_ids(),
            vec![ACTIVE, ConfigId(1), ConfigId(2), identity]
        );
        // Config 2 deleted from the store: gone from the engine; the
        // identity's own group rotation stays.
        apply(&mut engine, loaded(&[1], Some(1)), active);
        assert_eq!(engine.rotation_ids(), vec![ACTIVE, ConfigId(1), identity]);
    }
}
