//! Fetching keys for the servers that have a `jwks_uri` or `discovery`: one worker fetches
//! for all (a lease in shared data), every worker picks the new document up on its tick, and
//! requests waiting for keys are decided again. The core says what to do; this moves bytes.

use crate::host;
use crate::metrics;
use crate::worker::{Pending, Worker};
use oauth_core::remote::{self, FetchState, Next, RemoteSource, Stage};
use oauth_core::url::HttpCall;

fn state_key(src: &RemoteSource) -> String {
    format!("{}/state", src.shared_key)
}

fn doc_key(src: &RemoteSource) -> String {
    format!("{}/doc", src.shared_key)
}

/// At configuration: make sure each source's shared state exists, before any lease is taken.
pub fn init(w: &Worker) {
    for server in &w.config.servers {
        if let Some(src) = &server.remote {
            if host::get_shared(&state_key(src)).is_none() {
                host::set_shared(&state_key(src), &FetchState::default().encode(), 0);
            }
        }
    }
}

/// Changes a source's shared fetch state (CAS).
fn update(src: &RemoteSource, change: impl FnMut(&mut FetchState) -> bool) -> Option<FetchState> {
    crate::shared::update(&state_key(src), change)
}

pub fn tick(w: &mut Worker) {
    let now = host::now_secs();
    let config = w.config.clone();
    for (i, server) in config.servers.iter().enumerate() {
        if let Some(src) = &server.remote {
            sync(w, i, src);
            if !w.calls.values().any(|c| matches!(c, Pending::Keys { server, .. } if *server == i)) {
                start_fetch(w, i, src, now);
            }
        }
    }
}

/// Picks up the shared state and, when its version is newer, the stored document.
fn sync(w: &mut Worker, i: usize, src: &RemoteSource) {
    let Some((bytes, _)) = host::get_shared(&state_key(src)) else { return };
    let st = FetchState::decode(&bytes);
    let name = w.config.servers.get(i).map_or("", |s| s.name.as_str()).to_string();
    let Some(local) = w.sources.get_mut(i) else { return };
    if st.version > local.version {
        if let Some((doc_bytes, _)) = host::get_shared(&doc_key(src)) {
            if let Some((version, doc)) = remote::decode_doc(&doc_bytes) {
                match remote::jwks_from_bytes(doc, src.max_bytes) {
                    Ok(parsed) => {
                        for (index, why) in &parsed.skipped {
                            log::warn!("oauth server {name}: JWKS key {index} skipped: {why}");
                        }
                        local.keys = parsed.keys;
                        local.version = version;
                        log::info!("oauth server {name}: {} keys (version {version})", local.keys.len());
                    }
                    Err(why) => log::warn!("oauth server {name}: stored JWKS unusable: {why}"),
                }
            }
        }
    }
    local.state = st;
}

fn start_fetch(w: &mut Worker, i: usize, src: &RemoteSource, now: u64) {
    let me = w.vm_id;
    let Some(st) = update(src, |st| {
        if !st.fetch_due(src, now) || !st.lease_free(now) {
            return false;
        }
        st.take_lease(me, src, now);
        true
    }) else {
        return;
    };
    match remote::first_call(src, &st) {
        Next::Call(stage, target) => dispatch(w, i, src, stage, target, None),
        other => finish(w, i, src, other, None),
    }
}

fn dispatch(w: &mut Worker, i: usize, src: &RemoteSource, stage: Stage, target: oauth_core::url::HttpTarget, discovered: Option<String>) {
    match host::dispatch(&HttpCall::get_json(&src.cluster, &target, src.timeout_ms)) {
        Ok(token) => {
            w.calls.insert(token, Pending::Keys { server: i, stage, discovered });
        }
        Err(status) => {
            let reason = format!("cannot call cluster {} ({status:?})", src.cluster);
            finish(w, i, src, Next::Fail(reason), None);
        }
    }
}

/// An answer to one of this worker's key fetch calls.
pub fn on_response(w: &mut Worker, server: usize, stage: Stage, discovered: Option<String>, body_size: usize) {
    let config = w.config.clone();
    let Some(src) = config.servers.get(server).and_then(|s| s.remote.as_ref()) else { return };
    let status = host::call_response_status();
    let body = if status == 0 { Vec::new() } else { host::call_response_body(body_size, src.max_bytes + 1) };
    match remote::after_response(src, stage, status, &body) {
        Next::Call(stage, target) => {
            let discovered = (stage == Stage::Jwks).then(|| target.to_url());
            dispatch(w, server, src, stage, target, discovered);
        }
        other => finish(w, server, src, other, discovered),
    }
}

fn finish(w: &mut Worker, i: usize, src: &RemoteSource, next: Next, discovered: Option<String>) {
    let now = host::now_secs();
    let name = w.config.servers.get(i).map_or("", |s| s.name.as_str()).to_string();
    match next {
        Next::Done { doc } => {
            metrics::inc(metrics::JWKS_FETCHES);
            let stored = update(src, |st| {
                host::set_shared(&doc_key(src), &remote::encode_doc(st.version + 1, &doc), 0);
                st.succeeded(now, discovered.clone());
                true
            });
            if stored.is_none() {
                log::warn!("oauth server {name}: fetched keys could not be stored");
            }
        }
        Next::Fail(why) => {
            metrics::inc(metrics::JWKS_FETCHES);
            metrics::inc(metrics::JWKS_FAILURES);
            log::warn!("oauth server {name}: key fetch failed: {why}; keeping the last good keys");
            update(src, |st| {
                st.failed(now);
                true
            });
        }
        Next::Call(..) => {}
    }
    sync(w, i, src);
}

/// An unknown kid asks for a refetch (the cooldown is checked against the shared state).
pub fn request_refetch(w: &Worker, server: usize) {
    let now = host::now_secs();
    if let Some(src) = w.config.servers.get(server).and_then(|s| s.remote.as_ref()) {
        update(src, |st| st.request_refetch(src, now));
    }
}

pub fn has_remote(w: &Worker) -> bool {
    w.config.servers.iter().any(|s| s.remote.is_some())
}

pub fn has_introspection(w: &Worker) -> bool {
    (0..w.config.servers.len()).any(|i| w.config.introspection(i).is_some())
}
