//! The core's own cost per request on the paths that repeat (natively): a public route and a
//! repeated token (a verdict hit), from reading the request to the header edits. Prints
//! Markdown. Run: `cargo run --release -p oauth-filter-core --example decide_cost`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::{claims, sign, NOW};
use oauth_core::{decide, Config, Decision, NothingFetched, Now, Request};
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Counts allocations, so each row also says how many a request makes (the allocator is a
/// fifth of a first-seen token's time in the .wasm).
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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

/// Nanoseconds per request (the request's copy included) and allocations per decision (the
/// copy left out).
fn per_request(cfg: &Config, headers: &[(String, Vec<u8>)]) -> (f64, f64) {
    const N: u32 = 200_000;
    let (start, mut allocs) = (Instant::now(), 0);
    for _ in 0..N {
        let req = Request { headers: headers.to_vec().into(), ..Default::default() };
        let before = ALLOCS.load(Relaxed);
        let d = decide(cfg, &req, &Now::fixed(NOW), &NothingFetched);
        allocs += ALLOCS.load(Relaxed) - before;
        assert!(matches!(d, Decision::Allow { .. }));
        std::hint::black_box(d);
    }
    (start.elapsed().as_secs_f64() * 1e9 / f64::from(N), allocs as f64 / f64::from(N))
}

/// Each token once: the whole check (signature, claims, caches) every time.
fn first_seen(cfg: &Config, tokens: &[String]) -> (f64, f64) {
    let (start, mut allocs) = (Instant::now(), 0);
    for t in tokens {
        let req = Request { headers: request(Some(t)).into(), ..Default::default() };
        let before = ALLOCS.load(Relaxed);
        let d = decide(cfg, &req, &Now::fixed(NOW), &NothingFetched);
        allocs += ALLOCS.load(Relaxed) - before;
        assert!(matches!(d, Decision::Allow { .. }));
        std::hint::black_box(d);
    }
    let n = tokens.len() as f64;
    (start.elapsed().as_secs_f64() * 1e9 / n, allocs as f64 / n)
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
    let row = |name: &str, (ns, allocs): (f64, f64)| println!("| {name} | {ns:.0} | {allocs:.1} |");
    println!("| path (the core natively, request copy included) | ns/request | allocations/decision |");
    println!("| --- | --- | --- |");
    row("public route", per_request(&public, &request(None)));
    row("HS256, repeated token (verdict hit)", per_request(&jwt, &request(Some(&token))));
    let n = std::env::var("FIRST_SEEN").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let tokens: Vec<String> = (0..n).map(|i| sign("HS256", None, claims(json!({"sub": "alice", "n": i})))).collect();
    row("HS256, first-seen token (signature, claims, caches)", first_seen(&jwt, &tokens));
}
