//! The fleet store through the built .wasm: the servers' poll (one call per Envoy process,
//! under a lease), an admin write paused until etcd answers, a lost race run again on what
//! etcd holds now, etcd down (503, servers kept), and the etcd login.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use serde_json::{json, Value};
use test_harness::{Host, HttpCall, Outcome, Request, Vm};

const ADMIN_KEY: &[u8] = b"admin-signing-key-0123456789";

fn config(login: bool) -> String {
    let mut etcd = json!({"cluster": "etcd", "prefix": "/of/", "poll_interval": "1s"});
    if login {
        etcd["username"] = json!("gw");
        etcd["password"] = json!("etcd-password-for-tests");
    }
    json!({
        "store": {"etcd": etcd},
        "oauth_servers": {"admins": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "admin-signing-key-0123456789"}]}}},
        "policies": {"admin": {"oauth_server": "admins", "required_scopes": ["admin"]}, "api": {"oauth_server": "local"}},
        "admin_api": {"policy": "admin"},
        "default_policy": "api"
    })
    .to_string()
}

fn hs256(secret: &[u8], scope: &str) -> String {
    hs256_raw(secret, json!({"alg": "HS256", "typ": "JWT"}), json!({"sub": "u", "scope": scope, "exp": NOW + 3600}))
}

fn admin(method: &str, path: &str) -> Request {
    Request::new(method, path).bearer(&hs256(ADMIN_KEY, "admin"))
}

fn server(key: &str) -> Value {
    json!({"name": "local", "token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": key}]}})
}

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

/// The one etcd call not answered yet, with its JSON body.
fn etcd_call(vm: &Vm, path: &str) -> (HttpCall, Value) {
    let calls: Vec<HttpCall> = vm.pending_calls().into_iter().filter(|c| c.cluster == "etcd").collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = calls[0].clone();
    assert_eq!(call.header(":path"), Some(path), "{call:?}");
    let body = serde_json::from_slice(&call.body).unwrap();
    (call, body)
}

fn range(revision: u64, servers: &[(&Value, u64)]) -> Vec<u8> {
    let kvs: Vec<Value> = servers.iter().map(|(s, rev)| json!({"key": b64(&format!("/of/servers/{}", s["name"].as_str().unwrap())), "value": b64(&s.to_string()), "mod_revision": rev.to_string()})).collect();
    json!({"header": {"revision": revision.to_string()}, "kvs": kvs}).to_string().into_bytes()
}

fn polled(vm: &mut Vm, revision: u64, servers: &[(&Value, u64)]) {
    vm.tick();
    let (call, body) = etcd_call(vm, "/v3/kv/range");
    assert_eq!(body, json!({"key": b64("/of/servers/"), "range_end": b64("/of/servers0")}));
    vm.answer(call.token, 200, &[], &range(revision, servers));
    vm.tick();
}

#[test]
fn one_poll_per_process_and_an_unknown_server_is_503_until_then() {
    let host = Host::at(NOW);
    let mut a = host.vm(&config(false)).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let mut b = host.vm(&config(false)).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let token = hs256(b"key-one-0123456789", "read");
    assert_eq!(a.send(Request::get("/orders").bearer(&token)).status(), 503, "the servers are not read yet");
    assert_eq!(a.send(admin("GET", "/oauth/servers")).status(), 503);
    a.tick();
    b.tick();
    assert_eq!(a.pending_calls().len() + b.pending_calls().len(), 1, "one poll for both workers (a lease in shared data)");
    let (call, _) = etcd_call(&a, "/v3/kv/range");
    a.answer(call.token, 200, &[], &range(9, &[(&server("key-one-0123456789"), 4)]));
    // Compiled as the answer comes, not on the next tick: never a 401 for a server that exists.
    assert!(a.send(Request::get("/orders").bearer(&token)).is_forwarded());
    assert_eq!(b.send(Request::get("/orders").bearer(&token)).status(), 503, "the other worker has not read the poll yet");
    // An admin read makes it read the poll's state; until its tick compiles it, a request
    // for the server still waits at 503 (not 401).
    assert_eq!(b.send(admin("GET", "/oauth/servers")).reply_json(), json!([server("key-one-0123456789")]));
    assert_eq!(b.send(Request::get("/orders").bearer(&token)).status(), 503, "read, not compiled yet");
    b.tick();
    assert!(b.send(Request::get("/orders").bearer(&token)).is_forwarded(), "the other worker compiles what the poll read");
    assert_eq!(b.send(admin("GET", "/oauth/servers")).reply_json(), json!([server("key-one-0123456789")]));
}

#[test]
fn an_admin_write_waits_for_etcd_and_a_lost_race_runs_again() {
    let host = Host::at(NOW);
    let mut a = host.vm(&config(false)).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    polled(&mut a, 3, &[]);
    let out = a.send(admin("POST", "/oauth/servers").body(server("key-one-0123456789").to_string()));
    let Outcome::Paused { context } = out else { panic!("{out:?}") };
    let (call, txn) = etcd_call(&a, "/v3/kv/txn");
    assert_eq!(txn["compare"][0], json!({"key": b64("/of/servers/local"), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}));
    a.answer(call.token, 200, &[], br#"{"header":{"revision":"5"},"succeeded":true}"#);
    assert_eq!(a.poll(context).status(), 201);
    assert!(a.send(Request::get("/orders").bearer(&hs256(b"key-one-0123456789", "r"))).is_forwarded());

    // Another replica changed the server (revision 7) before this one's PUT.
    let out = a.send(admin("PUT", "/oauth/servers/local").body(r#"{"token_strategy": {"leeway": 5}}"#));
    let Outcome::Paused { context } = out else { panic!("{out:?}") };
    let (call, txn) = etcd_call(&a, "/v3/kv/txn");
    assert_eq!(txn["compare"][0]["mod_revision"], "5");
    let theirs = server("key-two-0123456789");
    let lost = json!({"header": {"revision": "8"}, "responses": [{"response_range": {"kvs": [
        {"key": b64("/of/servers/local"), "value": b64(&theirs.to_string()), "mod_revision": "7"}]}}]});
    a.answer(call.token, 200, &[], lost.to_string().as_bytes());
    let (call, txn) = etcd_call(&a, "/v3/kv/txn");
    assert_eq!(txn["compare"][0]["mod_revision"], "7", "run again on what etcd holds now");
    let written: Value = serde_json::from_slice(&STANDARD.decode(txn["success"][0]["request_put"]["value"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(written["token_strategy"]["settings"][0]["key"], "key-two-0123456789", "the other replica's change is kept");
    assert_eq!(written["token_strategy"]["leeway"], 5, "and this one is made on it");
    a.answer(call.token, 200, &[], br#"{"header":{"revision":"9"},"succeeded":true}"#);
    assert_eq!(a.poll(context).status(), 200);
    assert!(a.send(Request::get("/orders").bearer(&hs256(b"key-two-0123456789", "r"))).is_forwarded());
}

#[test]
fn etcd_down_is_503_for_writes_and_the_servers_keep_serving() {
    let host = Host::at(NOW);
    let mut a = host.vm(&config(false)).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    polled(&mut a, 3, &[(&server("key-one-0123456789"), 2)]);
    let out = a.send(admin("DELETE", "/oauth/servers/local"));
    let Outcome::Paused { context } = out else { panic!("{out:?}") };
    let (call, _) = etcd_call(&a, "/v3/kv/txn");
    a.fail_call(call.token);
    let out = a.poll(context);
    assert_eq!((out.status(), out.reply_header("retry-after").as_deref()), (503, Some("1")));
    assert!(a.send(Request::get("/orders").bearer(&hs256(b"key-one-0123456789", "r"))).is_forwarded(), "nothing changed");
    a.refuse_cluster("etcd");
    assert_eq!(a.send(admin("DELETE", "/oauth/servers/local")).status(), 503, "a call that cannot be made");
    a.tick(); // counters reach the host on the tick
    assert!(a.metric("oauth_filter.store.failures").unwrap() >= 2);
}

#[test]
fn the_poll_logs_in_and_no_secret_is_logged() {
    let host = Host::at(NOW);
    let mut a = host.vm(&config(true)).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    a.tick();
    let (call, body) = etcd_call(&a, "/v3/auth/authenticate");
    assert_eq!(body, json!({"name": "gw", "password": "etcd-password-for-tests"}));
    a.answer(call.token, 200, &[], br#"{"header":{},"token":"etcd-token.42"}"#);
    let (call, _) = etcd_call(&a, "/v3/kv/range");
    assert_eq!(call.header("authorization"), Some("etcd-token.42"));
    a.answer(call.token, 200, &[], &range(3, &[]));
    let out = a.send(admin("POST", "/oauth/servers").body(server("key-one-0123456789").to_string()));
    assert!(matches!(out, Outcome::Paused { .. }));
    let (call, _) = etcd_call(&a, "/v3/kv/txn");
    assert_eq!(call.header("authorization"), Some("etcd-token.42"), "every call carries the token");
    let logs = a.log_text();
    assert!(!logs.contains("etcd-password-for-tests") && !logs.contains("etcd-token.42"), "{logs}");
}
