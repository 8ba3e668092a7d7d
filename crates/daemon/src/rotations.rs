//! Loading the stored rotation configs. Everything that reads SQLite or
//! parses JSON happens in [`read`], outside the engine's lock; the result
//! is handed to the next engine (`Engine::build`), and the configs marked
//! active are made active there (`Engine::set_active`, per target group).
//!
//! The shared listener and the identities that ask for the pool, a group
//! or a country run "the active config" (`Assignment::Active`): which one
//! that is, is the engine's to know, so activating another config changes
//! what they run at once, each config keeping its own sticky mappings.

use vip_engine::{ConfigId, Engine, RotationConfig};
use vip_store::Store;

/// The stored configs, read and parsed.
pub(crate) struct Loaded {
    /// Every stored config.
    pub configs: Vec<RotationConfig>,
    /// The active config of each target group (`None`: the whole pool).
    pub active: Vec<(Option<String>, ConfigId)>,
    /// How the whole pool's active rotation is shown to users.
    pub active_name: String,
}

/// Reads and parses every stored config (no engine lock held).
pub(crate) fn read(store: &Store) -> Result<Loaded, vip_store::StoreError> {
    let mut loaded = Loaded {
        configs: Vec::new(),
        active: Vec::new(),
        active_name: "built-in round-robin over the whole pool".to_string(),
    };
    for record in store.list_rotations()? {
        let config = store.engine_rotation(record.id)?;
        if record.is_active {
            loaded.active.push((record.target_group.clone(), config.id));
            if record.target_group.is_none() {
                loaded.active_name = format!("{} ({})", record.name, record.strategy);
            }
        }
        loaded.configs.push(config);
    }
    Ok(loaded)
}

/// Marks the loaded active configs active in `engine` (a fresh one, not
/// yet shared: the built-in rotation, when the pool needs it, is built
/// here rather than under the lock at the first selection).
pub(crate) fn activate(engine: &mut Engine, active: &[(Option<String>, ConfigId)]) {
    for (group, id) in active {
        engine.set_active(group.as_deref(), Some(*id));
    }
    engine.prepare_built_in();
}

/// Whether `id` is a stored config (not the engine's built-in rotation):
/// only those have sticky mappings to save.
pub(crate) fn is_stored(id: ConfigId) -> bool {
    id != Engine::BUILT_IN
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use vip_engine::{
        ConfigId, Engine, HealthSettings, PoolSnapshot, Proxy, RotationConfig, SelectionRequest,
        StrategyName, Timestamp,
    };

    use super::activate;

    #[test]
    fn the_active_config_of_a_group_and_of_the_pool_decide_at_once() {
        let mut proxies: Vec<Proxy> = (1..=4)
            .map(|i| Proxy::new(i, "127.0.0.1", 1000 + i as u16))
            .collect();
        proxies[2].group = Some("g".into());
        proxies[3].group = Some("g".into());
        let mut engine = Engine::new(
            PoolSnapshot::new(proxies).unwrap(),
            HealthSettings::default(),
        );
        let now = Timestamp::from_millis(0);
        engine.set_rotation(RotationConfig::new(7, StrategyName::Failover, None), now);
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1);
        let req = SelectionRequest::new("a.example", now);
        // Nothing active: the built-in rotation.
        let s = engine.select_active(None, &req, &mut rng).unwrap();
        assert_eq!(s.rotation, Engine::BUILT_IN);
        // Config 7 active for the pool: it decides, for the pool and,
        // narrowed, for a group with no config of its own.
        activate(&mut engine, &[(None, ConfigId(7))]);
        assert_eq!(
            engine.select_active(None, &req, &mut rng).unwrap().rotation,
            ConfigId(7)
        );
        let in_group = engine.select_active(Some("g"), &req, &mut rng).unwrap();
        assert_eq!(in_group.rotation, ConfigId(7));
        assert!(
            [3, 4].contains(&in_group.first().unwrap().0),
            "{in_group:?}"
        );
    }
}
