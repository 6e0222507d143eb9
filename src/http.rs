//! The HTTP context: one per request. Moves request facts to the core and the decision back;
//! a request that must wait for keys or an introspection answer is paused.

use crate::introspect::{self, Call, Started};
use crate::worker::{WaitFor, Worker};
use crate::{apply, host, keys, metrics, tokens, waiters};
use oauth_core::endpoints::{self, OAuthEndpoint};
use oauth_core::janus::Action as FrontAction;
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
    /// An OAuth endpoint request waiting for its body.
    endpoint: Option<(OAuthEndpoint, Request)>,
}

impl Http {
    pub fn new(id: u32, worker: Option<Rc<RefCell<Worker>>>) -> Self {
        Http { id, worker, call: None, injected: None, endpoint: None }
    }
}

impl Http {
    /// Whether this request still waits for keys, an introspection answer or a token.
    fn undecided(&self) -> bool {
        if self.call.is_some() {
            return true;
        }
        self.worker.as_ref().is_some_and(|w| match w.try_borrow() {
            Ok(w) => w.waiters.iter().any(|x| x.context_id == self.id),
            Err(_) => true,
        })
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
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(cell) = self.worker.clone() else { return unconfigured() };
        let Ok(mut w) = cell.try_borrow_mut() else { return unconfigured() };
        let request = read_request(&w.config);
        if let Some(ep) = endpoints::find(&w.config, &request) {
            if endpoints::needs_body(ep, &request) && !end_of_stream {
                self.endpoint = Some((ep, request));
                return Action::Pause; // until the body is in
            }
            return serve_endpoint(&w, self.id, ep, &request, &[], 0);
        }
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

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.endpoint.is_none() {
            // A request still waiting for its decision must not let its body (and so itself)
            // go on: Envoy would resume the request on Continue.
            return if self.undecided() { Action::Pause } else { Action::Continue };
        }
        if !end_of_stream && body_size <= endpoints::MAX_BODY {
            return Action::Pause; // buffer
        }
        let Some((ep, request)) = self.endpoint.take() else { return Action::Continue };
        let Some(cell) = self.worker.clone() else { return unconfigured() };
        let Ok(w) = cell.try_borrow() else { return unconfigured() };
        let body = host::request_body(body_size, endpoints::MAX_BODY + 1);
        serve_endpoint(&w, self.id, ep, &request, &body, body_size)
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

/// Answers or forwards a request on an OAuth endpoint (token issuer, Janus front).
fn serve_endpoint(w: &Worker, id: u32, ep: OAuthEndpoint, request: &Request, body: &[u8], body_size: usize) -> Action {
    let nonce = host::now_nanos() ^ (w.vm_id << 40) ^ u64::from(id);
    let crypto = w.crypto.as_ref().map(|c| c as &dyn oauth_core::crypto::CryptoHost);
    match endpoints::handle(&w.config, ep, request, body, host::now_secs(), nonce, crypto) {
        FrontAction::Respond(r) => {
            if r.status == 200 && ep == OAuthEndpoint::Issuer(oauth_core::issuer::Endpoint::Token) {
                metrics::inc(metrics::TOKENS_ISSUED);
            }
            host::send_local_response(r.status, &r.headers, &r.body, "oauth_filter_endpoint");
            Action::Pause
        }
        FrontAction::Forward { set, body: new_body } => {
            for (k, v) in &set {
                host::set_request_header(k, v);
            }
            if let Some(b) = new_body {
                host::set_request_body(body_size, &b);
                host::set_request_header("content-length", &b.len().to_string());
            }
            Action::Continue
        }
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
    let metadata_policy = cfg
        .metadata_namespace
        .as_deref()
        .and_then(|ns| host::property_string(&["xds", "route_metadata", "filter_metadata", ns, "policy"]));
    Request { headers: host::request_headers(), route_name, metadata_policy }
}
