//! Endpoints the filter serves itself (the token issuer) or guards (Janus OAuth servers),
//! found before any policy: they need no access token. The token issuer (`issuer`), the Janus
//! front (`janus`) and admin API (`admin`), and what they share: request bodies (`form`) and
//! local replies (`response`).

pub mod admin;
pub mod form;
pub mod issuer;
pub mod janus;
pub mod response;

use crate::config::Config;
use crate::crypto::CryptoHost;
use issuer::Endpoint;
use janus::Kind;
use response::Answer;
use crate::{LocalResponse, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthEndpoint {
    Issuer(Endpoint),
    Front { server: usize, kind: Kind },
}

/// Largest body read for an OAuth endpoint.
pub const MAX_BODY: usize = 64 * 1024;

/// The OAuth endpoint this request is for, if any.
pub fn find(cfg: &Config, req: &Request) -> Option<OAuthEndpoint> {
    if let Some(ep) = cfg.token_issuer.as_ref().and_then(|i| i.endpoint(req)) {
        return Some(OAuthEndpoint::Issuer(ep));
    }
    cfg.servers.iter().enumerate().find_map(|(server, s)| {
        s.front.as_ref().and_then(|f| f.endpoint(req)).map(|kind| OAuthEndpoint::Front { server, kind })
    })
}

/// Whether the answer depends on the request body.
pub fn needs_body(ep: OAuthEndpoint, req: &Request) -> bool {
    match ep {
        OAuthEndpoint::Issuer(e) => e.needs_body(),
        OAuthEndpoint::Front { kind, .. } => janus::Front::needs_body(kind, req),
    }
}

/// The request goes on to Envoy's route unchanged (its body is still to be decided on).
fn go_on() -> Answer {
    Answer::Forward { remove: Vec::new(), set: Vec::new(), body: None }
}

/// What an endpoint request's headers decide. Envoy passes the headers on before the body
/// arrives unless the host lets a filter hold them (`allow_on_headers_stop_iteration`, which a
/// plain Istio `WasmPlugin` cannot set), so nothing here waits for the body: every header
/// change is made now, and when `needs_body` the answer comes from `on_body`.
pub fn on_headers(
    cfg: &Config,
    ep: OAuthEndpoint,
    req: &Request,
    now: u64,
    nonce: u64,
    host: Option<&dyn CryptoHost>,
) -> Answer {
    let step = match ep {
        // Answered from the body. Where the host cannot hold the headers meanwhile (a plain
        // `WasmPlugin`) they go on to the route's cluster: without the client's credentials
        // (the decision reads them from the request as it came).
        OAuthEndpoint::Issuer(_) if needs_body(ep, req) => Answer::Forward {
            remove: crate::decision::upstream::CREDENTIAL_HEADERS.map(String::from).to_vec(),
            set: Vec::new(),
            body: None,
        },
        OAuthEndpoint::Issuer(e) => match &cfg.token_issuer {
            Some(i) => Answer::Respond(i.handle(e, req, &[], now, nonce, host)),
            None => go_on(),
        },
        OAuthEndpoint::Front { server, kind } => match cfg.servers.get(server).and_then(|s| s.front.as_ref()) {
            Some(f) => f.headers(kind, req),
            None => go_on(),
        },
    };
    // The client's identity headers never reach the OAuth server either.
    match step {
        Answer::Forward { mut remove, set, body } => {
            remove.extend(crate::decision::upstream::spoofable_headers(cfg, req));
            Answer::Forward { remove, set, body }
        }
        answer => answer,
    }
}

/// What the whole body decides for an endpoint that `needs_body`: an answer, or the request
/// going on (perhaps with a new body). Never a header change: the headers are gone.
pub fn on_body(
    cfg: &Config,
    ep: OAuthEndpoint,
    req: &Request,
    body: &[u8],
    now: u64,
    nonce: u64,
    host: Option<&dyn CryptoHost>,
) -> Answer {
    if body.len() > MAX_BODY {
        let r = LocalResponse::json(413, vec![], &serde_json::json!({"error": "invalid_request", "error_description": "body too large"}));
        return Answer::Respond(r);
    }
    match ep {
        OAuthEndpoint::Issuer(e) => match &cfg.token_issuer {
            Some(i) => Answer::Respond(i.handle(e, req, body, now, nonce, host)),
            None => go_on(),
        },
        OAuthEndpoint::Front { server, kind } => match cfg.servers.get(server).and_then(|s| s.front.as_ref()) {
            Some(f) => match f.body(kind, req, body) {
                Answer::Forward { body, .. } => Answer::Forward { remove: Vec::new(), set: Vec::new(), body },
                answer => answer,
            },
            None => go_on(),
        },
    }
}
