//! The host calls each hot path makes, counted (issue 23): what `make bench` replays as the
//! path's twin. A change that adds a call to the request path shows here first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::json;
mod support;
use support::start;
use test_harness::{Host, Request, Vm};

/// The calls of one request, as "callback:op", in order.
fn calls(vm: &mut Vm, req: Request) -> Vec<String> {
    vm.start_trace();
    let outcome = vm.send(req);
    let trace = vm.take_trace();
    assert!(outcome.is_forwarded(), "{outcome:?}");
    trace.iter().map(|(cb, call)| format!("{cb}:{}", call.split(' ').next().unwrap_or(""))).collect()
}

fn count(calls: &[String], what: &str) -> usize {
    calls.iter().filter(|c| *c == what).count()
}

#[test]
fn a_public_route_reads_the_headers_once_and_writes_nothing() {
    let host = Host::at(NOW);
    let cfg = json!({"policies": {"p": {"public": true}}, "default_policy": "p"});
    let mut vm = start(&host, &cfg.to_string());
    let c = calls(&mut vm, Request::get("/").upstream_answers(200));
    assert_eq!(count(&c, "request_headers:header_map"), 1, "{c:?}");
    assert!(!c.iter().any(|x| x.ends_with(":replace") || x.ends_with(":remove") || x.ends_with(":header")), "{c:?}");
    assert!(!c.iter().any(|x| x.starts_with("response_headers:") || x.starts_with("log:") || x.starts_with("done:")), "{c:?}");
    assert!(c.len() <= 3, "{c:?}");
}

#[test]
fn a_repeated_token_costs_one_header_read_and_its_identity_writes() {
    let host = Host::at(NOW);
    let cfg = json!({"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": all_settings()}}},
                     "policies": {"p": {"oauth_server": "s"}}, "default_policy": "p"});
    let mut vm = start(&host, &cfg.to_string());
    let token = sign("HS256", None, claims(json!({"sub": "alice"})));
    calls(&mut vm, Request::get("/").bearer(&token));
    let c = calls(&mut vm, Request::get("/").bearer(&token).upstream_answers(200));
    assert_eq!(count(&c, "request_headers:header_map"), 1, "{c:?}");
    let writes = count(&c, "request_headers:replace");
    assert!((1..=6).contains(&writes), "{c:?}");
    // No signature check, no shared-data read, nothing after the headers.
    assert!(!c.iter().any(|x| x.ends_with(":foreign") || x.ends_with(":shared_get")), "{c:?}");
    assert!(!c.iter().any(|x| !x.starts_with("request_headers:")), "{c:?}");
    assert!(c.len() <= writes + 3, "{c:?}");
}

#[test]
fn a_spoofed_identity_header_costs_one_strip() {
    let host = Host::at(NOW);
    let cfg = json!({"policies": {"p": {"public": true}}, "default_policy": "p"});
    let mut vm = start(&host, &cfg.to_string());
    let c = calls(&mut vm, Request::get("/").header("x_credential_sub", "admin").upstream_answers(200));
    assert_eq!(count(&c, "request_headers:remove"), 1, "{c:?}");
}

#[test]
fn the_upstream_status_is_read_without_copying_the_response_headers() {
    let host = Host::at(NOW);
    let cfg = json!({"policies": {"p": {"public": true, "upstream_client_credentials": {
        "client_id": "c", "client_secret": "s", "token_url": "http://idp/token", "cluster": "idp"}}},
        "default_policy": "p"});
    let mut vm = start(&host, &cfg.to_string());
    vm.tick();
    let call = vm.pending_calls()[0].clone();
    let grant = json!({"access_token": "upstream-token", "token_type": "Bearer", "expires_in": 3600});
    vm.answer(call.token, 200, &[("content-type", "application/json")], grant.to_string().as_bytes());
    let c = calls(&mut vm, Request::get("/").upstream_answers(200));
    assert_eq!(count(&c, "response_headers:header"), 1, "{c:?}");
    assert_eq!(count(&c, "response_headers:header_map"), 0, "{c:?}");
}
