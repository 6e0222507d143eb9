//! What goes upstream once a request is let through: the client's identity headers removed,
//! the filter's own identity headers (credential claims, consumer) rendered, the token hidden
//! when asked, and the client-credentials token put in `Authorization`.

use crate::common::byteset::dashed;
use crate::config::{Config, ConsumerBy, Consumer, Policy};
use crate::decision::extract::{Found, TokenSource};
use crate::decision::verdicts::{HeaderName, Rendered};
use crate::common::claims::Named;
use crate::{Identity, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use std::rc::Rc;

/// Header edits for the request that goes upstream: removals first, then `identity`, then
/// `set`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamEdits {
    pub remove: Vec<String>,
    /// What the authenticated token yields (identity headers, filter state), rendered once per
    /// token and shared with the per-policy verdict cache.
    pub identity: Option<Rc<Rendered>>,
    pub set: Vec<(HeaderName, String)>,
    /// The version of the client-credentials token sent upstream, if one was.
    pub upstream_token_version: Option<u64>,
}

impl UpstreamEdits {
    /// Every header set, identity headers first.
    pub fn sets(&self) -> impl Iterator<Item = (&str, &str)> {
        self.identity.iter().flat_map(|i| i.headers.iter()).chain(self.set.iter()).map(|(k, v)| (&**k, v.as_str()))
    }

    /// The filter-state entries for the rest of Envoy: (name, value).
    pub fn state(&self) -> impl Iterator<Item = &(String, String)> {
        self.identity.iter().flat_map(|i| i.state.iter())
    }
}

/// The claims written to filter state when a policy asks for it.
const STATE_CLAIMS: [(&str, &str); 4] =
    [("oauth_filter.sub", "sub"), ("oauth_filter.iss", "iss"), ("oauth_filter.client_id", "client_id"), ("oauth_filter.scope", "scope")];

/// Prefixes of identity headers that only the filter may set.
const IDENTITY_PREFIXES: [&str; 2] = ["x-credential-", "x-consumer-"];
const IDENTITY_HEADERS: [&str; 1] = ["x-anonymous-consumer"];

/// The standard credential headers, named as the oauth2-introspection plugin names them, each
/// with its claim (a top-level name, its tag worked out while compiling).
const CREDENTIAL_CLAIMS: [(&str, Named); 10] = [
    ("x-credential-sub", Named::new("sub")),
    ("x-credential-iss", Named::new("iss")),
    ("x-credential-aud", Named::new("aud")),
    ("x-credential-exp", Named::new("exp")),
    ("x-credential-iat", Named::new("iat")),
    ("x-credential-nbf", Named::new("nbf")),
    ("x-credential-jti", Named::new("jti")),
    ("x-credential-client-id", Named::new("client_id")),
    ("x-credential-username", Named::new("username")),
    ("x-credential-token-type", Named::new("token_type")),
];

/// The headers that carry a client's credentials whatever the configuration: what a request
/// answered by the filter loses before it goes on to have its body read.
pub const CREDENTIAL_HEADERS: [&str; 4] = ["authorization", "proxy-authorization", "cookie", "dpop"];

/// Identity headers present on the client's request, which must not reach the upstream; also
/// when spelled with underscores (`x_credential_sub`), which Envoy passes on by default and
/// CGI, WSGI and PHP backends read as the same variable as the dashed name.
pub fn spoofable_headers(cfg: &Config, req: &Request) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (raw, _) in req.headers.raw() {
        // Most names are passed over on their first three bytes (Envoy's own `x-request-id`
        // and `x-forwarded-proto` among them).
        if !may_be_spoofable(cfg, raw) {
            continue;
        }
        let Ok(raw) = std::str::from_utf8(raw) else { continue };
        if spoofable(cfg, raw) && !out.iter().any(|o| o == raw) {
            out.push(raw.to_string());
        }
    }
    out
}

/// Whether the header `raw` is an identity header or a mapped one, also when spelled with
/// underscores (then read as its dashed, lower-case name).
fn spoofable(cfg: &Config, raw: &str) -> bool {
    let dashed;
    let name: &str = if raw.contains('_') {
        dashed = raw.to_ascii_lowercase().replace('_', "-");
        &dashed
    } else {
        raw
    };
    IDENTITY_PREFIXES.iter().any(|p| name.starts_with(p))
        || IDENTITY_HEADERS.contains(&name)
        || cfg.mapped_headers.binary_search_by(|h| h.as_str().cmp(name)).is_ok()
}

/// False only for a name `spoofable` refuses: its first three bytes, read dashed and
/// lower-case, are neither `x-c` nor `x-a` (how every identity header begins, tested) nor
/// those of a mapped header (kept dashed and lower-case).
fn may_be_spoofable(cfg: &Config, raw: &[u8]) -> bool {
    // The first byte alone passes over most names (pseudo-headers, `accept`, …), looked up in
    // the set the configuration made (`Config::spoof_first`); only a name that may be one is
    // read for its next two bytes.
    if !raw.first().is_some_and(|b| cfg.spoof_first.contains(*b)) {
        return false;
    }
    let head = |i: usize| raw.get(i).copied().map(dashed);
    let a = head(0);
    let mapped = |h: &&String| h.as_bytes().first().copied() == a;
    let (b, c) = (head(1), head(2));
    (a == Some(b'x') && b == Some(b'-') && matches!(c, Some(b'c' | b'a')))
        || cfg.mapped_headers.iter().filter(mapped).any(|h| (h.as_bytes().get(1).copied(), h.as_bytes().get(2).copied()) == (b, c))
}

/// What an authenticated token yields under `policy`: its credential claims, the policy's
/// mapped claims, the consumer it maps to, the verified payload (`forward_payload_header`) and
/// the filter-state entries (`filter_state`).
/// `scopes`: the identity's (`Identity::scopes`), read once for the policy's check and here.
pub fn render(cfg: &Config, policy: &Policy, id: &Identity, scopes: Option<String>) -> Rc<Rendered> {
    // Room for every credential header at once: a first-seen token's headers are kept with
    // its verdict, and growing the list made the allocator copy it.
    let mut headers = Vec::with_capacity(CREDENTIAL_CLAIMS.len() + 1 + policy.claim_headers.len());
    let mut put = |name: HeaderName, value: Option<String>| {
        if let Some(v) = value {
            headers.push((name, v));
        }
    };
    for (header, claim) in CREDENTIAL_CLAIMS {
        put(header.into(), id.header_value_of(&claim));
    }
    let mut state_scopes = policy.filter_state.as_ref().and(scopes.clone());
    put("x-credential-scope".into(), scopes);
    for (header, claim) in &policy.claim_headers {
        put(header.clone().into(), id.header_value(claim));
    }
    if let Some(name) = &policy.forward_payload_header {
        put(name.clone().into(), serde_json::to_vec(&*id.claims).ok().map(|json| URL_SAFE_NO_PAD.encode(json)));
    }
    if let Some(c) = consumer_of(cfg, policy, id) {
        consumer_headers(c, &mut headers);
    }
    let mut state = Vec::new();
    if let Some(extra) = &policy.filter_state {
        for (key, claim) in STATE_CLAIMS {
            let value = if claim == "scope" { state_scopes.take() } else { id.header_value(claim) };
            if let Some(v) = value {
                state.push((key.to_string(), v));
            }
        }
        for claim in extra {
            if let Some(v) = id.header_value(claim) {
                state.push((format!("oauth_filter.claims.{claim}"), v));
            }
        }
    }
    Rc::new(Rendered { headers, state })
}

/// The consumer the identity maps to (`consumer_by`): username → a consumer's `username`,
/// client_id → a consumer's `custom_id`.
fn consumer_of<'a>(cfg: &'a Config, policy: &Policy, id: &Identity) -> Option<&'a Consumer> {
    if cfg.consumers.is_empty() {
        return None; // no claim to look up
    }
    match policy.consumer_by {
        ConsumerBy::Username => {
            let u = id.claims.get("username").and_then(Value::as_str)?;
            cfg.consumers.iter().find(|c| c.username.as_deref() == Some(u))
        }
        ConsumerBy::ClientId => {
            let u = id.claims.get("client_id").and_then(Value::as_str)?;
            cfg.consumers.iter().find(|c| c.custom_id.as_deref() == Some(u))
        }
    }
}

pub fn consumer_headers(c: &Consumer, out: &mut Vec<(HeaderName, String)>) {
    out.push(("x-consumer-id".into(), c.id.clone()));
    if let Some(v) = &c.custom_id {
        out.push(("x-consumer-custom-id".into(), v.clone()));
    }
    if let Some(v) = &c.username {
        out.push(("x-consumer-username".into(), v.clone()));
    }
}

/// Kong's `anonymous`: the request goes on as that consumer, without any credential header.
pub fn anonymous(c: &Consumer, edits: &mut UpstreamEdits) {
    consumer_headers(c, &mut edits.set);
    edits.set.push(("x-anonymous-consumer".into(), "true".into()));
}

/// `hide_credentials`: every token found leaves the request before it goes upstream (each
/// source once).
pub fn hide_all<'a>(found: impl Iterator<Item = &'a Found<'a>>, req: &Request, edits: &mut UpstreamEdits) {
    let mut hidden: Vec<&TokenSource> = Vec::new();
    for f in found {
        if !hidden.contains(&f.source) {
            hide(f, req, edits);
            hidden.push(f.source);
        }
    }
}

fn hide(found: &Found, req: &Request, edits: &mut UpstreamEdits) {
    match found.source {
        TokenSource::Header { name, .. } => edits.remove.push(name.clone()),
        TokenSource::Query(param) => {
            edits.set.push((":path".into(), crate::common::codec::path_without_param(req.path_and_query(), param)));
        }
        TokenSource::Cookie(cookie) => {
            let all: Vec<&str> = req.header_values("cookie").filter_map(|v| std::str::from_utf8(v).ok()).collect();
            match crate::common::codec::cookie_without(&all.join("; "), cookie) {
                Some(rest) => edits.set.push(("cookie".into(), rest)),
                None => edits.remove.push("cookie".into()),
            }
        }
    }
}

/// Whether the client's own `Authorization` goes upstream untouched (KrakenD's client
/// credentials without `replace_authorization`), so no fetched token is needed.
pub fn keeps_client_authorization(policy: &Policy, req: &Request, edits: &UpstreamEdits) -> bool {
    policy.client_credentials.as_ref().is_some_and(|cc| !cc.replace_authorization)
        && req.header("authorization").is_some()
        && !edits.remove.iter().any(|h| h == "authorization")
}

/// The fetched client-credentials token in `Authorization`.
pub fn put_upstream_token(edits: &mut UpstreamEdits, token: &str, version: u64) {
    edits.set.retain(|(k, _)| k != "authorization");
    // Put together without `format!`: this runs on every request of the path (fmt's machinery
    // is about 1.5 KB of code a cached client-credentials token would otherwise run through).
    let mut value = String::with_capacity("Bearer ".len() + token.len());
    value.push_str("Bearer ");
    value.push_str(token);
    edits.set.push(("authorization".into(), value));
    edits.upstream_token_version = Some(version);
}

/// What an admin request that goes on (to have its body read) must lose first: every header
/// its policy takes a token from (the admin's credential, in whatever source), DPoP proofs and
/// identity headers; and the `:path` without its query when a token may come from the query.
pub fn admin_credential_edits(cfg: &Config, policy: usize, req: &crate::Request) -> (Vec<String>, Option<String>) {
    let mut remove: Vec<String> = CREDENTIAL_HEADERS.map(String::from).to_vec();
    let mut path = None;
    for source in cfg.policies.get(policy).map(|p| p.sources.as_slice()).unwrap_or_default() {
        match source {
            crate::decision::extract::TokenSource::Header { name, .. } => remove.push(name.clone()),
            crate::decision::extract::TokenSource::Cookie(_) => {} // `cookie` goes anyway
            crate::decision::extract::TokenSource::Query(_) => path = Some(req.path().to_string()),
        }
    }
    remove.extend(spoofable_headers(cfg, req));
    (remove, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_identity_header_starts_with_x() {
        // `spoofable_headers` passes over any other start (unless a mapped header has it).
        assert!(IDENTITY_PREFIXES.iter().chain(IDENTITY_HEADERS.iter()).all(|h| h.starts_with("x-c") || h.starts_with("x-a")));
        assert!(CREDENTIAL_CLAIMS.iter().all(|(h, _)| h.starts_with("x-credential-")));
        // Read as top-level claims (`header_value_of`): no name is a dotted path.
        assert!(CREDENTIAL_CLAIMS.iter().all(|(_, c)| !c.name.contains('.')));
    }

    #[test]
    fn spoofed_headers_are_found_whatever_their_first_byte() {
        let cfg = Config::from_json(
            br#"{"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]}}},
                 "policies": {"p": {"oauth_server": "s", "claim_to_headers": [{"header_name": "roles", "claim_name": "r"},
                   {"header_name": "team_name", "claim_name": "t"}]}},
                 "default_policy": "p"}"#,
        )
        .unwrap();
        // Envoy hands names over lower-case; an underscore spelling is read as its dashed name,
        // also for a mapped header configured with an underscore.
        let names = ["roles", "x_credential_sub", "X_Consumer_Id", "_roles", "rolex", "accept", "", ":path", "x-anonymous-consumer", "roles",
            "team-name", "team_name", "Team_Name"];
        let req = Request { headers: names.iter().map(|n| (n.to_string(), b"v".to_vec())).collect(), ..Default::default() };
        assert_eq!(spoofable_headers(&cfg, &req),
            ["roles", "x_credential_sub", "X_Consumer_Id", "x-anonymous-consumer", "team-name", "team_name", "Team_Name"]);
    }

    #[test]
    fn the_three_byte_filter_passes_every_name_the_full_check_takes() {
        // Mapped names of every length, among them one shorter than three bytes.
        let mapped = Config::from_json(
            br#"{"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]}}},
                 "policies": {"p": {"oauth_server": "s", "claim_to_headers": [{"header_name": "roles", "claim_name": "r"},
                   {"header_name": "X-User", "claim_name": "u"}, {"header_name": "ab", "claim_name": "a"}, {"header_name": "t_n", "claim_name": "t"}]}},
                 "default_policy": "p"}"#,
        )
        .unwrap();
        // And without any: the filter then stops at the first byte.
        let plain = Config::from_json(
            br#"{"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]}}},
                 "policies": {"p": {"oauth_server": "s"}}, "default_policy": "p"}"#,
        )
        .unwrap();
        assert!(plain.mapped_headers.is_empty());
        for cfg in [&mapped, &plain] {
            // Each name looked for, each of its prefixes, each of them extended, in every spelling
            // of its first six bytes (case, '-' or '_'), against `spoofable`.
            let mut seeds: Vec<String> = IDENTITY_PREFIXES.iter().chain(IDENTITY_HEADERS.iter()).map(|s| s.to_string()).collect();
            seeds.extend(mapped.mapped_headers.iter().cloned());
            seeds.extend(CREDENTIAL_CLAIMS.iter().map(|(h, _)| h.to_string()));
            let (mut names, mut taken) = (0, 0);
            for seed in &seeds {
                for end in 0..=seed.len() {
                    for tail in ["", "x", "-sub", "_id"] {
                        let base = format!("{}{tail}", &seed[..end]);
                        for mask in 0u32..(1 << base.len().min(6)) {
                            let name: String = base
                                .chars()
                                .enumerate()
                                .map(|(i, c)| match (i < 6 && mask >> i & 1 == 1, c) {
                                    (true, '-') => '_',
                                    (true, c) => c.to_ascii_uppercase(),
                                    (false, c) => c,
                                })
                                .collect();
                            names += 1;
                            if spoofable(cfg, &name) {
                                taken += 1;
                                assert!(may_be_spoofable(cfg, name.as_bytes()), "{name}");
                            }
                        }
                    }
                }
            }
            assert!(names > 10_000 && taken > 1_000, "{names} names, {taken} taken");
            for passed_over in ["x-request-id", "x-forwarded-proto", "x-envoy-expected-rq-timeout-ms", "accept", ":path", "", "x", "x-"] {
                assert!(!may_be_spoofable(cfg, passed_over.as_bytes()), "{passed_over}");
            }
        }
    }
}
