//! Janus's admin API (`/oauth/servers`) as the adapter serves it: the request is checked with
//! the admin policy, the core runs the operation against the stored servers, and the store
//! goes back to shared data with compare-and-swap. Every worker picks a change up on its
//! tick (this one at once) by compiling the plugin configuration with the stored servers.
//! With the fleet store (`store.etcd`) the servers live in etcd instead: `fleet` writes them
//! and its poll brings them; the tick compiles them the same way.

use crate::records::Job;
use crate::records::Phase;
use crate::worker::Worker;
use crate::{apply, host, waiters};
use crate::host::SetShared;
use oauth_core::endpoints::admin::{self, Op, Store};
use oauth_core::{common::shared, Config, Decision, LocalResponse, Request};
use proxy_wasm::types::Action;
use std::rc::Rc;

/// The stored servers and the CAS of what was read (0 = none yet).
fn read() -> (Store, u32) {
    match host::get_shared(shared::ADMIN_SERVERS) {
        Some((bytes, cas)) => (Store::decode(&bytes), cas),
        None => (Store::default(), 0),
    }
}

/// At configuration: the store exists (so every write is a compare-and-swap), and the servers
/// already in it (a reconfigured plugin in a running Envoy keeps them) are compiled in.
pub fn init(w: &mut Worker) {
    crate::shared::ensure(shared::ADMIN_SERVERS, b"{}");
    crate::fleet::sync(w);
    tick(w);
}

/// Picks up a change another worker (or, with the fleet store, another replica) made.
pub fn tick(w: &mut Worker) {
    let cas = if w.config.store.is_some() {
        w.fleet.state.mark()
    } else {
        host::get_shared(shared::ADMIN_SERVERS).map_or(w.admin_cas, |(_, cas)| u64::from(cas))
    };
    if cas == w.admin_cas {
        return;
    }
    let store = if w.config.store.is_some() { w.fleet.state.store() } else { read().0 };
    match Config::with_store(&w.plugin_config, &store) {
        Ok(cfg) => swap(w, cfg, cas, None),
        Err(e) => {
            // Only when the plugin configuration changed under stored servers: keep what runs.
            log::error!("admin api: stored oauth servers no longer compile: {e}");
            w.admin_cas = cas;
        }
    }
}

/// Runs the new configuration. Static servers keep their place and state; requests waiting on
/// a server added through the API give up (503: it may have changed), and its fetches in
/// flight are dropped.
/// `me`: the request being served, whose context is made effective again.
fn swap(w: &mut Worker, cfg: Config, cas: u64, me: Option<u32>) {
    let first_dynamic = w.config.static_servers;
    if waiters::give_up_servers_from(w, first_dynamic) {
        if let Some(id) = me {
            host::set_effective_context(id);
        }
    }
    w.calls.retain(|_, p| !matches!(p.job, Job::Keys(i) if i >= first_dynamic));
    w.sources.truncate(first_dynamic);
    w.sources.resize_with(cfg.servers.len(), Default::default);
    w.config = Rc::new(cfg);
    w.admin_cas = cas;
    crate::setup::install(w);
    log::info!("admin api: {} oauth servers ({} added through the API)", w.config.servers.len(), w.config.servers.len().saturating_sub(first_dynamic));
}

/// An admin request's headers: refused, answered, or (to read its body) let go on; with the
/// fleet store, a write paused for etcd's answer (`Phase::AdminWrite`).
pub fn on_headers(w: &mut Worker, id: u32, phase: &mut Phase, op: Op, request: &Request, end_of_stream: bool) -> Action {
    let Some(policy) = w.config.admin.as_ref().map(|a| a.policy) else { return Action::Continue };
    let now = oauth_core::Now::fixed(host::now_secs());
    let decision = oauth_core::decision::decide::decide_policy(&w.config, policy, request, &now, &w.view(&now));
    if !matches!(decision, Decision::Allow { .. }) {
        let (action, next) = apply::now(id, &decision);
        *phase = next;
        return action;
    }
    if op.needs_body() && !end_of_stream {
        // The headers go on (a pause here would hold the body back under a plain WasmPlugin)
        // without the admin's credential from any token source; the answer is sent from the body.
        let (remove, path) = oauth_core::decision::upstream::admin_credential_edits(&w.config, policy, request);
        for name in &remove {
            host::remove_request_header(name);
        }
        if let Some(path) = path {
            host::set_request_header(":path", &path);
        }
        *phase = Phase::Admin { op };
        return Action::Continue;
    }
    answer(w, id, phase, &op, &[])
}

fn answer(w: &mut Worker, id: u32, phase: &mut Phase, op: &Op, body: &[u8]) -> Action {
    match run(w, id, op, body) {
        Ok(r) => respond(&r),
        Err(()) => {
            let wait_ms = w.config.store.as_ref().map_or(0, crate::fleet::admin_wait_ms);
            *phase = Phase::AdminWrite { deadline_ms: host::now_millis() + wait_ms };
            Action::Pause
        }
    }
}

/// An admin request's whole body.
pub fn on_body(w: &mut Worker, id: u32, phase: &mut Phase, op: &Op, body: &[u8], too_large: bool) -> Action {
    if too_large {
        return respond(&admin::too_large());
    }
    answer(w, id, phase, op, body)
}

/// The operation's answer, or Err when it waits for the fleet store.
fn run(w: &mut Worker, id: u32, op: &Op, body: &[u8]) -> Result<LocalResponse, ()> {
    if w.config.store.is_some() {
        return crate::fleet::admin_run(w, id, op, body);
    }
    Ok(run_here(w, id, op, body))
}

fn run_here(w: &mut Worker, id: u32, op: &Op, body: &[u8]) -> LocalResponse {
    for _ in 0..8 {
        let (store, cas) = read();
        let config = w.config.clone();
        let out = admin::apply(op, &store, body, |n| config.is_static_server(n), |s| Config::with_store(&w.plugin_config, s));
        let (Some(next), Some(cfg)) = (out.store, out.compiled) else { return out.response };
        let bytes = next.encode();
        match host::set_shared(shared::ADMIN_SERVERS, &bytes, cas) {
            SetShared::Done => {
                // The CAS of this write, unless another came in between (then the tick
                // compiles that one).
                let cas = host::get_shared(shared::ADMIN_SERVERS).filter(|(b, _)| *b == bytes).map_or(0, |(_, c)| u64::from(c));
                swap(w, cfg, cas, Some(id));
                return out.response;
            }
            SetShared::CasMismatch => continue,
            SetShared::Failed => break,
        }
    }
    admin::unavailable()
}

fn respond(r: &LocalResponse) -> Action {
    host::send_local_response(r.status, &r.headers, &r.body, "oauth_filter_admin");
    Action::Pause
}
