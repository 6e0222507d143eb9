//! The HTTP context: one per request. It owns the request's phase and hands each host event
//! to it; OAuth endpoint requests (token issuer, Janus front) are served here.

use crate::phase;
use crate::records::Phase;
use crate::worker::Worker;
use crate::{admin, fetch, hold, host, metrics, waiters};
use oauth_core::endpoints::{self, OAuthEndpoint};
use oauth_core::endpoints::response::Answer;
use oauth_core::{Config, Denial, Request};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::cell::RefCell;
use std::rc::Rc;

pub struct Http {
    id: u32,
    worker: Option<Rc<RefCell<Worker>>>,
    /// Shared with the worker's list of waiting requests while this one waits.
    phase: Rc<RefCell<Phase>>,
    /// While held in its headers for its body (`hold`): cleared when the body comes.
    held: Option<Rc<std::cell::Cell<bool>>>,
}

impl Http {
    pub fn new(id: u32, worker: Option<Rc<RefCell<Worker>>>) -> Self {
        Http { id, worker, phase: Rc::new(RefCell::new(Phase::Start)), held: None }
    }

    fn phase_is(&self, f: impl Fn(&Phase) -> bool) -> bool {
        self.phase.try_borrow().map_or(true, |p| f(&p))
    }
}

/// Requests make no calls of their own: the root context makes them (see `introspect`).
impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(cell) = self.worker.clone() else { return unconfigured() };
        let Ok(mut w) = cell.try_borrow_mut() else { return unconfigured() };
        let request = read_request(&w.config);
        if let Some(op) = w.config.admin.as_ref().and_then(|a| a.op(&request)) {
            return self.admin_headers(&mut w, op, &request, end_of_stream);
        }
        if let Some(ep) = endpoints::find(&w.config, &request) {
            let action = self.endpoint_headers(&w, ep, request, end_of_stream);
            return self.hold_for_body(&mut w, action, |p| matches!(p, Phase::Endpoint { .. }));
        }
        phase::start(&mut w, self.id, &self.phase, request)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if let Some(held) = self.held.take() {
            held.set(false); // the body came while held: the host delivers it (no release needed)
        }
        if self.phase_is(|p| matches!(p, Phase::Admin { .. })) {
            return self.admin_body(body_size, end_of_stream);
        }
        if !self.phase_is(|p| matches!(p, Phase::Endpoint { .. })) {
            // A request still waiting for its decision must not let its body (and so itself)
            // go on: Envoy would resume the request on Continue.
            return if self.phase_is(|p| matches!(p, Phase::Waiting(_) | Phase::AdminWrite { .. })) { Action::Pause } else { Action::Continue };
        }
        if !end_of_stream && body_size <= endpoints::MAX_BODY {
            return Action::Pause; // buffer: the body waits here (and, held, its headers too)
        }
        let taken = self.phase.try_borrow_mut().map(|mut p| std::mem::replace(&mut *p, Phase::Answered));
        let Ok(Phase::Endpoint { ep, request }) = taken else { return Action::Continue };
        let Some(cell) = self.worker.clone() else { return unconfigured() };
        let Ok(w) = cell.try_borrow() else { return unconfigured() };
        if endpoints::find(&w.config, &request) != Some(ep) {
            // The admin API changed the servers while the body came: decide on nothing stale.
            return unconfigured();
        }
        let body = host::request_body(body_size, endpoints::MAX_BODY + 1);
        endpoint_body(&w, self.id, ep, &request, &body, body_size)
    }

    /// Trailers end the request. Envoy resumes a stream paused in its headers when the filter
    /// lets its trailers go on, so a request still waiting for its decision holds them too;
    /// an endpoint the filter answers from the body takes no trailers (its body never ended
    /// in the body callback): refused rather than let the buffered body go on undecided.
    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if self.phase_is(|p| matches!(p, Phase::Waiting(_) | Phase::AdminWrite { .. })) {
            return Action::Pause;
        }
        if self.phase_is(|p| matches!(p, Phase::Endpoint { .. } | Phase::Admin { .. })) {
            if let Ok(mut p) = self.phase.try_borrow_mut() {
                *p = Phase::Answered;
            }
            let r = Denial::TrailersRefused.respond(oauth_core::config::DEFAULT_REALM, "");
            host::send_local_response(r.status, &r.headers, &r.body, Denial::TrailersRefused.details());
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // An admin write whose headers went on (to have its body read) waits for etcd: the
        // route's cluster may answer first; its answer waits and the filter's replaces it.
        if self.phase_is(|p| matches!(p, Phase::AdminWrite { .. })) {
            return Action::Pause;
        }
        let injected = match self.phase.try_borrow().as_deref() {
            Ok(Phase::Allowed { injected: Some(i) }) => Some(*i),
            _ => None,
        };
        if let (Some((policy, version)), Some(cell)) = (injected, self.worker.clone()) {
            if host::response_status() == 401 {
                if let Ok(mut w) = cell.try_borrow_mut() {
                    fetch::upstream_refused(&mut w, policy, version);
                }
            }
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        if self.phase_is(|p| matches!(p, Phase::AdminWrite { .. })) {
            return Action::Pause;
        }
        Action::Continue
    }
}

impl Http {
    /// A request that goes on to have its body read (`action` Continue, phase `reading`) is
    /// held in its headers instead, until its body comes or `hold` lets it go.
    fn hold_for_body(&mut self, w: &mut Worker, action: Action, reading: impl Fn(&Phase) -> bool) -> Action {
        if action != Action::Continue || !self.phase.try_borrow().is_ok_and(|p| reading(&p)) {
            return action;
        }
        self.held = Some(hold::hold(w, self.id));
        Action::Pause
    }

    /// An admin API request's headers. Kept out of the request path's code (`inline(never)`,
    /// as `endpoint_headers`): a hit runs through less of it.
    #[inline(never)]
    fn admin_headers(&mut self, w: &mut Worker, op: oauth_core::endpoints::admin::Op, request: &Request, end_of_stream: bool) -> Action {
        let action = {
            let Ok(mut phase) = self.phase.try_borrow_mut() else { return unconfigured() };
            admin::on_headers(w, self.id, &mut phase, op, request, end_of_stream)
        };
        if self.phase_is(|p| matches!(p, Phase::AdminWrite { .. })) {
            waiters::add(w, self.id, &self.phase);
        }
        self.hold_for_body(w, action, |p| matches!(p, Phase::Admin { .. }))
    }

    /// An admin API request's body: buffered here, then answered.
    fn admin_body(&self, body_size: usize, end_of_stream: bool) -> Action {
        let too_large = body_size > endpoints::MAX_BODY;
        if !end_of_stream && !too_large {
            return Action::Pause;
        }
        let taken = self.phase.try_borrow_mut().map(|mut p| std::mem::replace(&mut *p, Phase::Answered));
        let Ok(Phase::Admin { op }) = taken else { return Action::Continue };
        let Some(cell) = self.worker.clone() else { return unconfigured() };
        let Ok(mut w) = cell.try_borrow_mut() else { return unconfigured() };
        let body = if too_large { Vec::new() } else { host::request_body(body_size, endpoints::MAX_BODY) };
        let mut next = Phase::Answered;
        let action = admin::on_body(&mut w, self.id, &mut next, &op, &body, too_large);
        if matches!(next, Phase::AdminWrite { .. }) {
            if let Ok(mut p) = self.phase.try_borrow_mut() {
                *p = next;
            }
            waiters::add(&mut w, self.id, &self.phase);
        }
        action
    }

    /// An OAuth endpoint request's headers: answered now, or let go on, its header changes made.
    /// One that reads a body goes on too (never paused here: without the host's
    /// `allow_on_headers_stop_iteration` a pause would hold its body back for good) and is
    /// answered from its body.
    #[inline(never)]
    fn endpoint_headers(&self, w: &Worker, ep: OAuthEndpoint, request: Request, end_of_stream: bool) -> Action {
        let (nonce, crypto) = (nonce(w, self.id), w.crypto.as_ref().map(|c| c as &dyn oauth_core::crypto::CryptoHost));
        match endpoints::on_headers(&w.config, ep, &request, host::now_secs(), nonce, crypto) {
            Answer::Respond(r) => respond(ep, &r),
            Answer::Forward { remove, set, .. } => {
                for name in &remove {
                    host::remove_request_header(name);
                }
                for (k, v) in &set {
                    host::set_request_header(k, v);
                }
                if !endpoints::needs_body(ep, &request) {
                    return Action::Continue;
                }
                if end_of_stream {
                    return endpoint_body(w, self.id, ep, &request, &[], 0);
                }
                if let Ok(mut p) = self.phase.try_borrow_mut() {
                    *p = Phase::Endpoint { ep, request };
                }
                Action::Continue
            }
        }
    }
}

fn nonce(w: &Worker, id: u32) -> u64 {
    host::now_nanos() ^ (w.vm_id << 40) ^ u64::from(id)
}

/// An OAuth endpoint request's whole body: answered, or let go on (perhaps with a new body).
fn endpoint_body(w: &Worker, id: u32, ep: OAuthEndpoint, request: &Request, body: &[u8], body_size: usize) -> Action {
    let crypto = w.crypto.as_ref().map(|c| c as &dyn oauth_core::crypto::CryptoHost);
    match endpoints::on_body(&w.config, ep, request, body, host::now_secs(), nonce(w, id), crypto) {
        Answer::Respond(r) => respond(ep, &r),
        Answer::Forward { body: new_body, .. } => {
            if let Some(b) = new_body {
                // `content-length` left with the headers (Janus::token_headers): the body is
                // sent chunked.
                host::set_request_body(body_size, &b);
            }
            Action::Continue
        }
    }
}

fn respond(ep: OAuthEndpoint, r: &oauth_core::LocalResponse) -> Action {
    if r.status == 200 && ep == OAuthEndpoint::Issuer(oauth_core::endpoints::issuer::Endpoint::Token) {
        metrics::inc(metrics::TOKENS_ISSUED);
    }
    host::send_local_response(r.status, &r.headers, &r.body, "oauth_filter_endpoint");
    Action::Pause
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
