//! Requests paused for keys or for another worker's introspection: decided again when what
//! they wait for arrives, or refused with 503 when it fails or their time is up.

use crate::worker::{WaitFor, Waiter, Worker};
use crate::{apply, host};
use oauth_core::introspection::{Lookup, Slot};
use oauth_core::{decide, Decision, Denial, Request};

pub fn add(w: &mut Worker, context_id: u32, request: Request, server: usize, kind: WaitFor, max_wait_ms: u64) {
    w.waiters.push(Waiter {
        context_id,
        request,
        server,
        kind,
        since_secs: host::now_secs(),
        deadline_ms: host::now_millis() + max_wait_ms,
    });
}

enum Verdict {
    Wait,
    Decide,
    Unavailable(Denial),
}

fn verdict(w: &Worker, waiter: &Waiter, now: u64, now_ms: u64) -> Verdict {
    let late = now_ms >= waiter.deadline_ms;
    match &waiter.kind {
        WaitFor::Keys { version_at_start } => {
            let keys = w.sources.get(waiter.server);
            if keys.is_some_and(|k| k.version > *version_at_start) {
                Verdict::Decide
            } else if late || keys.is_some_and(|k| k.state.failures > 0 && k.state.last_failure >= waiter.since_secs) {
                Verdict::Unavailable(Denial::KeysUnavailable)
            } else {
                Verdict::Wait
            }
        }
        WaitFor::UpstreamToken { policy } => {
            let state = w.tokens.get(*policy);
            if state.is_some_and(|s| s.usable(now).is_some()) {
                Verdict::Decide
            } else if late || state.is_some_and(|s| s.failures > 0 && s.last_failure >= waiter.since_secs) {
                Verdict::Unavailable(Denial::UpstreamTokenUnavailable)
            } else {
                Verdict::Wait
            }
        }
        WaitFor::Introspection { slot_key, hash } => {
            let lookup = host::get_shared(slot_key)
                .and_then(|(bytes, _)| Slot::decode(&bytes))
                .map_or(Lookup::Miss, |slot| slot.lookup(hash, now));
            match lookup {
                Lookup::Pending if !late => Verdict::Wait,
                Lookup::Pending | Lookup::Miss => Verdict::Unavailable(Denial::IdpUnavailable),
                _ => Verdict::Decide,
            }
        }
    }
}

/// Decides again every waiter whose wait is over.
pub fn resolve(w: &mut Worker) {
    if w.waiters.is_empty() {
        return;
    }
    let (now, now_ms) = (host::now_secs(), host::now_millis());
    let waiters = std::mem::take(&mut w.waiters);
    let mut still = Vec::new();
    for waiter in waiters {
        match verdict(w, &waiter, now, now_ms) {
            Verdict::Wait => still.push(waiter),
            Verdict::Decide => {
                let decision = decide(&w.config, &waiter.request, now, &w.keys_at(now), false);
                apply::later(waiter.context_id, &decision);
            }
            Verdict::Unavailable(denial) => {
                let response = denial.respond(oauth_core::config::DEFAULT_REALM, "");
                apply::later(waiter.context_id, &Decision::Deny { denial, response });
            }
        }
    }
    // Waiters added while deciding (none today) stay too.
    still.append(&mut w.waiters);
    w.waiters = still;
}
