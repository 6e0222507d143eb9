//! Whole requests as an attacker shapes them, decided by the core: headers repeated, in another
//! case, with underscores; tokens in several sources at once, percent-encoded, with control
//! characters; repeated OAuth parameters at a fronted token endpoint. Each input is a small
//! program (one byte an operation, the rest raw text) and every decision must hold:
//! - a request let through on a protected route carried the one good token, in one source;
//! - no identity header the client sent (`x-credential-*`, `x-consumer-*`,
//!   `x-anonymous-consumer`, also with underscores or in capitals) goes on;
//! - a token request naming a parameter twice is refused (400) at the fronted endpoint.
#![no_main]
#[path = "common.rs"]
#[macro_use]
mod common;
use oauth_core::crypto::CryptoHost;
use oauth_core::idp::introspection::{Lookup, SlotKey};
use oauth_core::jwt::VerifyKey;
use oauth_core::{decide, endpoints, Config, Decision, Now, Request, WorkerState};

const NOW: u64 = 1_800_000_000;
/// HS256 with `fuzz-secret-0123456789`, sub alice, valid until 2100.
const GOOD: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzAwMDAwMDAwLCJzY29wZSI6Im9yZGVyczpyZWFkIn0._xJPjsvP-bE6CsNtmXRSK4UNyRIwHwmnATohl6buy2w";

fn build() -> Config {
    let cfg = serde_json::json!({
        "oauth_servers": {
            "s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "fuzz-secret-0123456789"}]}},
            "j": {"oauth_endpoints": {"token": {"listen_path": "/auth/token"}}, "secrets": {"c": "s"},
                  "allowed_access_types": ["client_credentials"],
                  "token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "another-secret-0123456"}]}}
        },
        "policies": {
            "api": {"oauth_server": "s", "token_sources": [{"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"}, {"cookie": "tok"}]},
            "open": {"public": true},
            "bearer": {"oauth_server": "s", "token_sources": [{"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"}]}
        },
        "routes": [{"path_prefix": "/public", "policy": "open"}, {"path_prefix": "/b/", "policy": "bearer"}],
        "default_policy": "api"
    });
    common::compile(&cfg.to_string())
}

fuzz_with_config!(build(), run);

struct Quiet;

impl WorkerState for Quiet {
    fn fetched(&self, _server: usize) -> Option<&[VerifyKey]> {
        None
    }
    fn may_refetch(&self, _server: usize) -> bool {
        false
    }
    fn crypto(&self) -> Option<&dyn CryptoHost> {
        None
    }
    fn introspection(&self, _server: usize, _slot: &SlotKey) -> Lookup {
        Lookup::Miss
    }
}

const NAMES: [&str; 12] = ["authorization", "Authorization", "x-credential-sub", "x_credential_sub", "X_Consumer_Id",
    "x-consumer-username", "x-anonymous-consumer", "x_anonymous_consumer", "cookie", "dpop", "x-credential_scope", "content-type"];
const PATHS: [&str; 12] = ["/orders", "/public/x", "/orders?access_token=", "/orders?access_token=a&access_token=",
    "/orders?access%5Ftoken=", "/auth/token", "/auth/token?grant_type=authorization_code", "/auth/token?Grant_Type=password",
    "/PUBLIC/x", "/public/../orders", "/b/orders", "/b/orders?access_token="];
const VALUES: [&str; 10] = ["", "Bearer ", "bearer ", "Bearer a,Bearer ", "tok=", "Basic Yzo=", "\r\nx-evil: 1", "%0A", "%+A", "Bearer\t"];

fn run(cfg: &Config, data: &[u8]) {
    let Some((&path_op, rest)) = data.split_first() else { return };
    let mut path = PATHS[usize::from(path_op) % PATHS.len()].to_string();
    let mut headers: Vec<(String, Vec<u8>)> = vec![(":method".into(), b"POST".to_vec()), (":authority".into(), b"api.test".to_vec())];
    let mut body = Vec::new();
    let mut ops = rest.iter();
    while let Some(&op) = ops.next() {
        let arg = usize::from(ops.next().copied().unwrap_or(0));
        let value = |good: bool| format!("{}{}", VALUES[arg % VALUES.len()], if good { GOOD } else { "x" });
        match op % 6 {
            0 => headers.push((NAMES[arg % NAMES.len()].to_string(), value(op & 0x40 != 0).into_bytes())),
            1 => path.push_str(if op & 0x40 != 0 { GOOD } else { "%0d%0a" }),
            2 => path.push_str(&format!("&{}", value(op & 0x40 != 0))),
            3 => body.extend_from_slice(["grant_type=client_credentials", "&grant_type=password", "&GRANT-TYPE=x", "&client_id=c",
                "&grant%5Ftype=x", "&scope=a"][arg % 6].as_bytes()),
            4 => headers.push(("authorization".into(), format!("Bearer {GOOD}").into_bytes())),
            _ => {
                // The rest is raw text for the last header.
                if let Some((_, v)) = headers.last_mut() {
                    v.extend(ops.by_ref().copied());
                }
            }
        }
    }
    headers.push((":path".into(), path.clone().into_bytes()));
    let req = Request { headers: headers.into(), ..Default::default() };
    if let Some(ep) = endpoints::find(cfg, &req) {
        fronted(cfg, ep, &req, &body);
        return;
    }
    let decision = decide(cfg, &req, &Now::fixed(NOW), &Quiet);
    let Decision::Allow { policy, edits } = &decision else { return };
    for (name, _) in req.headers.iter() {
        let dashed = name.to_ascii_lowercase().replace('_', "-");
        if dashed.starts_with("x-credential-") || dashed.starts_with("x-consumer-") || dashed == "x-anonymous-consumer" {
            assert!(edits.remove.iter().any(|r| r == name), "the client's {name} goes on");
        }
    }
    if let Some(p) = cfg.policies.get(*policy).filter(|p| !p.public) {
        // The bearer policy reads the Authorization header and the query, no cookie (a token
        // seen before in the header is a verdict lookup without a scan of the value).
        let carriers = carriers(&req, p.sources.len() > 2);
        assert_eq!(carriers, vec![GOOD.to_string()], "let through with tokens {carriers:?}");
    }
}

/// Every token the request carries in the policy's sources, as the filter would read it:
/// the Authorization header, the query, and the cookie when `cookies`.
fn carriers(req: &Request, cookies: bool) -> Vec<String> {
    let mut out = Vec::new();
    for v in req.header_values("authorization") {
        let v = String::from_utf8_lossy(v);
        for part in v.split(',') {
            let part = part.trim();
            if part.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("bearer")) && part.len() > 6 {
                out.push(part.get(6..).unwrap_or("").trim().to_string());
            }
        }
    }
    if let Some((_, q)) = req.path_and_query().split_once('?') {
        for (k, v) in q.split('&').map(|p| p.split_once('=').unwrap_or((p, ""))) {
            if k == "access_token" && !v.is_empty() {
                out.push(v.to_string());
            }
        }
    }
    if !cookies {
        return out;
    }
    for v in req.header_values("cookie") {
        for (k, v) in String::from_utf8_lossy(v).split(';').map(|p| p.trim().split_once('=').unwrap_or((p, ""))) {
            if k == "tok" && !v.is_empty() {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// At the fronted token endpoint: a parameter named twice (query and body together, any case,
/// `-` for `_`, percent-encoded) is refused.
fn fronted(cfg: &Config, ep: endpoints::OAuthEndpoint, req: &Request, body: &[u8]) {
    let _ = endpoints::on_headers(cfg, ep, req, NOW, 7, None);
    let answer = endpoints::on_body(cfg, ep, req, body, NOW, 7, None);
    let query = req.path_and_query().split_once('?').map_or("", |(_, q)| q);
    let text = String::from_utf8_lossy(body);
    let names: Vec<String> = query.split('&').chain(text.split('&')).filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').map_or(p, |(k, _)| k).replace("%5F", "_").replace("%5f", "_").replace('-', "_").to_ascii_lowercase())
        .collect();
    let repeated = names.iter().enumerate().any(|(i, n)| names.iter().skip(i + 1).any(|m| m == n));
    if repeated {
        assert!(matches!(&answer, oauth_core::endpoints::response::Answer::Respond(r) if r.status == 400), "a repeated parameter went on: {names:?}");
    }
}
