//! Client-credentials tokens fetched by the filter (KrakenD's settings) and sent upstream:
//! one fetch per refresh across workers, refresh ahead of expiry, waiting requests, failures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use base64::Engine;
use serde_json::{json, Value};
mod support;
use support::{paused, start};
use test_harness::{Host, Outcome, Request, Vm};

const NOW: u64 = 1_800_000_000;
const SECRET: &str = "krakend-secret-value";

fn config(extra: Value) -> String {
    let mut cc = json!({"client_id": "gateway", "client_secret": SECRET, "token_url": "https://idp.test/oauth/token",
        "cluster": "idp", "scopes": "orders:read,orders:write", "endpoint_params": {"audience": ["orders-api"]},
        "headers": {"Accept": "application/json"}, "timeout": "2s", "max_wait": "3s", "retry_on_401": true});
    for (k, v) in extra.as_object().unwrap() {
        cc[k] = v.clone();
    }
    json!({"policies": {"backend": {"public": true, "upstream_client_credentials": cc}}, "default_policy": "backend"}).to_string()
}



fn grant(token: &str, expires_in: Option<u64>) -> Vec<u8> {
    let mut g = json!({"access_token": token, "token_type": "Bearer", "scope": "orders:read orders:write"});
    if let Some(e) = expires_in {
        g["expires_in"] = json!(e);
    }
    g.to_string().into_bytes()
}

/// Ticks and answers the one token call.
fn fetch(vm: &mut Vm, status: u16, body: &[u8]) {
    vm.tick();
    let calls = vm.pending_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    vm.answer(calls[0].token, status, &[("content-type", "application/json")], body);
}

fn bearer(o: &Outcome) -> Option<String> {
    o.upstream("authorization")
}

#[test]
fn the_token_request_is_rfc6749_with_basic_auth() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    vm.tick();
    let call = vm.pending_calls()[0].clone();
    assert_eq!(call.cluster, "idp");
    assert_eq!(call.header(":method"), Some("POST"));
    assert_eq!(call.header(":path"), Some("/oauth/token"));
    assert_eq!(call.header(":authority"), Some("idp.test"));
    assert_eq!(call.header("accept"), Some("application/json"));
    let basic = call.header("authorization").unwrap().trim_start_matches("Basic ").to_string();
    let pair = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(basic).unwrap()).unwrap();
    assert_eq!(pair, format!("gateway:{SECRET}"));
    assert_eq!(String::from_utf8(call.body).unwrap(), "grant_type=client_credentials&scope=orders%3Aread%20orders%3Awrite&audience=orders-api");
}

#[test]
fn the_body_style_sends_the_credentials_as_form_parameters() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({"auth_style": "body", "scopes": ["a"]})));
    vm.tick();
    let call = vm.pending_calls()[0].clone();
    assert_eq!(call.header("authorization"), None);
    let body = String::from_utf8(call.body).unwrap();
    // The client's own parameters come last (added as the call goes out, as every method is).
    assert_eq!(body, format!("grant_type=client_credentials&scope=a&audience=orders-api&client_id=gateway&client_secret={SECRET}"));
}

#[test]
fn a_request_waits_for_the_first_token_and_gets_it_in_place_of_its_own() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    let ctx = paused(&vm.send(Request::get("/orders").header("authorization", "Bearer client-own")));
    fetch(&mut vm, 200, &grant("T1", Some(100)));
    let out = vm.poll(ctx);
    assert_eq!(bearer(&out).as_deref(), Some("Bearer T1"), "{out:?}");
    assert_eq!(out.upstream_count("authorization"), 1);
    assert!(bearer(&vm.send(Request::get("/orders"))).is_some());
    assert!(!vm.log_text().contains(SECRET) && !vm.log_text().contains("T1"));
}

#[test]
fn one_fetch_per_refresh_across_workers_and_refresh_at_half_life() {
    let host = Host::at(NOW);
    let cfg = config(json!({}));
    let (mut a, mut b) = (start(&host, &cfg), start(&host, &cfg));
    a.tick();
    b.tick();
    assert_eq!(a.pending_calls().len() + b.pending_calls().len(), 1);
    let t = a.pending_calls()[0].token;
    a.answer(t, 200, &[], &grant("T1", Some(100)));
    b.tick();
    assert_eq!(bearer(&b.send(Request::get("/"))).as_deref(), Some("Bearer T1"));
    host.clock.advance_secs(49);
    a.tick();
    b.tick();
    assert_eq!(a.calls().len() + b.calls().len(), 1, "not yet half the lifetime");
    host.clock.advance_secs(1);
    b.tick();
    a.tick();
    assert_eq!(b.pending_calls().len() + a.pending_calls().len(), 1, "one refresh");
    // Requests keep the current token while the refresh is in flight.
    assert_eq!(bearer(&a.send(Request::get("/"))).as_deref(), Some("Bearer T1"));
    let vm = if b.pending_calls().is_empty() { &mut a } else { &mut b };
    let token = vm.pending_calls()[0].token;
    vm.answer(token, 200, &[], &grant("T2", Some(100)));
    a.tick();
    b.tick();
    assert_eq!(bearer(&a.send(Request::get("/"))).as_deref(), Some("Bearer T2"));
    assert_eq!(bearer(&b.send(Request::get("/"))).as_deref(), Some("Bearer T2"));
}

#[test]
fn an_expired_token_is_never_sent() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    fetch(&mut vm, 200, &grant("T1", Some(10)));
    host.clock.advance_secs(5);
    fetch(&mut vm, 503, b"down"); // the refresh fails
    host.clock.advance_secs(5); // T1 expires now
    let ctx = paused(&vm.send(Request::get("/")));
    // The endpoint stays down: after max_wait (3 s) the request gets 503, never T1.
    for _ in 0..4 {
        host.clock.advance_millis(1000);
        vm.tick();
        for c in vm.pending_calls() {
            vm.answer(c.token, 500, &[], b"{}");
        }
    }
    let out = vm.poll(ctx);
    assert_eq!(out.status(), 503, "{out:?}");
    assert_eq!(out.reply_json()["error"], "temporarily_unavailable");
}

#[test]
fn failures_back_off_and_recover() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    fetch(&mut vm, 200, b"<html>garbage</html>");
    vm.tick();
    assert!(vm.pending_calls().is_empty(), "backing off 1 s");
    host.clock.advance_secs(1);
    fetch(&mut vm, 401, br#"{"error": "invalid_client", "error_description": "nope"}"#);
    assert!(vm.log_text().contains("invalid_client"));
    assert!(!vm.log_text().contains(SECRET));
    host.clock.advance_secs(1);
    vm.tick();
    assert!(vm.pending_calls().is_empty(), "backing off 2 s");
    host.clock.advance_secs(1);
    fetch(&mut vm, 200, &grant("T-ok", Some(60)));
    assert_eq!(bearer(&vm.send(Request::get("/"))).as_deref(), Some("Bearer T-ok"));
}

#[test]
fn a_missing_expires_in_uses_the_default_lifetime() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({"default_expires_in": 60})));
    fetch(&mut vm, 200, &grant("T1", None));
    host.clock.advance_secs(29);
    vm.tick();
    assert!(vm.pending_calls().is_empty());
    host.clock.advance_secs(1);
    vm.tick();
    assert_eq!(vm.pending_calls().len(), 1, "refresh at half of the default lifetime");
}

#[test]
fn a_lease_holder_that_vanishes_is_replaced() {
    let host = Host::at(NOW);
    let cfg = config(json!({}));
    let mut a = start(&host, &cfg);
    let mut b = start(&host, &cfg);
    a.tick();
    assert_eq!(a.pending_calls().len(), 1);
    drop(a); // the VM dies before it writes anything
    b.tick();
    assert!(b.pending_calls().is_empty(), "the lease is still held");
    host.clock.advance_secs(3); // timeout 2 s + 1 s
    fetch(&mut b, 200, &grant("T1", Some(100)));
    assert_eq!(bearer(&b.send(Request::get("/"))).as_deref(), Some("Bearer T1"));
}

#[test]
fn the_clients_authorization_can_be_kept() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({"replace_authorization": false})));
    fetch(&mut vm, 200, &grant("T1", Some(100)));
    assert_eq!(bearer(&vm.send(Request::get("/").header("authorization", "Bearer mine"))).as_deref(), Some("Bearer mine"));
    assert_eq!(bearer(&vm.send(Request::get("/"))).as_deref(), Some("Bearer T1"));
}

#[test]
fn an_upstream_401_drops_the_token_and_refetches_once() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    fetch(&mut vm, 200, &grant("T1", Some(100)));
    let out = vm.send(Request::get("/").upstream_answers(401));
    assert_eq!(bearer(&out).as_deref(), Some("Bearer T1"));
    let ctx = paused(&vm.send(Request::get("/")));
    fetch(&mut vm, 200, &grant("T2", Some(100)));
    assert_eq!(bearer(&vm.poll(ctx)).as_deref(), Some("Bearer T2"));
    // A second 401 for the same, already dropped token does nothing more.
    vm.send(Request::get("/").upstream_answers(200));
    vm.tick();
    assert!(vm.pending_calls().is_empty());
}

#[test]
fn credentials_also_go_with_authenticated_policies() {
    let host = Host::at(NOW);
    let cfg = json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": {"secret": "user-secret-0123"}}}},
        "policies": {"p": {"oauth_server": "s", "upstream_client_credentials": {"client_id": "gw", "client_secret": "x",
            "token_url": "http://idp.test/token", "cluster": "idp"}}},
        "default_policy": "p"}).to_string();
    let mut vm = start(&host, &cfg);
    fetch(&mut vm, 200, &grant("T-up", Some(100)));
    assert_eq!(vm.send(Request::get("/")).status(), 401, "the client still needs its own token");
}

#[test]
fn a_429_from_the_token_endpoint_is_honoured() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    vm.tick();
    let t = vm.pending_calls()[0].token;
    vm.answer(t, 429, &[("retry-after", "5")], b"{}");
    for _ in 0..4 {
        host.clock.advance_secs(1);
        vm.tick();
        assert!(vm.pending_calls().is_empty(), "held off as asked");
    }
    host.clock.advance_secs(1);
    fetch(&mut vm, 200, &grant("T1", Some(100)));
    assert_eq!(bearer(&vm.send(Request::get("/orders"))).as_deref(), Some("Bearer T1"));
}

/// The form parameters of a call's body.
fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    String::from_utf8(body.to_vec()).unwrap().split('&').filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%3A", ":").replace("%2D", "-"))).collect()
}

#[test]
fn private_key_jwt_signs_a_fresh_client_assertion_for_each_token_request() {
    use jwt_simple::prelude::*;
    let key = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/keys/ec256.key")).unwrap();
    let host = Host::at(NOW);
    let cfg = json!({"policies": {"p": {"public": true, "upstream_client_credentials": {
        "client_id": "gateway-jwt", "token_url": "https://idp.test/oauth/token", "cluster": "idp", "auth_style": "private_key_jwt",
        "client_assertion_key": {"alg": "ES256", "private_key": key, "kid": "gw-1"}}}}, "default_policy": "p"});
    let mut vm = start(&host, &cfg.to_string());
    vm.tick();
    let call = vm.pending_calls()[0].clone();
    assert_eq!(call.header("authorization"), None, "no shared secret");
    let f = form(&call.body);
    assert_eq!(f["client_id"], "gateway-jwt");
    assert_eq!(f["client_assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    let public = ES256PublicKey::from_pem(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/keys/ec256.pub")).unwrap()).unwrap();
    let opts = VerificationOptions { artificial_time: Some(UnixTimeStamp::from_secs(NOW)), ..Default::default() };
    let claims = public.verify_token::<NoCustomClaims>(&f["client_assertion"], Some(opts)).unwrap();
    assert_eq!((claims.issuer.as_deref(), claims.subject.as_deref()), (Some("gateway-jwt"), Some("gateway-jwt")));
    assert!(claims.audiences.unwrap().contains(&["https://idp.test/oauth/token".to_string()].into_iter().collect()));
    assert_eq!(claims.expires_at.unwrap().as_secs() - claims.issued_at.unwrap().as_secs(), 60);
    assert_eq!(Token::decode_metadata(&f["client_assertion"]).unwrap().key_id(), Some("gw-1"));
    let first_jti = claims.jwt_id.unwrap();
    vm.answer(call.token, 500, &[], b"{}");
    host.clock.advance_secs(1);
    vm.tick();
    let again = form(&vm.pending_calls()[0].body);
    let jti = public.verify_token::<NoCustomClaims>(&again["client_assertion"], Some(VerificationOptions {
        artificial_time: Some(UnixTimeStamp::from_secs(NOW + 1)), ..Default::default() })).unwrap().jwt_id.unwrap();
    assert_ne!(jti, first_jti, "a new assertion for each call");
    assert!(!vm.log_text().contains("PRIVATE KEY"));
}
