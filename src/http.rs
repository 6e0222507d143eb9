//! The HTTP context: one per request. Moves request facts to the core and the decision back;
//! a request that must wait for keys or an introspection answer is paused.

use crate::introspect::{self, Call, Started};
use crate::worker::{WaitFor, Worker};
use crate::{apply, host, keys, tokens, waiters};
use oauth_core::{decide, Config, Decision, Denial, Request};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::cell::RefCell;
use std::rc::Rc;

pub struct Http {
    id: u32,
    worker: Option<Rc<RefCell<Worker>>>,
    /// The introspection call this request made, if any.
    call: Option<Call>,
    /// (policy, version) of the client-credentials token sent upstream, if any.
    injected: Option<(usize, u64)>,
}

impl Http {
    pub fn new(id: u32, worker: Option<Rc<RefCell<Worker>>>) -> Self {
        Http { id, worker, call: None, injected: None }
    }
}

impl Context for Http {
    fn on_http_call_response(&mut self, token_id: u32, _num_headers: usize, body_size: usize, _num_trailers: usize) {
        let Some(call) = self.call.take().filter(|c| c.token_id == token_id) else { return };
        let Some(cell) = self.worker.clone() else { return };
        let Ok(mut w) = cell.try_borrow_mut() else { return };
        introspect::answered(&mut w, &call, body_size);
        let now = host::now_secs();
        let decision = decide(&w.config, &call.request, now, &w.keys_at(now), false);
        apply::later(self.id, &decision);
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        // A request that ends while waiting (client gone) leaves the waiters.
        if let Some(w) = &self.worker {
            if let Ok(mut w) = w.try_borrow_mut() {
                w.waiters.retain(|waiter| waiter.context_id != self.id);
            }
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(cell) = self.worker.clone() else { return unconfigured() };
        let Ok(mut w) = cell.try_borrow_mut() else { return unconfigured() };
        let request = read_request(&w.config);
        let now = host::now_secs();
        let decision = decide(&w.config, &request, now, &w.keys_at(now), true);
        match decision {
            Decision::Wait { server, refetch } => {
                if refetch {
                    keys::request_refetch(&w, server);
                }
                let version_at_start = w.sources.get(server).map_or(0, |s| s.version);
                let max_wait = w.config.servers.get(server).and_then(|s| s.remote.as_ref()).map_or(0, |s| s.max_wait_ms);
                waiters::add(&mut w, self.id, request, server, WaitFor::Keys { version_at_start }, max_wait);
                Action::Pause
            }
            Decision::Introspect { server, token } => match introspect::start(&mut w, self.id, server, &token, request) {
                Started::Calling(call) => {
                    self.call = Some(call);
                    Action::Pause
                }
                Started::Waiting => Action::Pause,
                Started::Failed(denial) => {
                    apply::deny(self.id, denial, &denial.respond(oauth_core::config::DEFAULT_REALM, ""));
                    Action::Pause
                }
            },
            Decision::AwaitUpstreamToken { policy } => {
                let max_wait = w.config.policies.get(policy).and_then(|p| p.client_credentials.as_ref()).map_or(0, |c| c.max_wait_ms);
                waiters::add(&mut w, self.id, request, policy, WaitFor::UpstreamToken { policy }, max_wait);
                Action::Pause
            }
            other => {
                if let Decision::Allow { policy, edits } = &other {
                    self.injected = edits.upstream_token_version.map(|v| (*policy, v));
                }
                apply::now(self.id, &other)
            }
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let (Some((policy, version)), Some(cell)) = (self.injected, self.worker.clone()) {
            if host::response_status() == 401 {
                if let Ok(mut w) = cell.try_borrow_mut() {
                    tokens::upstream_refused(&mut w, policy, version);
                }
            }
        }
        Action::Continue
    }
}

/// Never configured: refuse rather than pass unchecked traffic.
fn unconfigured() -> Action {
    let denial = Denial::IdpUnavailable;
    let r = denial.respond(oauth_core::config::DEFAULT_REALM, "");
    host::send_local_response(503, &r.headers, &r.body, "oauth_filter_unconfigured");
    Action::Pause
}

fn read_request(cfg: &Config) -> Request {
    let route_name = if cfg.uses_route_names() { host::property_string(&["xds", "route_name"]) } else { None };
    let metadata_policy =
        host::property_string(&["xds", "route_metadata", "filter_metadata", &cfg.metadata_namespace, "policy"]);
    Request { headers: host::request_headers(), route_name, metadata_policy }
}
