//! One request's decision: which policy, which token, is it good, and what goes upstream.
//! A pure function of (configuration, request facts, now).

use crate::config::{Config, ConsumerBy, Policy, Strategy, DEFAULT_REALM};
use crate::crypto::CryptoHost;
use crate::introspection::Lookup;
use crate::extract::{self, Found, TokenSource};
use crate::jwt::VerifyKey;
use crate::{Denial, Identity, LocalResponse, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// The keys a worker has fetched, per server index.
pub trait KeyStore {
    /// Fetched keys for `server`; None when none may be used (none yet, or older than
    /// `max_stale`).
    fn fetched(&self, server: usize) -> Option<&[VerifyKey]>;
    /// Whether an unknown kid may ask for a refetch for `server` now (cooldown).
    fn may_refetch(&self, server: usize) -> bool;
    /// The version of `server`'s fetched keys (cached verifications of older keys are void).
    fn keys_version(&self, _server: usize) -> u64 {
        0
    }
    /// The host's signature checks, when it offers them (the algorithms it passed the probe).
    fn crypto(&self) -> Option<&dyn CryptoHost> {
        None
    }
    /// The cached introspection answer for `token` at introspection server `server`.
    fn introspection(&self, _server: usize, _token: &str) -> Lookup {
        Lookup::Miss
    }
    /// The client-credentials token for `policy`'s upstream and its version, if usable now.
    fn upstream_token(&self, _policy: usize) -> Option<(String, u64)> {
        None
    }
}

/// For configurations without fetched keys.
pub struct NoFetchedKeys;

impl KeyStore for NoFetchedKeys {
    fn fetched(&self, _server: usize) -> Option<&[VerifyKey]> {
        None
    }
    fn may_refetch(&self, _server: usize) -> bool {
        false
    }
}

/// Header edits for the request that goes upstream: removals first, then sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamEdits {
    pub remove: Vec<String>,
    pub set: Vec<(String, String)>,
    /// The version of the client-credentials token sent upstream, if one was.
    pub upstream_token_version: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow { policy: usize, edits: UpstreamEdits },
    Deny { denial: Denial, response: LocalResponse },
    /// The keys of `server` are missing (first fetch) or lack the token's kid (`refetch`):
    /// the request waits for a fetch, then is decided again with `may_wait` false.
    Wait { server: usize, refetch: bool },
    /// No cached answer for this token: introspect it at `server` (or wait for the worker
    /// that already does), then decide again with `may_wait` false.
    Introspect { server: usize, token: String },
    /// The request may go on but its upstream token is not there yet: wait for the fetch.
    AwaitUpstreamToken { policy: usize },
}

enum Check {
    Denied(Denial),
    Wait { server: usize, refetch: bool },
    Introspect { server: usize, token: String },
}

/// Prefixes of identity headers that only the filter may set.
const IDENTITY_PREFIXES: [&str; 2] = ["x-credential-", "x-consumer-"];
const IDENTITY_HEADERS: [&str; 1] = ["x-anonymous-consumer"];

/// The standard credential headers, named as the oauth2-introspection plugin names them.
const CREDENTIAL_CLAIMS: [(&str, &str); 10] = [
    ("x-credential-sub", "sub"),
    ("x-credential-iss", "iss"),
    ("x-credential-aud", "aud"),
    ("x-credential-exp", "exp"),
    ("x-credential-iat", "iat"),
    ("x-credential-nbf", "nbf"),
    ("x-credential-jti", "jti"),
    ("x-credential-client-id", "client_id"),
    ("x-credential-username", "username"),
    ("x-credential-token-type", "token_type"),
];

pub fn decide(cfg: &Config, req: &Request, now: u64, keys: &dyn KeyStore, may_wait: bool) -> Decision {
    let policy_index = match crate::routing::select(&cfg.routes, cfg.default_policy, |n| cfg.policy_index(n), req) {
        Ok(i) => i,
        Err(d) => return deny(d, DEFAULT_REALM, ""),
    };
    let Some(policy) = cfg.policies.get(policy_index) else { return deny(Denial::NoPolicy, DEFAULT_REALM, "") };
    let decision = authorize(cfg, policy_index, policy, req, now, keys, may_wait);
    match decision {
        Decision::Allow { policy: p, edits } => with_upstream_token(policy, p, req, keys, edits, may_wait),
        other => other,
    }
}

/// KrakenD's client credentials: the fetched token goes upstream in `Authorization`.
fn with_upstream_token(policy: &Policy, index: usize, req: &Request, keys: &dyn KeyStore, mut edits: UpstreamEdits, may_wait: bool) -> Decision {
    let Some(cc) = &policy.client_credentials else { return Decision::Allow { policy: index, edits } };
    let client_kept = !cc.replace_authorization
        && req.header("authorization").is_some()
        && !edits.remove.iter().any(|h| h == "authorization");
    if client_kept {
        return Decision::Allow { policy: index, edits };
    }
    match keys.upstream_token(index) {
        Some((token, version)) => {
            edits.set.retain(|(k, _)| k != "authorization");
            edits.set.push(("authorization".into(), format!("Bearer {token}")));
            edits.upstream_token_version = Some(version);
            Decision::Allow { policy: index, edits }
        }
        None if may_wait => Decision::AwaitUpstreamToken { policy: index },
        None => deny(Denial::UpstreamTokenUnavailable, &policy.realm, ""),
    }
}

fn authorize(cfg: &Config, policy_index: usize, policy: &Policy, req: &Request, now: u64, keys: &dyn KeyStore, may_wait: bool) -> Decision {
    let mut edits = UpstreamEdits { remove: spoofable_headers(cfg, req), set: Vec::new(), upstream_token_version: None };
    if policy.public || (!policy.run_on_preflight && is_preflight(req)) {
        return Decision::Allow { policy: policy_index, edits };
    }
    let (realm, scope) = (policy.realm.as_str(), policy.scope_challenge.as_str());
    match authenticate(cfg, policy, req, now, keys, may_wait) {
        Ok((id, found)) => {
            if !has_scopes(&id, &policy.required_scopes) {
                return deny(Denial::InsufficientScope, realm, scope);
            }
            credential_headers(policy, &id, &mut edits);
            consumer_headers(cfg, policy, &id, &mut edits);
            if policy.hide_credentials {
                let mut hidden: Vec<&TokenSource> = Vec::new();
                for f in &found {
                    if !hidden.contains(&&f.source) {
                        hide(f, req, &mut edits);
                        hidden.push(&f.source);
                    }
                }
            }
            Decision::Allow { policy: policy_index, edits }
        }
        Err(Check::Denied(d)) => match policy.anonymous.and_then(|i| cfg.consumers.get(i)) {
            // Kong's `anonymous`: a failed authentication goes on as that consumer, without
            // any X-Credential-* header. Never for 503 (unknown outcome) nor 403 (scope).
            Some(consumer) if d.status() == 401 => {
                set_consumer(consumer, &mut edits);
                edits.set.push(("x-anonymous-consumer".into(), "true".into()));
                Decision::Allow { policy: policy_index, edits }
            }
            _ => deny(d, realm, scope),
        },
        Err(Check::Wait { server, refetch }) => Decision::Wait { server, refetch },
        Err(Check::Introspect { server, token }) => Decision::Introspect { server, token },
    }
}

/// A CORS preflight: OPTIONS with `Origin` and `Access-Control-Request-Method`.
fn is_preflight(req: &Request) -> bool {
    req.method() == "OPTIONS" && req.header("origin").is_some() && req.header("access-control-request-method").is_some()
}

fn set_consumer(c: &crate::config::Consumer, edits: &mut UpstreamEdits) {
    edits.set.push(("x-consumer-id".into(), c.id.clone()));
    if let Some(v) = &c.custom_id {
        edits.set.push(("x-consumer-custom-id".into(), v.clone()));
    }
    if let Some(v) = &c.username {
        edits.set.push(("x-consumer-username".into(), v.clone()));
    }
}

/// The consumer the identity maps to (`consumer_by`): username → a consumer's `username`,
/// client_id → a consumer's `custom_id`.
fn consumer_headers(cfg: &Config, policy: &Policy, id: &Identity, edits: &mut UpstreamEdits) {
    let found = match policy.consumer_by {
        ConsumerBy::Username => id.claims.get("username").and_then(Value::as_str).and_then(|u| {
            cfg.consumers.iter().find(|c| c.username.as_deref() == Some(u))
        }),
        ConsumerBy::ClientId => id.claims.get("client_id").and_then(Value::as_str).and_then(|u| {
            cfg.consumers.iter().find(|c| c.custom_id.as_deref() == Some(u))
        }),
    };
    if let Some(c) = found {
        set_consumer(c, edits);
    }
}

fn deny(denial: Denial, realm: &str, scope: &str) -> Decision {
    Decision::Deny { denial, response: denial.respond(realm, scope) }
}

/// Finds each server's token (its own sources, or the policy's) and checks it: any one
/// server accepting its token is enough, or with `requires_all` every server must. Returns the
/// identity (claims merged, first server first) and every token found.
fn authenticate(
    cfg: &Config,
    policy: &Policy,
    req: &Request,
    now: u64,
    keys: &dyn KeyStore,
    may_wait: bool,
) -> Result<(Identity, Vec<Found>), Check> {
    let mut found: Vec<(usize, Found)> = Vec::new();
    let mut missing = false;
    for &i in &policy.servers {
        let sources = cfg.servers.get(i).and_then(|s| s.token_sources.as_deref()).unwrap_or(&policy.sources);
        match extract::extract(sources, req) {
            Ok(Some(f)) => found.push((i, f)),
            Ok(None) => missing = true,
            Err(d) => return Err(Check::Denied(d)),
        }
    }
    if found.is_empty() || (policy.requires_all && missing) {
        return Err(Check::Denied(Denial::MissingToken));
    }
    if policy.requires_all {
        let mut merged = Identity::default();
        for (i, f) in &found {
            for (k, v) in check_one(cfg, *i, &f.token, now, keys, may_wait)?.claims {
                merged.claims.entry(k).or_insert(v);
            }
        }
        return Ok((merged, found.into_iter().map(|(_, f)| f).collect()));
    }
    let mut order: Vec<usize> = (0..found.len()).collect();
    order.sort_by_key(|&n| found.get(n).map_or(3, |(i, f)| issuer_rank(cfg, *i, &f.token)));
    let mut first = None;
    for n in order {
        let Some((i, f)) = found.get(n) else { continue };
        match check_one(cfg, *i, &f.token, now, keys, may_wait) {
            Ok(id) => return Ok((id, found.into_iter().map(|(_, f)| f).collect())),
            Err(Check::Denied(d)) => {
                first.get_or_insert(d);
            }
            Err(wait) => return Err(wait),
        }
    }
    Err(Check::Denied(first.unwrap_or(Denial::MissingToken)))
}

/// One server's check of one token, with its inline and fetched keys.
fn check_one(cfg: &Config, index: usize, token: &str, now: u64, keys: &dyn KeyStore, may_wait: bool) -> Result<Identity, Check> {
    let Some(server) = cfg.servers.get(index) else { return Err(Check::Denied(Denial::NoPolicy)) };
    let rules = match &server.strategy {
        Strategy::Jwt(rules) => rules,
        Strategy::Introspection(rules) => {
            return match keys.introspection(index, token) {
                Lookup::Hit(id) => rules.check(&id, now).map(|()| id).map_err(Check::Denied),
                Lookup::Inactive => Err(Check::Denied(Denial::Inactive)),
                Lookup::Failed => Err(Check::Denied(Denial::IdpUnavailable)),
                Lookup::Pending | Lookup::Miss if may_wait => Err(Check::Introspect { server: index, token: token.to_string() }),
                Lookup::Pending | Lookup::Miss => Err(Check::Denied(Denial::IdpUnavailable)),
            };
        }
    };
    let result = match (&server.remote, keys.fetched(index)) {
        (None, _) => rules.verify_cached(token, now, &[], 0, keys.crypto()),
        (Some(_), Some(fetched)) => match rules.verify_cached(token, now, fetched, keys.keys_version(index), keys.crypto()) {
            Err(Denial::NoMatchingKey) if may_wait && keys.may_refetch(index) => {
                return Err(Check::Wait { server: index, refetch: true })
            }
            other => other,
        },
        (Some(_), None) => match rules.verify_with_keys(token, now, &[], keys.crypto()) {
            Err(Denial::NoMatchingKey) if may_wait => return Err(Check::Wait { server: index, refetch: false }),
            Err(Denial::NoMatchingKey) => Err(Denial::KeysUnavailable),
            other => other,
        },
    };
    result.map_err(Check::Denied)
}

/// Which servers to try first for a token (any-of): those whose `issuers` name the token's
/// unverified `iss` (0), then those without an issuer list (1), then the others (2).
fn issuer_rank(cfg: &Config, index: usize, token: &str) -> u8 {
    let issuers = match cfg.servers.get(index).map(|s| &s.strategy) {
        Some(Strategy::Jwt(r)) => r.issuers.as_slice(),
        Some(Strategy::Introspection(_)) | None => &[],
    };
    if issuers.is_empty() {
        return 1;
    }
    match unverified_issuer(token) {
        Some(iss) if issuers.contains(&iss) => 0,
        _ => 2,
    }
}

/// The `iss` of a token's payload, read before any check; only used to choose a server.
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(String::from)
}

fn has_scopes(id: &Identity, required: &[String]) -> bool {
    if required.is_empty() {
        return true;
    }
    let granted = id.scopes().unwrap_or_default();
    required.iter().all(|r| granted.split_whitespace().any(|g| g == r))
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
