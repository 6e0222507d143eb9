//! Counters through proxy-wasm metrics (handed to the host on the root's tick), and logs: a line per denial at debug with the reason
//! and the context id, never a token; the level set from the configuration.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::json;
use test_harness::{Host, Request};

#[test]
fn allowed_and_denied_requests_are_counted_by_reason() {
    let cfg = json!({"log_level": "debug",
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": {"secret": "hs-secret-for-tests"}}}},
        "policies": {"p": {"oauth_server": "s"}}, "default_policy": "p"}).to_string();
    let mut vm = Host::at(NOW).vm(&cfg).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    assert_eq!(vm.metric("oauth_filter.requests_allowed"), Some(0), "defined at start");
    assert_eq!(vm.metric("oauth_filter.introspection.cache_hits"), Some(0));
    let good = sign("HS256", None, claims(json!({})));
    vm.send(Request::get("/").bearer(&good));
    vm.send(Request::get("/").bearer(&good));
    vm.send(Request::get("/"));
    let out = vm.send(Request::get("/").bearer("secret-looking-token"));
    // Counted in the VM: a request makes no metric call; the root's tick (at least once a
    // second, though nothing else here needs a tick) hands the counts to the host.
    assert_eq!(vm.metric("oauth_filter.requests_allowed"), Some(0));
    assert_eq!(vm.state().tick_period_ms, 1000);
    vm.tick();
    assert_eq!(vm.metric("oauth_filter.requests_allowed"), Some(2));
    assert_eq!(vm.metric("oauth_filter.requests_denied"), Some(2));
    assert_eq!(vm.metric("oauth_filter.denied.missing_token"), Some(1));
    assert_eq!(vm.metric("oauth_filter.denied.malformed"), Some(1));
    let debug: Vec<&String> = vm.logs().iter().filter(|(l, _)| *l == 1).map(|(_, m)| m).collect();
    assert!(debug.iter().any(|m| m.starts_with("denied: missing_token (context ")), "{debug:?}");
    assert!(debug.iter().any(|m| m.starts_with("denied: malformed (context ")));
    assert!(!vm.log_text().contains("secret-looking-token") && !vm.log_text().contains(&good));
    assert_eq!(out.status(), 401);
    vm.tick();
    assert_eq!(vm.metric("oauth_filter.requests_allowed"), Some(2), "each count handed over once");
    // What a VM counted after its last tick is handed over when the host ends it.
    vm.send(Request::get("/").bearer(&good));
    assert!(vm.done());
    assert_eq!(vm.metric("oauth_filter.requests_allowed"), Some(3));
}

#[test]
fn the_log_level_comes_from_the_configuration() {
    let cfg = |level: &str| json!({"log_level": level,
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": {"secret": "hs-secret-for-tests"}}}},
        "policies": {"p": {"oauth_server": "s"}}, "default_policy": "p"}).to_string();
    let host = Host::at(NOW);
    let mut quiet = host.vm(&cfg("warn")).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    assert_eq!(quiet.send(Request::get("/")).status(), 401);
    assert!(!quiet.log_text().contains("denied:"), "no debug line at warn");
    let mut chatty = host.vm(&cfg("debug")).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    chatty.send(Request::get("/"));
    assert!(chatty.log_text().contains("denied: missing_token"));
    let vm = host.vm(&cfg("loud")).err().unwrap();
    assert!(vm.log_text().contains("log_level"));
}
