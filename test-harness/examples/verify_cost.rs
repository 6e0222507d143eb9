//! `make bench`'s in-process numbers: the cost of one first-seen token through the built
//! .wasm on wasmtime (with and without the host's `verify_signature`, here played by ring),
//! the same check natively in the core, and the VM's memory after many distinct tokens.
//! Prints Markdown. Run: `cargo run -p test-harness --example verify_cost [ALG …]`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use common::*;
use oauth_core::config::Strategy;
use oauth_core::Config;
use serde_json::json;
use std::time::Instant;
use test_harness::{Host, Request};

const N: usize = 300;

fn config(host_crypto: bool, cache: usize) -> serde_json::Value {
    json!({
        "host_crypto": host_crypto,
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": all_settings(), "verified_cache_size": cache}}},
        "policies": {"p": {"oauth_server": "s"}},
        "default_policy": "p"
    })
}

fn tokens(alg: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| sign(alg, None, claims(json!({"sub": "alice", "n": i})))).collect()
}

/// µs per request through the .wasm, each token seen once.
fn wasm_us(host: &Host, cfg: &serde_json::Value, toks: &[String]) -> f64 {
    let mut vm = host.vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    for t in toks.iter().take(3) {
        assert!(vm.send(Request::get("/").bearer(t)).is_forwarded());
    }
    let start = Instant::now();
    for t in &toks[3..] {
        assert!(vm.send(Request::get("/").bearer(t)).is_forwarded());
    }
    start.elapsed().as_secs_f64() * 1e6 / (toks.len() - 3) as f64
}

fn main() {
    let cfg = Config::from_json(config(false, 0).to_string().as_bytes()).unwrap();
    let Strategy::Jwt(rules) = &cfg.servers[0].strategy else { panic!() };
    println!("| algorithm | .wasm on wasmtime, in the filter (µs/request) | .wasm on wasmtime, host verify_signature (µs/request) | native core (µs/token) |");
    println!("| --- | --- | --- | --- |");
    // Algorithms named on the command line: only their rows (for A/B builds).
    let only: Vec<String> = std::env::args().skip(1).collect();
    for alg in ["HS256", "RS256", "ES256", "ES384", "PS256", "EdDSA"] {
        if !only.is_empty() && !only.iter().any(|a| a == alg) {
            continue;
        }
        let n = if alg.starts_with("RS") || alg.starts_with("PS") || alg.starts_with("ES") { N / 3 } else { N };
        let toks = tokens(alg, n);
        let plain = wasm_us(&Host::at(NOW), &config(false, 0), &toks);
        let (host, _) = Host::at(NOW).with_envoy_crypto();
        let hosted = wasm_us(&host, &config(true, 0), &toks);
        let start = Instant::now();
        for t in &toks {
            rules.verify(t, NOW).unwrap();
        }
        let native = start.elapsed().as_secs_f64() * 1e6 / toks.len() as f64;
        let hosted = if ["RS256", "ES256", "ES384"].contains(&alg) { format!("{hosted:.1}") } else { "- (stays in the filter)".into() };
        println!("| {alg} | {plain:.1} | {hosted} | {native:.1} |");
    }
    if !only.is_empty() {
        return;
    }
    println!();
    println!("| path through the .wasm on wasmtime (harness host included) | µs/request |");
    println!("| --- | --- |");
    let public = json!({"policies": {"p": {"public": true}}, "default_policy": "p"});
    let t = tokens("HS256", 1);
    let repeated: Vec<String> = std::iter::repeat_n(t[0].clone(), 2000).collect();
    let no_token: Vec<String> = std::iter::repeat_n(String::new(), 2000).collect();
    let host = Host::at(NOW);
    let mut vm = host.vm(&public.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let start = Instant::now();
    for _ in &no_token {
        assert!(vm.send(Request::get("/")).is_forwarded());
    }
    println!("| public route, no token | {:.1} |", start.elapsed().as_secs_f64() * 1e6 / no_token.len() as f64);
    println!("| HS256, repeated token (verified-token cache hit) | {:.1} |", wasm_us(&Host::at(NOW), &config(false, 1024), &repeated));
    println!("| HS256, first-seen | {:.1} |", wasm_us(&Host::at(NOW), &config(false, 0), &tokens("HS256", 2000)));
    println!();
    println!("| distinct HS256 tokens sent | VM linear memory (KiB), verified_cache_size 1024 (default) |");
    println!("| --- | --- |");
    let host = Host::at(NOW);
    let mut vm = host.vm(&config(false, 1024).to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let toks = tokens("HS256", 20_000);
    let mut sent = 0;
    for mark in [0, 1_000, 5_000, 20_000] {
        while sent < mark {
            assert!(vm.send(Request::get("/").bearer(&toks[sent])).is_forwarded());
            sent += 1;
        }
        println!("| {mark} | {} |", vm.memory_bytes() / 1024);
    }
}
