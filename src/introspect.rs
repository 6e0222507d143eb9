//! Introspection calls: one per cache miss across all workers. The request that finds no
//! answer claims the token's cache slot (a pending entry, by CAS, under a short per-server
//! lock) and calls the IdP from its own context; requests that find the slot pending wait
//! for the answer. The core builds the claim, the call and the slots; this moves bytes.

use crate::host::{self, SetShared};
use crate::metrics;
use crate::worker::Worker;
use oauth_core::introspection::{Claim, Lookup};

pub enum Started {
    /// This request called the IdP: the call's token.
    Calling(u32),
    /// Another request (here or in another worker) is calling; this one waits.
    Waiting,
    /// The call could not be made.
    Failed,
}

/// Whether any server introspects (the root then ticks for the waiters).
pub fn any(w: &Worker) -> bool {
    (0..w.config.servers.len()).any(|i| w.config.introspection(i).is_some())
}

/// At configuration: create each introspection server's lock key, so CAS applies to it.
pub fn init(w: &Worker) {
    for i in 0..w.config.servers.len() {
        if let Some(r) = w.config.introspection(i) {
            let key = r.lock_key();
            if host::get_shared(&key).is_none() {
                host::set_shared(&key, b"", 0);
            }
        }
    }
}

pub fn start(w: &Worker, claim: &Claim) -> Started {
    let now = host::now_secs();
    if Claim::backing_off(host::get_shared(&claim.backoff_key).as_ref().map(|(b, _)| b.as_slice()), now) {
        // The server answered 429 with Retry-After: no call until then, on any worker.
        return Started::Failed;
    }
    let locked = crate::shared::lock(&claim.lock_key, w.vm_id);
    let (current, cas) = match host::get_shared(&claim.slot.key) {
        Some((bytes, cas)) => (Some(bytes), cas),
        None => (None, 0),
    };
    let claimed = claim.may_claim(current.as_deref(), now)
        && host::set_shared(&claim.slot.key, &claim.pending_slot(w.vm_id, now), cas) == SetShared::Done;
    if locked {
        host::set_shared(&claim.lock_key, b"", 0);
    }
    if !claimed {
        return Started::Waiting;
    }
    match host::dispatch(&claim.call) {
        Ok(token) => {
            metrics::inc(metrics::INTROSPECTION_CALLS);
            Started::Calling(token)
        }
        Err(status) => {
            log::warn!("introspection: cannot call cluster {} ({status:?})", claim.call.cluster);
            metrics::inc(metrics::INTROSPECTION_FAILURES);
            host::set_shared(&claim.slot.key, &claim.failed_slot(now), 0);
            Started::Failed
        }
    }
}

pub enum Answer {
    /// The call failed to connect and was made once more: its new token.
    Retried(u32),
    Done(Lookup),
}

/// The IdP's answer to this worker's call for `claim` (made `elapsed_ms` ago): stored for
/// everyone, and returned for the request that asked; or, when the call could not connect,
/// made once more.
pub fn answered(w: &Worker, server: usize, claim: &Claim, body_size: usize, elapsed_ms: u64, retried: bool) -> Answer {
    let now = host::now_secs();
    let Some(rules) = w.config.introspection(server) else { return Answer::Done(Lookup::Failed) };
    let (status, retry_after) = host::call_response_head();
    let body = if status == 0 { Vec::new() } else { host::call_response_body(body_size, claim.max_answer_bytes + 1) };
    if claim.retry(status, &body, elapsed_ms, retried) {
        if let Ok(token) = host::dispatch(&claim.call) {
            log::info!("introspection: no answer from cluster {}; calling once more", claim.call.cluster);
            metrics::inc(metrics::INTROSPECTION_CALLS);
            return Answer::Retried(token);
        }
    }
    let digested = rules.digest(&claim.slot.hash, status, &body, now, retry_after);
    if let Some(why) = &digested.failure {
        metrics::inc(metrics::INTROSPECTION_FAILURES);
        log::warn!("introspection failed: {why}");
    }
    if let Some((key, until)) = &digested.backoff {
        host::set_shared(key, until, 0);
    }
    host::set_shared(&claim.slot.key, &digested.store, 0);
    Answer::Done(digested.lookup)
}
