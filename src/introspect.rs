//! Introspection calls: one per cache miss across all workers. The request that finds no
//! answer takes the token's cache slot (a pending entry, by CAS) and calls the IdP from its
//! own context; requests that find the slot pending wait for the answer.

use crate::host::{self, SetShared};
use crate::{metrics, waiters};
use crate::worker::{WaitFor, Worker};
use oauth_core::config::Strategy;
use oauth_core::introspection::{Answer, IntrospectionRules, Lookup, Slot};
use oauth_core::{Denial, Request};
use std::time::Duration;

/// The call this request made.
pub struct Call {
    pub token_id: u32,
    pub server: usize,
    pub slot_key: String,
    pub hash: String,
    pub request: Request,
}

pub enum Started {
    /// This request called the IdP.
    Calling(Call),
    /// Another request (here or in another worker) is calling; this one waits.
    Waiting,
    /// The call could not be made.
    Failed(Denial),
}

fn rules(w: &Worker, server: usize) -> Option<&IntrospectionRules> {
    match w.config.servers.get(server).map(|s| &s.strategy) {
        Some(Strategy::Introspection(r)) => Some(r),
        _ => None,
    }
}

fn lock_key(r: &IntrospectionRules) -> String {
    format!("{}/lock", r.shared_key)
}

/// At configuration: create each introspection server's lock key, so CAS applies to it.
pub fn init(w: &Worker) {
    for s in &w.config.servers {
        if let Strategy::Introspection(r) = &s.strategy {
            if host::get_shared(&lock_key(r)).is_none() {
                host::set_shared(&lock_key(r), b"", 0);
            }
        }
    }
}

/// A short per-server lock around claiming a cache slot. Shared data has no "create if
/// absent": a slot seen empty by two workers at once could be claimed by both, since a write
/// with CAS 0 always succeeds. The lock key exists from the start, so its CAS is real. It is
/// held for two host calls; a lock older than a second is stale (its holder is gone).
fn lock(key: &str, me: u64) -> bool {
    for _ in 0..64 {
        let Some((bytes, cas)) = host::get_shared(key) else { return false };
        let now_ms = host::now_millis();
        let held = std::str::from_utf8(&bytes).ok().and_then(|s| s.split_once(' ')).is_some_and(|(holder, until)| {
            holder != me.to_string() && until.parse::<u64>().is_ok_and(|u| now_ms < u)
        });
        if !held && host::set_shared(key, format!("{me} {}", now_ms + 1000).as_bytes(), cas) == SetShared::Done {
            return true;
        }
    }
    false
}

pub fn start(w: &mut Worker, context_id: u32, server: usize, token: &str, request: Request) -> Started {
    let Some(r) = rules(w, server) else { return Started::Failed(Denial::NoPolicy) };
    let (slot_key, hash) = r.cache_key(token);
    let now = host::now_secs();
    let max_wait = r.max_wait_ms;
    let locked = lock(&lock_key(r), w.vm_id);
    let (current, cas) = match host::get_shared(&slot_key) {
        Some((bytes, cas)) => (Slot::decode(&bytes), cas),
        None => (None, 0),
    };
    let pending_elsewhere = current.as_ref().is_some_and(|s| s.lookup(&hash, now) == Lookup::Pending);
    let claimed = !pending_elsewhere
        && host::set_shared(&slot_key, &r.pending(hash.clone(), w.vm_id, now).encode(), cas) == SetShared::Done;
    if locked {
        host::set_shared(&lock_key(r), b"", 0);
    }
    if !claimed {
        // Another request asks the IdP (or took the slot first): wait for its answer.
        waiters::add(w, context_id, request, server, WaitFor::Introspection { slot_key, hash }, max_wait);
        return Started::Waiting;
    }
    let (headers, body) = r.request(token, &request);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let timeout = Duration::from_millis(r.timeout_ms);
    match proxy_wasm::hostcalls::dispatch_http_call(&r.cluster, headers, Some(&body), vec![], timeout) {
        Ok(token_id) => {
            metrics::inc(metrics::INTROSPECTION_CALLS);
            Started::Calling(Call { token_id, server, slot_key, hash, request })
        }
        Err(status) => {
            log::warn!("introspection: cannot call cluster {} ({status:?})", r.cluster);
            store(&slot_key, r, &Answer::Unavailable("cannot call".into()), hash, now);
            Started::Failed(Denial::IdpUnavailable)
        }
    }
}

/// The IdP's answer to `call`: stored for everyone (and for the waiters of this worker).
pub fn answered(w: &mut Worker, call: &Call, body_size: usize) {
    let Some(r) = rules(w, call.server) else { return };
    let status = host::call_response_status();
    let body = if status == 0 { Vec::new() } else { host::call_response_body(body_size, r.max_answer_bytes + 1) };
    let answer = r.parse_answer(status, &body);
    if let Answer::Unavailable(why) = &answer {
        metrics::inc(metrics::INTROSPECTION_FAILURES);
        log::warn!("introspection failed: {why}");
    }
    store(&call.slot_key, r, &answer, call.hash.clone(), host::now_secs());
    waiters::resolve(w);
}

/// Writes the answer into the slot. An answer that is not cached (inactive without
/// `negative_ttl`) is still written for this second, so that concurrent waiters get it.
fn store(slot_key: &str, r: &IntrospectionRules, answer: &Answer, hash: String, now: u64) {
    let slot = r.slot_for(answer, hash.clone(), now).unwrap_or(Slot {
        hash,
        until: now + 1,
        state: oauth_core::introspection::SlotState::Inactive,
    });
    host::set_shared(slot_key, &slot.encode(), 0);
}
