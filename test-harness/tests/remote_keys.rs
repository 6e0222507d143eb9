//! Keys fetched from the IdP (JWKS URL, discovery): one fetch for all workers, refresh,
//! unknown kids with a cooldown, waiting requests, and an IdP that fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::{json, Value};
mod support;
use support::{paused, start};
use test_harness::{Host, Request, Vm, ROOT_ID};

/// The fixture JWKS with only the members whose kid is listed.
fn jwks(kids: &[&str]) -> Vec<u8> {
    let all: Value = serde_json::from_str(&fixture("jwks.json")).unwrap();
    let keys: Vec<Value> = all["keys"].as_array().unwrap().iter().filter(|k| kids.contains(&k["kid"].as_str().unwrap())).cloned().collect();
    json!({"keys": keys}).to_string().into_bytes()
}

fn strategy(extra: Value) -> Value {
    let mut s = json!({"name": "jwt", "jwks_uri": {"uri": "http://idp.test/jwks", "cluster": "idp", "timeout": "2s"},
                       "cache_duration": "10m", "refetch_cooldown": "30s", "max_stale": "1h", "max_wait": "3s"});
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

fn config(strategy: Value, policy_extra: Value) -> String {
    let mut policy = json!({"oauth_server": "idp", "realm": "api"});
    for (k, v) in policy_extra.as_object().unwrap() {
        policy[k] = v.clone();
    }
    json!({"oauth_servers": {"idp": {"token_strategy": strategy}}, "policies": {"p": policy}, "default_policy": "p"}).to_string()
}


fn rs(kid: &str) -> String {
    sign("RS256", Some(kid), claims(json!({"sub": "alice"})))
}

/// Ticks, answers the one fetch call with `body`, and returns the call.
fn fetch(vm: &mut Vm, status: u16, body: &[u8]) -> test_harness::HttpCall {
    vm.tick();
    let calls = vm.pending_calls();
    assert_eq!(calls.len(), 1, "expected one fetch call: {calls:?}");
    let call = calls[0].clone();
    vm.answer(call.token, status, &[("content-type", "application/json")], body);
    call
}


#[test]
fn one_worker_fetches_for_all() {
    let host = Host::at(NOW);
    let cfg = config(strategy(json!({})), json!({}));
    let (mut a, mut b) = (start(&host, &cfg), start(&host, &cfg));
    a.tick();
    b.tick();
    assert_eq!(a.pending_calls().len() + b.pending_calls().len(), 1, "only one worker may fetch");
    let call = a.pending_calls()[0].clone();
    assert_eq!(call.cluster, "idp");
    assert_eq!(call.header(":path"), Some("/jwks"));
    assert_eq!(call.header(":authority"), Some("idp.test"));
    assert_eq!(call.header(":method"), Some("GET"));
    assert_eq!(call.timeout_ms, 2000);
    a.answer(call.token, 200, &[], &jwks(&["rsa"]));
    b.tick();
    assert!(a.send(Request::get("/x").bearer(&rs("rsa"))).is_forwarded());
    assert!(b.send(Request::get("/x").bearer(&rs("rsa"))).is_forwarded());
    a.tick();
    b.tick();
    assert_eq!(a.calls().len() + b.calls().len(), 1);
}

#[test]
fn refresh_after_cache_duration_by_one_worker() {
    let host = Host::at(NOW);
    let cfg = config(strategy(json!({})), json!({}));
    let (mut a, mut b) = (start(&host, &cfg), start(&host, &cfg));
    fetch(&mut a, 200, &jwks(&["rsa"]));
    host.clock.advance_secs(599);
    a.tick();
    b.tick();
    assert_eq!(a.calls().len() + b.calls().len(), 1);
    host.clock.advance_secs(1);
    b.tick();
    a.tick();
    assert_eq!(b.pending_calls().len(), 1, "the refresh is due");
    assert_eq!(a.pending_calls().len(), 0, "the other worker sees the lease");
    let t = b.pending_calls()[0].token;
    b.answer(t, 200, &[], &jwks(&["rsa", "ec256"]));
    a.tick();
    let es = sign("ES256", Some("ec256"), claims(json!({})));
    assert!(a.send(Request::get("/x").bearer(&es)).is_forwarded());
}

#[test]
fn a_request_waits_for_the_first_fetch() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(strategy(json!({})), json!({})));
    let ctx = paused(&vm.send(Request::get("/x").bearer(&rs("rsa"))));
    fetch(&mut vm, 200, &jwks(&["rsa"]));
    let out = vm.poll(ctx);
    assert!(out.is_forwarded(), "{out:?}");
    assert_eq!(out.upstream("x-credential-sub").as_deref(), Some("alice"));
}

#[test]
fn a_failed_first_fetch_is_503_never_401() {
    for (status, body) in [(500u16, b"oops".to_vec()), (200, b"<html>".to_vec()), (200, b"{\"keys\": 5}".to_vec()), (200, b"{\"keys\": []}".to_vec())] {
        let host = Host::at(NOW);
        let mut vm = start(&host, &config(strategy(json!({})), json!({})));
        let ctx = paused(&vm.send(Request::get("/x").bearer(&rs("rsa"))));
        fetch(&mut vm, status, &body);
        let out = vm.poll(ctx);
        assert_eq!(out.status(), 503, "{status}: {out:?}");
        assert_eq!(out.reply_json()["error"], "temporarily_unavailable");
        assert!(vm.log_text().contains("key fetch failed"));
    }
}

#[test]
fn the_wait_is_bounded() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(strategy(json!({})), json!({})));
    let ctx = paused(&vm.send(Request::get("/x").bearer(&rs("rsa"))));
    vm.tick();
    assert_eq!(vm.pending_calls().len(), 1);
    host.clock.advance_millis(2999);
    vm.tick();
    paused(&vm.poll(ctx));
    host.clock.advance_millis(1);
    vm.tick();
    assert_eq!(vm.poll(ctx).status(), 503);
    // The call times out in the end: no trap, the keys stay missing, new requests wait again.
    let t = vm.pending_calls()[0].token;
    vm.fail_call(t);
    paused(&vm.send(Request::get("/x").bearer(&rs("rsa"))));
}

#[test]
fn an_unknown_kid_refetches_once_per_cooldown() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(strategy(json!({})), json!({})));
    fetch(&mut vm, 200, &jwks(&["rsa"]));
    // A new key appears at the IdP: the first token with its kid triggers a refetch.
    let es = sign("ES256", Some("ec256"), claims(json!({})));
    let ctx = paused(&vm.send(Request::get("/x").bearer(&es)));
    fetch(&mut vm, 200, &jwks(&["rsa", "ec256"]));
    assert!(vm.poll(ctx).is_forwarded());
    // Another unknown kid within the cooldown: refused at once, no call.
    let calls = vm.calls().len();
    let bogus = sign("RS256", Some("random-1"), claims(json!({})));
    let out = vm.send(Request::get("/x").bearer(&bogus));
    assert_eq!(out.status(), 401);
    vm.tick();
    assert_eq!(vm.calls().len(), calls);
    // After the cooldown, one refetch; the kid is still unknown: 401.
    host.clock.advance_secs(30);
    let ctx = paused(&vm.send(Request::get("/x").bearer(&bogus)));
    fetch(&mut vm, 200, &jwks(&["rsa", "ec256"]));
    let out = vm.poll(ctx);
    assert_eq!(out.status(), 401);
    assert!(out.reply_header("www-authenticate").unwrap().contains("no key matches"));
}

#[test]
fn an_unreachable_idp_keeps_the_last_good_keys_up_to_max_stale() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(strategy(json!({})), json!({})));
    fetch(&mut vm, 200, &jwks(&["rsa"]));
    let good = |vm: &mut Vm| vm.send(Request::get("/x").bearer(&sign("RS256", Some("rsa"), claims_at(host.clock.secs()))));
    host.clock.advance_secs(600);
    fetch(&mut vm, 503, b"down");
    assert!(good(&mut vm).is_forwarded());
    host.clock.advance_secs(2);
    fetch(&mut vm, 200, b"garbage{");
    assert!(good(&mut vm).is_forwarded());
    host.clock.advance_secs(5);
    vm.tick();
    let t = vm.pending_calls()[0].token;
    vm.fail_call(t); // timeout / reset
    assert!(good(&mut vm).is_forwarded());
    assert!(vm.log_text().contains("keeping the last good keys"));
    // Past max_stale (1 h after the last success) the keys are no longer trusted: 503.
    host.clock.advance_secs(3600);
    let out = good(&mut vm);
    let ctx = paused(&out);
    vm.tick();
    for c in vm.pending_calls() {
        vm.fail_call(c.token);
    }
    assert_eq!(vm.poll(ctx).status(), 503);
}

fn claims_at(now: u64) -> jwt_simple::claims::JWTClaims<serde_json::Map<String, Value>> {
    let mut c = claims(json!({}));
    c.issued_at = Some(jwt_simple::prelude::UnixTimeStamp::from_secs(now));
    c.expires_at = Some(jwt_simple::prelude::UnixTimeStamp::from_secs(now + 600));
    c
}

#[test]
fn one_bad_key_in_a_jwks_keeps_the_good_ones() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(strategy(json!({})), json!({})));
    let mut doc: Value = serde_json::from_slice(&jwks(&["rsa", "ec256"])).unwrap();
    doc["keys"].as_array_mut().unwrap().insert(0, json!({"kty": "RSA", "kid": "broken", "n": "!!", "e": 5}));
    doc["keys"].as_array_mut().unwrap().push(json!({"kty": "EC", "kid": "bad-curve", "crv": "P-999", "x": "AA", "y": "AA"}));
    doc["keys"].as_array_mut().unwrap().push(json!("not an object"));
    fetch(&mut vm, 200, doc.to_string().as_bytes());
    assert!(vm.send(Request::get("/x").bearer(&rs("rsa"))).is_forwarded());
    assert!(vm.log_text().contains("JWKS key 0 skipped"));
}

#[test]
fn an_oversized_jwks_is_refused() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(strategy(json!({"max_jwks_bytes": 256})), json!({})));
    let ctx = paused(&vm.send(Request::get("/x").bearer(&rs("rsa"))));
    fetch(&mut vm, 200, &jwks(&["rsa", "ec256", "ec384", "ed25519"]));
    assert_eq!(vm.poll(ctx).status(), 503);
}

#[test]
fn discovery_falls_back_to_rfc8414_and_pins_the_issuer() {
    let host = Host::at(NOW);
    let issuer = "http://idp.test/realms/a";
    let s = json!({"name": "jwt", "discovery": {"issuer": issuer, "cluster": "idp"}});
    let mut vm = start(&host, &config(s, json!({})));
    vm.tick();
    let c1 = vm.pending_calls()[0].clone();
    assert_eq!(c1.header(":path"), Some("/realms/a/.well-known/openid-configuration"));
    vm.answer(c1.token, 404, &[], b"not here");
    let c2 = vm.pending_calls()[0].clone();
    assert_eq!(c2.header(":path"), Some("/.well-known/oauth-authorization-server/realms/a"));
    vm.answer(c2.token, 200, &[], json!({"issuer": issuer, "jwks_uri": "http://idp.test/realms/a/certs"}).to_string().as_bytes());
    let c3 = vm.pending_calls()[0].clone();
    assert_eq!(c3.header(":path"), Some("/realms/a/certs"));
    vm.answer(c3.token, 200, &[], &jwks(&["rsa"]));
    let good = sign("RS256", Some("rsa"), claims(json!({})).with_issuer(issuer));
    assert!(vm.send(Request::get("/x").bearer(&good)).is_forwarded());
    let other = sign("RS256", Some("rsa"), claims(json!({})).with_issuer("http://evil.test"));
    assert_eq!(vm.send(Request::get("/x").bearer(&other)).status(), 401);
    // A refresh goes straight to the discovered JWKS URL.
    host.clock.advance_secs(600);
    vm.tick();
    assert_eq!(vm.pending_calls()[0].header(":path"), Some("/realms/a/certs"));
}

#[test]
fn discovery_must_name_the_configured_issuer() {
    let host = Host::at(NOW);
    let s = json!({"name": "jwt", "discovery": {"issuer": "http://idp.test", "cluster": "idp"}});
    let mut vm = start(&host, &config(s, json!({})));
    let ctx = paused(&vm.send(Request::get("/x").bearer(&rs("rsa"))));
    fetch(&mut vm, 200, json!({"issuer": "http://evil.test", "jwks_uri": "http://evil.test/jwks"}).to_string().as_bytes());
    assert!(vm.pending_calls().is_empty());
    assert_eq!(vm.poll(ctx).status(), 503);
}

#[test]
fn required_scopes_give_403_insufficient_scope() {
    let host = Host::at(NOW);
    let s = json!({"name": "jwt", "settings": all_settings()});
    let mut vm = start(&host, &config(s, json!({"required_scopes": ["orders:read", "orders:write"]})));
    let t = |extra: Value| sign("HS256", None, claims(extra));
    assert!(vm.send(Request::get("/x").bearer(&t(json!({"scope": "orders:write x orders:read"})))).is_forwarded());
    assert!(vm.send(Request::get("/x").bearer(&t(json!({"scp": ["orders:read", "orders:write"]})))).is_forwarded());
    for claims in [json!({"scope": "orders:read"}), json!({"scp": "orders:read"}), json!({})] {
        let out = vm.send(Request::get("/x").bearer(&t(claims)));
        assert_eq!(out.status(), 403);
        assert_eq!(
            out.reply_header("www-authenticate").unwrap(),
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"the token lacks a required scope\", scope=\"orders:read orders:write\""
        );
    }
}

#[test]
fn rfc9068_typ_can_be_required() {
    let host = Host::at(NOW);
    let s = json!({"name": "jwt", "settings": {"secret": "hs-secret-for-tests"}, "require_typ": "at+jwt"});
    let mut vm = start(&host, &config(s, json!({})));
    let at = hs256_raw(b"hs-secret-for-tests", json!({"alg": "HS256", "typ": "at+jwt"}), json!({"exp": NOW + 60}));
    let app = hs256_raw(b"hs-secret-for-tests", json!({"alg": "HS256", "typ": "application/at+JWT"}), json!({"exp": NOW + 60}));
    let plain = hs256_raw(b"hs-secret-for-tests", json!({"alg": "HS256", "typ": "JWT"}), json!({"exp": NOW + 60}));
    assert!(vm.send(Request::get("/x").bearer(&at)).is_forwarded());
    assert!(vm.send(Request::get("/x").bearer(&app)).is_forwarded());
    assert_eq!(vm.send(Request::get("/x").bearer(&plain)).status(), 401);
}

#[test]
fn several_issuers_in_one_policy() {
    let host = Host::at(NOW);
    let cfg = json!({
        "oauth_servers": {
            "a": {"token_strategy": {"name": "jwt", "issuers": ["https://a.test"], "settings": [{"alg": "HS256", "key": "secret-of-issuer-a"}]}},
            "b": {"token_strategy": {"name": "jwt", "issuers": ["https://b.test"], "settings": [{"alg": "ES256", "key": fixture("ec256.pub")}]}}
        },
        "policies": {"p": {"oauth_servers": ["a", "b"]}}, "default_policy": "p"}).to_string();
    let mut vm = start(&host, &cfg);
    let from_a = hs256_raw(b"secret-of-issuer-a", json!({"alg": "HS256"}), json!({"iss": "https://a.test", "exp": NOW + 60}));
    let from_b = sign("ES256", None, claims(json!({})).with_issuer("https://b.test"));
    let b_key_claims_a = sign("ES256", None, claims(json!({})).with_issuer("https://a.test"));
    assert!(vm.send(Request::get("/x").bearer(&from_a)).is_forwarded());
    assert!(vm.send(Request::get("/x").bearer(&from_b)).is_forwarded());
    assert_eq!(vm.send(Request::get("/x").bearer(&b_key_claims_a)).status(), 401);
    let _ = ROOT_ID;
}

#[test]
fn all_of_needs_every_servers_token() {
    let host = Host::at(NOW);
    let cfg = json!({
        "oauth_servers": {
            "users": {"token_strategy": {"name": "jwt", "settings": [{"alg": "ES256", "key": fixture("ec256.pub")}]}},
            "partner": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "partner-secret-123"}]},
                        "token_sources": [{"header": "x-partner-token"}]}
        },
        "policies": {"both": {"oauth_servers": ["users", "partner"], "requires": "all", "hide_credentials": true},
                     "either": {"oauth_servers": ["users", "partner"]}},
        "routes": [{"path_prefix": "/either", "policy": "either"}],
        "default_policy": "both"}).to_string();
    let mut vm = start(&host, &cfg);
    let user = sign("ES256", None, claims(json!({"sub": "alice"})));
    let partner = hs256_raw(b"partner-secret-123", json!({"alg": "HS256"}), json!({"sub": "acme", "partner": "acme", "exp": NOW + 60}));
    let bad_partner = hs256_raw(b"another-secret-xx", json!({"alg": "HS256"}), json!({"sub": "acme", "exp": NOW + 60}));
    let out = vm.send(Request::get("/x").bearer(&user).header("x-partner-token", &partner));
    assert!(out.is_forwarded(), "{out:?}");
    assert_eq!(out.upstream("x-credential-sub").as_deref(), Some("alice"), "the first server's claims win");
    assert_eq!(out.upstream("authorization"), None);
    assert_eq!(out.upstream("x-partner-token"), None);
    assert_eq!(vm.send(Request::get("/x").bearer(&user)).status(), 401);
    assert_eq!(vm.send(Request::get("/x").header("x-partner-token", &partner)).status(), 401);
    assert_eq!(vm.send(Request::get("/x").bearer(&user).header("x-partner-token", &bad_partner)).status(), 401);
    // any-of: one good token from either server is enough.
    assert!(vm.send(Request::get("/either").header("x-partner-token", &partner)).is_forwarded());
    assert!(vm.send(Request::get("/either").bearer(&user)).is_forwarded());
    assert!(vm.send(Request::get("/either").bearer(&user).header("x-partner-token", &bad_partner)).is_forwarded());
    assert_eq!(vm.send(Request::get("/either").header("x-partner-token", &bad_partner)).status(), 401);
}

#[test]
fn a_cached_verification_does_not_outlive_its_key() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(strategy(json!({})), json!({})));
    fetch(&mut vm, 200, &jwks(&["rsa"]));
    let t = rs("rsa");
    assert!(vm.send(Request::get("/x").bearer(&t)).is_forwarded());
    assert!(vm.send(Request::get("/x").bearer(&t)).is_forwarded(), "now from the verified-token cache");
    host.clock.advance_secs(600);
    fetch(&mut vm, 200, &jwks(&["ec256"])); // the IdP dropped the RSA key
    let out = vm.send(Request::get("/x").bearer(&t));
    assert!(!out.is_forwarded(), "{out:?}");
}

#[test]
fn a_429_with_retry_after_holds_every_worker_off_for_that_long() {
    let host = Host::at(NOW);
    let mut a = start(&host, &config(strategy(json!({})), json!({})));
    let mut b = start(&host, &config(strategy(json!({})), json!({})));
    a.tick();
    let call = a.pending_calls()[0].clone();
    a.answer(call.token, 429, &[("retry-after", "20")], b"slow down");
    assert!(a.log_text().contains("retry after 20 s"), "{}", a.log_text());
    for _ in 0..19 {
        host.clock.advance_secs(1);
        a.tick();
        b.tick();
        assert!(a.pending_calls().is_empty() && b.pending_calls().is_empty(), "no call before the server's Retry-After");
    }
    host.clock.advance_secs(1);
    a.tick();
    b.tick();
    assert_eq!(a.pending_calls().len() + b.pending_calls().len(), 1, "then one call");
}
