//! Drives the core's lease machine (`oauth_core::idp::lease`) for everything fetched on behalf of all
//! workers: the keys of servers with a `jwks_uri` or `discovery`, and client-credentials
//! tokens. On each tick every worker reads the shared states (and a newer key document); the
//! one that takes a lease makes the calls the core names and stores what they yield. The core
//! decides; this moves bytes.

use crate::host;
use crate::metrics;
use crate::records::{Job, Pending};
use crate::worker::Worker;
use oauth_core::idp::client_credentials::TokenState;
use oauth_core::idp::lease::{self, Leased, Refresh, Stage, Step};
use oauth_core::idp::remote::{self, FetchState};
use oauth_core::jwt::keys;
use oauth_core::Config;

fn jobs(cfg: &Config) -> Vec<Job> {
    let keys = cfg.servers.iter().enumerate().filter(|(_, s)| s.remote.is_some()).map(|(i, _)| Job::Keys(i));
    let tokens = cfg.policies.iter().enumerate().filter(|(_, p)| p.client_credentials.is_some()).map(|(i, _)| Job::Token(i));
    let fleet = cfg.store.iter().map(|_| Job::Fleet);
    keys.chain(tokens).chain(fleet).collect()
}

/// Whether anything is fetched (the root then ticks).
pub fn any(w: &Worker) -> bool {
    !jobs(&w.config).is_empty()
}

/// Runs `f` with the job's source (its type decides the state and the value).
macro_rules! with_source {
    ($cfg:expr, $job:expr, |$src:ident| $body:expr) => {
        match $job {
            Job::Keys(i) => {
                if let Some($src) = $cfg.servers.get(i).and_then(|s| s.remote.as_ref()) {
                    $body
                }
            }
            Job::Token(i) => {
                if let Some($src) = $cfg.policies.get(i).and_then(|p| p.client_credentials.as_ref()) {
                    $body
                }
            }
            Job::Fleet => {
                if let Some($src) = $cfg.store.as_ref() {
                    $body
                }
            }
        }
    };
}

/// At configuration: make sure each shared state exists before any lease is taken.
pub fn init(w: &Worker) {
    for job in jobs(&w.config) {
        with_source!(w.config, job, |src| init_state(src));
    }
}

fn init_state<R: Refresh>(src: &R) {
    crate::shared::ensure(&src.state_key(), &R::State::default().encode());
}

pub fn tick(w: &mut Worker) {
    let now = host::now_secs();
    let config = w.config.clone();
    for job in jobs(&config) {
        sync(w, job);
        if !w.calls.values().any(|c| c.job == job) {
            with_source!(config, job, |src| start(w, job, src, now));
        }
    }
}

fn update<R: Refresh>(src: &R, change: impl FnMut(&mut R::State) -> bool) -> Option<R::State> {
    crate::shared::update(&src.state_key(), change)
}

fn start<R: Refresh>(w: &mut Worker, job: Job, src: &R, now: u64) {
    let me = w.vm_id;
    if let Some(st) = update(src, |st| lease::begin(src, st, me, now)) {
        let step = src.first_call(&st);
        next(w, job, src, step);
    }
}

fn dispatch<R: Refresh>(w: &mut Worker, job: Job, src: &R, stage: Stage, call: oauth_core::common::url::HttpCall) {
    match host::dispatch(&call) {
        Ok(token) => {
            w.calls.insert(token, Pending { job, stage });
        }
        Err(status) => finish(w, job, src, Err(format!("cannot call cluster {} ({status:?})", call.cluster)), None),
    }
}

fn next<R: Refresh>(w: &mut Worker, job: Job, src: &R, step: Step<R::Value>) {
    match step {
        Step::Call(stage, call) => {
            // A client assertion (RFC 7523) is signed as the call goes out.
            let crypto = w.crypto.as_ref().map(|c| c as &dyn oauth_core::crypto::CryptoHost);
            let Some(call) = src.finalize(call, host::now_secs(), host::now_nanos() ^ w.vm_id, crypto) else {
                return finish(w, job, src, Err("the client assertion could not be signed".into()), None);
            };
            dispatch(w, job, src, stage, call);
        }
        Step::Done(value) => finish(w, job, src, Ok(value), None),
        Step::Fail(why) => finish(w, job, src, Err(why), None),
    }
}

/// An answer to one of this worker's fetch calls.
pub fn on_response(w: &mut Worker, pending: Pending, body_size: usize) {
    let config = w.config.clone();
    with_source!(config, pending.job, |src| answer(w, pending.job, src, pending.stage, body_size));
}

fn answer<R: Refresh>(w: &mut Worker, job: Job, src: &R, stage: Stage, body_size: usize) {
    let (status, retry_after) = host::call_response_head();
    let body = if status == 0 { Vec::new() } else { host::call_response_body(body_size, src.max_answer() + 1) };
    let step = src.after_response(stage, status, &body);
    if let (Step::Fail(why), Some(secs)) = (&step, retry_after) {
        // The server asked for a pause (429 / 503 with Retry-After): no call before it ends.
        return finish(w, job, src, Err(format!("{why}; retry after {secs} s")), Some(secs));
    }
    next(w, job, src, step);
}

fn finish<R: Refresh>(w: &mut Worker, job: Job, src: &R, outcome: Result<R::Value, String>, retry_after: Option<u64>) {
    let now = host::now_secs();
    let (fetches, failures) = match job {
        Job::Keys(_) => (metrics::JWKS_FETCHES, metrics::JWKS_FAILURES),
        Job::Token(_) => (metrics::CC_FETCHES, metrics::CC_FAILURES),
        Job::Fleet => (metrics::STORE_POLLS, metrics::STORE_FAILURES),
    };
    metrics::inc(fetches);
    match outcome {
        Ok(value) => {
            let mut value = Some(value);
            let stored = update(src, |st| {
                let Some(v) = value.take() else { return false };
                if let Some((key, bytes)) = src.detached(st, &v) {
                    host::set_shared(&key, &bytes, 0);
                }
                lease::succeed(src, st, v, now);
                true
            });
            if stored.is_none() {
                log::warn!("{}: the fetched value could not be stored", label(w, job));
            }
        }
        Err(why) => {
            metrics::inc(failures);
            // The core's reasons name a status or an RFC 6749 error code at most.
            match job {
                Job::Keys(_) => log::warn!("{}: key fetch failed: {why}; keeping the last good keys", label(w, job)),
                Job::Token(_) => log::warn!("{}: token request failed: {why}", label(w, job)),
                Job::Fleet => log::warn!("fleet store: reading the servers failed: {why}; keeping the servers known"),
            }
            update(src, |st| {
                lease::fail(src, st, now, retry_after);
                true
            });
        }
    }
    sync(w, job);
}

/// Names a job in a log line (a server's name, a client id; never a secret).
fn label(w: &Worker, job: Job) -> String {
    match job {
        Job::Keys(i) => format!("oauth server {}", w.config.servers.get(i).map_or("", |s| s.name.as_str())),
        Job::Token(i) => {
            let id = w.config.policies.get(i).and_then(|p| p.client_credentials.as_ref()).map_or("", |c| c.client_id());
            format!("client credentials for {id}")
        }
        Job::Fleet => "fleet store".to_string(),
    }
}

/// Reads a job's shared state into the worker (and, for keys, a newer stored document).
fn sync(w: &mut Worker, job: Job) {
    match job {
        Job::Keys(i) => sync_keys(w, i),
        Job::Fleet => crate::fleet::sync(w),
        Job::Token(i) => {
            let Some(key) = w.config.policies.get(i).and_then(|p| p.client_credentials.as_ref()).map(|c| c.state_key()) else { return };
            if let (Some((bytes, _)), Some(slot)) = (host::get_shared(&key), w.tokens.get_mut(i)) {
                *slot = TokenState::decode(&bytes);
            }
        }
    }
}

fn sync_keys(w: &mut Worker, i: usize) {
    let config = w.config.clone();
    let Some(server) = config.servers.get(i) else { return };
    let Some(src) = &server.remote else { return };
    let Some((bytes, _)) = host::get_shared(&src.state_key()) else { return };
    let st = FetchState::decode(&bytes);
    let Some(local) = w.sources.get_mut(i) else { return };
    if st.version > local.version {
        if let Some((version, doc)) = host::get_shared(&src.doc_key()).as_ref().and_then(|(b, _)| remote::decode_doc(b)) {
            match remote::jwks_from_bytes(doc, src.max_bytes) {
                Ok(mut parsed) => {
                    for (index, why) in &parsed.skipped {
                        log::warn!("oauth server {}: JWKS key {index} skipped: {why}", server.name);
                    }
                    keys::keep_all(&mut parsed.keys, &mut local.keys);
                    local.keys = parsed.keys;
                    local.version = version;
                    log::info!("oauth server {}: {} keys (version {version})", server.name, local.keys.len());
                }
                Err(why) => log::warn!("oauth server {}: stored JWKS unusable: {why}", server.name),
            }
        }
    }
    local.state = st;
}

/// An unknown kid asks for a refetch (the cooldown is checked against the shared state).
pub fn request_refetch(w: &Worker, server: usize) {
    let now = host::now_secs();
    if let Some(src) = w.config.servers.get(server).and_then(|s| s.remote.as_ref()) {
        update(src, |st| st.request_refetch(src, now));
    }
}

/// The upstream answered 401 to the token of `version`: drop it so the next one is fetched.
pub fn upstream_refused(w: &mut Worker, policy: usize, version: u64) {
    let config = w.config.clone();
    let Some(cc) = config.policies.get(policy).and_then(|p| p.client_credentials.as_ref()) else { return };
    if !cc.retry_on_401 {
        return;
    }
    if update(cc, |st| st.drop_token(version)).is_some() {
        log::info!("client credentials for {}: the upstream refused the token; fetching a new one", cc.client_id());
    }
    sync(w, Job::Token(policy));
}
