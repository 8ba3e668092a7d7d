//! Writing the engine's state to the store: rotation events buffered by
//! the sink (and sticky mappings expired since the last save, swept here), every breaker that is not closed, and the sticky mappings of
//! every stored config. Runs on the upkeep thread; the engine's lock is
//! held only to copy the state out.

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
            .map(|id| {
                let mut mappings = match Some(id) == active {
                    true => e.sticky_mappings(ACTIVE),
                    false => Vec::new(),
                };
                mappings.extend(e.sticky_mappings(id));
                (id, mappings)
            })
            .collect(),
    })
}

/// Saves rotation events, breakers and sticky mappings. Events that could
/// not be written go back to the sink for the next try.
pub(crate) fn save(
    store: &Store,
    gateway: &Gateway,
    sink: &StoreSink,
    active: Option<ConfigId>,
) -> Result<(), StoreError> {
    // Expired sticky mappings leave the engine here, reported `ttl_expired`.
    let expired = gateway.with_engine(|e| e.sweep(vip_gateway::now()));
    if !expired.is_empty() {
        vip_gateway::EventSink::rotation(sink, expired);
    }
    let events = sink.take_events();
    if !events.is_empty()
        && let Err(e) = store.log_events(&events)
    {
        sink.put_back(events);
        return Err(e);
    }
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
