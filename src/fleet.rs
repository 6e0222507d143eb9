//! The fleet store (etcd) as the adapter drives it. The servers' poll is a fetch job
//! (`fetch`, `Job::Fleet`). This module makes the writes requests ask for: an admin API
//! operation's compared write, and a DPoP proof's record under a lease. The root context
//! makes the calls (they outlive the request that asked); the answers reach the requests
//! through `waiters`. The core builds every call and reads every answer.

use crate::records::Phase;
use crate::worker::Worker;
use crate::records::{FleetAsk as Ask};
use crate::{host, metrics};
use oauth_core::decision::binding::ReplayAsk;
use oauth_core::endpoints::admin::{self as core_admin, Op, Store};
use oauth_core::fleet::etcd::{self, Failed};
use oauth_core::fleet::servers::PollState;
use oauth_core::fleet::writes::{self, Change, Written};
use oauth_core::fleet::EtcdStore;
use oauth_core::idp::lease::Leased;
use oauth_core::{Config, LocalResponse};

/// etcd's gRPC codes in a refusal: the token is not good (any more), the lease is gone.
const UNAUTHENTICATED: u64 = 16;
const NOT_FOUND: u64 = 5;

fn wake(w: &Worker) {
    if let Some(queue) = w.wake_queue {
        host::enqueue(queue, b"1");
    }
}

/// The shared poll state, read into the worker.
pub fn sync(w: &mut Worker) {
    let Some(store) = w.config.store.as_ref() else { return };
    if let Some((bytes, _)) = host::get_shared(&oauth_core::idp::lease::Refresh::state_key(store)) {
        w.fleet.state = PollState::decode(&bytes);
    }
}

fn update(store: &EtcdStore, change: impl FnMut(&mut PollState) -> bool) -> Option<PollState> {
    crate::shared::update(&oauth_core::idp::lease::Refresh::state_key(store), change)
}

/// A call was refused its token: the poll logs in again at once.
fn token_refused(store: &EtcdStore) {
    update(store, |st| {
        st.token_refused = true;
        true
    });
}

/// A request's new DPoP proof: recorded by the root context; the request waits.
pub fn record(w: &mut Worker, ask: &ReplayAsk) {
    if w.fleet.replays.len() > 4096 {
        // Answers whose requests went away before them.
        w.fleet.replays.clear();
    }
    w.fleet.outbox.push(Ask::Replay { ask: ask.clone(), retried: false });
    wake(w);
}

/// An admin operation with the fleet store: answered now (a read, a refusal, or no change),
/// or its write asked for (the request waits: `Phase::AdminWrite`).
pub fn admin_run(w: &mut Worker, context: u32, op: &Op, body: &[u8]) -> Result<LocalResponse, ()> {
    sync(w); // what this process's other workers wrote meanwhile
    if !w.fleet.state.loaded() {
        return Ok(core_admin::unavailable()); // the servers are not known yet
    }
    match plan(w, op, body) {
        Planned::Answer(r) => Ok(r),
        Planned::Write(change, call, response) => {
            w.fleet.outbox.push(Ask::Admin { context, op: op.clone(), body: body.to_vec(), change, call, response, tries: 1 });
            wake(w);
            Err(())
        }
    }
}

enum Planned {
    Answer(LocalResponse),
    Write(Change, etcd::Call, LocalResponse),
}

/// Runs the operation on the servers as this worker knows them.
fn plan(w: &Worker, op: &Op, body: &[u8]) -> Planned {
    let before = w.fleet.state.store();
    let config = w.config.clone();
    let out = core_admin::apply(op, &before, body, |n| config.is_static_server(n), |s: &Store| Config::with_store(&w.plugin_config, s).map(|_| ()));
    match out.store.as_ref().and_then(|next| writes::change(&before, next)) {
        Some(change) => {
            // Compared on the revision of the server the change was made on (read now: the
            // state may move before the call goes out).
            let call = w.config.store.as_ref().map(|s| writes::call(s, &change, &w.fleet.state));
            let Some(call) = call else { return Planned::Answer(core_admin::unavailable()) };
            Planned::Write(change, call, out.response)
        }
        None => Planned::Answer(out.response),
    }
}

/// From the root context: makes the calls asked for (the root then resolves the waiters a
/// failed call answered).
pub fn send(w: &mut Worker) {
    let Some(store) = w.config.store.clone() else { return };
    if w.fleet.outbox.is_empty() {
        return;
    }
    let now = host::now_secs();
    let granting = w.fleet.in_flight.values().any(|a| matches!(a, Ask::Lease { .. }));
    let mut later = Vec::new();
    let mut lease_ttl = None;
    for ask in std::mem::take(&mut w.fleet.outbox) {
        let call = match &ask {
            Ask::Replay { ask: r, .. } => match w.fleet.lease {
                Some((id, good_until)) if good_until >= r.until && good_until > now => {
                    etcd::create_with_lease(store.proof_key(&server_name(w, r.server), &r.hash).as_bytes(), id)
                }
                _ => {
                    // Waits for a lease long enough for it.
                    lease_ttl = Some(lease_ttl.unwrap_or(0u64).max(EtcdStore::lease_ttl(r.window)));
                    later.push(ask);
                    continue;
                }
            },
            Ask::Admin { call, .. } => call.clone(),
            Ask::Lease { ttl } => etcd::lease_grant(*ttl),
        };
        dispatch(w, &store, ask, &call);
    }
    if let (Some(ttl), false) = (lease_ttl, granting) {
        dispatch(w, &store, Ask::Lease { ttl }, &etcd::lease_grant(ttl));
    }
    w.fleet.outbox.extend(later);
}

fn server_name(w: &Worker, server: usize) -> String {
    w.config.servers.get(server).map_or_else(String::new, |s| s.name.clone())
}

fn dispatch(w: &mut Worker, store: &EtcdStore, ask: Ask, call: &etcd::Call) {
    metrics::inc(metrics::STORE_CALLS);
    match host::dispatch(&oauth_core::fleet::servers::with_token(store, call, &w.fleet.state)) {
        Ok(token) => {
            w.fleet.in_flight.insert(token, ask);
        }
        Err(status) => {
            log::warn!("fleet store: cannot call cluster {} ({status:?})", store.cluster);
            failed(w, ask);
        }
    }
}

/// A write that could not be made: its requests get 503.
fn failed(w: &mut Worker, ask: Ask) {
    metrics::inc(metrics::STORE_FAILURES);
    match ask {
        Ask::Replay { ask, .. } => {
            w.fleet.replays.insert(ask.hash, None);
        }
        Ask::Admin { context, .. } => {
            w.fleet.admin_answers.insert(context, core_admin::unavailable());
        }
        Ask::Lease { .. } => {
            // Every proof waiting for it fails with it.
            let waiting = std::mem::take(&mut w.fleet.outbox);
            for ask in waiting {
                match ask {
                    Ask::Replay { ask, .. } => {
                        w.fleet.replays.insert(ask.hash, None);
                    }
                    other => w.fleet.outbox.push(other),
                }
            }
        }
    }
}

/// Whether `token` is one of this worker's fleet calls.
pub fn owns(w: &Worker, token: u32) -> bool {
    w.fleet.in_flight.contains_key(&token)
}

/// From the root context: etcd's answer to call `token`.
pub fn answered(w: &mut Worker, token: u32, body_size: usize) {
    let Some(ask) = w.fleet.in_flight.remove(&token) else { return };
    let Some(store) = w.config.store.clone() else { return };
    let (status, _) = host::call_response_head();
    let body = if status == 0 { Vec::new() } else { host::call_response_body(body_size, 64 * 1024) };
    if status == 401 || matches!(etcd::read_txn(&body), Err(Failed::Refused { code: UNAUTHENTICATED })) {
        token_refused(&store);
    }
    if status != 200 {
        log::warn!("fleet store: {} answered {status}", store.cluster);
        return failed(w, ask);
    }
    match ask {
        Ask::Lease { ttl } => match etcd::read_lease(&body) {
            Ok(id) => {
                // Kept a little short of its end, so a proof is never recorded under a lease about to lapse.
                w.fleet.lease = Some((id, host::now_secs() + ttl.saturating_sub(5)));
            }
            Err(_) => failed(w, Ask::Lease { ttl }),
        },
        Ask::Replay { ask, retried } => match etcd::read_txn(&body) {
            Ok((first, _)) => {
                w.fleet.replays.insert(ask.hash, Some(first));
            }
            Err(Failed::Refused { code: NOT_FOUND }) if !retried => {
                // The lease is gone (a store restarted without its data): a new one, once.
                w.fleet.lease = None;
                w.fleet.outbox.push(Ask::Replay { ask, retried: true });
            }
            Err(_) => failed(w, Ask::Replay { ask, retried }),
        },
        Ask::Admin { context, op, body: request_body, change, call, response, tries } => {
            let mut local = w.fleet.state.clone();
            match writes::answered(&change, &body, &mut local) {
                Ok(outcome) => {
                    // What the answer taught goes to every worker; this one compiles it now.
                    let (name, kv_server) = (change.name().to_string(), local.servers.get(change.name()).cloned());
                    let seen_rev = local.revision;
                    update(&store, |st| {
                        match &kv_server {
                            Some(s) => st.written(&name, Some(s.server.clone()), s.rev),
                            None => st.written(&name, None, seen_rev),
                        }
                        true
                    });
                    sync(w); // the root compiles it (`admin::tick`) before answering
                    match outcome {
                        Written::Done => {
                            w.fleet.admin_answers.insert(context, response);
                        }
                        Written::Lost if tries < writes::MAX_TRIES => match plan(w, &op, &request_body) {
                            Planned::Answer(r) => {
                                w.fleet.admin_answers.insert(context, r);
                            }
                            Planned::Write(change, call, response) => {
                                w.fleet.outbox.push(Ask::Admin { context, op, body: request_body, change, call, response, tries: tries + 1 });
                            }
                        },
                        Written::Lost => failed(w, Ask::Admin { context, op, body: request_body, change, call, response, tries }),
                    }
                }
                Err(_) => failed(w, Ask::Admin { context, op, body: request_body, change, call, response, tries }),
            }
        }
    }
    send(w);
}

/// A request waiting for its admin write: answered when the answer is there, or 503 when
/// its time is up. None while it still waits.
pub fn admin_verdict(w: &mut Worker, context: u32, deadline_ms: u64, now_ms: u64) -> Option<Phase> {
    let answer = match w.fleet.admin_answers.remove(&context) {
        Some(r) => r,
        None if now_ms >= deadline_ms => core_admin::unavailable(),
        None => return None,
    };
    if host::set_effective_context(context) {
        host::send_local_response(answer.status, &answer.headers, &answer.body, "oauth_filter_admin");
    }
    Some(Phase::Answered)
}

/// The wait of an admin write: the store's timeout for each try, and a second.
pub fn admin_wait_ms(store: &EtcdStore) -> u64 {
    store.timeout_ms.saturating_mul(u64::from(writes::MAX_TRIES)) + 1000
}
