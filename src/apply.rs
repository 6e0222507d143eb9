//! Carries out a decision on the current request: header edits and go on, or a local reply.

use crate::{host, metrics};
use oauth_core::{Decision, Denial, LocalResponse, UpstreamEdits};
use proxy_wasm::types::Action;

pub fn allow(edits: &UpstreamEdits) {
    metrics::inc(metrics::ALLOWED);
    for name in &edits.remove {
        host::remove_request_header(name);
    }
    for (name, value) in &edits.set {
        host::set_request_header(name, value);
    }
}

pub fn deny(context_id: u32, denial: Denial, response: &LocalResponse) {
    log::debug!("denied: {} (context {context_id})", denial.name());
    metrics::denied(denial.name());
    let details = format!("oauth_filter_{}", denial.name());
    host::send_local_response(response.status, &response.headers, &response.body, &details);
}

/// For a request still in `on_http_request_headers`: the action to return. `Wait` is the
/// caller's business (it registers the waiter first).
pub fn now(context_id: u32, decision: &Decision) -> Action {
    match decision {
        Decision::Allow { edits, .. } => {
            allow(edits);
            Action::Continue
        }
        Decision::Deny { denial, response } => {
            deny(context_id, *denial, response);
            Action::Pause
        }
        Decision::Wait { .. } | Decision::Introspect { .. } | Decision::AwaitUpstreamToken { .. } => Action::Pause,
    }
}

/// For a paused request, from the root context: act on it through its context id.
pub fn later(context_id: u32, decision: &Decision) {
    if !host::set_effective_context(context_id) {
        return; // the request is gone
    }
    match decision {
        Decision::Allow { edits, .. } => {
            allow(edits);
            host::resume_request();
        }
        Decision::Deny { denial, response } => deny(context_id, *denial, response),
        // Decided again without waiting, a request cannot ask to wait; refuse, never pass.
        Decision::Wait { .. } | Decision::Introspect { .. } | Decision::AwaitUpstreamToken { .. } => {
            let r = Denial::IdpUnavailable.respond(oauth_core::config::DEFAULT_REALM, "");
            deny(context_id, Denial::IdpUnavailable, &r);
        }
    }
}
