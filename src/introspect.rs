//! Introspection calls: one per cache miss across all workers. The request that finds no
//! answer claims the token's cache slot (a pending entry, by CAS, under a short per-server
//! lock) and asks its worker's root context to call the IdP; requests that find the slot
//! pending wait for the answer. The call belongs to the root context, so it outlives the
//! request that asked for it: whoever waits gets the answer even when that request is gone.
//! The core builds the claim, the call and the slots; this moves bytes.

use crate::host::{self, SetShared};
use crate::metrics;
use crate::waiters;
use crate::records::{InFlight, Outgoing};
use crate::worker::Worker;
use oauth_core::idp::introspection::{Claim, Lookup, SlotUse};

pub enum Started {
    /// The root context will call the IdP (or another request, here or in another worker,
    /// already does); this request waits for the answer.
    Waiting,
    /// No call can be made (the server asked to back off).
    Failed,
}

/// The name of this VM's wake-up queue (unique in the Envoy process).
pub fn queue_name(vm_id: u64) -> String {
    format!("oauth_filter.wake.{vm_id:x}")
}

/// Whether any server introspects (the root then ticks for the waiters).
pub fn any(w: &Worker) -> bool {
    (0..w.config.servers.len()).any(|i| w.config.introspection(i).is_some())
}

/// At configuration: create each introspection server's lock key, so CAS applies to it.
pub fn init(w: &Worker) {
    for i in 0..w.config.servers.len() {
        if let Some(r) = w.config.introspection(i) {
            crate::shared::ensure(&r.lock_key(), b"");
        }
    }
}

pub fn start(w: &mut Worker, server: usize, claim: &Claim) -> Started {
    let now = host::now_secs();
    if Claim::backing_off(host::get_shared(&claim.backoff_key).as_ref().map(|(b, _)| b.as_slice()), now) {
        // The server answered 429 with Retry-After: no call until then, on any worker.
        return Started::Failed;
    }
    // Beyond this worker's calls in flight to the server (a flood of new tokens), a request
    // that would make one more is refused at once rather than queued without end.
    let in_flight = w.outbox.iter().filter(|o| o.server == server).count()
        + w.introspections.values().filter(|f| f.server == server).count();
    let full = in_flight >= claim.max_in_flight;
    let locked = crate::shared::lock(&claim.lock_key, w.vm_id);
    let (current, cas) = match host::get_shared(&claim.slot.key) {
        Some((bytes, cas)) => (Some(bytes), cas),
        None => (None, 0),
    };
    // Whether this request waits, is refused, or calls (and whether the answer goes into the
    // slot). A claim lost to another worker by CAS waits for that worker's call.
    enum Next {
        Wait,
        Refuse,
        Call { cached: bool },
    }
    let next = match claim.slot_use(current.as_deref(), now) {
        SlotUse::Wait => Next::Wait,
        _ if full => Next::Refuse,
        SlotUse::Uncached => Next::Call { cached: false },
        SlotUse::Claim if host::set_shared(&claim.slot.key, &claim.pending_slot(w.vm_id, now), cas) == SetShared::Done => Next::Call { cached: true },
        SlotUse::Claim => Next::Wait,
    };
    if locked {
        host::set_shared(&claim.lock_key, b"", 0);
    }
    let cached = match next {
        Next::Wait => return Started::Waiting,
        Next::Refuse => return Started::Failed,
        Next::Call { cached } => cached,
    };
    w.outbox.push(Outgoing { server, claim: Box::new(claim.clone()), cached });
    // The root context makes the call on its wake-up (or, where the host delivers no queue
    // readiness, on its next tick).
    if let Some(queue) = w.wake_queue {
        host::enqueue(queue, b"1");
    }
    Started::Waiting
}

/// The call with its client authentication, signed now (a fresh assertion for every call).
fn authenticated(w: &Worker, server: usize, call: &oauth_core::common::url::HttpCall, now: u64) -> Option<oauth_core::common::url::HttpCall> {
    let crypto = w.crypto.as_ref().map(|c| c as &dyn oauth_core::crypto::CryptoHost);
    w.config.introspection(server)?.outgoing(call, now, host::now_nanos() ^ w.vm_id, crypto)
}

/// From the root context: makes the calls requests asked for.
pub fn send(w: &mut Worker) {
    if w.outbox.is_empty() {
        return;
    }
    let now = host::now_secs();
    let mut failed = Vec::new();
    for out in std::mem::take(&mut w.outbox) {
        match authenticated(w, out.server, &out.claim.call, now).map(|call| host::dispatch(&call)) {
            Some(Ok(token)) => {
                metrics::inc(metrics::INTROSPECTION_CALLS);
                let flight = InFlight { server: out.server, claim: out.claim, cached: out.cached, started_ms: host::now_millis(), retried: false };
                w.introspections.insert(token, flight);
            }
            failure => {
                match failure {
                    Some(Err(status)) => log::warn!("introspection: cannot call cluster {} ({status:?})", out.claim.call.cluster),
                    _ => log::warn!("introspection: the call to cluster {} could not be authenticated", out.claim.call.cluster),
                }
                metrics::inc(metrics::INTROSPECTION_FAILURES);
                if out.cached {
                    host::set_shared(&out.claim.slot.key, &out.claim.failed_slot(now), 0);
                }
                failed.push((out.server, out.claim.slot.hash.clone()));
            }
        }
    }
    for (server, hash) in failed {
        waiters::answered(w, server, &hash, &Lookup::Failed);
    }
}

/// From the root context: the IdP's answer to call `token`, stored for everyone and handed to
/// this worker's waiters at once; or, when the call could not connect, made once more.
pub fn answered(w: &mut Worker, token: u32, body_size: usize) {
    let Some(mut flight) = w.introspections.remove(&token) else { return };
    let now = host::now_secs();
    let claim = &flight.claim;
    let Some(rules) = w.config.introspection(flight.server) else { return };
    let (status, retry_after) = host::call_response_head();
    let body = if status == 0 { Vec::new() } else { host::call_response_body(body_size, claim.max_answer_bytes + 1) };
    let elapsed_ms = host::now_millis().saturating_sub(flight.started_ms);
    if claim.retry(status, &body, elapsed_ms, flight.retried) {
        if let Some(Ok(token)) = authenticated(w, flight.server, &claim.call, now).map(|call| host::dispatch(&call)) {
            log::info!("introspection: no answer from cluster {}; calling once more", claim.call.cluster);
            metrics::inc(metrics::INTROSPECTION_CALLS);
            flight.retried = true;
            w.introspections.insert(token, flight);
            return;
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
    if flight.cached {
        host::set_shared(&claim.slot.key, &digested.store, 0);
    }
    waiters::answered(w, flight.server, &claim.slot.hash, &digested.lookup);
}
