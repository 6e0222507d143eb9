//! One request's decision: which policy, which token, is it good, and what goes upstream.
//! A pure function of (configuration, request facts, now).

use crate::config::{Config, Policy, Strategy, DEFAULT_REALM};
use crate::extract::{self, Found, TokenSource};
use crate::{Denial, Identity, LocalResponse, Request};

/// Header edits for the request that goes upstream: removals first, then sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamEdits {
    pub remove: Vec<String>,
    pub set: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow { policy: usize, edits: UpstreamEdits },
    Deny { denial: Denial, response: LocalResponse },
}

/// Prefixes of identity headers that only the filter may set.
const IDENTITY_PREFIXES: [&str; 2] = ["x-credential-", "x-consumer-"];
const IDENTITY_HEADERS: [&str; 1] = ["x-anonymous-consumer"];

/// The standard credential headers, named as the oauth2-introspection plugin names them.
const CREDENTIAL_CLAIMS: [(&str, &str); 9] = [
    ("x-credential-sub", "sub"),
    ("x-credential-iss", "iss"),
    ("x-credential-aud", "aud"),
    ("x-credential-exp", "exp"),
    ("x-credential-iat", "iat"),
    ("x-credential-nbf", "nbf"),
    ("x-credential-jti", "jti"),
    ("x-credential-client-id", "client_id"),
    ("x-credential-username", "username"),
];

pub fn decide(cfg: &Config, req: &Request, now: u64) -> Decision {
    let policy_index = match crate::routing::select(&cfg.routes, cfg.default_policy, |n| cfg.policy_index(n), req) {
        Ok(i) => i,
        Err(d) => return deny(d, DEFAULT_REALM),
    };
    let Some(policy) = cfg.policies.get(policy_index) else { return deny(Denial::NoPolicy, DEFAULT_REALM) };
    let mut edits = UpstreamEdits { remove: spoofable_headers(cfg, req), set: Vec::new() };
    if policy.public {
        return Decision::Allow { policy: policy_index, edits };
    }
    let found = match extract::extract(&policy.sources, req) {
        Ok(Some(f)) => f,
        Ok(None) => return deny(Denial::MissingToken, &policy.realm),
        Err(d) => return deny(d, &policy.realm),
    };
    let Some(server) = policy.server.and_then(|i| cfg.servers.get(i)) else {
        return deny(Denial::NoPolicy, &policy.realm);
    };
    let identity = match &server.strategy {
        Strategy::Jwt(rules) => rules.verify(&found.token, now),
    };
    match identity {
        Ok(id) => {
            credential_headers(policy, &id, &mut edits);
            if policy.hide_credentials {
                hide(&found, req, &mut edits);
            }
            Decision::Allow { policy: policy_index, edits }
        }
        Err(d) => deny(d, &policy.realm),
    }
}

fn deny(denial: Denial, realm: &str) -> Decision {
    Decision::Deny { denial, response: denial.respond(realm) }
}

/// Identity headers present on the client's request, which must not reach the upstream.
fn spoofable_headers(cfg: &Config, req: &Request) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (name, _) in &req.headers {
        let spoofable = IDENTITY_PREFIXES.iter().any(|p| name.starts_with(p))
            || IDENTITY_HEADERS.contains(&name.as_str())
            || cfg.mapped_headers.binary_search(name).is_ok();
        if spoofable && !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

fn credential_headers(policy: &Policy, id: &Identity, edits: &mut UpstreamEdits) {
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            edits.set.push((name.to_string(), v));
        }
    };
    for (header, claim) in CREDENTIAL_CLAIMS {
        put(header, id.header_value(claim));
    }
    put("x-credential-scope", id.scopes());
    for (header, claim) in &policy.claim_headers {
        put(header, id.header_value(claim));
    }
}

/// `hide_credentials`: the token leaves the request before it goes upstream.
fn hide(found: &Found, req: &Request, edits: &mut UpstreamEdits) {
    match &found.source {
        TokenSource::Header { name, .. } => edits.remove.push(name.clone()),
        TokenSource::Query(param) => {
            edits.set.push((":path".into(), extract::path_without_param(req.path_and_query(), param)));
        }
        TokenSource::Cookie(cookie) => {
            let all: Vec<&str> = req.header_values("cookie").filter_map(|v| std::str::from_utf8(v).ok()).collect();
            match extract::cookie_without(&all.join("; "), cookie) {
                Some(rest) => edits.set.push(("cookie".into(), rest)),
                None => edits.remove.push("cookie".into()),
            }
        }
    }
}
