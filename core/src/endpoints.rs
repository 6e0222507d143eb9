//! Endpoints the filter serves itself (the token issuer) or guards (Janus OAuth servers),
//! found before any policy: they need no access token.

use crate::config::Config;
use crate::crypto::CryptoHost;
use crate::issuer::Endpoint;
use crate::janus::{self, Kind};
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

pub fn handle(
    cfg: &Config,
    ep: OAuthEndpoint,
    req: &Request,
    body: &[u8],
    now: u64,
    nonce: u64,
    host: Option<&dyn CryptoHost>,
) -> janus::Action {
    if body.len() > MAX_BODY {
        let r = LocalResponse::json(413, vec![], &serde_json::json!({"error": "invalid_request", "error_description": "body too large"}));
        return janus::Action::Respond(r);
    }
    match ep {
        OAuthEndpoint::Issuer(e) => match &cfg.token_issuer {
            Some(i) => janus::Action::Respond(i.handle(e, req, body, now, nonce, host)),
            None => janus::Action::Forward { set: Vec::new(), body: None },
        },
        OAuthEndpoint::Front { server, kind } => match cfg.servers.get(server).and_then(|s| s.front.as_ref()) {
            Some(f) => f.handle(kind, req, body),
            None => janus::Action::Forward { set: Vec::new(), body: None },
        },
    }
}
