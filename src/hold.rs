//! Requests to endpoints the filter answers from their body (issuer token and introspection,
//! Janus token, admin writes) are held in their headers, so that nothing the client sent
//! reaches the route's cluster before the answer. Where the host delivers the body to a
//! request paused in its headers (Envoy's `allow_on_headers_stop_iteration`), the body comes
//! at once and the request is answered (or sent on) from it. Where it does not (a plain Istio
//! `WasmPlugin`: Envoy then holds the body back too), no body comes: after `HOLD_MS` the
//! request is let go on, stripped of every credential, and its body is read as it passes.

use crate::host;
use crate::records::Held;
use crate::worker::Worker;
use std::cell::Cell;
use std::rc::Rc;

/// How long a held request waits for its body before it is let go on.
pub const HOLD_MS: u64 = 25;
/// The root's tick while a request is held.
pub const HOLD_TICK_MS: u32 = 10;

/// Holds the current request: returns its flag (shared with its HTTP context).
pub fn hold(w: &mut Worker, context: u32) -> Rc<Cell<bool>> {
    let flag = Rc::new(Cell::new(true));
    if w.held.is_empty() {
        host::set_tick_period_ms(HOLD_TICK_MS);
    }
    w.held.push(Held { context, waiting_for_body: Rc::downgrade(&flag), release_ms: host::now_millis() + HOLD_MS });
    flag
}

/// On the root's tick: lets go on the held requests whose body did not come in time (the host
/// holds it back); restores the tick period when none is left. Whether any was let go (the
/// effective context then changed).
pub fn release(w: &mut Worker, base_tick_ms: u32) -> bool {
    if w.held.is_empty() {
        return false;
    }
    let now = host::now_millis();
    let mut released = false;
    w.held.retain(|h| {
        let Some(flag) = h.waiting_for_body.upgrade() else { return false }; // the request ended
        if !flag.get() {
            return false; // its body came
        }
        if now < h.release_ms {
            return true;
        }
        flag.set(false);
        if host::set_effective_context(h.context) {
            host::resume_request();
            released = true;
        }
        false
    });
    if w.held.is_empty() {
        host::set_tick_period_ms(base_tick_ms);
    }
    released
}
