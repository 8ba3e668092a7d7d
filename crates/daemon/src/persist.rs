//! Writing the engine's state to the store, on the upkeep thread: what
//! changed, every `save_within` ([`save_changes`]), and everything once at
//! shutdown ([`save_all`]). The engine's lock is held only to copy state
//! out.

use vip_engine::{BreakerState, ConfigId, ProxyId, StickyMapping};
use vip_gateway::Gateway;
use vip_store::{Store, StoreError};

use crate::rotations::ACTIVE;
use crate::sink::StoreSink;

/// The engine's persistable state, copied out under its lock.
pub(crate) struct Snapshot {
    breakers: Vec<(ProxyId, BreakerState)>,
    sticky: Vec<(ConfigId, Vec<StickyMapping>)>,
}

/// Copies the state out. `active` is the stored config the shared listener
/// runs as [`ACTIVE`]: its mappings are stored under that config's id,
/// shared by both copies (the shared listener's win where both mapped a
/// domain). Identities' own group configs are not stored.
pub(crate) fn snapshot(gateway: &Gateway, active: Option<ConfigId>) -> Snapshot {
    gateway.with_engine(|e| Snapshot {
        breakers: e.breaker_states(),
        sticky: e
            .rotation_ids()
            .into_iter()
            .filter(|id| *id != ACTIVE && !crate::browse::is_identity_config(*id))
            .map(|id| (id, merged_mappings(e, id, active)))
            .collect(),
    })
}

/// Saves what changed since the last save: rotation events (and sticky
/// mappings expired by now, swept here), breakers that changed phase, and
/// the sticky mappings of rotations that learned or lost one. The engine's
/// lock is held only to sweep and to copy out the changed rotations'
/// mappings. Whatever could not be written goes back for the next try.
pub(crate) fn save_changes(
    store: &Store,
    gateway: &Gateway,
    sink: &StoreSink,
    active: Option<ConfigId>,
) -> Result<(), StoreError> {
    let expired = gateway.with_engine(|e| e.sweep(vip_gateway::now()));
    if !expired.is_empty() {
        sink.mark_sticky(expired.iter().map(|e| e.rotation));
        vip_gateway::EventSink::rotation(sink, expired);
    }
    write_events(store, sink)?;
    let breakers = sink.take_breakers();
    for (n, (id, state)) in breakers.iter().enumerate() {
        if let Err(e) = store.save_breaker(*id, state) {
            sink.put_back_breakers(breakers.into_iter().skip(n).collect());
            return Err(e);
        }
    }
    let changed = sink.take_sticky();
    // The shared listener's copy is stored under the active config's id.
    let stored: std::collections::BTreeSet<ConfigId> = changed
        .iter()
        .filter_map(|id| if *id == ACTIVE { active } else { Some(*id) })
        .filter(|id| !crate::browse::is_identity_config(*id))
        .collect();
    for id in &stored {
        let mappings = gateway.with_engine(|e| merged_mappings(e, *id, active));
        if let Err(e) = store.save_sticky(id.0 as i64, &mappings) {
            sink.mark_sticky(changed);
            return Err(e);
        }
    }
    Ok(())
}

/// A stored config's mappings: the shared listener's first when it runs
/// this config (its mapping wins where both mapped a domain).
fn merged_mappings(
    e: &mut vip_engine::Engine,
    id: ConfigId,
    active: Option<ConfigId>,
) -> Vec<StickyMapping> {
    let mut mappings = match Some(id) == active {
        true => e.sticky_mappings(ACTIVE),
        false => Vec::new(),
    };
    mappings.extend(e.sticky_mappings(id));
    mappings
}

fn write_events(store: &Store, sink: &StoreSink) -> Result<(), StoreError> {
    let events = sink.take_events();
    if !events.is_empty()
        && let Err(e) = store.log_events(&events)
    {
        sink.put_back(events);
        return Err(e);
    }
    Ok(())
}

/// Saves everything (at shutdown): rotation events, every breaker that is
/// not closed (others pruned), and the sticky mappings of every stored
/// config.
pub(crate) fn save_all(
    store: &Store,
    gateway: &Gateway,
    sink: &StoreSink,
    active: Option<ConfigId>,
) -> Result<(), StoreError> {
    write_events(store, sink)?;
    sink.take_breakers();
    sink.take_sticky();
    let state = snapshot(gateway, active);
    for (id, breaker) in &state.breakers {
        store.save_breaker(*id, breaker)?;
    }
    let keep: Vec<ProxyId> = state.breakers.iter().map(|(id, _)| *id).collect();
    store.retain_breakers(&keep)?;
    for (id, mappings) in state.sticky {
        store.save_sticky(id.0 as i64, &mappings)?;
    }
    Ok(())
}
