//! One request's state, owned by its HTTP context and advanced by the host's events: its
//! headers (decide), its body (OAuth endpoints), the answer to its own introspection call, and
//! the root context's ticks and fetches (for a request that waits).

use crate::{apply, fetch, host, introspect, waiters};
use crate::worker::Worker;
use oauth_core::authenticate::Answered;
use oauth_core::endpoints::OAuthEndpoint;
use oauth_core::{decide, decide_again, Decision, Request, Wait, WaitOn};
use proxy_wasm::types::Action;
use std::cell::RefCell;
use std::rc::Rc;

pub enum Phase {
    /// Nothing seen yet.
    Start,
    /// An OAuth endpoint request waiting for its body.
    Endpoint { ep: OAuthEndpoint, request: Request },
    /// An admin API request (already authenticated) waiting for its body.
    Admin { op: oauth_core::admin::Op },
    /// Paused until what it waits for arrives, or its deadline.
    Waiting(Waiting),
    /// Let through; the client-credentials token sent upstream, if any: (policy, version).
    Allowed { injected: Option<(usize, u64)> },
    /// Answered by the filter itself.
    Answered,
}

pub struct Waiting {
    pub request: Request,
    pub wait: Wait,
    pub since_secs: u64,
    pub deadline_ms: u64,
    /// The worker's keys version for the awaited server when the wait began.
    pub keys_version: u64,
    /// This request's own introspection call, if it made one.
    pub call: Option<u32>,
    /// When that call was made (ms), and whether it is the one retry.
    pub call_started_ms: u64,
    pub retried: bool,
}

/// What the headers bring: decided now, or paused while waiting.
pub fn start(w: &mut Worker, id: u32, phase: &Rc<RefCell<Phase>>, request: Request) -> Action {
    let now = host::now_secs();
    let decision = decide(&w.config, &request, now, &w.view(now));
    let Decision::Wait(wait) = decision else {
        let (action, next) = apply::now(id, &decision);
        set(phase, next);
        return action;
    };
    let mut keys_version = 0;
    let mut call = None;
    match &wait.on {
        WaitOn::Keys { server, refetch } => {
            if *refetch {
                fetch::request_refetch(w, *server);
            }
            keys_version = w.sources.get(*server).map_or(0, |s| s.version);
        }
        WaitOn::Introspection { claim, .. } => match introspect::start(w, claim) {
            introspect::Started::Calling(token) => call = Some(token),
            introspect::Started::Waiting => {}
            introspect::Started::Failed => {
                apply::deny(id, wait.denial, &wait.response);
                set(phase, Phase::Answered);
                return Action::Pause;
            }
        },
        WaitOn::UpstreamToken { .. } => {}
    }
    let deadline_ms = host::now_millis() + wait.max_wait_ms;
    let call_started_ms = host::now_millis();
    set(phase, Phase::Waiting(Waiting { request, wait, since_secs: now, deadline_ms, keys_version, call, call_started_ms, retried: false }));
    waiters::add(w, id, phase);
    Action::Pause
}

/// The answer to this request's own introspection call: fed straight into its decision, and
/// stored for everyone else.
pub fn call_answered(w: &mut Worker, id: u32, phase: &Rc<RefCell<Phase>>, token_id: u32, body_size: usize) {
    let Ok(mut p) = phase.try_borrow_mut() else { return };
    let Phase::Waiting(waiting) = &mut *p else { return };
    if waiting.call != Some(token_id) {
        return;
    }
    let WaitOn::Introspection { server, claim } = &waiting.wait.on else { return };
    let elapsed_ms = host::now_millis().saturating_sub(waiting.call_started_ms);
    let lookup = match introspect::answered(w, *server, claim, body_size, elapsed_ms, waiting.retried) {
        introspect::Answer::Retried(token) => {
            waiting.call = Some(token);
            waiting.retried = true;
            return;
        }
        introspect::Answer::Done(lookup) => lookup,
    };
    let now = host::now_secs();
    let answered = Answered { server: *server, lookup };
    let decision = decide_again(&w.config, &waiting.request, now, &w.view(now), Some(&answered));
    *p = apply::later(id, &decision, &waiting.wait);
    drop(p);
    waiters::resolve(w);
}

fn set(phase: &Rc<RefCell<Phase>>, next: Phase) {
    if let Ok(mut p) = phase.try_borrow_mut() {
        *p = next;
    }
}
