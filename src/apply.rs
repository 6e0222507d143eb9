//! Carries out a decision on the current request: header edits and go on, or a local reply.

use crate::records::Phase;
use crate::{host, metrics};
use oauth_core::{Decision, Denial, LocalResponse, UpstreamEdits, Wait};
use proxy_wasm::types::Action;

fn allow(edits: &UpstreamEdits) {
    metrics::inc(metrics::ALLOWED);
    for name in &edits.remove {
        host::remove_request_header(name);
    }
    for (name, value) in edits.sets() {
        host::set_request_header(name, value);
    }
    for (name, value) in edits.state() {
        host::set_property(name, value);
    }
}

pub fn deny(context_id: u32, denial: Denial, response: &LocalResponse) {
    log::debug!("denied: {} (context {context_id})", denial.name());
    metrics::denied(denial);
    host::send_local_response(response.status, &response.headers, &response.body, denial.details());
}

fn allowed(edits: &UpstreamEdits, policy: usize) -> Phase {
    allow(edits);
    Phase::Allowed { injected: edits.upstream_token_version.map(|v| (policy, v)) }
}

/// For a request still in `on_http_request_headers`: the action to return and its next
/// phase. A `Wait` is the caller's business (it never reaches here).
pub fn now(context_id: u32, decision: &Decision) -> (Action, Phase) {
    match decision {
        Decision::Allow { policy, edits } => (Action::Continue, allowed(edits, *policy)),
        Decision::Deny { denial, response } => {
            deny(context_id, *denial, response);
            (Action::Pause, Phase::Answered)
        }
        Decision::Wait(w) => {
            deny(context_id, w.denial, &w.response);
            (Action::Pause, Phase::Answered)
        }
    }
}

/// For a paused request, decided again: act on it through its context id. A decision
/// cannot ask to wait again; if it did, the wait's own refusal is sent, never a pass.
pub fn later(context_id: u32, decision: &Decision, waited: &Wait) -> Phase {
    if !host::set_effective_context(context_id) {
        return Phase::Answered; // the request is gone
    }
    match decision {
        Decision::Allow { policy, edits } => {
            let next = allowed(edits, *policy);
            host::resume_request();
            next
        }
        Decision::Deny { denial, response } => {
            deny(context_id, *denial, response);
            Phase::Answered
        }
        Decision::Wait(_) => give_up(context_id, waited),
    }
}

/// A paused request whose wait ended without what it waited for.
pub fn give_up(context_id: u32, waited: &Wait) -> Phase {
    if host::set_effective_context(context_id) {
        deny(context_id, waited.denial, &waited.response);
    }
    Phase::Answered
}
