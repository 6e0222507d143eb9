//! A corpus of malformed tokens and headers through the .wasm: never a trap, always the
//! documented status.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use serde_json::json;
use test_harness::{Host, Request};

fn corpus() -> Vec<Vec<u8>> {
    let b = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let good = sign("HS256", None, claims(json!({"sub": "x"})));
    let parts: Vec<&str> = good.split('.').collect();
    let mut c: Vec<Vec<u8>> = vec![
        "".into(), ".".into(), "..".into(), "...".into(), "a".into(), "a.b".into(), "a.b.c.d".into(), "a.b.c.d.e".into(),
        format!("{}.{}", parts[0], parts[1]).into(),
        format!("{}..{}", parts[0], parts[2]).into(),
        format!("{}.{}.", parts[0], parts[1]).into(),
        format!("{}.{}.{}x", parts[0], parts[1], parts[2]).into(),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]).into(),
        format!("%%%.{}.{}", parts[1], parts[2]).into(),
        format!("{}.{}.{}", b(json!([1, 2])), parts[1], parts[2]).into(),
        format!("{}.{}.{}", b(json!({"alg": null})), parts[1], parts[2]).into(),
        format!("{}.{}.{}", b(json!({"alg": ["HS256"]})), parts[1], parts[2]).into(),
        format!("{}.{}.{}", b(json!({"alg": "HS256", "kid": {"a": 1}})), parts[1], parts[2]).into(),
        format!("{}.{}.{}", b(json!({"alg": "HS256", "jku": "http://evil/jwks", "kid": "../../etc/passwd"})), parts[1], parts[2]).into(),
        format!("{}.{}.{}", b(json!({"alg": "HS256", "jwk": {"kty": "oct", "k": "AAAA"}})), parts[1], parts[2]).into(),
        format!("{}.{}.{}", parts[0], b(json!("string payload")), parts[2]).into(),
        format!("{}.{}.{}", parts[0], b(json!({"exp": "soon", "sub": 5})), parts[2]).into(),
        format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x00]), parts[2]).into(),
        "a".repeat(100_000).into(),
        format!("{}.{}.{}", parts[0], "A".repeat(50_000), parts[2]).into(),
        vec![0xff, 0xfe, b'.', 0x80, b'.', 0x81],
        vec![b'a', b'.', b'b', b'.', b'c', 0x00],
        "\u{202e}.\u{202e}.\u{202e}".into(),
        hs256_raw(b"hs-secret-for-tests", json!({"alg": "HS256"}), json!({"exp": 1e300, "nbf": -5, "iat": "x"})).into(),
        hs256_raw(b"hs-secret-for-tests", json!({"alg": "HS256"}), json!({"exp": NOW + 60, "aud": {"x": 1}})).into(),
        hs256_raw(b"hs-secret-for-tests", json!({"alg": "HS256", "crit": ["b64"], "b64": false}), json!({"exp": NOW + 60})).into(),
        forge(json!({"alg": "RS256"}), json!({"exp": NOW + 60}), &"A".repeat(342)).into(),
        forge(json!({"alg": "ES256"}), json!({"exp": NOW + 60}), "AAAA").into(),
        forge(json!({"alg": "EdDSA"}), json!({"exp": NOW + 60}), &"B".repeat(86)).into(),
    ];
    for alg in ["none", "NONE", "nOne", " none", "HS256 ", "hs256", ""] {
        c.push(forge(json!({"alg": alg}), json!({"exp": NOW + 60}), "").into());
    }
    c
}

#[test]
fn malformed_tokens_are_refused_without_a_trap() {
    let host = Host::at(NOW);
    let cfg = json!({"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": all_settings()}}},
                     "policies": {"p": {"oauth_server": "s"}}, "default_policy": "p"});
    let mut vm = host.vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    for (i, t) in corpus().into_iter().enumerate() {
        let mut value = b"Bearer ".to_vec();
        value.extend_from_slice(&t);
        let out = vm.send(Request::get("/x").header("authorization", &value));
        assert_eq!(out.status(), 401, "case {i}: {:?}", String::from_utf8_lossy(&t));
    }
}

#[test]
fn malformed_headers_are_handled_without_a_trap() {
    let host = Host::at(NOW);
    let cfg = json!({"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": all_settings()}}},
                     "policies": {"p": {"oauth_server": "s", "token_sources": [{"header": "authorization", "prefix": "Bearer "}, {"query": "t"}, {"cookie": "t"}]}},
                     "default_policy": "p"});
    let mut vm = host.vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let cases: Vec<(Request, u32)> = vec![
        (Request::get("/x").header("authorization", [0xff, 0xfe, 0xfd]), 401),
        (Request::get("/x").header("authorization", "Bearer"), 401),
        (Request::get("/x").header("authorization", "Bearer \u{0}"), 401),
        (Request::get("/x").header("cookie", [0xc3, 0x28]), 401),
        (Request::get("/x").header("cookie", ";;;=;t=;=t"), 401),
        (Request::get("/x?t=%"), 401),
        (Request::get("/x?t=%ff%fe"), 401),
        (Request::get("/x?&&&t&t=&=&"), 401),
        (Request::get("/x?t=a&t=b"), 400),
        (Request::get("/x").header("authorization", "Bearer a").header("authorization", "Bearer b"), 400),
        (Request::get("/x").header("authorization", "x".repeat(200_000)), 401),
        (Request::new("", "").header(":authority", [0xff]), 401),
    ];
    for (i, (req, status)) in cases.into_iter().enumerate() {
        let out = vm.send(req);
        assert_eq!(out.status(), status, "case {i}");
    }
}
