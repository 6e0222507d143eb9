//! The filter as token issuer (Otoroshi's Client Credential Service) and its own tokens on a
//! protected route.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::*;
use serde_json::{json, Value};
use test_harness::{Host, Outcome, Request, Vm};

const PREFIX: &str = "/.well-known/otoroshi/oauth";

fn sha256_hex(s: &str) -> String {
    hmac_sha256::Hash::hash(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn config(extra: Value) -> String {
    let mut issuer = json!({
        "secure": false, "issuer": "https://gw.test", "defaultKeyPair": "rsa", "expiration": 3600000,
        "key_pairs": {"rsa": {"alg": "RS256", "private_key": fixture("rsa.key")},
                      "ec": {"alg": "ES256", "private_key": fixture("ec256.key")},
                      "ed": {"alg": "EdDSA", "private_key": fixture("ed25519.key")}},
        "clients": [
            {"client_id": "my-id", "client_secret": "my-secret", "scopes": ["read", "write"]},
            {"client_id": "ec-client", "client_secret_sha256": sha256_hex("ec-secret"), "scopes": ["read"], "jwt-sign-keypair": "ec"},
            {"client_id": "ed-client", "client_secret": "ed-secret", "key_pair": "ed"}
        ]});
    for (k, v) in extra.as_object().unwrap() {
        issuer[k] = v.clone();
    }
    json!({
        "token_issuer": issuer,
        "oauth_servers": {"self": {"token_strategy": {"name": "jwt", "trust_token_issuer": true}}},
        "policies": {"api": {"oauth_server": "self", "required_scopes": ["read"]}},
        "default_policy": "api"
    }).to_string()
}

fn start(cfg: &str) -> Vm {
    Host::at(NOW).vm(cfg).unwrap_or_else(|vm| panic!("configure failed:\n{}", vm.log_text()))
}

fn post(path: &str, ctype: &str, body: &str) -> Request {
    Request::new("POST", &format!("{PREFIX}{path}")).header("content-type", ctype).body(body)
}

fn token_of(o: &Outcome) -> String {
    assert_eq!(o.status(), 200, "{:?}", o);
    o.reply_json()["access_token"].as_str().unwrap().to_string()
}

fn part(token: &str, i: usize) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

#[test]
fn json_form_and_basic_token_requests() {
    let mut vm = start(&config(json!({})));
    let seed = r#"{"grant_type": "client_credentials", "client_id": "my-id", "client_secret": "my-secret"}"#;
    let out = vm.send(post("/token", "application/json", seed));
    assert_eq!(out.reply_json()["token_type"], "Bearer");
    assert_eq!(out.reply_json()["expires_in"], 3600);
    let t = token_of(&out);
    let (head, claims) = (part(&t, 0), part(&t, 1));
    assert_eq!(head["alg"], "RS256");
    assert_eq!(head["kid"], "rsa");
    assert_eq!(claims["iss"], "https://gw.test");
    assert_eq!(claims["sub"], "my-id");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + 3600);
    assert_eq!(claims["scope"], "read write");
    assert!(claims["jti"].as_str().is_some());
    let form = vm.send(post("/token", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=my-id&client_secret=my-secret&scope=read"));
    assert_eq!(part(&token_of(&form), 1)["scope"], "read");
    let basic = format!("Basic {}", STANDARD.encode("my-id:my-secret"));
    let out = vm.send(post("/token", "application/x-www-form-urlencoded", "grant_type=client_credentials").header("authorization", basic));
    token_of(&out);
}

#[test]
fn per_client_key_pairs_and_hashed_secrets() {
    let mut vm = start(&config(json!({})));
    let ec = token_of(&vm.send(post("/token", "application/json", r#"{"grant_type":"client_credentials","client_id":"ec-client","client_secret":"ec-secret"}"#)));
    assert_eq!(part(&ec, 0)["alg"], "ES256");
    assert_eq!(part(&ec, 0)["kid"], "ec");
    let ed = token_of(&vm.send(post("/token", "application/json", r#"{"grant_type":"client_credentials","client_id":"ed-client","client_secret":"ed-secret"}"#)));
    assert_eq!(part(&ed, 0)["alg"], "EdDSA");
}

#[test]
fn oauth_errors() {
    let mut vm = start(&config(json!({})));
    let out = vm.send(post("/token", "application/json", r#"{"grant_type":"client_credentials","client_id":"my-id","client_secret":"nope"}"#));
    assert_eq!(out.status(), 401);
    assert_eq!(out.reply_json()["error"], "invalid_client");
    assert!(out.reply_header("www-authenticate").unwrap().starts_with("Basic"));
    let out = vm.send(post("/token", "application/json", r#"{"grant_type":"password","client_id":"my-id","client_secret":"my-secret"}"#));
    assert_eq!((out.status(), out.reply_json()["error"].clone()), (400, json!("unsupported_grant_type")));
    let out = vm.send(post("/token", "application/json", r#"{"grant_type":"client_credentials","client_id":"my-id","client_secret":"my-secret","scope":"read admin"}"#));
    assert_eq!((out.status(), out.reply_json()["error"].clone()), (400, json!("invalid_scope")));
    let out = vm.send(post("/token", "application/json", "{not json"));
    assert_eq!(out.status(), 400);
    assert_eq!(vm.send(Request::get(&format!("{PREFIX}/token"))).status(), 405);
    assert!(!vm.log_text().contains("my-secret"));
}

#[test]
fn issued_tokens_open_protected_routes() {
    let mut vm = start(&config(json!({})));
    let t = token_of(&vm.send(post("/token", "application/json", r#"{"grant_type":"client_credentials","client_id":"my-id","client_secret":"my-secret"}"#)));
    let out = vm.send(Request::get("/orders").bearer(&t));
    assert!(out.is_forwarded(), "{out:?}");
    assert_eq!(out.upstream("x-credential-sub").as_deref(), Some("my-id"));
    let ec = token_of(&vm.send(post("/token", "application/json", r#"{"grant_type":"client_credentials","client_id":"ec-client","client_secret":"ec-secret"}"#)));
    assert!(vm.send(Request::get("/orders").bearer(&ec)).is_forwarded());
    // A client without the `read` scope gets a token without it: 403 on the route.
    let ed = token_of(&vm.send(post("/token", "application/json", r#"{"grant_type":"client_credentials","client_id":"ed-client","client_secret":"ed-secret"}"#)));
    assert_eq!(vm.send(Request::get("/orders").bearer(&ed)).status(), 403);
}

#[test]
fn introspection_of_own_tokens() {
    let mut vm = start(&config(json!({})));
    let t = token_of(&vm.send(post("/token", "application/json", r#"{"grant_type":"client_credentials","client_id":"my-id","client_secret":"my-secret"}"#)));
    let basic = format!("Basic {}", STANDARD.encode("my-id:my-secret"));
    let ask = |vm: &mut Vm, token: &str, auth: Option<&str>| {
        let mut r = post("/token/introspect", "application/x-www-form-urlencoded", &format!("token={token}"));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        vm.send(r)
    };
    let out = ask(&mut vm, &t, Some(&basic));
    assert_eq!(out.status(), 200);
    assert_eq!(out.reply_json()["active"], true);
    assert_eq!(out.reply_json()["sub"], "my-id");
    assert_eq!(ask(&mut vm, "garbage", Some(&basic)).reply_json(), json!({"active": false}));
    assert_eq!(ask(&mut vm, &t, None).status(), 401);
}

#[test]
fn jwks_has_every_public_key_and_no_private_part() {
    let mut vm = start(&config(json!({})));
    let out = vm.send(Request::get(&format!("{PREFIX}/jwks.json")));
    let jwks = out.reply_json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    let kinds: Vec<(String, String)> = keys.iter().map(|k| (k["kty"].as_str().unwrap().into(), k["kid"].as_str().unwrap().into())).collect();
    for want in [("RSA", "rsa"), ("EC", "ec"), ("OKP", "ed")] {
        assert!(kinds.contains(&(want.0.into(), want.1.into())), "{want:?}");
    }
    for k in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none(), "private member {private}");
        }
    }
    // The published keys verify the issued tokens.
    let parsed = oauth_core::jwt::parse_jwks(&jwks).unwrap();
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    let rules = oauth_core::jwt::JwtRules { keys: parsed.keys, algs: oauth_core::jwt::AlgSet::all(), leeway_secs: 0,
        issuers: vec![], audiences: vec![], required_claims: vec![], max_token_bytes: 8192, require_typ: None,
        cache: oauth_core::jwt::cache::VerifiedCache::new(0), heads: Default::default(), max_lifetime: None, subjects: vec![], require_expiration: true };
    for (id, secret) in [("my-id", "my-secret"), ("ec-client", "ec-secret"), ("ed-client", "ed-secret")] {
        let body = format!(r#"{{"grant_type":"client_credentials","client_id":"{id}","client_secret":"{secret}"}}"#);
        let t = token_of(&vm.send(post("/token", "application/json", &body)));
        assert!(rules.verify(&t, NOW).is_ok(), "{id}");
    }
}

#[test]
fn secure_domain_and_prefix() {
    let mut vm = start(&config(json!({"secure": true, "domain": "auth\\.gw\\.test", "prefix": "/oauth"})));
    let body = r#"{"grant_type":"client_credentials","client_id":"my-id","client_secret":"my-secret"}"#;
    let req = |host: &str| Request::new("POST", "/oauth/token").authority(host).header("content-type", "application/json").body(body);
    let out = vm.send(req("auth.gw.test"));
    assert_eq!(out.status(), 400, "plain http refused");
    assert!(out.reply_json()["error_description"].as_str().unwrap().contains("https"));
    assert_eq!(vm.send(req("auth.gw.test").header("x-forwarded-proto", "https")).status(), 400, "a client's own x-forwarded-proto");
    token_of(&vm.send(req("auth.gw.test").scheme("https")));
    // Another host: not served, so the request meets the route's policy instead.
    assert_eq!(vm.send(req("api.gw.test").scheme("https")).status(), 401);
    let mut behind = start(&config(json!({"secure": true, "trust_forwarded_proto": true, "domain": "auth\\.gw\\.test", "prefix": "/oauth"})));
    token_of(&behind.send(req("auth.gw.test").header("x-forwarded-proto", "https")));
}

#[test]
fn bad_issuer_configs() {
    let host = Host::at(NOW);
    for (extra, field) in [
        (json!({"defaultKeyPair": "nope"}), "token_issuer.default_key_pair"),
        (json!({"key_pairs": {"rsa": {"alg": "RS256", "private_key": "not a pem"}}}), "token_issuer.key_pairs.rsa.private_key"),
        (json!({"key_pairs": {"rsa": {"alg": "HS256", "private_key": fixture("rsa.key")}}}), "token_issuer.key_pairs.rsa.private_key"),
        (json!({"clients": [{"client_id": "x"}]}), "token_issuer.clients[0]"),
    ] {
        let vm = host.vm(&config(extra)).err().unwrap();
        assert!(vm.log_text().contains(field), "{field}: {}", vm.log_text());
        assert!(!vm.log_text().contains("BEGIN PRIVATE KEY"));
    }
}

#[test]
fn access_rules_apply_to_the_filters_own_tokens() {
    let mut cfg: Value = serde_json::from_str(&config(json!({}))).unwrap();
    cfg["policies"]["api"]["access_rules"] = json!([{"predicate": "client_id == 'my-id'", "action": "allow"}]);
    let mut vm = start(&cfg.to_string());
    let form = "application/x-www-form-urlencoded";
    let mine = token_of(&vm.send(post("/token", form, "grant_type=client_credentials&client_id=my-id&client_secret=my-secret&scope=read")));
    let other = token_of(&vm.send(post("/token", form, "grant_type=client_credentials&client_id=ec-client&client_secret=ec-secret")));
    assert!(vm.send(Request::get("/api").bearer(&mine)).is_forwarded());
    let out = vm.send(Request::get("/api").bearer(&other));
    assert_eq!(out.status(), 403);
    assert!(out.reply_header("www-authenticate").unwrap().contains("error=\"access_denied\""));
}
