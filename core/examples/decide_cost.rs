//! The core's own cost per request on the paths that repeat (natively): a public route and a
//! repeated token (a verdict hit), from reading the request to the header edits. Prints
//! Markdown. Run: `cargo run --release -p oauth-filter-core --example decide_cost`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::{claims, sign, NOW};
use oauth_core::{decide, Config, Decision, NothingFetched, Request};
use serde_json::json;
use std::time::Instant;

fn request(token: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let mut h = vec![
        (":method".to_string(), b"GET".to_vec()),
        (":path".to_string(), b"/".to_vec()),
        (":authority".to_string(), b"api.test".to_vec()),
        (":scheme".to_string(), b"http".to_vec()),
        ("user-agent".to_string(), b"wrk".to_vec()),
    ];
    if let Some(t) = token {
        h.push(("authorization".to_string(), format!("Bearer {t}").into_bytes()));
    }
    h
}

fn per_request(cfg: &Config, headers: &[(String, Vec<u8>)]) -> f64 {
    const N: u32 = 200_000;
    let start = Instant::now();
    for _ in 0..N {
        let req = Request { headers: headers.to_vec(), ..Default::default() };
        let d = decide(cfg, &req, NOW, &NothingFetched);
        assert!(matches!(d, Decision::Allow { .. }));
        std::hint::black_box(d);
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(N)
}

/// Each token once: the whole check (signature, claims, caches) every time.
fn first_seen(cfg: &Config, tokens: &[String]) -> f64 {
    let start = Instant::now();
    for t in tokens {
        let req = Request { headers: request(Some(t)), ..Default::default() };
        let d = decide(cfg, &req, NOW, &NothingFetched);
        assert!(matches!(d, Decision::Allow { .. }));
        std::hint::black_box(d);
    }
    start.elapsed().as_secs_f64() * 1e9 / tokens.len() as f64
}

fn config(v: serde_json::Value) -> Config {
    match Config::from_json(v.to_string().as_bytes()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}

fn main() {
    let public = config(json!({"policies": {"p": {"public": true}}, "default_policy": "p"}));
    let jwt = config(json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]}}},
        "policies": {"p": {"oauth_server": "s"}}, "default_policy": "p"
    }));
    let token = sign("HS256", None, claims(json!({"sub": "alice", "n": 1})));
    println!("| path (the core natively, request copy included) | ns/request |");
    println!("| --- | --- |");
    println!("| public route | {:.0} |", per_request(&public, &request(None)));
    println!("| HS256, repeated token (verdict hit) | {:.0} |", per_request(&jwt, &request(Some(&token))));
    let n = std::env::var("FIRST_SEEN").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let tokens: Vec<String> = (0..n).map(|i| sign("HS256", None, claims(json!({"sub": "alice", "n": i})))).collect();
    println!("| HS256, first-seen token (signature, claims, caches) | {:.0} |", first_seen(&jwt, &tokens));
}

