//! What a worker sets up for its configuration, at start and again whenever the admin API
//! changed its servers: the shared-data keys its fetches, introspection slots and DPoP replay
//! store compare-and-swap on, and the root's tick for whatever needs one.

use crate::worker::Worker;
use crate::{fetch, host, introspect};

/// The root's tick when keys or tokens are fetched, or the admin API's changes are picked up.
const TICK_MS: u32 = 200;
/// The root's tick when a server introspects: requests waiting for another worker's
/// introspection call learn of its answer on ticks.
const INTROSPECTION_TICK_MS: u32 = 100;
/// The root's tick when nothing else needs one: it hands the counters to Envoy
/// (`metrics::flush`).
const COUNTERS_TICK_MS: u32 = 1000;

pub fn install(w: &mut Worker) {
    let (fetches, introspects) = (fetch::any(w), introspect::any(w));
    if fetches {
        fetch::init(w);
    }
    if introspects {
        introspect::init(w);
    }
    crate::shared::init_replay_locks(&w.config);
    w.base_tick_ms = match (introspects, fetches || w.config.admin.is_some()) {
        (true, _) => INTROSPECTION_TICK_MS,
        (false, true) => TICK_MS,
        (false, false) => COUNTERS_TICK_MS,
    };
    // A held request keeps the fast tick; `hold` goes back to this one when none is left.
    if w.held.is_empty() {
        host::set_tick_period_ms(w.base_tick_ms);
    }
}
