//! Writing the engine's state to the store, on the upkeep thread: what
//! changed, every `save_within` ([`save_changes`]), and everything once at
//! shutdown ([`save_all`]). The engine's lock is held only to copy state
//! out.

use vip_engine::{BreakerState, ConfigId, ProxyId, StickyMapping};
use vip_gateway::Gateway;
use vip_store::{Store, StoreError};

use crate::rotations::is_stored;
use crate::sink::StoreSink;

/// The engine's persistable state, copied out under its lock.
pub(crate) struct Snapshot {
    breakers: Vec<(ProxyId, BreakerState)>,
    sticky: Vec<(ConfigId, Vec<StickyMapping>)>,
}

/// Copies the state out: breakers that are not closed, and every stored
/// config's sticky mappings.
pub(crate) fn snapshot(gateway: &Gateway) -> Snapshot {
    gateway.with_engine(|e| Snapshot {
        breakers: e.breaker_states(),
        sticky: e
            .rotation_ids()
            .into_iter()
            .filter(|id| is_stored(*id))
            .map(|id| (id, e.sticky_mappings(id)))
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
    let stored: std::collections::BTreeSet<ConfigId> = changed
        .iter()
        .copied()
        .filter(|id| is_stored(*id))
        .collect();
    for id in &stored {
        let mappings = gateway.with_engine(|e| e.sticky_mappings(*id));
        if let Err(e) = store.save_sticky(*id, &mappings) {
            sink.mark_sticky(changed);
            return Err(e);
        }
    }
    Ok(())
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
) -> Result<(), StoreError> {
    write_events(store, sink)?;
    sink.take_breakers();
    sink.take_sticky();
    let state = snapshot(gateway);
    for (id, breaker) in &state.breakers {
        store.save_breaker(*id, breaker)?;
    }
    let keep: Vec<ProxyId> = state.breakers.iter().map(|(id, _)| *id).collect();
    store.retain_breakers(&keep)?;
    for (id, mappings) in state.sticky {
        store.save_sticky(id, &mappings)?;
    }
    Ok(())
}
