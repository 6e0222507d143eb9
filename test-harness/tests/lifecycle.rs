//! The request's whole lifecycle while it waits for a decision: trailers do not let it go on,
//! and a request that ends (its client gone) does not take the IdP's answer with it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::json;
mod support;
use support::{paused, start};
use test_harness::{Host, Request, ROOT_ID};

const NOW: u64 = 1_800_000_000;

fn introspecting() -> String {
    json!({
        "oauth_servers": {"corp": {"token_strategy": {"name": "introspection", "settings": {
            "introspection_url": "https://idp.test/introspect", "cluster": "idp",
            "authorization_value": "Basic Z3c6Z3c=", "ttl": 60, "timeout": 2000}}}},
        "policies": {"api": {"oauth_server": "corp"}},
        "default_policy": "api"
    })
    .to_string()
}

fn active() -> Vec<u8> {
    json!({"active": true, "sub": "alice", "exp": NOW + 3600}).to_string().into_bytes()
}

#[test]
fn trailers_of_a_request_waiting_for_introspection_are_held() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &introspecting());
    let ctx = paused(&vm.send(Request::new("POST", "/orders").bearer("random").header("x-credential-sub", "admin").body(b"{}")));
    assert!(!vm.trailers(ctx), "the trailers must not resume a request still waiting");
    let t = vm.pending_calls()[0].token;
    vm.answer(t, 200, &[], br#"{"active": false}"#);
    assert_eq!(vm.poll(ctx).status(), 401);
}

#[test]
fn trailers_of_a_request_waiting_for_keys_are_held() {
    let host = Host::at(NOW);
    let cfg = json!({
        "oauth_servers": {"idp": {"token_strategy": {"name": "jwt",
            "jwks_uri": {"uri": "http://idp.test/jwks", "cluster": "idp", "timeout": "2s"}}}},
        "policies": {"api": {"oauth_server": "idp"}},
        "default_policy": "api"
    })
    .to_string();
    let mut vm = start(&host, &cfg);
    let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhIn0.c2ln";
    let ctx = paused(&vm.send(Request::new("POST", "/orders").bearer(token).body(b"{}")));
    assert!(!vm.trailers(ctx));
}

#[test]
fn the_call_outlives_the_request_that_asked_for_it() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &introspecting());
    let first = paused(&vm.send(Request::get("/orders").bearer("tok")));
    let second = paused(&vm.send(Request::get("/orders").bearer("tok")));
    let calls = vm.pending_calls();
    assert_eq!(calls.len(), 1, "one call for both");
    assert_eq!(calls[0].context_id, ROOT_ID, "made by the root context, not by the first request");
    vm.abort(first); // its client gave up
    assert_eq!(vm.pending_calls().len(), 1, "the call goes on");
    vm.answer(calls[0].token, 200, &[], &active());
    let out = vm.poll(second);
    assert!(out.is_forwarded(), "the other waiter gets the IdP's answer, not a 503: {out:?}");
    assert_eq!(out.upstream("x-credential-sub").as_deref(), Some("alice"));
    // And it is cached for the next ones.
    assert!(vm.send(Request::get("/orders").bearer("tok")).is_forwarded());
    assert_eq!(vm.calls().len(), 1);
}

#[test]
fn a_request_alone_whose_client_left_still_fills_the_cache() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &introspecting());
    let only = paused(&vm.send(Request::get("/orders").bearer("tok")));
    let t = vm.pending_calls()[0].token;
    vm.abort(only);
    vm.answer(t, 200, &[], &active());
    assert!(vm.send(Request::get("/orders").bearer("tok")).is_forwarded(), "no new call, no 503");
    assert_eq!(vm.calls().len(), 1);
}
