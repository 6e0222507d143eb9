//! Client-credentials tokens for upstreams: one fetch per refresh across all workers (a lease
//! in shared data), from the root context's tick, ahead of expiry; every worker reads the
//! stored token on its tick. The core builds the request and reads the answer.

use crate::host;
use crate::metrics;
use crate::worker::{Pending, Worker};
use oauth_core::client_credentials::{ClientCredentials, TokenState};
use oauth_core::url::HttpCall;

/// Changes a token's shared state (CAS).
fn update(cc: &ClientCredentials, change: impl FnMut(&mut TokenState) -> bool) -> Option<TokenState> {
    crate::shared::update(&cc.shared_key, change)
}

/// At configuration: create each token's shared state before any lease is taken.
pub fn init(w: &Worker) {
    for p in &w.config.policies {
        if let Some(cc) = &p.client_credentials {
            if host::get_shared(&cc.shared_key).is_none() {
                host::set_shared(&cc.shared_key, &TokenState::default().encode(), 0);
            }
        }
    }
}

pub fn has_any(w: &Worker) -> bool {
    w.config.policies.iter().any(|p| p.client_credentials.is_some())
}

pub fn tick(w: &mut Worker) {
    let now = host::now_secs();
    let config = w.config.clone();
    for (i, policy) in config.policies.iter().enumerate() {
        let Some(cc) = &policy.client_credentials else { continue };
        sync(w, i, cc);
        let busy = w.calls.values().any(|c| matches!(c, Pending::Token { policy } if *policy == i));
        if !busy {
            start(w, i, cc, now);
        }
    }
}

fn sync(w: &mut Worker, i: usize, cc: &ClientCredentials) {
    if let Some((bytes, _)) = host::get_shared(&cc.shared_key) {
        if let Some(slot) = w.tokens.get_mut(i) {
            *slot = TokenState::decode(&bytes);
        }
    }
}

fn start(w: &mut Worker, i: usize, cc: &ClientCredentials, now: u64) {
    let me = w.vm_id;
    let taken = update(cc, |st| {
        if !st.fetch_due(cc, now) || !st.lease_free(now) {
            return false;
        }
        st.take_lease(me, cc, now);
        true
    });
    if taken.is_none() {
        return;
    }
    let (headers, body) = cc.request();
    let call = HttpCall { cluster: cc.cluster.clone(), headers, body: Some(body), timeout_ms: cc.timeout_ms };
    match host::dispatch(&call) {
        Ok(token) => {
            w.calls.insert(token, Pending::Token { policy: i });
        }
        Err(status) => {
            log::warn!("client credentials: cannot call cluster {} ({status:?})", cc.cluster);
            update(cc, |st| {
                st.failed(now);
                true
            });
            sync(w, i, cc);
        }
    }
}

/// The token endpoint's answer.
pub fn on_response(w: &mut Worker, policy: usize, body_size: usize) {
    let config = w.config.clone();
    let Some(cc) = config.policies.get(policy).and_then(|p| p.client_credentials.as_ref()) else { return };
    let status = host::call_response_status();
    let body = if status == 0 { Vec::new() } else { host::call_response_body(body_size, 64 * 1024 + 1) };
    let now = host::now_secs();
    match cc.parse_answer(status, &body) {
        Ok(grant) => {
            metrics::inc(metrics::CC_FETCHES);
            let mut grant = Some(grant);
            update(cc, |st| match grant.take() {
                Some(g) => {
                    st.succeeded(g, now);
                    true
                }
                None => false,
            });
        }
        Err(why) => {
            metrics::inc(metrics::CC_FETCHES);
            metrics::inc(metrics::CC_FAILURES);
            // The reason names the RFC 6749 error code at most; never the secret or the body.
            log::warn!("client credentials for {}: token request failed: {why}", cc.client_id);
            update(cc, |st| {
                st.failed(now);
                true
            });
        }
    }
    sync(w, policy, cc);
}

/// The upstream answered 401 to the token of `version`: drop it so the next one is fetched.
pub fn upstream_refused(w: &mut Worker, policy: usize, version: u64) {
    let config = w.config.clone();
    let Some(cc) = config.policies.get(policy).and_then(|p| p.client_credentials.as_ref()) else { return };
    if !cc.retry_on_401 {
        return;
    }
    if update(cc, |st| st.drop_token(version)).is_some() {
        log::info!("client credentials for {}: the upstream refused the token; fetching a new one", cc.client_id);
    }
    sync(w, policy, cc);
}
